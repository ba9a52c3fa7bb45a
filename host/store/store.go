package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Bucket names.
const (
	BucketNodes     = "nodes"
	BucketClusters  = "clusters"
	BucketTransfers = "transfers"
	BucketMeta      = "meta"
)

// SchemaVersion is the schema this build writes and the newest it can read.
const SchemaVersion = 1

// schemaKey is the key of the schema version in the meta bucket.
const schemaKey = "schema_version"

// lockTimeout is how long Open waits for another holder of the file lock.
var lockTimeout = time.Second

// Sentinel errors, usable with errors.Is on what Open returns.
var (
	// ErrLocked: another process (or another Open in this one) holds the store.
	ErrLocked = errors.New("store is locked")
	// ErrCorrupt: the file is damaged or is not a CastRay store.
	ErrCorrupt = errors.New("store is corrupt")
	// ErrNewerSchema: the file was written by a newer CastRay.
	ErrNewerSchema = errors.New("store schema is newer than supported")
	// ErrClosed: the Store was used after Close.
	ErrClosed = errors.New("store is closed")
)

// Store is an open CastRay store. It is safe for concurrent use.
type Store struct {
	path string
	db   *bolt.DB

	mu     sync.RWMutex // guards closed against use-after-Close
	closed bool

	// Writes (Put, Delete) waiting for a transaction; see update.
	wmu     sync.Mutex
	wq      []*write
	writing bool // a caller is committing
}

// write is one Put or Delete waiting in Store.wq.
type write struct {
	fn     func(*bolt.Tx) error
	err    error
	lead   bool          // set before done closes: commit what is queued
	done   chan struct{} // closed when committed (err set) or made leader
	closed bool          // done was closed
}

// Open opens the store at path, creating it (and its parent directory, mode
// 0700) if it does not exist. It waits about a second for the file lock.
//
// Errors (all name the path):
//   - the file is locked by another process → wraps ErrLocked;
//   - the file is not a valid bbolt file, is truncated, or is a bbolt file
//     that is not a CastRay store → wraps ErrCorrupt, and the file is left
//     exactly as it was;
//   - the schema version is newer than SchemaVersion → wraps ErrNewerSchema.
//
// A zero-length file is treated as a new store (bbolt initialises it); there
// is nothing in it to lose.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("open store: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: create directory: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return nil, fmt.Errorf("open store %s: is a directory", path)
		}
		// bbolt needs at least two meta pages of at least 1 KiB each.
		if fi.Size() > 0 && fi.Size() < 2048 {
			return nil, corruptErr(path, fmt.Errorf("file is only %d bytes", fi.Size()))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}

	db, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	s := &Store{path: path, db: db}
	if err := s.verify(); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.initSchema(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// openBolt calls bolt.Open, turning a panic or memory fault on a damaged
// file into an ErrCorrupt error and closing the file descriptor (which
// releases the lock) if bbolt could not.
func openBolt(path string) (db *bolt.DB, err error) {
	var file *os.File
	opts := &bolt.Options{
		Timeout:      lockTimeout,
		FreelistType: bolt.FreelistArrayType,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	}
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				// bbolt has no handle left to close. Release the lock and
				// the descriptor; a memory mapping bbolt had made, if any,
				// stays until the process exits (a few pages of address
				// space, once, on a path that ends the daemon anyway).
				unlockFile(file)
				_ = file.Close()
			}
			db, err = nil, corruptErr(path, fmt.Errorf("bbolt: %v", r))
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))

	db, err = bolt.Open(path, 0o600, opts)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, &kindError{
			msg:   fmt.Sprintf("store %s is locked by another process (is another castray running with the same data dir?)", path),
			kind:  ErrLocked,
			cause: err,
		}
	case errors.Is(err, berrors.ErrInvalid),
		errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrVersionMismatch),
		// bbolt's check that the file holds at least two pages has no sentinel.
		strings.Contains(err.Error(), "file size too small"):
		return nil, corruptErr(path, err)
	default:
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
}

