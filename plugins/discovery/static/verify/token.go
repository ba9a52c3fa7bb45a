package verify

import (
	"github.com/castray/castray/sdk/raytoken"
)

// SourceTokenFile is the token_source of a token read from a cluster's
// auth_token_file.
const SourceTokenFile = "config auth_token_file"

// token is a Ray auth token and where it came from. The value is never
// logged or reported; source may be.
type token struct {
	value  string
	source string
}

// tokenEnv is where the fallback lookup looks (the process environment and
// home directory; tests replace both).
type tokenEnv struct {
	getenv  func(string) string
	homeDir func() (string, error)
}

// fallback is Ray's own lookup (sdk/raytoken without a configured token):
// RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token. A problem (an
// unreadable RAY_AUTH_TOKEN_PATH) is a message naming the file, never its
// content.
func (e tokenEnv) fallback() (token, string) {
	h, _ := e.homeDir()
	if h == "" {
		h = "/nonexistent" // no home: do not fall back to the process's
	}
	t, err := raytoken.FindIn("", raytoken.Env{Getenv: e.getenv, Home: h})
	if err != nil {
		return token{}, err.Error()
	}
	return token{value: t.Value, source: t.Source}, ""
}

// tokenFor is the cluster's token: auth_token, else auth_token_file, else
// the fallback (computed once per round by the caller). A file that cannot
// be read gives no token and a problem: the fallback is not used then, the
// operator named a file on purpose.
func tokenFor(spec ClusterSpec, fallback func() (token, string)) (token, string) {
	switch {
	case spec.AuthToken != "":
		return token{value: spec.AuthToken, source: raytoken.SourceConfig}, ""
	case spec.AuthTokenFile != "":
		v, err := raytoken.ReadFile(spec.AuthTokenFile)
		if err != nil {
			return token{}, "auth_token_file: " + err.Error()
		}
		return token{value: v, source: SourceTokenFile}, ""
	}
	return fallback()
}
