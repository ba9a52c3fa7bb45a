//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// plainServer is the upload baseline: an HTTP server in the bench process
// that writes a PUT body to a file, nothing else. PUT /fsync/NAME creates
// dir/NAME, copies the body with a 1 MiB buffer, fsyncs, closes and answers
// 201 (the durability CastRay gives an upload); PUT /nofsync/NAME is the
// same without the fsync.
type plainServer struct {
	dir string
	url string
	srv *http.Server
}

func startPlainServer(dir string) (*plainServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &plainServer{dir: dir, url: "http://" + ln.Addr().String()}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.put), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *plainServer) close() { _ = p.srv.Close() }

func (p *plainServer) put(w http.ResponseWriter, r *http.Request) {
	mode, name := path.Split(r.URL.Path)
	if r.Method != http.MethodPut || (mode != "/fsync/" && mode != "/nofsync/") || name == "" || name == "." || name == ".." {
		http.Error(w, "PUT /fsync/NAME or /nofsync/NAME", http.StatusNotFound)
		return
	}
	err := func() error {
		f, err := os.Create(filepath.Join(p.dir, name))
		if err != nil {
			return err
		}
		defer f.Close()
		// The struct hides os.File's ReadFrom, which would ignore the buffer
		// and copy 32 KiB at a time.
		if _, err := io.CopyBuffer(struct{ io.Writer }{f}, r.Body, make([]byte, 1<<20)); err != nil {
			return err
		}
		if mode == "/fsync/" {
			if err := f.Sync(); err != nil {
				return err
			}
		}
		return f.Close()
	}()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// putFile uploads file to url with PUT and returns the time, the status and
// the body of the answer: through `curl -sS -T FILE URL` when curl is set
// (the same command for CastRay and the baseline), else with Go's client.
func putFile(ctx context.Context, curl string, client *http.Client, file, url string, size int64) (time.Duration, int, []byte, error) {
	if curl == "" {
		return goPut(ctx, client, file, url, size)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, curl, "-sS", "-T", file, "-w", "\n%{http_code}", url)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("curl -T %s %s: %v %s", file, url, err, bytes.TrimSpace(stderr.Bytes()))
	}
	out := stdout.Bytes()
	i := bytes.LastIndexByte(out, '\n')
	if i < 0 {
		return 0, 0, nil, fmt.Errorf("curl -T %s %s: no status in %q", file, url, out)
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(out[i+1:])))
	if err != nil {
		return 0, 0, nil, fmt.Errorf("curl -T %s %s: status %q: %w", file, url, out[i+1:], err)
	}
	return took, code, out[:i], nil
}

func goPut(ctx context.Context, client *http.Client, file, url string, size int64) (time.Duration, int, []byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, 0, nil, err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, f)
	if err != nil {
		return 0, 0, nil, err
	}
	req.ContentLength = size
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("PUT %s: %w", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("PUT %s: %w", url, err)
	}
	return took, resp.StatusCode, body, nil
}

// uploadCastRay PUTs file to the daemon as name and checks the answer: 201,
// the size, and the SHA-256 the daemon computed on the way equal to sum.
func uploadCastRay(ctx context.Context, curl string, d *daemon, file, name string, size int64, sum string) (time.Duration, error) {
	took, code, body, err := putFile(ctx, curl, d.client, file, d.url+"/api/files/"+name, size)
	if err != nil {
		return 0, err
	}
	var resp struct {
		File struct {
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		} `json:"file"`
	}
	if code != http.StatusCreated {
		return 0, fmt.Errorf("upload: status %d: %s", code, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return 0, fmt.Errorf("upload: decode %q: %w", body, err)
	}
	var problems []error
	if resp.File.Size != size {
		problems = append(problems, fmt.Errorf("stored %d bytes of %d", resp.File.Size, size))
	}
	if !strings.EqualFold(resp.File.SHA256, sum) {
		problems = append(problems, fmt.Errorf("answered sha256 %q, the file's is %s", resp.File.SHA256, sum))
	}
	if err := errors.Join(problems...); err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	return took, nil
}

// uploadPlain PUTs file to the plain server (fsync'd or not) as name and
// checks the status and the size written.
func uploadPlain(ctx context.Context, curl string, client *http.Client, p *plainServer, file, name string, size int64, fsync bool) (time.Duration, error) {
	mode := "/nofsync/"
	if fsync {
		mode = "/fsync/"
	}
	took, code, body, err := putFile(ctx, curl, client, file, p.url+mode+name, size)
	if err != nil {
		return 0, err
	}
	if code != http.StatusCreated {
		return 0, fmt.Errorf("plain server: status %d: %s", code, bytes.TrimSpace(body))
	}
	st, err := os.Stat(filepath.Join(p.dir, name))
	if err != nil {
		return 0, err
	}
	if st.Size() != size {
		return 0, fmt.Errorf("plain server: wrote %d bytes of %d", st.Size(), size)
	}
	return took, nil
}
