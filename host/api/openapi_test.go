package api

// These tests keep openapi.yaml, the API reference, honest: every route the
// server registers is documented, every documented operation is routed, and
// the document is well formed (OpenAPI 3.1, every operation summarised and
// answered, every $ref resolvable, every path parameter declared, every event
// type of host/events listed).
//
// The module has no YAML parser among its direct dependencies, and this test
// must not add one, so it carries a small parser for the subset of YAML the
// document is written in (see parseYAMLSubset). The subset parser is strict:
// anything outside the subset is an error naming the line, never a silent
// misreading.

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/discovery"
	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/metrics"
	"github.com/castray/castray/host/pluginmgr"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
	"github.com/castray/castray/host/transfer"
	"github.com/castray/castray/sdk"
)

// noBackends has no transfer plugins.
type noBackends struct{}

func (noBackends) Transfer(name string) (sdk.Transferer, error) {
	return nil, fmt.Errorf("no transfer plugin %q in tests", name)
}

func (noBackends) TransferNames() []string { return nil }

func (noBackends) TransferCapabilities(_ context.Context, name string) (*sdk.TransferCapabilities, error) {
	return nil, fmt.Errorf("no transfer plugin %q in tests", name)
}

// noPlugins is a plugin manager without plugins.
type noPlugins struct{}

func (noPlugins) List() []pluginmgr.Status { return nil }

// noDiscovery is a discovery manager without discovery plugins.
type noDiscovery struct{}

func (noDiscovery) Discover(context.Context, discovery.Request) (*discovery.Result, error) {
	return nil, discovery.ErrNoPlugins
}

func (noDiscovery) Last() *discovery.Result { return nil }

