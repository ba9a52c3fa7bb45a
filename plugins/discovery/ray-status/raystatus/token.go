package raystatus

import "github.com/castray/castray/sdk/raytoken"

// tokenSource describes where a token came from, for evidence; it never
// contains the token.
type tokenSource string

// resolveToken finds the Ray auth token in Ray's order (see sdk/raytoken);
// getenv and home are injectable for tests.
func resolveToken(configured string, getenv func(string) string, home string) (string, tokenSource, error) {
	t, err := raytoken.FindIn(configured, raytoken.Env{Getenv: getenv, Home: home})
	return t.Value, tokenSource(t.Source), err
}
