#!/bin/sh
# Runs every test binary under $MB_BUILD/tests/{unit,e2e,fuzz} (optionally only
# those whose name contains one of the arguments) and ends with the one line CI
# reads: "N passed, N failed". Unit tests speak TAP through cmocka; the
# end-to-end tests print "ok - ..." / "not ok - ..." through tests/lib/harness.
#
#   tests/run.sh [-j N] [filter...]
#
# -j N runs N binaries at a time (default 1, or $MB_JOBS). Every test takes
# its own free loopback ports and temporary folder, and the end-to-end tests
# mostly wait on sockets, timers and child processes, so several fit on two
# cores. A test's output is held until it ends and printed in one piece, in
# the order the tests end; the log ($MB_BUILD/test.log) gets each test's
# stderr and stdout together. The slowest tests start first (the durations
# of the last run in $MB_BUILD/test.times, else the list below), so that
# the run is not left waiting for one long test started last.
B=${MB_BUILD:-build}
export MB_BUILD="$B" CMOCKA_MESSAGE_OUTPUT=TAP
jobs=${MB_JOBS:-1}
while [ $# -gt 0 ]; do
  case "$1" in
    -j) jobs=$2; shift 2 || { echo "run.sh: -j needs a number"; exit 2; };;
    -j*) jobs=${1#-j}; shift;;
    --) shift; break;;
    *) break;;
  esac
done
case "$jobs" in ''|*[!0-9]*|0) echo "run.sh: -j wants a positive number, not '$jobs'"; exit 2;; esac

# Seconds each took in a plain run on two cores (-j4, the machine shared):
# the order on a fresh build folder, as in CI.
# Measured runs ($B/test.times) take over; a test named in neither starts
# after these, in name order.
known="e2e/test_export 35 e2e/test_install 30 e2e/test_solarman 30
e2e/test_mqtt_faults 30 e2e/test_docs 22 e2e/test_web 20 e2e/test_lossy 19
e2e/test_modbus 18 e2e/test_http 15 e2e/test_venus 15 e2e/test_web_page 15
e2e/test_faults 14 e2e/test_powergo_outage 14 e2e/test_powergo 11"

# A valgrind run (VALGRIND=1, the harness runs the bridge under it) keeps
# its log and durations apart: CI runs it beside the plain run of the same
# build folder. Its slowest are others (many short runs of the bridge).
vg=; case "${VALGRIND:-}" in ''|0) ;; *) vg=-valgrind;; esac
[ -z "$vg" ] || known="e2e/test_export 250 e2e/test_check_start 220
e2e/test_http 170 e2e/test_check 170 e2e/test_access 45 e2e/test_cmdline 45
e2e/test_install 40 e2e/test_doc_examples 40 e2e/test_solarman 40
e2e/test_daemon 35"
log="$B/test$vg.log"; : > "$log"
times="$B/test$vg.times"
run=$(mktemp -d "${TMPDIR:-/tmp}/mbrun-XXXXXX") || exit 1
pids=""
# On ^C or SIGTERM: the tests still running get SIGTERM (the harness stops
# what each started and removes its folder), then the runner's folder goes.
stop() {
  for p in $pids; do kill -TERM "$p" 2>/dev/null; done
  wait
  rm -rf "$run"
  exit 130
}
trap stop INT TERM HUP

