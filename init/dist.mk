# make dist          the release tarball, $(DIST_DIR)/modbridge-$(VERSION).tar.gz
# make dist-check    does the OpenWrt package's PKG_HASH match that tarball?
# make openwrt-hash  write the tarball's sha256 into PKG_HASH
#
# The tarball holds the files git tracks (as they are in the work tree), under
# modbridge-$(VERSION)/, sorted, with fixed times, owners and modes, so that
# the same files always give the same bytes and the same hash. The OpenWrt
# package Makefile is left out: it carries the hash (and the feed, not the
# tarball, brings it).
DIST_DIR       ?= build
DIST_TARBALL    = $(DIST_DIR)/modbridge-$(VERSION).tar.gz
OPENWRT_PKG_MK ?= init/openwrt/modbridge/Makefile
DIST_EXCLUDE   := init/openwrt/modbridge/Makefile

.PHONY: dist dist-check openwrt-hash
dist:
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "dist: needs a git checkout"; exit 1; }
	@mkdir -p $(DIST_DIR)
	@git ls-files -z --cached | tr '\0' '\n' | grep -vxF '$(DIST_EXCLUDE)' | \
		while IFS= read -r f; do [ -e "$$f" ] && printf '%s\n' "$$f"; done | \
		LC_ALL=C sort > $(DIST_DIR)/dist.list
	@LC_ALL=C tar --create --format=gnu --no-recursion --files-from=$(DIST_DIR)/dist.list \
		--sort=name --mtime='2000-01-01 00:00:00Z' --owner=0 --group=0 --numeric-owner \
		--mode='u+rwX,go+rX,go-w' --transform='s,^,modbridge-$(VERSION)/,S' | \
		gzip -9n > $(DIST_TARBALL).tmp
	@mv $(DIST_TARBALL).tmp $(DIST_TARBALL)
	@rm -f $(DIST_DIR)/dist.list
	@echo "dist: $(DIST_TARBALL) sha256 $$(sha256sum $(DIST_TARBALL) | cut -d' ' -f1)"

dist-check: dist
	@want=$$(sha256sum $(DIST_TARBALL) | cut -d' ' -f1); \
	have=$$(sed -n 's/^PKG_HASH:=//p' $(OPENWRT_PKG_MK)); \
	ver=$$(sed -n 's/^PKG_VERSION:=//p' $(OPENWRT_PKG_MK)); \
	if [ "$$ver" != "$(VERSION)" ]; then echo "dist-check: $(OPENWRT_PKG_MK) has PKG_VERSION $$ver, the Makefile $(VERSION)"; exit 1; fi; \
	if [ "$$have" = "$$want" ]; then echo "dist-check: PKG_HASH matches $(DIST_TARBALL)"; \
	else echo "dist-check: PKG_HASH $$have in $(OPENWRT_PKG_MK), tarball $$want: run make openwrt-hash"; exit 1; fi

openwrt-hash: dist
	@want=$$(sha256sum $(DIST_TARBALL) | cut -d' ' -f1); \
	sed -i "s/^PKG_HASH:=.*/PKG_HASH:=$$want/" $(OPENWRT_PKG_MK) && \
	echo "openwrt-hash: PKG_HASH:=$$want in $(OPENWRT_PKG_MK)"
