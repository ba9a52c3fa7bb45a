package api

// The uploaded files: upload (PUT raw, POST multipart), list, download,
// delete. The handlers translate HTTP to one call of the upload store
// (host/files), which owns the folder, the name rule and the digests.
//
// Uploads stream: the body is read from fasthttp's request stream as it
// arrives, never buffered whole, and the multipart form is parsed from that
// stream too (fasthttp's own parser would spool the file into
// /tmp/multipart-* first). A timeout applies to idleness, not to the
// upload's length: every read pushes the connection's read deadline
// IdleTimeout ahead, so an upload fails only when nothing arrives for that
// long. After a failed upload the connection is closed rather than drained.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/castray/castray/host/files"
)

// DefaultIdleTimeout is Deps.IdleTimeout when none is set (the default of
// file_transfer.timeout).
const DefaultIdleTimeout = 5 * time.Minute

// multipartSlack is what a multipart body may hold beyond the file (the
// boundaries and part headers) before its Content-Length alone makes it too
// large.
const multipartSlack = 1 << 20

// FileInfo describes an uploaded file.
type FileInfo struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	Modified time.Time `json:"modified"`
}

func fileInfo(m files.Meta) FileInfo {
	return FileInfo{Name: m.Name, Size: m.Size, SHA256: m.SHA256, Modified: m.Modified}
}

func (s *Server) idleTimeout() time.Duration {
	if s.d.IdleTimeout > 0 {
		return s.d.IdleTimeout
	}
	return DefaultIdleTimeout
}

// fileStore is the upload store, or a 503 when the daemon has none.
func (s *Server) fileStore() (*files.Store, error) {
	if s.d.Files == nil {
		return nil, fiber.NewError(fiber.StatusServiceUnavailable, "the upload store is not configured")
	}
	return s.d.Files, nil
}

// fileName is the URL-decoded :name parameter, checked by the name rule.
func fileName(c *fiber.Ctx) (string, error) {
	name, err := url.PathUnescape(c.Params("name"))
	if err != nil {
		return "", fiber.NewError(fiber.StatusBadRequest, "file name: "+err.Error())
	}
	if err := files.CheckName(name); err != nil {
		return "", fiber.NewError(fiber.StatusBadRequest, err.Error())
	}
	return strings.Clone(name), nil // Params may point into the request buffer
}

// listFiles is GET /api/files.
func (s *Server) listFiles(c *fiber.Ctx) error {
	st, err := s.fileStore()
	if err != nil {
		return err
	}
	list, err := st.List()
	if err != nil {
		return err
	}
	out := make([]FileInfo, 0, len(list))
	for _, m := range list {
		out = append(out, fileInfo(m))
	}
	return c.JSON(fiber.Map{"success": true, "files": out, "count": len(out)})
}

// putFile is PUT /api/files/{name}: the raw body becomes the file, checked
// against Content-Length and any digest header.
func (s *Server) putFile(c *fiber.Ctx) error {
	st, err := s.fileStore()
	if err != nil {
		return s.refuseBody(c, err)
	}
	name, err := fileName(c)
	if err != nil {
		return s.refuseBody(c, err)
	}
	if enc := c.Get(fiber.HeaderContentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
		return s.refuseBody(c, fiber.NewError(fiber.StatusUnsupportedMediaType,
			fmt.Sprintf("Content-Encoding %q is not supported: send the file's bytes as they are", enc)))
	}
	want, err := expectedSHA256(&c.Request().Header)
	if err != nil {
		return s.refuseBody(c, fiber.NewError(fiber.StatusBadRequest, err.Error()))
	}
	length := int64(c.Request().Header.ContentLength()) // -1: chunked
	if length < 0 {
		length = -1
	}
	if s.d.MaxFileSize > 0 && length > s.d.MaxFileSize {
		return s.refuseBody(c, fiber.NewError(fiber.StatusRequestEntityTooLarge,
			fmt.Sprintf("file of %d bytes exceeds file_transfer.max_file_size (%d bytes)", length, s.d.MaxFileSize)))
	}
	m, err := st.Save(name, s.uploadBody(c), files.SaveOptions{Length: length, SHA256: want, MaxSize: s.d.MaxFileSize})
	if err != nil {
		return s.uploadError(c, name, err)
	}
	s.d.Log.Info("file uploaded", "name", m.Name, "bytes", m.Size, "sha256", m.SHA256)
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"success": true, "file": fileInfo(m)})
}

