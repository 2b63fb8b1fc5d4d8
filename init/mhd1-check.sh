#!/bin/sh
# Compiles the HTTP code (bridge/http*.c, bridge/link_http.c) with -Werror
# against microhttpd.h of the libmicrohttpd 1.0.x series, as packaged by
# Debian's next release (trixie): the OpenWrt feed builds modbridge against
# 1.0.x, while this machine's headers are Debian 12's 0.9.75. The source
# package is fetched with apt-get into a private folder, with a private
# sources list and package lists, so the system's apt configuration stays as
# it is. Compile only: the 1.0 library itself is not built or linked, so what
# this proves is that every call, type and constant the code uses exists in
# 1.0.x with the same signature and is not deprecated there.
set -eu
cd "$(dirname "$0")/.."
CC=${CC:-cc}
work=${MHD1_DIR:-build/mhd1}
suite=${MHD1_SUITE:-trixie}
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/inc"
work=$(cd "$work" && pwd)
if [ ! -f "$work/inc/microhttpd.h" ]; then
	echo "deb-src http://deb.debian.org/debian $suite main" >"$work/sources.list"
	apt_opts="-q -o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/nonexistent
		-o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache
		-o APT::Sandbox::User=root"
	# shellcheck disable=SC2086 # the options are words on purpose
	apt-get $apt_opts update >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; exit 1; }
	# shellcheck disable=SC2086
	(cd "$work" && apt-get $apt_opts source --download-only libmicrohttpd) >>"$work/apt.log" 2>&1 ||
		{ cat "$work/apt.log"; exit 1; }
	for orig in "$work"/libmicrohttpd_*.orig.tar.*; do
		case $orig in *.asc) continue ;; esac
		tar -xf "$orig" -C "$work" --wildcards '*/src/include/microhttpd.h'
	done
	cp "$work"/libmicrohttpd-*/src/include/microhttpd.h "$work/inc/"
fi
version=$(sed -n 's/^#define MHD_VERSION 0x\([0-9A-Fa-f]*\).*/\1/p' "$work/inc/microhttpd.h")
case $version in
01*) ;;
*) echo "mhd1-check: $work/inc/microhttpd.h is version $version, not 1.0.x"; exit 1 ;;
esac
fail=0
# Built as the daemon is, with the libraries opened when configured
# (-DMB_DLOPEN=1, include/dl.h): the function tables take their types from
# this header too.
for f in bridge/http.c bridge/http_api.c bridge/http_config.c bridge/link_http.c bridge/dl_mhd.c; do
	# shellcheck disable=SC2046 # pkg-config prints several words
	if "$CC" -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror \
		-I"$work/inc" -Iinclude -DMB_VERSION='"check"' -DMB_MAPS_DIRS='"/x"' \
		-DMB_SYSCONFDIR='"/etc"' -DMB_DLOPEN=1 -DMB_WITH_HTTP=1 -DMB_WITH_INFLUXDB=1 -DMB_WITH_MODBUS=1 \
		$(pkg-config --cflags json-c libcurl) -fsyntax-only "$f"; then
		echo "ok - $f compiles against libmicrohttpd $version"
	else
		echo "not ok - $f against libmicrohttpd $version"
		fail=1
	fi
done
exit $fail
