# make deb        the Debian package, $(DEB_DIR)/modbridge_$(VERSION)_<arch>.deb,
#                 built by dpkg-buildpackage from the tarball of `make dist`
#                 (so it holds what a release holds), or, outside a git
#                 checkout (an unpacked tarball), from a copy of the tree.
#                 Installs only what debian/control's Build-Depends name
#                 (apt-get build-dep on the source tree, after
#                 dpkg-checkbuilddeps says what is missing), never the test
#                 toolchain of `make deps`.
# make deb-check  install that package with apt, run the installed binary
#                 (--version, --check of the installed example, a serial
#                 port under its user), look at what it installed, then
#                 purge it; needs root. init/deb-check.sh.
DEB_DIR ?= build/debian
DEB_SRC  = $(DEB_DIR)/modbridge-$(VERSION)

.PHONY: deb deb-check deb-builddeps
deb:
	@if [ "$$(id -u)" = 0 ]; then s=""; else s=sudo; fi; \
	command -v dpkg-checkbuilddeps >/dev/null 2>&1 || { echo "deb: installing dpkg-dev"; \
		$$s apt-get install -y -qq --no-install-recommends dpkg-dev; }
	@v=$$(dpkg-parsechangelog -SVersion); [ "$$v" = "$(VERSION)" ] || \
		{ echo "deb: debian/changelog says $$v, the Makefile VERSION $(VERSION)"; exit 1; }
	@rm -rf $(DEB_SRC) $(DEB_DIR)/modbridge_$(VERSION)_*
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory dist DIST_DIR=$(DEB_DIR) && \
		tar -xzf $(DEB_DIR)/modbridge-$(VERSION).tar.gz -C $(DEB_DIR); \
	else \
		echo "deb: not a git checkout: building from a copy of this tree"; \
		mkdir -p $(DEB_SRC) && tar -cf - --exclude=./build . | tar -xf - -C $(DEB_SRC); \
	fi
	@$(MAKE) --no-print-directory deb-builddeps
	cd $(DEB_SRC) && dpkg-buildpackage -b -us -uc -j2
	@ls $(DEB_DIR)/modbridge_$(VERSION)_*.deb

# Build-Depends only: dpkg-checkbuilddeps names what is missing, apt-get
# build-dep installs exactly that list (and build-essential).
deb-builddeps:
	@cd $(DEB_SRC) && if dpkg-checkbuilddeps 2>/dev/null; then echo "deb: build dependencies present"; \
	else if [ "$$(id -u)" = 0 ]; then s=""; else s=sudo; fi; \
		echo "deb: installing the build dependencies of debian/control"; \
		$$s apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$s apt-get build-dep -y -qq \
			--no-install-recommends ./ && dpkg-checkbuilddeps; fi

deb-check:
	@VERSION=$(VERSION) DEB_DIR=$(DEB_DIR) MB_BUILD=$(BUILD) sh init/deb-check.sh
