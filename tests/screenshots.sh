#!/bin/sh
# `make screenshots`: docs/web-interface.png (the page at 1280 px, whole) and
# docs/web-interface-phone.png (a phone's 390x844 window), taken by headless
# chromium from the demo (tests/demo.sh: the bundled simulators, the PowerGo's
# battery moving), once the summary charts have a minute of history.
#
# Environment: MB_BUILD (build dir, default build), SHOT_DIR (where the PNGs
# go, default docs), SHOT_HEIGHT (the desktop window's height, default 2520:
# the demo's PowerGo and scratch devices and the exporter
# settings card, whole).
set -u

B=${MB_BUILD:-build}
OUT=${SHOT_DIR:-docs}
HEIGHT=${SHOT_HEIGHT:-2520}
die() { echo "screenshots: $*" >&2; exit 1; }
command -v chromium >/dev/null 2>&1 || die "chromium missing (apt-get install chromium)"
command -v curl >/dev/null 2>&1 || die "curl missing (apt-get install curl)"
mkdir -p "$OUT" || die "cannot create $OUT"

# Ports the demo has not taken yet: a busy one fails its start, said below.
random_port() { echo $(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 20000 + 30000 )); }
HTTP_PORT=$(random_port)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/modbridge-shots.XXXXXX") || die "mktemp failed"
# One history point a second; the demo stops by itself after 3 minutes.
DEMO_HTTP_PORT=$HTTP_PORT DEMO_PORT=$(random_port) DEMO_HISTORY_MS=1000 DEMO_SECONDS=180 \
	DEMO_DEVICES="powergo scratch" \
	MB_BUILD=$B sh tests/demo.sh > "$TMP/demo.log" 2>&1 &
DEMO=$!
trap 'kill "$DEMO" 2>/dev/null; wait "$DEMO" 2>/dev/null; rm -rf "$TMP"' EXIT INT TERM

# Until the PowerGo's history has 60 points (a minute), at most 150 s.
n=0
while :; do
	kill -0 "$DEMO" 2>/dev/null || die "the demo stopped: $(tail -5 "$TMP/demo.log")"
	# the first register's points: [t,min,max,last],[... up to its "]]"
	points=$(curl -s "http://127.0.0.1:$HTTP_PORT/api/v1/devices/powergo/history" |
		sed 's/\]\].*//' | grep -o '\],\[' | wc -l)
	[ "${points:-0}" -ge 60 ] && break
	n=$((n + 1))
	[ $n -lt 150 ] || die "no history after 150 s: $(tail -5 "$TMP/demo.log")"
	sleep 1
done

# shot FILE WIDTH,HEIGHT: the page as chromium draws it once its data are in.
shot() {
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--disable-background-networking --disable-component-update --disable-sync \
		--no-first-run --disable-dev-shm-usage --user-data-dir="$TMP/profile" \
		--virtual-time-budget=5000 --window-size="$2" --screenshot="$1" \
		"http://127.0.0.1:$HTTP_PORT/" > "$TMP/chromium.log" 2>&1 ||
		die "chromium failed: $(tail -5 "$TMP/chromium.log")"
	echo "screenshots: $1 ($(wc -c < "$1") bytes)"
}
shot "$OUT/web-interface.png" "1280,$HEIGHT"
shot "$OUT/web-interface-phone.png" 390,844
