package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"

	koanfhcl "github.com/knadh/koanf/parsers/hcl"
)

// EnvPrefix starts every environment variable that overrides a key.
const EnvPrefix = "CASTRAY_"

// EnvConfig names the configuration file; it is not a key.
const EnvConfig = "CASTRAY_CONFIG"

// EnvRayAddress is Ray's own variable, read as ray_cluster.address below
// any CASTRAY_RAY_CLUSTER__ADDRESS.
const EnvRayAddress = "RAY_ADDRESS"

// LoadOptions are the inputs of Load.
type LoadOptions struct {
	// Path is an explicit configuration file. It wins over a --config flag
	// in Flags and over CASTRAY_CONFIG in Env. "" and none of those set:
	// no file, defaults + environment + flags.
	Path string
	// Env is the environment as "NAME=value" strings, normally
	// os.Environ(). Nil means no environment at all (Load never reads the
	// process environment itself).
	Env []string
	// Flags is a parsed flag set with the flags of RegisterFlags; only the
	// flags the user set override. May be nil; flags of other names are
	// ignored.
	Flags *pflag.FlagSet
}

// flagKeys maps the flags of RegisterFlags to keys ("" = not a key).
var flagKeys = map[string]string{
	"config":     "",
	"host":       "web_server.host",
	"port":       "web_server.port",
	"log-level":  "logging.level",
	"data-dir":   "data_dir",
	"plugin-dir": "plugin_dir",
}

// RegisterFlags adds --config, --host, --port, --log-level, --data-dir and
// --plugin-dir to fs. The defaults shown in help are the built-in ones; a
// flag overrides the file and the environment only when given.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Default()
	fs.String("config", "", "configuration file, .hcl or .json (env "+EnvConfig+")")
	fs.String("host", d.WebServer.Host, `web server listen address, "0.0.0.0" for every interface (web_server.host)`)
	fs.Int("port", d.WebServer.Port, "web server port, 0 picks a free one (web_server.port)")
	fs.String("log-level", d.Logging.Level, "log level: "+strings.Join(levels, ", ")+" (logging.level)")
	fs.String("data-dir", d.DataDir, "directory for the daemon's state (data_dir)")
	fs.String("plugin-dir", d.PluginDir, "directory of plugin executables, default <castray binary dir>/plugins (plugin_dir)")
}

// Load builds the configuration: defaults < file < environment < flags.
//
// Errors: a missing file (wrapping fs.ErrNotExist, naming the path), an
// unsupported extension, a syntax error, or a *ValidationError listing
// every unknown key and bad value with its key path.
func Load(opts LoadOptions) (*Config, error) {
	opts.Env = dedupEnv(opts.Env)
	path := resolvePath(opts)

	// Each layer is loaded on its own so that its keys can be examined
	// (where a value came from, whether the user set a key), then merged in
	// order onto the defaults.
	defaults := encode(reflect.ValueOf(Default()).Elem(), false).(map[string]any)
	origins := map[string]string{}

	fileK := koanf.New(".")
	if path != "" {
		if err := loadFile(fileK, path); err != nil {
			return nil, err
		}
	}

	// Environment names are matched against the keys that exist so far.
	base := koanf.New(".")
	if err := base.Load(confmap.Provider(encode(reflect.ValueOf(Default()).Elem(), true).(map[string]any), ""), nil); err != nil {
		return nil, fmt.Errorf("config: loading defaults: %w", err)
	}
	if err := base.Merge(fileK); err != nil {
		return nil, fmt.Errorf("config: merging: %w", err)
	}
	known := base.Raw()

	rayK := koanf.New(".")
	err := rayK.Load(env.Provider(".", env.Opt{
		Prefix:      EnvRayAddress,
		EnvironFunc: func() []string { return opts.Env },
		TransformFunc: func(k, v string) (string, any) {
			if k != EnvRayAddress || v == "" {
				return "", nil
			}
			origins["ray_cluster.address"] = EnvRayAddress
			return "ray_cluster.address", v
		},
	}), nil)
	if err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", EnvRayAddress, err)
	}

	envK := koanf.New(".")
	err = envK.Load(env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return opts.Env },
		TransformFunc: func(k, v string) (string, any) {
			key := envKey(k, known)
			if key != "" {
				origins[key] = k
			}
			return key, v
		},
	}), nil)
	if err != nil {
		return nil, fmt.Errorf("config: reading the environment: %w", err)
	}

	flagK := koanf.New(".")
	if opts.Flags != nil {
		err := flagK.Load(posflag.ProviderWithFlag(opts.Flags, ".", nil, func(f *pflag.Flag) (string, any) {
			key := flagKeys[f.Name]
			if key == "" {
				return "", nil
			}
			if f.Changed {
				origins[key] = "--" + f.Name
			}
			return key, posflag.FlagVal(opts.Flags, f)
		}), nil)
		if err != nil {
			return nil, fmt.Errorf("config: reading flags: %w", err)
		}
	}

	user := koanf.New(".")
	for _, l := range []*koanf.Koanf{fileK, rayK, envK, flagK} {
		if err := user.Merge(l); err != nil {
			return nil, fmt.Errorf("config: merging: %w", err)
		}
	}
	// origins records the last environment variable or flag to set each
	// key (the layers are read in precedence order); drop keys a later
	// layer replaced wholesale.
	for k := range origins {
		if !user.Exists(k) {
			delete(origins, k)
		}
	}

	k := koanf.New(".")
	if err := k.Load(confmap.Provider(defaults, ""), nil); err != nil {
		return nil, fmt.Errorf("config: loading defaults: %w", err)
	}
	if err := k.Merge(user); err != nil {
		return nil, fmt.Errorf("config: merging: %w", err)
	}

	p := &problems{origins: origins}
	cfg := Default()
	(&decoder{p: p}).decode("", k.Raw(), reflect.ValueOf(cfg).Elem())

	// web_server.log_level is the original's spelling of the log level:
	// it applies when logging.level was not set by the user. (An invalid
	// one is reported by validate, under its own key.)
	if user.Get("logging.level") == nil {
		if l, ok := normalizeLevel(cfg.WebServer.LogLevel); ok {
			cfg.Logging.Level = l
		}
	}
	validate(cfg, p)
	if err := p.err(path); err != nil {
		return nil, err
	}
	cfg.Unused = unusedKeys(user.Keys())
	return cfg, nil
}

