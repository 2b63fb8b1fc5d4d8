# make mhd1-check: the HTTP code compiled against the libmicrohttpd 1.0.x
# header, the series the OpenWrt feed ships (Debian 12 has 0.9.75, which
# `make test` builds and runs against). See init/mhd1-check.sh.
mhd1-check:
	@CC="$(CC)" sh init/mhd1-check.sh
.PHONY: mhd1-check
