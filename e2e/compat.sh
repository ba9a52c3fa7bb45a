#!/usr/bin/env bash
# e2e/compat.sh — `make compat`: the e2e discovery and connection suites against several Ray
# releases, with token auth off and on, and a table of the results.
#
# For each version in COMPAT_VERSIONS (default: one release older than 2.40, one 2.5x and the
# pinned RAY_VERSION of the Makefile) it installs ray[default]==<version> into
# .venv-ray-<version> once (cached by a stamp file, like `make ray-venv`; the pinned version
# reuses .venv-ray when `make ray-venv` made it), then runs the e2e test binary with
# CASTRAY_RAY_BIN pointing at that venv, one cell at a time:
#
#   discovery   token off: TestDiscoveryFindsLiveClustersAndStaleSessions
#               token on:  TestDiscoveryWithTokenAuth
#   connection  token off: TestConnectByDashboardBareAndGCS, TestConnectBadAndUnreachableAddresses,
#                          TestMultiNodeClusterFollowsWorkerDeathAndRestart, TestFallbackToLocalHead,
#                          TestConfiguredClusterThatStartsLater
#               token on:  TestTwoClustersWithTokenAuth
#   one cluster = one connection (GCS address, bare host:port, dashboard URL, both orders)
#               token off: TestOneClusterIsOneConnection
#               token on:  TestOneClusterIsOneConnectionWithToken
#
# A token-on cell of a release without token auth is "n/a (not in this release)": the test asks
# e2e/raycluster for a token cluster, and the live head, having no /api/authentication_mode,
# makes it skip with raycluster.TokenAuthNA. Any other skip counts as a failure.
#
# It prints the table (Markdown), keeps each cell's log and the table in COMPAT_OUT (default
# .compat/), and exits non-zero if any cell failed. With COMPAT_WRITE_DOCS=1 it also replaces
# the table between the compat:begin/compat:end markers of docs/compat.md.
#
# Environment: COMPAT_VERSIONS ("2.9.3 2.53.0 2.60.0"), CASTRAY_BIN_DIR (default bin/, as made
# by `make build`), PYTHON (python3), COMPAT_OUT, COMPAT_TIMEOUT (go test -timeout per cell,
# default 30m), COMPAT_WRITE_DOCS. Ray clusters take the machine-wide lock of e2e/raycluster, so
# this waits for (and serialises with) any other e2e run on the machine.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PINNED=$(sed -n 's/^RAY_VERSION *?= *//p' Makefile | head -1)
VERSIONS=${COMPAT_VERSIONS:-"2.9.3 2.53.0 $PINNED"}
PYTHON=${PYTHON:-python3}
BIN_DIR=${CASTRAY_BIN_DIR:-$ROOT/bin}
OUT=${COMPAT_OUT:-$ROOT/.compat}
TIMEOUT=${COMPAT_TIMEOUT:-30m}
mkdir -p "$OUT"

if [ ! -x "$BIN_DIR/castray" ]; then
	echo "compat: no $BIN_DIR/castray; run \`make build\` (or set CASTRAY_BIN_DIR)" >&2
	exit 2
fi

# venv VERSION: prints the ray CLI of a virtualenv with ray[default]==VERSION, making it once.
venv() {
	local v=$1 dir
	if [ "$v" = "$PINNED" ] && [ -f "$ROOT/.venv-ray/.stamp-$v" ]; then
		echo "$ROOT/.venv-ray/bin/ray"
		return 0
	fi
	dir=$ROOT/.venv-ray-$v
	if [ ! -f "$dir/.stamp-$v" ]; then
		echo "compat: installing ray[default]==$v into $dir" >&2
		rm -rf "$dir"
		"$PYTHON" -m venv "$dir" >&2 &&
			"$dir/bin/pip" install --quiet --disable-pip-version-check "ray[default]==$v" >&2 &&
			touch "$dir/.stamp-$v" || return 1
	fi
	echo "$dir/bin/ray"
}

# One test binary for every cell (TestMain uses the binaries of CASTRAY_BIN_DIR).
TEST_BIN=$OUT/e2e.test
echo "compat: building the e2e test binary" >&2
if ! go test -c -o "$TEST_BIN" ./e2e; then
	echo "compat: go test -c ./e2e failed" >&2
	exit 2
