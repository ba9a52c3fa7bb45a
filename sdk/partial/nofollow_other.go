//go:build !unix

package partial

// oNoFollow: this platform has no O_NOFOLLOW.
const oNoFollow = 0
