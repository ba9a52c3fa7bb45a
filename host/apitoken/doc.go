// Package apitoken owns the file that keeps a generated API token across
// restarts: <data_dir>/api_token, one line of hex, mode 0600, written
// atomically (a temporary file renamed over it). It generates tokens and
// reads and writes that file; it does not decide when a token is needed
// (host/daemon does) nor check requests (host/api does).
package apitoken
