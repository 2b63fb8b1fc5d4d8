#!/bin/sh
# make bench-musl-size: where the bytes of the router build's binary are,
# and what each build flag saves (docs/footprint.md, "Where the bytes are").
# Run after make musl-build (init/musl.sh), whose musl libraries it links
# against. It builds the daemon with the OpenWrt package's default parts
# (http, modbus, influxdb; no crypto) once per step below, each step's flags
# added to the ones before, into $M/size-<step>/, and reports each step's
# stripped size and what it saved; then three flags a packager may choose
# but this package does not set, and OpenWrt's default hardening, each on
# top of the last step; then, from
# the linker's map of the last step built without LTO (LTO merges the
# objects, so its map no longer says which file a byte came from), what
# each object file and each part of the binary holds, and the largest
# functions and tables. Takes a few minutes. Table on stdout and in
# $MB_BUILD/bench-musl-size.md.
#
# Environment: MB_BUILD (build), MUSL_DIR ($MB_BUILD/musl), MAKE.
set -eu
B=${MB_BUILD:-build}
M=${MUSL_DIR:-$B/musl}
MAKE=${MAKE:-make}
OUT="$B/bench-musl-size.md"
if [ ! -d "$M/root/lib" ] || [ ! -d "$M/kernel-include" ]; then
	echo "bench-musl-size: no musl libraries in $M (make musl-build)"
	exit 1
fi
M=$(cd "$M" && pwd)
root=$M/root
T=$(mktemp -d /tmp/mbsize-XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
export PKG_CONFIG_PATH="$root/lib/pkgconfig" PKG_CONFIG_LIBDIR="$root/lib/pkgconfig"

# build NAME CFLAGS LDFLAGS: the daemon into $M/size-NAME (from scratch),
# with a link map; prints the stripped size in bytes.
build() {
	d=$M/size-$1
	rm -rf "$d"
	$MAKE --no-print-directory BUILD="$d" CC="musl-gcc -isystem $M/kernel-include" CFLAGS="$2" \
		LDFLAGS="-L$root/lib -Wl,-rpath-link,$root/lib $3 -Wl,-Map,$d/modbridge.map" \
		PKG_CONFIG=pkg-config WERROR= WITH_HTTP=1 WITH_MODBUS=1 WITH_INFLUXDB=1 WITH_CRYPTO=0 \
		"$d/modbridge" >"$d.log" 2>&1 || { echo "bench-musl-size: $1 failed, $d.log:" >&2; tail "$d.log" >&2; exit 1; }
	strip -o "$d/modbridge.stripped" "$d/modbridge"
	stat -c %s "$d/modbridge.stripped"
}
kib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }
# sections FILE: the sizes that make the file, in KiB: code, read-only data
# (the strings and tables, the embedded page), unwind tables, relocations
# and symbols for the dynamic linker, relocated data.
sections() {
	size -A "$1" | awk '
		$1 == ".text" || $1 == ".plt" || $1 == ".init" || $1 == ".fini" { code += $2 }
		$1 == ".rodata" { ro += $2 }
		$1 ~ /^\.eh_frame/ { eh += $2 }
		$1 ~ /^\.(rela?|dynsym|dynstr|hash|gnu\.hash|gnu\.version|relr)/ { dyn += $2 }
		$1 ~ /^\.(data|got|dynamic|init_array|fini_array)/ { data += $2 }
		END { printf "code %.1f, rodata %.1f, unwind %.1f, dynamic linking %.1f, data %.1f", \
			code / 1024, ro / 1024, eh / 1024, dyn / 1024, data / 1024 }'
}

