package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/castray/castray/host/api"
)

// Spec is the loaded document, its router and its schemas.
type Spec struct {
	// Doc is the document as loaded, except that its object schemas refuse
	// properties they do not list (see closeObjects).
	Doc    *openapi3.T
	router routers.Router

	// Bodies are validated with schemas compiled once each from the whole
	// document (kin-openapi compiles a schema anew at every validation,
	// some milliseconds each: too slow for every response of a suite that
	// polls). compiler is not safe for concurrent use; compiled schemas are.
	mu       sync.Mutex
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
}

// docURL is where the document is registered with the schema compiler.
const docURL = "mem:///openapi.json"

// Load parses and validates the embedded document and builds its router,
// once per process; later calls return the same result.
func Load() (*Spec, error) { return load() }

var load = sync.OnceValues(func() (*Spec, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPIYAML())
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	closeObjects(doc)
	// The document's servers name the default listener (127.0.0.1:8000);
	// daemons under test listen elsewhere. Route on the path alone.
	routed := *doc
	routed.Servers = nil
	router, err := gorillamux.NewRouter(&routed)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: routing its paths: %w", err)
	}
	// OpenAPI 3.1's schema objects are JSON Schema 2020-12: register the
	// whole document and compile a schema where it stands, its $refs
	// resolving within the document.
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	whole, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, whole); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return &Spec{Doc: doc, router: router, compiler: c, compiled: map[string]*jsonschema.Schema{}}, nil
})

// schema compiles (once) the schema at a JSON pointer of the document.
func (s *Spec) schema(pointer string) (*jsonschema.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sch, ok := s.compiled[pointer]; ok {
		return sch, nil
	}
	sch, err := s.compiler.Compile(docURL + "#" + pointer)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: schema %s: %w", pointer, err)
	}
	s.compiled[pointer] = sch
	return sch, nil
}

// validateJSON validates body against the schema at pointer, called name
// in the error.
func (s *Spec) validateJSON(pointer, name string, body []byte) error {
	sch, err := s.schema(pointer)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the body is not JSON: %w", err)
	}
	if err := sch.Validate(v); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("the body does not match %s: %s", name, flattenValidation(ve))
		}
		return err
	}
	return nil
}

// flattenValidation lists the leaf errors of a validation, one
// "at <where>: <what>" each.
func flattenValidation(ve *jsonschema.ValidationError) string {
	var out []string
	var walk func(u *jsonschema.OutputUnit)
	walk = func(u *jsonschema.OutputUnit) {
		if u.Error != nil && len(u.Errors) == 0 {
			where := u.InstanceLocation
			if where == "" {
				where = "/"
			}
			out = append(out, fmt.Sprintf("at %s: %s", where, u.Error))
		}
		for i := range u.Errors {
			walk(&u.Errors[i])
		}
	}
	walk(ve.DetailedOutput())
	if len(out) == 0 {
		return ve.Error()
	}
	return strings.Join(out, "; ")
}

