package api

import (
	"cmp"
	"crypto/subtle"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/distribution"
	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/filegen"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/groups"
	"github.com/castray/castray/host/messages"
	"github.com/castray/castray/host/pluginmgr"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/transfer"
	"github.com/castray/castray/host/ui"
)

//go:embed openapi.yaml
var openapiYAML []byte

// Plugins is what the API needs of the plugin manager.
type Plugins interface {
	List() []pluginmgr.Status
}

// Deps are the services the API serves.
type Deps struct {
	Registry  *registry.Registry
	Plugins   Plugins
	Transfers *transfer.Service
	Discovery Discovery
	// Connections manages external clusters.
	Connections Connections
	Bus         *events.Bus
	Log         hclog.Logger
	// Config is the effective configuration with secrets redacted, for
	// GET /api/config.
	Config any
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every route but /healthz.
	Token string
	// Guard refuses foreign Host headers and cross-origin requests
	// (guard.go).
	Guard BrowserGuard
	// RotateToken, set when the token is the daemon's own (generated and
	// kept in the data dir), makes and keeps a new one for
	// POST /api/token/rotate (token.go).
	RotateToken func() (string, error)
	// InboxRoot holds the local nodes' inbox folders.
	InboxRoot string
	// Files is the upload store, the sources of transfers. Without it the
	// file routes answer 503.
	Files *files.Store
	// Groups keeps the named multicast groups. Without it the group
	// routes answer 503.
	Groups *groups.Service
	// Messages is the per-node log of the original's text and JSON
	// messages (POST /api/send). Without it those answer 503.
	Messages *messages.Log
	// Distributions keeps the standing distributions. Without it those
	// routes answer 503.
	Distributions *distribution.Service
	// FileInUse, when set, reports whether a running transfer reads the
	// uploaded file name; DELETE /api/files/{name} then answers 409.
	FileInUse func(name string) bool
	// MaxFileSize bounds uploads; BodyLimit bounds JSON bodies.
	MaxFileSize int64
	BodyLimit   int64
	// IdleTimeout is how long a request may go without a byte arriving:
	// it bounds reading the headers and a JSON body (fasthttp's
	// ReadTimeout) and, restarted at every read, an upload of any length.
	// 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ClientBuffer is the event buffer of one WebSocket client.
	ClientBuffer int
	// StatusNodes is the most nodes a /ws status lists one by one
	// (events.status_nodes); GET /api/status lists them all.
	StatusNodes int
	Version     string
	Started     time.Time
	// Metrics, when set, is served at GET /metrics (behind the token like
	// every route but /healthz) and told of every request and WebSocket
	// client.
	Metrics Metrics
}

// Metrics is what the API needs of host/metrics.
type Metrics interface {
	// Handler serves the Prometheus exposition.
	Handler() http.Handler
	// HTTPRequest records one request by its route pattern.
	HTTPRequest(method, route string, code int, took time.Duration)
	// WSClient counts a /ws client in (1) or out (-1); WSDropped counts
	// one dropped for falling behind.
	WSClient(delta int)
	WSDropped()
}

// Server is the daemon's HTTP server.
type Server struct {
	app *fiber.App
	d   Deps
	// token is the API token in force: Deps.Token until rotated.
	token atomic.Pointer[string]
}

// New builds the HTTP server and its routes.
func New(d Deps) *Server {
	s := &Server{d: d}
	s.token.Store(&d.Token)
	s.app = fiber.New(fiber.Config{
		AppName:               "castray",
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		// Uploads stream to disk; JSON bodies are bounded per route.
		StreamRequestBody: true,
		// Multipart uploads are parsed from the stream by uploadMultipart,
		// never spooled by fasthttp into /tmp/multipart-*.
		DisablePreParseMultipartForm: true,
		BodyLimit:                    int(min(d.MaxFileSize+1<<20, 1<<62)),
		// An idle timeout, not a total one: uploads restart it at every
		// read (see idleReader), so a long upload that keeps moving is
		// never cut off.
		ReadTimeout: cmp.Or(d.IdleTimeout, DefaultIdleTimeout),
		IdleTimeout: 2 * time.Minute,
	})
	s.routes()
	return s
}

// App exposes the Fiber app (tests use app.Test).
func (s *Server) App() *fiber.App { return s.app }

// Serve serves on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting connections and waits for handlers, at most
// timeout.
func (s *Server) Shutdown(timeout time.Duration) error {
	return s.app.ShutdownWithTimeout(timeout)
}

