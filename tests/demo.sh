#!/bin/sh
# `make demo`: modbridge against the bundled simulators, in one command.
#
# Starts a mosquitto on a free loopback port, the PowerGo, Venus and Solarman
# simulators, and the bridge on 127.0.0.1:1502 with four devices:
#   unit 1  PowerGo battery     (MQTT, map powergo)
#   unit 2  Venus battery       (MQTT, map venus)
#   unit 3  Growatt inverter    (Solarman V5 logger, map growatt)
#   unit 10 scratch registers   (in memory, map scratch)
# then reads a few registers of each through Modbus TCP with mbpoll every 2 s
# and prints them decoded with the map's type, scale and unit. Ctrl-C stops
# everything.
#
# The web interface is on http://127.0.0.1:8502/ (DEMO_HTTP_PORT): reading
# needs no password, writing (registers, and the exporter settings, kept in
# the demo's temp dir) asks for user demo, password demo.
#
# Environment: MB_BUILD (build dir, default build), DEMO_PORT (1502),
# DEMO_HISTORY_MS (the summary history's interval, 60000: tests/screenshots.sh
# makes it short so that the charts fill at once), DEMO_DEVICES (which of
# "powergo venus growatt scratch", default all), DEMO_SECONDS=N (stop after
# N seconds; exit status 0 only if every row was read at least once and the
# one write below read back, so CI can run the demo as a smoke test),
# KEEP_TMP=1 (keep the logs).
set -u

B=${MB_BUILD:-build}
PORT=${DEMO_PORT:-1502}
HTTP_PORT=${DEMO_HTTP_PORT:-8502}
LIMIT=${DEMO_SECONDS:-0}
HISTORY_MS=${DEMO_HISTORY_MS:-60000}
DEVICES=" ${DEMO_DEVICES:-powergo venus growatt scratch} "
ROOT=$(pwd)
MAPS=$ROOT/maps
APP_ID=053461AD
DEVICE_ID=15020115
VENUS_TYPE=HMG-50
VENUS_ID=0123456789ab
LOGGER_SERIAL=1234567890

die() { echo "demo: $*" >&2; exit 1; }
# want NAME: is the device NAME among DEMO_DEVICES?
want() { case $DEVICES in *" $1 "*) return 0 ;; esac; return 1; }

for bin in "$B/modbridge" "$B/tests/sim/sim_powergo" "$B/tests/sim/sim_venus" "$B/tests/sim/sim_solarman"; do
	[ -x "$bin" ] || die "$bin missing: run 'make demo' (it builds them)"
done
command -v mbpoll >/dev/null 2>&1 || die "mbpoll missing (apt-get install mbpoll)"
MOSQUITTO=/usr/sbin/mosquitto
[ -x "$MOSQUITTO" ] || MOSQUITTO=$(command -v mosquitto) || die "mosquitto missing (apt-get install mosquitto)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/modbridge-demo.XXXXXX") || die "mktemp failed"
PIDS=""