// uploadMultipart is the original's POST /api/upload: a multipart form
// whose one part, "file", is the file under its filename. The form is read
// from the stream; the file is committed only once the closing boundary
// has been read, so a form with another part, or cut short, stores
// nothing.
func (s *Server) uploadMultipart(c *fiber.Ctx) error {
	st, err := s.fileStore()
	if err != nil {
		return s.refuseBody(c, err)
	}
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEMultipartForm || params["boundary"] == "" {
		return s.refuseBody(c, fiber.NewError(fiber.StatusUnsupportedMediaType,
			`POST /api/upload takes a multipart/form-data body with the file in the field "file" (PUT /api/files/{name} takes the raw bytes)`))
	}
	if n := int64(c.Request().Header.ContentLength()); s.d.MaxFileSize > 0 && n > s.d.MaxFileSize+multipartSlack {
		return s.refuseBody(c, fiber.NewError(fiber.StatusRequestEntityTooLarge,
			fmt.Sprintf("body of %d bytes exceeds file_transfer.max_file_size (%d bytes)", n, s.d.MaxFileSize)))
	}
	mr := multipart.NewReader(s.uploadBody(c), params["boundary"])
	part, err := mr.NextRawPart()
	if errors.Is(err, io.EOF) {
		err = &formError{`multipart form field "file" is required`}
	}
	if err != nil {
		return s.uploadError(c, "", fmt.Errorf("%w: %w", files.ErrIncomplete, err))
	}
	field, name, err := formPart(part)
	switch {
	case err == nil && field != "file":
		err = &formError{fmt.Sprintf(`unexpected form field %q: POST /api/upload takes one field, "file"`, field)}
	case err == nil && name == "":
		err = &formError{`the form field "file" has no filename`}
	}
	if err != nil {
		return s.refuseBody(c, s.uploadStatus("", err))
	}
	m, err := st.Save(name, &formFile{part: part, form: mr}, files.SaveOptions{Length: -1, MaxSize: s.d.MaxFileSize})
	if err != nil {
		return s.uploadError(c, name, err)
	}
	s.d.Log.Info("file uploaded", "name", m.Name, "bytes", m.Size, "sha256", m.SHA256)
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{
		"success": true, "message": "file uploaded", "file": fileInfo(m),
		"file_name": m.Name, "file_size": m.Size, "sha256": m.SHA256,
	})
}

// formError is a multipart form that is well formed but not the one
// expected.
type formError struct{ msg string }

func (e *formError) Error() string { return e.msg }

// formPart reads a part's form field name and filename. The filename is
// taken as sent (multipart.Part.FileName would strip a path from it, and a
// name like "../x" must be refused, not repaired).
func formPart(p *multipart.Part) (field, filename string, err error) {
	disp, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil || disp != "form-data" {
		return "", "", &formError{fmt.Sprintf("a form part has no valid Content-Disposition: form-data (%q)", p.Header.Get("Content-Disposition"))}
	}
	if filename = params["filename"]; filename != "" {
		if err := files.CheckName(filename); err != nil {
			return "", "", err
		}
	}
	return params["name"], filename, nil
}

// formFile reads the "file" part; at its end it reads the rest of the form
// and reports EOF only when the closing boundary follows: anything else (a
// second part, a body cut short) is an error, so Save discards the file.
type formFile struct {
	part *multipart.Part
	form *multipart.Reader
}

func (f *formFile) Read(p []byte) (int, error) {
	n, err := f.part.Read(p)
	if err != io.EOF {
		return n, err
	}
	next, err := f.form.NextRawPart()
	switch {
	case err == io.EOF:
		return n, io.EOF
	case err != nil:
		return n, err
	}
	what := "a second part"
	if field, filename, ferr := formPart(next); ferr == nil {
		what = fmt.Sprintf("form field %q", field)
		if filename != "" {
			what = fmt.Sprintf("a second file %q (field %q)", filename, field)
		}
	}
	return n, &formError{fmt.Sprintf(`unexpected %s: POST /api/upload takes one field, "file"; nothing was stored`, what)}
}

// uploadBody is the request body, read under the idle timeout.
func (s *Server) uploadBody(c *fiber.Ctx) io.Reader {
	stream := c.Context().RequestBodyStream()
	if stream == nil {
		return bytes.NewReader(c.Body())
	}
	return &idleReader{r: stream, ctx: c.Context(), idle: s.idleTimeout()}
}

// idleReader pushes the connection's read deadline idle ahead before every
// read, so that only a pause of idle fails the upload. A read that fails
// after its deadline has passed is reported as an *idleError (fasthttp
// wraps some read errors, such as one inside a chunk header, in errors
// that do not unwrap to the deadline error).
type idleReader struct {
	r        io.Reader
	ctx      *fasthttp.RequestCtx
	idle     time.Duration
	deadline time.Time
}

