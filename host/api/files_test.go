package api

// The file routes, tested over a real socket: the server runs on a
// 127.0.0.1 listener and most requests are written by hand on a raw TCP
// connection, so that a test controls exactly what arrives (a body cut
// short, a chunked body without its last chunk, a client that goes quiet).

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	hclog "github.com/hashicorp/go-hclog"

	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/store"
)

// syncBuffer collects the server's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type fileServer struct {
	addr  string
	dir   string // uploads
	files *files.Store
	srv   *Server
	log   *syncBuffer
}

// newFileServer serves the API with a real upload store on 127.0.0.1.
func newFileServer(t testing.TB, mod func(*Deps)) *fileServer {
	t.Helper()
	root := t.TempDir()
	meta, err := store.Open(filepath.Join(root, "castray.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	fs := &fileServer{dir: filepath.Join(root, "uploads"), log: &syncBuffer{}}
	log := hclog.New(&hclog.LoggerOptions{Output: fs.log, Level: hclog.Debug})
	if fs.files, err = files.Open(fs.dir, meta, 1<<20, log.Named("files")); err != nil {
		t.Fatal(err)
	}
	d := Deps{Files: fs.files, Log: log, MaxFileSize: 8 << 20, BodyLimit: 1 << 10, IdleTimeout: 5 * time.Second, Version: "test"}
	if mod != nil {
		mod(&d)
	}
	fs.srv = New(d)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- fs.srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := fs.srv.Shutdown(10 * time.Second); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return fs
}

func (fs *fileServer) dial(t testing.TB) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", fs.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A generous bound, so that a broken server fails the test rather than
	// hanging it; no assertion depends on it.
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c.(*net.TCPConn)
}

type response struct {
	code   int
	header http.Header
	body   []byte
	close  bool // Connection: close (net/http takes it out of header)
}

// json decodes the body.
func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("%d %q: %v", r.code, r.body, err)
	}
	return m
}

func (r response) errorMessage(t testing.TB) string {
	t.Helper()
	m := r.json(t)
	if m["success"] != false {
		t.Fatalf("error response %s without success: false", r.body)
	}
	msg, _ := m["error"].(string)
	return msg
}

func readResponse(t testing.TB, c net.Conn, method string) response {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the response body: %v", err)
	}
	return response{resp.StatusCode, resp.Header, body, resp.Close}
}

// do sends one request (path as written on the wire) with a
// Content-Length body and reads the answer.
func (fs *fileServer) do(t testing.TB, method, path string, body []byte, header ...string) response {
	t.Helper()
	c := fs.dial(t)
	var b strings.Builder
	host := "test"
	if i := slices.Index(header, "Host"); i >= 0 && i%2 == 0 && i+1 < len(header) {
		host, header = header[i+1], slices.Delete(slices.Clone(header), i, i+2)
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, path, host)
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", header[i], header[i+1])
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	if _, err := c.Write(append([]byte(b.String()), body...)); err != nil {
		t.Fatal(err)
	}
	return readResponse(t, c, method)
}

func randomData(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// put stores data under name and checks the 201.
func (fs *fileServer) put(t testing.TB, name string, data []byte) {
	t.Helper()
	r := fs.do(t, "PUT", "/api/files/"+name, data)
	if r.code != http.StatusCreated {
		t.Fatalf("PUT %s: %d %s", name, r.code, r.body)
	}
}

// stored checks the file name holds want (nil: that there is none), and
// that no part is left in the folder.
func (fs *fileServer) stored(t *testing.T, name string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(filepath.Join(fs.dir, name))
	switch {
	case want == nil && err == nil:
		t.Fatalf("%s was stored (%d bytes)", name, len(got))
	case want != nil && err != nil:
		t.Fatalf("%s: %v", name, err)
	case want != nil && !bytes.Equal(got, want):
		t.Fatalf("%s holds %d other bytes, want the %d expected", name, len(got), len(want))
	}
	if want != nil {
		if m, err := fs.files.Stat(name); err != nil || m.SHA256 != sha(want) {
			t.Fatalf("Stat(%s) = %+v, %v", name, m, err)
		}
	}
	parts, _ := filepath.Glob(filepath.Join(fs.dir, ".upload-*"))
	if len(parts) > 0 {
		t.Fatalf("parts left: %v", parts)
	}
}

// waitLog waits until the server logged s: the way to know a handler ran
// to its end when the client is gone and cannot read the answer.
func (fs *fileServer) waitLog(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(fs.log.String(), s) {
			return
		}
	}
	t.Fatalf("the server never logged %q:\n%s", s, fs.log)
}

