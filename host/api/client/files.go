package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// FileInfo is an uploaded file.
type FileInfo struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	Modified time.Time `json:"modified"`
}

// FileList is GET /api/files.
type FileList struct {
	Envelope
	Files []FileInfo `json:"files"`
	Count int        `json:"count"`
}

// FileUploadResponse is the answer of PUT /api/files/{name}.
type FileUploadResponse struct {
	Envelope
	File FileInfo `json:"file"`
}

// Files lists the uploaded files.
func (c *Client) Files(ctx context.Context) (*FileList, error) {
	return call[FileList](ctx, c, http.MethodGet, "/api/files", nil)
}

// DeleteFile deletes an uploaded file (409 while a transfer sends it or a
// distribution names it).
func (c *Client) DeleteFile(ctx context.Context, name string) (*Message, error) {
	return call[Message](ctx, c, http.MethodDelete, "/api/files/"+esc(name), nil)
}

// UploadOptions are the optional parts of an upload.
type UploadOptions struct {
	// SHA256 (hex) is sent as X-Content-SHA256: the daemon stores the file
	// only if the bytes match.
	SHA256 string
	// Progress, when set, is called as bytes are handed to the connection,
	// with the bytes sent so far and the size.
	Progress func(sent, total int64)
}

// Upload streams size bytes from r to the daemon as the uploaded file name
// (PUT /api/files/{name}, raw body). The daemon stores it only when all size
// bytes arrived (and match SHA256 when given).
func (c *Client) Upload(ctx context.Context, name string, r io.Reader, size int64, o UploadOptions) (*FileUploadResponse, error) {
	if size < 0 {
		return nil, fmt.Errorf("upload %s: negative size %d", name, size)
	}
	body := io.Reader(&progressReader{r: io.LimitReader(r, size), total: size, fn: o.Progress})
	if size == 0 {
		body = http.NoBody
	}
	req, err := c.request(ctx, http.MethodPut, "/api/files/"+esc(name), body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if o.SHA256 != "" {
		req.Header.Set("X-Content-SHA256", o.SHA256)
	}
	out := new(FileUploadResponse)
	if err := c.send(req, out); err != nil {
		return nil, fmt.Errorf("upload %s: %w", name, err)
	}
	if o.Progress != nil && size == 0 {
		o.Progress(0, 0)
	}
	return out, nil
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r     io.Reader
	sent  int64
	total int64
	fn    func(sent, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.sent += int64(n)
		if p.fn != nil {
			p.fn(p.sent, p.total)
		}
	}
	return n, err
}

// Download is what a download received: the file's name, size and SHA-256
// (computed from the bytes, and checked against the daemon's ETag).
type Download struct {
	Name     string
	Size     int64
	SHA256   string
	Modified time.Time // from Last-Modified; zero when absent
}

// DownloadOptions are the optional parts of a download.
type DownloadOptions struct {
	// Progress, when set, is called as bytes are written, with the bytes
	// so far and the size (-1 when the daemon did not say).
	Progress func(done, total int64)
}

// Download streams the uploaded file name (GET /api/files/{name}) into w.
// It fails when fewer bytes arrive than announced or when their SHA-256
// differs from the daemon's ETag; w may then hold a part of the file.
func (c *Client) Download(ctx context.Context, name string, w io.Writer, o DownloadOptions) (*Download, error) {
	return c.download(ctx, "/api/files/"+esc(name), name, w, o)
}

// DownloadNodeFile streams a file of a local node's inbox
// (GET /api/nodes/{id}/files/{name}) into w, as Download does.
func (c *Client) DownloadNodeFile(ctx context.Context, nodeID, name string, w io.Writer, o DownloadOptions) (*Download, error) {
	return c.download(ctx, "/api/nodes/"+esc(nodeID)+"/files/"+esc(name), name, w, o)
}

func (c *Client) download(ctx context.Context, path, name string, w io.Writer, o DownloadOptions) (*Download, error) {
	req, err := c.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: is the daemon running at %s? %w", req.URL.Path, c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxReply))
		return nil, apiError(http.MethodGet, req.URL.Path, resp.StatusCode, raw)
	}
	h := sha256.New()
	total := resp.ContentLength
	pw := &progressWriter{w: io.MultiWriter(w, h), total: total, fn: o.Progress}
	n, err := io.Copy(pw, resp.Body)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", name, err)
	}
	if total >= 0 && n != total {
		return nil, fmt.Errorf("download %s: got %d of %d bytes", name, n, total)
	}
	if o.Progress != nil && n == 0 {
		o.Progress(0, 0)
	}
	d := &Download{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	if etag := strings.Trim(strings.TrimPrefix(resp.Header.Get("ETag"), "W/"), `"`); len(etag) == 64 && !strings.EqualFold(etag, d.SHA256) {
		return nil, fmt.Errorf("download %s: the bytes' SHA-256 %s differs from the daemon's %s", name, d.SHA256, etag)
	}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		d.Modified = t
	}
	return d, nil
}

// progressWriter reports the bytes written through it.
type progressWriter struct {
	w     io.Writer
	done  int64
	total int64
	fn    func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if n > 0 {
		p.done += int64(n)
		if p.fn != nil {
			p.fn(p.done, p.total)
		}
	}
	return n, err
}
