# modbridge — one Makefile that takes its toolchain from outside (OpenWrt, cross
# builds, sanitizers). Required flags live in MB_* variables so that a caller's
# CFLAGS cannot wipe them.
#
#   make                 build/modbridge
#   make test            install missing Debian packages, build, run every test
#   make test SANITIZE=1 the same with ASan+UBSan (objects under build/san)
#   make test J=1        one test binary at a time (default J=4)
#   make demo            bridge + simulators + local mosquitto, live register table
#   make screenshots     docs/web-interface*.png again, from the demo in headless chromium
#   make bench           benchmarks against baselines, table in build/bench.md
#   make install         DESTDIR/PREFIX install of binary, maps, example config, man pages
#   make format          clang-format the C sources in place; format-check only checks
#   make compile_commands.json   the compilation database for clangd and other tools
# HACKING.md says how to build, test, fuzz and benchmark.

CC         ?= cc
CFLAGS     ?= -O2 -g
LDFLAGS    ?=
PKG_CONFIG ?= pkg-config
PREFIX     ?= /usr
SYSCONFDIR ?= /etc
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=
SANITIZE   ?=
# Warnings are errors here; a packager on a newer compiler may set WERROR=.
WERROR     ?= -Werror
VERSION    ?= 0.1.0
# Optional parts (docs/user-guide.md, "Building a smaller daemon"): 0 leaves
# their sources and libraries out; a small stub file answers in their place,
# and a config that uses the part is refused by name.
#   WITH_HTTP      the web interface and REST API (libmicrohttpd, json-c)
#   WITH_INFLUXDB  the InfluxDB exporter (libcurl)
#   WITH_MODBUS    the `modbus` protocol to real Modbus equipment (libmodbus)
#   WITH_CRYPTO    the encrypted topic ID of newer B2500 firmware, computed
#                  from the MAC (libcrypto); without it, give `topic_id`
WITH_HTTP     ?= 1
WITH_INFLUXDB ?= 1
WITH_MODBUS   ?= 1
WITH_CRYPTO   ?= 1
# DLOPEN=1: the libraries of the http, influxdb and crypto parts are not
# linked but opened with dlopen() when their group is first started, so that
# a daemon without those groups does not map them (include/dl.h; on Debian
# about 30 libraries and 4.5 MiB of RSS, docs/footprint.md). 0 links them
# (a static build needs that).
DLOPEN        ?= 1

ifeq ($(SANITIZE),1)
BUILD ?= build/san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SAN_FLAGS :=
endif

# Lazily expanded: pkg-config is asked only when a recipe runs, after `deps`.
PKGS       := libuv libmosquitto libconfig
# Each optional part: its libraries, or its sources swapped for its stub.
# zlib inflates the embedded page for a client that takes no gzip
# (bridge/http_asset.c).
ifneq ($(WITH_HTTP),0)
PKGS       += libmicrohttpd json-c zlib
OFF_SRC    += bridge/http_off.c
else
OFF_SRC    += bridge/http.c bridge/http_answer.c bridge/http_api.c bridge/http_asset.c \
              bridge/http_config.c bridge/http_digest.c bridge/http_settings.c
endif
ifneq ($(WITH_INFLUXDB),0)
PKGS       += libcurl
OFF_SRC    += bridge/export_influx_off.c
else
OFF_SRC    += bridge/export_influx.c bridge/link_http.c
endif
# Without modbus, protocol.c leaves its registry line out: no stub.
ifneq ($(WITH_MODBUS),0)
PKGS       += libmodbus
else
OFF_SRC    += bridge/tr_modbus.c
endif
ifneq ($(WITH_CRYPTO),0)
PKGS       += libcrypto
OFF_SRC    += bridge/venus_crypt_off.c
else
OFF_SRC    += bridge/venus_crypt.c
endif
# The libraries opened when configured (include/dl.h), and the tables of
# the parts left out.
DL_PKGS    := $(if $(filter 0,$(DLOPEN)),,$(filter libmicrohttpd libcurl libcrypto zlib,$(PKGS)))
OFF_SRC    += $(if $(filter 0,$(WITH_HTTP)),bridge/dl_mhd.c bridge/dl_zlib.c) \
              $(if $(filter 0,$(WITH_INFLUXDB)),bridge/dl_curl.c) \
              $(if $(filter 0,$(WITH_CRYPTO)),bridge/dl_crypto.c)
