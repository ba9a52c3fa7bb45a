package api

// The original CastRay's file generator, under /api/file-generator/: test
// files of a chosen size and content (host/filegen), streamed into the
// upload store, so that a generated file is an ordinary upload that every
// transfer can send (and GET/DELETE /api/files see).
//
// A generated file is marked by its name: it starts with "sample_" (made by
// size), "preset_" (by preset) or "transfer_" (by create-and-transfer), the
// original's prefixes. A client's own file_name without one of them gets
// the prefix of the endpoint; GET and DELETE /api/file-generator/files see
// only generated files.
//
// Unlike the original, no metadata header is written into the file (the
// file has exactly the requested size; its SHA-256 is in the store),
// include_metadata is accepted and ignored, an unknown content type is
// refused rather than taken for text, an existing file is never replaced
// (409), and the size is bounded by the lower of the original's 1 GiB and
// file_transfer.max_file_size (413).

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/castray/castray/host/filegen"
	"github.com/castray/castray/host/files"
	"github.com/castray/castray/host/transfer"
)

// genTimeLayout is the original's created_time format.
const genTimeLayout = "2006-01-02 15:04:05"

// genLimit is the largest file the generator makes.
func (s *Server) genLimit() int64 {
	if s.d.MaxFileSize > 0 && s.d.MaxFileSize < filegen.MaxSize {
		return s.d.MaxFileSize
	}
	return filegen.MaxSize
}

// genPresets is GET /api/file-generator/presets.
func (s *Server) genPresets(c *fiber.Ctx) error {
	presets := fiber.Map{}
	for _, p := range filegen.Presets {
		presets[p.Name] = fiber.Map{
			"size_bytes": p.Size, "size_formatted": filegen.FormatSize(p.Size),
			"description": fmt.Sprintf("preset %s file (%s)", p.Name, filegen.FormatSize(p.Size)),
			// available is false for a preset above the size limit.
			"available": p.Size <= s.genLimit(),
		}
	}
	return c.JSON(fiber.Map{"success": true, "presets": presets, "content_types": filegen.ContentTypes})
}

// genInfo is GET /api/file-generator/info: the limits and what is accepted.
func (s *Server) genInfo(c *fiber.Ctx) error {
	limit := s.genLimit()
	return c.JSON(fiber.Map{
		"success": true, "max_file_size": limit, "max_file_size_formatted": filegen.FormatSize(limit),
		"supported_units": filegen.Units, "content_types": filegen.ContentTypes,
		"examples":        []string{"100B - 100 bytes", "1KB - 1024 bytes", "1.5MB - 1.5 MiB", "1GB - 1 GiB"},
		"default_pattern": filegen.DefaultPattern, "max_pattern_bytes": filegen.MaxPattern,
		"name_prefixes": filegen.Prefixes,
	})
}

// genRequest is the body of create, create-preset and create-and-transfer
// (each takes its own fields: see genFields).
type genRequest struct {
	Size            *string `json:"size"`
	Preset          *string `json:"preset"`
	ContentType     string  `json:"content_type"`
	Pattern         string  `json:"pattern"`
	FileName        string  `json:"file_name"`
	Name            string  `json:"name"` // file_name's other spelling
	IncludeMetadata *bool   `json:"include_metadata"`
	// create-and-transfer only.
	SenderID   string   `json:"sender_id"`
	CastType   string   `json:"cast_type"`
	Recipients []string `json:"recipients"`
	GroupID    string   `json:"group_id"`
}

// genPlan is a checked request: what to generate, under which name.
type genPlan struct {
	name, kind, pattern, preset string
	size                        int64
}

// genFileInfo is the original's file_info, with sha256 in place of its MD5.
type genFileInfo struct {
	FilePath         string `json:"file_path"`
	FileName         string `json:"file_name"`
	RequestedSize    int64  `json:"requested_size"`
	ActualSize       int64  `json:"actual_size"`
	ContentType      string `json:"content_type"`
	SHA256           string `json:"sha256"`
	Created          bool   `json:"created"`
	IncludesMetadata bool   `json:"includes_metadata"`
	PresetName       string `json:"preset_name,omitempty"`
	DownloadURL      string `json:"download_url"`
	SizeFormatted    string `json:"size_formatted"`
	CreatedTime      string `json:"created_time"`
}