// kindError is an error with its own message that matches both a sentinel
// (ErrLocked, ErrCorrupt...) and its underlying cause with errors.Is/As.
type kindError struct {
	msg   string
	kind  error
	cause error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

func corruptErr(path string, cause error) error {
	return &kindError{
		msg:   fmt.Sprintf("store %s is corrupt or not a CastRay store: %v; move it aside to start fresh", path, cause),
		kind:  ErrCorrupt,
		cause: cause,
	}
}

// verify reads every page reachable from the root so that damage shows up
// now, as ErrCorrupt, rather than as a fault in the middle of a later
// operation. The store is small (nodes, clusters, transfer records), so a
// full scan costs milliseconds.
func (s *Store) verify() error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("open store %s: %w", s.path, err)
	}
	err = s.guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			if need := tx.Size(); need > fi.Size() {
				return fmt.Errorf("file is truncated: %d bytes, its metadata says %d", fi.Size(), need)
			}
			var sink byte
			err := tx.ForEach(func(name []byte, b *bolt.Bucket) error {
				return walk(b, &sink)
			})
			_ = sink
			return err
		})
	})
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return corruptErr(s.path, err)
	}
	return nil
}

// walk touches every key and value of b and its nested buckets.
func walk(b *bolt.Bucket, sink *byte) error {
	return b.ForEach(func(k, v []byte) error {
		for _, c := range k {
			*sink ^= c
		}
		if v == nil { // nested bucket
			nb := b.Bucket(k)
			if nb == nil {
				return fmt.Errorf("nested bucket %q cannot be opened", k)
			}
			return walk(nb, sink)
		}
		for _, c := range v {
			*sink ^= c
		}
		return nil
	})
}

// initSchema creates the buckets of a new store, or checks the schema
// version of an existing one.
func (s *Store) initSchema() error {
	var newer int
	err := s.guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket([]byte(BucketMeta))
			if meta == nil {
				// A new store has no buckets at all. Anything else is some
				// other program's bbolt file: do not write into it.
				var names []string
				_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
					names = append(names, strconv.Quote(string(name)))
					return nil
				})
				if len(names) > 0 {
					return errNotOurs{fmt.Errorf("bbolt file without a %q bucket (has %s)", BucketMeta, strings.Join(names, ", "))}
				}
				m, err := tx.CreateBucket([]byte(BucketMeta))
				if err != nil {
					return err
				}
				if err := m.Put([]byte(schemaKey), []byte(strconv.Itoa(SchemaVersion))); err != nil {
					return err
				}
			} else {
				raw := meta.Get([]byte(schemaKey))
				v, err := strconv.Atoi(string(raw))
				if err != nil || v < 1 {
					return errNotOurs{fmt.Errorf("invalid schema version %q", raw)}
				}
				if v > SchemaVersion {
					newer = v
					return ErrNewerSchema
				}
				// v <= SchemaVersion: migrations go here when there are any.
			}
			for _, name := range []string{BucketNodes, BucketClusters, BucketTransfers} {
				if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
					return fmt.Errorf("create bucket %q: %w", name, err)
				}
			}
			return nil
		})
	})
	var notOurs errNotOurs
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNewerSchema):
		return &kindError{
			msg: fmt.Sprintf("store %s has schema version %d but this castray supports up to %d (it was written by a newer castray): upgrade castray or use another data dir",
				s.path, newer, SchemaVersion),
			kind: ErrNewerSchema,
		}
	case errors.As(err, &notOurs):
		return corruptErr(s.path, notOurs.error)
	case errors.Is(err, ErrCorrupt):
		return err
	default:
		return fmt.Errorf("open store %s: initialise schema: %w", s.path, err)
	}
}

type errNotOurs struct{ error }

// guard runs fn with memory faults turned into panics and recovers any
// panic from bbolt (which panics on some kinds of on-disk damage) into an
// ErrCorrupt error instead of crashing the daemon.
func (s *Store) guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = corruptErr(s.path, fmt.Errorf("bbolt: %v", r))
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return fn()
}

// Path returns the file path the store was opened with.
func (s *Store) Path() string { return s.path }

// Close closes the store and releases its lock. It is safe to call more
// than once.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// do runs fn unless the store is closed, holding off Close until it returns.
func (s *Store) do(op, bucket, key string, fn func() error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("store %s: %s %s/%s: %w", s.path, op, bucket, key, ErrClosed)
	}
	if bucket == "" {
		return fmt.Errorf("store %s: %s: empty bucket name", s.path, op)
	}
	if err := s.guard(fn); err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		if key == "" {
			return fmt.Errorf("store %s: %s %s: %w", s.path, op, bucket, err)
		}
		return fmt.Errorf("store %s: %s %s/%s: %w", s.path, op, bucket, key, err)
	}
	return nil
}

