# libFuzzer targets for the parsers of outside input (included from the top-level Makefile).
# A target is one file tests/fuzz/fuzz_<name>.c defining LLVMFuzzerTestOneInput, with its seed
# corpus in tests/fuzz/corpus/<name>/; both rules below find them by wildcard (docs/fuzzing.md).
#
#   make fuzz [FUZZ_TIME=60] [FUZZ_RUNS=N] [FUZZ_TARGETS='cpio qmp']
#       builds $(O)/fuzz/fuzz_<name> with clang (-fsanitize=fuzzer,address,undefined), runs each
#       for FUZZ_TIME seconds (or FUZZ_RUNS executions) and fails if any crashed
#   make fuzz-build     only builds them
#   make clang-check    builds the host programs with clang -Werror as well (into $(O)/clang)
#
# make test replays every corpus: each target is also built with $(CC) and tests/fuzz/replay.c
# into $(O)/tests/unit/test_fuzz_<name>, which the test runner runs like a unit test (under
# make asan too, with the sanitizers).

FUZZ_SRCS  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRCS:tests/fuzz/fuzz_%.c=%)

# ---------------------------------------------------------------------------------------------
# The libFuzzer builds

FUZZ_CC     ?= clang
FUZZ_TIME   ?= 60
FUZZ_RUNS   ?=
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -I. \
	-I/usr/include/libxml2 -g -O1 -DUNIK_VERSION='"$(VERSION)"' \
	-fno-strict-aliasing $(FUZZ_SAN)
FUZZ_OBJS   := $(patsubst %.c,$(O)/fuzz/obj/%.o,$(LIB_SRCS) $(CORE_SRCS))
FUZZ_LIB    := $(O)/fuzz/libunik-fuzz.a
FUZZ_BINS   := $(FUZZ_NAMES:%=$(O)/fuzz/fuzz_%)

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	$(PYTHON) tests/fuzz/run_fuzz.py --dir $(O)/fuzz --time '$(FUZZ_TIME)' \
		$(if $(FUZZ_RUNS),--runs '$(FUZZ_RUNS)') $(FUZZ_TARGETS)

.PHONY: fuzz fuzz-build fuzz-replay clang-check

# The library code is instrumented for coverage (fuzzer-no-link) but gets no libFuzzer main.
$(O)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_OBJS)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BINS): $(O)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -MMD -MP -o $@ $< $(filter %.o,$^) $(FUZZ_LIB) \
		$(CORE_LIBS) -lm

# fuzz_cpio links the guest's own cpio reader, runtime/fs/cpio.c, with the file systems it fills
# (vfs.c, tmpfs.c, devfs.c), compiled for the host as they are (freestanding, with the compiler's
# headers only); fuzz_cpio.c supplies the kernel calls they make.
FUZZ_RT_FS := vfs tmpfs devfs cpio
FUZZ_RT_CFLAGS = -std=c11 -Wall -Wextra -Werror -g -O1 -ffreestanding -nostdinc \
	-isystem $(shell $(1) -print-file-name=include) -Iinclude -Iruntime -fno-strict-aliasing
$(O)/fuzz/rt/%.o: runtime/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(call FUZZ_RT_CFLAGS,$(FUZZ_CC)) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP \
		-c -o $@ $<
$(O)/tests/fuzz/rt/%.o: runtime/%.c
	@mkdir -p $(dir $@)
	$(CC) $(call FUZZ_RT_CFLAGS,$(CC)) $(if $(SAN),$(FUZZ_SAN)) -MMD -MP -c -o $@ $<
$(O)/fuzz/fuzz_cpio: $(FUZZ_RT_FS:%=$(O)/fuzz/rt/fs/%.o)
$(O)/tests/unit/test_fuzz_cpio: $(FUZZ_RT_FS:%=$(O)/tests/fuzz/rt/fs/%.o)

# ---------------------------------------------------------------------------------------------
# The corpus replay of make test: same target sources, built by $(CC) with tests/fuzz/replay.c.

FUZZ_REPLAY_BINS := $(FUZZ_NAMES:%=$(O)/tests/unit/test_fuzz_%)
FUZZ_REPLAY_OBJ  := $(O)/tests/fuzz/replay.o

fuzz-replay: $(FUZZ_REPLAY_BINS)
unit-tests: fuzz-replay

$(FUZZ_REPLAY_OBJ): tests/fuzz/replay.c
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -MMD -MP -c -o $@ $<

$(O)/tests/fuzz/fuzz_%.o: tests/fuzz/fuzz_%.c
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -I/usr/include/libxml2 -MMD -MP -c -o $@ $<

# The corpus directory is compiled in; a replay binary given files replays only those.
$(FUZZ_REPLAY_BINS): $(O)/tests/unit/test_fuzz_%: $(O)/tests/fuzz/fuzz_%.o $(FUZZ_REPLAY_OBJ) $(LIBCORE) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $(filter %.o,$^) $(LIBCORE) $(LIBUNIK) $(CORE_LIBS) -lm

$(FUZZ_REPLAY_OBJ): HOST_CFLAGS += -DUNIK_FUZZ_CORPUS='"$(abspath tests/fuzz/corpus)"'

# ---------------------------------------------------------------------------------------------
# clang refuses what gcc lets through (a goto past a _cleanup_ variable frees garbage), so the
# host programs are built with it too.

clang-check:
	$(MAKE) CC=clang O=$(O)/clang BIN=$(O)/clang/bin \
		$(patsubst $(BIN)/%,$(O)/clang/bin/%,$(HOST_BINS))

# fuzz_guest_cmdline includes the guest's cmdline.c and devices.c, whose includes name their
# runtime layer ("kernel/cmdline.h") as the runtime's -Iruntime finds them; -iquote keeps the
# folder away from the host's <...> headers.
$(O)/fuzz/fuzz_guest_cmdline: private FUZZ_CFLAGS += -iquote runtime
$(O)/tests/fuzz/fuzz_guest_cmdline.o: private HOST_CFLAGS += -iquote runtime
