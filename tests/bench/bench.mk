# make soak: the reliability soak, not part of CI. The bridge with a memory
# device under loadgen's connect/read/close patterns for SOAK_SECONDS (600),
# VmRSS sampled every 10 s; fails if the bridge dies, errors or grows.
soak: deps
	@$(MAKE) --no-print-directory $(BUILD)/modbridge $(BUILD)/tests/bench/loadgen
	@MB_BUILD=$(BUILD) sh tests/bench/soak.sh
