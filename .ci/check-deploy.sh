#!/bin/bash
# Checks the deployment files: the systemd unit (systemd-analyze verify and
# a security exposure of at most 2.0), the Prometheus rules (promtool check
# and unit tests), the unit's command line, configuration and exit status 78
# against the binary, and deploy/install.sh. Works as root on Debian 12 without
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

echo "== unit against the binary"
# ExecStart's command and flags exist, the shipped configuration (installed
# as /etc/eidastatsd/eidastatsd.yaml) is valid, and a configuration error
# exits with the status the unit does not restart on.
read -r -a execstart <<<"$(sed -n 's/^ExecStart=//p' deploy/systemd/eidastatsd.service)"
sub=${execstart[1]:-}
if ! "$exe" "$sub" --help >"$tmp/help.out" 2>&1; then
	fail "ExecStart: '$sub --help' fails"
fi
for arg in "${execstart[@]:2}"; do
	case $arg in
	--*) grep -q -- "-${arg#--}" "$tmp/help.out" || fail "ExecStart: flag $arg unknown to '$sub'" ;;
	esac
done
grep -q -- "--config /etc/eidastatsd/eidastatsd.yaml" deploy/systemd/eidastatsd.service || fail "ExecStart: not --config /etc/eidastatsd/eidastatsd.yaml"
grep -q 'eidastatsd/eidastatsd.yaml' deploy/install.sh || fail "install.sh does not install /etc/eidastatsd/eidastatsd.yaml"
"$exe" check-config --config configs/eidastatsd.yaml || fail "configs/eidastatsd.yaml does not pass check-config"
printf 'logging:\n  level: loud\n' >"$tmp/bad.yaml"
status=0
"$exe" check-config --config "$tmp/bad.yaml" >/dev/null 2>&1 || status=$?
prevent=$(sed -n 's/^RestartPreventExitStatus=//p' deploy/systemd/eidastatsd.service)
[ "$status" = "$prevent" ] || fail "a configuration error exits $status, the unit's RestartPreventExitStatus is $prevent"

echo "== install.sh"
sh deploy/install_test.sh || fail "deploy/install_test.sh"

if [ "$failed" -ne 0 ]; then
	echo "check-deploy: 0 passed, 1 failed"
	exit 1
fi
echo "check-deploy: 5 passed, 0 failed"
