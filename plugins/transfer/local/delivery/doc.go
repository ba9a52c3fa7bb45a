// Package delivery is the logic of the "local" transfer backend: it copies a
// file on the daemon's host into the inbox folders of local nodes.
//
// The source is read once and fanned out to every target, so a broadcast to
// N local nodes costs one read and one SHA-256 pass plus N writes. Each
// target gets a hidden temporary file in its inbox (".castray-*.part"); only
// when every byte is written, the streamed SHA-256 equals the one in the
// request and the data is synced does the temporary file get renamed to the
// final name. A partial file therefore never appears under the final name,
// and a failed or cancelled target leaves nothing behind.
//
// The package owns nothing but the files it writes inside the inbox folders
// named by the request; it must not touch other paths, and it knows nothing
// of the daemon (it sees only the sdk types).
package delivery