fi

SUITES="discovery connection oneconn"
run_pattern() { # suite auth -> -test.run pattern
	case "$1/$2" in
	discovery/off) echo '^TestDiscoveryFindsLiveClustersAndStaleSessions$' ;;
	discovery/token) echo '^TestDiscoveryWithTokenAuth$' ;;
	connection/off) echo '^(TestConnectByDashboardBareAndGCS|TestConnectBadAndUnreachableAddresses|TestMultiNodeClusterFollowsWorkerDeathAndRestart|TestFallbackToLocalHead|TestConfiguredClusterThatStartsLater)$' ;;
	connection/token) echo '^TestTwoClustersWithTokenAuth$' ;;
	oneconn/off) echo '^TestOneClusterIsOneConnection$' ;;
	oneconn/token) echo '^TestOneClusterIsOneConnectionWithToken$' ;;
	esac
}

# cell VERSION AUTH SUITE RAYBIN: runs one cell, prints its verdict.
cell() {
	local v=$1 auth=$2 suite=$3 raybin=$4 log rc
	log=$OUT/$v-$auth-$suite.log
	echo "compat: Ray $v, token $auth, $suite (log: $log)" >&2
	(cd "$ROOT/e2e" && CASTRAY_BIN_DIR=$BIN_DIR CASTRAY_RAY_BIN=$raybin \
		"$TEST_BIN" -test.count=1 -test.v -test.timeout "$TIMEOUT" -test.run "$(run_pattern "$suite" "$auth")") >"$log" 2>&1
	rc=$?
	if [ $rc -ne 0 ] || grep -q -- '^ *--- FAIL' "$log"; then
		echo "FAIL"
	elif ! grep -q -- '^ *--- \(PASS\|SKIP\)' "$log"; then
		echo "FAIL (no test ran)"
	elif grep -q -- '^ *--- SKIP' "$log"; then
		if grep -q "token auth n/a (not in this release)" "$log" && ! grep -q -- '^ *--- PASS' "$log"; then
			echo "n/a (not in this release)"
		else
			echo "FAIL (skipped)"
		fi
	else
		echo "pass"
	fi
}

declare -A RESULT
failed=0
for v in $VERSIONS; do
	if ! raybin=$(venv "$v"); then
		for auth in off token; do for s in $SUITES; do RESULT[$v/$auth/$s]="FAIL (install)"; done; done
		failed=1
		continue
	fi
	got=$("$raybin" --version 2>/dev/null | sed -n 's/^ray, version \([^ ]*\).*/\1/p')
	if [ "$got" != "$v" ]; then
		echo "compat: $raybin reports version '$got', want $v" >&2
		for auth in off token; do for s in $SUITES; do RESULT[$v/$auth/$s]="FAIL (ray --version: $got)"; done; done
		failed=1
		continue
	fi
	for auth in off token; do
		for s in $SUITES; do
			r=$(cell "$v" "$auth" "$s" "$raybin")
			RESULT[$v/$auth/$s]=$r
			echo "compat: Ray $v, token $auth, $s: $r" >&2
			case $r in FAIL*) failed=1 ;; esac
		done
	done
done

table() {
	echo "| Ray | token auth | discovery suite | connection suite | one cluster = one connection |"
	echo "|---|---|---|---|---|"
	for v in $VERSIONS; do
		for auth in off token; do
			printf '| %s | %s | %s | %s | %s |\n' "$v" "$auth" \
				"${RESULT[$v/$auth/discovery]}" "${RESULT[$v/$auth/connection]}" "${RESULT[$v/$auth/oneconn]}"
		done
	done
}
table | tee "$OUT/table.md"
echo "compat: $(date -u '+%Y-%m-%d %H:%M UTC'), logs in $OUT" >&2

if [ "${COMPAT_WRITE_DOCS:-}" = 1 ] && [ -f docs/compat.md ]; then
	awk -v table="$OUT/table.md" '
		/<!-- compat:begin -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
		/<!-- compat:end -->/ { skip = 0 }
		!skip { print }' docs/compat.md >"$OUT/compat.md.new" && mv "$OUT/compat.md.new" docs/compat.md
fi
exit $failed
