#!/bin/sh
# `make musl-build` (and `make bench-musl`, which measures the result): a
# modbridge linked against musl, the C library OpenWrt builds with, and
# against libraries built for musl from their Debian source packages, as a
# router's would be: libuv, libconfig, libmosquitto without TLS, libmodbus,
# json-c, libmicrohttpd without HTTPS and zlib (opened only to inflate the
# embedded web page for a client that takes no gzip), all shared. The daemon has the
# OpenWrt package's default parts (init/openwrt/modbridge/Makefile:
# WITH_HTTP, WITH_MODBUS and WITH_INFLUXDB on, WITH_CRYPTO off; libcurl is
# opened only when an `influxdb` group is configured, so its header alone is
# needed here).
#
# The source packages are fetched with apt-get into a private folder, with a
# private sources list and package lists (as init/mhd1-check.sh does), so the
# system's apt configuration stays as it is; Debian's musl-tools gives
# musl-gcc. Takes minutes; not part of CI.
#
# Environment: MUSL_DIR (build/musl), MUSL_SUITE (bookworm), MAKE, JOBS (2).
set -eu
cd "$(dirname "$0")/.."
MAKE=${MAKE:-make}
JOBS=${JOBS:-2}
suite=${MUSL_SUITE:-bookworm}
work=${MUSL_DIR:-build/musl}
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/src" "$work/root/include" "$work/root/lib"
work=$(cd "$work" && pwd)
root=$work/root
log=$work/build.log
: >>"$log"

# musl-gcc; autoconf, automake and libtool for a source tree shipped
# without its configure script (libmodbus's).
$MAKE --no-print-directory deps EXTRA_DEB_PKGS="musl-tools autoconf automake libtool" >/dev/null
command -v musl-gcc >/dev/null 2>&1 || { echo "musl: musl-gcc missing (Debian: musl-tools)"; exit 1; }

# musl-gcc leaves the system's headers out, and with them the kernel's
# (linux/, asm/), which libuv and libmicrohttpd include: those alone are
# given back, from the host (they do not depend on the C library).
kinc=$work/kernel-include
if [ ! -d "$kinc" ]; then
	mkdir -p "$kinc"
	for d in linux asm-generic mtd; do [ -d /usr/include/$d ] && ln -s /usr/include/$d "$kinc/$d"; done
	ln -s "/usr/include/$(gcc -dumpmachine)/asm" "$kinc/asm"
fi
export CC="musl-gcc -isystem $kinc"
export CFLAGS="-Os -fPIC -I$root/include"
export LDFLAGS="-L$root/lib -Wl,-rpath-link,$root/lib"
export PKG_CONFIG_PATH="$root/lib/pkgconfig" PKG_CONFIG_LIBDIR="$root/lib/pkgconfig"

apt_opts="-q -o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/nonexistent
	-o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache -o APT::Sandbox::User=root"

# fetch PACKAGE: the source package's upstream tree, unpacked into
# $work/src/PACKAGE.src (the tarballs' own top folders differ); prints it.
fetch() {
	if [ ! -f "$work/lists/updated" ]; then
		echo "deb-src http://deb.debian.org/debian $suite main" >"$work/sources.list"
		# shellcheck disable=SC2086 # the options are words on purpose
		apt-get $apt_opts update >>"$log" 2>&1 || { tail "$log" >&2; exit 1; }
		touch "$work/lists/updated"
	fi
	tree=$work/src/$1.src
	if [ ! -d "$tree" ]; then
		# shellcheck disable=SC2086
		(cd "$work/src" && apt-get $apt_opts source --download-only "$1") >>"$log" 2>&1 ||
			{ tail "$log" >&2; exit 1; }
		mkdir -p "$tree"
		for orig in "$work/src/$1"_*.orig.tar.*; do
			case $orig in *.asc) continue ;; esac
			tar -xf "$orig" -C "$tree" --strip-components=1
		done
	fi
	echo "$tree"
}

# step NAME COMMANDS...: run once (a stamp file marks it done), output to the log
step() {
	name=$1; shift
	[ -f "$work/done.$name" ] && return 0
	echo "musl: building $name"
	if ! (set -x; "$@") >>"$log" 2>&1; then
		echo "musl: $name failed; the end of $log:"; tail -30 "$log"; exit 1
	fi
	touch "$work/done.$name"
}

