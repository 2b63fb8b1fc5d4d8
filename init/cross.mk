# make cross-check: an aarch64 build of the daemon (Debian's cross gcc, arm64
# libraries from multiarch or a private sysroot) run under qemu-user with
# --version and --check. Not part of `make test`; see init/cross.sh for what
# it installs and why the host's packages stay as they are.
CROSS_BUILD ?= build/aarch64

cross-check:
	@MAKE="$(MAKE)" MB_CROSS_BUILD="$(CROSS_BUILD)" sh init/cross.sh
