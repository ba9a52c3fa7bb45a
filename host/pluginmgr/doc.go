// Package pluginmgr owns the daemon's plugin processes: it finds plugin
// binaries in the plugin directory, fingerprints each one (SHA-256 of the
// binary, GetInfo, API version), validates its configuration at boot,
// launches it through hashicorp/go-plugin (gRPC only, AutoMTLS, optional
// SHA-256 pin) and supervises it: a health ping, relaunch after an exit with
// capped exponential backoff, and a state (healthy, restarting, failed,
// disabled) with the last error and the restart count.
//
// # Names and config blocks
//
// A plugin's name is the one it reports in GetInfo. A binary named
// castray-<kind>-<name> (kind discovery or transfer) must report exactly
// that name and kind, and belongs to the config block `plugin "<name>"`
// alone: names match whole, never by suffix (`plugin "scan"` is not
// castray-discovery-dashboard-scan). Such a binary is matched before it is
// ever run, so its sha256 pin is checked and `enabled = false` keeps it from
// starting. A binary with any other file name is launched once to learn its
// name; the block of that name then applies (its pin is checked after that
// first run; name a pinned plugin by the convention).
//
// Load refuses (a *LoadError naming each block or binary):
//   - a config block that matches no binary, enabled or not: a block that
//     does nothing is most often a misspelt name, and silently ignoring it
//     is how a plugin the operator meant to disable keeps running;
//   - a config block that matches several binaries (castray-discovery-x and
//     castray-transfer-x for "x"): none of them is launched;
//   - two binaries that report one name;
//   - any failure of a binary a block names: a pin mismatch, a failed
//     launch or handshake, an incompatible API version, a name or kind that
//     contradicts the file name, a config the plugin rejects.
//
// A binary no block names that fails to load (not a plugin, crashes at
// start, wrong handshake or API version, a name or kind that contradicts its
// file name, rejects an empty config) does not stop the daemon: it is
// logged, listed by List (so /api/plugins) with state failed and its error,
// never relaunched, and not returned by Transfer or Discoverers.
//
// # API versions
//
// The daemon offers every plugin API version it knows (Options.PluginSets,
// by default sdk.ClientPluginSet()) through go-plugin's versioned plugin
// sets, and go-plugin picks the highest one the plugin serves too: plugins
// of different versions load side by side, each with its own. The
// negotiated version is passed to Configure (ConfigureRequest.api_version)
// and shown in Status.APIVersion, next to the versions the plugin reports
// (Status.APIVersions, which must include it). A plugin with no version in
// common fails to load with an error naming the daemon's versions and the
// plugin's (the SDK prints its list on stderr, which the error quotes).
//
// # Use and concurrency
//
// Callers get a plugin through Manager.Transfer or Manager.Discoverers. The
// value they get checks the plugin's state on every call, so a call to a
// dead plugin fails at once with sdk.ErrPluginUnavailable instead of
// hanging, and keeps working after a relaunch. A plugin's name, kind, path
// and settings are fixed when Load returns (a relaunched binary must report
// the same name and kind, or the relaunch fails); only its process and
// status change afterwards, under the instance's lock.
//
// TransferNames lists the enabled transfer plugins and TransferCapabilities
// says what one can do (node kinds, modes, limits): asked once per plugin
// process and cached until a relaunch, when the new process is asked again.
// The daemon routes each transfer target by these answers (host/transfer).
//
// The package must not read the daemon's configuration files (it receives
// Settings), touch the registry or the store, or serve HTTP.
package pluginmgr
