# Guest test programs (included by the top-level Makefile): every tests/apps/NAME.c becomes
# $(O)/tests/apps/NAME.elf (PVH) built with unik-cc, and NAME.native with musl-gcc -static for
# cross-checks when musl-gcc is installed.  A few get a multiboot v1 variant (NAME.mb1.elf).

APPS_DIR   := $(O)/tests/apps
APPS_SRCS  := $(wildcard tests/apps/*.c)
APPS_NAMES := $(notdir $(APPS_SRCS:.c=))
APPS_CC    := $(BIN)/unik-cc --unik-runtime-dir $(O)/runtime
APPS_DEPS  := $(BIN)/unik-cc $(O)/runtime/unikrt.o $(O)/runtime/unikrt-vol.o $(O)/runtime/unikrt-net.o \
	$(O)/runtime/mb1.o \
	$(O)/runtime/unik.ld
APPS_MB1   := hello args vol
MUSL_GCC   ?= $(shell command -v musl-gcc 2>/dev/null)
ROOTFS_DATA := $(shell find tests/apps/rootfs-data -type f 2>/dev/null)
MULTIFILE_SRCS := $(wildcard tests/apps/multifile/*.c tests/apps/multifile/*.h) \
	tests/apps/multifile/Makefile

APPS_OUT := $(APPS_NAMES:%=$(APPS_DIR)/%.elf) $(APPS_MB1:%=$(APPS_DIR)/%.mb1.elf) \
	$(APPS_DIR)/baked.elf $(APPS_DIR)/rootfs.elf $(APPS_DIR)/multifile.elf
ifneq ($(MUSL_GCC),)
APPS_OUT += $(APPS_NAMES:%=$(APPS_DIR)/%.native)
endif

test-apps: $(APPS_OUT)

$(APPS_DIR)/%.elf: tests/apps/%.c $(APPS_DEPS)
	@mkdir -p $(dir $@)
	$(APPS_CC) -O2 -Wall -pthread -o $@ $< -lm || { rm -f $@; exit 1; }

$(APPS_DIR)/%.mb1.elf: tests/apps/%.c $(APPS_DEPS)
	@mkdir -p $(dir $@)
	$(APPS_CC) -O2 -Wall --unik-multiboot -o $@ $< -lm || { rm -f $@; exit 1; }

$(APPS_DIR)/%.native: tests/apps/%.c
	@mkdir -p $(dir $@)
	$(MUSL_GCC) -static -O2 -Wall -pthread -o $@ $< -lm

# Baked defaults: a command line used when the boot line is empty, and an environment that
# always applies.
$(APPS_DIR)/baked.elf: tests/apps/args.c $(APPS_DEPS)
	@mkdir -p $(dir $@)
	$(APPS_CC) -O2 -Wall --unik-cmdline 'BAKED_CMDLINE_ENV=1 baked-args one "two words" '"'"'three'"'"'' \
		--unik-env BAKED_ENV=from-build --unik-env SHARED=baked -o $@ $< || { rm -f $@; exit 1; }

# An embedded root file system, with baked defaults that list it.
$(APPS_DIR)/rootfs.elf: tests/apps/tree.c $(ROOTFS_DATA) $(APPS_DEPS)
	@mkdir -p $(dir $@)
	$(APPS_CC) -O2 -Wall --unik-rootfs tests/apps/rootfs-data --unik-cmdline 'tree /data /etc' \
		--unik-env ROOTFS_APP=1 -o $@ $< || { rm -f $@; exit 1; }

# A program with its own Makefile, built with CC=unik-cc: objects with -c, then a link.
$(APPS_DIR)/multifile.elf: $(MULTIFILE_SRCS) $(APPS_DEPS)
	@mkdir -p $(APPS_DIR)/multifile
	@# Its Makefile knows nothing of the runtime: remove the output so a new runtime relinks it.
	rm -f $@
	$(MAKE) -C tests/apps/multifile \
		CC='$(abspath $(BIN))/unik-cc --unik-runtime-dir $(abspath $(O))/runtime' \
		OBJDIR=$(abspath $(APPS_DIR)/multifile) OUT=$(abspath $@) || { rm -f $@; exit 1; }

.PHONY: test-apps

# The statfs and st_blocks printer vol and share share.
$(APPS_DIR)/vol.elf $(APPS_DIR)/vol.mb1.elf $(APPS_DIR)/vol.native $(APPS_DIR)/share.elf \
	$(APPS_DIR)/share.native: tests/apps/fsinfo.h
