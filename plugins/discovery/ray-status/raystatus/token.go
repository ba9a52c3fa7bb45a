package raystatus

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// tokenSource describes where a token came from, for evidence; it never
// contains the token.
type tokenSource string

// resolveToken finds the Ray auth token in CastRay's order: the plugin's
// auth_token, else $RAY_AUTH_TOKEN, else the file named by
// $RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token (first line, trimmed). getenv
// and home are injectable for tests. An unreadable RAY_AUTH_TOKEN_PATH is an
// error (Ray treats it as fatal too); a missing ~/.ray/auth_token is not.
func resolveToken(configured string, getenv func(string) string, home string) (string, tokenSource, error) {
	if t := strings.TrimSpace(configured); t != "" {
		return t, "plugin config auth_token", nil
	}
	if t := strings.TrimSpace(getenv("RAY_AUTH_TOKEN")); t != "" {
		return t, "env RAY_AUTH_TOKEN", nil
	}
	if p := getenv("RAY_AUTH_TOKEN_PATH"); p != "" {
		t, err := readTokenFile(p)
		if err != nil {
			return "", "", fmt.Errorf("RAY_AUTH_TOKEN_PATH: %w", err)
		}
		if t != "" {
			return t, tokenSource("file " + p + " (RAY_AUTH_TOKEN_PATH)"), nil
		}
	}
	if home != "" {
		p := filepath.Join(home, ".ray", "auth_token")
		if t, err := readTokenFile(p); err == nil && t != "" {
			return t, tokenSource("file " + p), nil
		}
	}
	return "", "", nil
}

// readTokenFile returns the first line of a token file, trimmed.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(first), nil
}
