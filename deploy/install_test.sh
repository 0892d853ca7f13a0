#!/bin/sh
# Tests deploy/install.sh by staging into temporary directories (DESTDIR):
# files, modes, PREFIX rewriting, and that an existing configuration is
# kept. Needs no root and touches nothing outside its temp dir.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

printf '#!/bin/sh\necho fake eidastatsd\n' >"$tmp/eidastatsd"
chmod 0755 "$tmp/eidastatsd"

# 1. Default prefix.
DESTDIR="$tmp/root" "$here/install.sh" "$tmp/eidastatsd" >"$tmp/out1"
r="$tmp/root"
[ -x "$r/usr/local/bin/eidastatsd" ] || fail "binary not installed"
cmp -s "$tmp/eidastatsd" "$r/usr/local/bin/eidastatsd" || fail "binary differs"
cmp -s "$here/systemd/eidastatsd.service" "$r/etc/systemd/system/eidastatsd.service" || fail "unit changed with default prefix"
cmp -s "$here/../configs/eidastatsd.yaml" "$r/etc/eidastatsd/eidastatsd.yaml" || fail "config not installed"
cmp -s "$here/systemd/eidastatsd.sysusers" "$r/usr/lib/sysusers.d/eidastatsd.conf" || fail "sysusers snippet not installed"
[ "$(stat -c %a "$r/etc/eidastatsd")" = 750 ] || fail "config dir mode $(stat -c %a "$r/etc/eidastatsd")"
[ "$(stat -c %a "$r/etc/systemd/system/eidastatsd.service")" = 644 ] || fail "unit mode"
grep -q "staged into" "$tmp/out1" || fail "no staging notice"

# 2. An existing configuration is kept.
echo "# edited by the operator" >"$r/etc/eidastatsd/eidastatsd.yaml"
DESTDIR="$r" "$here/install.sh" "$tmp/eidastatsd" >"$tmp/out2"
grep -q "edited by the operator" "$r/etc/eidastatsd/eidastatsd.yaml" || fail "existing config overwritten"
grep -q "kept existing" "$tmp/out2" || fail "no notice about the kept config"

# 3. PREFIX and SYSCONFDIR are carried into the unit.
DESTDIR="$tmp/root2" PREFIX=/usr SYSCONFDIR=/opt/etc "$here/install.sh" "$tmp/eidastatsd" >/dev/null
u="$tmp/root2/etc/systemd/system/eidastatsd.service"
[ -x "$tmp/root2/usr/bin/eidastatsd" ] || fail "PREFIX ignored"
grep -q '^ExecStart=/usr/bin/eidastatsd run --config /opt/etc/eidastatsd/eidastatsd.yaml$' "$u" || fail "ExecStart not rewritten: $(grep ExecStart "$u")"
grep -q '^LoadCredential=token:/opt/etc/eidastatsd/token$' "$u" || fail "LoadCredential not rewritten"

# 4. A missing binary is refused.
if DESTDIR="$tmp/root3" "$here/install.sh" "$tmp/nothere" 2>"$tmp/err4"; then fail "missing binary accepted"; fi
grep -q "not found" "$tmp/err4" || fail "unclear error: $(cat "$tmp/err4")"
[ ! -e "$tmp/root3" ] || fail "files written despite the error"

echo "install_test.sh: 4 passed, 0 failed"