func (s *Server) routes() {
	a := s.app
	if s.d.Metrics != nil {
		a.Use(s.observe)
	}
	a.Use(s.guard)
	a.Get("/healthz", func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"status": "ok", "version": s.d.Version})
	})
	// The web UI's assets hold no data: they are served without the token
	// (the page asks for it and sends it on every API call).
	ui.Register(a, ui.Options{AuthRequired: s.d.Token != "", Version: s.d.Version})
	a.Use(s.authenticate)

	if s.d.Metrics != nil {
		a.Get("/metrics", adaptor.HTTPHandler(s.d.Metrics.Handler()))
	}

	a.Get("/api/openapi.yaml", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "application/yaml")
		return c.Send(openapiYAML)
	})
	a.Get("/api/status", s.getStatus)
	a.Post("/api/token/rotate", s.rotateToken)
	a.Get("/api/config", func(c *fiber.Ctx) error { return c.JSON(s.d.Config) })
	a.Get("/api/plugins", func(c *fiber.Ctx) error {
		list := s.d.Plugins.List()
		return c.JSON(fiber.Map{"success": true, "plugins": list, "count": len(list)})
	})

	// Nodes. /api/nodes/external belongs to the external-cluster API.
	a.Get("/api/nodes/external", s.listExternalNodes)
	a.Get("/api/nodes", s.listNodes)
	a.Post("/api/nodes", s.limitJSON, s.createNode)
	a.Get("/api/nodes/:id", s.getNode)
	a.Delete("/api/nodes/:id", s.removeNode)
	a.Get("/api/nodes/:id/files", s.nodeFiles)
	a.Get("/api/nodes/:id/messages", s.nodeMessages)
	a.Get("/api/nodes/:id/files/:name", s.nodeFile)
	a.Post("/api/nodes/select", s.limitJSON, s.selectNodes)

	// Named multicast groups.
	a.Get("/api/groups", s.listGroups)
	a.Post("/api/groups", s.limitJSON, s.createGroup)
	a.Get("/api/groups/:name", s.getGroup)
	a.Delete("/api/groups/:name", s.deleteGroup)
	a.Put("/api/groups/:name/members/:node_id", s.addGroupMember)
	a.Delete("/api/groups/:name/members/:node_id", s.removeGroupMember)

	// Files and transfers.
	a.Get("/api/files", s.listFiles)
	a.Put("/api/files/:name", s.putFile)
	a.Get("/api/files/:name", s.getFile) // and HEAD
	a.Delete("/api/files/:name", s.deleteFile)
	a.Post("/api/upload", s.uploadMultipart)
	a.Get("/api/transfers", s.listTransfers)
	a.Post("/api/transfers", s.limitJSON, s.startTransfer)
	a.Get("/api/transfers/:id", s.getTransfer)
	a.Delete("/api/transfers/:id", s.deleteTransfer)
	a.Post("/api/transfers/:id/retry", s.retryTransfer)
	a.Get("/api/distributions", s.listDistributions)
	a.Post("/api/distributions", s.limitJSON, s.createDistribution)
	a.Get("/api/distributions/:id", s.getDistribution)
	a.Delete("/api/distributions/:id", s.deleteDistribution)

	// The original's message and file-transfer endpoints (send.go).
	a.Post("/api/send", s.limitJSON, s.send)
	a.Post("/api/file-transfers/manual", s.limitJSON, s.manualTransfer)
	a.Get("/api/file-transfers/status", s.fileTransferStatus)

	// The original's file generator (filegen.go).
	a.Get("/api/file-generator/presets", s.genPresets)
	a.Get("/api/file-generator/info", s.genInfo)
	a.Post("/api/file-generator/create", s.limitJSON, s.genCreateHandler(filegen.PrefixSample))
	a.Post("/api/file-generator/create-preset", s.limitJSON, s.genCreateHandler(filegen.PrefixPreset))
	a.Post("/api/file-generator/create-and-transfer", s.limitJSON, s.genCreateAndTransfer)
	a.Get("/api/file-generator/files", s.genListFiles)
	a.Delete("/api/file-generator/files/:name", s.genDeleteFile)

	// The seed's external-cluster endpoints, at their exact paths.
	a.Post("/api/cluster/discover-external", s.limitJSON, s.discoverExternal)
	a.Get("/api/cluster/discovery", s.lastDiscovery)
	a.Get("/api/cluster/external-info", s.externalInfo)
	a.Post("/api/cluster/connect-external", s.limitJSON, s.connectExternal)
	a.Delete("/api/cluster/disconnect-external", s.limitJSON, s.disconnectExternal)
	a.Get("/api/clusters", s.listClusters)

	s.websocketRoutes()

	a.Use(s.notFound)
}

