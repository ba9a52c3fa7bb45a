package filegen

import (
	"fmt"
	"math/bits"
	"strings"
)

// MaxSize is the original's cap on a generated file: 1 GiB.
const MaxSize int64 = 1 << 30

// Units are the size units ParseSize accepts, smallest first.
var Units = []string{"B", "KB", "MB", "GB"}

var unitBytes = map[string]int64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}

// maxFraction bounds the digits after the decimal point.
const maxFraction = 9

// ParseSize reads a size such as "100B", "1KB", "1.5MB", "1 gb" or "512"
// (bytes) into bytes. See the package documentation for the rules. The
// result is at least 1; it is not checked against any cap.
func ParseSize(s string) (int64, error) {
	in := s
	s = strings.ToUpper(strings.TrimSpace(s))
	if s == "" {
		return 0, fmt.Errorf("size %q: empty; give a number and a unit such as 100B, 1KB, 1.5MB or 1GB", in)
	}
	// The number is the leading digits and dot; the rest, spaces trimmed,
	// is the unit.
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || s[end] == '.') {
		end++
	}
	num, unit := s[:end], strings.TrimSpace(s[end:])
	if num == "" {
		return 0, fmt.Errorf("size %q: must start with a number (digits, optionally a decimal point), such as 1.5MB", in)
	}
	if unit == "" {
		unit = "B"
	}
	mult, ok := unitBytes[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q; use B, KB, MB or GB", in, s[end:])
	}
	whole, frac, dotted := strings.Cut(num, ".")
	switch {
	case whole == "" || (dotted && frac == ""):
		return 0, fmt.Errorf("size %q: %q is not a decimal number (write digits on both sides of the point)", in, num)
	case strings.Contains(frac, "."):
		return 0, fmt.Errorf("size %q: %q has more than one decimal point", in, num)
	case len(frac) > maxFraction:
		return 0, fmt.Errorf("size %q: more than %d digits after the decimal point", in, maxFraction)
	}
	// bytes = (whole + frac/10^k) * mult, rounded down, in integers.
	var n uint64
	for _, c := range whole {
		hi, lo := bits.Mul64(n, 10)
		if hi != 0 || lo+uint64(c-'0') < lo || lo+uint64(c-'0') > 1<<62 {
			return 0, fmt.Errorf("size %q: too large", in)
		}
		n = lo + uint64(c-'0')
	}
	if n > uint64(1<<62)/uint64(mult) {
		return 0, fmt.Errorf("size %q: too large", in)
	}
	total := n * uint64(mult)
	if frac != "" {
		var f, scale uint64 = 0, 1
		for _, c := range frac {
			f, scale = f*10+uint64(c-'0'), scale*10
		}
		// f < scale <= 10^9 and mult <= 2^30: the product fits.
		total += f * uint64(mult) / scale
	}
	if total == 0 {
		return 0, fmt.Errorf("size %q: a file must have at least 1 byte", in)
	}
	return int64(total), nil
}

// FormatSize writes bytes the way the original did: "512 B", "1.50 KB",
// "10.00 MB", "1.00 GB".
func FormatSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.2f KB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.2f MB", float64(n)/(1<<20))
	case n < 1<<40:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.2f TB", float64(n)/(1<<40))
}