// genPlanOf checks a request for an endpoint whose files get prefix: the
// size (or preset), content, pattern and name. Nothing is created.
func (s *Server) genPlanOf(req genRequest, prefix string) (genPlan, error) {
	p := genPlan{kind: req.ContentType, pattern: req.Pattern}
	if p.kind == "" {
		p.kind = filegen.Text // the original's default
	}
	switch {
	case prefix == filegen.PrefixPreset:
		name := "medium" // the original's default
		if req.Preset != nil {
			name = *req.Preset
		}
		pr, err := filegen.LookupPreset(name)
		if err != nil {
			return p, fiber.NewError(fiber.StatusBadRequest, err.Error())
		}
		p.preset, p.size = pr.Name, pr.Size
	default:
		raw := "1KB" // the original's default
		if req.Size != nil {
			raw = *req.Size
		}
		n, err := filegen.ParseSize(raw)
		if err != nil {
			return p, fiber.NewError(fiber.StatusBadRequest, err.Error())
		}
		p.size = n
	}
	if limit := s.genLimit(); p.size > limit {
		what := "size " + strings.TrimSpace(derefOr(req.Size, ""))
		if p.preset != "" {
			what = "preset " + p.preset
		}
		return p, fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf(
			"%s is %d bytes; generated files are limited to %d bytes (%s), the lower of the generator's 1 GiB and file_transfer.max_file_size",
			what, p.size, limit, filegen.FormatSize(limit)))
	}
	// New checks the content type and the pattern (it makes nothing yet).
	if _, err := filegen.New(p.kind, 0, p.pattern); err != nil {
		return p, fiber.NewError(fiber.StatusBadRequest, err.Error())
	}

	name := req.FileName
	switch {
	case req.Name != "" && req.FileName != "" && req.Name != req.FileName:
		return p, fiber.NewError(fiber.StatusBadRequest, "give file_name or name, not both")
	case name == "":
		name = req.Name
	}
	if name == "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		size := strings.NewReplacer(" ", "", ".", "_").Replace(filegen.FormatSize(p.size))
		mid := size + "_" + p.kind
		if p.preset != "" {
			mid = p.preset + "_" + mid
		}
		name = fmt.Sprintf("%s%s_%d_%s%s", prefix, mid, time.Now().Unix(), hex.EncodeToString(b[:]), filegen.Extension(p.kind))
	} else if !filegen.IsGenerated(name) {
		name = prefix + name
	}
	if err := files.CheckName(name); err != nil {
		return p, fiber.NewError(fiber.StatusBadRequest, "file_name: "+err.Error())
	}
	p.name = name
	return p, nil
}

func derefOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// genCreate generates the planned file into the store, never replacing a
// file (409).
func (s *Server) genCreate(st *files.Store, p genPlan) (genFileInfo, error) {
	if _, err := st.Stat(p.name); err == nil {
		return genFileInfo{}, fiber.NewError(fiber.StatusConflict, fmt.Sprintf("file %q already exists; choose another file_name or delete it first", p.name))
	} else if !errors.Is(err, files.ErrNotFound) {
		return genFileInfo{}, fmt.Errorf("generate %s: %w", p.name, err)
	}
	r, err := filegen.New(p.kind, p.size, p.pattern)
	if err != nil {
		return genFileInfo{}, fiber.NewError(fiber.StatusBadRequest, err.Error())
	}
	m, err := st.Save(p.name, r, files.SaveOptions{Length: p.size, MaxSize: s.d.MaxFileSize})
	var ne *files.NameError
	switch {
	case errors.As(err, &ne):
		return genFileInfo{}, fiber.NewError(fiber.StatusBadRequest, "file_name: "+err.Error())
	case err != nil:
		return genFileInfo{}, fmt.Errorf("generate %s (%d bytes of %s): %w", p.name, p.size, p.kind, err)
	}
	s.d.Log.Info("file generated", "name", m.Name, "bytes", m.Size, "content_type", p.kind, "sha256", m.SHA256)
	return genFileInfo{
		FilePath: st.Path(m.Name), FileName: m.Name, RequestedSize: p.size, ActualSize: m.Size,
		ContentType: p.kind, SHA256: m.SHA256, Created: true, PresetName: p.preset,
		DownloadURL: "/api/files/" + url.PathEscape(m.Name), SizeFormatted: filegen.FormatSize(m.Size),
		CreatedTime: m.Modified.Local().Format(genTimeLayout),
	}, nil
}

