package sdk

import (
	"context"
	"sync"
)

// Configured implements Plugin's ConfigSchema and Configure for a plugin
// whose configuration is the struct C (json and castray tags, see
// DecodeConfig): embed it, and read the configuration from Config.
//
//	type scan struct{ sdk.Configured[config] }
//
// Set the defaults in Config before serving. ConfigSchema derives the
// schema from C with SchemaFor, the defaults being Config's values before
// the first Configure; Configure decodes the config block onto Config with
// DecodeConfig, which reports every problem and leaves Config untouched
// when there is one. The daemon configures a plugin process once, before
// any kind-specific call, so Discover or Send may read Config without a
// lock.
type Configured[C any] struct {
	Config C

	once     sync.Once
	defaults C
}

func (c *Configured[C]) keepDefaults() { c.once.Do(func() { c.defaults = c.Config }) }

// ConfigSchema implements Plugin.
func (c *Configured[C]) ConfigSchema(context.Context) (*ConfigSchema, error) {
	c.keepDefaults()
	return SchemaFor(&c.defaults)
}

// Configure implements Plugin.
func (c *Configured[C]) Configure(_ context.Context, req *ConfigureRequest) ([]*ConfigError, error) {
	c.keepDefaults()
	return DecodeConfig(req.GetConfigJson(), &c.Config), nil
}
