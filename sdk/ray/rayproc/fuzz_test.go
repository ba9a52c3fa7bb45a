package rayproc_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/castray/castray/sdk/ray"
	"github.com/castray/castray/sdk/ray/rayproc"
)

// FuzzRecognise feeds command lines (NUL-separated, as in /proc/<pid>/cmdline) to the
// recogniser, seeded with the live head's processes: it never panics, and every address
// and session dir it reports is well-formed.
func FuzzRecognise(f *testing.F) {
	for _, p := range liveProcesses(f, "/tmp/crt-x") {
		f.Add([]byte(strings.Join(p.Argv, "\x00")))
	}
	f.Add([]byte("python3\x00-m\x00ray.util.client.server\x00--address=[::1]:1\x00--port=0"))
	f.Add([]byte("raylet.exe\x00--session_dir=/x/session_/session_a"))
	f.Add([]byte("ray::IDLE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		argv := strings.Split(string(b), "\x00")
		p := rayproc.Process{PID: 1, Argv: argv}
		rp, ok := rayproc.Recognise(p)
		if !ok {
			return
		}
		for what, a := range map[string]string{"gcs": rp.GCSAddress(), "listen": rp.ListenAddress()} {
			if a == "" {
				continue
			}
			if pa, err := ray.ParseAddress(a); err != nil || pa.Kind != ray.KindUnknown || pa.HostPort() != a {
				t.Fatalf("%s address %q: %v", what, a, err)
			}
		}
		for _, d := range rp.SessionDirs {
			if !strings.HasPrefix(d, "/") || !strings.HasPrefix(filepath.Base(d), "session_") {
				t.Fatalf("session dir %q", d)
			}
		}
		for _, n := range rp.Ports() {
			if n < 1 || n > 65535 {
				t.Fatalf("port %d", n)
			}
		}
		idx := rayproc.NewIndex([]rayproc.Process{p})
		for _, n := range rp.SessionNames() {
			idx.ForSession(n, rp.SessionDirs)
		}
		rayproc.RayletGCSAddresses([]rayproc.Process{p})
	})
}