// unusedKeys returns the keys tagged compat:"unused" that one of the set
// keys is, or is under, sorted and once each.
func unusedKeys(set []string) []string {
	var compat []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			key := tagName(f)
			if key == "" {
				continue
			}
			switch {
			case f.Tag.Get("compat") == "unused":
				compat = append(compat, prefix+key)
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, prefix+key+".")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	var out []string
	for _, c := range compat {
		for _, k := range set {
			if k == c || strings.HasPrefix(k, c+".") {
				out = append(out, c)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// resolvePath picks the configuration file: LoadOptions.Path, else a
// --config flag the user set, else CASTRAY_CONFIG.
func resolvePath(opts LoadOptions) string {
	if opts.Path != "" {
		return opts.Path
	}
	if opts.Flags != nil {
		if f := opts.Flags.Lookup("config"); f != nil && f.Changed && f.Value.String() != "" {
			return f.Value.String()
		}
	}
	return lookupEnv(opts.Env, EnvConfig)
}

// lookupEnv returns the value of name in env.
func lookupEnv(env []string, name string) string {
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == name {
			return val
		}
	}
	return ""
}

// dedupEnv keeps the first of repeated variables, as os.Getenv does, and
// drops entries without '='.
func dedupEnv(env []string) []string {
	seen := make(map[string]bool, len(env))
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, kv)
	}
	return out
}

// loadFile loads an HCL or JSON file into k.
func loadFile(k *koanf.Koanf, path string) error {
	var parser koanf.Parser
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".hcl":
		parser = hclParser{}
	case ".json":
		parser = jsonParser{}
	default:
		if ext == "" {
			ext = "(none)"
		}
		return fmt.Errorf("config file %s: unsupported extension %s: use .hcl or .json", path, ext)
	}
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return notFoundError(path)
	case err != nil:
		return fmt.Errorf("config file %s: %w", path, err)
	case st.IsDir():
		return fmt.Errorf("config file %s is a directory", path)
	}
	if err := k.Load(file.Provider(path), parser); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// notFoundError is a missing configuration file; errors.Is(err,
// fs.ErrNotExist) holds.
type notFoundError string

func (e notFoundError) Error() string { return fmt.Sprintf("config file %s not found", string(e)) }
func (e notFoundError) Unwrap() error { return fs.ErrNotExist }

// envKey maps a CASTRAY_ variable name to a key: the prefix is dropped,
// "__" separates levels, and each level is matched against the keys that
// exist in the defaults and the file ignoring case and treating '-' and '_'
// alike (so CASTRAY_PLUGIN__DASHBOARD_SCAN__ENABLED reaches a
// plugin "dashboard-scan" block and ..._ENV_VARS__PYTHONPATH keeps its
// case); a level that matches nothing is lower-cased. It returns "" for
// CASTRAY_CONFIG and for names whose first level is not a top-level key:
// those are left to other programs (CASTRAY_BIN_DIR, ...); see IgnoredEnv.
func envKey(name string, known map[string]any) string {
	if name == EnvConfig || !strings.HasPrefix(name, EnvPrefix) {
		return ""
	}
	parts := strings.Split(strings.TrimPrefix(name, EnvPrefix), "__")
	var cur any = known
	for i, part := range parts {
		m, _ := cur.(map[string]any)
		match, ok := matchKey(part, m)
		if !ok {
			if i == 0 {
				return ""
			}
			match = strings.ToLower(part)
		}
		parts[i] = match
		cur = m[match]
	}
	return strings.Join(parts, ".")
}

