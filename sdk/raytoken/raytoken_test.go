package raytoken

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOrder(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ray"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ray", "auth_token"), []byte("homefile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pathFile := filepath.Join(t.TempDir(), "tok")
	if err := os.WriteFile(pathFile, []byte("  pathfile  \nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(kv map[string]string) Env {
		return Env{Getenv: func(k string) string { return kv[k] }, Home: home}
	}
	for _, tc := range []struct {
		configured string
		vars       map[string]string
		want, src  string
		err        string
	}{
		{" cfg ", map[string]string{"RAY_AUTH_TOKEN": "env"}, "cfg", SourceConfig, ""},
		{"", map[string]string{"RAY_AUTH_TOKEN": "env", "RAY_AUTH_TOKEN_PATH": pathFile}, "env", SourceEnv, ""},
		{"", map[string]string{"RAY_AUTH_TOKEN_PATH": pathFile}, "pathfile", SourceEnvPath, ""},
		{"", map[string]string{"RAY_AUTH_TOKEN_PATH": "/nonexistent/tok"}, "", "", "RAY_AUTH_TOKEN_PATH"},
		{"", map[string]string{}, "homefile", SourceHomeFile, ""},
		{"bad token", map[string]string{}, "homefile", SourceHomeFile, ""},
	} {
		got, err := FindIn(tc.configured, env(tc.vars))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: err = %v", tc, err)
			}
			continue
		}
		if err != nil || got.Value != tc.want || got.Source != tc.src {
			t.Errorf("%+v: got %+v, %v", tc, got, err)
		}
	}
	if got, err := FindIn("", Env{Getenv: func(string) string { return "" }, Home: t.TempDir()}); err != nil || got != (Token{}) {
		t.Errorf("no token anywhere: %+v, %v", got, err)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{"abc\n", " \t", "a b", "x\x00y", strings.Repeat("f", 64)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := clean(s)
		if strings.ContainsAny(c, " \t\r\n") {
			t.Fatalf("clean(%q) = %q", s, c)
		}
	})
}
