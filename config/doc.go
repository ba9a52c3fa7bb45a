// Package config owns the daemon's configuration: the Config type and its
// defaults, and loading it from a file, the environment and flags, with
// validation. Load returns either a complete, valid Config or an error that
// names every problem by its key path.
//
// # Sources and precedence
//
// Lowest to highest: Default() < file < environment < flags (koanf layers).
//
// The file is HCL 1 (.hcl) or JSON (.json), chosen by extension; its path is
// LoadOptions.Path, else the --config flag, else CASTRAY_CONFIG. With none,
// there is no file. In HCL, `plugin "<name>" { ... }` blocks (and nested
// blocks) become objects, so HCL and JSON files of the same content load the
// same Config.
//
// # Environment
//
// The environment is passed in (LoadOptions.Env, normally os.Environ());
// the package never reads the process environment itself.
//
//	CASTRAY_CONFIG=/etc/castray.hcl              the file (not a key)
//	CASTRAY_DATA_DIR=/var/lib/castray            data_dir
//	CASTRAY_WEB_SERVER__PORT=9000                web_server.port
//	CASTRAY_WEB_SERVER__API_TOKEN=s3cret         web_server.api_token
//	CASTRAY_PLUGIN__LOCAL__ENABLED=false         plugin.local.enabled
//	CASTRAY_PLUGIN__DASHBOARD_SCAN__SHA256=...   plugin.dashboard-scan.sha256 (if the file has that block)
//	CASTRAY_NETWORKING__UDP_PORT_RANGE=9000,9999 networking.udp_port_range (lists: comma-separated)
//	RAY_ADDRESS=10.0.0.5:6379                    ray_cluster.address (a CASTRAY_ variable wins)
//
// After the CASTRAY_ prefix, "__" separates levels and single underscores
// stay in the key. Each level is matched to the keys of the defaults and the
// file ignoring case and treating '-' and '_' alike; an unmatched level is
// lower-cased. Values are strings, converted where the key wants a number or
// a boolean ("abc" for a number is an error naming the key); inside the
// free-form sections they stay strings. A variable whose first level is not
// a top-level key (CASTRAY_BIN_DIR, CASTRAY_WEB_SERVER_PORT with one
// underscore) is ignored and listed by IgnoredEnv, so other programs'
// CASTRAY_ variables do not stop the daemon; an unknown key below a known
// section (CASTRAY_WEB_SERVER__PROT) is an error.
//
// # Flags
//
// RegisterFlags adds --config, --host (web_server.host), --port
// (web_server.port), --log-level (logging.level), --data-dir (data_dir) and
// --plugin-dir (plugin_dir). Only flags the user set override.
//
// # Validation
//
// Unknown keys are errors, with the full path, except inside the free-form
// sections plugin.<name>.config (validated by the plugin) and
// ray_cluster.runtime_env (passed to Ray). Wrong types and bad values are
// errors too. All problems are collected and returned together, sorted, in
// a *ValidationError. Load also normalises: log levels, logging.format and
// plugin sha256 pins are lower-cased, and web_server.log_level (the
// original's spelling) fills logging.level when only it is set.
//
// Keys of the original CastRay that CastRay does not act on (the sections
// networking and demo_files; ray_cluster.namespace, runtime_env and
// external_discovery; file_transfer.download_dir; logging.max_size and
// backup_count: the fields tagged compat:"unused") are accepted and
// type-checked, so every configuration file the original shipped loads
// unchanged; Load lists the ones the user set in Config.Unused for the
// daemon to name in one warning. Keys that were never the original's are
// errors.
//
// # Boundaries
//
// This package must not import the host (host/), the plugin SDK (sdk/) or
// plugins (plugins/), and must not act on the configuration: it does not
// resolve the plugin directory, create the data directory, open the log
// file, or interpret plugin config blocks. It does not log.
package config