// Put stores v, JSON-encoded, under bucket/key in an fsync'd transaction
// (shared with concurrent writes; see update) committed when Put returns.
// The bucket is created if needed.
func (s *Store) Put(bucket, key string, v any) error {
	return s.do("put", bucket, key, func() error {
		if key == "" {
			return errors.New("empty key")
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		return s.update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte(bucket))
			if err != nil {
				return err
			}
			return b.Put([]byte(key), raw)
		})
	})
}

// update runs fn in a read-write transaction, committed (and fsync'd)
// before it returns. Concurrent calls share transactions (group commit):
// the writes queued while one transaction commits go together in the
// next, which one of their callers commits, so that under load the
// writes a second are not bound by the fsyncs a second (at 100 writes a
// second from a loaded daemon, one commit each, requests queued behind
// the disk for seconds). A lone write is committed at once, as before.
// fn may run twice: when a shared transaction fails, each of its writes
// is run again alone, so that one bad write fails only its caller.
// (bbolt's own DB.Batch groups writes too, but holds every write, a lone
// one included, for up to MaxBatchDelay before committing it; here only
// the writes that arrive while a commit is under way wait, for that one.)
func (s *Store) update(fn func(*bolt.Tx) error) error {
	w := &write{fn: fn, done: make(chan struct{})}
	s.wmu.Lock()
	s.wq = append(s.wq, w)
	lead := !s.writing
	s.writing = true
	s.wmu.Unlock()
	if !lead {
		<-w.done
		if !w.lead {
			return w.err
		}
	}
	s.wmu.Lock()
	batch := s.wq
	s.wq = nil
	s.wmu.Unlock()
	s.commit(batch)
	s.wmu.Lock()
	if len(s.wq) > 0 { // they came during the commit: the first commits them
		next := s.wq[0]
		next.lead, next.closed = true, true
		close(next.done)
	} else {
		s.writing = false
	}
	s.wmu.Unlock()
	return w.err
}

// commit runs batch in one transaction, or each write in its own when
// that fails, and hands each its error (the caller's own write included,
// whose done may already be closed).
func (s *Store) commit(batch []*write) {
	err := s.guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			for _, w := range batch {
				if err := w.fn(tx); err != nil {
					return err
				}
			}
			return nil
		})
	})
	for _, w := range batch {
		switch {
		case err == nil:
		case len(batch) == 1:
			w.err = err
		default:
			w.err = s.guard(func() error { return s.db.Update(w.fn) })
		}
		if !w.closed {
			w.closed = true
			close(w.done)
		}
	}
}

// Get decodes the value at bucket/key into v (which may be nil to test for
// presence only). It reports whether the key exists.
func (s *Store) Get(bucket, key string, v any) (bool, error) {
	var found bool
	err := s.do("get", bucket, key, func() error {
		var raw []byte
		if err := s.db.View(func(tx *bolt.Tx) error {
			if b := tx.Bucket([]byte(bucket)); b != nil {
				if val := b.Get([]byte(key)); val != nil {
					found = true
					raw = bytes.Clone(val)
				}
			}
			return nil
		}); err != nil {
			return err
		}
		if found && v != nil {
			if err := json.Unmarshal(raw, v); err != nil {
				return fmt.Errorf("decode: %w", err)
			}
		}
		return nil
	})
	return found, err
}

// Delete removes bucket/key. A missing key or bucket is not an error.
func (s *Store) Delete(bucket, key string) error {
	return s.do("delete", bucket, key, func() error {
		if key == "" {
			return errors.New("empty key")
		}
		return s.update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(bucket))
			if b == nil {
				return nil
			}
			return b.Delete([]byte(key))
		})
	})
}

// List calls fn for every key of bucket in byte order of the keys, with the
// raw JSON value. A missing bucket lists nothing. The values are read in one
// consistent snapshot and fn runs after the read transaction has ended, so fn
// may call back into the store; raw belongs to fn. If fn returns an error,
// List stops and returns it (wrapped).
func (s *Store) List(bucket string, fn func(key string, raw []byte) error) error {
	type kv struct {
		k string
		v []byte
	}
	var items []kv
	err := s.do("list", bucket, "", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(bucket))
			if b == nil {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				if v != nil { // skip nested buckets
					items = append(items, kv{string(k), bytes.Clone(v)})
				}
				return nil
			})
		})
	})
	if err != nil {
		return err
	}
	for _, it := range items {
		if err := fn(it.k, it.v); err != nil {
			return fmt.Errorf("store %s: list %s: key %s: %w", s.path, bucket, it.k, err)
		}
	}
	return nil
}
