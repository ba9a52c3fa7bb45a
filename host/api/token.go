package api

import (
	"github.com/gofiber/fiber/v2"
)

// rotateToken is POST /api/token/rotate: a new API token replaces the one
// in force at once (the request itself carried the old one). Only the
// daemon's own token rotates; one from the configuration is changed there.
func (s *Server) rotateToken(c *fiber.Ctx) error {
	switch {
	case s.d.RotateToken != nil:
	case *s.token.Load() == "":
		return fiber.NewError(fiber.StatusConflict, "this daemon requires no token (it listens on loopback and web_server.api_token is not set): there is none to rotate")
	default:
		return fiber.NewError(fiber.StatusConflict, "the API token comes from web_server.api_token: change it in the configuration and restart")
	}
	tok, err := s.d.RotateToken()
	if err != nil {
		return err
	}
	s.token.Store(&tok)
	s.d.Log.Info("API token rotated; the old one no longer works")
	return c.JSON(fiber.Map{"success": true, "token": tok,
		"message": "the old token no longer works; WebSocket clients already connected stay connected"})
}
