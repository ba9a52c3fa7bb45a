package ui

import (
	"embed"
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

//go:embed static
var static embed.FS

// assets is static/ with the prefix removed.
var assets = func() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	return sub
}()

// contentSecurityPolicy allows the page to load only its own assets and to
// talk only to its own origin (the REST API and /ws).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Register adds the UI routes to app: GET / redirects to /ui, GET /ui and
// /ui/ serve index.html, GET /ui/<asset> serves an asset, and any other
// /ui/<path> without a file extension serves index.html too (the app routes
// by the URL's hash, so a reload of a shared link still opens the app). An
// unknown asset is a 404. Register them before authentication: the assets
// are public.
//
// GET /ui/config.json tells the page whether the API needs a token (not the
// token), so that it can ask for one before its first call instead of
// learning it from a 401.
func Register(app *fiber.App, o Options) {
	app.Get("/", func(c *fiber.Ctx) error { return c.Redirect("/ui", fiber.StatusFound) })
	app.Get("/ui/config.json", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.JSON(fiber.Map{"auth_required": o.AuthRequired, "version": o.Version})
	})
	app.Get("/ui", serve)
	app.Get("/ui/*", serve)
}

// Options are what the page needs to know before it has a token.
type Options struct {
	// AuthRequired: the API requires a bearer token.
	AuthRequired bool
	// Version is the daemon's version, shown in the page's header.
	Version string
}

func serve(c *fiber.Ctx) error {
	name := strings.TrimPrefix(c.Path(), "/ui")
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "" || name == "." {
		name = "index.html"
	}
	b, err := fs.ReadFile(assets, name)
	if err != nil {
		if path.Ext(name) != "" {
			return fiber.NewError(fiber.StatusNotFound, "no UI asset "+name)
		}
		name = "index.html"
		if b, err = fs.ReadFile(assets, name); err != nil {
			return err
		}
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = fiber.MIMEOctetStream
	}
	c.Set(fiber.HeaderContentType, ct)
	// The assets change with the binary; revalidating is cheap and keeps a
	// browser from mixing modules of two versions.
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set("Content-Security-Policy", contentSecurityPolicy)
	c.Set("Referrer-Policy", "no-referrer")
	return c.Send(b)
}
