#!/bin/sh
# Runs every test binary under $MB_BUILD/tests/{unit,e2e,fuzz} (optionally only
# those whose name contains one of the arguments) and ends with the one line CI
# reads: "N passed, N failed". Unit tests speak TAP through cmocka; the
# end-to-end tests print "ok - ..." / "not ok - ..." through tests/lib/harness.
B=${MB_BUILD:-build}
export MB_BUILD="$B" CMOCKA_MESSAGE_OUTPUT=TAP
log="$B/test.log"; : > "$log"
pass=0; fail=0; crashed=""
for t in "$B"/tests/unit/test_* "$B"/tests/fuzz/replay_* "$B"/tests/e2e/test_*; do
  case "$t" in *.o|*.d) continue;; esac
  [ -x "$t" ] || continue
  name=${t##*/}
  rel=${t#"$B"/tests/}   # e.g. e2e/test_core: filters may name a folder
  if [ $# -gt 0 ]; then
    keep=0; for f in "$@"; do case "$rel" in *"$f"*) keep=1;; esac; done
    [ $keep = 1 ] || continue
  fi
  echo "# $name"
  out=$("$t" 2>>"$log"); rc=$?
  p=$(printf '%s\n' "$out" | grep -cE '^ok ')
  f=$(printf '%s\n' "$out" | grep -cE '^not ok ')
  # A test that failed shows its diagnostics ("# ..." lines) too: in CI
  # its temporary directory and the log are gone afterwards.
  if [ "$f" -gt 0 ]; then keep='^((not )?ok |#)'; else keep='^(not )?ok '; fi
  printf '%s\n' "$out" | tee -a "$log" | grep -E "$keep" || true
  pass=$((pass + p)); fail=$((fail + f))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    # A binary that died without reporting a failure still fails the run.
    echo "not ok - $name exited with status $rc (see $log)"; fail=$((fail + 1)); crashed="$crashed $name"
  fi
done
[ -n "$crashed" ] && echo "# crashed:$crashed"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ] && [ $pass -gt 0 ]
