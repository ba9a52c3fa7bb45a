// Package store is CastRay's embedded key/value store: one bbolt file under
// the data dir (normally <data_dir>/castray.db).
//
// It owns the file format: the bucket names, the schema version kept in the
// "meta" bucket, JSON encoding of values, the single-writer lock, and the
// detection of a store that is locked, corrupt, not a CastRay store, or
// written by a newer CastRay. It refuses all of those with a clear error and
// never deletes, truncates or recreates an existing file.
//
// It must not touch anything but its own file (and the parent directory it
// creates): it knows nothing about nodes, clusters or transfers beyond the
// bucket names, does not publish events, and does not log. Callers (the
// registry, the transfer manager) decide what to persist.
package store
