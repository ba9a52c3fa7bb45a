// Package filegen is the original CastRay's file generator: test files of a
// chosen size and content, made as readers so that they stream into the
// upload store (host/files) and are never held in memory.
//
// It has three parts:
//   - ParseSize reads sizes the way the original did, but strictly:
//     a decimal number and an optional unit B, KB, MB or GB, case-insensitive,
//     with 1024 multiples ("100B", "1KB" = 1024, "1.5MB" = 1572864,
//     "1GB" = 1073741824; a bare number is bytes). Fractions are exact (no
//     floating point) and a fraction of a byte is rounded down, as the
//     original's int() did. Anything else (a sign, an exponent, TB, two
//     units, an empty number, zero) is an error saying what is wrong.
//   - New returns an io.Reader yielding exactly the requested number of
//     bytes of one content type: "text" (readable ASCII lines, numbered,
//     the original's sample sentence), "random" (pseudo-random bytes from a
//     ChaCha8 stream with a fresh seed) or "pattern" (a pattern repeated,
//     by default the original's "0123456789ABCDEF"). Readers allocate once,
//     when made; reading any amount allocates nothing more.
//   - Presets are the original's named sizes, tiny (1 KiB) to massive
//     (100 MiB).
//
// Generated files are ordinary uploads. They are told apart by their name:
// it starts with one of the original's prefixes "sample_", "preset_" or
// "transfer_" (IsGenerated), which the API gives every file it generates.
//
// The package knows nothing of HTTP, the store or transfers.
package filegen