func TestPutListGetDelete(t *testing.T) {
	var inUse sync.Map
	fs := newFileServer(t, func(d *Deps) {
		d.FileInUse = func(name string) bool { _, ok := inUse.Load(name); return ok }
	})
	data := randomData(t, 3<<20+17)
	r := fs.do(t, "PUT", "/api/files/report%20v1.bin", data)
	if r.code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", r.code, r.body)
	}
	var created struct {
		Success bool
		File    FileInfo
	}
	json.Unmarshal(r.body, &created)
	if !created.Success || created.File.Name != "report v1.bin" || created.File.Size != int64(len(data)) || created.File.SHA256 != sha(data) || created.File.Modified.IsZero() {
		t.Fatalf("PUT answered %s", r.body)
	}
	fs.stored(t, "report v1.bin", data)

	// Replacing keeps one file, with the new content.
	fs.put(t, "report%20v1.bin", data[:100])
	fs.stored(t, "report v1.bin", data[:100])
	fs.put(t, "b.txt", []byte("b"))
	fs.put(t, "empty", []byte{})
	fs.stored(t, "empty", []byte{})

	r = fs.do(t, "GET", "/api/files", nil)
	var list struct {
		Success bool
		Files   []FileInfo
		Count   int
	}
	if err := json.Unmarshal(r.body, &list); err != nil || r.code != 200 || !list.Success || list.Count != 3 || len(list.Files) != 3 {
		t.Fatalf("GET /api/files: %d %s", r.code, r.body)
	}
	for i, want := range []struct {
		name string
		data []byte
	}{{"b.txt", []byte("b")}, {"empty", []byte{}}, {"report v1.bin", data[:100]}} {
		if f := list.Files[i]; f.Name != want.name || f.Size != int64(len(want.data)) || f.SHA256 != sha(want.data) {
			t.Errorf("files[%d] = %+v, want %s", i, f, want.name)
		}
	}

	r = fs.do(t, "GET", "/api/files/b.txt", nil)
	if r.code != 200 || string(r.body) != "b" {
		t.Fatalf("GET: %d %q", r.code, r.body)
	}

	inUse.Store("b.txt", true)
	if r = fs.do(t, "DELETE", "/api/files/b.txt", nil); r.code != http.StatusConflict || !strings.Contains(r.errorMessage(t), "running transfer") {
		t.Fatalf("DELETE of a file in use: %d %s", r.code, r.body)
	}
	fs.stored(t, "b.txt", []byte("b"))
	inUse.Delete("b.txt")
	if r = fs.do(t, "DELETE", "/api/files/b.txt", nil); r.code != 200 || r.json(t)["success"] != true {
		t.Fatalf("DELETE: %d %s", r.code, r.body)
	}
	fs.stored(t, "b.txt", nil)
	if r = fs.do(t, "DELETE", "/api/files/b.txt", nil); r.code != http.StatusNotFound {
		t.Fatalf("second DELETE: %d %s", r.code, r.body)
	}
	if r = fs.do(t, "GET", "/api/files/b.txt", nil); r.code != http.StatusNotFound || !strings.Contains(r.errorMessage(t), "b.txt") {
		t.Fatalf("GET of a deleted file: %d %s", r.code, r.body)
	}
}