// pointerToken escapes one JSON pointer token.
func pointerToken(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// closeObjects makes the object schemas of doc refuse properties they do
// not list, so that a field the server adds or renames without documenting
// it is a mismatch, not silently allowed:
//
//   - an object schema that lists properties and says nothing of others
//     gets additionalProperties: false;
//   - a schema composed with allOf, anyOf or oneOf gets
//     unevaluatedProperties: false instead (JSON Schema 2020-12 counts the
//     properties its parts evaluated), and its parts stay open: a part
//     that is a shared component is replaced by an open copy of it, since
//     the component, closed where it is used alone, would refuse the other
//     parts' properties.
func closeObjects(doc *openapi3.T) {
	open := map[*openapi3.Schema]bool{} // composition parts, left open
	copies := map[string]*openapi3.SchemaRef{}
	for _, name := range componentNames(doc) {
		s := doc.Components.Schemas[name].Value
		if s == nil {
			continue
		}
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for i, part := range list {
				if part == nil || part.Value == nil {
					continue
				}
				if part.Ref == "" {
					open[part.Value] = true
					continue
				}
				c, ok := copies[part.Ref]
				if !ok {
					v := *part.Value
					c = &openapi3.SchemaRef{Ref: part.Ref + ".open", Value: &v}
					copies[part.Ref] = c
					open[&v] = true
					if name, ok := strings.CutPrefix(part.Ref, "#/components/schemas/"); ok {
						doc.Components.Schemas[name+".open"] = &openapi3.SchemaRef{Value: &v}
					}
				}
				list[i] = c
			}
		}
	}

	seen := map[*openapi3.Schema]bool{}
	var visit func(ref *openapi3.SchemaRef)
	visit = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		unsaid := s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil &&
			s.UnevaluatedProperties.Has == nil && s.UnevaluatedProperties.Schema == nil
		switch {
		case !unsaid || open[s]:
		case len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0:
			s.UnevaluatedProperties = openapi3.BoolSchema{Has: openapi3.Ptr(false)}
		case len(s.Properties) > 0:
			s.AdditionalProperties = openapi3.AdditionalProperties{Has: openapi3.Ptr(false)}
		}
		for _, p := range s.Properties {
			visit(p)
		}
		visit(s.Items)
		visit(s.AdditionalProperties.Schema)
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf, s.PrefixItems} {
			for _, r := range list {
				visit(r)
			}
		}
	}
	for _, name := range componentNames(doc) {
		visit(doc.Components.Schemas[name])
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, resp := range op.Responses.Map() {
				if resp.Value == nil {
					continue
				}
				for _, mt := range resp.Value.Content {
					visit(mt.Schema)
				}
			}
		}
	}
}

func componentNames(doc *openapi3.T) []string {
	if doc.Components == nil {
		return nil
	}
	names := make([]string, 0, len(doc.Components.Schemas))
	for name := range doc.Components.Schemas {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Operation is the documented operation req resolves to: its path template
// (such as /api/nodes/{id}) and method. A HEAD request resolves to its GET.
// ok is false when the document has no such operation.
func (s *Spec) Operation(req *http.Request) (path, method string, ok bool) {
	route, _, err := s.route(req)
	if err != nil {
		return "", "", false
	}
	return route.Path, route.Method, true
}

// route finds req's operation; HEAD is routed as GET (Fiber answers HEAD
// for every GET route, and the document lists the GETs).
func (s *Spec) route(req *http.Request) (*routers.Route, map[string]string, error) {
	if req.Method == http.MethodHead {
		req = withMethod(req, http.MethodGet)
	}
	return s.router.FindRoute(req)
}

func withMethod(req *http.Request, method string) *http.Request {
	r := req.Clone(req.Context())
	r.Method = method
	r.Body = http.NoBody
	return r
}

// IsJSON reports whether a Content-Type value is JSON (application/json or
// a +json type): the bodies CheckResponse validates.
func IsJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// CheckResponse checks one response to req against the document. body is
// the response's whole body when its Content-Type is JSON (IsJSON), else
// nil: only JSON bodies are validated, other answers for status and headers.
// It returns nil when the response matches, else an error saying how it
// does not.
func (s *Spec) CheckResponse(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := s.route(req)
	if err != nil {
		return s.checkUnrouted(status, header, body)
	}
	op := route.Operation
	key := strconv.Itoa(status)
	ref := op.Responses.Value(key)
	if ref == nil {
		key, ref = "default", op.Responses.Default()
	}
	if ref == nil || ref.Value == nil {
		return fmt.Errorf("status %d is not documented for %s %s (documented: %s)",
			status, route.Method, route.Path, strings.Join(documentedStatuses(op), ", "))
	}
	if err := s.checkHeaders(req, route, params, status, header); err != nil {
		return err
	}
	resp := ref.Value
	ct := header.Get("Content-Type")
	if len(resp.Content) == 0 {
		if ct != "" && req.Method != http.MethodHead && len(body) > 0 {
			return fmt.Errorf("status %d of %s %s documents no body, got %s %s",
				status, route.Method, route.Path, ct, clip(string(body)))
		}
		return nil
	}
	if ct == "" {
		if req.Method == http.MethodHead {
			return nil
		}
		return fmt.Errorf("status %d of %s %s has no Content-Type (documented: %s)",
			status, route.Method, route.Path, strings.Join(mediaTypes(resp.Content), ", "))
	}
	mt, ok := matchMediaType(resp.Content, ct)
	if !ok {
		return fmt.Errorf("status %d of %s %s: Content-Type %q is not documented (documented: %s)",
			status, route.Method, route.Path, ct, strings.Join(mediaTypes(resp.Content), ", "))
	}
	if !IsJSON(mt) || req.Method == http.MethodHead || resp.Content[mt].Schema == nil {
		return nil
	}
	pointer, name := bodySchema(route.Path, route.Method, key, ref, mt)
	if err := s.validateJSON(pointer, name, body); err != nil {
		return fmt.Errorf("%s %s: %s", route.Method, route.Path, clip(err.Error()))
	}
	return nil
}

// bodySchema is where the schema of media type mt of response key of an
// operation stands in the document (a JSON pointer): under the response
// component the operation refers to, or under the operation itself; and
// the name to call it by (its component, when it is one).
func bodySchema(path, method, key string, ref *openapi3.ResponseRef, mt string) (pointer, name string) {
	at := "/paths/" + pointerToken(path) + "/" + strings.ToLower(method) + "/responses/" + pointerToken(key)
	if ref.Ref != "" {
		at = strings.TrimPrefix(ref.Ref, "#")
	}
	pointer = at + "/content/" + pointerToken(mt) + "/schema"
	name = "#" + pointer
	if m := ref.Value.Content[mt]; m != nil && m.Schema != nil && m.Schema.Ref != "" {
		name = m.Schema.Ref
	}
	return pointer, name
}

// checkHeaders runs kin-openapi's response validation for the documented
// headers (bodies are validated by validateJSON).
func (s *Spec) checkHeaders(req *http.Request, route *routers.Route, params map[string]string, status int, header http.Header) error {
	if req.Method == http.MethodHead {
		req = withMethod(req, http.MethodGet) // kin-openapi skips HEAD altogether
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, ExcludeResponseBody: true},
	}
	in.SetBodyBytes(nil)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s: %s", route.Method, route.Path, describe(err))
	}
	return nil
}

