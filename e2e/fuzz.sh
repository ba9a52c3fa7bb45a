#!/usr/bin/env bash
# `make fuzz`: runs every Go fuzz target of the module (func FuzzXxx in a
# _test.go file) for FUZZTIME each (default 20s), one after the other, and
# prints a table: target, package, executions, new corpus entries, result.
# A failure leaves Go's minimized input under the package's
# testdata/fuzz/<target>/ — commit it: it is a regression test from then on
# (plain `go test` runs it) — and makes the exit status non-zero.
#
# Knobs (environment): FUZZTIME (go test -fuzztime, e.g. 1m or 5000x),
# FUZZ (a regexp on target names, default all).
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-20s}
FUZZ=${FUZZ:-.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

status=0
rows=()
while IFS=: read -r file target; do
	pkg=./$(dirname "$file")
	[[ $target =~ $FUZZ ]] || continue
	out=$tmp/$target.out
	echo "== $target ($pkg, $FUZZTIME)"
	if "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -parallel "${FUZZ_PARALLEL:-1}" "$pkg" >"$out" 2>&1; then
		result=ok
	else
		result=FAIL
		status=1
		grep -v '^fuzz: elapsed' "$out" | tail -15
	fi
	last=$(grep -E '^fuzz: elapsed' "$out" | tail -1)
	execs=$(sed -nE 's/.*execs: ([0-9]+).*/\1/p' <<<"$last")
	news=$(sed -nE 's/.*new interesting: ([0-9]+).*/\1/p' <<<"$last")
	rows+=("$(printf '%-28s %-45s %10s %6s  %s' "$target" "$pkg" "${execs:-?}" "${news:-?}" "$result")")
done < <(grep -rEo --include='*_test.go' '^func (Fuzz[A-Za-z0-9_]+)' --exclude-dir='.venv*' --exclude-dir=node_modules . |
	sed -E 's/^\.\///; s/:func /:/' | sort)

echo
printf '%-28s %-45s %10s %6s  %s\n' TARGET PACKAGE EXECS NEW RESULT
printf '%s\n' "${rows[@]}"
exit $status