# relocs BINARY: its relative relocations (one per pointer in a const
# table of a position-independent executable, applied at start) by the
# symbol they fall in, from readelf -r and nm -S: the 20 tables with the
# most, as a Markdown table, and the total.
relocs() {
	nm -S "$1" | awk 'NF == 4 { print $1, $2, $4 }' >"$T/relsyms"
	readelf -rW "$1" | awk '$3 ~ /_RELATIVE$/ { print $1 }' >"$T/reloffs"
	awk 'function hex(s,  i, v) {
		v = 0; s = tolower(s)
		for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
		return v
	}
	NR == FNR { n++; a[n] = hex($1); z[n] = hex($2); name[n] = $3; next }
	{ o = hex($1); hit = "(not in a symbol)"
	  for (i = 1; i <= n; i++) if (o >= a[i] && o < a[i] + z[i]) { hit = name[i]; size[hit] = z[i]; break }
	  c[hit]++; total++ }
	END { for (k in c) printf "%d\t| %s | %d | %d |\n", c[k], k, c[k], size[k]
	      printf "0\t| all | %d | |\n", total }' "$T/relsyms" "$T/reloffs" >"$T/relrows"
	echo "| table | relocations | bytes |"
	echo "|---|---|---|"
	sort -rn "$T/relrows" | sed -n '1,20p' | cut -f2-
	grep '| all |' "$T/relrows" | cut -f2-
}

ROWS=$T/rows; : >"$ROWS"
prev=""
cflags="-Os"
ldflags=""
# step NAME WHAT CFLAGS-ADDED LDFLAGS-ADDED
step() {
	cflags="$cflags $3"
	ldflags="$ldflags $4"
	sz=$(build "$1" "$cflags" "$ldflags")
	if [ -n "$prev" ]; then save="$(kib $((prev - sz))) KiB"; else save="—"; fi
	printf '| %s | %s | %s KiB | %s | %s |\n' "$1" "$2" "$(kib "$sz")" "$save" \
		"$(sections "$M/size-$1/modbridge.stripped")" >>"$ROWS"
	prev=$sz
	echo "bench-musl-size: $1 $sz bytes" >&2
}
# The Makefile always compiles with -ffunction-sections -fdata-sections and
# links with --gc-sections; the first step turns the sections off.
step nosections "-Os, one section per object (-fno-function-sections -fno-data-sections)" \
	"-fno-function-sections -fno-data-sections" ""
cflags="-Os"
step tree "-Os with the Makefile's -ffunction-sections -fdata-sections, --gc-sections" "" ""
step lto "+ -flto=auto -fno-fat-lto-objects (PKG_BUILD_FLAGS lto)" \
	"-flto=auto -fno-fat-lto-objects" "-flto=auto -fuse-linker-plugin"
step visibility "+ -fvisibility=hidden" "-fvisibility=hidden" ""
step unwind "+ -fno-asynchronous-unwind-tables -fno-unwind-tables" \
	"-fno-asynchronous-unwind-tables -fno-unwind-tables" ""
step hash "+ -Wl,--hash-style=gnu" "" "-Wl,--hash-style=gnu"
step ldO1 "+ -Wl,-O1 -Wl,--as-needed" "" "-Wl,-O1 -Wl,--as-needed"
step openwrt "+ -pipe -fno-caller-saves -fno-plt (OpenWrt's default TARGET_CFLAGS)" \
	"-pipe -fno-caller-saves -fno-plt" ""
last=$prev
# Not set by the package, each alone on top of the last step.
alt() { # NAME WHAT CFLAGS-ADDED LDFLAGS-ADDED
	sz=$(build "$1" "$cflags $3" "$ldflags $4")
	printf '| %s | %s | %s KiB | %s KiB | %s |\n' "$1" "$2" "$(kib "$sz")" "$(kib $((last - sz)))" \
		"$(sections "$M/size-$1/modbridge.stripped")" >>"$ROWS"
	echo "bench-musl-size: $1 $sz bytes" >&2
}
alt nopie "(refused: the package asks for PIE) -fno-pie -no-pie: no address randomisation" "-fno-pie" "-no-pie"
alt noseparate "(not set) -Wl,-z,noseparate-code: code and data share pages" "" "-Wl,-z,noseparate-code"
alt relr "(not set) -Wl,-z,pack-relative-relocs: needs musl 1.2.4 to run" "" "-Wl,-z,pack-relative-relocs"
alt hardening "(OpenWrt's, for every package) -fstack-protector -Wl,-z,now -Wl,-z,relro: its default hardening" \
	"-fstack-protector" "-Wl,-z,now -Wl,-z,relro"