# The soname each opened library has, read from the library the build
# links against: in LDFLAGS' and pkg-config's -L folders (a cross build's
# staging folder), else the compiler's search path. include/dl.h's
# defaults when it cannot be read. Computed once. $(3): its pkg-config
# name, when not $(1) (zlib's is zlib, its file libz).
dl_soname   = $(shell for f in $(addsuffix /$(1).so,$(patsubst -L%,%,$(filter -L%,$(LDFLAGS) \
                $(shell $(PKG_CONFIG) --libs-only-L $(or $(3),$(1)) 2>/dev/null)))) "$$($(CC) -print-file-name=$(1).so)"; do \
                [ -e "$$f" ] && { readelf -d "$$f" 2>/dev/null | \
                sed -n 's/.*soname: \[\(.*\)\]/-D$(2)_SONAME=\\"\1\\"/p'; break; }; done)
DL_DEFS     = $(eval DL_DEFS := $(if $(DL_PKGS),-DMB_DLOPEN=1 \
                $(if $(filter libcurl,$(DL_PKGS)),$(call dl_soname,libcurl,MB_DL_CURL)) \
                $(if $(filter libmicrohttpd,$(DL_PKGS)),$(call dl_soname,libmicrohttpd,MB_DL_MHD)) \
                $(if $(filter libcrypto,$(DL_PKGS)),$(call dl_soname,libcrypto,MB_DL_CRYPTO)) \
                $(if $(filter zlib,$(DL_PKGS)),$(call dl_soname,libz,MB_DL_ZLIB,zlib))))$(DL_DEFS)
MB_CFLAGS   = -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -Wall -Wextra $(WERROR) \
              -Iinclude -DMB_VERSION='"$(VERSION)"' $(SAN_FLAGS) \
              -DMB_MAPS_DIRS='"$(SYSCONFDIR)/modbridge/maps", "$(PREFIX)/share/modbridge/maps"' \
              -DMB_SYSCONFDIR='"$(SYSCONFDIR)"' \
              -DMB_WITH_HTTP=$(if $(filter 0,$(WITH_HTTP)),0,1) \
              -DMB_WITH_INFLUXDB=$(if $(filter 0,$(WITH_INFLUXDB)),0,1) \
              -DMB_WITH_MODBUS=$(if $(filter 0,$(WITH_MODBUS)),0,1) \
              -DMB_WITH_CRYPTO=$(if $(filter 0,$(WITH_CRYPTO)),0,1) \
              -ffunction-sections -fdata-sections $(DL_DEFS) \
              $(shell $(PKG_CONFIG) --cflags $(PKGS))
# The tests link every library (some call libcurl themselves); the daemon
# leaves out those it opens when configured.
MB_LIBS     = $(shell $(PKG_CONFIG) --libs $(PKGS)) -ldl
MB_DAEMON_LIBS = $(shell $(PKG_CONFIG) --libs $(filter-out $(DL_PKGS),$(PKGS))) $(if $(DL_PKGS),-ldl)
TEST_CFLAGS = $(shell $(PKG_CONFIG) --cflags cmocka libmodbus) -Itests/lib
TEST_LIBS   = $(shell $(PKG_CONFIG) --libs cmocka libmodbus) -lm

