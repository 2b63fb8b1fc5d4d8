#!/bin/sh
# Stale values in the InfluxDB export (device health, docs/design.md), measured by hand:
#
#   sh tests/bench/stale_export.sh            # MB_BUILD=build by default
#   STALE_SECONDS=60 sh tests/bench/stale_export.sh
#
# A PowerGo battery (the shipped powergo map, poll = 2000 as in the README)
# behind a local mosquitto, exported to tests/sim/sim_influx every second.
# After 10 s the simulator is told to go silent while the broker stays up,
# for STALE_SECONDS (default 20); then it answers again for 10 s. Prints how
# many points of the battery InfluxDB received during the silence, how many
# of them carry a time after the silence began (a value exported as if it
# were new), the battery's health as the REST API gave it in the silence,
# and whether points came again afterwards. Everything runs on 127.0.0.1 and
# stops by itself. Measures and reports; asserts nothing.
set -u
B=${MB_BUILD:-build}
ROOT=$(pwd)
SECS=${STALE_SECONDS:-20}
LG="$B/tests/bench/loadgen"
MB="$B/modbridge"
T=$(mktemp -d /tmp/mbstale-XXXXXX) || exit 1
PIDS=""

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	if [ "${KEEP_TMP:-}" = 1 ]; then echo "# files kept in $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

for f in "$LG" "$MB" "$B/tests/sim/sim_powergo" "$B/tests/sim/sim_influx"; do
	[ -x "$f" ] || { echo "stale_export: $f not built (make check-build)"; exit 1; }
done
command -v mosquitto_pub >/dev/null || { echo "stale_export: mosquitto_pub missing"; exit 1; }
command -v curl >/dev/null || { echo "stale_export: curl missing"; exit 1; }
bg() { log=$1; shift; "$@" >"$T/$log" 2>&1 & PIDS="$PIDS $!"; }
ms() { date +%s%3N; }

P_BR=$("$LG" --free-port)
P_MB=$("$LG" --free-port)
P_IX=$("$LG" --free-port)
P_HTTP=$("$LG" --free-port)
APP=053461AD DEV=15020115
printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n' "$P_BR" >"$T/mosquitto.conf"
bg mosquitto.log /usr/sbin/mosquitto -c "$T/mosquitto.conf"
"$LG" --probe --connect-only --port "$P_BR" --timeout-ms 5000 || { echo "stale_export: mosquitto did not start"; exit 1; }
bg sim.log "$B/tests/sim/sim_powergo" --host 127.0.0.1 --port "$P_BR" --device-id "$DEV" --app-id "$APP"
bg influx.log "$B/tests/sim/sim_influx" --port "$P_IX" --org o --bucket b --token t

cat >"$T/bridge.conf" <<EOF
server = { listen = "127.0.0.1"; port = $P_MB; };
maps_path = [ "$ROOT/maps" ];
devices = (
  { name = "garage"; unit_id = 1; map = "powergo"; poll = 2000;
    mqtt = { host = "127.0.0.1"; port = $P_BR; };
    powergo = { app_id = "$APP"; device_id = "$DEV"; }; }
);
influxdb = { url = "http://127.0.0.1:$P_IX"; version = 2; org = "o"; bucket = "b"; token = "t"; interval = 1; };
http = { listen = "127.0.0.1"; port = $P_HTTP; read_only_without_auth = true; };
EOF
bg bridge.log "$MB" -c "$T/bridge.conf"
sleep 10

t_silent=$(ms)
mosquitto_pub -h 127.0.0.1 -p "$P_BR" -q 1 -t "sim/powergo/$DEV/mode" -m silent
from=$(wc -l <"$T/influx.log")
sleep "$SECS"
health=$(curl -s "http://127.0.0.1:$P_HTTP/api/v1/devices/garage" | grep -o '"health":"[a-z_]*"\(,"last_answer":[0-9a-z]*,"not_answering_since":[0-9a-z]*\)\{0,1\}')
to=$(wc -l <"$T/influx.log")
mosquitto_pub -h 127.0.0.1 -p "$P_BR" -q 1 -t "sim/powergo/$DEV/mode" -m normal
t_back=$(ms)
sleep 10

# Points of the battery that arrived during the silence, and those among
# them stamped after it began.
during=$(sed -n "$((from + 1)),${to}p" "$T/influx.log" | grep -c 'device=garage')
late=$(sed -n "$((from + 1)),${to}p" "$T/influx.log" | grep 'device=garage' |
	sed 's/.* time=\([0-9]*\).*/\1/' | awk -v t="$t_silent" '$1 >= t' | wc -l)
after=$(sed -n "$((to + 1)),\$p" "$T/influx.log" | grep 'device=garage' |
	sed 's/.* time=\([0-9]*\).*/\1/' | awk -v t="$t_back" '$1 >= t' | wc -l)
echo "# $MB: ${SECS} s of silence behind a working broker; REST in the silence: ${health:-none}"
echo "stale_points_during_silence=$during stamped_after_silence_began=$late fresh_points_after=$after"
