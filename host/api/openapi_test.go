package api

// These tests keep openapi.yaml, the API reference, honest: the document
// loads and validates as OpenAPI 3.1 with kin-openapi (every $ref resolves,
// every example matches its schema, every path parameter is declared), every
// API route the server registers (the web UI's are not API) is documented
// and every documented operation is routed, every operation is summarised
// and answered (401 where the token is required), and every event type of
// host/events is listed.
//
// Responses are checked against the document by host/api/openapitest, which
// the e2e suites route all their traffic through; it cannot be imported
// here (it imports this package), so these tests load the document with
// kin-openapi themselves.

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gofiber/fiber/v2"
	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/discovery"
	"github.com/castray/castray/host/events"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/metrics"
	"github.com/castray/castray/host/pluginmgr"
	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/store"
	"github.com/castray/castray/host/transfer"
	"github.com/castray/castray/host/ui"
	"github.com/castray/castray/sdk"
)

// noBackends has no transfer plugins.
type noBackends struct{}

func (noBackends) Transfer(name string) (sdk.Transferer, error) {
	return nil, fmt.Errorf("no transfer plugin %q in tests", name)
}

func (noBackends) TransferNames() []string { return nil }

func (noBackends) TransferCapabilities(_ context.Context, name string) (*sdk.TransferCapabilities, error) {
	return nil, fmt.Errorf("no transfer plugin %q in tests", name)
}

// noPlugins is a plugin manager without plugins.
type noPlugins struct{}

func (noPlugins) List() []pluginmgr.Status { return nil }

// noDiscovery is a discovery manager without discovery plugins.
type noDiscovery struct{}

func (noDiscovery) Discover(context.Context, discovery.Request) (*discovery.Result, error) {
	return nil, discovery.ErrNoPlugins
}

func (noDiscovery) Last() *discovery.Result { return nil }

// newDocTestServer builds the server with real, minimal services.
func newDocTestServer(t *testing.T) *Server {
	t.Helper()
	dir := t.TempDir()
	log := hclog.NewNullLogger()
	reg := registry.New(nil, func(string, any) {})
	st, err := store.Open(filepath.Join(dir, "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	fs, err := files.Open(filepath.Join(dir, "uploads"), st, 4<<20, log)
	if err != nil {
		t.Fatal(err)
	}
	tr := transfer.New(transfer.Options{Store: st, Nodes: reg, Backends: noBackends{}, Sources: fs, Emit: func(string, any) {}, Log: log})
	return New(Deps{
		Registry: reg, Plugins: noPlugins{}, Transfers: tr, Discovery: noDiscovery{}, Bus: events.NewBus(), Log: log,
		InboxRoot: filepath.Join(dir, "inbox"), Files: fs,
		MaxFileSize: 1 << 20, BodyLimit: 1 << 10, ClientBuffer: 8, Version: "test",
		Metrics: metrics.New(),
	})
}

// loadedDoc is the embedded document, the one the daemon serves, loaded
// once for all the tests of the package.
var loadedDoc = sync.OnceValues(func() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapiYAML)
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(loader.Context)
})

// loadDoc loads and validates the document; either failing fails the test.
func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := loadedDoc()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return doc
}

// operation is one documented method of one path.
type operation struct {
	method, path string // method in upper case
	op           *openapi3.Operation
	item         *openapi3.PathItem
}

func (o operation) String() string { return o.method + " " + o.path }

func operations(t *testing.T, doc *openapi3.T) []operation {
	t.Helper()
	if doc.Paths == nil || doc.Paths.Len() == 0 {
		t.Fatal("openapi.yaml: no paths")
	}
	var ops []operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, operation{method: strings.ToUpper(method), path: path, op: op, item: item})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
	return ops
}

