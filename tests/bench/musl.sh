#!/bin/sh
# make bench-musl: the router build measured (docs/footprint.md, "The router build"). init/musl.sh
# has built modbridge against musl and musl builds of its libraries (the
# OpenWrt package's default parts); this starts it on 127.0.0.1 and reports:
#   - the stripped binary's size (target < 200 KiB; make bench-musl-size
#     says where its bytes are);
#   - RSS idle with 32 memory devices and the web interface on, after one
#     page and one API answer (target < 2 MiB), anonymous and file-backed;
#   - RSS idle with one memory device and no http or exporter group, against
#     the slim build (every WITH_*=0) on the same libraries (target: within
#     300 KiB);
#   - wake-ups while idle: context switches over BENCH_IDLE_SECONDS (10) from
#     /proc/PID/status, with and without the web interface (target: none
#     while no poll timer is due; memory devices have none). The web
#     interface has one timer, its summary history's sampler (six samples
#     per http.history_interval, every 10 s by default), so it is measured
#     twice: as configured by default, and with the longest interval (1 h:
#     a sample every 10 min, none due in the window), where any wake-up is
#     one no timer asked for.
# Table on stdout and in $MB_BUILD/bench-musl.md.
set -u
B=${MB_BUILD:-build}
M=${MUSL_DIR:-$B/musl}
ROOT=$(pwd)
LG="$B/tests/bench/loadgen"
IDLE=${BENCH_IDLE_SECONDS:-10}
OUT="$B/bench-musl.md"
T=$(mktemp -d /tmp/mbmusl-XXXXXX) || exit 1
PIDS=""
FAILED=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM HUP

[ -x "$M/modbridge/modbridge" ] || { echo "bench-musl: $M/modbridge/modbridge not built (make musl-build)"; exit 1; }
[ -x "$LG" ] || { echo "bench-musl: $LG not built"; exit 1; }
# The musl libraries for the musl binaries only: the host's programs
# (loadgen) would pick up the musl libuv.
MUSL_LIBS="$M/root/lib"
kib() { awk -v k="$1" 'BEGIN { if (k >= 2048) printf "%.2f MiB", k / 1024; else printf "%d KiB", k }'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= 0 && v < t) ? "**met**" : "**missed**" }'; }
ROWS="$T/rows"; : >"$ROWS"
row() { printf '| %s | %s | %s | %s |\n' "$@" >>"$ROWS"; }

# The slim build on the same musl libraries (every part off), built by
# init/musl.sh with each part alone on top of it.
SLIM="$M/fp-slim/modbridge"
[ -x "$SLIM" ] || SLIM=""
# conf FILE PORT N [HTTP-PORT [HISTORY-MS]]
conf() {
	awk -v port="$2" -v n="$3" -v hport="${4:-0}" -v hist="${5:-60000}" -v maps="$ROOT/maps" 'BEGIN {
		printf "server = { listen = \"127.0.0.1\"; port = %d; };\nmaps_path = [ \"%s\" ];\n", port, maps
		if (hport > 0)
			printf "http = { listen = \"127.0.0.1\"; port = %d; read_only_without_auth = true; history_interval = %d; };\n", hport, hist
		printf "devices = (\n"
		for (i = 1; i <= n; i++)
			printf "  { name = \"m%d\"; unit_id = %d; map = \"scratch\"; memory = {}; }%s\n", i, i, i < n ? "," : ""
		printf ");\n"
	}' >"$1"
}
# run NAME BINARY N [HTTP-PORT [HISTORY-MS]]: starts it, waits until it serves; pid in $LAST
run() {
	port=$($LG --free-port)
	conf "$T/$1.conf" "$port" "$3" "${4:-}" "${5:-}"
	LD_LIBRARY_PATH=$MUSL_LIBS "$2" -c "$T/$1.conf" >"$T/$1.log" 2>&1 &
	LAST=$!; PIDS="$PIDS $LAST"
	"$LG" --probe --port "$port" --expect 100 --timeout-ms 5000 >/dev/null ||
		{ echo "bench-musl: $1 did not serve; log:"; tail "$T/$1.log"; FAILED="$FAILED $1"; return 1; }
	if [ -n "${4:-}" ]; then
		# --compressed: as a browser asks (the page is sent as the binary
		# holds it, gzip; a client without gzip has zlib opened to inflate it).
		for path in / /api/v1/devices; do
			curl -s --compressed -o /dev/null --max-time 5 "http://127.0.0.1:$4$path" || { echo "bench-musl: $1: GET $path failed"; FAILED="$FAILED $1"; }
		done
	fi
	sleep 1
}
mem() { # PID: "rss anon file libs"
	awk '/^Rss:/ { r = $2 } /^Anonymous:/ { a = $2 } END { printf "%d %d %d ", r, a, r - a }' "/proc/$1/smaps_rollup"
	awk '$6 ~ /\.so/ { print $6 }' "/proc/$1/maps" | sort -u | wc -l
}
mem_text() { set -- $1; printf '%s (anonymous %s, file-backed %s; %d libraries)' "$(kib "$1")" "$(kib "$2")" "$(kib "$3")" "$4"; }
ctxt() { awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }' "/proc/$1/status"; }
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; PIDS=$(echo " $PIDS " | sed "s/ $1 / /"); }

