#!/bin/sh
# make bench-fleet: a fleet of PowerGo batteries on one broker link
# (docs/design.md, "A fleet on one broker"), run by hand; it measures and
# reports, and fails only when something did not run.
#
# FLEET_N (10000) devices of one app ID, answered by tests/sim/sim_fleet on
# one mosquitto, spread over ceil(N / 247) listeners (the server block's and
# `listeners`), polled every FLEET_POLL_MS (60000) with max_age above the
# period, so that a client's read is a cache hit. Figures:
#   start-up     spawn to the first listener accepting, and to every
#                device's link up
#   memory       the daemon's memory with N devices against one device,
#                per device beyond the first, 3 s after every link is up
#                (the first poll round under way), from
#                /proc/PID/smaps_rollup: Anonymous (heap, stacks, written
#                library data: what the daemon itself allocated) and
#                Private_Clean + Private_Dirty, the figure of earlier runs,
#                which also counts library pages no other process maps at
#                that moment (it moves with what else runs: the one-device
#                daemon's ranged 1.9 to 4.9 MiB on one machine)
#   latency      loadgen, 64 connections, one request each in flight, cached
#                FC03 of one device, FLEET_LOAD_S (20) s while the fleet is
#                polled; the daemon's CPU share over the same time
#   restart      mosquitto is stopped and started again; how many devices
#                the simulator answered within one poll period after that
#   loop         with tests/bench/loopstat built (make bench-fleet builds
#                it), the fleet daemon runs with it preloaded: how long
#                the loop worked between two waits during the latency load
#                and while polling alone (longest, and how many iterations
#                took over 1 ms), the same load against the one-device
#                daemon first (FLEET_BASELINE=0 leaves that out), so that
#                the fleet's share of the p99 shows in the same run
# Targets (docs/design.md, "A fleet on one broker"):
# start-up < 2 s; < 2 KiB private per device; p99 < 1 ms;
# every device answering again within one poll period. FLEET_MEMORY_ONLY=1
# stops after the memory figures.
set -u
B=${MB_BUILD:-build}
N=${FLEET_N:-10000}
POLL=${FLEET_POLL_MS:-60000}
LOAD_S=${FLEET_LOAD_S:-20}
LG="$B/tests/bench/loadgen"
MB="$B/modbridge"
SIM="$B/tests/sim/sim_fleet"
MAPS="$(pwd)/maps"
HZ=$(getconf CLK_TCK 2>/dev/null || echo 100)
T=$(mktemp -d /tmp/mbfleet-XXXXXX) || exit 1
PIDS=""
FAILED=""