# The breakdown: the last step's flags without LTO.
nolto=$(echo "$cflags" | sed 's/-flto=auto -fno-fat-lto-objects//')
nolto_ld=$(echo "$ldflags" | sed 's/-flto=auto -fuse-linker-plugin//')
sz=$(build nolto "$nolto" "$nolto_ld")
echo "bench-musl-size: nolto $sz bytes" >&2
MAP=$M/size-nolto/modbridge.map
BIN=$M/size-nolto/modbridge
# Input sections kept in the output, per object file and kind: the lines
# after "Linker script and memory map" name an input section (alone on its
# line when its name is long), its address, its size and its file.
awk '
	/^Linker script and memory map/ { on = 1; next }
	!on { next }
	/^\.[A-Za-z_.]/ { out = $1; next }
	/^ \.[^ ]*$/ && NF == 1 { pend = $1; next }
	{
		if (pend != "" && NF == 3 && $1 ~ /^0x/) { sz = $2; f = $3 }
		else if (NF == 4 && $1 ~ /^\./ && $2 ~ /^0x/) { sz = $3; f = $4 }
		else { pend = ""; next }
		pend = ""
		if (f !~ /\/bridge\/|\/gen\//) next
		n = 0; h = tolower(substr(sz, 3))
		for (i = 1; i <= length(h); i++) n = n * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
		sub(/.*\//, "", f)
		k = out == ".text" ? "code" : out == ".rodata" ? "ro" : out == ".data.rel.ro" ? "rel" : out == ".data" ? "data" : ""
		if (k == "") next
		v[f "," k] += n; tot[f] += n; files[f] = 1
	}
	END {
		for (f in files)
			printf "%d %s %d %d %d %d\n", tot[f], f, v[f ",code"], v[f ",ro"], v[f ",rel"], v[f ",data"]
	}' "$MAP" | sort -rn >"$T/objs"
# The parts, by file name (docs/footprint.md says what each is).
part() {
	case $1 in
	assets.o) echo "embedded page, API page, OpenAPI document (gzip)" ;;
	http*.o | json_check.o | dl_mhd.o | dl_zlib.o | history.o) echo "web interface and REST API" ;;
	map_print.o) echo "map reference printer (--print-map, REST /maps)" ;;
	map_lint.o) echo "map linter (start, reload, --check)" ;;
	map_load.o | map.o | keys.o) echo "map loader" ;;
	config*.o | reload.o) echo "config reader and reload" ;;
	main.o) echo "command line, signals, --check" ;;
	export_influx.o | link_http.o | dl_curl.o) echo "InfluxDB exporter" ;;
	export*.o) echo "exporters: MQTT, Home Assistant discovery" ;;
	tr_modbus.o) echo "modbus protocol (RTU/TCP equipment)" ;;
	tr_* | codec_* | link_* | venus_* | transport.o | protocol.o) echo "protocols, codecs and links" ;;
	device*.o | values.o | timing.o | backoff.o) echo "device engine, values" ;;
	server.o | cidr.o) echo "Modbus TCP server" ;;
	*) echo "log, status, JSON writer, the rest" ;;
	esac
}
while read -r _ f code ro rel data; do
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(part "$f")" "$f" "$code" "$ro" "$rel" "$data"
done <"$T/objs" >"$T/parts"

# Other CPUs: no musl toolchain for them here, so Debian's glibc cross
# compilers (gcc-arm-linux-gnueabihf, gcc-aarch64-linux-gnu,
# gcc-mipsel-linux-gnu, each with its libc6-dev-*-cross; an absent one is
# left out) compile the same sources with the last step's flags, and the
# link leaves the libraries' symbols unresolved (their headers are the musl
# build's; a binary that cannot run, but whose code and data are the
# daemon's). The same for x86_64 calibrates the method against the musl
# build above. Code and data, not the file size: aarch64's linker pads
# segments to 64 KiB pages.
# A pkg-config that gives the headers' flags and no libraries.
# shellcheck disable=SC2016 # the script's own $@ and $a
printf '#!/bin/sh\nfor a in "$@"; do case $a in --libs*) exit 0 ;; esac; done\nexec pkg-config "$@"\n' >"$T/pc"
chmod +x "$T/pc"
XROWS=$T/xrows; : >"$XROWS"
for arch in x86_64-linux-gnu arm-linux-gnueabihf aarch64-linux-gnu mipsel-linux-gnu; do
	command -v "$arch-gcc" >/dev/null 2>&1 || continue
	[ -d "/usr/$arch/include" ] || [ "$arch" = "$(gcc -dumpmachine)" ] || continue
	line="| $arch |"
	for parts in "1 1 1" "0 0 0" "1 0 0"; do
		# shellcheck disable=SC2086 # three words on purpose
		set -- $parts
		d=$M/size-x-$arch-$1$2$3
		rm -rf "$d"
		if $MAKE --no-print-directory BUILD="$d" CC="$arch-gcc" PKG_CONFIG="$T/pc" WERROR= \
			CFLAGS="$cflags" \
			LDFLAGS="$(echo "$ldflags" | sed 's/-Wl,--hash-style=gnu//') -Wl,--unresolved-symbols=ignore-all" \
			WITH_HTTP="$1" WITH_MODBUS="$2" WITH_INFLUXDB="$3" WITH_CRYPTO=0 "$d/modbridge" >"$d.log" 2>&1; then
			"$arch-strip" -o "$d/modbridge.stripped" "$d/modbridge"
			line="$line $(size "$d/modbridge.stripped" | awk 'NR == 2 { printf "%.1f", ($1 + $2) / 1024 }') |"
		else
			line="$line failed ($d.log) |"
		fi
	done
	echo "$line" >>"$XROWS"
	echo "bench-musl-size: $arch done" >&2
