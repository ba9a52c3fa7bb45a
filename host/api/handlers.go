package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/registry"
	"github.com/castray/castray/host/transfer"
)

func strictUnmarshal(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// StatusReport is GET /api/status: the original's fields, counting local
// and external nodes alike.
type StatusReport struct {
	TotalNodes    int            `json:"total_nodes"`
	ActiveNodes   int            `json:"active_nodes"`
	NodeStatuses  []NodeStatus   `json:"node_statuses"`
	RayCluster    RayCluster     `json:"ray_cluster"`
	NodePorts     map[string]int `json:"node_ports"`
	Plugins       PluginCounts   `json:"plugins"`
	Version       string         `json:"version"`
	UptimeSeconds float64        `json:"uptime_seconds"`
}

// NodeStatus is one entry of node_statuses.
type NodeStatus struct {
	NodeID    string             `json:"node_id"`
	IsRunning bool               `json:"is_running"`
	NodeType  string             `json:"node_type"` // "local" or "external", as in the original
	Kind      registry.Kind      `json:"kind"`
	State     registry.State     `json:"state"`
	Address   string             `json:"address,omitempty"`
	Port      int                `json:"port,omitempty"`
	ClusterID string             `json:"cluster_id,omitempty"`
	Resources map[string]float64 `json:"resources,omitempty"`
	LastSeen  time.Time          `json:"last_seen"`
}

// RayCluster summarises the Ray resources CastRay sees (external clusters).
type RayCluster struct {
	Connected          bool               `json:"connected"`
	ClusterResources   map[string]float64 `json:"cluster_resources"`
	AvailableResources map[string]float64 `json:"available_resources"`
	Nodes              int                `json:"nodes"`
}

// PluginCounts summarises plugin health.
type PluginCounts struct {
	Total   int `json:"total"`
	Healthy int `json:"healthy"`
}

// Status builds the status report (also pushed as status_update).
func (s *Server) Status() StatusReport {
	nodes := s.d.Registry.List(registry.Filter{})
	rep := StatusReport{
		NodeStatuses: make([]NodeStatus, 0, len(nodes)),
		NodePorts:    map[string]int{},
		RayCluster:   RayCluster{ClusterResources: map[string]float64{}, AvailableResources: map[string]float64{}},
		Version:      s.d.Version,
	}
	if !s.d.Started.IsZero() {
		rep.UptimeSeconds = time.Since(s.d.Started).Seconds()
	}
	for _, n := range nodes {
		rep.TotalNodes++
		running := n.State == registry.StateActive
		if running {
			rep.ActiveNodes++
		}
		typ := "local"
		if n.Kind != registry.KindLocal {
			typ = "external"
		}
		rep.NodeStatuses = append(rep.NodeStatuses, NodeStatus{
			NodeID: n.ID, IsRunning: running, NodeType: typ, Kind: n.Kind, State: n.State, Address: n.Address,
			Port: n.Port, ClusterID: n.ClusterID, Resources: n.Resources, LastSeen: n.LastSeen,
		})
		if n.Port != 0 {
			rep.NodePorts[n.ID] = n.Port
		}
		if n.Kind == registry.KindRayNode && running {
			rep.RayCluster.Connected = true
			rep.RayCluster.Nodes++
			for k, v := range n.Resources {
				rep.RayCluster.ClusterResources[k] += v
			}
			for k, v := range n.Available {
				rep.RayCluster.AvailableResources[k] += v
			}
		}
	}
	for _, p := range s.d.Plugins.List() {
		rep.Plugins.Total++
		if p.State == "healthy" {
			rep.Plugins.Healthy++
		}
	}
	return rep
}

func (s *Server) status(c *fiber.Ctx) error { return c.JSON(s.Status()) }

func (s *Server) listNodes(c *fiber.Ctx) error {
	f := registry.Filter{Kind: registry.Kind(c.Query("kind")), ClusterID: c.Query("cluster"), State: registry.State(c.Query("state"))}
	nodes := s.d.Registry.List(f)
	return c.JSON(fiber.Map{"success": true, "nodes": nodes, "count": len(nodes)})
}

type createNodeRequest struct {
	NodeID string `json:"node_id"`
	Port   int    `json:"port"`
}

func (s *Server) createNode(c *fiber.Ctx) error {
	var req createNodeRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.NodeID == "" {
		return fiber.NewError(fiber.StatusBadRequest, "node_id is required")
	}
	if req.NodeID == "external" {
		return fiber.NewError(fiber.StatusBadRequest, `node_id "external" is reserved (GET /api/nodes/external lists external nodes)`)
	}
	if req.Port < 0 || req.Port > 65535 {
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("port must be between 0 and 65535, got %d", req.Port))
	}
	n, err := s.d.Registry.AddLocal(req.NodeID, req.Port, s.d.InboxRoot)
	switch {
	case errors.Is(err, registry.ErrInvalidID):
		return fiber.NewError(fiber.StatusBadRequest, err.Error())
	case errors.Is(err, registry.ErrExists):
		return fiber.NewError(fiber.StatusConflict, err.Error())
	case err != nil:
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"success": true, "message": fmt.Sprintf("node %s created", n.ID), "node": n})
}

func (s *Server) getNode(c *fiber.Ctx) error {
	n, ok := s.d.Registry.Get(c.Params("id"))
	if !ok {
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("node %q not found", c.Params("id")))
	}
	return c.JSON(fiber.Map{"success": true, "node": n})
}

