#!/bin/sh
# make soak, second part: a hostile peer on every kind of native link for
# SOAK_SECONDS (default 600), while a client keeps reading:
#   - PowerGo: tests/bench/hostile floods the shared response topic with
#     garbage (empty, random up to 8 KiB, sometimes 256 KiB) beside the
#     simulator's real answers;
#   - Venus: the same on the device's reply topic beside sim_venus;
#   - Solarman: tests/bench/hostile plays a logger that sends heartbeats and
#     garbage and never reads what the bridge sends.
# VmRSS of the bridge is sampled every 10 s. Fails when the bridge dies, does
# not exit cleanly on SIGTERM, when the PowerGo and Venus devices stop
# answering, or when RSS at the end exceeds RSS after the first quarter (every
# buffer has met its high-water mark by then) by more than 10 % or 1 MiB,
# whichever is larger. Everything runs on 127.0.0.1 and stops by itself.
set -u
B=${MB_BUILD:-build}
ROOT=$(pwd)
SECS=${SOAK_SECONDS:-600}
STEP=10
LG="$B/tests/bench/loadgen"
HZ="$B/tests/bench/hostile"
MB="$B/modbridge"
T=$(mktemp -d /tmp/mbsoakh-XXXXXX) || exit 1
PIDS=""
PID_MB=""

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	[ -n "$PID_MB" ] && kill -KILL "$PID_MB" 2>/dev/null
	if [ "${KEEP_TMP:-}" = 1 ]; then echo "# files kept in $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

for f in "$LG" "$HZ" "$MB" "$B/tests/sim/sim_powergo" "$B/tests/sim/sim_venus"; do
	[ -x "$f" ] || { echo "soak: $f not built"; exit 1; }
done
command -v mbpoll >/dev/null || { echo "soak: mbpoll missing (make deps)"; exit 1; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
alive() { st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }
bg() { "$@" >>"$T/peers.log" 2>&1 & PIDS="$PIDS $!"; }

P_BR=$("$LG" --free-port)
P_MB=$("$LG" --free-port)
P_LOG=$("$LG" --free-port)
APP=053461AD DEV=15020115 VID=0123456789ab
printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n' "$P_BR" >"$T/mosquitto.conf"
bg /usr/sbin/mosquitto -c "$T/mosquitto.conf"
"$LG" --probe --connect-only --port "$P_BR" --timeout-ms 5000 || { echo "soak: mosquitto did not start"; exit 1; }
bg "$B/tests/sim/sim_powergo" --host 127.0.0.1 --port "$P_BR" --device-id "$DEV" --app-id "$APP"
bg "$B/tests/sim/sim_venus" --host 127.0.0.1 --port "$P_BR" --type HMG-50 --id "$VID"
bg "$HZ" logger --port "$P_LOG" --seconds $((SECS + 30))

cat >"$T/bridge.conf" <<EOF
server = { listen = "127.0.0.1"; port = $P_MB; };
maps_path = [ "$ROOT/maps" ];
devices = (
  { name = "pg"; unit_id = 1; map = "powergo"; timeout = 1000; max_age = 0;
    mqtt = { host = "127.0.0.1"; port = $P_BR; };
    powergo = { app_id = "$APP"; device_id = "$DEV"; }; },
  { name = "venus"; unit_id = 2; map = "venus"; timeout = 2000; max_age = 0; min_interval = 0;
    mqtt = { host = "127.0.0.1"; port = $P_BR; };
    venus = { type = "HMG-50"; id = "$VID"; }; },
  { name = "logger"; unit_id = 3; map = "growatt"; timeout = 1000; min_interval = 0;
    solarman = { host = "127.0.0.1"; port = $P_LOG; serial = 1234567890; slave = 1; }; }
);
EOF
"$MB" -c "$T/bridge.conf" >"$T/bridge.log" 2>&1 &
PID_MB=$!
i=0
until mbpoll -m tcp -a 1 -r 530 -c 1 -t 4 -1 -p "$P_MB" 127.0.0.1 >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 50 ] || { echo "soak: the bridge did not serve reads"; tail -20 "$T/bridge.log"; exit 1; }
	sleep 0.2
