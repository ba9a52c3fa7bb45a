// Package raytoken finds the Ray auth token the way Ray's own clients do, for
// plugins that talk to token-protected clusters (Ray ≥ 2.52).
//
// The order is: the plugin's own configured token, then $RAY_AUTH_TOKEN, then
// the first line of the file named by $RAY_AUTH_TOKEN_PATH, then the first
// line of ~/.ray/auth_token. An unreadable or empty RAY_AUTH_TOKEN_PATH is an
// error, as it is for Ray; a missing ~/.ray/auth_token is not.
//
// The token is a secret: report Token.Source, never Token.Value.
// This package must not import the daemon, config/ or plugins/.
package raytoken

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Sources, as reported in Token.Source.
const (
	SourceConfig   = "config auth_token"
	SourceEnv      = "env RAY_AUTH_TOKEN"
	SourceEnvPath  = "file named by RAY_AUTH_TOKEN_PATH"
	SourceHomeFile = "~/.ray/auth_token"
)

// maxFile bounds how much of a token file is read.
const maxFile = 64 << 10

// Token is a Ray auth token and where it came from.
type Token struct {
	Value  string
	Source string
}

// Env is where Find looks; the zero value means the process environment and
// the user's home directory.
type Env struct {
	Getenv func(string) string
	// Home is the home directory; "" means os.UserHomeDir().
	Home string
}

// Find returns the token, or a zero Token when there is none.
func Find(configured string) (Token, error) { return FindIn(configured, Env{}) }

// FindIn is Find with an explicit environment (for tests).
func FindIn(configured string, env Env) (Token, error) {
	getenv := env.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if t := clean(configured); t != "" {
		return Token{Value: t, Source: SourceConfig}, nil
	}
	if t := clean(getenv("RAY_AUTH_TOKEN")); t != "" {
		return Token{Value: t, Source: SourceEnv}, nil
	}
	if p := getenv("RAY_AUTH_TOKEN_PATH"); p != "" {
		t, err := ReadFile(p)
		if err != nil {
			return Token{}, fmt.Errorf("RAY_AUTH_TOKEN_PATH: %w", err)
		}
		return Token{Value: t, Source: SourceEnvPath}, nil
	}
	home := env.Home
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	if home != "" {
		if t, err := ReadFile(filepath.Join(home, ".ray", "auth_token")); err == nil {
			return Token{Value: t, Source: SourceHomeFile}, nil
		}
	}
	return Token{}, nil
}

// ReadFile reads a token file as Ray does: its first line, trimmed. A file
// whose first line is empty, or holds spaces or control characters (which
// cannot travel in an HTTP header or gRPC metadata), is an error that never
// quotes the file's content.
func ReadFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	switch line = strings.TrimSpace(line); {
	case line == "":
		return "", fmt.Errorf("%s holds no token (its first line is empty)", path)
	case clean(line) == "":
		return "", fmt.Errorf("%s: the first line has spaces or control characters, not a token", path)
	}
	return line, nil
}

// clean keeps the first line, trimmed; a value that cannot travel in an
// HTTP header or gRPC metadata is no token.
func clean(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	line = strings.TrimSpace(line)
	if strings.ContainsFunc(line, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return ""
	}
	return line
}