// newDocTestServer builds the server with real, minimal services.
func newDocTestServer(t *testing.T) *Server {
	t.Helper()
	dir := t.TempDir()
	log := hclog.NewNullLogger()
	reg := registry.New(nil, func(string, any) {})
	st, err := store.Open(filepath.Join(dir, "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fs, err := files.Open(filepath.Join(dir, "uploads"), st, 4<<20, log)
	if err != nil {
		t.Fatal(err)
	}
	tr := transfer.New(transfer.Options{Store: st, Nodes: reg, Backends: noBackends{}, Sources: fs, Emit: func(string, any) {}, Log: log})
	return New(Deps{
		Registry: reg, Plugins: noPlugins{}, Transfers: tr, Discovery: noDiscovery{}, Bus: events.NewBus(), Log: log,
		InboxRoot: filepath.Join(dir, "inbox"), Files: fs,
		MaxFileSize: 1 << 20, BodyLimit: 1 << 10, ClientBuffer: 8, Version: "test",
		Metrics: metrics.New(),
	})
}

// loadDoc parses the embedded document, the one the daemon serves.
func loadDoc(t *testing.T) map[string]any {
	t.Helper()
	v, err := parseYAMLSubset(string(openapiYAML))
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	doc, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("openapi.yaml: the top level is a %T, not a mapping", v)
	}
	return doc
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operation is one documented method of one path.
type operation struct {
	method, path string // method in upper case
	op           map[string]any
	item         map[string]any // the path item
}

func (o operation) String() string { return o.method + " " + o.path }

func operations(t *testing.T, doc map[string]any) []operation {
	t.Helper()
	paths, ok := doc["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		t.Fatal("openapi.yaml: no paths")
	}
	var ops []operation
	for path, v := range paths {
		item, ok := v.(map[string]any)
		if !ok {
			t.Errorf("paths.%s is a %T, not a path item", path, v)
			continue
		}
		for key, v := range item {
			if !slices.Contains(httpMethods, key) {
				continue
			}
			op, ok := v.(map[string]any)
			if !ok {
				t.Errorf("paths.%s.%s is a %T, not an operation", path, key, v)
				continue
			}
			ops = append(ops, operation{method: strings.ToUpper(key), path: path, op: op, item: item})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
	return ops
}

var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// TestOpenAPIMatchesRoutes compares the server's routes with the document's
// operations, both ways.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := newDocTestServer(t)
	doc := loadDoc(t)

	routed := map[string]bool{}
	for _, r := range s.App().GetRoutes(true) { // true: without Use middlewares
		if r.Method == "HEAD" { // Fiber adds HEAD to every GET
			continue
		}
		if strings.ContainsAny(r.Path, "*?+") {
			t.Errorf("route %s %s has a wildcard or optional parameter; document it and teach this test its OpenAPI form", r.Method, r.Path)
		}
		routed[r.Method+" "+fiberParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	documented := map[string]bool{}
	for _, o := range operations(t, doc) {
		documented[o.String()] = true
	}

	var undocumented, unrouted []string
	for r := range routed {
		if !documented[r] {
			undocumented = append(undocumented, r)
		}
	}
	for d := range documented {
		if !routed[d] {
			unrouted = append(unrouted, d)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unrouted)
	if len(undocumented) > 0 {
		t.Errorf("%d route(s) missing from openapi.yaml:\n  %s", len(undocumented), strings.Join(undocumented, "\n  "))
	}
	if len(unrouted) > 0 {
		t.Errorf("%d operation(s) in openapi.yaml that the server does not route:\n  %s", len(unrouted), strings.Join(unrouted, "\n  "))
	}
	if len(routed) == 0 {
		t.Error("the server registered no routes")
	}
}

// TestOpenAPIDocument checks the document's own consistency.
func TestOpenAPIDocument(t *testing.T) {
	doc := loadDoc(t)

	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi: %#v, want a 3.1.x version string", doc["openapi"])
	}
	info, _ := doc["info"].(map[string]any)
	for _, k := range []string{"title", "version"} {
		if s, _ := info[k].(string); s == "" {
			t.Errorf("info.%s is missing", k)
		}
	}

	// Every $ref points at something.
	walkYAML(doc, "$", func(where string, m map[string]any) {
		ref, ok := m["$ref"]
		if !ok {
			return
		}
		if s, _ := ref.(string); s == "" {
			t.Errorf("%s.$ref is not a string: %#v", where, ref)
		} else if _, err := resolveRef(doc, s); err != nil {
			t.Errorf("%s.$ref: %v", where, err)
		}
	})

	globalSecurity := doc["security"]
	opIDs := map[string]string{}
	for _, o := range operations(t, doc) {
		if s, _ := o.op["summary"].(string); strings.TrimSpace(s) == "" {
			t.Errorf("%s has no summary", o)
		}
		if id, _ := o.op["operationId"].(string); id != "" {
			if prev, dup := opIDs[id]; dup {
				t.Errorf("%s and %s share operationId %q", prev, o, id)
			}
			opIDs[id] = o.String()
		}
		responses, _ := o.op["responses"].(map[string]any)
		if len(responses) == 0 {
			t.Errorf("%s has no responses", o)
		}
		for code, r := range responses {
			if _, err := strconv.Atoi(code); (err != nil || len(code) != 3) && code != "default" {
				t.Errorf("%s: response key %q is not a status code", o, code)
			}
			if rm, ok := r.(map[string]any); !ok || (rm["$ref"] == nil && rm["description"] == nil) {
				t.Errorf("%s: response %s has no description", o, code)
			}
		}
		// An operation that needs the token says what happens without it.
		security, ok := o.op["security"]
		if !ok {
			security = globalSecurity
		}
		if list, _ := security.([]any); len(list) > 0 && responses["401"] == nil {
			t.Errorf("%s requires the bearer token but documents no 401 response", o)
		}
		checkPathParams(t, doc, o)
	}
}

// checkPathParams: each {name} of the path is a required path parameter of
// the operation or its path item, and each path parameter is in the path.
func checkPathParams(t *testing.T, doc map[string]any, o operation) {
	t.Helper()
	declared := map[string]bool{}
	for _, list := range []any{o.item["parameters"], o.op["parameters"]} {
		params, _ := list.([]any)
		for i, p := range params {
			pm, _ := p.(map[string]any)
			if ref, ok := pm["$ref"].(string); ok {
				v, err := resolveRef(doc, ref)
				if err != nil {
					continue // reported by the $ref check
				}
				pm, _ = v.(map[string]any)
			}
			if pm == nil {
				t.Errorf("%s: parameter %d is not a mapping", o, i)
				continue
			}
			if pm["in"] != "path" {
				continue
			}
			name, _ := pm["name"].(string)
			declared[name] = true
			if pm["required"] != true {
				t.Errorf("%s: path parameter %q must say required: true", o, name)
			}
		}
	}
	inPath := map[string]bool{}
	for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(o.path, -1) {
		inPath[m[1]] = true
		if !declared[m[1]] {
			t.Errorf("%s: path parameter {%s} is not declared", o, m[1])
		}
	}
	for name := range declared {
		if !inPath[name] {
			t.Errorf("%s: declares path parameter %q that is not in the path", o, name)
		}
	}
}

// TestOpenAPIListsEveryEventType compares the event types of
// host/events/types.go with the WebSocketEvent enum and the /ws path's
// x-websocket event list.
func TestOpenAPIListsEveryEventType(t *testing.T) {
	doc := loadDoc(t)
	want := eventTypes(t)

	enum, err := resolveRef(doc, "#/components/schemas/WebSocketEvent/properties/type/enum")
	if err != nil {
		t.Fatal(err)
	}
	var inEnum []string
	for _, v := range enum.([]any) {
		s, _ := v.(string)
		inEnum = append(inEnum, s)
	}
	compareSets(t, "WebSocketEvent.type enum", inEnum, want)

	list, err := resolveRef(doc, "#/paths/~1ws/x-websocket/events")
	if err != nil {
		t.Fatal(err)
	}
	var inExt []string
	for _, v := range list.([]any) {
		m, _ := v.(map[string]any)
		s, _ := m["type"].(string)
		inExt = append(inExt, s)
	}
	compareSets(t, "/ws x-websocket events", inExt, want)
}

// eventTypes reads the Type* string constants of host/events/types.go.
func eventTypes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../events/types.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Type") || i >= len(vs.Values) {
				continue
			}
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, _ := strconv.Unquote(lit.Value)
				out = append(out, s)
			}
		}
		return true
	})
	if len(out) == 0 {
		t.Fatal("no Type constants found in host/events/types.go")
	}
	// Keep this list in step with the file it was read from.
	for _, s := range []string{events.TypeSnapshot, events.TypeStatusUpdate, events.TypeTransferActivity} {
		if !slices.Contains(out, s) {
			t.Fatalf("reading host/events/types.go missed %q", s)
		}
	}
	return out
}