func (r *idleReader) Read(p []byte) (int, error) {
	r.deadline = time.Now().Add(r.idle)
	// RequestCtx.SetReadDeadline (rather than Conn().SetReadDeadline) lets
	// fasthttp know to restore its own deadline after the handler. It
	// fails only without a real connection (a test's in-memory one); the
	// read then goes on without an idle limit.
	_ = r.ctx.SetReadDeadline(r.deadline)
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && !time.Now().Before(r.deadline) {
		err = &idleError{idle: r.idle, err: err}
	}
	return n, err
}

// idleError is a read that timed out for lack of data.
type idleError struct {
	idle time.Duration
	err  error
}

func (e *idleError) Error() string        { return fmt.Sprintf("no data for %s: %v", e.idle, e.err) }
func (e *idleError) Unwrap() error        { return e.err }
func (e *idleError) Is(target error) bool { return target == os.ErrDeadlineExceeded }
func (e *idleError) Timeout() bool        { return true }  // net.Error
func (e *idleError) Temporary() bool      { return false } // net.Error

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// uploadError turns an upload's failure into its HTTP error and closes the
// connection. What is left of the body is not read, except after a file
// too large: up to maxDrain more bytes then, so that a client still sending
// a body not far over the limit gets the 413 rather than a reset.
func (s *Server) uploadError(c *fiber.Ctx, name string, err error) error {
	c.Set(fiber.HeaderConnection, "close")
	if stream := c.Context().RequestBodyStream(); stream != nil && errors.Is(err, files.ErrTooLarge) {
		_, _ = io.Copy(io.Discard, io.LimitReader(&idleReader{r: stream, ctx: c.Context(), idle: s.idleTimeout()}, maxDrain))
	}
	return s.uploadStatus(name, err)
}

// uploadStatus is the HTTP error of an upload's failure.
func (s *Server) uploadStatus(name string, err error) error {
	var ne *files.NameError
	var fe *formError
	switch {
	case errors.As(err, &ne):
		return fiber.NewError(fiber.StatusBadRequest, ne.Error())
	case isTimeout(err):
		s.d.Log.Warn("upload abandoned: the client sent nothing for the idle timeout", "name", name, "idle", s.idleTimeout(), "error", err)
		return fiber.NewError(fiber.StatusRequestTimeout, fmt.Sprintf("upload idle for more than %s; nothing was stored", s.idleTimeout()))
	case errors.As(err, &fe):
		return fiber.NewError(fiber.StatusBadRequest, fe.msg)
	case errors.Is(err, files.ErrTooLarge):
		return fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("%v (file_transfer.max_file_size); nothing was stored", err))
	case errors.Is(err, files.ErrIncomplete):
		s.d.Log.Warn("upload incomplete, nothing stored", "name", name, "error", err)
		return fiber.NewError(fiber.StatusBadRequest, err.Error())
	case errors.Is(err, files.ErrDigestMismatch):
		s.d.Log.Warn("upload does not match its declared digest, nothing stored", "name", name, "error", err)
		return fiber.NewError(fiber.StatusUnprocessableEntity, err.Error())
	}
	return fmt.Errorf("store upload %q: %w", name, err)
}

// refuseBody answers a request refused before its body was read. A body
// of up to maxDrain bytes is read (under the idle timeout), so that the
// client gets the answer rather than a connection reset in mid-send; the
// connection is closed unless the whole body was read.
func (s *Server) refuseBody(c *fiber.Ctx, err error) error {
	if n := c.Request().Header.ContentLength(); n > maxDrain {
		c.Set(fiber.HeaderConnection, "close") // too much to read for nothing
		return err
	}
	if stream := c.Context().RequestBodyStream(); stream != nil {
		n, derr := io.Copy(io.Discard, io.LimitReader(&idleReader{r: stream, ctx: c.Context(), idle: s.idleTimeout()}, maxDrain+1))
		if derr == nil && n <= maxDrain {
			return err
		}
	}
	c.Set(fiber.HeaderConnection, "close")
	return err
}

