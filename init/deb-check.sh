#!/bin/sh
# `make deb-check`: install the package `make deb` built, check the installed
# daemon and files, purge it. Leaves the machine as it found it (the purge
# runs whatever happened before), so CI can run it last. Needs root (or sudo).
# Environment: VERSION, DEB_DIR (build/debian).
set -u
DEB_DIR=${DEB_DIR:-build/debian}
fail=0
say() { printf 'deb-check: %s\n' "$*"; }
check() {
	what=$1
	shift
	if "$@" >/dev/null 2>&1; then say "ok: $what"; else say "FAIL: $what"; fail=1; fi
}

if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
	say "needs root (or sudo)"
	exit 1
fi
deb=""
for f in "$DEB_DIR"/modbridge_"${VERSION:?}"_*.deb; do [ -e "$f" ] && deb=$f; done
[ -n "$deb" ] || { say "no $DEB_DIR/modbridge_${VERSION}_*.deb: run make deb"; exit 1; }
case "$deb" in /*) ;; *) deb="$PWD/$deb" ;; esac

purge() {
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq modbridge >/dev/null 2>&1
}
trap purge EXIT

say "installing $deb"
if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb"; then
	say "FAIL: apt-get install"
	exit 1
fi
check "/usr/bin/modbridge is installed" test -x /usr/bin/modbridge
check "modbridge --version says modbridge $VERSION" sh -c "/usr/bin/modbridge --version | grep -Eqx 'modbridge $VERSION( \(.*\))?'"
# From / so that the example's relative "maps" entry finds nothing: the
# installed maps must do.
out=$(cd / && /usr/bin/modbridge --check -c /etc/modbridge/modbridge.conf.example 2>&1)
ok=false
case "$out" in *": OK, "*) ok=true ;; esac
check "modbridge --check accepts the installed example ($out)" $ok
check "maps in /usr/share/modbridge/maps" test -r /usr/share/modbridge/maps/powergo.conf
check "man pages modbridge(8) and modbridge.conf(5)" sh -c 'test -r /usr/share/man/man8/modbridge.8.gz && test -r /usr/share/man/man5/modbridge.conf.5.gz'
unit=""
for d in /lib/systemd/system /usr/lib/systemd/system; do [ -r "$d/modbridge.service" ] && unit="$d/modbridge.service"; done
check "systemd unit installed" test -n "$unit"
check "unit: Type=notify, WatchdogSec, User=modbridge" sh -c "grep -qx 'Type=notify' '$unit' && grep -q '^WatchdogSec=' '$unit' && grep -qx 'User=modbridge' '$unit'"
check "system user modbridge exists" getent passwd modbridge
check "its home does not exist, its shell is nologin" sh -c 'getent passwd modbridge | grep -q ":/nonexistent:/usr/sbin/nologin$"'

trap - EXIT
purge || { say "FAIL: apt-get purge"; fail=1; }
check "purged: no /usr/bin/modbridge" test ! -e /usr/bin/modbridge
check "purged: no /etc/modbridge" test ! -e /etc/modbridge
check "purged: no user modbridge" sh -c '! getent passwd modbridge'
check "purged: the unit is no longer enabled" test ! -e /etc/systemd/system/multi-user.target.wants/modbridge.service
if [ $fail = 0 ]; then say "all passed"; else say "failed"; fi
exit $fail
