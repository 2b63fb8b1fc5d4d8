# shellcheck shell=sh
# Shared by the benchmark scripts (run.sh, fleet.sh, venus_fleet.sh): processes they start
# are listed in PIDS and stopped on exit; their files live in $T, which the
# caller made. Sourced, not run. STOP_TENTHS is how long stop_pid waits
# (tenths of a second) before SIGKILL.

# Running, not a zombie (kill -0 succeeds on a child that died unreaped).
alive() { st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }

stop_pid() { # PID: SIGTERM, up to STOP_TENTHS/10 s, then SIGKILL
	[ -n "$1" ] || return 0
	# Forget it first, so that cleanup never signals a recycled PID.
	PIDS=$(echo " $PIDS " | sed "s/ $1 / /")
	kill -TERM "$1" 2>/dev/null || return 0
	i=0
	while alive "$1" && [ $i -lt "${STOP_TENTHS:-30}" ]; do sleep 0.1; i=$((i + 1)); done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

# fleet_listeners N: the listeners list for N devices, 247 to a listener
# (unit IDs 1..247): the server block's first, then "l1", "l2"... on free
# ports; nothing for 247 or fewer. Devices name theirs as
# listener = "l<i / 247>". Needs $LG (loadgen, for --free-port).
fleet_listeners() {
	nl=$((($1 + 246) / 247))
	[ "$nl" -gt 1 ] || return 0
	printf 'listeners = (\n'
	k=1
	while [ $k -lt "$nl" ]; do
		printf '  { name = "l%d"; listen = "127.0.0.1"; port = %d; }%s\n' \
			$k "$("$LG" --free-port)" "$([ $k -lt $((nl - 1)) ] && echo ,)"
		k=$((k + 1))
	done
	printf ');\n'
}

# fleet_devices N NAME MAP BLOCK FIRST: the devices list for N devices of
# MAP on the broker at $P_BR, named NAME0, NAME1..., unit IDs 1..247 on each
# listener of fleet_listeners; BLOCK is the protocol group with one printf
# conversion, given FIRST + i for device i (its ID).
fleet_devices() {
	printf 'devices = (\n'
	awk -v n="$1" -v name="$2" -v map="$3" -v block="$4" -v first="$5" -v bp="$P_BR" 'BEGIN {
		for (i = 0; i < n; i++) {
			l = int(i / 247)
			printf " { name = \"%s%d\"; unit_id = %d; map = \"%s\";%s\n", name, i, i % 247 + 1,
				map, l ? sprintf(" listener = \"l%d\";", l) : ""
			printf "   mqtt = { host = \"127.0.0.1\"; port = %d; };\n", bp
			printf "   " block " }%s\n", first + i, i == n - 1 ? "" : ","
		}
	}'
	printf ');\n'
}

cleanup() {
	for p in $PIDS; do stop_pid "$p"; done
	if [ "${KEEP_TMP:-}" = 1 ]; then echo "# files kept in $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