// expectedSHA256 reads the digest a PUT declares, from any of
// X-Content-SHA256 (hex), Digest (RFC 3230, sha-256=<base64>), and
// Repr-Digest or Content-Digest (RFC 9530, sha-256=:<base64>:). Other
// algorithms are ignored; a malformed sha-256 value, or two that differ,
// is an error. "" means none was declared.
func expectedSHA256(h *fasthttp.RequestHeader) (string, error) {
	type claim struct{ header, sum string }
	var claims []claim
	for _, v := range h.PeekAll("X-Content-SHA256") {
		raw := strings.TrimSpace(string(v))
		b, err := hex.DecodeString(raw)
		if err != nil || len(b) != 32 {
			return "", fmt.Errorf("X-Content-SHA256: %q is not a SHA-256 in hex (64 hex digits)", raw)
		}
		claims = append(claims, claim{"X-Content-SHA256", hex.EncodeToString(b)})
	}
	for _, v := range h.PeekAll("Digest") {
		for _, item := range strings.Split(string(v), ",") {
			alg, val, ok := strings.Cut(strings.TrimSpace(item), "=")
			if !ok {
				return "", fmt.Errorf("Digest: %q is not <algorithm>=<value> (RFC 3230)", strings.TrimSpace(item))
			}
			if !strings.EqualFold(strings.TrimSpace(alg), "sha-256") {
				continue
			}
			sum, err := base64SHA256(strings.TrimSpace(val))
			if err != nil {
				return "", fmt.Errorf("Digest: sha-256=%s: %v", strings.TrimSpace(val), err)
			}
			claims = append(claims, claim{"Digest", sum})
		}
	}
	for _, header := range []string{"Repr-Digest", "Content-Digest"} {
		for _, v := range h.PeekAll(header) {
			for _, member := range strings.Split(string(v), ",") {
				key, val, ok := strings.Cut(strings.TrimSpace(member), "=")
				if !ok {
					return "", fmt.Errorf("%s: %q is not <algorithm>=:<base64>: (RFC 9530)", header, strings.TrimSpace(member))
				}
				if strings.TrimSpace(key) != "sha-256" {
					continue
				}
				val, _, _ = strings.Cut(strings.TrimSpace(val), ";") // parameters
				val = strings.TrimSpace(val)
				if len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
					return "", fmt.Errorf("%s: sha-256=%s: the value must be a byte sequence, :<base64>: (RFC 9530)", header, val)
				}
				sum, err := base64SHA256(val[1 : len(val)-1])
				if err != nil {
					return "", fmt.Errorf("%s: sha-256=%s: %v", header, val, err)
				}
				claims = append(claims, claim{header, sum})
			}
		}
	}
	if len(claims) == 0 {
		return "", nil
	}
	for _, c := range claims[1:] {
		if c.sum != claims[0].sum {
			return "", fmt.Errorf("conflicting digests: %s declares sha256 %s, %s declares %s", claims[0].header, claims[0].sum, c.header, c.sum)
		}
	}
	return claims[0].sum, nil
}

// base64SHA256 decodes a base64 SHA-256 into lower-case hex.
func base64SHA256(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(b) != 32 {
		return "", errors.New("not the base64 of a 32-byte SHA-256")
	}
	return hex.EncodeToString(b), nil
}

// getFile is GET and HEAD /api/files/{name}: a download.
func (s *Server) getFile(c *fiber.Ctx) error {
	st, err := s.fileStore()
	if err != nil {
		return err
	}
	name, err := fileName(c)
	if err != nil {
		return err
	}
	f, m, err := st.Open(name)
	switch {
	case errors.Is(err, files.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, err.Error())
	case err != nil:
		return err
	}
	return serveFile(c, f, m.Size, m.SHA256, m.Modified)
}

// deleteFile is DELETE /api/files/{name}.
// deleteStored deletes an uploaded file unless a distribution or a running
// transfer uses it (409, naming which). A distribution is named first: it
// is the lasting reason (its own transfers come and go).
func (s *Server) deleteStored(st *files.Store, name string) error {
	if refs := s.distributionsUsing(name); refs != "" {
		return fiber.NewError(fiber.StatusConflict, fmt.Sprintf("file %q is distributed by distribution %s; delete the distribution first", name, refs))
	}
	if s.d.FileInUse != nil && s.d.FileInUse(name) {
		return fiber.NewError(fiber.StatusConflict, fmt.Sprintf("file %q is being sent by a running transfer; cancel the transfer first", name))
	}
	err := st.Delete(name)
	switch {
	case errors.Is(err, files.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, err.Error())
	case err != nil:
		return err
	}
	return nil
}

func (s *Server) deleteFile(c *fiber.Ctx) error {
	st, err := s.fileStore()
	if err != nil {
		return err
	}
	name, err := fileName(c)
	if err != nil {
		return err
	}
	if err := s.deleteStored(st, name); err != nil {
		return err
	}
	s.d.Log.Info("file deleted", "name", name)
	return c.JSON(fiber.Map{"success": true, "message": fmt.Sprintf("file %s deleted", name)})
}