func (s *Server) deleteNode(c *fiber.Ctx) error {
	n, err := s.d.Registry.Remove(c.Params("id"))
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("node %q not found", c.Params("id")))
	case errors.Is(err, registry.ErrNotLocal):
		return fiber.NewError(fiber.StatusConflict, fmt.Sprintf("node %q belongs to an external cluster; disconnect the cluster instead", c.Params("id")))
	case err != nil:
		return err
	}
	return c.JSON(fiber.Map{"success": true, "message": fmt.Sprintf("node %s removed (its inbox %s is kept)", n.ID, n.InboxDir)})
}

// FileInfo describes an uploaded file.
type FileInfo struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
}

func (s *Server) listFiles(c *fiber.Ctx) error {
	entries, err := os.ReadDir(s.d.UploadsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("list uploads: %w", err)
	}
	files := []FileInfo{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		if info, err := e.Info(); err == nil {
			files = append(files, FileInfo{Name: e.Name(), Size: info.Size(), Modified: info.ModTime().UTC()})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	return c.JSON(fiber.Map{"success": true, "files": files, "count": len(files)})
}

// checkFileName accepts a plain, visible file name.
func checkFileName(name string) error {
	switch {
	case name == "":
		return fiber.NewError(fiber.StatusBadRequest, "a file name is required")
	case len(name) > 255:
		return fiber.NewError(fiber.StatusBadRequest, "file name longer than 255 bytes")
	case strings.ContainsAny(name, "/\\\x00") || name != filepath.Base(name):
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("file name %q must not contain path separators", name))
	case strings.HasPrefix(name, "."):
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("file name %q must not start with a dot", name))
	}
	return nil
}

// saveUpload streams r into the uploads folder under name: first into a
// hidden temporary file, renamed only when complete and within the size
// limit, so a partial upload never appears under its name.
func (s *Server) saveUpload(name string, r io.Reader) (FileInfo, error) {
	if err := checkFileName(name); err != nil {
		return FileInfo{}, err
	}
	if err := os.MkdirAll(s.d.UploadsDir, 0o750); err != nil {
		return FileInfo{}, fmt.Errorf("uploads folder: %w", err)
	}
	tmp, err := os.CreateTemp(s.d.UploadsDir, ".upload-*.part")
	if err != nil {
		return FileInfo{}, fmt.Errorf("upload: %w", err)
	}
	defer func() {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name()) // no-op after a successful rename
	}()
	n, err := io.Copy(tmp, io.LimitReader(r, s.d.MaxFileSize+1))
	if err != nil {
		return FileInfo{}, fiber.NewError(fiber.StatusBadRequest, "upload interrupted: "+err.Error())
	}
	if n > s.d.MaxFileSize {
		return FileInfo{}, fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("file exceeds file_transfer.max_file_size (%d bytes)", s.d.MaxFileSize))
	}
	if err := tmp.Sync(); err != nil {
		return FileInfo{}, fmt.Errorf("upload: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return FileInfo{}, fmt.Errorf("upload: %w", err)
	}
	final := filepath.Join(s.d.UploadsDir, name)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return FileInfo{}, fmt.Errorf("upload: %w", err)
	}
	return FileInfo{Name: name, Size: n, Modified: time.Now().UTC()}, nil
}

// putFile stores the raw request body as an uploaded file.
func (s *Server) putFile(c *fiber.Ctx) error {
	if n := c.Request().Header.ContentLength(); int64(n) > s.d.MaxFileSize {
		return fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("file exceeds file_transfer.max_file_size (%d bytes)", s.d.MaxFileSize))
	}
	// Stream the body to disk; c.Body() would buffer the whole file in
	// memory (and must not be called before the stream is taken).
	var body io.Reader
	if stream := c.Context().RequestBodyStream(); stream != nil {
		body = stream
	} else {
		body = bytes.NewReader(c.Body())
	}
	name, err := url.PathUnescape(c.Params("name"))
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "file name: "+err.Error())
	}
	info, err := s.saveUpload(name, body)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"success": true, "file": info})
}

// uploadMultipart is the original's POST /api/upload (form field "file").
func (s *Server) uploadMultipart(c *fiber.Ctx) error {
	fh, err := c.FormFile("file")
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "multipart form field \"file\" is required: "+err.Error())
	}
	if fh.Size > s.d.MaxFileSize {
		return fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("file exceeds file_transfer.max_file_size (%d bytes)", s.d.MaxFileSize))
	}
	f, err := fh.Open()
	if err != nil {
		return fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	info, err := s.saveUpload(filepath.Base(fh.Filename), f)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"success": true, "message": "file uploaded", "file": info, "file_name": info.Name, "file_size": info.Size})
}

func (s *Server) startTransfer(c *fiber.Ctx) error {
	var req transfer.Request
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	rec, err := s.d.Transfers.Start(req)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"success": true, "transfer": rec})
}

func (s *Server) getTransfer(c *fiber.Ctx) error {
	rec, err := s.d.Transfers.Get(c.Params("id"))
	if errors.Is(err, transfer.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("transfer %q not found", c.Params("id")))
	}
	return c.JSON(fiber.Map{"success": true, "transfer": rec})
}

func (s *Server) cancelTransfer(c *fiber.Ctx) error {
	err := s.d.Transfers.Cancel(c.Params("id"))
	var re *transfer.RequestError
	switch {
	case errors.Is(err, transfer.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("transfer %q not found", c.Params("id")))
	case errors.As(err, &re):
		return fiber.NewError(fiber.StatusConflict, re.Msg)
	case err != nil:
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"success": true, "message": "cancelling"})
}
