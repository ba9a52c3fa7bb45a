package dashscan

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// token is a Ray auth token and where it came from. The value is never
// logged or reported; origin may be.
type token struct {
	value  string
	origin string // "config", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "~/.ray/auth_token"
}

// maxTokenFile bounds how much of a token file is read.
const maxTokenFile = 64 << 10

// resolveToken finds the token in Ray's order: the plugin's auth_token,
// RAY_AUTH_TOKEN, the file named by RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token
// (first line, trimmed). A problem (an unreadable RAY_AUTH_TOKEN_PATH) is
// returned as a message that names the file, never its content.
func resolveToken(configured string, getenv func(string) string, home func() (string, error)) (token, string) {
	if t := strings.TrimSpace(configured); t != "" {
		return token{value: t, origin: "config"}, ""
	}
	if t := strings.TrimSpace(getenv("RAY_AUTH_TOKEN")); t != "" {
		return token{value: firstLine(t), origin: "RAY_AUTH_TOKEN"}, ""
	}
	if p := getenv("RAY_AUTH_TOKEN_PATH"); p != "" {
		t, err := readTokenFile(p)
		if err != nil {
			return token{}, fmt.Sprintf("RAY_AUTH_TOKEN_PATH: %v", err)
		}
		if t == "" {
			return token{}, fmt.Sprintf("RAY_AUTH_TOKEN_PATH: %s is empty", p)
		}
		return token{value: t, origin: "RAY_AUTH_TOKEN_PATH"}, ""
	}
	if h, err := home(); err == nil && h != "" {
		if t, err := readTokenFile(filepath.Join(h, ".ray", "auth_token")); err == nil && t != "" {
			return token{value: t, origin: "~/.ray/auth_token"}, ""
		}
	}
	return token{}, ""
}

func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return firstLine(string(b)), nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	line = strings.TrimSpace(line)
	// A value that cannot be an HTTP header is no token.
	if strings.ContainsFunc(line, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return ""
	}
	return line
}