func compareSets(t *testing.T, what string, got, want []string) {
	t.Helper()
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s lacks event type(s) of host/events: %s", what, strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		t.Errorf("%s lists event type(s) host/events does not define: %s", what, strings.Join(extra, ", "))
	}
}

// TestOpenAPIServed checks that GET /api/openapi.yaml serves the document.
func TestOpenAPIServed(t *testing.T) {
	s := newDocTestServer(t)
	resp, err := s.App().Test(httptest.NewRequest("GET", "/api/openapi.yaml", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/yaml" || string(body) != string(openapiYAML) {
		t.Fatalf("GET /api/openapi.yaml: %d %q, %d bytes (want 200 application/yaml, the %d embedded bytes)",
			resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(openapiYAML))
	}
}

// walkYAML calls fn for every mapping in v, with its dotted location.
func walkYAML(v any, where string, fn func(where string, m map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		fn(where, x)
		for k, e := range x {
			walkYAML(e, where+"."+k, fn)
		}
	case []any:
		for i, e := range x {
			walkYAML(e, fmt.Sprintf("%s[%d]", where, i), fn)
		}
	}
}

// resolveRef follows a local JSON pointer reference ("#/a/b").
func resolveRef(doc map[string]any, ref string) (any, error) {
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("%q: only local references (#/...) are expected", ref)
	}
	var cur any = doc
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("%q: no %q", ref, tok)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("%q: bad index %q", ref, tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%q: %q is inside a scalar", ref, tok)
		}
	}
	return cur, nil
}

// ---------------------------------------------------------------------------
// A parser for a strict subset of YAML 1.2.
//
// Supported: block mappings and block sequences (including "- key: value"
// items and "key:" followed by a sequence at the same indentation), plain,
// 'single-quoted' and "double-quoted" one-line scalars, literal block scalars
// (|, |-, |+), flow sequences and mappings of scalars ([a, 'b'], {a: b}), and
// comments. Plain scalars resolve as YAML 1.2's core schema does (null,
// booleans, integers, floats, else strings); keys are strings.
//
// Not supported, and reported as errors: tabs in indentation, multi-line
// plain or quoted scalars, folded block scalars (>), anchors, aliases, tags,
// complex keys, directives and several documents. Duplicate keys are errors,
// as in YAML.

