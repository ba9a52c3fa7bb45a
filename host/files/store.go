package files

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// Bucket is the store bucket of the file records, keyed by file name.
const Bucket = "files"

// DefaultChunkSize is the chunk size when Open is given none.
const DefaultChunkSize = 4 << 20

// Errors, usable with errors.Is; the errors returned wrap them with the
// name, the sizes or the digests concerned.
var (
	// ErrNotFound: no regular file of that name. A symbolic link, a folder
	// or another non-regular file is "not found" too, with a message that
	// says what it is.
	ErrNotFound = errors.New("no such file")
	// ErrTooLarge: the data exceeds SaveOptions.MaxSize.
	ErrTooLarge = errors.New("file too large")
	// ErrIncomplete: the data ended before the declared length, was longer
	// than it, or the reader failed (its error is wrapped too, so that
	// errors.Is(err, os.ErrDeadlineExceeded) tells a timeout).
	ErrIncomplete = errors.New("upload incomplete")
	// ErrDigestMismatch: the data's SHA-256 is not SaveOptions.SHA256.
	ErrDigestMismatch = errors.New("sha256 mismatch")
)

// Meta describes a stored file. Its digests always describe the bytes on
// disk (see Stat).
type Meta struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	// SHA256 is the lower-case hex SHA-256 of the whole file.
	SHA256 string `json:"sha256"`
	// ChunkSize is the size of the chunks ChunkCRC32C describes (the last
	// one may be shorter); 0 for an empty file, which has no chunks.
	ChunkSize int `json:"chunk_size"`
	// ChunkCRC32C is the CRC32C (Castagnoli) of each chunk, in order.
	ChunkCRC32C []uint32 `json:"chunk_crc32c"`
	// Modified is the file's mtime, UTC.
	Modified time.Time `json:"modified"`
}

// record is what the bucket holds: the Meta and the identity of the file
// it was computed for. A record whose inode, size or mtime differ from the
// file's is stale and the file is hashed again.
type record struct {
	Meta
	Inode   uint64 `json:"inode"`
	MtimeNS int64  `json:"mtime_ns"`
}

func newRecord(name string, d digests, fi fs.FileInfo, chunkSize int) record {
	r := record{
		Meta:  Meta{Name: name, Size: d.n, SHA256: d.sha256, ChunkSize: chunkSize, ChunkCRC32C: d.crcs, Modified: fi.ModTime().UTC()},
		Inode: inode(fi), MtimeNS: fi.ModTime().UnixNano(),
	}
	if r.ChunkCRC32C == nil {
		r.ChunkCRC32C = []uint32{}
	}
	if d.n == 0 {
		r.ChunkSize = 0
	}
	return r
}

// matches reports whether r describes the file fi under name.
func (r *record) matches(name string, fi fs.FileInfo) bool {
	if r.Name != name || r.Size != fi.Size() || r.MtimeNS != fi.ModTime().UnixNano() || r.Inode != inode(fi) {
		return false
	}
	if !isSHA256Hex(r.SHA256) {
		return false
	}
	if r.Size == 0 {
		return len(r.ChunkCRC32C) == 0
	}
	return r.ChunkSize > 0 && int64(len(r.ChunkCRC32C)) == (r.Size+int64(r.ChunkSize)-1)/int64(r.ChunkSize)
}

// isSHA256Hex: 64 lower-case hex digits.
func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// notRegularError is a name that exists in uploads/ but is not a regular
// file; it is ErrNotFound for errors.Is.
type notRegularError struct {
	name string
	mode fs.FileMode
}

func (e *notRegularError) Error() string {
	switch {
	case e.mode&fs.ModeSymlink != 0:
		return fmt.Sprintf("%v: %q is a symbolic link, and uploads never follow links", ErrNotFound, e.name)
	case e.mode.IsDir():
		return fmt.Sprintf("%v: %q is a folder", ErrNotFound, e.name)
	}
	return fmt.Sprintf("%v: %q is not a regular file (%s)", ErrNotFound, e.name, e.mode.Type())
}