// A body that ends before its Content-Length (a client killed mid-upload)
// stores nothing and leaves an earlier copy of the name intact.
func TestPutCutShortKeepsTheEarlierCopy(t *testing.T) {
	fs := newFileServer(t, nil)
	old := []byte("the earlier, complete copy")
	fs.put(t, "f.bin", old)

	t.Run("1000 bytes declared, 400 sent", func(t *testing.T) {
		c := fs.dial(t)
		fmt.Fprintf(c, "PUT /api/files/f.bin HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n")
		c.Write(randomData(t, 400))
		c.CloseWrite()
		io.Copy(io.Discard, c) // whatever the answer, the server is done with the request
		fs.stored(t, "f.bin", old)
	})
	t.Run("answer to a half-closed upload", func(t *testing.T) {
		c := fs.dial(t)
		fmt.Fprintf(c, "PUT /api/files/f.bin HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", 1<<20)
		c.Write(randomData(t, 300<<10))
		c.CloseWrite()
		r := readResponse(t, c, "PUT")
		if msg := r.errorMessage(t); r.code != http.StatusBadRequest || !strings.Contains(msg, fmt.Sprintf("upload incomplete: got %d of %d bytes", 300<<10, 1<<20)) {
			t.Fatalf("%d %q", r.code, msg)
		}
		if !r.close {
			t.Error("no Connection: close after a failed upload")
		}
		fs.stored(t, "f.bin", old)
	})
	t.Run("client gone", func(t *testing.T) {
		c := fs.dial(t)
		fmt.Fprintf(c, "PUT /api/files/f.bin HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", 2<<20)
		c.Write(randomData(t, 1<<20))
		c.Close() // as when the process is killed: what it sent, then FIN
		fs.waitLog(t, "got 1048576 of 2097152 bytes")
		fs.stored(t, "f.bin", old)
	})
	t.Run("client reset", func(t *testing.T) {
		c := fs.dial(t)
		fmt.Fprintf(c, "PUT /api/files/f.bin HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", 3<<20)
		c.Write(randomData(t, 1<<20))
		c.SetLinger(0)
		c.Close() // RST: the server may lose some of what was sent
		fs.waitLog(t, "of 3145728 bytes")
		fs.stored(t, "f.bin", old)
	})
}

// chunk frames data as one HTTP/1.1 chunk.
func chunk(data []byte) []byte {
	return append(append([]byte(strconv.FormatInt(int64(len(data)), 16)+"\r\n"), data...), "\r\n"...)
}

func TestPutChunked(t *testing.T) {
	fs := newFileServer(t, nil)
	old := []byte("old")
	fs.put(t, "c.bin", old)
	data := randomData(t, 5<<20)
	head := "PUT /api/files/c.bin HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"

	t.Run("without the last chunk", func(t *testing.T) {
		c := fs.dial(t)
		c.Write([]byte(head))
		for off := 0; off < 2<<20; off += 256 << 10 {
			c.Write(chunk(data[off : off+256<<10]))
		}
		c.CloseWrite()
		r := readResponse(t, c, "PUT")
		if msg := r.errorMessage(t); r.code != http.StatusBadRequest || !strings.Contains(msg, "upload incomplete: got 2097152 bytes") {
			t.Fatalf("%d %q", r.code, msg)
		}
		fs.stored(t, "c.bin", old)
	})
	t.Run("cut inside a chunk, client gone", func(t *testing.T) {
		c := fs.dial(t)
		c.Write([]byte(head))
		c.Write(chunk(data[:1<<20]))
		c.Write([]byte("100000\r\n"))
		c.Write(data[:1000])
		c.Close()
		fs.waitLog(t, "upload incomplete: got 1049576 bytes")
		fs.stored(t, "c.bin", old)
	})
	t.Run("complete", func(t *testing.T) {
		c := fs.dial(t)
		c.Write([]byte(head))
		for off := 0; off < len(data); off += 1<<20 + 3 {
			c.Write(chunk(data[off:min(off+1<<20+3, len(data))]))
		}
		c.Write([]byte("0\r\n\r\n"))
		r := readResponse(t, c, "PUT")
		if r.code != http.StatusCreated {
			t.Fatalf("%d %s", r.code, r.body)
		}
		fs.stored(t, "c.bin", data)
	})
	t.Run("larger than the limit", func(t *testing.T) {
		c := fs.dial(t)
		c.Write([]byte("PUT /api/files/big HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"))
		go func() { // the server stops reading at the limit
			for i := 0; i < 9; i++ {
				if _, err := c.Write(chunk(data[:1<<20])); err != nil {
					return
				}
			}
			c.Write([]byte("0\r\n\r\n"))
		}()
		r := readResponse(t, c, "PUT")
		if msg := r.errorMessage(t); r.code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "8388608") {
			t.Fatalf("%d %q", r.code, msg)
		}
		fs.stored(t, "big", nil)
	})
}

