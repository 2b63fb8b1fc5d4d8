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
