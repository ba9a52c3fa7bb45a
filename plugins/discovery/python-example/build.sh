#!/bin/sh
# Installs the python-example plugin into a plugin directory:
#
#   DIR/castray-discovery-python-example     the executable the daemon runs: a launcher that
#                                            starts plugin.py with PYTHON
#   DIR/castray-discovery-python-example.d/  plugin.py and the stubs generated here from the
#                                            protos (the daemon skips directories)
#
# usage: build.sh PYTHON DIR
#   PYTHON  a Python with requirements.txt installed (`make python-plugins` uses .venv-plugins)
#   DIR     the plugin directory, e.g. bin/plugins
#
# The stubs come from the repo's protos (sdk/proto/castray/v1) and from go-plugin's own
# (internal/plugin/grpc_controller.proto and grpc_stdio.proto of the go-plugin version in go.mod,
# found with `go list -m`), so they always match what the daemon speaks.
set -eu
[ $# -eq 2 ] || { echo "usage: $0 PYTHON DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
# Absolute, without resolving a venv's symlink (the venv is found through it).
python=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
mkdir -p "$2"
dir=$(cd "$2" && pwd)
goplugin=$(cd "$root" && go list -m -f '{{.Dir}}' github.com/hashicorp/go-plugin)
[ -f "$goplugin/internal/plugin/grpc_controller.proto" ] || { echo "go-plugin's protos not found in '$goplugin' (run go mod download)" >&2; exit 1; }

app=$dir/castray-discovery-python-example.d
rm -rf "$app.new"
mkdir -p "$app.new/gen"
# python -m grpc_tools.protoc adds the well-known types (google/protobuf/empty.proto) itself.
"$python" -m grpc_tools.protoc -I "$root/sdk/proto" --python_out="$app.new/gen" --grpc_python_out="$app.new/gen" \
	castray/v1/plugin.proto castray/v1/discovery.proto
"$python" -m grpc_tools.protoc -I "$goplugin/internal/plugin" --python_out="$app.new/gen" --grpc_python_out="$app.new/gen" \
	grpc_controller.proto grpc_stdio.proto
cp "$here/plugin.py" "$app.new/"
rm -rf "$app"
mv "$app.new" "$app"

cat >"$dir/castray-discovery-python-example.new" <<LAUNCHER
#!/bin/sh
# The python-example CastRay plugin, installed by plugins/discovery/python-example/build.sh.
exec '$python' "\$(dirname "\$0")/castray-discovery-python-example.d/plugin.py" "\$@"
LAUNCHER
chmod 755 "$dir/castray-discovery-python-example.new"
mv "$dir/castray-discovery-python-example.new" "$dir/castray-discovery-python-example"
echo "installed $dir/castray-discovery-python-example (python: $python)"