autotools() { # SRC CONFIGURE-ARGS...
	src=$1; shift
	cd "$src" && { [ -x configure ] || autoreconf -fi; } && ./configure --prefix="$root" --host=x86_64-linux-musl --enable-shared \
		--disable-static "$@" && $MAKE -j"$JOBS" && $MAKE install
}
cmake_build() { # SRC CMAKE-ARGS...
	src=$1; shift
	cmake -S "$src" -B "$src/build-musl" -DCMAKE_INSTALL_PREFIX="$root" -DCMAKE_C_COMPILER=musl-gcc \
		-DCMAKE_C_FLAGS="-isystem $kinc $CFLAGS" -DCMAKE_BUILD_TYPE=MinSizeRel \
		-DBUILD_SHARED_LIBS=ON -DCMAKE_INSTALL_LIBDIR=lib "$@" &&
		cmake --build "$src/build-musl" -j"$JOBS" && cmake --install "$src/build-musl"
}
mosquitto_lib() { # SRC: the client library alone, without TLS, websockets or cJSON
	cd "$1/lib" && $MAKE -j"$JOBS" CC="$CC" WITH_TLS=no WITH_TLS_PSK=no WITH_SRV=no \
		WITH_CJSON=no WITH_DOCS=no WITH_STATIC_LIBRARIES=no WITH_SHARED_LIBRARIES=yes \
		WITH_THREADING=no libmosquitto.so.1 &&
		cp libmosquitto.so.1 "$root/lib/" && ln -sf libmosquitto.so.1 "$root/lib/libmosquitto.so" &&
		cp ../include/mosquitto.h ../include/mqtt_protocol.h "$root/include/" &&
		printf 'prefix=%s\nName: libmosquitto\nDescription: x\nVersion: 2\nLibs: -L%s/lib -lmosquitto\nCflags: -I%s/include\n' \
			"$root" "$root" "$root" >"$root/lib/pkgconfig/libmosquitto.pc"
}
zlib_build() { # SRC: its own configure script, not autotools
	cd "$1" && ./configure --prefix="$root" --shared && $MAKE -j"$JOBS" && $MAKE install
}
curl_header() { # libcurl's header only (the library is opened when configured)
	mkdir -p "$root/include/curl" && cp /usr/include/"$(gcc -dumpmachine)"/curl/*.h "$root/include/curl/" &&
		printf 'prefix=%s\nName: libcurl\nDescription: header only\nVersion: 7\nLibs: -lcurl\nCflags: -I%s/include\n' \
			"$root" "$root" >"$root/lib/pkgconfig/libcurl.pc"
}

mkdir -p "$root/lib/pkgconfig"
step libuv cmake_build "$(fetch libuv1)" -DLIBUV_BUILD_TESTS=OFF -DLIBUV_BUILD_BENCH=OFF
step libconfig autotools "$(fetch libconfig)" --disable-cxx --disable-examples --disable-doc
step libmosquitto mosquitto_lib "$(fetch mosquitto)"
step libmodbus autotools "$(fetch libmodbus)" --disable-tests
step json-c cmake_build "$(fetch json-c)" -DBUILD_STATIC_LIBS=OFF -DBUILD_TESTING=OFF -DDISABLE_WERROR=ON
step libmicrohttpd autotools "$(fetch libmicrohttpd)" --disable-https --disable-doc --disable-examples \
	--disable-curl --without-gnutls
step zlib zlib_build "$(fetch zlib)"
step curl-header curl_header

# The daemon as the OpenWrt package builds its default (ssl) variant, into
# $work/modbridge; for the figures of each part, the slim build (every part
# off) and each part alone on top of it, into $work/fp-PART. The flags are
# the package's (init/openwrt/modbridge/Makefile): OpenWrt's default
# TARGET_CFLAGS (-Os -pipe, and its CONFIG_EXTRA_OPTIMIZATION, -fno-caller-saves
# -fno-plt), what PKG_BUILD_FLAGS:=gc-sections lto adds, and the package's
# own -fno-asynchronous-unwind-tables -fno-unwind-tables; --hash-style=gnu
# as the toolchain of a non-MIPS target links (docs/footprint.md, "What
# each flag saves"). DAEMON_CFLAGS and DAEMON_LDFLAGS replace them; a change
# rebuilds the daemons.
daemon_cflags=${DAEMON_CFLAGS:--Os -pipe -fno-caller-saves -fno-plt -ffunction-sections -fdata-sections -flto=auto -fno-fat-lto-objects -fno-asynchronous-unwind-tables -fno-unwind-tables}
daemon_ldflags=${DAEMON_LDFLAGS:--Wl,--gc-sections -flto=auto -fuse-linker-plugin -Wl,--hash-style=gnu}
daemon() { # FOLDER WITH_HTTP WITH_MODBUS WITH_INFLUXDB
	echo "musl: building modbridge in $1"
	stamp="$CC $daemon_cflags $daemon_ldflags"
	[ "$(cat "$work/$1.flags" 2>/dev/null)" = "$stamp" ] || rm -rf "${work:?}/$1"
	$MAKE --no-print-directory BUILD="$work/$1" CC="$CC" CFLAGS="$daemon_cflags" \
		LDFLAGS="$LDFLAGS $daemon_ldflags" \
		PKG_CONFIG="pkg-config" WERROR= WITH_HTTP="$2" WITH_MODBUS="$3" WITH_INFLUXDB="$4" \
		WITH_CRYPTO=0 "$work/$1/modbridge" >>"$log" 2>&1 || { tail -30 "$log"; exit 1; }
	echo "$stamp" >"$work/$1.flags"
	cp "$work/$1/modbridge" "$work/$1/modbridge.stripped" && strip "$work/$1/modbridge.stripped"
}
daemon modbridge 1 1 1
daemon fp-slim 0 0 0
daemon fp-http 1 0 0
daemon fp-modbus 0 1 0
daemon fp-influxdb 0 0 1
echo "musl: $work/modbridge/modbridge ($(($(stat -c %s "$work/modbridge/modbridge.stripped") / 1024)) KiB stripped); libraries in $root/lib"
