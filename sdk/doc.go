// Package sdk is the contract between the CastRay daemon and its plugins, and
// the only package a plugin author imports.
//
// A plugin is an executable that serves one kind of work over gRPC through
// hashicorp/go-plugin: discovery (finding Ray clusters) or transfer (moving
// files to nodes). Its main function is a single call:
//
//	func main() { sdk.ServeDiscovery(&myStrategy{}) }
//
// The wire contract is the set of commented .proto files under
// sdk/proto/castray/v1; plugins in other languages implement those services
// and speak go-plugin's handshake (see the README's plugin authoring guide).
// Go authors implement the small interfaces below (Plugin plus Discoverer or
// Transferer) and never touch gRPC: the adapters in this package turn calls
// into RPCs on the daemon's side and back into calls on the plugin's side.
// Package sdk/plugintest runs a plugin over the real gRPC path in a test,
// and its Sink collects what Discover reports. sdk/examples/discovery is a
// complete plugin, the one the README shows.
//
// Less to write: Configured[C] implements ConfigSchema and Configure from a
// config struct (SchemaFor derives the schema from its json and castray
// tags; DecodeConfig reports every problem at once); ProbeEach runs a probe
// per host:port of a request's scope; and what a plugin leaves empty is
// filled in on its side of the wire: PluginInfo's kind, name (from the
// binary's name) and api_versions (those served), a candidate's source (the
// plugin's name), a summary's candidate count and elapsed time.
//
// API versions: APIVersions lists those this SDK speaks (APIVersion is the
// newest). A plugin serves all of them unless WithAPIVersions narrows the
// list, the daemon offers all it knows, and go-plugin picks the highest
// common one, which Configure receives. Version 1 is a promise: source and
// wire compatible for as long as the daemon offers it. The handshake's
// magic cookie does not depend on the version.
//
// The life of a plugin, as the daemon drives it:
//
//  1. launch (go-plugin handshake, API version negotiation, mTLS);
//  2. GetInfo: name, kind, plugin version, API versions (the fingerprint);
//  3. GetConfigSchema, then Configure with the plugin's config block; any
//     ConfigError stops the daemon's start-up with the plugin and key named;
//  4. kind-specific calls (Discover, or Capabilities / Send / Cancel), each
//     bound to a context the plugin must honour;
//  5. kill at daemon shutdown, or relaunch (and Configure again) after a
//     crash.
//
// This package must not import the daemon (host/), its configuration
// (config/) or first-party plugins (plugins/); a test enforces that.
package sdk
