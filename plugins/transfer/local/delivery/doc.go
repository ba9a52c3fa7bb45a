// Package delivery is the logic of the "local" transfer backend: it copies a
// file on the daemon's host into the inbox folders of local nodes, fast,
// verified chunk by chunk, and resumable.
//
// # The pipeline
//
// One Send reads the source once and fans it out. A reader goroutine preads
// chunk i (FileSpec.chunk_size, 4 MiB when the file has no chunk digests)
// into one of pipeline_depth buffers, checks its CRC32C against
// FileSpec.chunk_crc32c[i] and queues it for every target that needs it.
// Each target has a goroutine that pwrites its queued chunks at their offset
// into the target's part file, appends a journal record and starts the
// writeback of that range (sync_file_range), so the final fsync is short. A
// buffer goes back to the reader when every target is done with it; a chunk
// no target needs (kept from an earlier Send) is not read at all.
//
// The brief for this package asked for a few writer goroutines each owning
// a subset of targets. A goroutine per target, with at most `writers` of
// them in a file operation at once (a semaphore), gives the same bounded
// disk parallelism, and one more thing: a target whose write hangs holds
// only itself up, so the idle timeout can fail it and let the others go on.
//
// When the reader is done and every chunk verified, each target commits:
// fsync, chmod 0644, rename to the final name, fsync of the folder, journal
// removed. A partial file therefore never appears under the final name.
// Without chunk digests (a file stored by an older daemon) the reader
// computes the SHA-256 instead and the commit waits for it to match; such a
// Send does not resume.
//
// # Partial state and resume
//
// The part and journal are named by sdk/partial after the transfer id. With
// SendRequest.resume, a target whose inbox holds a journal for the same
// file (size, chunk size, SHA-256) keeps the chunks that verify again: each
// journaled chunk is read back from the part and its CRC32C compared with
// the journal and with the stored digest. The rest is written. A journal
// left next to an already renamed final file (a crash between the rename
// and the journal's removal) is settled by the final file's SHA-256.
//
// Who ends a target decides what is left: an explicit Cancel or
// CancelTargets, a failure and a completion leave no partial state; the end
// of the Send's context (the daemon stopped or died) or a broken stream
// keeps it for a later resume.
//
// The package owns nothing but the files it writes inside the inbox folders
// named by the request; it must not touch other paths, never follows a
// symlink (source opened with O_NOFOLLOW, part and journal created with
// O_EXCL|O_NOFOLLOW, a symlink at the final name is replaced, not written
// through), and it knows nothing of the daemon (it sees only the sdk types).
//
// Setting CASTRAY_LOCAL_CPUPROFILE=prefix makes each Send write a CPU
// profile of the plugin process to "prefix.<transfer id>".
package delivery
