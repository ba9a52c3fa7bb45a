package filegen

import (
	"fmt"
	"strings"
)

// Preset is one of the original's named sizes.
type Preset struct {
	Name string
	Size int64
}

// Presets are the original's presets, smallest first.
var Presets = []Preset{
	{"tiny", 1 << 10},
	{"small", 10 << 10},
	{"medium", 100 << 10},
	{"large", 1 << 20},
	{"huge", 10 << 20},
	{"massive", 100 << 20},
}

// LookupPreset finds a preset by name.
func LookupPreset(name string) (Preset, error) {
	names := make([]string, 0, len(Presets))
	for _, p := range Presets {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Preset{}, fmt.Errorf("preset %q: unknown; the presets are %s", name, strings.Join(names, ", "))
}

// The name prefixes of generated files, the original's: a file generated
// by size, by preset, and to be transferred at once.
const (
	PrefixSample   = "sample_"
	PrefixPreset   = "preset_"
	PrefixTransfer = "transfer_"
)

// Prefixes are all the prefixes that mark a generated file.
var Prefixes = []string{PrefixSample, PrefixPreset, PrefixTransfer}

// IsGenerated reports whether name is a generated file's.
func IsGenerated(name string) bool {
	for _, p := range Prefixes {
		if strings.HasPrefix(name, p) && len(name) > len(p) {
			return true
		}
	}
	return false
}

// Extension is the file extension of a content type's files: .txt for
// text, .bin for random, .dat for a pattern.
func Extension(kind string) string {
	switch kind {
	case Random:
		return ".bin"
	case Pattern:
		return ".dat"
	}
	return ".txt"
}
