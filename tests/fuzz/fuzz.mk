# libFuzzer builds of tests/fuzz/fuzz_*.c (clang), and `make fuzz` to run each
# for FUZZ_SECONDS. New inputs land in build/fuzz/corpus/NAME; the seed corpus
# in tests/fuzz/corpus/NAME is what `make test` replays. Crashes are written to
# build/fuzz/crash-*: fix them and add the input to the seed corpus.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_BUILD   := build/fuzz
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_CFLAGS   = -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -g -O1 -Iinclude \
                -DMB_VERSION='"$(VERSION)"' -fsanitize=fuzzer,address,undefined \
                $(shell $(PKG_CONFIG) --cflags $(PKGS))

# The daemon's modules with the web assets they serve (generated, Makefile).
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(BRIDGE_SRC) $(BUILD)/gen/assets.c $(wildcard include/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(filter-out bridge/main.c,$(BRIDGE_SRC)) \
		$(BUILD)/gen/assets.c $(MB_LIBS) -lm

.PHONY: fuzz fuzz-build
fuzz-build: deps
	@$(MAKE) --no-print-directory EXTRA_DEB_PKGS="clang libclang-rt-14-dev" deps
	@$(MAKE) --no-print-directory $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)

fuzz: fuzz-build
	@set -e; for n in $(FUZZ_NAMES); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  echo "== fuzz_$$n for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/crash-$$n- \
	    $(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n 2>&1 | \
	    grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|crash-' || true; \
	  if ls $(FUZZ_BUILD)/crash-$$n-* >/dev/null 2>&1; then echo "fuzz_$$n: CRASH"; exit 1; fi; \
	done; echo "fuzz: no crashes"
