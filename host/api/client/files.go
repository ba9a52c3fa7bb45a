package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
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
