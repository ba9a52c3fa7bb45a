package filegen

import (
	"bytes"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"100B": 100, "100": 100, "1": 1, "1KB": 1024, "1kb": 1024, "1Kb": 1024, "1.5MB": 1572864,
		"1GB": 1 << 30, " 2 mb ": 2 << 20, "0.5KB": 512, "1.0GB": 1 << 30, "0.1KB": 102, // 102.4, rounded down as the original did
		"10KB": 10 << 10, "007B": 7, "1.25 gB": 1342177280, "0.000000001GB": 1,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]string{
		"": "empty", "   ": "empty", "KB": "start with a number", "1TB": "unknown unit", "1K": "unknown unit", "1 bytes": "unknown unit",
		"-1KB": "start with a number", "+1": "start with a number", "1e3": "unknown unit", "1.": "not a decimal", ".5MB": "not a decimal",
		"1.2.3MB": "more than one decimal point", "0": "at least 1 byte", "0.0001B": "at least 1 byte", "0B": "at least 1 byte",
		"1KBKB": "unknown unit", "1 K B": "unknown unit", "0x10": "unknown unit", "99999999999999999999GB": "too large",
		"9999999999GB": "too large", "1.0000000001GB": "digits after the decimal point", "1,5MB": "unknown unit",
	}
	for in, why := range bad {
		got, err := ParseSize(in)
		if err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
			continue
		}
		if !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "size") {
			t.Errorf("ParseSize(%q) error %q, want it to say %q", in, err, why)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{512: "512 B", 1536: "1.50 KB", 10 << 20: "10.00 MB", 1 << 30: "1.00 GB"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// read reads all of a reader through reads of odd sizes, so that the
// readers' resumption mid-line and mid-pattern is exercised.
func read(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var out bytes.Buffer
	buf := make([]byte, 4099)
	for i := 1; ; i++ {
		n, err := r.Read(buf[:1+(i*37)%len(buf)])
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestContentTypes(t *testing.T) {
	for _, size := range []int64{0, 1, 15, 16, 17, 1000, 4096, 100003} {
		r, err := New(Text, size, "")
		if err != nil {
			t.Fatal(err)
		}
		b := read(t, r)
		if int64(len(b)) != size {
			t.Fatalf("text %d: got %d bytes", size, len(b))
		}
		// Readable: printable ASCII and newlines, and the numbered lines in order.
		for _, c := range b {
			if c != '\n' && (c < 0x20 || c > 0x7e) {
				t.Fatalf("text %d: byte %#x is not readable", size, c)
			}
		}
		lines := strings.Split(string(b), "\n")
		for i, l := range lines[:len(lines)-1] {
			if want := textLine + strconv.Itoa(i+1); l != want {
				t.Fatalf("text %d: line %d = %q, want %q", size, i+1, l, want)
			}
		}
		if last := lines[len(lines)-1]; !strings.HasPrefix(textLine+strconv.Itoa(len(lines)), last) {
			t.Fatalf("text %d: last line %q is not a cut sample line", size, last)
		}

		for _, pat := range []string{"", "ab", "xyz\x00", strings.Repeat("q", 5000)[:4096]} {
			r, err := New(Pattern, size, pat)
			if err != nil {
				t.Fatal(err)
			}
			b := read(t, r)
			want := pat
			if want == "" {
				want = DefaultPattern
			}
			full := strings.Repeat(want, int(size)/len(want)+1)[:size]
			if string(b) != full {
				t.Fatalf("pattern %q, %d bytes: got %d bytes that are not the pattern repeated", pat, size, len(b))
			}
		}

		r, err = New(Random, size, "")
		if err != nil {
			t.Fatal(err)
		}
		b = read(t, r)
		if int64(len(b)) != size {
			t.Fatalf("random %d: got %d bytes", size, len(b))
		}
		if size >= 1000 {
			var seen [256]bool
			distinct := 0
			for _, c := range b {
				if !seen[c] {
					seen[c], distinct = true, distinct+1
				}
			}
			if distinct < 200 {
				t.Fatalf("random %d: only %d distinct byte values", size, distinct)
			}
			r2, _ := New(Random, size, "")
			if bytes.Equal(b, read(t, r2)) {
				t.Fatalf("random %d: two files are the same", size)
			}
		}
	}
	// A seed fixes the bytes.
	if !bytes.Equal(read(t, NewRandom(5000, [32]byte{1})), read(t, NewRandom(5000, [32]byte{1}))) {
		t.Error("the same seed gave different bytes")
	}
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []struct{ kind, pattern, why string }{
		{"", "", "required"}, {"binary", "", "must be text, random or pattern"}, {"TEXT", "", "must be"},
		{Text, "ab", "only for content_type"}, {Random, "ab", "only for content_type"},
		{Pattern, strings.Repeat("x", MaxPattern+1), "at most"},
	} {
		if _, err := New(c.kind, 10, c.pattern); err == nil || !strings.Contains(err.Error(), c.why) {
			t.Errorf("New(%q, pattern %d bytes) = %v, want an error saying %q", c.kind, len(c.pattern), err, c.why)
		}
	}
	if _, err := New(Text, -1, ""); err == nil {
		t.Error("a negative size was accepted")
	}
}

// Generating 256 MiB of each content type allocates a bounded amount, not
// memory proportional to the size.
func TestGenerationMemoryIsBounded(t *testing.T) {
	const size = 256 << 20
	for _, kind := range []string{Text, Random, Pattern} {
		buf := make([]byte, 64<<10)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r, err := New(kind, size, "")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
		runtime.ReadMemStats(&after)
		if err != nil || n != size {
			t.Fatalf("%s: copied %d bytes, %v", kind, n, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s: generating %d bytes allocated %d bytes", kind, size, alloc)
		}
	}
}

func TestPresetsAndNames(t *testing.T) {
	want := map[string]int64{"tiny": 1 << 10, "small": 10 << 10, "medium": 100 << 10, "large": 1 << 20, "huge": 10 << 20, "massive": 100 << 20}
	if len(Presets) != len(want) {
		t.Fatalf("%d presets, want %d", len(Presets), len(want))
	}
	for name, size := range want {
		if p, err := LookupPreset(name); err != nil || p.Size != size {
			t.Errorf("preset %s = %+v, %v; want %d bytes", name, p, err, size)
		}
	}
	if _, err := LookupPreset("gigantic"); err == nil || !strings.Contains(err.Error(), "tiny, small") {
		t.Errorf("unknown preset: %v, want the presets named", err)
	}
	for name, gen := range map[string]bool{"sample_1KB.txt": true, "preset_tiny.txt": true, "transfer_x.bin": true,
		"sample_": false, "report.txt": false, "Sample_x": false, "my_sample_x": false} {
		if IsGenerated(name) != gen {
			t.Errorf("IsGenerated(%q) = %v", name, !gen)
		}
	}
}