// genDecode reads a request and refuses the fields that belong to the
// other endpoints.
func genDecode(c *fiber.Ctx, prefix string) (genRequest, error) {
	var req genRequest
	if err := decodeJSON(c, &req); err != nil {
		return req, err
	}
	if prefix == filegen.PrefixPreset && req.Size != nil {
		return req, fiber.NewError(fiber.StatusBadRequest, "size: create-preset takes a preset, not a size (use POST /api/file-generator/create)")
	}
	if prefix != filegen.PrefixPreset && req.Preset != nil {
		return req, fiber.NewError(fiber.StatusBadRequest, "preset: use POST /api/file-generator/create-preset")
	}
	if prefix != filegen.PrefixTransfer {
		for field, set := range map[string]bool{"sender_id": req.SenderID != "", "cast_type": req.CastType != "",
			"recipients": req.Recipients != nil, "group_id": req.GroupID != ""} {
			if set {
				return req, fiber.NewError(fiber.StatusBadRequest, field+": only POST /api/file-generator/create-and-transfer sends a file")
			}
		}
	}
	return req, nil
}

// genCreateHandler is POST /api/file-generator/create and create-preset.
func (s *Server) genCreateHandler(prefix string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		st, err := s.fileStore()
		if err != nil {
			return err
		}
		req, err := genDecode(c, prefix)
		if err != nil {
			return err
		}
		p, err := s.genPlanOf(req, prefix)
		if err != nil {
			return err
		}
		info, err := s.genCreate(st, p)
		if err != nil {
			return err
		}
		what := "sample"
		if p.preset != "" {
			what = "preset " + p.preset
		}
		return c.Status(fiber.StatusCreated).JSON(fiber.Map{
			"success": true, "message": fmt.Sprintf("created %s file %s (%s)", what, info.FileName, info.SizeFormatted),
			"file_info": info,
		})
	}
}

// genTransferResult is one recipient in transfer_summary.transfer_results:
// success means the transfer to it was started; state is its state when
// the reply was written.
type genTransferResult struct {
	RecipientID string `json:"recipient_id"`
	Success     bool   `json:"success"`
	State       string `json:"state"`
	Result      string `json:"result"`
}

