package jobcast

// sourceFile names the stored file for a driver that may run on the
// daemon's machine: when the path it opens has this identity, it reads the
// bytes from disk instead of pulling them from the file server. The
// SHA-256 every writer checks before its rename still covers them.
type sourceFile struct {
	Path    string `json:"path"`
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    uint64 `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
}
