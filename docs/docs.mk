# make docs:       regenerate docs/maps/<name>.md from every maps/*.conf with the
#                  daemon's own reference printer (so the pages cannot drift
#                  from what the daemon loads), and drop pages of removed maps.
# make docs-check: fail when a committed page differs from a fresh generation
#                  (made under $(BUILD)/docs-check) or has no map any more.
# Maps are named by their relative path (--maps-dir maps), so the pages do
# not depend on where the tree is checked out.
DOC_MAPS := $(patsubst maps/%.conf,%,$(sort $(wildcard maps/*.conf)))

.PHONY: docs-check

# docs/api.md, the REST API reference, comes from bridge/web/openapi.json through
# bridge/web/openapi_md (json-c), so the reference and the served document agree.
$(BUILD)/web/openapi_md: bridge/web/openapi_md.c
	@mkdir -p $(@D)
	$(CC) $(MB_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(MB_LIBS)

docs: $(BUILD)/modbridge $(BUILD)/web/openapi_md
	@$(BUILD)/web/openapi_md bridge/web/openapi.json > docs/api.md.tmp && mv docs/api.md.tmp docs/api.md && \
	  echo "docs: docs/api.md"
	@mkdir -p docs/maps
	@for n in $(DOC_MAPS); do \
	  $(BUILD)/modbridge --print-map $$n --markdown --maps-dir maps > docs/maps/$$n.md.tmp || \
	    { rm -f docs/maps/$$n.md.tmp; echo "docs: --print-map $$n failed"; exit 1; }; \
	  mv docs/maps/$$n.md.tmp docs/maps/$$n.md; echo "docs: docs/maps/$$n.md"; \
	done; \
	for f in docs/maps/*.md; do \
	  [ -e "$$f" ] || continue; n=$${f##*/}; n=$${n%.md}; \
	  [ -f maps/$$n.conf ] || { rm -f "$$f"; echo "docs: removed $$f (no maps/$$n.conf)"; }; \
	done

docs-check: $(BUILD)/modbridge $(BUILD)/web/openapi_md
	@rm -rf $(BUILD)/docs-check && mkdir -p $(BUILD)/docs-check
	@stale=0; \
	$(BUILD)/web/openapi_md bridge/web/openapi.json > $(BUILD)/docs-check/api.md || exit 1; \
	cmp -s docs/api.md $(BUILD)/docs-check/api.md || \
	  { echo "docs-check: docs/api.md is stale (run make docs)"; stale=1; }; \
	for n in $(DOC_MAPS); do \
	  $(BUILD)/modbridge --print-map $$n --markdown --maps-dir maps > $(BUILD)/docs-check/$$n.md || \
	    { echo "docs-check: --print-map $$n failed"; exit 1; }; \
	  if [ ! -f docs/maps/$$n.md ]; then \
	    echo "docs-check: docs/maps/$$n.md is missing (run make docs)"; stale=1; \
	  elif ! cmp -s docs/maps/$$n.md $(BUILD)/docs-check/$$n.md; then \
	    echo "docs-check: docs/maps/$$n.md is stale (run make docs):"; \
	    diff -u docs/maps/$$n.md $(BUILD)/docs-check/$$n.md | head -20; stale=1; \
	  fi; \
	done; \
	for f in docs/maps/*.md; do \
	  [ -e "$$f" ] || continue; n=$${f##*/}; n=$${n%.md}; \
	  [ -f maps/$$n.conf ] || { echo "docs-check: $$f has no maps/$$n.conf (run make docs)"; stale=1; }; \
	done; \
	if [ $$stale = 0 ]; then echo "docs-check: docs/maps up to date ($(words $(DOC_MAPS)) maps)"; else exit 1; fi
