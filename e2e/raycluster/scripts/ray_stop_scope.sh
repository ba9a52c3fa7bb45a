#!/usr/bin/env bash
# Shows what `ray stop` stops, without touching any other Ray on the machine: it runs in a
# fresh PID namespace (unshare, needs root), starts two heads with their own --temp-dir and
# ports, then runs `ray stop` with every targeting knob it might honour (--address does not
# exist; RAY_ADDRESS, RAY_TMPDIR and the working directory are tried) and lists the survivors.
# Usage: e2e/raycluster/scripts/ray_stop_scope.sh [path/to/ray]   (default: .venv-ray/bin/ray)
set -euo pipefail
RAY=${1:-${CASTRAY_RAY_BIN:-$(git rev-parse --show-toplevel)/.venv-ray/bin/ray}}
if [[ ${INSIDE_NS:-} != 1 ]]; then
	exec unshare --pid --fork --mount-proc env INSIDE_NS=1 bash "$0" "$RAY"
fi
export RAY_USAGE_STATS_ENABLED=0 RAY_AUTH_MODE=disabled HOME=$(mktemp -d /tmp/crt-home-XXXXXX)
start() { # name gcs dash client agent dmetric ametric
	local d=/tmp/crt-stop-$1
	rm -rf "$d" && mkdir -p "$d"
	(cd "$d" && DASHBOARD_METRIC_PORT=$6 AUTOSCALER_METRIC_PORT=$7 "$RAY" start --head --port="$2" \
		--dashboard-port="$3" --dashboard-host=127.0.0.1 --ray-client-server-port="$4" \
		--dashboard-agent-listen-port="$5" --temp-dir="$d" --num-cpus=1 --include-dashboard=true \
		--disable-usage-stats --log-color=false >"$d.start.log" 2>&1)
	echo "started $1: $(cat "$d/ray_current_cluster")"
}
count() { # temp dir -> live (non-zombie) processes whose cwd is in it: "N [comm ...]"
	local n=0 p names=()
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/cwd" 2>/dev/null) == "$1"* ]] || continue
		[[ $(awk '{print $3}' "$p/stat" 2>/dev/null) == Z ]] && continue
		n=$((n + 1)) && names+=("$(cat "$p/comm" 2>/dev/null)")
	done
	echo "$n [${names[*]:0:25}]"
}
start a 36379 38265 30001 32365 34227 34217
start b 36380 38266 30002 32366 34228 34218
echo "before: a=$(count /tmp/crt-stop-a) b=$(count /tmp/crt-stop-b) processes"
"$RAY" stop --help | sed -n '1,12p'
echo "--- RAY_ADDRESS=<a's GCS> RAY_TMPDIR=/tmp/crt-stop-a, cwd=a: ray stop"
(cd /tmp/crt-stop-a && RAY_ADDRESS=$(cat /tmp/crt-stop-a/ray_current_cluster) RAY_TMPDIR=/tmp/crt-stop-a \
	"$RAY" stop --log-color=false --log-style=record 2>&1 | tr '\r' '\n' | grep -v "stopped\.$" | cut -c1-160)
echo "right after ray stop: a=$(count /tmp/crt-stop-a) b=$(count /tmp/crt-stop-b) processes"
sleep 5
echo "5 s later: a=$(count /tmp/crt-stop-a) b=$(count /tmp/crt-stop-b) processes"
"$RAY" stop --force >/dev/null 2>&1 || true
rm -rf /tmp/crt-stop-a /tmp/crt-stop-b /tmp/crt-stop-a.start.log /tmp/crt-stop-b.start.log "$HOME"
