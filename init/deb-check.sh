#!/bin/sh
# `make deb-check`: install the package `make deb` built, check the installed
# daemon and files, run a serial device under the package's user across an
# unplug, run lintian, purge it. Leaves the machine as it found it (the purge
# runs whatever happened before; the system user, which Debian keeps on
# purge, is removed here when it was not there before), so CI can run it
# last. Needs root (or sudo). Environment: VERSION, DEB_DIR (build/debian),
# MB_BUILD (build: where tests/e2e/test_dialout and the simulator are).
set -u
DEB_DIR=${DEB_DIR:-build/debian}
MB_BUILD=${MB_BUILD:-build}
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

had_user=false
getent passwd modbridge >/dev/null && had_user=true
purge() {
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq modbridge >/dev/null 2>&1
	rc=$?
	if ! $had_user && getent passwd modbridge >/dev/null; then
		$SUDO userdel modbridge >/dev/null 2>&1
	fi
	return $rc
}
trap purge EXIT

say "installing $deb"
if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb"; then
	say "FAIL: apt-get install"
	exit 1
fi
check "/usr/bin/modbridge is installed" test -x /usr/bin/modbridge
check "modbridge --version says modbridge $VERSION" sh -c "/usr/bin/modbridge --version | grep -Eqx 'modbridge $VERSION( \(.*\))?'"

# The example is documentation, not a conffile: /etc/modbridge holds only
# what the admin writes.
doc=/usr/share/doc/modbridge
ex=$doc/examples/modbridge.conf.example
check "the user, evcc and Home Assistant guides in $doc" sh -c "test -r $doc/user-guide.md && test -r $doc/evcc.md && test -r $doc/home-assistant.md"
check "the example config in $doc/examples" test -r "$ex"
check "no example config in /etc/modbridge" test ! -e /etc/modbridge/modbridge.conf.example
check "no conffile" test -z "$(dpkg-query -W -f='${Conffiles}' modbridge)"
check "the man pages point to $doc/user-guide.md" sh -c "zcat /usr/share/man/man8/modbridge.8.gz /usr/share/man/man5/modbridge.conf.5.gz | grep -c '^\\.I $doc/user-guide.md' | grep -qx 2"
# From / so that the example's relative "maps" entry finds nothing: the
# installed maps must do.
out=$(cd / && /usr/bin/modbridge --check -c "$ex" 2>&1)
ok=false
case "$out" in *": OK, "*) ok=true ;; esac
check "modbridge --check accepts the installed example ($out)" $ok
check "maps in /usr/share/modbridge/maps" test -r /usr/share/modbridge/maps/powergo.conf
check "man pages modbridge(8) and modbridge.conf(5)" sh -c 'test -r /usr/share/man/man8/modbridge.8.gz && test -r /usr/share/man/man5/modbridge.conf.5.gz'
unit=""
for d in /lib/systemd/system /usr/lib/systemd/system; do [ -r "$d/modbridge.service" ] && unit="$d/modbridge.service"; done
check "systemd unit installed" test -n "$unit"
check "unit: Type=notify, WatchdogSec, User=modbridge, SupplementaryGroups=dialout" sh -c "grep -qx 'Type=notify' '$unit' && grep -q '^WatchdogSec=' '$unit' && grep -qx 'User=modbridge' '$unit' && grep -qx 'SupplementaryGroups=dialout' '$unit'"
if command -v systemd-analyze >/dev/null 2>&1; then
	# man(1) may be missing here; anything else it says is a finding.
	v=$(systemd-analyze verify "$unit" 2>&1 | grep -v -e 'modbridge(8)' -e 'modbridge.conf(5)')
	check "systemd-analyze verify $unit${v:+: $v}" test -z "$v"
fi

# The user comes from sysusers.d (dh_installsysusers), not adduser.
check "sysusers.d file /usr/lib/sysusers.d/modbridge.conf" test -r /usr/lib/sysusers.d/modbridge.conf
check "system user modbridge exists" getent passwd modbridge
check "its home does not exist, its shell is nologin" sh -c 'getent passwd modbridge | grep -q ":/nonexistent:/usr/sbin/nologin$"'
check "it is in group dialout (serial adapters)" sh -c 'id -nG modbridge | tr " " "\n" | grep -qx dialout'

# Runs: the installed daemon, dropping to the package's user, reads an RTU
# slave on a pty owned root:dialout 0660 across an unplug (the unit's
# User=modbridge and SupplementaryGroups=dialout give the same credentials;
# systemd is not PID 1 everywhere this runs, so the drop stands in).
if [ -x "$MB_BUILD/tests/e2e/test_dialout" ] && [ -x "$MB_BUILD/tests/sim/sim_modbus" ]; then
	inst="$MB_BUILD/installed"
	rm -rf "$inst" && mkdir -p "$inst/tests/sim"
	ln -s /usr/bin/modbridge "$inst/modbridge"
	ln -s "$PWD/$MB_BUILD/tests/sim/sim_modbus" "$inst/tests/sim/sim_modbus"
	t="$MB_BUILD/tests/e2e/test_dialout"
	out=$(MB_BUILD=$inst MB_DIALOUT_USER=modbridge "$t" 2>&1)
	rc=$?
	printf '%s\n' "$out" | sed 's/^/deb-check:   /'
	check "a serial device under user modbridge keeps working across an unplug" test "$rc" = 0
	rm -rf "$inst"
else
	say "skipped: the serial run needs $MB_BUILD/tests/e2e/test_dialout (make check-build)"
fi

if command -v lintian >/dev/null 2>&1; then
	# What only an upload to the archive needs is not asked for here.
	l=$(lintian --suppress-tags initial-upload-closes-no-bugs "$deb" 2>&1)
	[ -z "$l" ] || printf '%s\n' "$l" | sed 's/^/deb-check:   /'
	bad=$(printf '%s\n' "$l" | grep -c '^[EW]: ')
	check "lintian: no error or warning ($bad)" test "$bad" = 0
else
	say "skipped: lintian not installed (apt-get install lintian)"
fi

trap - EXIT
purge || { say "FAIL: apt-get purge"; fail=1; }
check "purged: no /usr/bin/modbridge" test ! -e /usr/bin/modbridge
check "purged: no /etc/modbridge" test ! -e /etc/modbridge
check "purged: the unit is no longer enabled" test ! -e /etc/systemd/system/multi-user.target.wants/modbridge.service
if [ $fail = 0 ]; then say "all passed"; else say "failed"; fi
exit $fail