// matchKey finds the key of m that part names.
func matchKey(part string, m map[string]any) (string, bool) {
	if part == "" {
		return "", false
	}
	if _, ok := m[strings.ToLower(part)]; ok {
		return strings.ToLower(part), true
	}
	fold := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	want := fold(part)
	for _, k := range sortedKeys(m) {
		if fold(k) == want {
			return k, true
		}
	}
	return "", false
}

// IgnoredEnv returns the CASTRAY_ variables in env that Load ignores
// because their first level is not a top-level key (CASTRAY_CONFIG
// excepted), for the daemon to warn about: CASTRAY_WEB_SERVER_PORT (one
// underscore) ends up here, while CASTRAY_WEB_SERVER__PROT is an unknown
// key error.
func IgnoredEnv(env []string) []string {
	known := encode(reflect.ValueOf(Default()).Elem(), true).(map[string]any)
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && name != EnvConfig && envKey(name, known) == "" {
			out = append(out, name)
		}
	}
	return out
}

// hclParser parses HCL 1 and turns its blocks into plain objects.
//
// hcl v1 decodes every block as a list of objects: `web_server { port = 1 }`
// is {"web_server": [{"port": 1}]} and two `plugin "x" {}` blocks are
// {"plugin": [{"x": [{}]}, {"y": [{}]}]}. koanf's parser, with
// flattenSlices, only unwraps lists of length one, which leaves several
// plugin blocks as a list; so this parser merges every such list itself
// (list literals like hosts = ["a"] decode as []any and are left alone).
// Blocks repeated with the same setting are an error.
type hclParser struct{}

func (hclParser) Unmarshal(b []byte) (m map[string]any, err error) {
	defer func() {
		// hcl v1 is old and not hardened against arbitrary input.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("HCL parser failed: %v", r)
		}
	}()
	m, err = koanfhcl.Parser(false).Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("parsing HCL: %w", err)
	}
	var dups []string
	m = normalizeBlocks(m, "", &dups).(map[string]any)
	if len(dups) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(dups, "\n"))
	}
	return m, nil
}

func (hclParser) Marshal(map[string]any) ([]byte, error) {
	return nil, errors.New("HCL marshalling is not supported")
}

func normalizeBlocks(v any, path string, dups *[]string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeBlocks(e, joinKey(path, k), dups)
		}
		return x
	case []map[string]any:
		out := map[string]any{}
		for _, e := range x {
			mergeBlock(out, normalizeBlocks(e, path, dups).(map[string]any), path, dups)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = normalizeBlocks(e, fmt.Sprintf("%s[%d]", path, i), dups)
		}
		return x
	default:
		return v
	}
}

func mergeBlock(dst, src map[string]any, path string, dups *[]string) {
	for _, k := range sortedKeys(src) {
		v := src[k]
		old, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		om, ok1 := old.(map[string]any)
		nm, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			mergeBlock(om, nm, joinKey(path, k), dups)
			continue
		}
		*dups = append(*dups, fmt.Sprintf("%s: set in more than one block", joinKey(path, k)))
	}
}

// jsonParser parses JSON keeping integers exact (koanf's JSON parser reads
// every number as a float64, which rounds integers above 2^53), and
// rejects anything but one object.
type jsonParser struct{}

func (jsonParser) Unmarshal(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := lineCol(b, se.Offset)
			return nil, fmt.Errorf("parsing JSON: line %d, column %d: %w", line, col, err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("parsing JSON: unexpected end of file")
		}
		return nil, fmt.Errorf("parsing JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("parsing JSON: trailing data after the top-level object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("parsing JSON: the top level must be an object, got %s", describe(v))
	}
	return numbersToGo(m).(map[string]any), nil
}

func (jsonParser) Marshal(m map[string]any) ([]byte, error) {
	return json.Marshal(m)
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(b []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(b)))
	before := b[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}

// numbersToGo replaces json.Numbers by int or float64, as hcl produces.
func numbersToGo(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbersToGo(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbersToGo(e)
		}
	case json.Number:
		return normalizeNumber(x)
	}
	return v
}
