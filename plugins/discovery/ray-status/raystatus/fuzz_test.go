package raystatus

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// seedCaptures adds every capture in testdata/ to a fuzzer's corpus.
func seedCaptures(f *testing.F, add func(string)) {
	f.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "ray-*"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no captures in testdata: %v", err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		add(string(b))
	}
}

// FuzzParse: Parse never panics, and what it returns is sane.
func FuzzParse(f *testing.F) {
	seedCaptures(f, func(s string) { f.Add(s) })
	f.Add("Usage:\n 1.5KiB/2.0TiB memory\n 0.00/14.669 GiB memory\nActive:\n 3 node_" + "ab" + "\n")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := Parse(s)
		if err != nil {
			if st != nil {
				t.Fatal("status with an error")
			}
			return
		}
		if n := st.NodeCount(); n < 0 {
			t.Fatalf("negative node count %d", n)
		}
		for _, r := range st.Resources {
			if r.Name == "" || r.Used < 0 || r.Total < 0 || math.IsNaN(r.Used) || math.IsNaN(r.Total) {
				t.Fatalf("bad resource %+v", r)
			}
		}
		for _, g := range st.Active {
			if g.Count <= 0 || g.Type == "" {
				t.Fatalf("bad node group %+v", g)
			}
		}
		_ = st.Totals()
		_ = st.Used()
		_ = st.NodeIDs()
	})
}

// FuzzClassify: Classify never panics on any stdout/stderr/exit code, and its
// message stays short.
func FuzzClassify(f *testing.F) {
	seedCaptures(f, func(s string) {
		f.Add(s, "", 0)
		f.Add("", s, 1)
	})
	f.Fuzz(func(t *testing.T, stdout, stderr string, exit int) {
		r := Classify(stdout, stderr, exit)
		if len(r.Message) > maxExcerpt+len("…") {
			t.Fatalf("message of %d bytes", len(r.Message))
		}
		if (r.Outcome == OutcomeStatus || r.Outcome == OutcomeNoStatusYet) && r.Status == nil {
			t.Fatal("status outcome without a status")
		}
		_ = r.Outcome.String()
	})
}
