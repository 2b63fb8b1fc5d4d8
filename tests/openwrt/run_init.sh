#!/bin/sh
# Run one function of the OpenWrt init script against a sample UCI file, with
# tests/openwrt/stubs.sh standing in for rc.common, UCI and procd:
#
#   sh tests/openwrt/run_init.sh UCI_FILE OUTDIR MODBRIDGE MAPS_DIR FUNCTION
#
# "@MAPS@" and "@OUT@" in the UCI file become MAPS_DIR and OUTDIR. The daemon's
# config is generated as OUTDIR/modbridge.conf; what procd would be told is
# printed, then "rc N". RUNNING (environment) is the config path of the
# running instance, for reload_service.
# no `set -u`: rc.common does not run init scripts with it
here=$(dirname "$0")
uci=$1 out=$2 bin=$3 maps=$4 fn=$5
mkdir -p "$out/uci"
sed -e "s|@MAPS@|$maps|g" -e "s|@OUT@|$out|g" "$uci" >"$out/uci/modbridge"
UCI_CONFIG_DIR=$out/uci
# shellcheck source=tests/openwrt/stubs.sh
. "$here/stubs.sh"
# shellcheck source=init/openwrt/modbridge/files/modbridge.init
. "$here/../../init/openwrt/modbridge/files/modbridge.init"
PROG=$bin
GENERATED=$out/modbridge.conf
TTYS=$out/modbridge.ttys
"$fn"
echo "rc $?"