type yamlLine struct {
	num     int    // 1-based
	indent  int    // leading spaces
	content string // the line after its indentation
	raw     string
}

type yamlParser struct {
	lines []yamlLine
	pos   int
}

func parseYAMLSubset(src string) (any, error) {
	p := &yamlParser{}
	for i, raw := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n") {
		trimmed := strings.TrimLeft(raw, " ")
		if strings.HasPrefix(trimmed, "\t") {
			return nil, fmt.Errorf("line %d: tab in indentation", i+1)
		}
		p.lines = append(p.lines, yamlLine{num: i + 1, indent: len(raw) - len(trimmed), content: trimmed, raw: raw})
	}
	ind, text, ok := p.peek()
	if !ok {
		return nil, errors.New("empty document")
	}
	if text == "---" || strings.HasPrefix(text, "%") {
		return nil, p.errf("document markers and directives are not supported")
	}
	v, err := p.block(ind)
	if err != nil {
		return nil, err
	}
	if _, _, ok := p.peek(); ok {
		return nil, p.errf("unexpected content (bad indentation?)")
	}
	return v, nil
}

func (p *yamlParser) errf(format string, args ...any) error {
	n := len(p.lines)
	if p.pos < len(p.lines) {
		n = p.lines[p.pos].num
	}
	return fmt.Errorf("line %d: %s", n, fmt.Sprintf(format, args...))
}

// peek skips blank and comment lines and returns the next line's indent and
// text (comment removed).
func (p *yamlParser) peek() (int, string, bool) {
	for ; p.pos < len(p.lines); p.pos++ {
		l := p.lines[p.pos]
		text := strings.TrimRight(stripYAMLComment(l.content), " ")
		if text != "" {
			return l.indent, text, true
		}
	}
	return 0, "", false
}

// stripYAMLComment removes a comment: a '#' at the start or after a space,
// outside quoted scalars. A quote opens a quoted scalar only where a scalar
// can begin.
func stripYAMLComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					i++
				} else {
					quote = 0
				}
			}
		case quote == '"':
			if c == '\\' {
				i++
			} else if c == '"' {
				quote = 0
			}
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return s[:i]
		case (c == '\'' || c == '"') && scalarMayStart(s[:i]):
			quote = c
		}
	}
	return s
}

func scalarMayStart(before string) bool {
	b := strings.TrimRight(before, " ")
	if b == "" {
		return true
	}
	switch b[len(b)-1] {
	case '[', '{', ',':
		return true
	case ':', '-': // "key: 'x'", "- 'x'", but not "a:'x'"
		return len(b) < len(before)
	}
	return false
}

func isSeqItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

