// Package partial names, records and sweeps the partial state a resumable
// transfer backend keeps in a target folder: the part file that receives the
// data (".castray-<transferID>.part") and the journal next to it
// (".castray-<transferID>.journal") that lists the chunks fully written to
// the part. A backend writes them (plugins/transfer/local); the daemon sweeps
// what a crash left behind and removes the state of a transfer record it
// deletes. Both sides use this package, so the names and the journal format
// have one definition.
//
// What it owns: directory entries whose name starts with ".castray-" (the
// prefix is reserved: a delivered file never carries it) and the journal
// format. It must not touch anything else: Sweep and Remove delete regular
// files with that prefix only, never follow symlinks, never recurse into
// subfolders. It must not import the daemon (host/), config/ or plugins/.
//
// The journal is not a proof of anything: it is append-only and not synced
// per record, and a crash can tear or zero its tail. A resuming backend
// re-reads every journaled chunk from the part and compares its CRC32C with
// the record and with the digest of the source (sdk.FileSpec.chunk_crc32c)
// before keeping it. The format is made so that damage is detected (header
// and record checksums) and never panics the reader; see Header and Record.
package partial