// genCreateAndTransfer is POST /api/file-generator/create-and-transfer:
// generate a file, then send it through the transfer service like
// POST /api/send (cast_type unicast, multicast or broadcast; recipients or
// group_id). Everything is checked before the file is made; if the
// transfer cannot start, the file is removed again.
func (s *Server) genCreateAndTransfer(c *fiber.Ctx) error {
	st, err := s.fileStore()
	if err != nil {
		return err
	}
	if s.d.Transfers == nil || s.d.Registry == nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "the transfer service is not available")
	}
	req, err := genDecode(c, filegen.PrefixTransfer)
	if err != nil {
		return err
	}
	p, err := s.genPlanOf(req, filegen.PrefixTransfer)
	if err != nil {
		return err
	}
	if req.SenderID != "" {
		if _, ok := s.d.Registry.Get(req.SenderID); !ok {
			return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("sender_id: node %q not found", req.SenderID))
		}
	}
	castType := req.CastType
	switch {
	case castType == "" && len(req.Recipients) == 1:
		castType = "unicast"
	case castType == "" && (len(req.Recipients) > 1 || req.GroupID != ""):
		castType = "multicast"
	case castType == "":
		return fiber.NewError(fiber.StatusBadRequest, "recipients is required (or group_id, or cast_type broadcast)")
	case !slices.Contains(castTypes, castType):
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf("cast_type %q: must be unicast, multicast or broadcast", castType))
	}
	targets, skipped, err := s.castTargets(castType, req.Recipients, req.GroupID)
	if err != nil {
		return err
	}

	info, err := s.genCreate(st, p)
	if err != nil {
		return err
	}
	rec, err := s.d.Transfers.Start(transfer.Request{FileName: info.FileName, Mode: castType, Targets: targets})
	if err != nil {
		if derr := st.Delete(info.FileName); derr != nil {
			s.d.Log.Warn("cannot remove a generated file whose transfer did not start", "name", info.FileName, "error", derr)
		}
		return transferError("", err)
	}
	results := make([]genTransferResult, 0, len(rec.Targets))
	done, failed := 0, 0
	for _, t := range rec.Targets {
		switch t.State {
		case transfer.StateCompleted:
			done++
		case transfer.StatePending, transfer.StateRunning:
		default:
			failed++
		}
		results = append(results, genTransferResult{RecipientID: t.NodeID, Success: true, State: t.State,
			Result: fmt.Sprintf("transfer %s started (%s)", rec.ID, t.Backend)})
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{
		"success": true, "message": fmt.Sprintf("created %s (%s) and started transfer %s to %d node(s)", info.FileName, info.SizeFormatted, rec.ID, len(results)),
		"file_info": info,
		"transfer_summary": fiber.Map{
			"total_recipients": len(results), "started_transfers": len(results),
			// Counted when the reply was written: the outcome is in the
			// transfer record and its events.
			"successful_transfers": done, "failed_transfers": failed, "transfer_results": results,
		},
		"transfer_id": rec.ID, "transfer": rec, "skipped": skipped,
	})
}

// genListFiles is GET /api/file-generator/files: the generated files,
// newest first.
func (s *Server) genListFiles(c *fiber.Ctx) error {
	st, err := s.fileStore()
	if err != nil {
		return err
	}
	list, err := st.List()
	if err != nil {
		return err
	}
	list = slices.DeleteFunc(list, func(m files.Meta) bool { return !filegen.IsGenerated(m.Name) })
	slices.SortStableFunc(list, func(a, b files.Meta) int { return b.Modified.Compare(a.Modified) })
	out := make([]fiber.Map, 0, len(list))
	var total int64
	for _, m := range list {
		total += m.Size
		t := m.Modified.Local().Format(genTimeLayout)
		out = append(out, fiber.Map{
			"file_name": m.Name, "file_size": m.Size, "size_formatted": filegen.FormatSize(m.Size),
			"created_time": t, "modified_time": t, "download_url": "/api/files/" + url.PathEscape(m.Name),
			"is_generated": true, "sha256": m.SHA256,
		})
	}
	return c.JSON(fiber.Map{
		"success": true, "files": out, "total_count": len(out),
		"total_size": total, "total_size_formatted": filegen.FormatSize(total),
	})
}

// genDeleteFile is DELETE /api/file-generator/files/{name}: a generated
// file only (an upload is deleted with DELETE /api/files/{name}), and
// not while a distribution or a running transfer uses it (409).
func (s *Server) genDeleteFile(c *fiber.Ctx) error {
	st, err := s.fileStore()
	if err != nil {
		return err
	}
	name, err := fileName(c)
	if err != nil {
		return err
	}
	if !filegen.IsGenerated(name) {
		return fiber.NewError(fiber.StatusBadRequest, fmt.Sprintf(
			"%q is not a generated file (their names start with %s); delete uploads with DELETE /api/files/{name}", name, strings.Join(filegen.Prefixes, ", ")))
	}
	m, err := st.Stat(name)
	switch {
	case errors.Is(err, files.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, err.Error())
	case err != nil:
		return err
	}
	if err := s.deleteStored(st, name); err != nil {
		return err
	}
	s.d.Log.Info("generated file deleted", "name", name)
	return c.JSON(fiber.Map{
		"success": true, "message": fmt.Sprintf("file %s deleted", name),
		"deleted_size": m.Size, "deleted_size_formatted": filegen.FormatSize(m.Size),
	})
}