var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// routeKeys are an app's routes as "METHOD /path/{param}", HEAD left out
// (Fiber adds one to every GET).
func routeKeys(app *fiber.App) map[string]string {
	out := map[string]string{}
	for _, r := range app.GetRoutes(true) { // true: without Use middlewares
		if r.Method != "HEAD" {
			out[r.Method+" "+fiberParam.ReplaceAllString(r.Path, "{$1}")] = r.Path
		}
	}
	return out
}

// TestOpenAPIMatchesRoutes compares the server's routes with the document's
// operations, both ways. The web UI's routes (host/ui: the page, its assets
// and its config.json) are not API: they need not be documented, and are
// told apart by registering them alone on a scratch app.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := newDocTestServer(t)
	doc := loadDoc(t)

	scratch := fiber.New()
	ui.Register(scratch, ui.Options{})
	uiRoutes := routeKeys(scratch)
	all := routeKeys(s.App())
	routed := map[string]bool{}
	for key, path := range all {
		if _, isUI := uiRoutes[key]; isUI {
			continue
		}
		if strings.ContainsAny(path, "*?+") {
			t.Errorf("route %s has a wildcard or optional parameter; document it and teach this test its OpenAPI form", key)
		}
		routed[key] = true
	}
	documented := map[string]bool{}
	for _, o := range operations(t, doc) {
		documented[o.String()] = true
	}

	var undocumented, unrouted []string
	for r := range routed {
		if !documented[r] {
			undocumented = append(undocumented, r)
		}
	}
	for d := range documented {
		if _, ok := all[d]; !ok {
			unrouted = append(unrouted, d)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unrouted)
	if len(undocumented) > 0 {
		t.Errorf("%d route(s) missing from openapi.yaml:\n  %s", len(undocumented), strings.Join(undocumented, "\n  "))
	}
	if len(unrouted) > 0 {
		t.Errorf("%d operation(s) in openapi.yaml that the server does not route:\n  %s", len(unrouted), strings.Join(unrouted, "\n  "))
	}
	if len(routed) == 0 {
		t.Error("the server registered no routes")
	}
}

// TestOpenAPIDocument checks what kin-openapi's Validate leaves to us: the
// version, summaries, unique operation ids, status-code keys, a 401 for
// every operation behind the token, and path parameters that are required
// and match the path.
func TestOpenAPIDocument(t *testing.T) {
	doc := loadDoc(t)

	if !strings.HasPrefix(doc.OpenAPI, "3.1.") || !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi: %q, want a 3.1.x version string", doc.OpenAPI)
	}
	if doc.Info == nil || doc.Info.Title == "" || doc.Info.Version == "" {
		t.Errorf("info.title and info.version are required: %+v", doc.Info)
	}

	opIDs := map[string]string{}
	for _, o := range operations(t, doc) {
		if strings.TrimSpace(o.op.Summary) == "" {
			t.Errorf("%s has no summary", o)
		}
		if id := o.op.OperationID; id != "" {
			if prev, dup := opIDs[id]; dup {
				t.Errorf("%s and %s share operationId %q", prev, o, id)
			}
			opIDs[id] = o.String()
		}
		if o.op.Responses == nil || o.op.Responses.Len() == 0 {
			t.Errorf("%s has no responses", o)
			continue
		}
		for code, r := range o.op.Responses.Map() {
			if _, err := strconv.Atoi(code); (err != nil || len(code) != 3) && code != "default" {
				t.Errorf("%s: response key %q is not a status code", o, code)
			}
			if r.Value == nil || r.Value.Description == nil || *r.Value.Description == "" {
				t.Errorf("%s: response %s has no description", o, code)
			}
		}
		// An operation that needs the token says what happens without it.
		security := doc.Security
		if o.op.Security != nil {
			security = *o.op.Security
		}
		if len(security) > 0 && o.op.Responses.Value("401") == nil {
			t.Errorf("%s requires the bearer token but documents no 401 response", o)
		}
		checkPathParams(t, o)
	}
}