// checkUnrouted: the document's introduction says unknown paths answer
// 404 and known paths with a method they do not serve 405 with Allow, with
// the JSON error (401 when a token is required and 403 for a foreign Host
// or Origin, as those are checked before routing).
func (s *Spec) checkUnrouted(status int, header http.Header, body []byte) error {
	switch status {
	case http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden:
	case http.StatusMethodNotAllowed:
		if header.Get("Allow") == "" {
			return fmt.Errorf("no operation in the document, answered 405 without Allow")
		}
	default:
		return fmt.Errorf("no operation in the document (answered %d)", status)
	}
	if ct := header.Get("Content-Type"); !IsJSON(ct) {
		return fmt.Errorf("no operation in the document, answered %d with Content-Type %q, not the JSON error", status, ct)
	}
	if err := s.validateJSON("/components/schemas/Error", "#/components/schemas/Error", body); err != nil {
		return fmt.Errorf("no operation in the document, answered %d: %s", status, clip(err.Error()))
	}
	return nil
}

// matchMediaType finds the documented media type a Content-Type value
// matches, comparing type/subtype (parameters such as charset or
// Prometheus' version are not compared), with */* and type/* wildcards.
func matchMediaType(content openapi3.Content, ct string) (string, bool) {
	got, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", false
	}
	gotType, _, _ := strings.Cut(got, "/")
	for key := range content {
		for _, r := range strings.Split(key, ",") {
			want, _, err := mime.ParseMediaType(strings.TrimSpace(r))
			if err != nil {
				continue
			}
			wantType, wantSub, _ := strings.Cut(want, "/")
			if want == got || want == "*/*" || (wantSub == "*" && wantType == gotType) {
				return key, true
			}
		}
	}
	return "", false
}

