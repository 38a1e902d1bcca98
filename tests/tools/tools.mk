# Small C programs the Python tests drive (included by the top-level Makefile with
# `-include tests/tools/tools.mk`; `test-tools` belongs among the prerequisites of `test`).

TOOLS_DIR := $(O)/tests/tools

$(TOOLS_DIR)/provider_driver: $(O)/tests/tools/provider_driver.o $(LIBCORE) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(LIBCORE) $(LIBUNIK) $(CORE_LIBS)

test-tools: $(TOOLS_DIR)/provider_driver

.PHONY: test-tools