func TestPutTooLargeUpFront(t *testing.T) {
	fs := newFileServer(t, nil)
	c := fs.dial(t)
	// The headers and the first 8 KiB of the body (what fasthttp reads
	// before the handler runs): the answer comes from the Content-Length
	// alone, without the server reading on.
	fmt.Fprintf(c, "PUT /api/files/big HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", 100<<30)
	c.Write(make([]byte, 8<<10))
	r := readResponse(t, c, "PUT")
	if msg := r.errorMessage(t); r.code != http.StatusRequestEntityTooLarge || !strings.Contains(msg, "107374182400 bytes") {
		t.Fatalf("%d %q", r.code, msg)
	}
	if !r.close {
		t.Error("no Connection: close")
	}
	fs.stored(t, "big", nil)
}

func TestPutDigests(t *testing.T) {
	fs := newFileServer(t, nil)
	data := randomData(t, 100000)
	sum := sha256.Sum256(data)
	hexSum, b64 := hex.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(sum[:])
	other := sha256.Sum256([]byte("other"))
	otherHex, otherB64 := hex.EncodeToString(other[:]), base64.StdEncoding.EncodeToString(other[:])

	for _, tc := range []struct {
		what   string
		header []string
		code   int
		msg    string
	}{
		{"X-Content-SHA256", []string{"X-Content-SHA256", hexSum}, 201, ""},
		{"X-Content-SHA256 upper case", []string{"X-Content-SHA256", strings.ToUpper(hexSum)}, 201, ""},
		{"Digest", []string{"Digest", "SHA-256=" + b64}, 201, ""},
		{"Digest with md5 too", []string{"Digest", "md5=rL0Y20zC+Fzt72VPzMSk2A==, sha-256=" + b64}, 201, ""},
		{"Repr-Digest", []string{"Repr-Digest", "sha-256=:" + b64 + ":"}, 201, ""},
		{"Content-Digest with another algorithm", []string{"Content-Digest", "sha-512=:AAAA:, sha-256=:" + b64 + ":"}, 201, ""},
		{"all agree", []string{"X-Content-SHA256", hexSum, "Digest", "sha-256=" + b64, "Repr-Digest", "sha-256=:" + b64 + ":"}, 201, ""},
		{"X-Content-SHA256 mismatch", []string{"X-Content-SHA256", otherHex}, 422, "sha256 mismatch: the 100000 bytes received have sha256 " + hexSum + ", the request declared " + otherHex},
		{"Digest mismatch", []string{"Digest", "sha-256=" + otherB64}, 422, otherHex},
		{"Repr-Digest mismatch", []string{"Repr-Digest", "sha-256=:" + otherB64 + ":"}, 422, otherHex},
		{"X-Content-SHA256 malformed", []string{"X-Content-SHA256", "abc"}, 400, "X-Content-SHA256"},
		{"Digest malformed", []string{"Digest", "sha-256=" + hexSum}, 400, "Digest"},
		{"Repr-Digest without colons", []string{"Repr-Digest", "sha-256=" + b64}, 400, "byte sequence"},
		{"Content-Digest malformed", []string{"Content-Digest", "sha-256=:!!:"}, 400, "Content-Digest"},
		{"conflict", []string{"X-Content-SHA256", hexSum, "Repr-Digest", "sha-256=:" + otherB64 + ":"}, 400, "conflicting digests"},
		{"Content-Encoding", []string{"Content-Encoding", "gzip"}, 415, "gzip"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			os.Remove(filepath.Join(fs.dir, "d.bin"))
			r := fs.do(t, "PUT", "/api/files/d.bin", data, tc.header...)
			if r.code != tc.code {
				t.Fatalf("%d %s, want %d", r.code, r.body, tc.code)
			}
			if tc.code == 201 {
				fs.stored(t, "d.bin", data)
				return
			}
			if msg := r.errorMessage(t); !strings.Contains(msg, tc.msg) {
				t.Fatalf("message %q does not say %q", msg, tc.msg)
			}
			fs.stored(t, "d.bin", nil)
		})
	}
	if !strings.Contains(fs.log.String(), "does not match its declared digest") {
		t.Error("a digest mismatch was not logged")
	}
}

