# Unit tests: one cmocka binary per tests/unit/test_*.c, linked with libunik; tests/run.py runs
# every $(O)/tests/unit/test_* with CMOCKA_MESSAGE_OUTPUT=TAP, so objects go to a subfolder and
# only the test binaries sit there.

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/unit/%)
UNIT_OBJDIR := $(O)/tests/unit/obj

unit-tests: $(UNIT_BINS)

$(UNIT_OBJDIR)/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -MMD -MP -c -o $@ $<

# unik-cc's argument parser lives with unik-cc, not in libunik; its test links it directly.
$(O)/tests/unit/test_unikcc_args: $(O)/cmd/unik-cc/args.o
$(UNIT_OBJDIR)/test_unikcc_args.o: HOST_CFLAGS += -Icmd/unik-cc

# unik-spt's seccomp rule list lives with unik-spt; its test links it and libseccomp.
$(O)/tests/unit/test_spt_rules: $(O)/cmd/unik-spt/rules.o
$(O)/tests/unit/test_spt_rules: CORE_LIBS += -lseccomp

# Tests of the core (daemon, compilers, images, providers) link libunikcore as well.
UNIT_CORE := $(if $(CORE_OBJS),$(LIBCORE))

# C helpers for tests (tests/lib/*.c: the fake provider), an archive so a test that does not
# use them gets none of them; tests/tools/tools.mk links it too.
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TESTLIB := $(if $(TESTLIB_SRCS),$(O)/tests/lib/libuniktest.a)

$(O)/tests/lib/libuniktest.a: $(TESTLIB_SRCS:%.c=$(O)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(UNIT_BINS): $(O)/tests/unit/%: $(UNIT_OBJDIR)/%.o $(TESTLIB) $(UNIT_CORE) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $(filter %.o,$^) $(TESTLIB) $(UNIT_CORE) $(LIBUNIK) \
		$(if $(UNIT_CORE),$(CORE_LIBS),$(HOST_LIBS)) -lcmocka