done

bg "$HZ" mqtt --port "$P_BR" --topic "$APP" --seconds "$SECS"
bg "$HZ" mqtt --port "$P_BR" --topic "hame_energy/HMG-50/device/$VID/ctrl" --seconds "$SECS"

echo "# hostile soak: ${SECS}s against $MB (pid $PID_MB), VmRSS every ${STEP}s"
start=$(date +%s)
end=$((start + SECS))
next=$start
ok_pg=0 ok_venus=0 reads=0
while [ "$(date +%s)" -lt $end ] && alive "$PID_MB"; do
	now=$(date +%s)
	if [ "$now" -ge "$next" ]; then
		echo "$((now - start)) $(rss_kib "$PID_MB")" >>"$T/rss"
		next=$((next + STEP))
	fi
	reads=$((reads + 1))
	mbpoll -m tcp -a 1 -r 530 -c 1 -t 4 -1 -p "$P_MB" 127.0.0.1 >/dev/null 2>&1 && ok_pg=$((ok_pg + 1))
	mbpoll -m tcp -a 2 -r 1 -c 1 -t 4 -1 -p "$P_MB" 127.0.0.1 >/dev/null 2>&1 && ok_venus=$((ok_venus + 1))
	mbpoll -m tcp -a 3 -r 1 -c 1 -t 3 -1 -o 2 -p "$P_MB" 127.0.0.1 >/dev/null 2>&1
	sleep 0.2
done

up=0; alive "$PID_MB" && up=1
rc=-1
if [ $up = 1 ]; then
	kill -USR1 "$PID_MB"; sleep 0.5
	kill -TERM "$PID_MB"
	i=0
	while alive "$PID_MB" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	if alive "$PID_MB"; then kill -KILL "$PID_MB"; fi
	wait "$PID_MB"; rc=$?
fi
PID_MB=""
for p in $PIDS; do kill "$p" 2>/dev/null; done; PIDS=""
sleep 0.5

n=$(wc -l <"$T/rss" 2>/dev/null || echo 0)
q=$(( (n + 3) / 4 )); [ "$q" -ge 1 ] || q=1
first=$(sed -n "${q}p" "$T/rss" 2>/dev/null | cut -d' ' -f2)
last=$(tail -1 "$T/rss" 2>/dev/null | cut -d' ' -f2)
max=$(cut -d' ' -f2 "$T/rss" | sort -n | tail -1)
echo "# VmRSS (s KiB): $(tr '\n' ' ' <"$T/rss")"
grep -E 'sent ' "$T/peers.log" | sed 's/^/# peer: /'
grep -E ': unit [0-9]+ link' "$T/bridge.log" | tail -3 | sed 's/^/# /'
echo "hostile_rss_quarter_kib=${first:-0} hostile_rss_end_kib=${last:-0} hostile_rss_max_kib=${max:-0} rounds=$reads powergo_ok=$ok_pg venus_ok=$ok_venus exit=$rc"

ok=1
[ $up = 1 ] || { echo "soak: FAILED: the bridge died; log:"; tail -20 "$T/bridge.log"; ok=0; }
[ $up = 0 ] || [ $rc = 0 ] || { echo "soak: FAILED: the bridge exited with $rc on SIGTERM"; ok=0; }
[ "$ok_pg" -ge $((reads * 9 / 10)) ] || { echo "soak: FAILED: PowerGo answered $ok_pg of $reads reads"; ok=0; }
[ "$ok_venus" -ge $((reads * 9 / 10)) ] || { echo "soak: FAILED: Venus answered $ok_venus of $reads reads"; ok=0; }
limit=$(awk -v f="${first:-0}" 'BEGIN { d = f / 10; if (d < 1024) d = 1024; printf "%d", f + d }')
[ "${last:-0}" -le "$limit" ] || { echo "soak: FAILED: RSS grew from ${first} KiB to ${last} KiB (limit $limit KiB)"; ok=0; }
[ $ok = 1 ] && echo "soak: hostile peers ok (RSS ${first} -> ${last} KiB, max ${max} KiB, over ${SECS}s)"
[ $ok = 1 ]