STOP_TENTHS=100 # 10,000 devices take a while to close
. tests/bench/procs.sh # alive, stop_pid, cleanup on exit
fail() { echo "# FAILED: $*"; FAILED="$FAILED x"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
private_kib() { awk '/^Private_(Clean|Dirty):/ { s += $2 } END { print s + 0 }' "/proc/$1/smaps_rollup"; }
anon_kib() { awk '/^Anonymous:/ { s += $2 } END { print s + 0 }' "/proc/$1/smaps_rollup"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
wait_lines() { # FILE NEEDLE COUNT TIMEOUT_S
	i=0
	while n=$(grep -c -- "$2" "$1" 2>/dev/null); [ "${n:-0}" -lt "$3" ]; do
		[ $i -ge $(($4 * 20)) ] && return 1
		sleep 0.05
		i=$((i + 1))
	done
	return 0
}

# devices_seen FILE up|down: how many devices the log says saw their link
# go up (down): a line per device ("pg7: link up"), or one per shared link
# ("pg0: link up, and 9999 more powergo devices on mqtt ...").
devices_seen() {
	awk -v w=": link $2" 'index($0, w) {
		n++
		if (match($0, /, and [0-9]+ more /)) n += substr($0, RSTART + 6, RLENGTH - 12)
	} END { print n + 0 }' "$1"
}
wait_devices() { # FILE up|down COUNT TIMEOUT_S
	i=0
	while [ "$(devices_seen "$1" "$2")" -lt "$3" ]; do
		[ $i -ge $(($4 * 20)) ] && return 1
		sleep 0.05
		i=$((i + 1))
	done
	return 0
}

for f in "$LG" "$MB" "$SIM"; do
	[ -x "$f" ] || { echo "fleet: $f missing (make bench-fleet builds it)"; exit 1; }
done
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || { echo "fleet: needs mosquitto"; exit 1; }
MOSQ=$(command -v mosquitto || echo /usr/sbin/mosquitto)

P_BR=$("$LG" --free-port)
printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n' "$P_BR" >"$T/mosquitto.conf"
start_broker() {
	"$MOSQ" -c "$T/mosquitto.conf" >>"$T/mosquitto.log" 2>&1 &
	PID_BR=$!
	PIDS="$PIDS $PID_BR"
	"$LG" --probe --connect-only --port "$P_BR" --timeout-ms 5000 || fail "mosquitto did not start"
}
start_broker
"$SIM" --port "$P_BR" --first-id 20000000 --devices "$N" >"$T/sim.log" 2>&1 &
PID_SIM=$!
PIDS="$PIDS $PID_SIM"
wait_lines "$T/sim.log" subscribed 1 10 || fail "sim_fleet did not subscribe"

# conf FILE COUNT: COUNT devices, 247 per listener.
conf() {
	P0=$("$LG" --free-port)
	{
		printf 'server = { listen = "127.0.0.1"; port = %d; max_connections = 256; };\n' "$P0"
		printf 'maps_path = "%s";\n' "$MAPS"
		printf 'defaults = { poll = %d; max_age = %d; };\n' "$POLL" $((POLL * 2))
		fleet_listeners "$2"
		fleet_devices "$2" pg powergo 'powergo = { app_id = "053461AE"; device_id = "%08X"; };' 536870912
	} >"$1"
}

# loop_mark: loopstat's figures ($LOOPF) start again (it checks once a second).
loop_mark() {
	[ -n "$LOOPSTAT" ] || return 0
	touch "$LOOPF.reset"
	i=0
	while [ -e "$LOOPF.reset" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
}

LOOPSTAT="$B/tests/bench/loopstat"
[ -f "$LOOPSTAT" ] && LOOPSTAT="$(cd "$(dirname "$LOOPSTAT")" && pwd)/loopstat" || LOOPSTAT=""
# run_mb CONF LOG: the daemon, with loopstat preloaded when built ($LOG.loop).
run_mb() {
	if [ -n "$LOOPSTAT" ]; then
		LD_PRELOAD="$LOOPSTAT" LOOPSTAT_OUT="$2.loop" "$MB" -c "$1" >"$2" 2>&1 &
	else
		"$MB" -c "$1" >"$2" 2>&1 &
	fi
	PID_MB=$!
}

# One device: the baseline for memory per device.
conf "$T/one.conf" 1
run_mb "$T/one.conf" "$T/one.log"
PIDS="$PIDS $PID_MB"
"$LG" --probe --connect-only --port "$P0" --timeout-ms 10000 || fail "bridge (1 device) did not listen"
wait_lines "$T/one.log" ": link up" 1 10 || fail "1 device: link not up"
sleep 2
ONE_KIB=$(private_kib "$PID_MB")
ONE_ANON=$(anon_kib "$PID_MB")
ONE_LOAD="-"
if [ "${FLEET_BASELINE:-1}" = 1 ] && [ "${FLEET_MEMORY_ONLY:-}" != 1 ]; then
	LOOPF="$T/one.log.loop"
	loop_mark
	ONE_LOAD=$("$LG" --port "$P0" --conns 64 --depth 1 --unit 1 --addr 1 --count 1 \
		--duration "$LOAD_S" --warmup 1 2>&1 | tail -1)
	sleep 1.1 # loopstat's next dump
	[ -n "$LOOPSTAT" ] && cp "$LOOPF" "$T/loop.one"
fi
stop_pid "$PID_MB"

conf "$T/fleet.conf" "$N"
t0=$(now_ms)
LOOPF="$T/fleet.log.loop"
run_mb "$T/fleet.conf" "$T/fleet.log"
PIDS="$PIDS $PID_MB"
"$LG" --probe --connect-only --port "$P0" --timeout-ms 60000 || fail "bridge ($N devices) did not listen"
t_listen=$(($(now_ms) - t0))
wait_devices "$T/fleet.log" up "$N" 120 || fail "not every device saw its link up"
t_up=$(($(now_ms) - t0))
sleep 3
N_KIB=$(private_kib "$PID_MB")
N_ANON=$(anon_kib "$PID_MB")
per_dev() { awk -v a="$1" -v b="$2" -v n="$N" 'BEGIN { printf "%.2f", (a - b) / (n - 1) }'; }
PER_DEV=$(per_dev "$N_KIB" "$ONE_KIB")
PER_ANON=$(per_dev "$N_ANON" "$ONE_ANON")
if [ "${FLEET_MEMORY_ONLY:-}" = 1 ]; then
	echo "| fleet of $N PowerGo devices, one broker link, poll ${POLL} ms | figure | target |"
	echo "|---|---|---|"
	echo "| start-up: spawn to every device's link up | ${t_up} ms | |"
	echo "| anonymous memory: 1 device / $N devices | ${ONE_ANON} / ${N_ANON} KiB | |"
	echo "| anonymous memory per device beyond the first | ${PER_ANON} KiB | < 2 KiB |"
	echo "| private memory per device beyond the first | ${PER_DEV} KiB | |"
	[ -z "$FAILED" ]
	exit
fi

# loop_row FILE: per clock (wall: what a client waits, cpu: the loop's own
# work), the longest iteration and how many took over 1 ms.
loop_row() {
	if [ -z "$LOOPSTAT" ] || [ ! -f "$1" ]; then
		echo "-"
		return
	fi
	awk '/^iterations/ { it = $2 }
		/ busy_ms / { max[$1] = $5; ev[$1] = $7 }
		$2 ~ /^(upto_(2000|5000|10000|50000)_us|over_)/ { over[$1] += $3 }
		END { printf "%d iterations; wall: longest %d us (%d events), %d over 1 ms; cpu: longest %d us (%d events), %d over 1 ms",
			it, max["wall"], ev["wall"], over["wall"], max["cpu"], ev["cpu"], over["cpu"] }' "$1"
}

# Latency under polling: the poll round is running (spread over the period).
loop_mark
c0=$(cpu_ticks "$PID_MB")
LOAD=$("$LG" --port "$P0" --conns 64 --depth 1 --unit 1 --addr 1 --count 1 \
	--duration "$LOAD_S" --warmup 1 2>&1 | tail -1)
c1=$(cpu_ticks "$PID_MB")
sleep 1.1 # loopstat's next dump
[ -n "$LOOPSTAT" ] && cp "$LOOPF" "$T/loop.load"
CPU=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v s="$LOAD_S" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / (s + 1) }')
# The daemon alone, polling, no client.
loop_mark
c0=$(cpu_ticks "$PID_MB")
sleep 10
c1=$(cpu_ticks "$PID_MB")
[ -n "$LOOPSTAT" ] && cp "$LOOPF" "$T/loop.idle"
CPU_IDLE=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN { printf "%.1f", 100 * (b - a) / hz / 10 }')

# Broker restart.
ups=$(devices_seen "$T/fleet.log" up)
lines0=$(grep -c ": link \(up\|down\)" "$T/fleet.log")
stop_pid "$PID_BR"
wait_devices "$T/fleet.log" down "$N" 30 || fail "not every device saw its link down"
start_broker
kill -USR2 "$PID_SIM"
tr0=$(now_ms)
wait_devices "$T/fleet.log" up $((ups + N)) 120 || fail "links not up again"
t_reup=$(($(now_ms) - tr0))
sleep $((POLL / 1000))
kill -USR1 "$PID_SIM"
wait_lines "$T/sim.log" "answered since mark" 1 10 || fail "sim_fleet did not report"
AGAIN=$(grep "answered since mark" "$T/sim.log" | tail -1 | sed 's/.*mark: //')
RSS_END=$(awk '/^VmRSS/ { print $2 }' "/proc/$PID_MB/status")

echo "| fleet of $N PowerGo devices, one broker link, poll ${POLL} ms | figure | target |"
echo "|---|---|---|"
echo "| start-up: spawn to first listener accepting | ${t_listen} ms | < 2000 ms |"
echo "| start-up: spawn to every device's link up | ${t_up} ms | |"
echo "| anonymous memory: 1 device / $N devices | ${ONE_ANON} / ${N_ANON} KiB | |"
echo "| anonymous memory per device beyond the first | ${PER_ANON} KiB | < 2 KiB |"
echo "| private memory: 1 device / $N devices | ${ONE_KIB} / ${N_KIB} KiB | |"
echo "| private memory per device beyond the first | ${PER_DEV} KiB | |"
echo "| cached FC03, 64 connections, one device, no fleet (same run) | $ONE_LOAD | |"
echo "| loop iterations during that load | $(loop_row "$T/loop.one") | |"
echo "| cached FC03, 64 connections, while polled | $LOAD | p99 < 1000 us |"
echo "| loop iterations during that load | $(loop_row "$T/loop.load") | |"
echo "| loop iterations while polling alone (10 s) | $(loop_row "$T/loop.idle") | |"
echo "| load average at the end (uptime) | $(uptime | sed 's/.*average: //') | |"
echo "| daemon CPU during that load / polling alone | ${CPU} % / ${CPU_IDLE} % | |"
echo "| broker restart: every link up again after | ${t_reup} ms | |"
echo "| broker restart: link lines logged | $(($(grep -c ": link \(up\|down\)" "$T/fleet.log") - lines0)) | |"
echo "| answered within one poll period after the restart | $AGAIN | all |"
echo "| VmRSS at the end | ${RSS_END} KiB | |"
[ -z "$FAILED" ]
