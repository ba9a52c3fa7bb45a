package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// ValidationError is every problem Load found in the merged configuration
// (unknown keys, wrong types, bad values), sorted by key. Its message lists
// one problem per line.
type ValidationError struct {
	// File is the configuration file that was loaded, "" if none.
	File string
	// Problems, sorted by Key then Text.
	Problems []Problem
}

// Problem is one thing wrong with the configuration.
type Problem struct {
	// Key is the full key path, e.g. "web_server.port" or
	// "plugin.local.sha256".
	Key string
	// Text is the complete line shown to the user, e.g.
	// `web_server.port: must be between 0 and 65535, got 70000` or
	// `unknown key "web_server.hots" (did you mean "web_server.host"?)`,
	// followed by ` (from CASTRAY_WEB_SERVER__PORT)` or ` (from --port)`
	// when the value came from the environment or a flag.
	Text string
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration")
	if e.File != "" {
		fmt.Fprintf(&b, " (config file %s)", e.File)
	}
	if len(e.Problems) == 1 {
		b.WriteString(": ")
		b.WriteString(e.Problems[0].Text)
		return b.String()
	}
	fmt.Fprintf(&b, ": %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.Text)
	}
	return b.String()
}

// problems collects Problems while loading, annotating each with the
// source of the offending value when that is not the file.
type problems struct {
	list    []Problem
	origins map[string]string // flattened key -> "CASTRAY_X__Y", "--port", "RAY_ADDRESS"
}

// at records "<key>: <msg>".
func (p *problems) at(key, format string, args ...any) {
	p.add(key, key+": "+fmt.Sprintf(format, args...))
}

// unknown records the unknown key k of the section at parent, with a
// suggestion when a known key is close.
func (p *problems) unknown(parent, k string, known []string) {
	key := joinKey(parent, k)
	text := fmt.Sprintf("unknown key %q", key)
	if strings.Contains(k, ".") {
		text += ` (a key must not contain "."; nest it in a block or object instead)`
	} else if s := suggest(k, known); s != "" {
		text += fmt.Sprintf(" (did you mean %q?)", joinKey(parent, s))
	}
	p.add(key, text)
}

func (p *problems) add(key, text string) {
	if o := p.origin(key); o != "" {
		text += " (from " + o + ")"
	}
	p.list = append(p.list, Problem{Key: key, Text: text})
}

// origin finds where the value at key came from: the key itself, the
// nearest ancestor, or, for a whole section, the one source all its keys
// came from.
func (p *problems) origin(key string) string {
	if len(p.origins) == 0 {
		return ""
	}
	for k := key; k != ""; k, _ = splitLast(k) {
		if o, ok := p.origins[k]; ok {
			return o
		}
	}
	var found string
	for k, o := range p.origins {
		if strings.HasPrefix(k, key+".") {
			if found != "" && found != o {
				return ""
			}
			found = o
		}
	}
	return found
}

func (p *problems) err(file string) error {
	if len(p.list) == 0 {
		return nil
	}
	list := slices.Clone(p.list)
	slices.SortFunc(list, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Text, b.Text))
	})
	list = slices.Compact(list)
	return &ValidationError{File: file, Problems: list}
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// splitLast splits "a.b.c" into "a.b" and "c", and "a" into "" and "a".
// Keys are built with joinKey from parts that may themselves contain dots
// only in reported unknown keys, where the split is cosmetic.
func splitLast(key string) (string, string) {
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		return "", key
	}
	return key[:i], key[i+1:]
}

// suggest returns the known key closest to k if it is a plausible typo.
func suggest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(k, c); d < bestD && d < max(len(c), 2) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Damerau (optimal string alignment) distance, so a
// swapped pair of letters ("hots" for "host") counts as one edit.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
