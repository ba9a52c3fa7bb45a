package progkit

import (
	"os"
	"strings"
)

// CleanEnv is this process's environment without the entries that start
// with one of drop (e.g. "CASTRAY_", "RAY_ADDRESS="): settings that would
// leak into the daemon under test.
func CleanEnv(drop ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, p := range drop {
			if strings.HasPrefix(kv, p) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}
