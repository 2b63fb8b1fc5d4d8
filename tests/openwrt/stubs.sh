# Stand-ins for what OpenWrt's rc.common gives an init script: UCI reading
# (/lib/functions.sh: config_load, config_foreach), validation
# (/lib/functions/procd.sh: uci_load_validate, with a shell version of
# /sbin/validate_data's types for those the modbridge script uses), and the
# procd_* calls, which print what they are given so that a test can read the
# instance the script would register. Sourced by tests/openwrt/run_init.sh.
# shellcheck shell=dash

# UCI files are read from here instead of /etc/config.
UCI_CONFIG_DIR=${UCI_CONFIG_DIR:-/etc/config}

# Read UCI_CONFIG_DIR/PKG into shell variables: UCI_SECTIONS (names in
# order; anonymous sections get cfgNN), UCI_T_<sec> (its type), UCI_O_<sec>_<opt>
# (value; a list's items joined by spaces) and UCI_S_<sec>_<opt> (set).
config_load() {
	[ -r "$UCI_CONFIG_DIR/$1" ] || return 1
	eval "$(awk '
		function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
		function unq(s) {
			sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s)
			if (s ~ /^\047.*\047$/ || s ~ /^".*"$/) s = substr(s, 2, length(s) - 2)
			return s
		}
		BEGIN { n = 0; secs = "" }
		/^[ \t]*(#|$)/ { next }
		$1 == "config" {
			n++
			sec = (NF >= 3) ? unq($3) : sprintf("cfg%02d", n)
			secs = secs " " sec
			print "UCI_T_" sec "=" q(unq($2))
			next
		}
		$1 == "option" || $1 == "list" {
			name = $2
			rest = $0; sub(/^[ \t]*(option|list)[ \t]+[^ \t]+[ \t]*/, "", rest)
			v = unq(rest)
			key = sec "_" name
			if ($1 == "list" && (key in val)) val[key] = val[key] " " v; else val[key] = v
			print "UCI_O_" key "=" q(val[key])
			print "UCI_S_" key "=1"
		}
		END { print "UCI_SECTIONS=" q(secs) }
	' "$UCI_CONFIG_DIR/$1")"
}

config_foreach() {
	local _fn="$1" _type="$2" _s _t
	shift 2
	for _s in $UCI_SECTIONS; do
		eval "_t=\$UCI_T_$_s"
		[ "$_t" = "$_type" ] && "$_fn" "$_s" "$@"
	done
	return 0
}

# Is $2 of validate_data type $1?
stub_valid() {
	local t="$1" v="$2" x a lo hi
	case "$t" in
	list\(*\))
		t=${t#list(}
		t=${t%)}
		for x in $v; do stub_valid "$t" "$x" || return 1; done
		return 0
		;;
	or\(*\))
		t=${t#or(}
		t=${t%)}
		local IFS=,
		for a in $t; do
			case "$a" in
			\"*\")
				a=${a#\"}
				[ "$v" = "${a%\"}" ] && return 0
				;;
			*) (IFS=' ' && stub_valid "$a" "$v") && return 0 ;;
			esac
		done
		return 1
		;;
	range\(*\))
		t=${t#range(}
		lo=${t%%,*}
		hi=${t#*,}
		hi=${hi%)}
		stub_valid uinteger "$v" && [ "$v" -ge "$lo" ] && [ "$v" -le "$hi" ]
		return
		;;
	min\(*\))
		lo=${t#min(}
		stub_valid uinteger "$v" && [ "$v" -ge "${lo%)}" ]
		return
		;;
	esac
	case "$t" in
	string) return 0 ;;
	bool) case "$v" in 0 | 1 | on | off | true | false | yes | no | enabled | disabled) return 0 ;; esac ;;
	uinteger) case "$v" in '' | *[!0-9]*) ;; *) return 0 ;; esac ;;
	port) stub_valid uinteger "$v" && [ "$v" -le 65535 ] && return 0 ;;
	ipaddr) printf '%s' "$v" | grep -Eq '^(([0-9]{1,3}\.){3}[0-9]{1,3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$' && return 0 ;;
	cidr) stub_valid ipaddr "${v%/*}" && stub_valid uinteger "${v#*/}" && [ "${v#*/}" != "$v" ] && return 0 ;;
	host) stub_valid ipaddr "$v" || printf '%s' "$v" | grep -Eq '^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$' ;
		return ;;
	hexstring) printf '%s' "$v" | grep -Eq '^([0-9A-Fa-f]{2})+$' && return 0 ;;
	*) echo "stubs.sh: type $t not known here" >&2 ;;
	esac
	return 1
}

# uci_load_validate PKG TYPE SECTION CALLBACK NAME:TYPE[:DEFAULT]...: each
# option of SECTION into a variable named after it (local to this call, as in
# procd.sh, so the callback sees it), its default when unset; then
# CALLBACK SECTION RESULT (0 = every value valid). Without a section (the
# schema, as procd_add_validation asks), prints the schema.
uci_load_validate() {
	local _pkg="$1" _type="$2" _sec="$3" _fn="$4" _spec _n _rest _t _d _v _set _r=0
	shift 4
	if [ -z "$_sec" ]; then
		echo "validate $_pkg $_type $*"
		return 0
	fi
	for _spec in "$@"; do eval "local ${_spec%%:*}"; done
	for _spec in "$@"; do
		_n=${_spec%%:*}
		_rest=${_spec#*:}
		_t=${_rest%%:*}
		_d=""
		case "$_rest" in *:*) _d=${_rest#*:} ;; esac
		eval "_set=\${UCI_S_${_sec}_$_n:-} _v=\${UCI_O_${_sec}_$_n:-}"
		if [ -z "$_set" ]; then
			_v=$_d
		elif ! stub_valid "$_t" "$_v"; then
			echo "validation failed: $_pkg.$_sec.$_n='$_v' is not $_t" >&2
			_r=1
		fi
		eval "$_n=\$_v"
	done
	[ -n "$_fn" ] || return $_r
	"$_fn" "$_sec" "$_r"
}

procd_open_instance() { echo "instance $*"; }
procd_close_instance() { echo "close instance"; }
procd_set_param() { echo "param $*"; }
procd_open_data() { echo "data"; }
procd_close_data() { echo "close data"; }
json_add_object() { echo "object $*"; }
json_close_object() { echo "close object"; }
procd_add_mdns_service() { echo "mdns $*"; }
procd_send_signal() { echo "signal $*"; }
procd_add_reload_trigger() { echo "trigger $*"; }
procd_open_validate() { echo "open validate"; }
procd_close_validate() { echo "close validate"; }
logger() { echo "logger $*" >&2; }
# reload_service asks procd which file the running instance has
ubus() { echo "${RUNNING:-}"; }
jsonfilter() { cat; }
start() { echo "restart-via-start"; }
