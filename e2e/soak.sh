#!/usr/bin/env bash
# make soak: the fault campaign (e2e/soak: kill -9 of plugins and of the
# daemon, a churned live Ray cluster), then the load test (e2e/load) when it
# exists. Arguments go to e2e/soak (e.g. -plugin-kills 10 -daemon-kills 3
# -churn 2m for a short run; `go run ./e2e/soak -h` lists them). Exits
# non-zero when either fails; an interrupted campaign (Ctrl-C) skips the
# load test. Both are built first and run as binaries (`go run` would turn
# every exit status into 1 and not pass SIGTERM on).
set -uo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/castray-soak-bin-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/soak" ./e2e/soak || exit 2
if [ -d e2e/load ]; then
	go build -o "$tmp/load" ./e2e/load || exit 2
fi

"$tmp/soak" "$@"
soak=$?
if [ "$soak" -eq 130 ]; then
	exit 130
fi
load=0
if [ -x "$tmp/load" ]; then
	"$tmp/load"
	load=$?
fi
echo "soak.sh: e2e/soak exit $soak, e2e/load exit $load" >&2
if [ "$soak" -ne 0 ] || [ "$load" -ne 0 ]; then
	exit 1
fi
