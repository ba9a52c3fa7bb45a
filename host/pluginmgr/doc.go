// Package pluginmgr owns the daemon's plugin processes: it finds plugin
// binaries in the plugin directory, fingerprints each one (SHA-256 of the
// binary, GetInfo, API version), validates its configuration at boot,
// launches it through hashicorp/go-plugin (gRPC only, AutoMTLS, optional
// SHA-256 pin) and supervises it: a health ping, relaunch after an exit with
// capped exponential backoff, and a state (healthy, restarting, failed,
// disabled) with the last error and the restart count.
//
// Callers get a plugin through Manager.Transfer or Manager.Discoverers. The
// value they get checks the plugin's state on every call, so a call to a
// dead plugin fails at once with sdk.ErrPluginUnavailable instead of
// hanging, and keeps working after a relaunch.
//
// The package must not read the daemon's configuration files (it receives
// Settings), touch the registry or the store, or serve HTTP.
package pluginmgr