MB="$M/modbridge/modbridge"
cp "$MB" "$T/mb.stripped" && strip "$T/mb.stripped"
SZ=$(($(stat -c %s "$T/mb.stripped") / 1024))
# OpenWrt strips a musl build's files with sstrip, which also drops what
# no segment loads (the section headers and their names); Debian does not
# package sstrip, so this is where it would cut: after the last segment's
# bytes, from the program headers.
SSTRIP=$(readelf -lW "$T/mb.stripped" | awk '$2 ~ /^0x/ && $5 ~ /^0x/ { print $2, $5 }' | {
	m=0
	while read -r o f; do [ $((o + f)) -gt "$m" ] && m=$((o + f)); done
	echo $((m / 1024))
})
row "stripped binary, default package parts (http, modbus, influxdb; dynamic; the package's flags: LTO, no unwind tables, position-independent)" "$SZ KiB ($SSTRIP KiB as sstrip cuts it)" "< 200 KiB" "$(verdict "$SZ" 200)"
# What the router's flash holds of it: OpenWrt's root file system is a
# squashfs that compresses files with xz in 256 KiB blocks (with the CPU's
# branch filter); about, as xz -9e does the same here.
if command -v xz >/dev/null; then
	mkdir "$T/blocks" && split -b 262144 "$T/mb.stripped" "$T/blocks/b"
	XZ=0
	for b in "$T/blocks"/b*; do XZ=$((XZ + $(xz -9e --x86 --lzma2 -c "$b" | wc -c))); done
	row "the same in flash: xz -9e in 256 KiB blocks, as a squashfs root stores it (about)" "$((XZ / 1024)) KiB" "—" ""
fi
# What each part adds to the stripped binary: each alone on top of the slim
# build (init/musl.sh builds them).
if [ -n "$SLIM" ]; then
	s0=$(stat -c %s "$M/fp-slim/modbridge.stripped")
	parts="slim $((s0 / 1024)) KiB"
	for p in http modbus influxdb; do
		f="$M/fp-$p/modbridge.stripped"
		[ -f "$f" ] && parts="$parts, +$p $((($(stat -c %s "$f") - s0) / 1024)) KiB"
	done
	row "stripped binary by part (each part alone above the slim build)" "$parts" "—" ""
fi
for l in libuv libconfig libmosquitto libmodbus libjson-c libmicrohttpd; do
	f=$(ls "$M/root/lib/$l".so.* 2>/dev/null | head -1)
	[ -n "$f" ] && printf '%s %d KiB\n' "${f##*/}" "$(($(stat -L -c %s "$f") / 1024))"
