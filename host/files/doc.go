// Package files is CastRay's upload store: the files users upload, the
// sources of transfers.
//
// It owns data_dir/uploads and, in the daemon's store, the bucket "files"
// (one record per file: size, SHA-256, a CRC32C per chunk, and the inode,
// size and mtime the digests were computed for). It owns the one rule for
// file names (CheckName) that the API, the transfer service and the
// backends share.
//
// Its guarantees:
//   - A file appears under its name only complete, verified (length and,
//     when one was given, SHA-256) and fsync'd: Save writes a hidden
//     ".upload-<random>.part" and renames it over the name only at the end.
//     On any error the part is removed and an earlier file of that name is
//     left as it was. Parts a crash left behind are removed by Open.
//   - Digests are always present and always describe the bytes on disk: a
//     file without a record, or whose inode, size or mtime no longer match
//     its record (copied in or replaced by hand, or a crash between the
//     rename and the record), is hashed again on first use and the result
//     saved.
//   - Symbolic links are never followed: everything is Lstat'ed and opened
//     with O_NOFOLLOW, so a link planted in uploads/ is neither listed,
//     served nor read (Delete removes the link itself, never its target).
//
// It must not touch anything in the data dir but uploads/ and its own
// bucket, serve HTTP, publish events or know about nodes and transfers.
// Hidden files in uploads/ other than its own ".upload-*.part" are left
// alone and never listed; the prefixes ".upload-" and ".castray-" are
// reserved for the store.
package files
