# make soak: the reliability soak, not part of CI. First the long forms of
# the tests whose statistical loops `make test` runs short (MB_SOAK=1,
# h_soak() in tests/lib/harness.h): a minute at evcc's pace, 150 reads and
# writes per lossy link, five broker restarts, a flood and duplicates on a
# shared PowerGo link, 200 reloads between listeners under load. Then the bridge with a memory
# device under loadgen's connect/read/close patterns for SOAK_SECONDS (600),
# then with a hostile peer on every native link (PowerGo, Venus, Solarman)
# for as long again; VmRSS sampled every 10 s; fails if the bridge dies,
# errors or grows.
SOAK_TESTS := e2e/test_docs e2e/test_lossy e2e/test_faults e2e/test_fleet_hostile \
	e2e/test_listeners_load
soak: deps
	@$(MAKE) --no-print-directory $(BUILD)/modbridge $(BUILD)/tests/bench/loadgen \
		$(BUILD)/tests/bench/hostile $(SIM_BIN) $(SOAK_TESTS:%=$(BUILD)/tests/%)
	@MB_BUILD=$(BUILD) MB_SOAK=1 sh tests/run.sh -j $(J) $(SOAK_TESTS) && \
		MB_BUILD=$(BUILD) sh tests/bench/soak.sh && MB_BUILD=$(BUILD) sh tests/bench/soak_hostile.sh

# The footprint floor links exactly the daemon's libraries, nothing of the
# tests' (the harness would bring libmodbus and cmocka).
$(BUILD)/tests/bench/base_floor: tests/bench/base_floor.c
	@mkdir -p $(@D)
	$(CC) $(MB_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(MB_LIBS)

# The same floor without the libraries, against musl (Debian's musl-tools):
# the C library that OpenWrt builds with, for the router estimate.
MUSL_CC ?= musl-gcc
$(BUILD)/tests/bench/base_floor_musl: tests/bench/base_floor.c
	@mkdir -p $(@D)
	$(MUSL_CC) -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra $(WERROR) -O2 \
		-DBASE_FLOOR_LIBC_ONLY -o $@ $<

# loopstat is a library preloaded into the daemon (LD_PRELOAD), not a
# program: it times the loop's iterations (tests/bench/loopstat.c).
$(BUILD)/tests/bench/loopstat: tests/bench/loopstat.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra $(WERROR) -O2 -fPIC -shared -o $@ $< -ldl -lpthread

# make bench-fleet: FLEET_N (10000) PowerGo devices of one app ID on one
# broker link, answered by tests/sim/sim_fleet: start-up, memory per device,
# cached-read latency while the fleet is polled, a broker restart
# (tests/bench/fleet.sh). Not part of CI: it takes about two poll periods.
.PHONY: bench-fleet
bench-fleet: deps
	@$(MAKE) --no-print-directory $(BUILD)/modbridge $(BUILD)/tests/bench/loadgen \
		$(BUILD)/tests/sim/sim_fleet $(BUILD)/tests/bench/loopstat
	@MB_BUILD=$(BUILD) sh tests/bench/fleet.sh
