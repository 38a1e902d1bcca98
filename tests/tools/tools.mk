# Small C programs the Python tests drive (included by the top-level Makefile with
# `-include tests/tools/tools.mk`; `test-tools` belongs among the prerequisites of `test`).

TOOLS_DIR := $(O)/tests/tools

$(TOOLS_DIR)/provider_driver: $(O)/tests/tools/provider_driver.o $(LIBCORE) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(LIBCORE) $(LIBUNIK) $(CORE_LIBS)

test-tools: $(TOOLS_DIR)/provider_driver

.PHONY: test-tools

# The AWS layer's doors (tests/integration/test_aws_*.py): the SigV4 signer and S3 uploads.
AWS_TOOLS := $(TOOLS_DIR)/aws_sign $(TOOLS_DIR)/aws_s3 $(TOOLS_DIR)/aws_stage

$(AWS_TOOLS): $(TOOLS_DIR)/%: $(O)/tests/tools/%.o $(LIBCORE) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(LIBCORE) $(LIBUNIK) $(CORE_LIBS)

test-tools: $(AWS_TOOLS)

# A stampede of lib/client users (tests/integration/test_client_busy.py).
$(TOOLS_DIR)/client_load: $(O)/tests/tools/client_load.o $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(LIBUNIK) $(UNIK_LIBS) -lpthread

test-tools: $(TOOLS_DIR)/client_load

# The provider contract's door (tests/integration/test_provider_contract.py): any provider, or
# the fake of tests/lib (unit.mk builds $(TESTLIB)), through core/vm.h.
$(TOOLS_DIR)/provider_contract: $(O)/tests/tools/provider_contract.o $(TESTLIB) $(LIBCORE) \
		$(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $< $(TESTLIB) $(LIBCORE) $(LIBUNIK) $(CORE_LIBS)

test-tools: $(TOOLS_DIR)/provider_contract
