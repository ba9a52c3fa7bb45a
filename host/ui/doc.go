// Package ui owns CastRay's web UI: the static page, styles and ES modules
// under static/ (plain HTML, CSS and JavaScript, no build step, embedded in
// the binary with go:embed) and the routes that serve them: GET / redirects
// to /ui, GET /ui and /ui/* serve the single-page app, and GET
// /ui/config.json tells the page whether the API wants a token (never the
// token itself).
//
// The assets hold no data, so they are served without the API token; the
// page asks for the token (a login prompt, kept in sessionStorage) and sends
// it on every API call (Authorization: Bearer) and on /ws (as the
// subprotocol castray.token.<token>, see host/api). Everything the page shows
// comes from the public REST API and the /ws event stream.
//
// The topology graph is drawn by hand in SVG (a layered layout: daemon,
// clusters, nodes, actors); no JavaScript library is vendored.
//
// This package must not touch the daemon's services or state: it registers
// routes that serve files and nothing else.
package ui
