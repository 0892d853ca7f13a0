#!/bin/sh
# Install eidastatsd: binary, systemd unit, sysusers snippet, default
# configuration (only if absent), and the service user.
#
#   deploy/install.sh [BINARY]            # BINARY defaults to ./eidastatsd
#   DESTDIR=/tmp/stage PREFIX=/usr deploy/install.sh bin/eidastatsd
#
# DESTDIR stages into another root (packaging, tests): no user is created
# and systemd is not touched. PREFIX (default /usr/local) is where the
# binary goes; the unit's ExecStart is rewritten to match.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
bin=${1:-./eidastatsd}
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-/etc/systemd/system}
SYSUSERSDIR=${SYSUSERSDIR:-/usr/lib/sysusers.d}
SEISCOMP_GROUP=${SEISCOMP_GROUP:-sysop}

die() { echo "install.sh: $*" >&2; exit 1; }

[ -x "$bin" ] || die "binary $bin not found or not executable (run make build first)"
[ -f "$top/configs/eidastatsd.yaml" ] || die "configs/eidastatsd.yaml missing"

install -d -m 0755 "$DESTDIR$PREFIX/bin" "$DESTDIR$UNITDIR" "$DESTDIR$SYSUSERSDIR"
install -d -m 0750 "$DESTDIR$SYSCONFDIR/eidastatsd"
install -m 0755 "$bin" "$DESTDIR$PREFIX/bin/eidastatsd"
sed "s#/usr/local/bin/eidastatsd#$PREFIX/bin/eidastatsd#; s#/etc/eidastatsd/#$SYSCONFDIR/eidastatsd/#g" \
	"$here/systemd/eidastatsd.service" >"$DESTDIR$UNITDIR/eidastatsd.service"
chmod 0644 "$DESTDIR$UNITDIR/eidastatsd.service"
install -m 0644 "$here/systemd/eidastatsd.sysusers" "$DESTDIR$SYSUSERSDIR/eidastatsd.conf"

conf="$DESTDIR$SYSCONFDIR/eidastatsd/eidastatsd.yaml"
if [ -e "$conf" ]; then
	echo "kept existing $conf"
else
	install -m 0644 "$top/configs/eidastatsd.yaml" "$conf"
	echo "installed $conf"
fi

if [ -n "$DESTDIR" ]; then
	echo "staged into $DESTDIR (no user created, systemd untouched)"
	exit 0
fi

if ! getent passwd eidastatsd >/dev/null; then
	if command -v systemd-sysusers >/dev/null 2>&1; then
		systemd-sysusers "$SYSUSERSDIR/eidastatsd.conf"
	else
		useradd --system --home-dir /var/lib/eidastatsd --no-create-home \
			--shell /usr/sbin/nologin --user-group eidastatsd
	fi
	echo "created user eidastatsd"
fi
if ! getent group "$SEISCOMP_GROUP" >/dev/null; then
	echo "warning: group $SEISCOMP_GROUP does not exist; the unit's SupplementaryGroups=$SEISCOMP_GROUP"
	echo "         would stop it from starting. Set the group owning the SeisComP log directory:"
	echo "         systemctl edit eidastatsd  ->  [Service] SupplementaryGroups=  SupplementaryGroups=GROUP"
fi
if [ ! -e "$SYSCONFDIR/eidastatsd/token" ]; then
	echo "next: put the token from the EIDA statistics operators into $SYSCONFDIR/eidastatsd/token (mode 0600, owner root)"
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	echo "next: systemctl enable --now eidastatsd"
fi
