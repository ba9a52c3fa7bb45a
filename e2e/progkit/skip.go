package progkit

import "strings"

// SkipSet is the set of the names in a comma-separated -skip value; empty
// names are ignored.
func SkipSet(s string) map[string]bool {
	out := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		if name != "" {
			out[name] = true
		}
	}
	return out
}