func (e *notRegularError) Is(target error) bool { return target == ErrNotFound }

// MetaStore is what the store needs of the daemon's key/value store
// (host/store.Store): Put creates the bucket on demand, Get reports
// whether the key exists.
type MetaStore interface {
	Put(bucket, key string, v any) error
	Get(bucket, key string, v any) (bool, error)
	Delete(bucket, key string) error
	List(bucket string, fn func(key string, raw []byte) error) error
}

// Store is the upload store. It is safe for concurrent use.
type Store struct {
	dir       string
	meta      MetaStore
	chunkSize int
	log       hclog.Logger

	// commitMu orders the changes of a name in the folder with those of
	// its record (rename then Put, remove then Delete).
	commitMu sync.Mutex

	mu      sync.Mutex
	hashing map[string]chan struct{} // names being hashed, closed when done
}

// Open opens the upload store in dir (created, mode 0750, if needed) with
// its records in meta and chunkSize-byte chunks (DefaultChunkSize when
// <= 0). It removes the ".upload-*.part" files a crash left in dir,
// logging each, and the records of files that are gone; it touches
// nothing else.
func Open(dir string, meta MetaStore, chunkSize int, log hclog.Logger) (*Store, error) {
	if meta == nil {
		return nil, errors.New("upload store: no metadata store")
	}
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	if log == nil {
		log = hclog.NewNullLogger()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("upload store %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("upload store: %w", err)
	}
	s := &Store{dir: abs, meta: meta, chunkSize: chunkSize, log: log, hashing: map[string]chan struct{}{}}
	if err := s.sweep(); err != nil {
		return nil, err
	}
	return s, nil
}

// isPartName: the name Save gives a file while it is being written.
func isPartName(name string) bool {
	return strings.HasPrefix(name, partPrefix) && strings.HasSuffix(name, partSuffix)
}

const (
	partPrefix = ".upload-"
	partSuffix = ".part"
)

// sweep removes leftover parts and records without a file.
func (s *Store) sweep() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("upload store: %w", err)
	}
	for _, e := range entries {
		if !isPartName(e.Name()) || !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(s.dir, e.Name())
		var size int64
		if info, err := e.Info(); err == nil {
			size = info.Size()
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("cannot remove an incomplete upload left by an earlier run", "path", p, "error", err)
			continue
		}
		s.log.Warn("removed an incomplete upload left by an earlier run", "path", p, "bytes", size)
	}
	var gone []string
	err = s.meta.List(Bucket, func(key string, _ []byte) error {
		if CheckName(key) != nil {
			gone = append(gone, key)
		} else if _, err := os.Lstat(filepath.Join(s.dir, key)); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("upload store: list records: %w", err)
	}
	for _, key := range gone {
		if err := s.meta.Delete(Bucket, key); err != nil {
			return fmt.Errorf("upload store: drop the record of a removed file: %w", err)
		}
		s.log.Debug("dropped the record of a file no longer in uploads", "name", key)
	}
	return nil
}

// Dir is the uploads folder (absolute).
func (s *Store) Dir() string { return s.dir }

// Path is where the file name is stored, or "" when CheckName refuses the
// name. It does not check that the file exists.
func (s *Store) Path(name string) string {
	if CheckName(name) != nil {
		return ""
	}
	return filepath.Join(s.dir, name)
}

// SaveOptions are the expectations Save checks.
type SaveOptions struct {
	// Length is the declared length in bytes, -1 when unknown.
	Length int64
	// SHA256 is the expected SHA-256 in hex, "" for none.
	SHA256 string
	// MaxSize bounds the file in bytes; <= 0 means no limit.
	MaxSize int64
}