// The timeout is one of idleness: an upload that takes longer than the
// idle timeout in all but never pauses that long succeeds; one that stalls
// gets 408 and stores nothing.
func TestPutIdleTimeout(t *testing.T) {
	// The gaps between bytes (50 ms) stay far below the idle timeout even
	// on a loaded machine; the uploads as a whole (36 gaps) last longer.
	const idle, gap, gaps = time.Second, 50 * time.Millisecond, 36
	if gaps*gap <= idle { // by construction, not by a clock
		t.Fatal("the slow uploads must last longer than the idle timeout, or the test proves nothing")
	}
	fs := newFileServer(t, func(d *Deps) { d.IdleTimeout = idle })
	if got := fs.srv.App().Server().ReadTimeout; got != idle {
		t.Fatalf("ReadTimeout = %v, want the idle timeout %v", got, idle)
	}

	t.Run("slow but steady", func(t *testing.T) {
		// fasthttp reads the first 8 KiB of a Content-Length body before
		// the handler runs, under ReadTimeout; they are sent at once, the
		// rest a byte at a time.
		data := randomData(t, 8<<10+gaps)
		c := fs.dial(t)
		fmt.Fprintf(c, "PUT /api/files/slow.bin HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n", len(data))
		start := time.Now()
		c.Write(data[:8<<10])
		for _, b := range data[8<<10:] {
			time.Sleep(gap)
			c.Write([]byte{b})
		}
		r := readResponse(t, c, "PUT")
		if r.code != http.StatusCreated {
			t.Fatalf("after %v: %d %s", time.Since(start), r.code, r.body)
		}
		fs.stored(t, "slow.bin", data)
	})
	t.Run("slow but steady, chunked", func(t *testing.T) {
		data := randomData(t, gaps)
		c := fs.dial(t)
		fmt.Fprintf(c, "PUT /api/files/slow2.bin HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
		for _, b := range data {
			time.Sleep(gap)
			c.Write(chunk([]byte{b}))
		}
		c.Write([]byte("0\r\n\r\n"))
		if r := readResponse(t, c, "PUT"); r.code != http.StatusCreated {
			t.Fatalf("%d %s", r.code, r.body)
		}
		fs.stored(t, "slow2.bin", data)
	})
	for _, tc := range []struct{ what, head, body string }{
		{"stalled", "Content-Length: 100000", strings.Repeat("x", 20000)},
		{"stalled, chunked", "Transfer-Encoding: chunked", "4e20\r\n" + strings.Repeat("x", 20000) + "\r\n"},
		{"stalled in a chunk header", "Transfer-Encoding: chunked", "10\r\n0123456789abcdef\r\n1"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			c := fs.dial(t)
			fmt.Fprintf(c, "PUT /api/files/stalled HTTP/1.1\r\nHost: test\r\n%s\r\n\r\n%s", tc.head, tc.body)
			r := readResponse(t, c, "PUT") // the client sends nothing more, and keeps the connection open
			if msg := r.errorMessage(t); r.code != http.StatusRequestTimeout || !strings.Contains(msg, "upload idle for more than 1s") {
				t.Fatalf("%d %q", r.code, msg)
			}
			fs.stored(t, "stalled", nil)
		})
	}
}

