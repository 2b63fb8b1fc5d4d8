#!/bin/sh
# `make cross-check`: build modbridge for aarch64 (the CPU of most current
# OpenWrt routers) with Debian's cross toolchain, then run the binary under
# qemu-user. Installs only what is missing, and never replaces or removes a
# host package:
#
#   CROSS_MODE=auto      (default) arm64 -dev packages through multiarch when
#                        apt can add them without removing anything, else a
#                        sysroot;
#   CROSS_MODE=multiarch arm64 -dev packages installed next to the amd64 ones
#                        (Debian marks them Multi-Arch: same);
#   CROSS_MODE=sysroot   the arm64 packages unpacked with `apt-get download` +
#                        `dpkg -x` into build/cross-sysroot; dpkg's database
#                        is not touched beyond knowing the arm64 architecture.
#
# Environment: MB_CROSS_BUILD (build/aarch64), MB_CROSS_SYSROOT
# (build/cross-sysroot), MAKE.
set -eu

ARCH=arm64
TRIPLE=aarch64-linux-gnu
OUT=${MB_CROSS_BUILD:-build/aarch64}
SYSROOT=${MB_CROSS_SYSROOT:-build/cross-sysroot}
MODE=${CROSS_MODE:-auto}
MAKE=${MAKE:-make}
DEV_PKGS="libuv1-dev libmosquitto-dev libconfig-dev libmodbus-dev"
# What the sysroot needs: the -dev packages, their libraries, and what those
# libraries link against beyond libc (libmosquitto -> libssl3).
SYSROOT_PKGS="$DEV_PKGS libuv1 libmosquitto1 libconfig9 libmodbus5 libssl3"

say() { printf 'cross-check: %s\n' "$*"; }
die() { say "FAIL: $*"; exit 1; }

if [ ! -f Makefile ] || [ ! -d bridge ]; then die "run from the top of the modbridge tree"; fi
command -v dpkg-query >/dev/null 2>&1 || die "needs a Debian system (dpkg, apt-get)"