done >"$T/libs"
row "its libraries, as built (unstripped)" "$(tr '\n' ',' <"$T/libs" | sed 's/,$//; s/,/, /g')" "—" ""

if run web32 "$MB" 32 "$($LG --free-port)"; then
	P=$LAST; m=$(mem $P); rss=${m%% *}
	row "RSS idle, 32 memory devices, web interface on (after a page and an API answer)" "$(mem_text "$m")" "< 2 MiB" "$(verdict "$rss" 2048)"
	c0=$(ctxt $P); sleep "$IDLE"; c1=$(ctxt $P)
	WAKE_WEB=$(awk -v d=$((c1 - c0)) -v s="$IDLE" 'BEGIN { printf "%.1f", d / s }')
	row "wake-ups idle, 32 memory devices, web interface on, the history's sampler every 10 s (context switches over $IDLE s)" "$((c1 - c0)) ($WAKE_WEB/s)" "—" ""
	stop $P
fi
if run web32q "$MB" 32 "$($LG --free-port)" 3600000; then
	P=$LAST; c0=$(ctxt $P); sleep "$IDLE"; c1=$(ctxt $P)
	row "wake-ups idle, 32 memory devices, web interface on, no sampler due (history_interval 1 h; context switches over $IDLE s)" "$((c1 - c0))" "none while no poll timer is due" "$(verdict $((c1 - c0)) 1)"
	stop $P
fi
if run plain32 "$MB" 32; then
	P=$LAST; c0=$(ctxt $P); sleep "$IDLE"; c1=$(ctxt $P)
	row "wake-ups idle, 32 memory devices, no http group (context switches over $IDLE s)" "$((c1 - c0))" "none while no poll timer is due" "$(verdict $((c1 - c0)) 1)"
	row "RSS idle, 32 memory devices, no http group" "$(mem_text "$(mem $P)")" "—" ""
	stop $P
fi
if [ -n "$SLIM" ]; then
	# Three rounds, alternating the builds; the lowest RSS of each is kept.
	for _ in 1 2 3; do
		for v in default slim http modbus influxdb; do
			bin="$M/fp-$v/modbridge"; [ $v = default ] && bin=$MB
			[ -x "$bin" ] || continue
			run "one-$v" "$bin" 1 && { m=$(mem $LAST); stop $LAST; echo "$m" >>"$T/one.$v"; }
		done
	done
	best_slim=$(sort -n "$T/one.slim" | head -1)
	for v in default http modbus influxdb; do
		m=$(sort -n "$T/one.$v" 2>/dev/null | head -1); [ -n "$m" ] || continue
		set -- $m; r=$1 a=$2 f=$3
		set -- $best_slim; d=$((r - $1)) da=$((a - $2)) df=$((f - $3))
		case $v in
		default) label="default package (http, modbus, influxdb)"; tgt="within 300 KiB of slim"; ver=$(verdict $d 300) ;;
		*) label="WITH_$(echo $v | tr a-z A-Z) alone"; tgt="—"; ver="" ;;
		esac
		row "RSS idle, 1 memory device, no http/exporter group: $label; above slim: $(kib $d) (anonymous $(kib $da), file-backed $(kib $df))" \
			"$(mem_text "$m")" "$tgt" "$ver"
	done
	row "the same, slim build (every WITH_*=0) on the same libraries: the baseline" "$(mem_text "$best_slim")" "—" ""
fi

{
	echo "# modbridge on musl (the router build)"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), musl $(dpkg-query -W -f='${Version}' musl 2>/dev/null),"
	echo "libraries from Debian source packages built by init/musl.sh ($(cd "$M/src" && ls ./*.dsc | sed 's|^./||; s|\.dsc$||' | tr '\n' ' '| sed 's/ $//')), x86_64, -Os with the OpenWrt package's flags (init/musl.sh)."
	echo
	echo "| case | figure | target | |"
	echo "|---|---|---|---|"
	cat "$ROWS"
} >"$OUT"
cat "$OUT"
echo "# written to $OUT"
[ -z "$FAILED" ]
