package client

import (
	"context"
	"net/http"
)

// What the file generator accepts (host/api/openapi.yaml, /api/file-generator/).
var (
	GenContentTypes = []string{"text", "random", "pattern"}
	GenPresetNames  = []string{"tiny", "small", "medium", "large", "huge", "massive"}
)

// GenContentTypeDocs says what each content type holds.
type GenContentTypeDocs struct {
	Text    string `json:"text"`
	Random  string `json:"random"`
	Pattern string `json:"pattern"`
}

// GenPreset is one of the original's named sizes.
type GenPreset struct {
	SizeBytes     int64  `json:"size_bytes"`
	SizeFormatted string `json:"size_formatted"`
	Description   string `json:"description"`
	Available     bool   `json:"available"` // false above the generator's limit
}

// GenPresets is GET /api/file-generator/presets.
type GenPresets struct {
	Envelope
	Presets      map[string]GenPreset `json:"presets"`
	ContentTypes GenContentTypeDocs   `json:"content_types"`
}

// GenInfo is GET /api/file-generator/info.
type GenInfo struct {
	Envelope
	MaxFileSize          int64              `json:"max_file_size"`
	MaxFileSizeFormatted string             `json:"max_file_size_formatted"`
	SupportedUnits       []string           `json:"supported_units"`
	ContentTypes         GenContentTypeDocs `json:"content_types"`
	Examples             []string           `json:"examples"`
	DefaultPattern       string             `json:"default_pattern"`
	MaxPatternBytes      int                `json:"max_pattern_bytes"`
	NamePrefixes         []string           `json:"name_prefixes"`
}

// GenCreateRequest is POST /api/file-generator/create. Empty fields take
// the daemon's defaults (size 1KB, content text).
type GenCreateRequest struct {
	Size        string `json:"size,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Pattern     string `json:"pattern,omitempty"`
	FileName    string `json:"file_name,omitempty"`
}

// GenPresetRequest is POST /api/file-generator/create-preset (preset
// medium when empty).
type GenPresetRequest struct {
	Preset      string `json:"preset,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Pattern     string `json:"pattern,omitempty"`
	FileName    string `json:"file_name,omitempty"`
}

// GenTransferRequest is POST /api/file-generator/create-and-transfer.
type GenTransferRequest struct {
	Size        string   `json:"size,omitempty"`
	ContentType string   `json:"content_type,omitempty"`
	Pattern     string   `json:"pattern,omitempty"`
	FileName    string   `json:"file_name,omitempty"`
	SenderID    string   `json:"sender_id,omitempty"`
	CastType    string   `json:"cast_type,omitempty"`
	Recipients  []string `json:"recipients,omitempty"`
	GroupID     string   `json:"group_id,omitempty"`
}

// GenFileInfo describes a generated file.
type GenFileInfo struct {
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

// GenCreateResponse answers create and create-preset (201).
type GenCreateResponse struct {
	Envelope
	Message  string      `json:"message"`
	FileInfo GenFileInfo `json:"file_info"`
}

// GenTransferResult is one recipient of create-and-transfer.
type GenTransferResult struct {
	RecipientID string `json:"recipient_id"`
	Success     bool   `json:"success"` // its transfer was started
	State       string `json:"state"`
	Result      string `json:"result"`
}

// GenTransferSummary counts create-and-transfer's targets when it answered.
type GenTransferSummary struct {
	TotalRecipients     int                 `json:"total_recipients"`
	StartedTransfers    int                 `json:"started_transfers"`
	SuccessfulTransfers int                 `json:"successful_transfers"`
	FailedTransfers     int                 `json:"failed_transfers"`
	TransferResults     []GenTransferResult `json:"transfer_results"`
}

// GenTransferResponse answers create-and-transfer (202).
type GenTransferResponse struct {
	Envelope
	Message         string             `json:"message"`
	FileInfo        GenFileInfo        `json:"file_info"`
	TransferSummary GenTransferSummary `json:"transfer_summary"`
	TransferID      string             `json:"transfer_id"`
	Transfer        TransferRecord     `json:"transfer"`
	Skipped         *Skipped           `json:"skipped"`
}

// GenFile is one generated file of GET /api/file-generator/files.
type GenFile struct {
	FileName      string `json:"file_name"`
	FileSize      int64  `json:"file_size"`
	SizeFormatted string `json:"size_formatted"`
	CreatedTime   string `json:"created_time"`
	ModifiedTime  string `json:"modified_time"`
	DownloadURL   string `json:"download_url"`
	IsGenerated   bool   `json:"is_generated"`
	SHA256        string `json:"sha256"`
}

// GenFileList is GET /api/file-generator/files, newest first.
type GenFileList struct {
	Envelope
	Files              []GenFile `json:"files"`
	TotalCount         int       `json:"total_count"`
	TotalSize          int64     `json:"total_size"`
	TotalSizeFormatted string    `json:"total_size_formatted"`
}

// GenDeleteResponse answers DELETE /api/file-generator/files/{name}.
type GenDeleteResponse struct {
	Envelope
	Message              string `json:"message"`
	DeletedSize          int64  `json:"deleted_size"`
	DeletedSizeFormatted string `json:"deleted_size_formatted"`
}

// GenPresets gets the generator's presets and content types.
func (c *Client) GenPresets(ctx context.Context) (*GenPresets, error) {
	return call[GenPresets](ctx, c, http.MethodGet, "/api/file-generator/presets", nil)
}

// GenInfo gets the generator's limit, units and content types.
func (c *Client) GenInfo(ctx context.Context) (*GenInfo, error) {
	return call[GenInfo](ctx, c, http.MethodGet, "/api/file-generator/info", nil)
}

// GenCreate generates a file of a size into the upload store.
func (c *Client) GenCreate(ctx context.Context, req GenCreateRequest) (*GenCreateResponse, error) {
	return call[GenCreateResponse](ctx, c, http.MethodPost, "/api/file-generator/create", req)
}

// GenCreatePreset generates a file of a preset size.
func (c *Client) GenCreatePreset(ctx context.Context, req GenPresetRequest) (*GenCreateResponse, error) {
	return call[GenCreateResponse](ctx, c, http.MethodPost, "/api/file-generator/create-preset", req)
}

// GenCreateAndTransfer generates a file and starts its transfer.
func (c *Client) GenCreateAndTransfer(ctx context.Context, req GenTransferRequest) (*GenTransferResponse, error) {
	return call[GenTransferResponse](ctx, c, http.MethodPost, "/api/file-generator/create-and-transfer", req)
}

// GenFiles lists the generated files.
func (c *Client) GenFiles(ctx context.Context) (*GenFileList, error) {
	return call[GenFileList](ctx, c, http.MethodGet, "/api/file-generator/files", nil)
}

// GenDeleteFile deletes a generated file (400 for any other upload).
func (c *Client) GenDeleteFile(ctx context.Context, name string) (*GenDeleteResponse, error) {
	return call[GenDeleteResponse](ctx, c, http.MethodDelete, "/api/file-generator/files/"+esc(name), nil)
}
