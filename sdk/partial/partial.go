package partial

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Prefix starts the name of every partial-state file. Names with it are
// reserved for CastRay: a delivered file must never be called so.
const Prefix = ".castray-"

const (
	partSuffix    = ".part"
	journalSuffix = ".journal"
)

// PartName is the name of the part file of a transfer in a target folder.
// Check the id with CheckID first.
func PartName(transferID string) string { return Prefix + transferID + partSuffix }

// JournalName is the name of the journal of a transfer in a target folder.
// Check the id with CheckID first.
func JournalName(transferID string) string { return Prefix + transferID + journalSuffix }

// CheckID reports whether transferID can name partial state: non-empty, no
// path separator, no "..", no NUL, and not only decimal digits (those are
// the random suffixes of the legacy names, see Parse).
func CheckID(transferID string) error {
	switch {
	case transferID == "":
		return errors.New("empty transfer id")
	case strings.ContainsAny(transferID, "/\\\x00"):
		return fmt.Errorf("transfer id %q: must not contain path separators", transferID)
	case strings.Contains(transferID, ".."):
		return fmt.Errorf("transfer id %q: must not contain \"..\"", transferID)
	case allDigits(transferID):
		return fmt.Errorf("transfer id %q: must not be only digits", transferID)
	}
	return nil
}

// Parse reports whether a directory entry name is CastRay partial state (it
// starts with Prefix) and, if so, the transfer id encoded in it. The id is
// "" for names that belong to no transfer: the legacy ".castray-<digits>.part"
// of older versions (os.CreateTemp's random suffix), and any other
// ".castray-" name that is not "<id>.part" or "<id>.journal" with an id
// CheckID accepts.
func Parse(name string) (transferID string, ok bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return "", false
	}
	id, cut := strings.CutSuffix(rest, partSuffix)
	if !cut {
		id, cut = strings.CutSuffix(rest, journalSuffix)
	}
	if !cut || CheckID(id) != nil {
		return "", true
	}
	return id, true
}

// Sweep removes from dir every partial-state file whose transfer id keep
// rejects; files that belong to no transfer (legacy names) are always
// removed. Only regular files directly in dir are considered: symlinks,
// subfolders and other entries are left alone even when their name has the
// prefix, and no link is followed. It returns the paths it removed. A
// missing dir is not an error; a file that cannot be removed is reported in
// the error while the sweep goes on.
func Sweep(dir string, keep func(transferID string) bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sweep %s: %w", dir, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		// DirEntry.Type comes from lstat semantics: a symlink is a symlink.
		if !e.Type().IsRegular() {
			continue
		}
		id, ok := Parse(e.Name())
		if !ok || (id != "" && keep != nil && keep(id)) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		// unlink never follows a link: if the entry was swapped for a
		// symlink since ReadDir, the link itself goes.
		if err := unlink(p); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			continue
		}
		removed = append(removed, p)
	}
	return removed, errors.Join(errs...)
}

// Remove deletes the part and the journal of one transfer in dir. Missing
// files are not an error; an invalid id is.
func Remove(dir, transferID string) error {
	if err := CheckID(transferID); err != nil {
		return err
	}
	var errs []error
	for _, name := range []string{PartName(transferID), JournalName(transferID)} {
		if err := unlink(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// unlink removes a file or a symlink (never what it points to) and, unlike
// os.Remove, never an empty directory.
func unlink(path string) error {
	if err := syscall.Unlink(path); err != nil {
		return &fs.PathError{Op: "unlink", Path: path, Err: err}
	}
	return nil
}
