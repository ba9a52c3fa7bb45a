package apitoken

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the token file's name in the data dir.
const FileName = "api_token"

// Path is the token file of a data dir.
func Path(dataDir string) string { return filepath.Join(dataDir, FileName) }

// Generate returns a new token: 24 random bytes, hex-encoded.
func Generate() (string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate API token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Load reads the token kept at path; "" with no error when there is none.
// A file others may read or write is refused: the token may have leaked.
// Errors never quote the file's content.
func Load(path string) (string, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("API token file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("API token file %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("API token file %s: mode %04o lets others read or change it; remove the file (a new token is generated) or chmod 600 it", path, perm)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("API token file: %w", err)
	}
	tok := strings.TrimSpace(string(raw))
	if _, err := hex.DecodeString(tok); err != nil || len(tok) < 32 {
		return "", fmt.Errorf("API token file %s: not a token CastRay wrote (hex, at least 32 digits); remove it to get a new one", path)
	}
	return tok, nil
}

// Save writes token to path with mode 0600, atomically: a reader sees the
// old token or the new one, never a part.
func Save(path, token string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+FileName+"-*")
	if err != nil {
		return fmt.Errorf("save API token: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 already; say so for umasks that differ.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save API token: %w", err)
	}
	if _, err := tmp.WriteString(token + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("save API token: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save API token: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save API token: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save API token: %w", err)
	}
	return nil
}