# The tests to run, one "seconds rel path" line each, slowest first. A test
# is known by its path under tests/ (e2e/test_venus and unit/test_venus
# are two tests).
for t in "$B"/tests/unit/test_* "$B"/tests/fuzz/replay_* "$B"/tests/e2e/test_*; do
  case "$t" in *.o|*.d) continue;; esac
  [ -x "$t" ] || continue
  name=${t##*/}
  rel=${t#"$B"/tests/}   # e.g. e2e/test_core: filters may name a folder
  # A binary whose source is gone (a test renamed or removed since this
  # build folder was made) is left out, not run as it was.
  case "$rel" in
    fuzz/replay_*) src=tests/fuzz/${name#replay_}.c;;
    *) src=tests/$rel.c;;
  esac
  [ -f "$src" ] || continue
  if [ $# -gt 0 ]; then
    keep=0; for f in "$@"; do case "$rel" in *"$f"*) keep=1;; esac; done
    [ $keep = 1 ] || continue
  fi
  s=$(awk -v n="$rel" '$1 == n { s = $2 } END { print s + 0 }' "$times" 2>/dev/null)
  [ "${s:-0}" -gt 0 ] ||
    s=$(printf '%s\n' "$known" | tr ' ' '\n' | paste - - | awk -v n="$rel" '$1 == n { print $2 }')
  echo "${s:-0} $rel $t"
done | sort -k1,1nr -k2,2 > "$run/list"

# A finished test writes "rel status ms" to fd 3, a FIFO the runner
# holds open for reading and writing (so that it never sees an end of file
# while no test runs): the runner reads one line per finished test.
mkfifo "$run/done" || exit 1
exec 3<>"$run/done"
start() { # rel path
  (
    key=$(echo "$1" | tr / .)
    # SIGTERM from stop() goes on to the test; wait returns early when a
    # trapped signal arrives, so it is repeated until the test has ended.
    c=""
    trap '[ -n "$c" ] && kill -TERM "$c" 2>/dev/null' TERM
    t0=$(date +%s%N)
    "$2" 3>&- >"$run/$key.out" 2>"$run/$key.err" &
    c=$!
    wait "$c"; rc=$?
    while kill -0 "$c" 2>/dev/null; do wait "$c"; rc=$?; done
    echo "$1 $rc $((($(date +%s%N) - t0) / 1000000))" >&3
  ) &
  pids="$pids $!"
}

pass=0; fail=0; crashed=""; running=0
total=$(wc -l < "$run/list"); next=1; : > "$run/times"
while :; do
  while [ $running -lt "$jobs" ] && [ $next -le "$total" ]; do
    # shellcheck disable=SC2046 # "seconds rel path", split on purpose
    set -- $(sed -n "${next}p" "$run/list")
    start "$2" "$3"
    running=$((running + 1)); next=$((next + 1))
  done
  [ $running -gt 0 ] || break
  read -r rel rc ms <&3
  running=$((running - 1))
  echo "$rel $ms" >> "$run/times"
  key=$(echo "$rel" | tr / .)
  out="$run/$key.out"
  p=$(grep -cE '^ok ' "$out")
  f=$(grep -cE '^not ok ' "$out")
  { echo "# $rel"; cat "$run/$key.err" "$out"; } >> "$log"
  echo "# $rel ($((ms / 1000)).$((ms % 1000 / 100)) s)"
  # A test that failed shows its diagnostics ("# ..." lines) too: in CI
  # its temporary directory and the log are gone afterwards.
  if [ "$f" -gt 0 ]; then keep='^((not )?ok |#)'; else keep='^(not )?ok '; fi
  grep -E "$keep" "$out"
  pass=$((pass + p)); fail=$((fail + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    # A binary that died without reporting a failure still fails the run.
    echo "not ok - $rel exited with status $rc (see $log)"; fail=$((fail + 1)); crashed="$crashed $rel"
  fi
  rm -f "$out" "$run/$key.err"
done
exec 3>&-
trap - INT TERM HUP

# The durations of this run replace those of the tests it ran (not those
# of the long forms `make soak` runs).
if [ -s "$run/times" ]; then
  if [ "${MB_SOAK:-}" != 1 ]; then
    awk 'NR == FNR { seen[$1] = 1; print $1, int(($2 + 500) / 1000); next }
         !($1 in seen)' "$run/times" "$times" 2>/dev/null > "$run/all" ||
      awk '{ print $1, int(($2 + 500) / 1000) }' "$run/times" > "$run/all"
    mv "$run/all" "$times"
  fi
  echo "# slowest: $(sort -k2,2nr "$run/times" | head -n 10 |
    awk '{ printf("%s%s %.1f s", (NR > 1 ? ", " : ""), $1, $2 / 1000) }')"
fi
rm -rf "$run"
[ -n "$crashed" ] && echo "# crashed:$crashed"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
