#!/bin/sh
# make soak: the reliability soak (not part of CI). The bridge serves a memory
# device (maps/scratch.conf) on 127.0.0.1 while loadgen cycles through client
# patterns for SOAK_SECONDS (default 600): steady load, connect/read/close,
# closes and resets with requests still in flight, deep pipelines, and more
# clients than max_connections. VmRSS is sampled every 10 s.
#
# Fails when the bridge dies or does not exit cleanly on SIGTERM, when a
# well-behaved pattern sees an error, or when RSS does not stay flat. RSS
# rises and falls with the number of open connections, so it is compared at
# the same point of each cycle of patterns: one second after the cycle ended
# (every client gone). The last cycle's figure may exceed the first's (by then
# every buffer and pool has met its high-water mark) by at most 10 % or
# 512 KiB, whichever is larger.
set -u
B=${MB_BUILD:-build}
ROOT=$(pwd)
SECS=${SOAK_SECONDS:-600}
STEP=10
LG="$B/tests/bench/loadgen"
MB="$B/modbridge"
T=$(mktemp -d /tmp/mbsoak-XXXXXX) || exit 1
PID_MB=""
SAMPLER=""

cleanup() {
	[ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null
	[ -n "$PID_MB" ] && kill -KILL "$PID_MB" 2>/dev/null
	if [ "${KEEP_TMP:-}" = 1 ]; then echo "# files kept in $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

for f in "$LG" "$MB"; do [ -x "$f" ] || { echo "soak: $f not built"; exit 1; }; done
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
# Running, not a zombie (kill -0 succeeds on a child that died unreaped).
alive() { st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

PORT=$("$LG" --free-port)
MAXC=300
cat >"$T/soak.conf" <<EOF
server = { listen = "127.0.0.1"; port = $PORT; max_connections = $MAXC; idle_timeout = 120; };
maps_path = [ "$ROOT/maps" ];
devices = ( { name = "m1"; unit_id = 1; map = "scratch"; memory = {}; } );
EOF
"$MB" -c "$T/soak.conf" >"$T/bridge.log" 2>&1 &
PID_MB=$!
if ! "$LG" --probe --port "$PORT" --expect 100 --timeout-ms 5000; then
	echo "soak: the bridge did not serve reads"; tail -20 "$T/bridge.log"; exit 1
fi

# The sampler ends with the bridge, or after the soak's time and a margin.
t0=$(date +%s)
(
	n=0
	while alive "$PID_MB" && [ $n -le $((SECS / STEP + 6)) ]; do
		echo "$(($(date +%s) - t0)) $(rss_kib "$PID_MB")" >>"$T/rss"
		sleep $STEP
		n=$((n + 1))
	done
) &
SAMPLER=$!

# name:loadgen arguments (getopt_long takes --name=value); "over" expects
# refusals (more clients than max_connections).
PATTERNS="steady:--conns=64
churn:--conns=16 --reconnect=1
inflight:--conns=32 --depth=4 --reconnect=10
reset:--conns=16 --depth=2 --reconnect=3 --rst
pipeline:--conns=8 --depth=32
over:--conns=$((MAXC + 50)) --stall-ms=5000"

echo "# soak: ${SECS}s against $MB (pid $PID_MB), VmRSS every ${STEP}s"
start=$(date +%s)
end=$((start + SECS))
requests=0 errors=0 refused=0 runs=0
while [ "$(date +%s)" -lt $end ]; do
	printf '%s\n' "$PATTERNS" | while IFS=: read -r name args; do
		left=$((end - $(date +%s)))
		[ $left -gt 0 ] || break
		d=$STEP; [ $left -lt $d ] && d=$left
		# shellcheck disable=SC2086 # the arguments are split on purpose
		line=$("$LG" --port "$PORT" --duration "$d" --warmup 0 --expect 100 $args)
		echo "$name $line" >>"$T/runs"
		printf '  %-9s %s\n' "$name" "$(echo "$line" | cut -d' ' -f1-6)"
		alive "$PID_MB" || break
	done
	alive "$PID_MB" || break
	sleep 1
	echo "$(($(date +%s) - t0)) $(rss_kib "$PID_MB")" >>"$T/cycles"
done

up=0; alive "$PID_MB" && up=1
rc=-1
if [ $up = 1 ]; then
	kill -TERM "$PID_MB"
	i=0
	while alive "$PID_MB" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	if alive "$PID_MB"; then kill -KILL "$PID_MB"; fi
	wait "$PID_MB"; rc=$?
fi
PID_MB=""
wait "$SAMPLER" 2>/dev/null; SAMPLER=""

# Totals: errors of the well-behaved patterns; refusals of "over" apart.
eval "$(awk '{
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	req += v["requests"]
	if ($1 == "over") ref += v["errors"]; else err += v["errors"]
	n++
} END { printf "requests=%d errors=%d refused=%d runs=%d\n", req, err, ref, n }' "$T/runs" 2>/dev/null)"

# Start and end: VmRSS after the first and after the last cycle of patterns.
first=$(sed -n 1p "$T/cycles" 2>/dev/null | cut -d' ' -f2)
last=$(tail -1 "$T/cycles" 2>/dev/null | cut -d' ' -f2)
ncycles=$(wc -l <"$T/cycles" 2>/dev/null || echo 0)
[ "$ncycles" -ge 2 ] || echo "# note: SOAK_SECONDS=$SECS ran $ncycles cycle(s) of patterns: too short to judge flatness"
max=$(cut -d' ' -f2 "$T/rss" | sort -n | tail -1)
echo "# VmRSS every ${STEP}s (s KiB): $(tr '\n' ' ' <"$T/rss")"
echo "# VmRSS after each cycle (s KiB): $(tr '\n' ' ' <"$T/cycles")"
echo "rss_start_kib=${first:-0} rss_end_kib=${last:-0} rss_max_kib=${max:-0} cycles=$ncycles $(printf 'requests=%s errors=%s refused=%s runs=%s' "$requests" "$errors" "$refused" "$runs") exit=$rc"

ok=1
[ $up = 1 ] || { echo "soak: FAILED: the bridge died; log:"; tail -20 "$T/bridge.log"; ok=0; }
[ $up = 0 ] || [ $rc = 0 ] || { echo "soak: FAILED: the bridge exited with $rc on SIGTERM"; ok=0; }
[ "$errors" = 0 ] || { echo "soak: FAILED: $errors errors (see the lines above)"; ok=0; }
limit=$(awk -v f="${first:-0}" 'BEGIN { d = f / 10; if (d < 512) d = 512; printf "%d", f + d }')
[ "${last:-0}" -le "$limit" ] || { echo "soak: FAILED: RSS grew from ${first} KiB to ${last} KiB (limit $limit KiB)"; ok=0; }
[ $ok = 1 ] && echo "soak: ok (RSS ${first} -> ${last} KiB over ${SECS}s, $requests requests)"
[ $ok = 1 ]
