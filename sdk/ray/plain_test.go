package ray

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// httptestServer is a web server that is not Ray: 200 "hello" everywhere.
func httptestServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"hello": "world"}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
