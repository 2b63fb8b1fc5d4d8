# The builds that `make bench` case 10 compares (tests/bench/run.sh): the
# slim build (every optional part off) as the baseline, each optional part
# alone on top of it, the default build, and the default build with its
# libraries linked rather than opened when configured (DLOPEN=0, as before
# include/dl.h); the default build is $(BUILD)/modbridge. Each is a full build of the daemon in its own folder under
# $(BUILD)/fp/, so that case 10 measures what each part costs idle when its
# group is not configured.
FP_PARTS := slim http influxdb modbus crypto linked
fp_with = WITH_HTTP=$(if $(filter http default linked,$(1)),1,0) \
          WITH_INFLUXDB=$(if $(filter influxdb default linked,$(1)),1,0) \
          WITH_MODBUS=$(if $(filter modbus default linked,$(1)),1,0) \
          WITH_CRYPTO=$(if $(filter crypto default linked,$(1)),1,0) \
          DLOPEN=$(if $(filter linked,$(1)),0,1)
.PHONY: bench-footprint-builds
bench: bench-footprint-builds
bench-footprint-builds:
	@$(foreach p,$(FP_PARTS),$(MAKE) --no-print-directory BUILD=$(BUILD)/fp/$(p) SANITIZE= \
		$(call fp_with,$(p)) $(BUILD)/fp/$(p)/modbridge >/dev/null &&) true

# make musl-build: modbridge against musl and musl builds of its libraries
# from Debian's source packages (init/musl.sh); make bench-musl measures it
# (tests/bench/musl.sh): stripped size, RSS at 32 devices with the web
# interface on, idle wake-ups. make bench-musl-size (tests/bench/musl_size.sh)
# builds it once per build flag and says what each saves and where the
# binary's bytes are. None is part of CI: they download source packages and
# build for minutes.
.PHONY: musl-build bench-musl bench-musl-size
musl-build:
	@MAKE="$(MAKE)" sh init/musl.sh

bench-musl: musl-build
	@$(MAKE) --no-print-directory $(BUILD)/tests/bench/loadgen
	@MB_BUILD=$(BUILD) sh tests/bench/musl.sh

bench-musl-size: musl-build
	@MB_BUILD=$(BUILD) MAKE="$(MAKE)" sh tests/bench/musl_size.sh