# Stop what this script started, newest first, then remove the temp dir.
# shellcheck disable=SC2317 # called from the traps
cleanup() {
	trap - INT TERM EXIT
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do
		n=0
		while kill -0 "$p" 2>/dev/null && [ "$n" -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "demo: logs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap 'cleanup; exit "${STATUS:-0}"' EXIT
trap 'STATUS=130; exit 130' INT
trap 'STATUS=143; exit 143' TERM

# start NAME CMD...: run in the background, output to $TMP/NAME.log.
start() {
	name=$1; shift
	"$@" > "$TMP/$name.log" 2>&1 &
	PIDS="$! $PIDS"
	LAST=$!
}

# wait_log NAME TEXT: until the log has TEXT (5 s) and the process lives.
wait_log() {
	n=0
	while [ $n -lt 50 ]; do
		grep -q "$2" "$TMP/$1.log" 2>/dev/null && return 0
		kill -0 "$LAST" 2>/dev/null || return 1
		sleep 0.1; n=$((n + 1))
	done
	return 1
}

# A free port is found by trying: a busy one makes the program exit at once.
random_port() { echo $(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000 + 30000 )); }

tries=0
while :; do
	MQTT_PORT=$(random_port)
	printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n' \
		"$MQTT_PORT" > "$TMP/mosquitto.conf"
	start mosquitto "$MOSQUITTO" -c "$TMP/mosquitto.conf"
	wait_log mosquitto "running" && break
	tries=$((tries + 1))
	[ $tries -lt 5 ] || die "mosquitto did not start: $(tail -3 "$TMP/mosquitto.log")"
done

tries=0
while :; do
	LOGGER_PORT=$(random_port)
	start solarman "$B/tests/sim/sim_solarman" --port "$LOGGER_PORT" --serial "$LOGGER_SERIAL" --slave 1
	sleep 0.3
	kill -0 "$LAST" 2>/dev/null && break
	tries=$((tries + 1))
	[ $tries -lt 5 ] || die "sim_solarman did not start: $(tail -3 "$TMP/solarman.log")"
done

start powergo "$B/tests/sim/sim_powergo" --host 127.0.0.1 --port "$MQTT_PORT" \
	--device-id "$DEVICE_ID" --app-id "$APP_ID"
start venus "$B/tests/sim/sim_venus" --host 127.0.0.1 --port "$MQTT_PORT" \
	--type "$VENUS_TYPE" --id "$VENUS_ID"

# The simulators answer at once, so the demo polls every device fast; the
# shipped maps' slower defaults are for real clouds and loggers.
DEVCONF=""
add_device() { DEVCONF="${DEVCONF:+$DEVCONF,
}$1"; }
want powergo && add_device "  { name = \"powergo\"; unit_id = 1; map = \"powergo\";
    mqtt = { host = \"127.0.0.1\"; port = $MQTT_PORT; };
    powergo = { app_id = \"$APP_ID\"; device_id = \"$DEVICE_ID\"; }; }"
want venus && add_device "  { name = \"venus\"; unit_id = 2; map = \"venus\";
    poll = 2000; max_age = 4000; min_interval = 0; timeout = 3000;
    mqtt = { host = \"127.0.0.1\"; port = $MQTT_PORT; };
    venus = { type = \"$VENUS_TYPE\"; id = \"$VENUS_ID\"; }; }"
want growatt && add_device "  { name = \"growatt\"; unit_id = 3; map = \"growatt\";
    poll = 2000; max_age = 4000; min_interval = 0;
    solarman = { host = \"127.0.0.1\"; port = $LOGGER_PORT; serial = $LOGGER_SERIAL; slave = 1; }; }"
want scratch && add_device "  { name = \"scratch\"; unit_id = 10; map = \"scratch\"; memory = { }; }"
[ -n "$DEVCONF" ] || die "DEMO_DEVICES names none of powergo venus growatt scratch"
cat > "$TMP/modbridge.conf" <<EOF
server = { listen = "127.0.0.1"; port = $PORT; };
maps_path = [ "$MAPS" ];
defaults = { timeout = 3000; max_age = 4000; poll = 2000; min_interval = 0; };
devices = (
$DEVCONF
);
http = { listen = "127.0.0.1"; port = $HTTP_PORT; read_only_without_auth = true;
  history_interval = $HISTORY_MS;
  users = ( { name = "demo"; ha1 = "$(printf '%s' 'demo:modbridge:demo' | md5sum | cut -d' ' -f1)"; } ); };
web_settings = { file = "$TMP/exporters.conf"; };
EOF
"$B/modbridge" --check -c "$TMP/modbridge.conf" > "$TMP/check.log" 2>&1 ||
	die "config refused: $(cat "$TMP/check.log")"
start modbridge "$B/modbridge" -c "$TMP/modbridge.conf"
MB_PID=$LAST
wait_log modbridge "serving" || die "modbridge did not start (port $PORT or $HTTP_PORT busy?): $(tail -5 "$TMP/modbridge.log")"

# field MAP REGISTER: "address table type word_order scale unit" from the map
# file, so that the table below follows the maps.
field() {
	awk -v want="$2" '
		BEGIN { RS = "}" }
		{
			gsub(/#[^\n]*/, "")
			if ($0 !~ "name[ \t]*=[ \t]*\"" want "\"[ \t]*;") next
			a = $0; t = "holding"; ty = "uint16"; wo = "big"; sc = "1"; u = "-"
			if (match(a, /address[ \t]*=[ \t]*[0-9]+/)) { s = substr(a, RSTART, RLENGTH); sub(/[^0-9]*/, "", s); addr = s }
			if (match(a, /table[ \t]*=[ \t]*"[a-z]+"/)) { s = substr(a, RSTART, RLENGTH); sub(/[^"]*"/, "", s); sub(/"/, "", s); t = s }
			if (match(a, /type[ \t]*=[ \t]*"[a-z0-9]+"/)) { s = substr(a, RSTART, RLENGTH); sub(/[^"]*"/, "", s); sub(/"/, "", s); ty = s }
			if (match(a, /word_order[ \t]*=[ \t]*"[a-z]+"/)) { s = substr(a, RSTART, RLENGTH); sub(/[^"]*"/, "", s); sub(/"/, "", s); wo = s }
			if (match(a, /scale[ \t]*=[ \t]*[-0-9.eE]+/)) { s = substr(a, RSTART, RLENGTH); sub(/[^=]*=[ \t]*/, "", s); sc = s }
			if (match(a, /unit[ \t]*=[ \t]*"[^"]*"/)) { s = substr(a, RSTART, RLENGTH); sub(/[^"]*"/, "", s); sub(/"/, "", s); if (s != "") u = s }
			print addr, t, ty, wo, sc, u
			exit
		}' "$MAPS/$1.conf"
}

# The rows: unit, map, register. A register a map does not have is skipped.
ROWS="1 powergo soc
1 powergo grid_power
1 powergo total_discharge_energy
2 venus soc
2 venus power
2 venus battery_energy
2 venus total_discharge_energy
3 growatt pac
3 growatt ppv
3 growatt eac_today
3 growatt soc
10 scratch setpoint
10 scratch energy"

SPECS=$TMP/rows
: > "$SPECS"
printf '%s\n' "$ROWS" | while read -r unit map reg; do
	{ [ -f "$MAPS/$map.conf" ] && want "$map"; } || continue
	f=$(field "$map" "$reg")
	[ -n "$f" ] && echo "$unit $map $reg $f" >> "$SPECS"
done
[ -s "$SPECS" ] || die "no register of the demo rows found in $MAPS"

# read_row UNIT ADDR TABLE TYPE ORDER SCALE: the decoded value, or the error.
read_row() {
	count=1
	case $4 in *32) count=2 ;; esac
	t=4
	[ "$3" = input ] && t=3
	out=$(mbpoll -m tcp -a "$1" -0 -r "$2" -c "$count" -t "$t:hex" -1 -o 5 -p "$PORT" 127.0.0.1 2>&1)
	words=$(printf '%s\n' "$out" | sed -n 's/^\[[0-9]*\]:[[:space:]]*0x\([0-9A-Fa-f]*\).*/\1/p' | tr '\n' ' ')
	# shellcheck disable=SC2086 # one argument per word
	set -- "$@" $words
	if [ $# -lt $((6 + count)) ]; then
		printf '%s\n' "$out" | grep -iE 'fail|error|exception|timed out|unavailable' | head -1 | cut -c1-40
		return 1
	fi
	hi=$((0x$7)); lo=0
	if [ "$count" = 2 ]; then
		if [ "$5" = little ]; then lo=$((0x$7)); hi=$((0x$8)); else lo=$((0x$8)); fi
	fi
	awk -v hi="$hi" -v lo="$lo" -v ty="$4" -v sc="$6" 'BEGIN {
		if (ty == "int16" || ty == "uint16") v = hi; else v = hi * 65536 + lo
		if (ty == "int16" && v >= 32768) v -= 65536
		if (ty == "int32" && v >= 2147483648) v -= 4294967296
		x = v * sc
		if (x == int(x)) printf "%d\n", x; else printf "%.2f\n", x
	}'
}

ok_file=$TMP/ok
: > "$ok_file"
start_time=$(date +%s)
tty=0
[ -t 1 ] && tty=1

# One write through the bridge: the scratch device's setpoint (unit 10,
# register 30, 0..1000) becomes 750 and is read back at once. It is checked
# here, not in the last table: the web page's write form (and mbpoll) may
# change the setpoint while the demo runs, and a visitor's write is no
# failure of the demo.
WRITE_OK=0
READBACK=""
if grep -q "^10 scratch setpoint " "$SPECS"; then
	if mbpoll -m tcp -a 10 -0 -r 30 -1 -o 5 -p "$PORT" 127.0.0.1 750 > "$TMP/write.log" 2>&1; then
		WRITE_OK=1
		READBACK=$(read_row 10 30 holding uint16 big 1)
	else
		echo "demo: writing 750 to unit 10 register 30 failed: $(grep -iE 'fail|error' "$TMP/write.log" | head -1)"
	fi
fi

# Make the PowerGo simulator's battery move, through its control topic, so
# that the table shows values changing as they pass through the bridge.
PUB=$(command -v mosquitto_pub || true)
tick=0
wiggle() {
	[ -n "$PUB" ] || return 0
	set -- -1200 -800 -300 0 350 900 1500 600
	shift $((tick % 8))
	p=$1
	soc=$((60 + (tick / 2) % 30))
	"$PUB" -h 127.0.0.1 -p "$MQTT_PORT" -t "sim/powergo/$DEVICE_ID/set" \
		-m "529=$soc,530=$(((p + 65536) % 65536))" 2>/dev/null
	tick=$((tick + 1))
}

while :; do
	now=$(date +%s)
	wiggle
	table=$(
		printf '%-5s %-8s %-24s %-8s %14s  %s\n' unit map register address value unit
		while read -r unit map reg addr tbl type order scale u; do
			if v=$(read_row "$unit" "$addr" "$tbl" "$type" "$order" "$scale"); then
				echo "$unit $reg" >> "$ok_file"
			else
				u=""; v="(${v:-no answer})"
			fi
			[ "$u" = - ] && u=""
			a=$addr
			[ "$tbl" = input ] && a="$addr in"
			printf '%-5s %-8s %-24s %-8s %14s  %s\n' "$unit" "$map" "$reg" "$a" "$v" "$u"
		done < "$SPECS"
	)
	[ $tty = 1 ] && printf '\033[H\033[2J'
	echo "modbridge demo: Modbus TCP on 127.0.0.1:$PORT, mosquitto on $MQTT_PORT, logger sim on $LOGGER_PORT ($(date +%T))"
	echo "Web interface: http://127.0.0.1:$HTTP_PORT/  (writes: user demo, password demo)"
	echo
	printf '%s\n' "$table"
	echo
	kill -0 "$MB_PID" 2>/dev/null || echo "modbridge is not running any more: see $TMP/modbridge.log"
	echo "Try:  mbpoll -m tcp -a 1 -r 530 -c 15 -t 4 -1 -p $PORT 127.0.0.1     (PowerGo 529..543; -r is 1-based)"
	echo "      mbpoll -m tcp -a 3 -0 -r 35 -t 3:int -B -1 -p $PORT 127.0.0.1    (Growatt pac, input register)"
	echo "      mbpoll -m tcp -a 10 -0 -r 30 -1 -p $PORT 127.0.0.1 750          (write scratch setpoint)"
	[ "$LIMIT" -gt 0 ] || echo "Ctrl-C stops the demo."
	if [ "$LIMIT" -gt 0 ] && [ $((now - start_time)) -ge "$LIMIT" ]; then break; fi
	sleep 2
done

# Non-interactive run: every row must have been read at least once.
missing=0
while read -r unit map reg rest; do
	grep -qx "$unit $reg" "$ok_file" || { echo "demo: never read unit $unit $map $reg"; missing=$((missing + 1)); }
done < "$SPECS"
if ! kill -0 "$MB_PID" 2>/dev/null; then
	wait "$MB_PID" 2>/dev/null
	echo "demo: modbridge died (exit status $?)"
	missing=$((missing + 1))
fi
if [ $WRITE_OK = 0 ] && grep -q "^10 scratch setpoint " "$SPECS"; then
	echo "demo: the write to the scratch setpoint failed"
	missing=$((missing + 1))
elif grep -q "^10 scratch setpoint " "$SPECS" && [ "$READBACK" != 750 ]; then
	echo "demo: the scratch setpoint did not read back 750 right after the write (${READBACK:-no answer})"
	missing=$((missing + 1))
elif grep -q "^10 scratch setpoint " "$SPECS" && ! printf '%s\n' "$table" | grep -qE '^10 +scratch +setpoint +30 +750 '; then
	echo "demo: the scratch setpoint was changed after the demo's write (the web page or mbpoll): fine"
fi
if [ $missing -gt 0 ]; then
	echo "demo: $missing check(s) failed; modbridge log:"
	tail -20 "$TMP/modbridge.log"
	STATUS=1
else
	echo "demo: every register answered, and the write read back"
fi
exit "${STATUS:-0}"
