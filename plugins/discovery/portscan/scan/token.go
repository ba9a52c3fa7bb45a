package scan

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// resolveToken finds the Ray auth token the way Ray's own clients do:
// the plugin's auth_token, else RAY_AUTH_TOKEN, else the first line of the
// file named by RAY_AUTH_TOKEN_PATH, else the first line of
// ~/.ray/auth_token. It returns the token ("" when there is none), where it
// came from (never the token itself), and a problem worth a note (an
// unreadable RAY_AUTH_TOKEN_PATH).
func resolveToken(configured string) (token, source, problem string) {
	if t := strings.TrimSpace(configured); t != "" {
		return t, "config auth_token", ""
	}
	if t := strings.TrimSpace(os.Getenv("RAY_AUTH_TOKEN")); t != "" {
		return t, "env RAY_AUTH_TOKEN", ""
	}
	if p := os.Getenv("RAY_AUTH_TOKEN_PATH"); p != "" {
		t, err := firstLine(p)
		if err != nil {
			return "", "", fmt.Sprintf("RAY_AUTH_TOKEN_PATH names a file that cannot be read: %v", err)
		}
		if t != "" {
			return t, "file named by RAY_AUTH_TOKEN_PATH", ""
		}
		return "", "", "RAY_AUTH_TOKEN_PATH names an empty file"
	}
	if home, err := os.UserHomeDir(); err == nil {
		if t, err := firstLine(filepath.Join(home, ".ray", "auth_token")); err == nil && t != "" {
			return t, "~/.ray/auth_token", ""
		}
	}
	return "", "", ""
}

// firstLine reads the first line of a small file (at most 64 KiB are read),
// trimmed.
func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return string(bytes.TrimSpace(line)), nil
}
