# make deb        the Debian package, $(DEB_DIR)/modbridge_$(VERSION)_<arch>.deb,
#                 built by dpkg-buildpackage from the tarball of `make dist`
#                 (so it holds what a release holds); installs debhelper first
# make deb-check  install that package with apt, run the installed binary
#                 (--version, --check of the installed example), look at what
#                 it installed, then purge it; needs root. init/deb-check.sh.
DEB_DIR ?= build/debian

.PHONY: deb deb-check
deb:
	@$(MAKE) --no-print-directory deps EXTRA_DEB_PKGS=debhelper
	@v=$$(dpkg-parsechangelog -SVersion); [ "$$v" = "$(VERSION)" ] || \
		{ echo "deb: debian/changelog says $$v, the Makefile VERSION $(VERSION)"; exit 1; }
	@$(MAKE) --no-print-directory dist DIST_DIR=$(DEB_DIR)
	@rm -rf $(DEB_DIR)/modbridge-$(VERSION) $(DEB_DIR)/modbridge_$(VERSION)_*
	tar -xzf $(DEB_DIR)/modbridge-$(VERSION).tar.gz -C $(DEB_DIR)
	cd $(DEB_DIR)/modbridge-$(VERSION) && dpkg-buildpackage -b -us -uc -j2
	@ls $(DEB_DIR)/modbridge_$(VERSION)_*.deb

deb-check:
	@VERSION=$(VERSION) DEB_DIR=$(DEB_DIR) sh init/deb-check.sh
