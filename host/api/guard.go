package api

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// BrowserGuard keeps the web pages a user opens from driving the daemon:
// a loopback daemon without a token is reachable by every page, through
// cross-site requests (a form or fetch to http://127.0.0.1:8000) and DNS
// rebinding (a page's own host name that resolves to 127.0.0.1).
type BrowserGuard struct {
	// Hosts are the names (without port) a request's Host header may
	// carry; empty accepts any. The daemon sets this machine's loopback
	// names, the listen address and web_server.allowed_hosts.
	Hosts []string
	// Origins are the origins ("scheme://host[:port]") besides the
	// daemon's own that may send state-changing requests and open /ws
	// (web_server.allowed_origins).
	Origins []string
}

// LoopbackHosts are the Host names of a daemon on this machine.
var LoopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

// guard refuses, before authentication and routing, a request whose Host
// is not one of the daemon's names (DNS rebinding), and a state-changing
// request or WebSocket whose Origin is neither the daemon's own nor an
// allowed one (cross-site request). Requests without Origin (curl, the
// CLI, other programs) pass the origin check: browsers always send it on
// the requests it guards.
func (s *Server) guard(c *fiber.Ctx) error {
	g := s.d.Guard
	host := string(c.Request().Host())
	if len(g.Hosts) > 0 && !slices.Contains(g.Hosts, strings.ToLower(hostName(host))) {
		return fiber.NewError(fiber.StatusForbidden, fmt.Sprintf(
			"Host %q is not a name of this daemon (web_server.allowed_hosts): refused, as a DNS-rebinding page would send it", host))
	}
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		if c.Path() != "/ws" {
			return c.Next()
		}
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" || sameOrigin(origin, host) || slices.Contains(g.Origins, strings.TrimSuffix(origin, "/")) {
		return c.Next()
	}
	return fiber.NewError(fiber.StatusForbidden, fmt.Sprintf(
		"cross-origin request from %q refused: only this daemon's own pages and web_server.allowed_origins may change anything or open /ws", origin))
}

// sameOrigin reports whether origin is http(s)://host, the host the
// request was sent to (with its port).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Path == "" && strings.EqualFold(u.Host, host)
}

// hostName is the name part of a Host header ("[::1]:8000" → "::1").
func hostName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}
