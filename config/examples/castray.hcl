# CastRay daemon configuration: the default one, used by `make run`.
#
# This is the seed's external-cluster example in HCL, made safe for a
# first run: the web server listens on this machine only. Every key is
# optional; what is left out takes its built-in default (see the README's
# "Configuration" section). A same-content JSON version is castray.json.
#
# Precedence, lowest to highest: defaults < this file < environment < flags.
#   CASTRAY_WEB_SERVER__PORT=9000   overrides web_server.port ("__" separates levels)
#   RAY_ADDRESS=10.0.0.5:6379       overrides ray_cluster.address
#   castray serve --port 9000       overrides both

ray_cluster {
  # "auto" attaches to the Ray cluster running on this machine; or
  # "host:port" / "ray://host:port" for a specific one.
  address = "auto"

  # Start demo nodes when no cluster is found, so a first run has
  # something to show.
  create_demo_nodes = true

  # Also look for clusters CastRay did not start, and fall back to a
  # local cluster when the address above cannot be reached.
  external_discovery = true
  fallback_to_local  = true
}

web_server {
  # 127.0.0.1: reachable from this machine only. Use "0.0.0.0" to listen
  # on every interface, and then set api_token too.
  host = "127.0.0.1"
  port = 8000 # 0 picks a free port

  # api_token = "change-me"  # when set, API calls must present it
}

external_cluster {
  enabled            = true
  auto_discover      = true
  connection_timeout = 10 # seconds
}

# Where the daemon keeps its state, relative to the working directory.
data_dir = "castray-data"

# Plugins are found in plugin_dir (default: the "plugins" folder next to the
# castray binary). Each block configures the plugin of that name; a plugin
# without a block runs enabled with an empty config.
plugin "local" {
  # The built-in transfer backend for local nodes.
  enabled = true

  # sha256 = "<64 hex characters>"  # optional: refuse a binary with another hash

  # The plugin's own settings, checked by the plugin itself.
  config {
  }
}