func (p *yamlParser) block(indent int) (any, error) {
	_, text, _ := p.peek()
	if isSeqItem(text) {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

func (p *yamlParser) mapping(indent int) (any, error) {
	m := map[string]any{}
	for {
		ind, text, ok := p.peek()
		if !ok || ind < indent {
			return m, nil
		}
		if ind > indent {
			return nil, p.errf("unexpected indentation (%d spaces, the mapping is at %d)", ind, indent)
		}
		if isSeqItem(text) {
			return nil, p.errf("a sequence item where a mapping key was expected")
		}
		key, rest, err := splitYAMLKey(text)
		if err != nil {
			return nil, p.errf("%v", err)
		}
		if _, dup := m[key]; dup {
			return nil, p.errf("duplicate key %q", key)
		}
		p.pos++
		v, err := p.value(indent, rest, true)
		if err != nil {
			return nil, err
		}
		m[key] = v
	}
}

func (p *yamlParser) sequence(indent int) (any, error) {
	s := []any{}
	for {
		ind, text, ok := p.peek()
		if !ok || ind < indent || (ind == indent && !isSeqItem(text)) {
			return s, nil
		}
		if ind > indent {
			return nil, p.errf("unexpected indentation (%d spaces, the sequence is at %d)", ind, indent)
		}
		after := text[1:]
		rest := strings.TrimLeft(after, " ")
		switch {
		case rest == "":
			p.pos++
			v, err := p.value(indent, "", false)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		case isSeqItem(rest):
			return nil, p.errf("nested sequences on one line are not supported")
		case looksLikeMapEntry(rest):
			// "- key: value": a mapping whose first line is this one, moved
			// to where its key starts.
			l := &p.lines[p.pos]
			l.indent += 1 + len(after) - len(rest)
			l.content = rest
			v, err := p.mapping(l.indent)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		default:
			p.pos++
			v, err := p.value(indent, rest, false)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
	}
}

// value parses what follows "key:" or "- " on a line whose block is at
// indent; the current line has been consumed.
func (p *yamlParser) value(indent int, rest string, inMapping bool) (any, error) {
	switch {
	case rest == "":
		ind, text, ok := p.peek()
		switch {
		case ok && ind > indent:
			return p.block(ind)
		case ok && inMapping && ind == indent && isSeqItem(text):
			return p.sequence(ind)
		}
		return nil, nil
	case rest[0] == '|':
		return p.literal(indent, rest)
	case rest[0] == '>':
		p.pos--
		return nil, p.errf("folded block scalars (>) are not supported; use |")
	case rest[0] == '[' || rest[0] == '{':
		fp := &flowParser{s: rest}
		v, err := fp.value()
		if err == nil {
			fp.skipSpaces()
			if fp.i < len(fp.s) {
				err = fmt.Errorf("unexpected %q after a flow collection", fp.s[fp.i:])
			}
		}
		if err != nil {
			p.pos--
			return nil, p.errf("%v", err)
		}
		return v, nil
	}
	v, n, err := scalarPrefix(rest, false)
	if err == nil && strings.TrimSpace(rest[n:]) != "" {
		err = fmt.Errorf("unexpected %q after a quoted scalar", rest[n:])
	}
	if err != nil {
		p.pos--
		return nil, p.errf("%v", err)
	}
	// A plain scalar continued on the next, more indented, line would be
	// read by YAML as one multi-line scalar: not supported.
	if ind, _, ok := p.peek(); ok && ind > indent {
		return nil, p.errf("unexpected indentation after a scalar (multi-line plain scalars are not supported)")
	}
	return v, nil
}

// literal parses a literal block scalar whose header is on the line just
// consumed; its lines are indented more than indent.
func (p *yamlParser) literal(indent int, header string) (any, error) {
	chomp := header[1:]
	if chomp != "" && chomp != "-" && chomp != "+" {
		p.pos--
		return nil, p.errf("block scalar header %q: only |, |- and |+ are supported", header)
	}
	var lines []string
	blockIndent := -1
	for ; p.pos < len(p.lines); p.pos++ {
		l := p.lines[p.pos]
		if strings.TrimSpace(l.raw) == "" {
			lines = append(lines, "")
			continue
		}
		if l.indent <= indent {
			break
		}
		if blockIndent < 0 {
			blockIndent = l.indent
		}
		if l.indent < blockIndent {
			return nil, p.errf("block scalar line less indented than its first line")
		}
		lines = append(lines, l.raw[blockIndent:])
	}
	// Trailing blank lines belong to the scalar only for |+; leave them
	// for the parser otherwise (they are blank either way).
	n := len(lines)
	for n > 0 && lines[n-1] == "" {
		n--
	}
	text := strings.Join(lines[:n], "\n")
	switch chomp {
	case "":
		if n > 0 {
			text += "\n"
		}
	case "+":
		text = strings.Join(lines, "\n") + "\n"
	}
	return text, nil
}

// splitYAMLKey splits "key: rest" or "key:".
func splitYAMLKey(text string) (key, rest string, err error) {
	if text[0] == '\'' || text[0] == '"' {
		v, n, err := scalarPrefix(text, false)
		if err != nil {
			return "", "", err
		}
		after := text[n:]
		if !strings.HasPrefix(after, ":") || (len(after) > 1 && after[1] != ' ') {
			return "", "", fmt.Errorf("expected ':' after the quoted key %s", text[:n])
		}
		return fmt.Sprint(v), strings.TrimSpace(after[1:]), nil
	}
	i := strings.Index(text, ": ")
	if i < 0 {
		if !strings.HasSuffix(text, ":") {
			return "", "", fmt.Errorf("expected \"key: value\", got %q", text)
		}
		i = len(text) - 1
	}
	key = strings.TrimRight(text[:i], " ")
	if key == "" || strings.ContainsAny(key[:1], "[]{},&*!|>%@`?") {
		return "", "", fmt.Errorf("unsupported key %q", key)
	}
	return key, strings.TrimSpace(text[i+1:]), nil
}

func looksLikeMapEntry(text string) bool {
	if text[0] == '[' || text[0] == '{' {
		return false
	}
	if text[0] == '\'' || text[0] == '"' {
		_, n, err := scalarPrefix(text, false)
		return err == nil && strings.HasPrefix(text[n:], ":")
	}
	return strings.Contains(text, ": ") || strings.HasSuffix(text, ":")
}

// scalarPrefix reads the scalar at the start of s: a quoted one (returning
// how many bytes it used), or a plain one taking the rest of s (in a flow,
// up to the next , ] or }).
func scalarPrefix(s string, inFlow bool) (any, int, error) {
	switch s[0] {
	case '\'':
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] == '\'' {
				if i+1 < len(s) && s[i+1] == '\'' {
					b.WriteByte('\'')
					i++
					continue
				}
				return b.String(), i + 1, nil
			}
			b.WriteByte(s[i])
		}
		return nil, 0, fmt.Errorf("unterminated single-quoted scalar (multi-line scalars are not supported)")
	case '"':
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '"':
				v, err := strconv.Unquote(s[:i+1])
				if err != nil {
					return nil, 0, fmt.Errorf("double-quoted scalar %s: escapes beyond Go's are not supported", s[:i+1])
				}
				return v, i + 1, nil
			}
		}
		return nil, 0, fmt.Errorf("unterminated double-quoted scalar (multi-line scalars are not supported)")
	}
	end := len(s)
	if inFlow {
		if i := strings.IndexAny(s, ",]}"); i >= 0 {
			end = i
		}
	}
	plain := strings.TrimRight(s[:end], " ")
	if strings.ContainsAny(plain[:1], "&*!|>%@`") || strings.HasPrefix(plain, "? ") || strings.HasPrefix(plain, "- ") {
		return nil, 0, fmt.Errorf("plain scalar %q starts with an indicator; quote it", plain)
	}
	if strings.Contains(plain, ": ") || strings.HasSuffix(plain, ":") {
		return nil, 0, fmt.Errorf("plain scalar %q contains \": \" (YAML reads a mapping); quote it", plain)
	}
	if inFlow && strings.ContainsAny(plain, "[{") {
		return nil, 0, fmt.Errorf("plain scalar %q in a flow contains a bracket; quote it", plain)
	}
	return resolvePlain(plain), end, nil
}

