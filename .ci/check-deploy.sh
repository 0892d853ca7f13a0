#!/bin/bash
# Checks the deployment files: the systemd unit (systemd-analyze verify and
# a security exposure of at most 2.0), the Prometheus rules (promtool check
# and unit tests), and deploy/install.sh. Works as root on Debian 12 without
# a running systemd; installs systemd and prometheus (promtool) if missing.
set -euo pipefail

cd "$(dirname "$0")/.."
max_exposure=2.0
failed=0
fail() { echo "check-deploy: FAIL: $*" >&2; failed=1; }

if ! command -v systemd-analyze >/dev/null || ! command -v promtool >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends systemd prometheus >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify needs ExecStart to exist: build the daemon and point a copy of
# the unit at it.
exe="$tmp/eidastatsd"
if ! go build -o "$exe" ./cmd/eidastatsd; then
	fail "go build ./cmd/eidastatsd"
	exe=/bin/true
fi
unit="$tmp/eidastatsd.service"
sed "s#/usr/local/bin/eidastatsd#$exe#" deploy/systemd/eidastatsd.service >"$unit"

echo "== systemd-analyze verify"
# verify prints warnings without failing on some of them: treat any output
# about our unit as a failure too.
if ! systemd-analyze verify "$unit" >"$tmp/verify.out" 2>&1; then
	cat "$tmp/verify.out"
	fail "systemd-analyze verify"
elif grep -F "eidastatsd.service" "$tmp/verify.out"; then
	fail "systemd-analyze verify reported problems"
fi

echo "== systemd-analyze security (offline)"
if systemd-analyze security --offline=true --no-pager "$unit" >"$tmp/security.out" 2>&1; then :; fi
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$tmp/security.out")
if [ -z "$exposure" ]; then
	cat "$tmp/security.out"
	fail "could not read the exposure level"
elif awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e > m) }'; then
	grep '✗' "$tmp/security.out" || true
	fail "exposure $exposure > $max_exposure"
else
	echo "exposure $exposure (<= $max_exposure)"
fi

echo "== promtool"
promtool check rules deploy/prometheus/alerts.yml || fail "promtool check rules"
promtool test rules deploy/prometheus/alerts_test.yml || fail "promtool test rules"

echo "== install.sh"
sh deploy/install_test.sh || fail "deploy/install_test.sh"

if [ "$failed" -ne 0 ]; then
	echo "check-deploy: 0 passed, 1 failed"
	exit 1
fi
echo "check-deploy: 4 passed, 0 failed"