// Save stores what r yields under name, replacing an earlier file of that
// name only when all of it arrived and checked out: at most o.MaxSize
// bytes (else ErrTooLarge, reading no more than one byte beyond), exactly
// o.Length of them when that is >= 0 (else ErrIncomplete, "got N of M
// bytes"), with the SHA-256 o.SHA256 when given (else ErrDigestMismatch).
// An error of r is returned wrapped in ErrIncomplete.
//
// The data goes to a ".upload-<random>.part" file in the folder and its
// digests are computed on the way, the network reads, the disk writes and
// the SHA-256 overlapped on three goroutines (see copyDigest), so that the
// upload runs at network or disk speed; on success the part is fsync'd,
// renamed over name, the folder fsync'd and the record saved. On any error
// the part is removed and the folder is as it was.
func (s *Store) Save(name string, r io.Reader, o SaveOptions) (Meta, error) {
	if err := CheckName(name); err != nil {
		return Meta{}, err
	}
	want := strings.ToLower(o.SHA256)
	if want != "" && !isSHA256Hex(want) {
		return Meta{}, fmt.Errorf("save %q: expected SHA-256 %q is not 64 hex digits", name, o.SHA256)
	}
	if o.MaxSize > 0 && o.Length > o.MaxSize {
		return Meta{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, o.Length, o.MaxSize)
	}
	limit := int64(-1) // read one byte past what may be kept, to tell "too long"
	if o.MaxSize > 0 {
		limit = o.MaxSize + 1
	}
	if o.Length >= 0 && (limit < 0 || o.Length+1 < limit) {
		limit = o.Length + 1
	}

	part, err := os.CreateTemp(s.dir, partPrefix+"*"+partSuffix)
	if err != nil {
		return Meta{}, fmt.Errorf("save %q: %w", name, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = part.Close()
			_ = os.Remove(part.Name())
		}
	}()

	d, err := copyDigest(part, r, limit, s.chunkSize)
	var re *readError
	switch {
	case errors.As(err, &re) && o.Length >= 0:
		return Meta{}, fmt.Errorf("%w: got %d of %d bytes: %w", ErrIncomplete, d.n, o.Length, re.err)
	case errors.As(err, &re):
		return Meta{}, fmt.Errorf("%w: got %d bytes: %w", ErrIncomplete, d.n, re.err)
	case err != nil:
		return Meta{}, fmt.Errorf("save %q: write %s: %w", name, part.Name(), err)
	case o.MaxSize > 0 && d.n > o.MaxSize:
		return Meta{}, fmt.Errorf("%w: more than %d bytes, the limit", ErrTooLarge, o.MaxSize)
	case o.Length >= 0 && d.n > o.Length:
		return Meta{}, fmt.Errorf("%w: got more than the declared %d bytes", ErrIncomplete, o.Length)
	case o.Length >= 0 && d.n < o.Length:
		return Meta{}, fmt.Errorf("%w: got %d of %d bytes", ErrIncomplete, d.n, o.Length)
	case want != "" && d.sha256 != want:
		return Meta{}, fmt.Errorf("%w: the %d bytes received have sha256 %s, the request declared %s", ErrDigestMismatch, d.n, d.sha256, want)
	}

	if err := part.Sync(); err != nil {
		return Meta{}, fmt.Errorf("save %q: fsync %s: %w", name, part.Name(), err)
	}
	fi, err := part.Stat()
	if err != nil {
		return Meta{}, fmt.Errorf("save %q: %w", name, err)
	}
	if err := part.Close(); err != nil {
		return Meta{}, fmt.Errorf("save %q: close %s: %w", name, part.Name(), err)
	}
	rec := newRecord(name, d, fi, s.chunkSize)

	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	final := filepath.Join(s.dir, name)
	if err := os.Rename(part.Name(), final); err != nil {
		return Meta{}, fmt.Errorf("save %q: %w", name, err)
	}
	committed = true
	if err := syncDir(s.dir); err != nil {
		s.log.Warn("fsync of the uploads folder failed; the new file may not survive a crash", "path", final, "error", err)
	}
	// The file is in place: a failure to record it is not the client's
	// failure, and the record is rebuilt from the file when next needed.
	if err := s.meta.Put(Bucket, name, rec); err != nil {
		s.log.Warn("cannot record a stored file's digests; they will be recomputed", "name", name, "error", err)
	}
	return rec.Meta, nil
}

