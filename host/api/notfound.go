package api

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// notFound answers what no route took: 405 with Allow when the path is
// served under other methods, else 404.
func (s *Server) notFound(c *fiber.Ctx) error {
	if allow := s.methodsOf(c.Path()); len(allow) > 0 {
		c.Set(fiber.HeaderAllow, strings.Join(allow, ", "))
		return fiber.NewError(fiber.StatusMethodNotAllowed, fmt.Sprintf("%s is not served at %s (allowed: %s)", c.Method(), c.Path(), strings.Join(allow, ", ")))
	}
	return fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("no route %s %s", c.Method(), c.Path()))
}

// methodsOf lists, sorted, the methods of the routes whose pattern matches
// path.
func (s *Server) methodsOf(path string) []string {
	var out []string
	for _, r := range s.app.GetRoutes(true) {
		if matchPattern(r.Path, path) && !slices.Contains(out, r.Method) {
			out = append(out, r.Method)
		}
	}
	slices.Sort(out)
	return out
}

// matchPattern matches a Fiber route pattern: ":name" is one segment,
// "*" the rest of the path.
func matchPattern(pattern, path string) bool {
	ps, xs := strings.Split(strings.Trim(pattern, "/"), "/"), strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range ps {
		switch {
		case p == "*":
			return true
		case i >= len(xs):
			return false
		case strings.HasPrefix(p, ":"):
			if xs[i] == "" {
				return false
			}
		case p != xs[i]:
			return false
		}
	}
	return len(ps) == len(xs)
}
