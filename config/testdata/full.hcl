# Every section, for the HCL/JSON equivalence test (full.json is the same).
ray_cluster {
  address           = "ray://head:10001"
  namespace         = "ns"
  create_demo_nodes = false
  runtime_env {
    working_dir = "/srv/app"
    pip         = ["requests", "numpy==2.0"]
    env_vars {
      PYTHONPATH = "/srv/app"
      DEBUG      = "1"
    }
  }
  external_discovery = true
  fallback_to_local  = false
}

web_server {
  host       = "0.0.0.0"
  port       = 9100
  log_level  = "DEBUG"
  api_token  = "tok"
  body_limit = 1048576
}

external_cluster {
  enabled            = true
  auto_discover      = true
  connection_timeout = 2.5
  discovery_interval = 30
  sync_interval      = 1
}

file_transfer {
  chunk_size    = 65536
  max_file_size = 9007199254740993
  timeout       = 60
  download_dir  = "/tmp/dl"
}

networking {
  udp_port_range  = [9000, 9999]
  multicast_group = "224.1.1.1"
  multicast_port  = 9999
}

logging {
  level        = "Warning"
  file         = "/var/log/castray.log"
  max_size     = 1000
  backup_count = 3
  format       = "JSON"
}

demo_files {
  enabled   = true
  directory = "/tmp/demo"
  files     = ["a.txt", "b.txt"]
}

events {
  status_interval = 0.5
  client_buffer   = 64
}

data_dir   = "/var/lib/castray"
plugin_dir = "/usr/lib/castray/plugins"

plugin "local" {
  enabled = true
  config {
  }
}

plugin "dashboard-scan" {
  enabled = false
  sha256  = "ABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCDEFABCD"
  config {
    hosts   = ["127.0.0.1", "10.0.0.1"]
    ports   = [8265, 8266]
    timeout = 1.5
    retries = 3
    verbose = true
    auth {
      user = "ray"
      tls {
        verify = false
      }
    }
    targets = [{ name = "a", weight = 1 }, { name = "b", weight = 2 }]
  }
}

plugin "no_config" {}