// Stat describes the regular file name. Its digests come from the record
// when it matches the file (inode, size, mtime) and are otherwise
// computed, and recorded, now: for a large file copied in by hand this
// reads the whole file once. A name that is not a regular file (a
// symbolic link, a folder) is ErrNotFound, with a message that says what it
// is; links are never followed.
func (s *Store) Stat(name string) (Meta, error) {
	if err := CheckName(name); err != nil {
		return Meta{}, err
	}
	fi, err := s.lstat(name)
	if err != nil {
		return Meta{}, err
	}
	if rec, ok := s.record(name); ok && rec.matches(name, fi) {
		return rec.Meta, nil
	}
	rec, err := s.rehash(name)
	if err != nil {
		return Meta{}, err
	}
	return rec.Meta, nil
}

// Open opens the regular file name for reading (never through a link) and
// describes it as Stat does; the Meta is that of the opened file. The
// caller closes the file.
func (s *Store) Open(name string) (*os.File, Meta, error) {
	if err := CheckName(name); err != nil {
		return nil, Meta{}, err
	}
	for range 3 {
		f, fi, err := s.openRegular(name)
		if err != nil {
			return nil, Meta{}, err
		}
		rec, ok := s.record(name)
		if !ok || !rec.matches(name, fi) {
			if rec, err = s.rehash(name); err != nil {
				f.Close()
				return nil, Meta{}, err
			}
		}
		if rec.matches(name, fi) {
			return f, rec.Meta, nil
		}
		f.Close() // replaced between the open and the hash: again
	}
	return nil, Meta{}, fmt.Errorf("open %q: the file keeps changing", name)
}

