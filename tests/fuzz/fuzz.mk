# libFuzzer builds of tests/fuzz/fuzz_*.c (clang), and `make fuzz` to run each
# for FUZZ_SECONDS. New inputs land in build/fuzz/corpus/NAME; the seed corpus
# in tests/fuzz/corpus/NAME is what `make test` replays. Crashes are written to
# build/fuzz/crash-*: fix them and add the input to the seed corpus.
#
# The daemon's modules are compiled once, with the daemon's own flags
# (MB_CFLAGS: the WITH_* parts, the optional libraries' loading) and the
# fuzzer's instrumentation, and each target links them: the targets see the
# code the daemon runs, and a flag the daemon's build gains reaches them too.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_BUILD   := build/fuzz
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_SAN      = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   = $(filter-out $(SAN_FLAGS),$(MB_CFLAGS)) -g -O1 $(FUZZ_SAN)
FUZZ_OBJ     := $(patsubst %.c,$(FUZZ_BUILD)/%.o,$(filter-out bridge/main.c,$(BRIDGE_SRC))) \
                $(FUZZ_BUILD)/gen/assets.o

# Kept between builds (make would delete them as intermediate files).
.SECONDARY: $(FUZZ_OBJ)

$(FUZZ_BUILD)/bridge/%.o: bridge/%.c $(wildcard include/*.h)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/gen/assets.o: $(BUILD)/gen/assets.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJ) $(MB_LIBS) -lm

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