// checkPathParams: each {name} of the path is a required path parameter of
// the operation or its path item, and each path parameter is in the path.
func checkPathParams(t *testing.T, o operation) {
	t.Helper()
	declared := map[string]bool{}
	for _, params := range []openapi3.Parameters{o.item.Parameters, o.op.Parameters} {
		for i, p := range params {
			if p == nil || p.Value == nil {
				t.Errorf("%s: parameter %d is unresolved", o, i)
				continue
			}
			if p.Value.In != openapi3.ParameterInPath {
				continue
			}
			declared[p.Value.Name] = true
			if !p.Value.Required {
				t.Errorf("%s: path parameter %q must say required: true", o, p.Value.Name)
			}
		}
	}
	inPath := map[string]bool{}
	for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(o.path, -1) {
		inPath[m[1]] = true
		if !declared[m[1]] {
			t.Errorf("%s: path parameter {%s} is not declared", o, m[1])
		}
	}
	for name := range declared {
		if !inPath[name] {
			t.Errorf("%s: declares path parameter %q that is not in the path", o, name)
		}
	}
}

// TestOpenAPIListsEveryEventType compares the event types of
// host/events/types.go with the WebSocketEvent enum and the /ws path's
// x-websocket event list.
func TestOpenAPIListsEveryEventType(t *testing.T) {
	doc := loadDoc(t)
	want := eventTypes(t)

	ev := doc.Components.Schemas["WebSocketEvent"]
	if ev == nil || ev.Value == nil || ev.Value.Properties["type"] == nil || ev.Value.Properties["type"].Value == nil {
		t.Fatal("components.schemas.WebSocketEvent.properties.type is missing")
	}
	var inEnum []string
	for _, v := range ev.Value.Properties["type"].Value.Enum {
		s, _ := v.(string)
		inEnum = append(inEnum, s)
	}
	compareSets(t, "WebSocketEvent.type enum", inEnum, want)

	ws := doc.Paths.Value("/ws")
	if ws == nil {
		t.Fatal("no /ws path")
	}
	ext, _ := ws.Extensions["x-websocket"].(map[string]any)
	list, ok := ext["events"].([]any)
	if !ok {
		t.Fatalf("/ws x-websocket.events is missing or not a list: %#v", ws.Extensions["x-websocket"])
	}
	var inExt []string
	for _, v := range list {
		m, _ := v.(map[string]any)
		s, _ := m["type"].(string)
		inExt = append(inExt, s)
	}
	compareSets(t, "/ws x-websocket events", inExt, want)
}

// eventTypes reads the Type* string constants of host/events/types.go.
func eventTypes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../events/types.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Type") || i >= len(vs.Values) {
				continue
			}
			if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				s, _ := strconv.Unquote(lit.Value)
				out = append(out, s)
			}
		}
		return true
	})
	if len(out) == 0 {
		t.Fatal("no Type constants found in host/events/types.go")
	}
	// Keep this list in step with the file it was read from.
	for _, s := range []string{events.TypeSnapshot, events.TypeStatusUpdate, events.TypeTransferActivity} {
		if !slices.Contains(out, s) {
			t.Fatalf("reading host/events/types.go missed %q", s)
		}
	}
	return out
}

func compareSets(t *testing.T, what string, got, want []string) {
	t.Helper()
	var missing, extra []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			extra = append(extra, g)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s lacks event type(s) of host/events: %s", what, strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		t.Errorf("%s lists event type(s) host/events does not define: %s", what, strings.Join(extra, ", "))
	}
}

// TestOpenAPIServed checks that GET /api/openapi.yaml serves the document.
func TestOpenAPIServed(t *testing.T) {
	s := newDocTestServer(t)
	resp, err := s.App().Test(httptest.NewRequest("GET", "/api/openapi.yaml", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/yaml" || string(body) != string(openapiYAML) {
		t.Fatalf("GET /api/openapi.yaml: %d %q, %d bytes (want 200 application/yaml, the %d embedded bytes)",
			resp.StatusCode, resp.Header.Get("Content-Type"), len(body), len(openapiYAML))
	}
}