var (
	yamlInt   = regexp.MustCompile(`^[-+]?(0|[1-9][0-9]*)$`)
	yamlFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)
)

// resolvePlain applies YAML 1.2's core schema to a plain scalar.
func resolvePlain(s string) any {
	switch s {
	case "null", "Null", "NULL", "~":
		return nil
	case "true", "True", "TRUE":
		return true
	case "false", "False", "FALSE":
		return false
	}
	if yamlInt.MatchString(s) {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	}
	if yamlFloat.MatchString(s) {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	}
	return s
}

// flowParser reads a flow collection on one line.
type flowParser struct {
	s string
	i int
}

func (f *flowParser) skipSpaces() {
	for f.i < len(f.s) && f.s[f.i] == ' ' {
		f.i++
	}
}

func (f *flowParser) value() (any, error) {
	f.skipSpaces()
	if f.i >= len(f.s) {
		return nil, errors.New("unterminated flow collection")
	}
	switch f.s[f.i] {
	case '[':
		return f.collection(']', func() (any, error) { return f.value() })
	case '{':
		m := map[string]any{}
		_, err := f.collection('}', func() (any, error) {
			k, err := f.value()
			if err != nil {
				return nil, err
			}
			f.skipSpaces()
			if f.i >= len(f.s) || f.s[f.i] != ':' {
				return nil, fmt.Errorf("flow mapping entry %v has no ':'", k)
			}
			f.i++
			v, err := f.value()
			if err != nil {
				return nil, err
			}
			key := fmt.Sprint(k)
			if _, dup := m[key]; dup {
				return nil, fmt.Errorf("duplicate key %q", key)
			}
			m[key] = v
			return nil, nil
		})
		return m, err
	case ']', '}', ',':
		return nil, fmt.Errorf("unexpected %q in a flow collection", f.s[f.i])
	}
	rest := f.s[f.i:]
	if rest[0] != '\'' && rest[0] != '"' {
		// In a flow mapping a plain key ends at ": ".
		if i := strings.Index(rest, ": "); i >= 0 {
			if j := strings.IndexAny(rest, ",]}"); j < 0 || i < j {
				rest = rest[:i]
			}
		}
	}
	v, n, err := scalarPrefix(rest, true)
	if err != nil {
		return nil, err
	}
	f.i += n
	return v, nil
}