// formBody builds a multipart form; each part is field, filename, content.
func formBody(t *testing.T, parts ...[3]string) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p[1] != "" {
			// The filename as it is, unescaped (the server must see "a\tb"
			// with its TAB).
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename="%s"`, p[0], p[1]))
			h.Set("Content-Type", "application/octet-stream")
		} else {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, p[0]))
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		pw.Write([]byte(p[2]))
	}
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

func TestUploadMultipart(t *testing.T) {
	// fasthttp spools a multipart file of more than 16 MiB into
	// $TMPDIR/multipart-*; the handler must not let it.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	fs := newFileServer(t, func(d *Deps) { d.MaxFileSize = 32 << 20 })
	big := string(randomData(t, 17<<20))

	t.Run("one file", func(t *testing.T) {
		body, ct := formBody(t, [3]string{"file", "big.bin", big})
		c := fs.dial(t)
		fmt.Fprintf(c, "POST /api/upload HTTP/1.1\r\nHost: test\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
		c.Write(body[:len(body)-100])
		// While the end of the form is still to come, the file is being
		// written to its part in uploads/, and nothing is in TMPDIR.
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Fatalf("the upload is being spooled into TMPDIR: %v", left)
			}
			parts, _ := filepath.Glob(filepath.Join(fs.dir, ".upload-*.part"))
			if len(parts) == 1 {
				if fi, err := os.Stat(parts[0]); err == nil && fi.Size() >= 16<<20 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("the file was not streamed into a part in uploads/")
			}
		}
		if left, _ := os.ReadDir(tmp); len(left) > 0 {
			t.Fatalf("the upload was spooled into TMPDIR: %v", left)
		}
		c.Write(body[len(body)-100:])
		r := readResponse(t, c, "POST")
		if r.code != http.StatusCreated {
			t.Fatalf("%d %s", r.code, r.body)
		}
		m := r.json(t)
		file, _ := m["file"].(map[string]any)
		if m["success"] != true || m["message"] == "" || m["file_name"] != "big.bin" || m["file_size"] != float64(len(big)) ||
			m["sha256"] != sha([]byte(big)) || file["name"] != "big.bin" || file["sha256"] != sha([]byte(big)) {
			t.Fatalf("answer %s", r.body)
		}
		fs.stored(t, "big.bin", []byte(big))
	})
	t.Run("chunked", func(t *testing.T) {
		body, ct := formBody(t, [3]string{"file", "chunked.bin", big[:3<<20]})
		c := fs.dial(t)
		fmt.Fprintf(c, "POST /api/upload HTTP/1.1\r\nHost: test\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n", ct)
		for off := 0; off < len(body); off += 100000 {
			c.Write(chunk(body[off:min(off+100000, len(body))]))
		}
		c.Write([]byte("0\r\n\r\n"))
		if r := readResponse(t, c, "POST"); r.code != http.StatusCreated {
			t.Fatalf("%d %s", r.code, r.body)
		}
		fs.stored(t, "chunked.bin", []byte(big[:3<<20]))
	})
	for _, tc := range []struct {
		what  string
		parts [][3]string
		msg   string
	}{
		{"two files", [][3]string{{"file", "one.bin", big[:1<<20]}, {"file", "two.bin", "second"}}, `a second file "two.bin"`},
		{"another field after", [][3]string{{"file", "one.bin", "x"}, {"note", "", "hello"}}, `form field "note"`},
		{"another field before", [][3]string{{"note", "", "hello"}, {"file", "one.bin", "x"}}, `unexpected form field "note"`},
		// Refused at its first part, the body is still read (up to a
		// bound), so that the client, still sending, gets the answer.
		{"another field before, large", [][3]string{{"note", "", big[:4<<20]}, {"file", "one.bin", "x"}}, `unexpected form field "note"`},
		{"no file", [][3]string{}, `"file" is required`},
		{"file without a filename", [][3]string{{"file", "", "x"}}, "no filename"},
		{"parent path", [][3]string{{"file", "../x", "x"}}, `invalid file name "../x"`},
		{"hidden", [][3]string{{"file", ".upload-x.part", "x"}}, `starts with "."`},
		{"control character", [][3]string{{"file", "a\tb", "x"}}, "control character"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			body, ct := formBody(t, tc.parts...)
			r := fs.do(t, "POST", "/api/upload", body, "Content-Type", ct)
			if msg := r.errorMessage(t); r.code != http.StatusBadRequest || !strings.Contains(msg, tc.msg) {
				t.Fatalf("%d %q, want 400 saying %q", r.code, msg, tc.msg)
			}
			for _, name := range []string{"one.bin", "two.bin", "x"} {
				fs.stored(t, name, nil)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		fs.put(t, "t.bin", []byte("old"))
		body, ct := formBody(t, [3]string{"file", "t.bin", big[:2<<20]})
		cut := bytes.LastIndex(body, []byte("\r\n--")) // the closing boundary
		c := fs.dial(t)
		fmt.Fprintf(c, "POST /api/upload HTTP/1.1\r\nHost: test\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
		c.Write(body[:cut])
		c.CloseWrite()
		r := readResponse(t, c, "POST")
		if msg := r.errorMessage(t); r.code != http.StatusBadRequest || !strings.Contains(msg, "upload incomplete") {
			t.Fatalf("%d %q", r.code, msg)
		}
		fs.stored(t, "t.bin", []byte("old"))
	})
	t.Run("not multipart", func(t *testing.T) {
		r := fs.do(t, "POST", "/api/upload", []byte("x"), "Content-Type", "application/octet-stream")
		if r.code != http.StatusUnsupportedMediaType {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})

	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Fatalf("uploads were spooled into TMPDIR: %v", left)
	}
}

// The name rule applies to the URL-decoded name; a refused name is a 400
// that says why, and nothing is written.
func TestPutNameRule(t *testing.T) {
	fs := newFileServer(t, nil)
	for _, tc := range []struct{ path, reason string }{
		{"nl%0Aname", "control character U+000A"},
		{"%FF%FE", "not valid UTF-8"},
		{"evil%E2%80%AEtxt.exe", "formatting character U+202E"},
		{"nul%00name", "control character U+0000"},
		{"tab%09name", "control character U+0009"},
		{"..%2Fx", "path separator '/'"},
		{"a%5Cb", `path separator '\\'`},
		{"%2E%2E", "relative path element"},
		{".hidden", `starts with "."`},
		{"%2Eupload-x.part", `starts with "."`},
		{"%20lead", "starts or ends with a space"},
		{"bad%ZZescape", "file name"},
		{strings.Repeat("a", 256), "256 bytes long"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := fs.do(t, "PUT", "/api/files/"+tc.path, []byte("data"))
			if msg := r.errorMessage(t); r.code != http.StatusBadRequest || !strings.Contains(msg, tc.reason) {
				t.Fatalf("%d %q, want 400 saying %q", r.code, msg, tc.reason)
			}
			if r := fs.do(t, "GET", "/api/files/"+tc.path, nil); r.code != http.StatusBadRequest {
				t.Fatalf("GET: %d %s", r.code, r.body)
			}
		})
	}
	if entries, _ := os.ReadDir(fs.dir); len(entries) > 0 {
		t.Fatalf("written: %v", entries)
	}
	fs.put(t, "%C3%BCml%C3%A4ut%20ok.txt", []byte("ok"))
	fs.stored(t, "ümläut ok.txt", []byte("ok"))
}

func TestGetFile(t *testing.T) {
	fs := newFileServer(t, nil)
	data := randomData(t, 1000)
	fs.put(t, "g.bin", data)
	m, err := fs.files.Stat("g.bin")
	if err != nil {
		t.Fatal(err)
	}
	etag := `"` + sha(data) + `"`
	lastMod := m.Modified.Format(http.TimeFormat)

	r := fs.do(t, "GET", "/api/files/g.bin", nil)
	if r.code != 200 || !bytes.Equal(r.body, data) {
		t.Fatalf("GET: %d, %d bytes", r.code, len(r.body))
	}
	sum := sha256.Sum256(data)
	for k, want := range map[string]string{
		"Content-Length": "1000", "Content-Type": "application/octet-stream", "ETag": etag, "Last-Modified": lastMod,
		"Accept-Ranges": "bytes", "Repr-Digest": "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}

	r = fs.do(t, "HEAD", "/api/files/g.bin", nil)
	if r.code != 200 || len(r.body) != 0 || r.header.Get("Content-Length") != "1000" || r.header.Get("ETag") != etag {
		t.Fatalf("HEAD: %d %v, %d bytes", r.code, r.header, len(r.body))
	}

	for _, tc := range []struct {
		what   string
		header []string
		code   int
		from   int
		to     int // inclusive; -1: no body
		crange string
	}{
		{"range", []string{"Range", "bytes=0-9"}, 206, 0, 9, "bytes 0-9/1000"},
		{"open range", []string{"Range", "bytes=990-"}, 206, 990, 999, "bytes 990-999/1000"},
		{"suffix", []string{"Range", "bytes=-5"}, 206, 995, 999, "bytes 995-999/1000"},
		{"end beyond the file", []string{"Range", "bytes=500-5000"}, 206, 500, 999, "bytes 500-999/1000"},
		{"unit in capitals", []string{"Range", "BYTES=1-1"}, 206, 1, 1, "bytes 1-1/1000"},
		{"unsatisfiable", []string{"Range", "bytes=1000-"}, 416, 0, -1, "bytes */1000"},
		{"zero suffix", []string{"Range", "bytes=-0"}, 416, 0, -1, "bytes */1000"},
		{"several ranges", []string{"Range", "bytes=0-1,5-6"}, 200, 0, 999, ""},
		{"other unit", []string{"Range", "items=0-1"}, 200, 0, 999, ""},
		{"invalid", []string{"Range", "bytes=9-1"}, 200, 0, 999, ""},
		{"If-Range matches", []string{"Range", "bytes=0-9", "If-Range", etag}, 206, 0, 9, "bytes 0-9/1000"},
		{"If-Range by date", []string{"Range", "bytes=0-9", "If-Range", lastMod}, 206, 0, 9, "bytes 0-9/1000"},
		{"If-Range differs", []string{"Range", "bytes=0-9", "If-Range", `"other"`}, 200, 0, 999, ""},
		{"If-Range weak", []string{"Range", "bytes=0-9", "If-Range", "W/" + etag}, 200, 0, 999, ""},
		{"If-None-Match", []string{"If-None-Match", etag}, 304, 0, -1, ""},
		{"If-None-Match list, weak", []string{"If-None-Match", `"x", W/` + etag}, 304, 0, -1, ""},
		{"If-None-Match *", []string{"If-None-Match", "*"}, 304, 0, -1, ""},
		{"If-None-Match other", []string{"If-None-Match", `"other"`, "If-Modified-Since", lastMod}, 200, 0, 999, ""},
		{"If-Modified-Since", []string{"If-Modified-Since", lastMod}, 304, 0, -1, ""},
		{"If-Modified-Since earlier", []string{"If-Modified-Since", m.Modified.Add(-time.Hour).Format(http.TimeFormat)}, 200, 0, 999, ""},
	} {
		t.Run(tc.what, func(t *testing.T) {
			r := fs.do(t, "GET", "/api/files/g.bin", nil, tc.header...)
			if r.code != tc.code {
				t.Fatalf("%d %s, want %d", r.code, r.body, tc.code)
			}
			if got := r.header.Get("Content-Range"); got != tc.crange {
				t.Errorf("Content-Range %q, want %q", got, tc.crange)
			}
			if tc.to >= 0 && !bytes.Equal(r.body, data[tc.from:tc.to+1]) {
				t.Errorf("body of %d bytes, want bytes %d-%d", len(r.body), tc.from, tc.to)
			}
			if tc.code == 304 && len(r.body) != 0 {
				t.Errorf("304 with a body: %q", r.body)
			}
		})
	}

	fs.put(t, "empty", []byte{})
	if r := fs.do(t, "GET", "/api/files/empty", nil, "Range", "bytes=0-"); r.code != 416 || r.header.Get("Content-Range") != "bytes */0" {
		t.Fatalf("range of an empty file: %d %v", r.code, r.header)
	}
	if r := fs.do(t, "GET", "/api/files/empty", nil); r.code != 200 || len(r.body) != 0 || r.header.Get("Content-Length") != "0" {
		t.Fatalf("empty file: %d %v", r.code, r.header)
	}
}

// A symbolic link planted in uploads/ is neither listed nor served, and
// deleting it removes only the link.
func TestSymlinkInUploads(t *testing.T) {
	fs := newFileServer(t, nil)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(fs.dir, "link")); err != nil {
		t.Fatal(err)
	}
	fs.put(t, "real", []byte("real"))

	r := fs.do(t, "GET", "/api/files", nil)
	if m := r.json(t); m["count"] != float64(1) {
		t.Fatalf("listed %s", r.body)
	}
	for _, method := range []string{"GET", "HEAD"} {
		r = fs.do(t, method, "/api/files/link", nil)
		if r.code != http.StatusNotFound || bytes.Contains(r.body, []byte("outside")) {
			t.Fatalf("%s link: %d %s", method, r.code, r.body)
		}
	}
	if msg := fs.do(t, "GET", "/api/files/link", nil).errorMessage(t); !strings.Contains(msg, "symbolic link") {
		t.Fatalf("message %q", msg)
	}
	if r = fs.do(t, "DELETE", "/api/files/link", nil); r.code != 200 {
		t.Fatalf("DELETE link: %d %s", r.code, r.body)
	}
	if got, err := os.ReadFile(secret); err != nil || string(got) != "outside" {
		t.Fatalf("the link's target: %q %v", got, err)
	}
	if _, err := os.Lstat(filepath.Join(fs.dir, "link")); !os.IsNotExist(err) {
		t.Fatal("the link is still there")
	}
}

func TestFilesWithoutAStore(t *testing.T) {
	fs := newFileServer(t, func(d *Deps) { d.Files = nil })
	for _, req := range [][2]string{{"GET", "/api/files"}, {"GET", "/api/files/x"}, {"PUT", "/api/files/x"}, {"DELETE", "/api/files/x"}, {"POST", "/api/upload"}} {
		var body []byte
		if req[0] == "PUT" || req[0] == "POST" {
			body = []byte("x")
		}
		if r := fs.do(t, req[0], req[1], body); r.code != http.StatusServiceUnavailable {
			t.Errorf("%s %s: %d %s", req[0], req[1], r.code, r.body)
		}
	}
}
