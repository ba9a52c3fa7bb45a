package scan

import "github.com/castray/castray/sdk/raytoken"

// resolveToken finds the Ray auth token the way Ray's own clients do (see
// sdk/raytoken). It returns the token ("" when there is none), where it came
// from (never the token itself), and a problem worth a note (an unreadable
// RAY_AUTH_TOKEN_PATH).
func resolveToken(configured string) (token, source, problem string) {
	t, err := raytoken.Find(configured)
	if err != nil {
		return "", "", err.Error()
	}
	return t.Value, t.Source, ""
}
