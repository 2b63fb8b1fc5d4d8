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
# (value; a list's items joined by spaces, as config_get gives them),
# UCI_S_<sec>_<opt> (set), and for a list <opt>_LENGTH and <opt>_ITEM<n> as
# /lib/functions.sh keeps them. The file is read as uci reads it: words
# separated by blanks, quoted with '...' (no escapes) or "..." (backslash
# escapes), quoted parts run together ('a'\''b'), a quoted value may span
# lines, # starts a comment outside a word.
config_load() {
	[ -r "$UCI_CONFIG_DIR/$1" ] || return 1
	eval "$(awk '
		function q(s) { gsub(/\047/, "\047\\\047\047", s); return "\047" s "\047" }
		function word() { if (inword) { tok[++ntok] = cur; cur = ""; inword = 0 } }
		function set(k, v) { print "UCI_O_" k "=" q(v); print "UCI_S_" k "=1" }
		function stmt(   name, key) {
			if (ntok == 0) return
			if (tok[1] == "config") {
				nsec++
				sec = (ntok >= 3) ? tok[3] : sprintf("cfg%02d", nsec)
				secs = secs " " sec
				print "UCI_T_" sec "=" q(tok[2])
			} else if (tok[1] == "option" || tok[1] == "list") {
				key = sec "_" tok[2]
				if (tok[1] == "list") {
					len[key]++
					val[key] = (len[key] > 1) ? val[key] " " tok[3] : tok[3]
					set(key "_ITEM" len[key], tok[3])
					set(key "_LENGTH", len[key])
				} else
					val[key] = tok[3]
				set(key, val[key])
			}
			ntok = 0
		}
		{ text = text $0 "\n" }
		END {
			n = length(text); i = 1; ntok = 0; cur = ""; inword = 0; nsec = 0; secs = ""
			while (i <= n) {
				c = substr(text, i, 1)
				if (c == "\047") {
					j = index(substr(text, i + 1), "\047")
					if (j == 0) j = n - i + 1
					cur = cur substr(text, i + 1, j - 1); i += j + 1; inword = 1
				} else if (c == "\"") {
					i++
					while (i <= n) {
						c = substr(text, i, 1)
						if (c == "\\") { cur = cur substr(text, i + 1, 1); i += 2; continue }
						i++
						if (c == "\"") break
						cur = cur c
					}
					inword = 1
				} else if (c == " " || c == "\t") {
					word(); i++
				} else if (c == "\n") {
					word(); stmt(); i++
				} else if (c == "#" && !inword) {
					j = index(substr(text, i), "\n"); i += (j ? j - 1 : n)
				} else if (c == "\\") {
					cur = cur substr(text, i + 1, 1); i += 2; inword = 1
				} else {
					cur = cur c; i++; inword = 1
				}
			}
			word(); stmt()
			print "UCI_SECTIONS=" q(secs)
		}
	' "$UCI_CONFIG_DIR/$1")"
}

# config_get VAR SECTION OPTION [DEFAULT], as /lib/functions.sh has it (its
# locals named so that no caller's VAR is one of them).
config_get() {
	local __cg_s __cg_v
	eval "__cg_s=\${UCI_S_${2}_$3:-} __cg_v=\${UCI_O_${2}_$3:-}"
	[ -n "$__cg_s" ] || __cg_v=${4:-}
	eval "$1=\$__cg_v"
}

# config_list_foreach SECTION OPTION FUNCTION: FUNCTION ITEM per list item.
config_list_foreach() {
	local _sec="$1" _opt="$2" _fn="$3" _len _v _c=1
	config_get _len "$_sec" "${_opt}_LENGTH"
	[ -n "$_len" ] || return 0
	while [ "$_c" -le "$_len" ]; do
		config_get _v "$_sec" "${_opt}_ITEM$_c"
		"$_fn" "$_v"
		_c=$((_c + 1))
	done
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
	local t="$1" v="$2" a lo hi
	case "$t" in
	list\(*\))
		# the items are checked by uci_load_validate, one by one
		t=${t#list(}
		stub_valid "${t%)}" "$v"
		return
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

# A list's items one by one (validate_data's list(T)), else the value.
stub_valid_items() {
	local _sec="$1" _n="$2" _t="$3" _v="$4" _len _c=1 _x
	case "$_t" in list\(*\)) ;; *)
		stub_valid "$_t" "$_v"
		return
		;;
	esac
	config_get _len "$_sec" "${_n}_LENGTH"
	[ -n "$_len" ] || { stub_valid "$_t" "$_v"; return; }
	while [ "$_c" -le "$_len" ]; do
		config_get _x "$_sec" "${_n}_ITEM$_c"
		stub_valid "$_t" "$_x" || return 1
		_c=$((_c + 1))
	done
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
		elif ! stub_valid_items "$_sec" "$_n" "$_t" "$_v"; then
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
procd_add_interface_trigger() { echo "interface trigger $*"; }
procd_open_validate() { echo "open validate"; }
procd_close_validate() { echo "close validate"; }
logger() { echo "logger $*" >&2; }
# reload_service asks procd which file the running instance has
ubus() { echo "${RUNNING:-}"; }
jsonfilter() { cat; }
start() { echo "restart-via-start"; }