func mediaTypes(content openapi3.Content) []string {
	out := make([]string, 0, len(content))
	for k := range content {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func documentedStatuses(op *openapi3.Operation) []string {
	var out []string
	for code := range op.Responses.Map() {
		out = append(out, code)
	}
	sort.Strings(out)
	return out
}

// describe flattens a validation error to one readable line, short enough
// to list many of them: the JSON Schema validator's copies of the schema
// are left out (the document has it) and the values it quotes are cut.
func describe(err error) string {
	msg := err.Error()
	var re *openapi3filter.ResponseError
	if errors.As(err, &re) {
		msg = re.Reason
		if re.Err != nil {
			msg += ": " + re.Err.Error()
		}
	}
	parts := strings.Split(strings.Join(strings.Fields(msg), " "), " | ")
	for i, p := range parts {
		head, rest, ok := strings.Cut(p, " Schema: ")
		if !ok {
			continue
		}
		if _, value, ok := strings.Cut(rest, " Value: "); ok {
			if len(value) > 160 {
				value = value[:160] + "…"
			}
			head += " (value: " + value + ")"
		}
		parts[i] = head
	}
	return clip(strings.Join(parts, "; "))
}

const maxMessage = 1200

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		return s[:maxMessage] + "…"
	}
	return s
}

// Mismatch is one response that does not match the document.
type Mismatch struct {
	Method, URL string // the request
	Status      int
	Problem     string
}

func (m Mismatch) String() string {
	return fmt.Sprintf("%s %s → %d: %s", m.Method, m.URL, m.Status, m.Problem)
}

// Transport is an http.RoundTripper that checks every response against the
// document and records those that do not match. A JSON body is read whole
// and handed on as read; other bodies are not touched. The zero value is
// ready to use (Base nil means http.DefaultTransport); it is safe for
// concurrent use.
type Transport struct {
	Base http.RoundTripper

	mu         sync.Mutex
	mismatches []Mismatch
	checked    int
}

// RoundTrip sends req with Base and checks the response.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	var body []byte
	if IsJSON(resp.Header.Get("Content-Type")) && req.Method != http.MethodHead {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			// The test sees the same truncated body and error it would
			// have seen reading it; nothing to check against.
			resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
			return resp, nil
		}
	}
	t.Observe(req, resp.StatusCode, resp.Header, body)
	return resp, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// Observe checks one response that did not pass through RoundTrip (a
// WebSocket handshake, a response read off a raw connection): body as for
// Spec.CheckResponse.
func (t *Transport) Observe(req *http.Request, status int, header http.Header, body []byte) {
	problem := ""
	if s, err := Load(); err != nil {
		problem = err.Error()
	} else if err := s.CheckResponse(req, status, header, body); err != nil {
		problem = err.Error()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checked++
	if problem != "" {
		u := *req.URL
		u.Scheme, u.Host, u.User = "", "", nil
		t.mismatches = append(t.mismatches, Mismatch{Method: req.Method, URL: u.String(), Status: status, Problem: problem})
	}
}

// Mismatches are the responses seen so far that do not match the document,
// in the order they arrived.
func (t *Transport) Mismatches() []Mismatch {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Mismatch(nil), t.mismatches...)
}

// Checked is how many responses were checked.
func (t *Transport) Checked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.checked
}

// TB is the part of testing.TB Watch uses.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Watch returns a Transport over base (nil: http.DefaultTransport) whose
// mismatches fail tb when it ends, listed one a line. The same mismatch
// (method, operation, status, problem) is listed once with a count.
func Watch(tb TB, base http.RoundTripper) *Transport {
	tb.Helper()
	if _, err := Load(); err != nil {
		tb.Fatalf("%v", err)
	}
	t := &Transport{Base: base}
	tb.Cleanup(func() { t.Check(tb) })
	return t
}

// Check fails tb (Errorf) listing the mismatches recorded so far.
func (t *Transport) Check(tb TB) {
	tb.Helper()
	ms := t.Mismatches()
	if len(ms) == 0 {
		return
	}
	type seen struct {
		first Mismatch
		n     int
	}
	var order []string
	byKey := map[string]*seen{}
	for _, m := range ms {
		key := fmt.Sprintf("%s %d %s", m.Method, m.Status, m.Problem)
		if s, ok := byKey[key]; ok {
			s.n++
			continue
		}
		byKey[key] = &seen{first: m, n: 1}
		order = append(order, key)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d response(s) do not match host/api/openapi.yaml (fix the document where the server is right):", len(ms), t.Checked())
	for _, k := range order {
		s := byKey[k]
		fmt.Fprintf(&b, "\n  %s", s.first)
		if s.n > 1 {
			fmt.Fprintf(&b, " (×%d)", s.n)
		}
	}
	tb.Errorf("%s", b.String())
}
