package jobcast

import (
	"bytes"
	"compress/zlib"
	_ "embed"
	"encoding/base64"
	"fmt"
	"sync"
)

// driverSource is the job's Python driver (standard library and ray only).
//
//go:embed driver.py
var driverSource []byte

var encoded = sync.OnceValues(func() (string, error) {
	var buf bytes.Buffer
	w, err := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(driverSource); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("compressing the driver: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
})

// encodedDriver is driver.py, zlib-compressed and base64-encoded: the value
// of the job's metadata key MetaDriver.
func encodedDriver() (string, error) { return encoded() }

// The job metadata keys that carry the driver and its settings. Metadata,
// not runtime_env.env_vars: a job-level runtime_env becomes the default of
// every task and actor of the job, so Ray cannot hand them its prestarted
// workers and starts fresh worker processes (about a second each, the
// writers' start); and not the command line, which `ps` shows on the head.
// Ray's job supervisor hands the metadata to the entrypoint in
// $RAY_JOB_CONFIG_JSON_ENV_VAR.
const (
	MetaDriver = "castray_driver"
	MetaConfig = "castray_config"
)

// launcher runs the driver from the job's metadata; it is the -c argument of
// the Python found.
const launcher = `import base64,json,os,zlib;m=json.loads(os.environ["RAY_JOB_CONFIG_JSON_ENV_VAR"])["metadata"];exec(compile(zlib.decompress(base64.b64decode(m["` + MetaDriver + `"])),"castray-ray-driver","exec"))`

// entrypoint is the job's shell command (POSIX sh, run by Ray's job
// supervisor on the head node). It runs the launcher with the first Python
// that can import ray: the configured one; the one running Ray's job
// supervisor (its _raylet.so in /proc/$PPID/maps names its prefix: Ray's
// own Python, even in a virtualenv not on PATH); python3; python.
func entrypoint(python string) string {
	return `f=$(grep -m1 -o '/[^ ]*/lib/python[0-9.]*/site-packages/ray/_raylet\.so' /proc/$PPID/maps 2>/dev/null); ` +
		`for p in '` + python + `' "${f%/lib/python*}/bin/python" python3 python; do ` +
		`[ -n "$p" ] && [ "$p" != /bin/python ] && "$p" -c 'import importlib.util,sys; sys.exit(importlib.util.find_spec("ray") is None)' 2>/dev/null && ` +
		`exec "$p" -u -c '` + launcher + `'; done; ` +
		`echo 'CASTRAY_FATAL {"error": "no Python with ray found on the head node (set plugin config python)"}'; exit 127`
}