// List describes the regular, visible files with valid names, sorted by
// name, as Stat does (so a file without a valid record is hashed here).
// Hidden files, folders, symbolic links and other special files are left
// out; so is a file that cannot be read, with a warning in the log.
func (s *Store) List() ([]Meta, error) {
	entries, err := os.ReadDir(s.dir) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("list uploads: %w", err)
	}
	out := []Meta{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !e.Type().IsRegular() {
			continue
		}
		if err := CheckName(name); err != nil {
			s.log.Debug("not listing a file whose name is refused", "error", err)
			continue
		}
		m, err := s.Stat(name)
		if errors.Is(err, ErrNotFound) {
			continue // removed or replaced by a non-file since ReadDir
		}
		if err != nil {
			s.log.Warn("not listing an unreadable file", "name", name, "error", err)
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// Delete removes the file name and its record. A symbolic link named name
// is removed itself (its target is untouched); a folder or another special
// file is refused as ErrNotFound.
func (s *Store) Delete(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	p := filepath.Join(s.dir, name)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		_ = s.meta.Delete(Bucket, name)
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	case err != nil:
		return fmt.Errorf("delete %q: %w", name, err)
	case !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0:
		return &notRegularError{name: name, mode: fi.Mode()}
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("delete %q: %w", name, err)
	}
	if err := syncDir(s.dir); err != nil {
		s.log.Warn("fsync of the uploads folder failed after a removal", "path", p, "error", err)
	}
	if err := s.meta.Delete(Bucket, name); err != nil {
		s.log.Warn("cannot drop the record of a removed file; it is dropped at the next start", "name", name, "error", err)
	}
	return nil
}

// lstat: the regular file name, without following a link.
func (s *Store) lstat(name string) (fs.FileInfo, error) { return lstatIn(s.dir, name) }

func lstatIn(dir, name string) (fs.FileInfo, error) {
	fi, err := os.Lstat(filepath.Join(dir, name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	case err != nil:
		return nil, fmt.Errorf("stat %q: %w", name, err)
	case !fi.Mode().IsRegular():
		return nil, &notRegularError{name: name, mode: fi.Mode()}
	}
	return fi, nil
}

// openRegular opens the regular file name without following a link.
func (s *Store) openRegular(name string) (*os.File, fs.FileInfo, error) { return OpenIn(s.dir, name) }

// OpenIn opens the regular file name in dir (the uploads folder, a local
// node's inbox) without following a symbolic link. Anything but a regular
// file is ErrNotFound, with a message saying what it is.
func OpenIn(dir, name string) (*os.File, fs.FileInfo, error) {
	if err := CheckName(name); err != nil {
		return nil, nil, err
	}
	if _, err := lstatIn(dir, name); err != nil {
		return nil, nil, err // the clearer message, before the open
	}
	f, err := openNoFollow(filepath.Join(dir, name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	case errors.Is(err, syscall.ELOOP):
		return nil, nil, &notRegularError{name: name, mode: fs.ModeSymlink}
	case err != nil:
		return nil, nil, fmt.Errorf("open %q: %w", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("open %q: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, &notRegularError{name: name, mode: fi.Mode()}
	}
	return f, fi, nil
}

// record reads the record of name; a missing or unreadable one is absent
// (the file is then hashed again).
func (s *Store) record(name string) (record, bool) {
	var rec record
	found, err := s.meta.Get(Bucket, name, &rec)
	if err != nil {
		s.log.Warn("cannot read a file's record; its digests will be recomputed", "name", name, "error", err)
		return record{}, false
	}
	return rec, found
}

// rehash computes and records the digests of name, once at a time per
// name: a caller that finds another one hashing the same name waits for it
// and uses its record when it still matches the file.
func (s *Store) rehash(name string) (record, error) {
	for {
		s.mu.Lock()
		if wait, busy := s.hashing[name]; busy {
			s.mu.Unlock()
			<-wait
			fi, err := s.lstat(name)
			if err != nil {
				return record{}, err
			}
			if rec, ok := s.record(name); ok && rec.matches(name, fi) {
				return rec, nil
			}
			continue
		}
		done := make(chan struct{})
		s.hashing[name] = done
		s.mu.Unlock()

		rec, err := s.hash(name)

		s.mu.Lock()
		delete(s.hashing, name)
		close(done)
		s.mu.Unlock()
		return rec, err
	}
}

// hash reads the file name through and records its digests.
func (s *Store) hash(name string) (record, error) {
	for range 3 {
		f, fi, err := s.openRegular(name)
		if err != nil {
			return record{}, err
		}
		start := time.Now()
		d, err := copyDigest(nil, io.NewSectionReader(f, 0, fi.Size()), -1, s.chunkSize)
		after, statErr := f.Stat()
		f.Close()
		if err != nil {
			return record{}, fmt.Errorf("hash %q: %w", name, err)
		}
		if statErr != nil {
			return record{}, fmt.Errorf("hash %q: %w", name, statErr)
		}
		if d.n != fi.Size() || after.Size() != fi.Size() || !after.ModTime().Equal(fi.ModTime()) {
			continue // written to while it was read: again
		}
		rec := newRecord(name, d, fi, s.chunkSize)
		s.log.Info("computed the digests of a file that had no valid record", "name", name, "bytes", d.n, "sha256", d.sha256, "took", time.Since(start).Round(time.Millisecond))
		s.commitMu.Lock()
		// Record it only if it is still the file there (Save may have
		// replaced it meanwhile, with its own record).
		if now, err := os.Lstat(filepath.Join(s.dir, name)); err == nil && rec.matches(name, now) {
			if err := s.meta.Put(Bucket, name, rec); err != nil {
				s.log.Warn("cannot record a file's digests; they will be recomputed", "name", name, "error", err)
			}
		}
		s.commitMu.Unlock()
		return rec, nil
	}
	return record{}, fmt.Errorf("hash %q: the file kept changing while it was read", name)
}
