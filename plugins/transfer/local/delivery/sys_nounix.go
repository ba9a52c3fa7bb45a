//go:build !unix

package delivery

const oNoFollow = 0
