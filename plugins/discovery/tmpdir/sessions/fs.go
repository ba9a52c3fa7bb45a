package sessions

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Bounds of every file read. Logs grow without limit in a long session; everything the
// plugin looks for is written in the first seconds of one.
const (
	maxSmallFile  = 64 << 10  // ray_current_cluster, port files, JSON files
	maxGCSLog     = 256 << 10 // gcs_server.out: the head's registration comes after a few debug dumps
	maxDashLog    = 128 << 10 // dashboard.log: the address comes after the module list
	maxClientLog  = 16 << 10  // ray_client_server.err/.out: the first line
	maxRayletLog  = 64 << 10  // raylet.out
	maxDirEntries = 65536     // entries read from one directory (a bound, not a limit in practice)
)

// fileSystem is what the scanner needs from the disk. The default is the OS; tests wrap
// it to make paths unreadable (they run as root, where chmod does not stop a read).
type fileSystem interface {
	ReadDir(name string) ([]fs.DirEntry, error)
	Stat(name string) (fs.FileInfo, error)
	EvalSymlinks(name string) (string, error)
	// ReadHead reads at most max bytes of a regular file; anything else (a FIFO, a device,
	// a directory) is an error, and opening never blocks.
	ReadHead(name string, max int64) ([]byte, error)
}

type osFS struct{}

func (osFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(maxDirEntries)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return ents, err
}

func (osFS) Stat(name string) (fs.FileInfo, error)           { return os.Stat(name) }
func (osFS) EvalSymlinks(name string) (string, error)        { return filepath.EvalSymlinks(name) }
func (osFS) ReadHead(name string, max int64) ([]byte, error) { return readHeadFile(name, max) }

// errNotRegular is returned for a path that is not a regular file.
var errNotRegular = errors.New("not a regular file")

// readHeadFile reads at most max bytes of the regular file name. It opens with O_NONBLOCK
// so that a FIFO cannot hang the call, and checks the opened file (not the path) is regular.
func readHeadFile(name string, max int64) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", name, errNotRegular, st.Mode().Type())
	}
	return io.ReadAll(io.LimitReader(f, max))
}