// apiError is the one JSON error shape: {"success": false, "error": "..."}.
type apiError struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	var fe *fiber.Error
	var re *transfer.RequestError
	switch {
	case errors.As(err, &fe):
		code = fe.Code
	case errors.As(err, &re):
		code = fiber.StatusBadRequest
	}
	if code >= 500 && code != fiber.StatusNotImplemented {
		s.d.Log.Error("request failed", "method", c.Method(), "path", c.Path(), "error", err)
	}
	return c.Status(code).JSON(apiError{Error: err.Error()})
}

// observe times every request and reports it under the route pattern
// Fiber matched (/api/nodes/:id, never the raw path). A request that no
// route matched, or that a middleware answered before routing (a missing
// token), is reported under "/", the pattern of those middlewares. The
// error handler runs here so that the status it sets is the one recorded.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			_ = c.SendStatus(fiber.StatusInternalServerError)
		}
	}
	// Fiber's strings point into buffers it reuses for the next request; a
	// label value outlives this one, so it gets its own copy.
	s.d.Metrics.HTTPRequest(strings.Clone(c.Method()), strings.Clone(c.Route().Path), c.Response().StatusCode(), time.Since(start))
	return nil
}

// authenticate requires the bearer token when one is configured.
func (s *Server) authenticate(c *fiber.Ctx) error {
	want := *s.token.Load()
	if want == "" {
		return c.Next()
	}
	auth := c.Get(fiber.HeaderAuthorization)
	if auth == "" && c.Path() == "/ws" {
		// A browser cannot set headers on a WebSocket: it offers the token
		// as a subprotocol instead (see wsProtocolToken).
		switch wsProtocolToken(c.Get(fiber.HeaderSecWebSocketProtocol), want) {
		case tokenValid:
			return c.Next()
		case tokenInvalid:
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="castray"`)
			return fiber.NewError(fiber.StatusUnauthorized, "invalid API token")
		}
	}
	scheme, token, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(want)) != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="castray"`)
		if auth == "" {
			if c.Path() == "/ws" {
				return fiber.NewError(fiber.StatusUnauthorized, "missing API token: send Authorization: Bearer <token>, or offer the WebSocket subprotocols "+WSProtocol+", "+WSTokenProtocolPrefix+"<token>")
			}
			return fiber.NewError(fiber.StatusUnauthorized, "missing API token: send Authorization: Bearer <token>")
		}
		return fiber.NewError(fiber.StatusUnauthorized, "invalid API token")
	}
	return c.Next()
}

// maxDrain bounds how much of an oversized body is read and discarded.
const maxDrain = 64 << 20

// limitJSON bounds a JSON body and requires the JSON content type when
// there is a body.
func (s *Server) limitJSON(c *fiber.Ctx) error {
	if n := c.Request().Header.ContentLength(); int64(n) > s.d.BodyLimit {
		// Read (a bounded part of) what the client is sending, so that it
		// gets the 413 instead of a connection reset mid-write.
		if stream := c.Context().RequestBodyStream(); stream != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(stream, maxDrain))
		}
		c.Set(fiber.HeaderConnection, "close")
		return fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("body of %d bytes exceeds the limit of %d bytes", n, s.d.BodyLimit))
	}
	// A body without a length (chunked) is read through a limit, so a client
	// cannot make the daemon buffer more than BodyLimit.
	if stream := c.Context().RequestBodyStream(); stream != nil {
		body, err := io.ReadAll(io.LimitReader(stream, s.d.BodyLimit+1))
		if err != nil {
			return fiber.NewError(fiber.StatusBadRequest, "reading the body: "+err.Error())
		}
		if int64(len(body)) > s.d.BodyLimit {
			_, _ = io.Copy(io.Discard, io.LimitReader(stream, maxDrain))
			c.Set(fiber.HeaderConnection, "close")
			return fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("body exceeds the limit of %d bytes", s.d.BodyLimit))
		}
		c.Request().SetBodyRaw(body)
	}
	return c.Next()
}

// decodeJSON parses a JSON body strictly into v.
func decodeJSON(c *fiber.Ctx, v any) error {
	body := c.Body()
	if len(body) == 0 {
		return fiber.NewError(fiber.StatusBadRequest, "a JSON body is required")
	}
	// A JSON body must say so: the types a page may send cross-site
	// without asking (text/plain, forms) are refused, and so is none.
	if ct := string(c.Request().Header.ContentType()); !strings.HasPrefix(ct, fiber.MIMEApplicationJSON) {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, fmt.Sprintf("content type %q: send the JSON body as application/json", ct))
	}
	if err := strictUnmarshal(body, v); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "invalid JSON body: "+err.Error())
	}
	return nil
}
