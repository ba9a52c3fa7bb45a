package partial

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// The journal file:
//
//	header (64 bytes, little endian)
//	  0  magic "CASTRAYJ"
//	  8  version (1)
//	 12  chunk size
//	 16  file size
//	 24  SHA-256 of the source (32 bytes; zero when unknown)
//	 56  reserved (0)
//	 60  CRC32C of bytes 0..59
//	records (16 bytes each), one per chunk fully written to the part
//	  0  chunk index
//	  8  CRC32C of the chunk's bytes
//	 12  CRC32C of bytes 0..11, seeded with the header's CRC32C
//
// Seeding the record checksum with the header's ties every record to its
// header: a record spliced in from another journal does not verify. A
// reader stops at the first record that does not verify or names a chunk
// past the end of the file (a torn or zeroed tail after a crash); what
// follows is ignored. A chunk may be recorded more than once (re-sent after
// failing verification): the last record wins.
const (
	headerSize = 64
	recordSize = 16
	version    = 1
	magic      = "CASTRAYJ"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C is the chunk checksum of the journal and of sdk.FileSpec: CRC-32
// with the Castagnoli polynomial (hardware accelerated on amd64 and arm64).
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

var (
	// ErrNotJournal is returned for a file that is not a journal of this
	// version (bad magic, version or header checksum).
	ErrNotJournal = errors.New("not a CastRay journal")
	// ErrMismatch is returned by Open when the journal describes another
	// file (size, chunk size or SHA-256 differ).
	ErrMismatch = errors.New("journal is for another file")
)

// Header identifies the file a journal describes.
type Header struct {
	// Size of the whole file in bytes.
	Size uint64
	// ChunkSize is the size of every chunk but the last; never 0.
	ChunkSize uint32
	// SHA256 of the whole source file; all zero when unknown.
	SHA256 [32]byte
}

// NewHeader builds a Header; sha256Hex is the lower- or upper-case hex
// digest, or "" when unknown.
func NewHeader(size uint64, chunkSize uint32, sha256Hex string) (Header, error) {
	h := Header{Size: size, ChunkSize: chunkSize}
	if chunkSize == 0 {
		return h, errors.New("journal header: chunk size must not be 0")
	}
	if sha256Hex != "" {
		b, err := hex.DecodeString(sha256Hex)
		if err != nil || len(b) != len(h.SHA256) {
			return h, fmt.Errorf("journal header: invalid sha256 %q", sha256Hex)
		}
		copy(h.SHA256[:], b)
	}
	return h, nil
}

// NumChunks is the number of chunks of the file.
func (h Header) NumChunks() uint64 {
	if h.ChunkSize == 0 {
		return 0
	}
	return (h.Size + uint64(h.ChunkSize) - 1) / uint64(h.ChunkSize)
}

// ChunkLen is the length of chunk i (the last one may be shorter); 0 past
// the end.
func (h Header) ChunkLen(i uint64) int {
	if i >= h.NumChunks() {
		return 0
	}
	off := i * uint64(h.ChunkSize)
	return int(min(uint64(h.ChunkSize), h.Size-off))
}

func (h Header) encode() [headerSize]byte {
	var b [headerSize]byte
	copy(b[0:8], magic)
	binary.LittleEndian.PutUint32(b[8:], version)
	binary.LittleEndian.PutUint32(b[12:], h.ChunkSize)
	binary.LittleEndian.PutUint64(b[16:], h.Size)
	copy(b[24:56], h.SHA256[:])
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	return b
}

func decodeHeader(b []byte) (Header, uint32, error) {
	if len(b) < headerSize || string(b[0:8]) != magic {
		return Header{}, 0, ErrNotJournal
	}
	sum := binary.LittleEndian.Uint32(b[60:])
	if crc32.Checksum(b[:60], castagnoli) != sum || binary.LittleEndian.Uint32(b[8:]) != version {
		return Header{}, 0, ErrNotJournal
	}
	h := Header{ChunkSize: binary.LittleEndian.Uint32(b[12:]), Size: binary.LittleEndian.Uint64(b[16:])}
	copy(h.SHA256[:], b[24:56])
	if h.ChunkSize == 0 {
		return Header{}, 0, ErrNotJournal
	}
	return h, sum, nil
}

func encodeRecord(seed uint32, index uint64, crc uint32) [recordSize]byte {
	var r [recordSize]byte
	binary.LittleEndian.PutUint64(r[0:], index)
	binary.LittleEndian.PutUint32(r[8:], crc)
	binary.LittleEndian.PutUint32(r[12:], crc32.Update(seed, castagnoli, r[:12]))
	return r
}

// ReadJournal parses a journal: its header and, for every chunk recorded
// before the first damaged record, the CRC32C recorded last. It fails only
// when the header is damaged; a damaged tail is ignored.
func ReadJournal(r io.Reader) (Header, map[uint64]uint32, error) {
	h, chunks, _, err := readJournal(r)
	return h, chunks, err
}

// readJournal is ReadJournal that also returns the length of the valid
// prefix (header and good records).
func readJournal(r io.Reader) (Header, map[uint64]uint32, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var hb [headerSize]byte
	if _, err := io.ReadFull(br, hb[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return Header{}, nil, 0, ErrNotJournal
		}
		return Header{}, nil, 0, err
	}
	h, seed, err := decodeHeader(hb[:])
	if err != nil {
		return Header{}, nil, 0, err
	}
	n := h.NumChunks()
	chunks := map[uint64]uint32{}
	valid := int64(headerSize)
	var rec [recordSize]byte
	for {
		if _, err := io.ReadFull(br, rec[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return h, chunks, valid, nil
			}
			return Header{}, nil, 0, err
		}
		index := binary.LittleEndian.Uint64(rec[0:])
		if crc32.Update(seed, castagnoli, rec[:12]) != binary.LittleEndian.Uint32(rec[12:]) || index >= n {
			return h, chunks, valid, nil
		}
		chunks[index] = binary.LittleEndian.Uint32(rec[8:])
		valid += recordSize
	}
}

// Journal is an open journal file. Its methods are not safe for concurrent
// use; a backend gives each target's journal to one goroutine at a time.
type Journal struct {
	f      *os.File
	hdr    Header
	seed   uint32
	off    int64
	chunks map[uint64]uint32
}

// Create creates a new journal at path (which must not exist; a symlink is
// not followed) and writes its header.
func Create(path string, hdr Header) (*Journal, error) {
	if hdr.ChunkSize == 0 {
		return nil, errors.New("journal header: chunk size must not be 0")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|oNoFollow, 0o600)
	if err != nil {
		return nil, err
	}
	b := hdr.encode()
	if _, err := f.WriteAt(b[:], 0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("write journal header %s: %w", path, err)
	}
	return &Journal{f: f, hdr: hdr, seed: binary.LittleEndian.Uint32(b[60:]), off: headerSize, chunks: map[uint64]uint32{}}, nil
}

// Open opens an existing journal for appending. It fails with ErrNotJournal
// when the header is damaged and ErrMismatch when it describes another file
// than hdr. A damaged tail is cut off, so new records follow the last good
// one.
func Open(path string, hdr Header) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|oNoFollow, 0)
	if err != nil {
		return nil, err
	}
	got, chunks, valid, err := readJournal(f)
	if err == nil && got != hdr {
		err = ErrMismatch
	}
	if err == nil {
		err = f.Truncate(valid)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	b := hdr.encode()
	return &Journal{f: f, hdr: hdr, seed: binary.LittleEndian.Uint32(b[60:]), off: valid, chunks: chunks}, nil
}

// Append records that chunk index, whose bytes have the CRC32C crc, is
// fully written to the part. It is not synced: see the package doc.
func (j *Journal) Append(index uint64, crc uint32) error {
	if index >= j.hdr.NumChunks() {
		return fmt.Errorf("journal %s: chunk %d out of range (%d chunks)", j.f.Name(), index, j.hdr.NumChunks())
	}
	r := encodeRecord(j.seed, index, crc)
	if _, err := j.f.WriteAt(r[:], j.off); err != nil {
		return fmt.Errorf("journal %s: %w", j.f.Name(), err)
	}
	j.off += recordSize
	j.chunks[index] = crc
	return nil
}

// Chunks returns the recorded chunks: index -> CRC32C (a copy).
func (j *Journal) Chunks() map[uint64]uint32 {
	out := make(map[uint64]uint32, len(j.chunks))
	for k, v := range j.chunks {
		out[k] = v
	}
	return out
}

// Header returns the journal's header.
func (j *Journal) Header() Header { return j.hdr }

// Name returns the journal's path.
func (j *Journal) Name() string { return j.f.Name() }

// Close closes the file.
func (j *Journal) Close() error { return j.f.Close() }
