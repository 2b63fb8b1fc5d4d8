#!/bin/sh
# A fleet of Venus batteries on one MQTT link, run by hand
# (docs/design.md, "A fleet on one broker"); it measures and reports.
#
#   MB_BUILD=build VENUS_N=10000 sh tests/bench/venus_fleet.sh
#
# VENUS_N (10000) Venus devices on one mosquitto share one link (their
# client ID is the daemon's), two exact topics each; nobody answers them
# (poll = 0). Figures:
#   start-up   spawn to the first listener accepting
#   flood      the daemon's CPU time for VENUS_MSGS (20000) messages
#              published on one device's reply topic, at QoS 1 (each
#              message is handed to its topic's subscriptions only, not
#              compared with every topic of the link)
#   stop       SIGTERM to exit
set -u
B=${MB_BUILD:-build}
N=${VENUS_N:-10000}
MSGS=${VENUS_MSGS:-20000}
LG="$B/tests/bench/loadgen"
MB="$B/modbridge"
MAPS="$(pwd)/maps"
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
T=$(mktemp -d /tmp/mbvenus-XXXXXX) || exit 1
PIDS=""
STOP_TENTHS=300
. tests/bench/procs.sh # alive, stop_pid, cleanup on exit
now_ms() { echo $(($(date +%s%N) / 1000000)); }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

for f in "$LG" "$MB"; do
	[ -x "$f" ] || { echo "venus_fleet: $f missing (make check-build)"; exit 1; }
done
command -v mosquitto_pub >/dev/null 2>&1 || { echo "venus_fleet: needs mosquitto_pub"; exit 1; }
MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)

P_BR=$("$LG" --free-port)
printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n' "$P_BR" >"$T/mosquitto.conf"
"$MOSQ" -c "$T/mosquitto.conf" >"$T/mosquitto.log" 2>&1 &
PIDS="$PIDS $!"
"$LG" --probe --connect-only --port "$P_BR" --timeout-ms 5000 || { echo "mosquitto did not start"; exit 1; }

P0=$("$LG" --free-port)
{
	printf 'server = { listen = "127.0.0.1"; port = %d; };\n' "$P0"
	printf 'maps_path = "%s";\nlog_level = "warning";\n' "$MAPS"
	printf 'defaults = { poll = 0; };\n'
	fleet_listeners "$N"
	fleet_devices "$N" v venus 'venus = { type = "HMG-50"; id = "a0%010x"; };' 0
} >"$T/venus.conf"

t0=$(now_ms)
"$MB" -c "$T/venus.conf" >"$T/venus.log" 2>&1 &
PID_MB=$!
PIDS="$PIDS $PID_MB"
"$LG" --probe --connect-only --port "$P0" --timeout-ms 120000 || { echo "bridge did not listen"; exit 1; }
t_listen=$(($(now_ms) - t0))
sleep 2

i=0
while [ $i -lt "$MSGS" ]; do
	echo "junk=$i"
	i=$((i + 1))
done >"$T/msgs"
c0=$(cpu_ticks "$PID_MB")
mosquitto_pub -p "$P_BR" -q 1 -t "hame_energy/HMG-50/device/a00000000000/ctrl" -l <"$T/msgs"
# Until the daemon has worked through them: its CPU time stops growing.
prev=-1
c1=$(cpu_ticks "$PID_MB")
while [ "$c1" != "$prev" ]; do
	prev=$c1
	sleep 1
	c1=$(cpu_ticks "$PID_MB")
done
FLOOD_MS=$(((c1 - c0) * 1000 / HZ))

t1=$(now_ms)
stop_pid "$PID_MB"
t_stop=$(($(now_ms) - t1))

echo "| fleet of $N Venus devices, one broker link | figure |"
echo "|---|---|"
echo "| start-up: spawn to first listener accepting | ${t_listen} ms |"
echo "| CPU for $MSGS messages on one device's topic | ${FLOOD_MS} ms |"
echo "| stop: SIGTERM to exit | ${t_stop} ms |"
echo "| load average (uptime) | $(uptime | sed 's/.*average: //') |"