// serveFile answers a GET or HEAD with the file f, of size bytes, whose
// SHA-256 (lower-case hex) is the ETag. It streams from f (never reading it
// into memory) and takes f over: f is closed once the response is written,
// or at once when no body is sent. f must be positioned at its start.
//
// It sends Content-Type application/octet-stream, Content-Length, ETag,
// Repr-Digest, Last-Modified and Accept-Ranges: bytes, and honours
// If-None-Match (then If-Modified-Since) with 304, and a single-range Range
// (206 with Content-Range; 416 with Content-Range: bytes */size when it
// cannot be satisfied) subject to If-Range. Several ranges get the whole
// file (RFC 9110, section 14.2 lets a server ignore Range).
func serveFile(c *fiber.Ctx, f *os.File, size int64, sha256 string, modified time.Time) error {
	etag := `"` + sha256 + `"`
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderLastModified, modified.UTC().Format(http.TimeFormat))
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	if b, err := hex.DecodeString(sha256); err == nil && len(b) == 32 {
		c.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(b)+":")
	}

	if notModified(c, etag, modified) {
		f.Close()
		c.Status(fiber.StatusNotModified)
		return nil
	}
	if rng := c.Get(fiber.HeaderRange); rng != "" && ifRangeHolds(c.Get(fiber.HeaderIfRange), etag, modified) {
		start, end, use, ok := byteRange(rng, size)
		switch {
		case use && !ok:
			f.Close()
			c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes */%d", size))
			return fiber.NewError(fiber.StatusRequestedRangeNotSatisfiable, fmt.Sprintf("range %q is outside the file's %d bytes", rng, size))
		case use:
			n := end - start + 1
			c.Status(fiber.StatusPartialContent)
			c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", start, end, size))
			c.Context().SetBodyStream(&fileSection{io.NewSectionReader(f, start, n), f}, int(n))
			return nil
		}
	}
	c.Status(fiber.StatusOK)
	c.Context().SetBodyStream(f, int(size))
	return nil
}

// fileSection is a part of a file, closing the file when fasthttp is done.
type fileSection struct {
	*io.SectionReader
	f *os.File
}

func (s *fileSection) Close() error { return s.f.Close() }

// notModified evaluates If-None-Match, or when absent If-Modified-Since.
func notModified(c *fiber.Ctx, etag string, modified time.Time) bool {
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" {
		for _, tag := range strings.Split(inm, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag { // weak comparison
				return true
			}
		}
		return false
	}
	if ims := c.Get(fiber.HeaderIfModifiedSince); ims != "" {
		if t, err := http.ParseTime(ims); err == nil {
			return !modified.Truncate(time.Second).After(t)
		}
	}
	return false
}

// ifRangeHolds: Range applies when If-Range is absent or names this
// representation (strong comparison of the ETag, or its exact date).
func ifRangeHolds(ifRange, etag string, modified time.Time) bool {
	switch {
	case ifRange == "":
		return true
	case strings.HasPrefix(ifRange, `"`):
		return ifRange == etag
	case strings.HasPrefix(ifRange, "W/"):
		return false
	}
	t, err := http.ParseTime(ifRange)
	return err == nil && modified.Truncate(time.Second).Equal(t)
}

var rangeSpec = regexp.MustCompile(`^(?:([0-9]+)-([0-9]*)|-[0-9]+)$`)

// byteRange interprets a Range header for size bytes: use is false when
// the header is to be ignored (another unit, several ranges, a syntax
// error); ok is false when the range cannot be satisfied.
func byteRange(header string, size int64) (start, end int64, use, ok bool) {
	unit, spec, found := strings.Cut(header, "=")
	if !found || !strings.EqualFold(strings.TrimSpace(unit), "bytes") {
		return 0, 0, false, false
	}
	spec = strings.TrimSpace(spec)
	if strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	m := rangeSpec.FindStringSubmatch(spec)
	if m == nil {
		return 0, 0, false, false
	}
	if m[1] != "" && m[2] != "" {
		first, err1 := strconv.ParseUint(m[1], 10, 64)
		last, err2 := strconv.ParseUint(m[2], 10, 64)
		if err1 == nil && err2 == nil && last < first {
			return 0, 0, false, false // invalid, so ignored (RFC 9110, 14.1.1)
		}
	}
	s, e, err := fasthttp.ParseByteRange([]byte("bytes="+spec), int(size))
	if err != nil {
		return 0, 0, true, false
	}
	return int64(s), int64(e), true, true
}
