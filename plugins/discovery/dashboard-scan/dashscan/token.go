package dashscan

import "github.com/castray/castray/sdk/raytoken"

// token is a Ray auth token and where it came from. The value is never
// logged or reported; origin may be.
type token struct {
	value  string
	origin string
}

// resolveToken finds the token in Ray's order (see sdk/raytoken). A problem
// (an unreadable RAY_AUTH_TOKEN_PATH) is returned as a message that names the
// file, never its content.
func resolveToken(configured string, getenv func(string) string, home func() (string, error)) (token, string) {
	h, _ := home()
	if h == "" {
		h = "/nonexistent" // no home: do not fall back to the process's
	}
	t, err := raytoken.FindIn(configured, raytoken.Env{Getenv: getenv, Home: h})
	if err != nil {
		return token{}, err.Error()
	}
	return token{value: t.Value, origin: t.Source}, ""
}