BRIDGE_SRC  := $(filter-out $(OFF_SRC),$(sort $(wildcard bridge/*.c)))
BRIDGE_OBJ  := $(BRIDGE_SRC:%.c=$(BUILD)/%.o) $(if $(filter 0,$(WITH_HTTP)),,$(BUILD)/gen/assets.o)
LIB_OBJ     := $(filter-out $(BUILD)/bridge/main.o,$(BRIDGE_OBJ))
TLIB_SRC    := $(sort $(wildcard tests/lib/*.c))
TLIB_OBJ    := $(TLIB_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN    := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(sort $(wildcard tests/unit/test_*.c)))
E2E_BIN     := $(patsubst tests/e2e/%.c,$(BUILD)/tests/e2e/%,$(sort $(wildcard tests/e2e/test_*.c)))
SIM_BIN     := $(patsubst tests/sim/%.c,$(BUILD)/tests/sim/%,$(sort $(wildcard tests/sim/sim_*.c)))
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
REPLAY_BIN  := $(patsubst tests/fuzz/%.c,$(BUILD)/tests/fuzz/replay_%,$(FUZZ_SRC))
BENCH_SRC   := $(sort $(wildcard tests/bench/*.c))
BENCH_BIN   := $(patsubst tests/bench/%.c,$(BUILD)/tests/bench/%,$(BENCH_SRC))
ALL_TESTS   := $(UNIT_BIN) $(E2E_BIN) $(SIM_BIN) $(REPLAY_BIN)
# Tests and tools link the daemon's modules as an archive, so that each pulls
# in only the modules it uses.
LIB         := $(BUILD)/libmodbridge.a

.PHONY: FORCE all test test-deps test-run check-build demo screenshots bench install deps clean docs fuzz soak cross-check format \
        format-check compile_commands.json
all: $(BUILD)/modbridge

# Unused functions are dropped at link time: the binary is for routers.
$(BUILD)/modbridge: $(BRIDGE_OBJ)
	$(CC) $(MB_CFLAGS) $(CFLAGS) $(LDFLAGS) -Wl,--gc-sections -o $@ $^ $(MB_DAEMON_LIBS) -lm -lpthread

# The paths, version and optional parts compiled into the daemon: an object built with other
# ones is rebuilt, so that `make install PREFIX=/usr/local` after a plain
# `make` installs a daemon that looks for its maps under /usr/local.
BUILT_WITH := PREFIX=$(PREFIX) SYSCONFDIR=$(SYSCONFDIR) VERSION=$(VERSION) \
              WITH_HTTP=$(WITH_HTTP) WITH_INFLUXDB=$(WITH_INFLUXDB) WITH_MODBUS=$(WITH_MODBUS) WITH_CRYPTO=$(WITH_CRYPTO) DLOPEN=$(DLOPEN)
$(BUILD)/built-with: FORCE
	@mkdir -p $(@D)
	@echo '$(BUILT_WITH)' | cmp -s - $@ 2>/dev/null || echo '$(BUILT_WITH)' > $@
FORCE:

$(BUILD)/bridge/%.o: bridge/%.c $(wildcard include/*.h) $(BUILD)/built-with
	@mkdir -p $(@D)
	$(CC) $(MB_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

# The web page and the OpenAPI document, compiled into the binary (bridge/web/).
WEB_ASSETS := bridge/web/index.html bridge/web/api.html bridge/web/openapi.json
$(BUILD)/gen/assets.c: $(WEB_ASSETS) bridge/web/embed.sh
	@mkdir -p $(@D)
	sh bridge/web/embed.sh $(WEB_ASSETS) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/assets.o: $(BUILD)/gen/assets.c
	$(CC) $(MB_CFLAGS) $(CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# Test objects, the replay drivers and the benchmarks record the headers they
# include in a .d file beside their output (-MMD; -MP so that a removed header
# does not break the build). The .d is also a prerequisite, with an empty rule:
# an output built before it had one is rebuilt once, so it never goes stale.
$(BUILD)/tests/%.o: tests/%.c $(BUILD)/tests/%.d
	@mkdir -p $(@D)
	$(CC) $(MB_CFLAGS) $(TEST_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%.d: ;
# Kept, not deleted as intermediates: the next build needs neither to rebuild
# them nor to link everything again.
.PRECIOUS: $(BUILD)/tests/%.d $(BUILD)/tests/%.o

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(TLIB_OBJ) $(LIB)
	$(CC) $(MB_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(MB_LIBS) $(TEST_LIBS)

$(BUILD)/tests/e2e/%: $(BUILD)/tests/e2e/%.o $(TLIB_OBJ) $(LIB)
	$(CC) $(MB_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(MB_LIBS) $(TEST_LIBS)

# tests/e2e/test_doc_yaml parses the docs' YAML blocks with libyaml.
$(BUILD)/tests/e2e/test_doc_yaml: TEST_LIBS += $(shell $(PKG_CONFIG) --libs yaml-0.1)

$(BUILD)/tests/sim/%: $(BUILD)/tests/sim/%.o $(TLIB_OBJ) $(LIB)
	$(CC) $(MB_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(MB_LIBS) $(TEST_LIBS)

# Fuzz targets built without libFuzzer: a plain-C driver replays the corpus.
# Compiled and linked in one command, the compiler writes one .d, from the last
# source: the target comes last (replay.c includes no header of ours).
$(BUILD)/tests/fuzz/replay_%: tests/fuzz/%.c tests/fuzz/replay.c $(LIB) $(BUILD)/tests/fuzz/replay_%.d
	@mkdir -p $(@D)
	$(CC) $(MB_CFLAGS) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ tests/fuzz/replay.c $< $(LIB) \
		$(MB_LIBS) -lm

$(BUILD)/tests/bench/%: tests/bench/%.c $(TLIB_OBJ) $(LIB) $(BUILD)/tests/bench/%.d
	@mkdir -p $(@D)
	$(CC) $(MB_CFLAGS) $(TEST_CFLAGS) $(CFLAGS) $(LDFLAGS) -MMD -MP -o $@ $< $(TLIB_OBJ) $(LIB) $(MB_LIBS) $(TEST_LIBS) -lpthread

# The benchmarks are built with the tests, so that they keep compiling.
check-build: $(BUILD)/modbridge $(ALL_TESTS) $(BENCH_BIN)

# `make test` installs what is missing, then runs the suite in a fresh make so
# that pkg-config sees the packages it just installed; that make builds on
# every core unless a -j was given.
test: test-deps
	@$(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc 2>/dev/null || echo 2)) test-run

# What the build and the tests need (CI installs it once, then runs suites).
test-deps: deps
	@$(MAKE) --no-print-directory deps EXTRA_DEB_PKGS="$(TEST_DEB_PKGS)"

# tests/run.sh runs J test binaries at a time: the end-to-end tests mostly
# wait on sockets, timers and child processes, so more than the two cores
# fit; under valgrind each keeps about a core busy. J=1 runs them one after
# another.
ifeq ($(VALGRIND),1)
J ?= 2
else
J ?= 4
endif
test-run: check-build
	@MB_BUILD=$(BUILD) SANITIZE=$(SANITIZE) sh tests/run.sh -j $(J) $(TESTS)

demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/modbridge $(SIM_BIN)
	@MB_BUILD=$(BUILD) sh tests/demo.sh

# The web page's screenshots in docs/ (HACKING.md, "Docs"): the demo in headless chromium.
screenshots: deps
	@$(MAKE) --no-print-directory $(BUILD)/modbridge $(SIM_BIN)
	@MB_BUILD=$(BUILD) sh tests/screenshots.sh

# musl-tools gives the router estimate its C library floor (tests/bench/bench.mk);
# the benchmarks run without it.
bench: deps
	@$(MAKE) --no-print-directory deps EXTRA_DEB_PKGS=musl-tools && \
		$(MAKE) --no-print-directory $(BUILD)/tests/bench/base_floor_musl || \
		echo "bench: no musl build here; the router estimate is left out"
	@$(MAKE) --no-print-directory $(BUILD)/modbridge $(SIM_BIN) $(BENCH_BIN)
	@MB_BUILD=$(BUILD) sh tests/bench/run.sh

# Debian packages the build, the tests and the demo need. Installs only what is
# missing, says so, and needs root (or sudo) only when something is missing.
DEB_PKGS := gcc make pkg-config libuv1-dev libmosquitto-dev libmodbus-dev libconfig-dev \
            libcmocka-dev mosquitto mosquitto-clients mbpoll curl \
            openssl libxml2-utils shellcheck faketime libyaml-dev libmicrohttpd-dev libjson-c-dev \
            libcurl4-openssl-dev libssl-dev socat zlib1g-dev
# Only the tests need these (the web page's browser test, the InfluxDB export
# test, the interop test's third-party Modbus server): big, so kept out of
# `make deps` for a build.
TEST_DEB_PKGS := chromium influxdb python3-pymodbus
deps:
	@command -v dpkg-query >/dev/null 2>&1 || { echo "deps: not a Debian system, install $(DEB_PKGS) yourself"; exit 0; }; \
	missing=""; for p in $(DEB_PKGS) $(EXTRA_DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	echo "deps: installing$$missing"; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo=sudo; \
	else echo "deps: run as root: apt-get install$$missing"; exit 1; fi; \
	$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing

install: $(BUILD)/modbridge
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/modbridge/maps $(DESTDIR)$(SYSCONFDIR)/modbridge
	install -m 0755 $(BUILD)/modbridge $(DESTDIR)$(PREFIX)/bin/modbridge
	install -m 0644 maps/*.conf $(DESTDIR)$(PREFIX)/share/modbridge/maps/
	install -m 0644 init/modbridge.conf.example $(DESTDIR)$(SYSCONFDIR)/modbridge/modbridge.conf.example
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 docs/man/modbridge.8 $(DESTDIR)$(MANDIR)/man8/modbridge.8
	install -m 0644 docs/man/modbridge.conf.5 $(DESTDIR)$(MANDIR)/man5/modbridge.conf.5

# What the committed .clang-format governs; CI runs format-check over it.
FORMAT_SRC = $(wildcard bridge/*.c include/*.h tests/*/*.c tests/lib/*.h)
format:
	clang-format -i $(FORMAT_SRC)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC) && \
		echo "format-check: $(words $(FORMAT_SRC)) files formatted as .clang-format says"

# The compilation database (clangd, clang-tidy, IDEs) at the top of the tree,
# recorded by bear from a build of the daemon, the tests, the replay drivers and
# the benchmarks into a scratch build folder, so that every source is in it and
# the build in $(BUILD) is left alone.
compile_commands.json: deps
	@$(MAKE) --no-print-directory deps EXTRA_DEB_PKGS=bear
	@rm -rf $(BUILD)/ccdb
	bear --output $@ -- $(MAKE) --no-print-directory BUILD=$(BUILD)/ccdb check-build
	@rm -rf $(BUILD)/ccdb
	@echo "compile_commands.json: $$(grep -c '"file"' $@) entries"

clean:
	rm -rf build

-include $(BRIDGE_OBJ:.o=.d)
-include $(wildcard $(BUILD)/tests/*/*.d)
# Fragments owned by one area each (fuzzing, cross builds, docs).
-include $(wildcard tests/*/*.mk init/*.mk docs/*.mk)