if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1; then SUDO=sudo
else SUDO="none"
fi
as_root() {
	[ "$SUDO" != none ] || die "needs root (or sudo) to run: $*"
	$SUDO "$@"
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

apt_updated=0
apt_update() {
	[ $apt_updated = 1 ] && return 0
	as_root apt-get update -qq
	apt_updated=1
}

apt_install() {
	say "installing $*"
	apt_update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# 1. Host tools: the cross compiler and its libc, qemu-user, file.
need=""
command -v "$TRIPLE-gcc" >/dev/null 2>&1 || need="$need gcc-$TRIPLE"
# Only recommended by the compiler, and --no-install-recommends skips it: the
# arm64 C library headers and startup files.
installed libc6-dev-$ARCH-cross || need="$need libc6-dev-$ARCH-cross"
if ! command -v qemu-aarch64 >/dev/null 2>&1 && ! command -v qemu-aarch64-static >/dev/null 2>&1; then
	need="$need qemu-user"
fi
command -v file >/dev/null 2>&1 || need="$need file"
# shellcheck disable=SC2086
[ -z "$need" ] || apt_install $need
QEMU=$(command -v qemu-aarch64 || command -v qemu-aarch64-static)

# 2. apt must know arm64 packages, for both ways of getting them.
if ! dpkg --print-foreign-architectures | grep -qx "$ARCH"; then
	say "adding dpkg architecture $ARCH (apt may then fetch arm64 package lists)"
	as_root dpkg --add-architecture "$ARCH"
	apt_updated=0
	apt_update
fi

missing=""
for p in $DEV_PKGS; do installed "$p:$ARCH" || missing="$missing $p:$ARCH"; done

if [ "$MODE" = auto ]; then
	if [ -z "$missing" ]; then
		MODE=multiarch
	else
		# Multi-Arch: same packages co-install only at the very version of
		# their amd64 twin. Ask apt what it would do; any removal (or a
		# change to an installed amd64 package) means the host build would
		# suffer, so fall back to a private sysroot instead.
		apt_update
		# shellcheck disable=SC2086
		plan=$(LC_ALL=C apt-get -s install --no-install-recommends $missing 2>&1) || plan="$plan
Remv (apt refused)"
		if printf '%s\n' "$plan" | grep -Eq '^(Remv|Inst [^ ]+ \[)'; then
			say "arm64 -dev packages would change (upgrade or remove) host packages; using a sysroot instead"
			printf '%s\n' "$plan" | grep -E '^(Remv|Inst [^ ]+ \[)' | sed 's/^/cross-check:   /'
			MODE=sysroot
		else
			MODE=multiarch
		fi
	fi
fi

case "$MODE" in
multiarch)
	# shellcheck disable=SC2086
	[ -z "$missing" ] || apt_install $missing
	PCDIR=/usr/lib/$TRIPLE/pkgconfig
	EXTRA_LDFLAGS=""
	# libc6:arm64 came with the libraries: use its loader, so that loader
	# and libc are of one build.
	QEMU_PREFIX=/
	[ -e /lib/ld-linux-aarch64.so.1 ] || QEMU_PREFIX=/usr/$TRIPLE
	GUEST_LIBS=/usr/lib/$TRIPLE:/lib/$TRIPLE
	;;
sysroot)
	if [ ! -f "$SYSROOT/.complete" ]; then
		say "unpacking arm64 packages into $SYSROOT"
		apt_update
		rm -rf "$SYSROOT"
		mkdir -p "$SYSROOT/debs"
		pkgs=""
		for p in $SYSROOT_PKGS; do pkgs="$pkgs $p:$ARCH"; done
		# As root, apt would hand the download to its _apt user, who cannot
		# write into a build tree owned by root (it works, with a warning).
		sandbox=""
		[ "$(id -u)" != 0 ] || sandbox="-o APT::Sandbox::User=root"
		# shellcheck disable=SC2086
		(cd "$SYSROOT/debs" && apt-get download -q $sandbox $pkgs) || die "apt-get download failed"
		for d in "$SYSROOT"/debs/*.deb; do dpkg -x "$d" "$SYSROOT"; done
		touch "$SYSROOT/.complete"
	fi
	SYSROOT=$(cd "$SYSROOT" && pwd)
	PCDIR=$SYSROOT/usr/lib/$TRIPLE/pkgconfig
	export PKG_CONFIG_SYSROOT_DIR="$SYSROOT"
	# The .so files of the sysroot, and where the linker finds what they
	# link against in turn (libssl behind libmosquitto).
	EXTRA_LDFLAGS="-L$SYSROOT/usr/lib/$TRIPLE -Wl,-rpath-link,$SYSROOT/usr/lib/$TRIPLE"
	QEMU_PREFIX=/usr/$TRIPLE
	GUEST_LIBS=$SYSROOT/usr/lib/$TRIPLE
	;;
*) die "CROSS_MODE must be auto, multiarch or sysroot" ;;
esac
say "mode: $MODE"

# 3. Build. pkg-config reads only the arm64 .pc files.
export PKG_CONFIG_LIBDIR="$PCDIR:/usr/share/pkgconfig"
export PKG_CONFIG_PATH=""
"$MAKE" --no-print-directory BUILD="$OUT" CC="$TRIPLE-gcc" AR="$TRIPLE-ar" PKG_CONFIG=pkg-config \
	CFLAGS="-O2 -g" LDFLAGS="$EXTRA_LDFLAGS" "$OUT/modbridge" || die "cross build failed"

bin=$OUT/modbridge
desc=$(file -b "$bin")
say "file: $desc"
case "$desc" in *aarch64*) ;; *) die "$bin is not an aarch64 binary" ;; esac
size=$(wc -c < "$bin")
"$TRIPLE-strip" -o "$OUT/modbridge.stripped" "$bin"
ssize=$(wc -c < "$OUT/modbridge.stripped")
say "size: $size bytes ($ssize stripped, as OpenWrt would ship it)"

# 4. Run it. qemu finds the arm64 loader under the prefix; the libraries come
# from the multiarch directories or the sysroot (set for the guest only).
run() { "$QEMU" -L "$QEMU_PREFIX" -E LD_LIBRARY_PATH="$GUEST_LIBS" "$bin" "$@"; }
ver=$(run --version 2>&1) || die "--version under qemu failed: $ver"
say "--version: $ver"

# --check needs the maps: give it a copy of the example config whose
# maps_path points at this tree's maps/ (the example names installed paths).
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mbcross.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mapsdir=$(pwd)/maps
{
	grep -v '^[[:space:]]*maps_path' init/modbridge.conf.example
	printf 'maps_path = [ "%s" ];\n' "$mapsdir"
} > "$tmp/modbridge.conf"
out=$(run --check -c "$tmp/modbridge.conf" 2>&1) || die "--check -c init/modbridge.conf.example under qemu failed: $out"
say "--check: ${out:-ok}"

# Serve for real under qemu: the scratch device on a loopback port, one read
# through Modbus TCP (register 0 holds 100), then SIGTERM.
if command -v mbpoll >/dev/null 2>&1; then
	port=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000 + 30000 ))
	printf 'server = { listen = "127.0.0.1"; port = %s; };\nmaps_path = [ "%s" ];\n%s\n' "$port" "$mapsdir" \
		'devices = ( { name = "scratch"; unit_id = 10; map = "scratch"; memory = { }; } );' > "$tmp/serve.conf"
	# qemu itself in the background (not the run function, whose subshell
	# would be what $! names and what SIGTERM reaches).
	"$QEMU" -L "$QEMU_PREFIX" -E LD_LIBRARY_PATH="$GUEST_LIBS" "$bin" -c "$tmp/serve.conf" \
		> "$tmp/serve.log" 2>&1 &
	qpid=$!
	got=""
	n=0
	while [ $n -lt 50 ] && [ -z "$got" ]; do
		sleep 0.2
		got=$(mbpoll -m tcp -a 10 -0 -r 0 -c 1 -1 -o 2 -p "$port" 127.0.0.1 2>/dev/null | sed -n 's/^\[0\]:[[:space:]]*//p')
		n=$((n + 1))
	done
	kill "$qpid" 2>/dev/null
	qrc=0
	wait "$qpid" || qrc=$?
	[ "$got" = 100 ] || die "the aarch64 daemon under qemu did not serve register 0 (got \"$got\"): $(tail -3 "$tmp/serve.log")"
	[ "$qrc" = 0 ] || die "the aarch64 daemon did not exit cleanly on SIGTERM (status $qrc)"
	say "served under qemu: unit 10 register 0 = $got over Modbus TCP, clean exit on SIGTERM"
else
	say "mbpoll not installed: skipped serving under qemu"
fi
say "PASS ($TRIPLE, $MODE, $size bytes, $ssize stripped)"