func (f *flowParser) collection(closer byte, item func() (any, error)) ([]any, error) {
	f.i++ // the opener
	out := []any{}
	f.skipSpaces()
	if f.i < len(f.s) && f.s[f.i] == closer {
		f.i++
		return out, nil
	}
	for {
		v, err := item()
		if err != nil {
			return nil, err
		}
		if closer == ']' {
			out = append(out, v)
		}
		f.skipSpaces()
		if f.i >= len(f.s) {
			return nil, errors.New("unterminated flow collection")
		}
		switch f.s[f.i] {
		case ',':
			f.i++
		case closer:
			f.i++
			return out, nil
		default:
			return nil, fmt.Errorf("unexpected %q in a flow collection", f.s[f.i:])
		}
	}
}

// TestYAMLSubsetParser covers the parser itself, including the errors that
// keep the document inside the subset.
func TestYAMLSubsetParser(t *testing.T) {
	src := `# comment
a: 1
b: 'it''s # not a comment'
c: "q\"x" # comment
d: [x, 'y z', 3, true, []]
e: {k: v, n: null}
f:
  - g: 1
    h: [i]
  - plain words, with a comma
  -
    j: k
l:
- m
- n
o: |
  line one
  # not a comment

    indented
p: |-
  stripped
q:
r: 3.1.0
s: 3.5
'200': x
t: a#b
`
	got, err := parseYAMLSubset(src)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"a": int64(1), "b": "it's # not a comment", "c": `q"x`,
		"d": []any{"x", "y z", int64(3), true, []any{}},
		"e": map[string]any{"k": "v", "n": nil},
		"f": []any{map[string]any{"g": int64(1), "h": []any{"i"}}, "plain words, with a comma", map[string]any{"j": "k"}},
		"l": []any{"m", "n"},
		"o": "line one\n# not a comment\n\n  indented\n",
		"p": "stripped", "q": nil, "r": "3.1.0", "s": 3.5, "200": "x", "t": "a#b",
	}
	if g, w := fmt.Sprintf("%#v", got), fmt.Sprintf("%#v", want); g != w {
		t.Errorf("parsed\n %s\nwant\n %s", g, w)
	}

	for _, bad := range []string{
		"a: 1\na: 2\n",          // duplicate key
		"a: b: c\n",             // ": " in a plain scalar
		"a: x\n  y\n",           // multi-line plain scalar
		"a:\n\t- b\n",           // tab
		"a: >\n  folded\n",      // folded scalar
		"a: &anchor x\n",        // anchor
		"a: 'open\n",            // unterminated quote
		"a: [x, y\n",            // unterminated flow
		"a:\n  b: 1\n c: 2\n",   // bad indentation
		"- a\nb: c\n",           // sequence then mapping at one level
		"a: {k: v, k: w}\n",     // duplicate flow key
		"a: [x] y\n",            // junk after a flow
		"a:\n  - b\n  c: d\n",   // key inside a sequence
		"a: |\n    x\n  y\nb\n", // bad line after a block scalar
	} {
		if v, err := parseYAMLSubset(bad); err == nil {
			t.Errorf("parsed %q as %#v, want an error", bad, v)
		}
	}
}
