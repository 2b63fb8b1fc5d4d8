#!/bin/sh
# Cost per answer of the bridge (a memory device, maps/scratch.conf) and of
# base_limit (the canned-answer server) under one loadgen load, in figures
# that hold on a shared machine where requests/s do not: run by hand.
#
#   sh tests/bench/cost.sh [LOADGEN-ARGS...]     e.g. --conns 64 --depth 8
#
# The load asks registers 0..9 (the values --expect 100 checks); a master
# that pipelines asks different blocks, e.g. eight ranges of scratch's
# 1000..1199 in turn: --addr 1000 --blocks 8 --stride 20 --expect -1.
#
# For each server: user-space instructions per answer (valgrind's callgrind,
# counted only while loadgen runs), then system calls per answer by kind and
# CPU time per answer (perf stat's tracepoints and task-clock, the server on
# CPU 0, loadgen on CPU 1; its user and system parts from /proc, in clock
# ticks) and the handshakes a full listen backlog dropped
# (TcpExtListenOverflows, whole machine), ROUNDS times (default 1) each in
# turn, with the ratio of the medians. Needs valgrind and perf; LOAD_S
# (default 2) seconds per run.
set -u
B=${MB_BUILD:-build}
LG="$B/tests/bench/loadgen"
LOAD_S=${LOAD_S:-2}
T=$(mktemp -d /tmp/mbcost-XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
[ $# -gt 0 ] || set -- --conns 64
for p in valgrind callgrind_control callgrind_annotate perf; do
	command -v "$p" >/dev/null || { echo "cost: $p is needed"; exit 1; }
done

overflows() {
	awk '$1 == "TcpExt:" { if (!h) { for (i = 2; i <= NF; i++) if ($i == "ListenOverflows") c = i; h = 1 } else print $c + 0 }' /proc/net/netstat
}

# serve KIND PORT WRAPPER...: start the server KIND (mb | lim) under WRAPPER; pid in $SP
serve() {
	kind=$1 port=$2; shift 2
	if [ "$kind" = mb ]; then
		printf '%s\n' "server = { listen = \"127.0.0.1\"; port = $port; max_connections = 1100; idle_timeout = 0; };" \
			"maps_path = [ \"$(pwd)/maps\" ];" \
			'devices = ( { name = "m1"; unit_id = 1; map = "scratch"; memory = {}; } );' >"$T/mem.conf"
		"$@" "$B/modbridge" -c "$T/mem.conf" >"$T/$kind.log" 2>&1 &
	else
		"$@" "$B/tests/bench/base_limit" --port "$port" >"$T/$kind.log" 2>&1 &
	fi
	SP=$!
	"$LG" --probe --port "$port" --expect 100 --timeout-ms 60000 >/dev/null
}

# ticks PID: the user and system CPU time of PID so far, in clock ticks
# (/proc/PID/stat fields 14 and 15; the command name in field 2 has no
# spaces here).
ticks() { awk '{ print $14, $15 }' "/proc/$1/stat"; }

answers() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n 's/^all=//p'; }

for kind in mb lim; do
	# Instructions: callgrind counts only between -i on and -i off.
	port=$("$LG" --free-port)
	serve "$kind" "$port" valgrind -q --tool=callgrind --instr-atstart=no \
		--callgrind-out-file="$T/cg.$kind" || { echo "cost: $kind did not start"; exit 1; }
	callgrind_control -i on "$SP" >/dev/null 2>&1
	line=$("$LG" --port "$port" --expect 100 --warmup 0 --duration "$LOAD_S" "$@")
	callgrind_control -i off "$SP" >/dev/null 2>&1
	kill -TERM "$SP"
	wait "$SP"
	ir=$(callgrind_annotate "$T/cg.$kind" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
	n=$(answers "$line")
	echo "$kind: $(awk -v i="${ir:-0}" -v n="${n:-0}" 'BEGIN { printf "%.0f", n ? i / n : 0 }') user-space instructions per answer ($n answers under callgrind)"
done

# System calls and CPU time, at full speed: the two servers in turn, ROUNDS
# times (default 1), so that what else the machine runs weighs on both.
r=0
while [ "$r" -lt "${ROUNDS:-1}" ]; do
	r=$((r + 1))
	for kind in mb lim; do
		port=$("$LG" --free-port)
		serve "$kind" "$port" taskset -c 0 || { echo "cost: $kind did not start"; exit 1; }
		ev=raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_write,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_ctl,task-clock
		perf stat -x, -e "$ev" -p "$SP" -o "$T/perf.$kind" &
		pp=$!
		sleep 0.2
		o0=$(overflows)
		t0=$(ticks "$SP")
		line=$(taskset -c 1 "$LG" --port "$port" --expect 100 --duration "$LOAD_S" "$@")
		t1=$(ticks "$SP")
		o1=$(overflows)
		kill -INT "$pp"
		wait "$pp"
		kill -TERM "$SP"
		wait "$SP"
		n=$(answers "$line")
		awk -F, -v n="${n:-0}" -v k="$kind" -v o="$((o1 - o0))" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" '
			$3 ~ /sys_enter|task-clock/ && $1 + 0 > 0 {
				e = $3; sub(/^(raw_)?syscalls:(sys_enter_)?/, "", e)
				if (e == "task-clock") cpu = $1 / n * 1000
				else s = s sprintf(" %s %.3f", e, $1 / n)
			}
			END {
				split(t0, a, " "); split(t1, b, " ")
				u = n ? (b[1] - a[1]) / hz / n * 1e6 : 0; y = n ? (b[2] - a[2]) / hz / n * 1e6 : 0
				printf "%s: CPU %.3f us per answer (user %.3f, system %.3f); per answer:%s; listen overflows %d\n", k, cpu, u, y, s, o
			}' "$T/perf.$kind" | tee -a "$T/cpu.$kind"
		echo "$kind: $(echo "$line" | cut -d' ' -f1-4)"
		printf '%s\n' "$line" | tr ' ' '\n' | sed -n 's/^p99_us=/p99 /p' | awk '{ print $1, $1, $2 }' >>"$T/p99.$kind"
	done
done
# The ratio of the medians: CPU time per answer of base_limit over the
# bridge's (1.0: the bridge costs what the canned-answer server costs).
med() { awk '{ print $3 }' "$1" | sort -n | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
awk -v m="$(med "$T/cpu.mb")" -v l="$(med "$T/cpu.lim")" -v r="${ROUNDS:-1}" \
	'BEGIN { printf "median CPU per answer over %d round(s): mb %.3f us, lim %.3f us; ratio lim/mb %.3f\n", r, m, l, m ? l / m : 0 }'
awk -v m="$(med "$T/p99.mb")" -v l="$(med "$T/p99.lim")" \
	'BEGIN { printf "median p99: mb %.0f us, lim %.0f us; mb/lim %.3f\n", m, l, l ? m / l : 0 }'
