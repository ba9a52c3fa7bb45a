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
  # "auto": no fixed cluster (discovery below finds the ones around);
  # "host:port", "http://host:8265" or "ray://host:port" connects to that
  # cluster at start-up.
  address = "auto"

  # Create the original's three demo nodes (node_1..node_3), so a first run
  # has somewhere to send files.
  create_demo_nodes = true

  # When the address above or external_cluster.auto_discover reaches no
  # cluster, start a Ray head owned by CastRay (needs the ray CLI on PATH).
  fallback_to_local = true
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
  # Run one discovery round at start-up (and connect to what it finds).
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

# Clusters no scan can find (a remote head, a dashboard behind a proxy):
# list them for the "static" discovery plugin, which checks each one
# against the cluster itself (plugins/discovery/static/README.md). Without
# a block it runs with no clusters and reports nothing.
#
# plugin "static" {
#   config {
#     clusters = [
#       { name = "prod", dashboard_url = "http://ray-head.example:8265", auth_token_file = "/etc/castray/prod.token" },
#       { name = "lab", gcs_address = "10.0.0.5:6379" },
#     ]
#   }
# }
