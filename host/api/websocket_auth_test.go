package api

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/pluginmgr"
	"github.com/castray/castray/host/registry"
)

// wsAuthPlugins is a plugin manager with no plugins.
type wsAuthPlugins struct{}

func (wsAuthPlugins) List() []pluginmgr.Status { return nil }

// serveWSAuth serves an API that requires token on a loopback listener and
// returns its ws:// URL.
func serveWSAuth(t *testing.T, token string) string {
	t.Helper()
	return serveWS(t, events.NewBus(), token)
}

// serveWS serves an API with bus (client buffer 8) and token on a loopback
// listener and returns its ws:// URL.
func serveWS(t *testing.T, bus *events.Bus, token string) string {
	t.Helper()
	srv := New(Deps{Registry: registry.New(nil, nil), Plugins: wsAuthPlugins{}, Bus: bus, Log: hclog.NewNullLogger(),
		BodyLimit: 1 << 10, ClientBuffer: 8, Version: "test", Token: token})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown(5 * time.Second)
		<-done
	})
	return "ws://" + ln.Addr().String() + "/ws"
}

// dialWSAuth dials url with the given subprotocols and headers and, when the
// handshake succeeds, reads the first message (the snapshot).
func dialWSAuth(t *testing.T, url string, protocols []string, header http.Header) (resp *http.Response, first string, err error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.Dial(url, header)
	if err != nil {
		return resp, "", err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := conn.ReadMessage()
	return resp, string(msg), err
}

func TestWebSocketTokenAsSubprotocol(t *testing.T) {
	const token = "s3cret-token_0123456789abcdef"
	url := serveWSAuth(t, token)

	t.Run("right token: answered with castray.v1 only", func(t *testing.T) {
		resp, first, err := dialWSAuth(t, url, []string{WSProtocol, WSTokenProtocolPrefix + token}, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if got := resp.Header.Values("Sec-WebSocket-Protocol"); len(got) != 1 || got[0] != WSProtocol {
			t.Fatalf("Sec-WebSocket-Protocol answered %q, want only %q", got, WSProtocol)
		}
		for name, vals := range resp.Header {
			if strings.Contains(strings.Join(vals, ","), token) {
				t.Fatalf("the token is echoed in response header %s", name)
			}
		}
		if !strings.Contains(first, `"type":"snapshot"`) {
			t.Fatalf("first message %q, want the snapshot", first)
		}
	})

	t.Run("token offered first, castray.v1 second", func(t *testing.T) {
		resp, _, err := dialWSAuth(t, url, []string{WSTokenProtocolPrefix + token, WSProtocol}, nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != WSProtocol {
			t.Fatalf("Sec-WebSocket-Protocol answered %q, want %q", got, WSProtocol)
		}
	})

	for name, protocols := range map[string][]string{
		"wrong token":           {WSProtocol, WSTokenProtocolPrefix + "not-the-token"},
		"token prefix only":     {WSProtocol, WSTokenProtocolPrefix + token[:8]},
		"token with extra":      {WSProtocol, WSTokenProtocolPrefix + token + "x"},
		"no token":              {WSProtocol},
		"no subprotocol at all": nil,
	} {
		t.Run(name+" refused", func(t *testing.T) {
			resp, _, err := dialWSAuth(t, url, protocols, nil)
			if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("dial: err %v, response %v, want a 401 handshake failure", err, resp)
			}
		})
	}

	t.Run("token in the query string refused", func(t *testing.T) {
		for _, q := range []string{"?token=", "?api_token=", "?access_token="} {
			resp, _, err := dialWSAuth(t, url+q+token, []string{WSProtocol}, nil)
			if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s: err %v, response %v, want a 401", q, err, resp)
			}
		}
	})

	t.Run("Authorization header still works", func(t *testing.T) {
		resp, first, err := dialWSAuth(t, url, nil, http.Header{"Authorization": {"Bearer " + token}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "" {
			t.Fatalf("no subprotocol offered, answered %q", got)
		}
		if !strings.Contains(first, `"type":"snapshot"`) {
			t.Fatalf("first message %q, want the snapshot", first)
		}
	})

	t.Run("wrong Authorization header refused even with the right subprotocol token", func(t *testing.T) {
		resp, _, err := dialWSAuth(t, url, []string{WSProtocol, WSTokenProtocolPrefix + token}, http.Header{"Authorization": {"Bearer wrong"}})
		if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("dial: err %v, response %v, want a 401", err, resp)
		}
	})

	t.Run("the subprotocol token opens no other route", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "http"+strings.TrimPrefix(strings.TrimSuffix(url, "/ws"), "ws")+"/api/status", nil)
		req.Header.Set("Sec-WebSocket-Protocol", WSTokenProtocolPrefix+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET /api/status with the token as a subprotocol: %d, want 401", resp.StatusCode)
		}
	})
}

// Without a token a browser may still offer castray.v1 and gets it back.
func TestWebSocketSubprotocolWithoutToken(t *testing.T) {
	url := serveWSAuth(t, "")
	resp, first, err := dialWSAuth(t, url, []string{WSProtocol}, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != WSProtocol {
		t.Fatalf("Sec-WebSocket-Protocol answered %q, want %q", got, WSProtocol)
	}
	if !strings.Contains(first, `"type":"snapshot"`) {
		t.Fatalf("first message %q, want the snapshot", first)
	}
}

func TestWSProtocolToken(t *testing.T) {
	for _, tc := range []struct {
		header string
		want   tokenCheck
	}{
		{"", tokenAbsent},
		{"castray.v1", tokenAbsent},
		{"castray.v1, castray.token.abc", tokenValid},
		{"castray.token.abc,castray.v1", tokenValid},
		{"castray.v1, castray.token.abd", tokenInvalid},
		{"castray.v1, castray.token.", tokenInvalid},
		{"castray.v1, castray.token.ab", tokenInvalid},
		{"castray.token.x, castray.token.abc", tokenValid},
		{"castray.TOKEN.abc", tokenAbsent},
	} {
		if got := wsProtocolToken(tc.header, "abc"); got != tc.want {
			t.Errorf("wsProtocolToken(%q) = %v, want %v", tc.header, got, tc.want)
		}
	}
}

// The web UI's assets are served without the token (they hold no data);
// everything else still needs it.
func TestUIOpenAPIClosed(t *testing.T) {
	srv := New(Deps{Registry: registry.New(nil, nil), Plugins: wsAuthPlugins{}, Bus: events.NewBus(), Log: hclog.NewNullLogger(),
		BodyLimit: 1 << 10, Version: "test", Token: "tok"})
	for path, want := range map[string]int{
		"/":               http.StatusFound,
		"/ui":             http.StatusOK,
		"/ui/js/main.js":  http.StatusOK,
		"/ui/config.json": http.StatusOK,
		"/api/status":     http.StatusUnauthorized,
		"/api/nodes":      http.StatusUnauthorized,
		"/metrics":        http.StatusUnauthorized,
		"/uix":            http.StatusUnauthorized,
	} {
		resp, err := srv.App().Test(httptest.NewRequest(http.MethodGet, path, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without a token: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