done

{
	echo "# modbridge on musl: where the binary's bytes are"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), musl $(dpkg-query -W -f='${Version}' musl 2>/dev/null), $(musl-gcc --version | head -1), x86_64,"
	echo "default package parts (http, modbus, influxdb); stripped with strip. Each step adds to the ones above;"
	echo "the rows in parentheses (not set, refused, OpenWrt's) are each alone on top of the last step."
	echo
	echo "| step | flags | stripped | saved | sections (KiB) |"
	echo "|---|---|---|---|---|"
	cat "$ROWS"
	echo
	if [ -s "$XROWS" ]; then
		echo "## Other CPUs (glibc cross compilers, the last step's flags; code and data, KiB)"
		echo
		echo "| CPU | default parts | slim (every WITH_*=0) | WITH_HTTP alone |"
		echo "|---|---|---|---|"
		cat "$XROWS"
		echo
	fi
	echo "## By part (the last step without LTO: $(kib "$sz") KiB stripped; KiB)"
	echo
	echo "| part | code | read-only data | relocated tables | data | total | files |"
	echo "|---|---|---|---|---|---|---|"
	awk -F '\t' '{ c[$1] += $3; r[$1] += $4; t[$1] += $5; d[$1] += $6; f[$1] = f[$1] (f[$1] ? " " : "") $2 }
		END { for (p in c) printf "%d\t| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %s |\n", c[p] + r[p] + t[p] + d[p], p,
			c[p] / 1024, r[p] / 1024, t[p] / 1024, d[p] / 1024, (c[p] + r[p] + t[p] + d[p]) / 1024, f[p] }' "$T/parts" |
		sort -rn | cut -f2-
	awk -F '\t' '{ s += $3 + $4 + $5 + $6 } END { printf "| all of the daemon'"'"'s objects | | | | | %.1f | |\n", s / 1024 }' "$T/parts"
	echo
	echo "## By object file (KiB)"
	echo
	echo "| object | code | read-only data | relocated tables | data |"
	echo "|---|---|---|---|---|"
	awk -F '\t' '{ printf "| %s | %.1f | %.1f | %.1f | %.1f |\n", $2, $3 / 1024, $4 / 1024, $5 / 1024, $6 / 1024 }' "$T/parts"
	echo
	echo "## The 25 largest functions and tables (bytes)"
	echo
	echo "| symbol | kind | bytes |"
	echo "|---|---|---|"
	nm -S --size-sort "$BIN" | tail -25 | sort -k2,2r | while read -r _ s k n; do
		case $k in t | T) kind=code ;; r | R) kind="read-only data" ;; d | D) kind="table (relocated)" ;; b | B) kind="zeroed (not in the file)" ;; *) kind=$k ;; esac
		printf '| %s | %s | %d |\n' "$n" "$kind" "$(printf '%d' "0x$s")"
	done
	echo
	echo "## Relocations by table (the openwrt step, with LTO; docs/footprint.md, \"Tables without pointers\")"
	echo
	relocs "$M/size-openwrt/modbridge"
} >"$OUT"
cat "$OUT"
echo "# written to $OUT"
