# shellcheck shell=sh
# Shared by the benchmark scripts (run.sh, fleet.sh): processes they start
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

cleanup() {
	for p in $PIDS; do stop_pid "$p"; done
	if [ "${KEEP_TMP:-}" = 1 ]; then echo "# files kept in $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
