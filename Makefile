# unik: build everything into bin/ (objects under build/), test, bench.
#
#   make                 build the runtime, unik-cc and the host tools
#   make example         build examples/hello as a unikernel and boot it here
#   make test            build and run every test; TESTS=PATTERN runs only matching ones
#   make bench           run the benchmarks
#   make asan            build the host code with ASan+UBSan and run the tests with it
#   make format-check    check the C sources against .clang-format
#   make check-deps      check the dependency rule of docs/architecture.md (make test runs it too)
#   make man             man pages and bash/zsh completion into build/ (part of make)
#   make install         PREFIX=/usr/local DESTDIR=... (docs/install.md); make uninstall

CC      ?= gcc
LD      ?= ld
OBJCOPY ?= objcopy
NM      ?= nm
PYTHON  ?= python3
O       ?= build
BIN     ?= bin
SAN     ?=

VERSION := 0.1.0

# ---------------------------------------------------------------------------------------------
# Host code: lib/ and cmd/

HOST_CFLAGS := -std=c11 -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE -Iinclude -I. \
	-DUNIK_VERSION='"$(VERSION)"' -fno-strict-aliasing
HOST_LDFLAGS :=
ifneq ($(SAN),)
HOST_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
HOST_LDFLAGS += -fsanitize=address,undefined
endif
HOST_LIBS := -larchive

LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)
LIBUNIK  := $(O)/lib/libunik.a

UNIKCC_SRCS := $(wildcard cmd/unik-cc/*.c)
UNIKCC_OBJS := $(UNIKCC_SRCS:%.c=$(O)/%.o)

# The core the daemon, the CLI and unik-oci share: compilers, image formats, providers, daemon.
CORE_SRCS := $(wildcard core/*.c daemon/*.c daemon/routes/*.c compilers/*.c compilers/*/*.c images/*.c images/*/*.c \
	providers/*.c providers/*/*.c)
CORE_OBJS := $(CORE_SRCS:%.c=$(O)/%.o)
LIBCORE   := $(O)/libunikcore.a
# The providers' own libraries: libvirt (kvm), libxenlight and libxlutil (xen), libxml2 for the
# AWS APIs' XML.  --as-needed keeps them out of programs that never reach those providers.
CORE_LIBS := -Wl,--as-needed -lmicrohttpd -ljansson -lsqlite3 -lyaml -lcurl -larchive -lgit2 \
	-lvirt -lxenlight -lxlutil -lxentoollog -lxml2 -lcrypto -lpthread
$(O)/providers/aws/%.o: HOST_CFLAGS += -I/usr/include/libxml2

# bin/unik, the CLI, links only what a client needs, so each command starts fast; the daemon's
# libraries go into bin/unik-daemon, which `unik daemon` runs.
UNIK_SRCS := $(wildcard cmd/unik/*.c)
UNIK_OBJS := $(UNIK_SRCS:%.c=$(O)/%.o)
UNIK_LIBS := -lcurl -ljansson -lyaml -larchive
DAEMON_SRCS := $(wildcard cmd/unik-daemon/*.c)
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(O)/%.o)
SHIM_SRCS := $(wildcard cmd/unik-shim/*.c)
SHIM_OBJS := $(SHIM_SRCS:%.c=$(O)/%.o)
PACK_SRCS := $(wildcard cmd/unik-pack/*.c)
PACK_OBJS := $(PACK_SRCS:%.c=$(O)/%.o)
OCI_SRCS := $(wildcard cmd/unik-oci/*.c)
OCI_OBJS := $(OCI_SRCS:%.c=$(O)/%.o)
# unik-spt, the tender of the mirage backend's unix target (docs/providers/spt.md).
SPT_SRCS := $(wildcard cmd/unik-spt/*.c)
SPT_OBJS := $(SPT_SRCS:%.c=$(O)/%.o)
HVT_SRCS := $(wildcard cmd/unik-hvt/*.c)
HVT_OBJS := $(HVT_SRCS:%.c=$(O)/%.o)
HOST_BINS := $(BIN)/unik-cc $(if $(UNIK_SRCS),$(BIN)/unik) $(if $(DAEMON_SRCS),$(BIN)/unik-daemon) \
	$(if $(SHIM_SRCS),$(BIN)/unik-shim) $(if $(PACK_SRCS),$(BIN)/unik-pack) \
	$(if $(OCI_SRCS),$(BIN)/unik-oci) $(if $(HVT_SRCS),$(BIN)/unik-hvt) \
	$(if $(SPT_SRCS),$(BIN)/unik-spt)

# ---------------------------------------------------------------------------------------------
# Guest code: runtime/ (freestanding, never host headers)

GCC_INC := $(shell $(CC) -print-file-name=include)
RT_CFLAGS := -std=c11 -Wall -Wextra -Werror -Os $(if $(RT_DEBUG),-g) -ffreestanding -nostdinc -isystem $(GCC_INC) \
	-Iinclude -Iruntime -I$(O)/runtime -fno-stack-protector -fno-pic -fno-pie -mno-red-zone \
	-mgeneral-regs-only -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-ffunction-sections -fdata-sections -fno-strict-aliasing -fno-common \
	-fno-omit-frame-pointer
RT_ASFLAGS := -Iinclude -Iruntime -fno-pic -fno-pie

# The runtime's layers live in subfolders (arch/, platform/, kernel/, sys/, fs/, drivers/).
# runtime/app/ is the device variant's (below), not every program's.
RT_APP_ALL_C := $(wildcard runtime/app/*.c runtime/app/*/*.c)
# runtime/hvt/ is the hvt target's platform (unikrt-hvt.o, below), not a layer of the kernel.
RT_HVT_C := $(wildcard runtime/hvt/*.c)
RT_HVT_S := $(wildcard runtime/hvt/*.S)
RT_C   := $(filter-out $(RT_APP_ALL_C) $(RT_HVT_C),$(wildcard runtime/*.c runtime/*/*.c runtime/*/*/*.c))
RT_S   := $(filter-out runtime/arch/x86_64/mb1.S $(RT_HVT_S),$(wildcard runtime/*.S runtime/*/*.S runtime/*/*/*.S))
# The includeos backend's event loop (runtime/service/): only in unikrt-service.o.
RT_SVC_C := $(filter runtime/service/%,$(RT_C))
RT_C := $(filter-out $(RT_SVC_C),$(RT_C))
RT_OBJS := $(RT_C:%.c=$(O)/%.o) $(RT_S:%.S=$(O)/%.o)
# The network code: drivers for network devices, the stack and sockets (docs/runtime.md).
RT_NET_C := $(filter runtime/net/% runtime/drivers/virtio_net% runtime/drivers/netdev%,$(RT_C))
# The device file systems: the virtio core, disks and shares, ext2, 9P and the boot-time mounts
# (docs/runtime.md "Volumes"), in the variants unik-cc links into programs that use files.
RT_VOL_C := $(filter runtime/drivers/virtio.c runtime/drivers/virtio_blk% runtime/drivers/virtio_9p% \
	runtime/fs/ext2% runtime/fs/9p% runtime/fs/mounts%,$(RT_C))
RT_CORE_OBJS := $(filter-out $(RT_NET_C:%.c=$(O)/%.o) $(RT_VOL_C:%.c=$(O)/%.o),$(RT_OBJS))
RT_VOL_OBJS := $(RT_CORE_OBJS) $(RT_VOL_C:%.c=$(O)/%.o)
# The device variant (the mirage backend, docs/backends/mirage.md): the core, the virtio drivers
# and the application calls of runtime/app/app.c; no file systems on devices, no TCP/IP stack.
# runtime/app/lib.c is the application's side, libunikapp.a, compiled with unik-cc.
RT_APP_OBJS := $(RT_CORE_OBJS) $(O)/runtime/drivers/virtio.o $(O)/runtime/drivers/virtio_net.o \
	$(O)/runtime/drivers/netdev.o $(O)/runtime/drivers/virtio_blk.o $(O)/runtime/app/app.o

# lwIP, the network variant's TCP/IP stack (docs/runtime.md "Network stack"): Debian's lwip
# source package, which scripts/install-deps fetches into build/src and which is extracted (its
# Debian patches applied) once into $(O)/lwip; LWIP_SRC=DIR uses another copy of the same tree.
# Without either the network variant is built without it, and says so.
LWIP_DSC := $(firstword $(wildcard build/src/lwip_*.dsc))
ifeq ($(LWIP_SRC),)
ifneq ($(LWIP_DSC),)
LWIP_SRC := $(O)/lwip
LWIP_STAMP := $(O)/lwip/.unik-extracted
endif
endif
LWIP_FILES := core/init core/def core/inet_chksum core/ip core/mem core/memp core/netif \
	core/pbuf core/raw core/stats core/sys core/tcp core/tcp_in core/tcp_out core/timeouts \
	core/udp core/ipv4/dhcp core/ipv4/etharp core/ipv4/icmp core/ipv4/ip4 core/ipv4/ip4_addr \
	core/ipv4/ip4_frag netif/ethernet
LWIP_OBJS := $(if $(LWIP_SRC),$(LWIP_FILES:%=$(O)/runtime/lwip/%.o))
# lwIP as a library for mirage applications (include/unik/lwip-netif.h, `unik-cc --unik-lwip`):
# the same lwIP files compiled with unik-cc against runtime/app/lwip's configuration, and the
# glue, in liblwip-app.a; lwIP's headers and that configuration under include/lwip-app.
LWIP_APP_OBJS := $(LWIP_FILES:%=$(O)/runtime/lwip-app/%.o) $(O)/runtime/app/lwip/lwip-netif.o
LWIP_APP_INC := $(O)/runtime/include/lwip-app
LWIP_APP_OUT := $(O)/runtime/liblwip-app.a $(LWIP_APP_INC)/.stamp \
	$(O)/runtime/include/unik/lwip-netif.h
LWIP_APP_CFLAGS := -O2 -Wall -Werror -MMD -MP -DUNIK_LWIP_APP=1 -Iruntime/app/lwip -Iinclude \
	-I$(LWIP_SRC)/src/include

# The port's headers, and the two C library headers lwIP includes (runtime/net/lwip/libc),
# for lwIP's files and the runtime's network code only.
LWIP_INC := -Iruntime/net/lwip -Iruntime/net/lwip/libc $(if $(LWIP_SRC),-I$(LWIP_SRC)/src/include)
$(RT_NET_C:%.c=$(O)/%.o) $(RT_SVC_C:%.c=$(O)/%.o): RT_CFLAGS += $(LWIP_INC)
# Whether the network code has lwIP, as a header rewritten only when that changes, so that the
# objects which include it are rebuilt then.
LWIP_CONFIG := $(O)/runtime/net/lwip_config.h
LWIP_CONFIG_TEXT := \#define UNIK_LWIP $(if $(LWIP_OBJS),1,0)
ifneq ($(file <$(LWIP_CONFIG)),$(LWIP_CONFIG_TEXT))
$(shell mkdir -p $(O)/runtime/net)
$(file >$(LWIP_CONFIG),$(LWIP_CONFIG_TEXT))
endif
RT_OUT := $(O)/runtime/unikrt.o $(O)/runtime/unikrt-vol.o $(O)/runtime/unikrt-net.o \
	$(O)/runtime/unikrt-app.o $(O)/runtime/libunikapp.a $(O)/runtime/libunikapp-unix.a \
	$(O)/runtime/mb1.o $(O)/runtime/unik.ld \
	$(O)/runtime/unikrt-hvt.o $(O)/runtime/hvt.ld \
	$(if $(LWIP_OBJS),$(O)/runtime/unikrt-service.o $(O)/runtime/include/unik/service.h \
	$(LWIP_APP_OUT))

MUSL_SYSCALL_H := /usr/include/x86_64-linux-musl/bits/syscall.h

# ---------------------------------------------------------------------------------------------

all: $(RT_OUT) $(HOST_BINS) man
.PHONY: all test bench asan clean format format-check unit-tests test-apps example check-deps \
	man install uninstall

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBUNIK): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/unik-cc: $(UNIKCC_OBJS) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $^ $(HOST_LIBS)

$(LIBCORE): $(CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN)/unik: $(UNIK_OBJS) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -Wl,--as-needed -o $@ $(UNIK_OBJS) $(LIBUNIK) $(UNIK_LIBS)

$(BIN)/unik-daemon: $(DAEMON_OBJS) $(LIBCORE) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $(DAEMON_OBJS) $(LIBCORE) $(LIBUNIK) $(CORE_LIBS)

$(BIN)/unik-pack: $(PACK_OBJS) $(LIBCORE) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $(PACK_OBJS) $(LIBCORE) $(LIBUNIK) $(CORE_LIBS)

$(BIN)/unik-oci: $(OCI_OBJS) $(LIBCORE) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $(OCI_OBJS) $(LIBCORE) $(LIBUNIK) $(CORE_LIBS)

$(BIN)/unik-shim: $(SHIM_OBJS) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $^ $(HOST_LIBS)

# unik's own KVM monitor for the hvt target (docs/backends/mirage.md).
$(BIN)/unik-hvt: $(HVT_OBJS) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) -o $@ $^ $(HOST_LIBS) -lseccomp

# Static (PIE, so that it never sits where the application's segments go): each run of an
# application is an exec of unik-spt, and a dynamic one spends most of its start in ld.so.
$(BIN)/unik-spt: $(SPT_OBJS) $(LIBUNIK)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_LDFLAGS) $(if $(SAN),,-static-pie) -o $@ $^ -lseccomp

# The runtime: one relocatable object, the multiboot v1 header object and the linker script.
$(O)/runtime/syscall_names.h: $(MUSL_SYSCALL_H) runtime/sys/gen-syscall-names.sh
	@mkdir -p $(dir $@)
	sh runtime/sys/gen-syscall-names.sh $< > $@.tmp && mv $@.tmp $@

$(O)/runtime/%.o: runtime/%.c $(O)/runtime/syscall_names.h
	@mkdir -p $(dir $@)
	$(CC) $(RT_CFLAGS) -MMD -MP -c -o $@ $<

$(O)/runtime/lwip/%.o: $(LWIP_SRC)/src/%.c $(O)/runtime/syscall_names.h
	@mkdir -p $(dir $@)
	$(CC) $(RT_CFLAGS) $(LWIP_INC) -MMD -MP -c -o $@ $<

ifneq ($(LWIP_STAMP),)
# dpkg-source refuses a folder that exists: the tree is made beside it and moved in place.
$(LWIP_STAMP): $(LWIP_DSC)
	rm -rf $(O)/lwip $(O)/lwip.tmp
	@mkdir -p $(O)
	dpkg-source --no-check -x $< $(O)/lwip.tmp >/dev/null
	mv $(O)/lwip.tmp $(O)/lwip
	touch $@

# Only the files the build uses: a pattern would let make "remake" any name under src/ from the
# stamp, the .d files included below among them.
$(LWIP_FILES:%=$(LWIP_SRC)/src/%.c): $(LWIP_STAMP)
	@:

# The network code includes lwIP's headers.
$(RT_NET_C:%.c=$(O)/%.o) $(RT_SVC_C:%.c=$(O)/%.o): | $(LWIP_STAMP)
endif

$(O)/runtime/%.o: runtime/%.S
	@mkdir -p $(dir $@)
	$(CC) $(RT_ASFLAGS) -MMD -MP -c -o $@ $<

# unik-cc finds the multiboot v1 header object beside unikrt.o, whatever folder its source is in.
$(O)/runtime/mb1.o: runtime/arch/x86_64/mb1.S
	@mkdir -p $(dir $@)
	$(CC) $(RT_ASFLAGS) -MMD -MP -c -o $@ $<

# A build/ made before the runtime was laid out by layer has a mb1.d that names runtime/mb1.S
# (the other old objects are no longer wanted): the name counts as changed, so mb1.o is rebuilt
# once from its new source, which rewrites mb1.d.
runtime/mb1.S:
	@:

# unikrt.o also depends on the list of its objects, rewritten only when it changes, so that a
# runtime source that is removed or renamed leaves the image too (make sees files change, not a
# wildcard's list shrink).
RT_LIST := $(O)/runtime/objects.list
RT_LIST_TEXT := $(strip $(RT_OBJS) $(LWIP_OBJS) $(RT_SVC_C:%.c=$(O)/%.o))
ifneq ($(file <$(RT_LIST)),$(RT_LIST_TEXT))
$(shell mkdir -p $(O)/runtime)
$(file >$(RT_LIST),$(RT_LIST_TEXT))
endif

# The runtime's own symbols stay out of every image: all but the entry point are made local and
# renamed to assembler-local labels (.Lrt.NAME), which the final link drops.  An image's symbol
# table is part of its size, and a hello image is mostly runtime (docs/runtime.md).
define rt_link
	$(LD) -r -o $@.all $(1)
	$(OBJCOPY) -G _unik_entry32 $(2) $@.all $@.local
	$(NM) --defined-only $@.local | \
	    awk '$$2 ~ /^[a-z]$$/ && $$3 !~ /^\./ { print $$3 " .Lrt." $$3 }' | sort -u >$@.syms
	$(OBJCOPY) --redefine-syms=$@.syms $@.local $@
	rm -f $@.all $@.local $@.syms
endef

$(O)/runtime/unikrt.o: $(RT_CORE_OBJS) $(RT_LIST)
	$(call rt_link,$(RT_CORE_OBJS))

# The same with the device file systems, which unik-cc links into programs that use files.
$(O)/runtime/unikrt-vol.o: $(RT_VOL_OBJS) $(RT_LIST)
	$(call rt_link,$(RT_VOL_OBJS))

# The same with everything, the network code too, which unik-cc links only into programs that
# use sockets.
$(O)/runtime/unikrt-net.o: $(RT_OBJS) $(LWIP_OBJS) $(RT_LIST)
	$(if $(LWIP_OBJS),,@echo "warning: no lwIP source (scripts/install-deps fetches it, or" \
	    "LWIP_SRC=DIR): unikrt-net.o has no TCP/IP stack" >&2)
	$(call rt_link,$(RT_OBJS) $(LWIP_OBJS))

# The includeos backend's runtime: everything the network variant has and the event loop, whose
# API (include/unik/service.h, service_*) stays global for the service to call.  unik-cc links
# it instead of unikrt.o with --unik-service.
$(O)/runtime/unikrt-service.o: $(RT_OBJS) $(LWIP_OBJS) $(RT_SVC_C:%.c=$(O)/%.o) $(RT_LIST)
	$(call rt_link,$(RT_OBJS) $(LWIP_OBJS) $(RT_SVC_C:%.c=$(O)/%.o),-w -G 'service_*')

# The service API's header beside the runtime, where unik-cc finds it (-isystem RUNTIME/include).
$(O)/runtime/include/unik/service.h: include/unik/service.h
	@mkdir -p $(dir $@)
	cp $< $@

# The device variant, and the application's side of its API.
$(O)/runtime/unikrt-app.o: $(RT_APP_OBJS) $(RT_LIST)
	$(call rt_link,$(RT_APP_OBJS))

$(O)/runtime/libunikapp.a: runtime/app/lib.c runtime/app/appcall.h runtime/app/shared.h \
		include/unik/devices-app.h \
		$(BIN)/unik-cc
	@mkdir -p $(dir $@)
	$(BIN)/unik-cc -O2 -Wall -Wextra -Werror -Iinclude -Iruntime -c -o $(@:.a=.o) $<
	rm -f $@ && $(AR) rcs $@ $(@:.a=.o)

# The unix target's side (include/unik/spt.h): the same API as host system calls, for unik-spt.
$(O)/runtime/libunikapp-unix.a: runtime/app/lib-unix.c runtime/app/shared.h include/unik/spt.h \
		include/unik/devices-app.h $(BIN)/unik-cc
	@mkdir -p $(dir $@)
	$(BIN)/unik-cc -O2 -Wall -Wextra -Werror -Iinclude -Iruntime -c -o $(@:.a=.o) $<
	rm -f $@ && $(AR) rcs $@ $(@:.a=.o)

$(O)/runtime/lwip-app/%.o: $(LWIP_SRC)/src/%.c runtime/app/lwip/lwipopts.h \
		runtime/app/lwip/arch/cc.h $(BIN)/unik-cc
	@mkdir -p $(dir $@)
	$(BIN)/unik-cc $(LWIP_APP_CFLAGS) -c -o $@ $<

$(O)/runtime/app/lwip/lwip-netif.o: runtime/app/lwip/lwip-netif.c include/unik/lwip-netif.h \
		include/unik/devices-app.h runtime/app/lwip/lwipopts.h $(BIN)/unik-cc | $(LWIP_STAMP)
	@mkdir -p $(dir $@)
	$(BIN)/unik-cc $(LWIP_APP_CFLAGS) -Wextra -c -o $@ $<

$(O)/runtime/liblwip-app.a: $(LWIP_APP_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(LWIP_APP_INC)/.stamp: runtime/app/lwip/lwipopts.h runtime/app/lwip/arch/cc.h | $(LWIP_STAMP)
	rm -rf $(LWIP_APP_INC) && mkdir -p $(LWIP_APP_INC)/arch
	cp -r $(LWIP_SRC)/src/include/lwip $(LWIP_SRC)/src/include/netif $(LWIP_APP_INC)/
	cp runtime/app/lwip/lwipopts.h $(LWIP_APP_INC)/
	cp runtime/app/lwip/arch/cc.h $(LWIP_APP_INC)/arch/
	touch $@

$(O)/runtime/include/unik/lwip-netif.h: include/unik/lwip-netif.h
	@mkdir -p $(dir $@)
	cp $< $@

$(O)/runtime/unik.ld: runtime/unik.ld
	@mkdir -p $(dir $@)
	cp $< $@

# The hvt target's platform (docs/backends/mirage.md "hvt"): a device application and musl on
# unik-hvt's hypercalls, with the runtime's command-line parser; unik-cc --unik-target hvt links
# it and hvt.ld instead of unikrt-app.o and unik.ld.
RT_HVT_OBJS := $(RT_HVT_C:%.c=$(O)/%.o) $(RT_HVT_S:%.S=$(O)/%.o) $(O)/runtime/kernel/cmdline.o
$(O)/runtime/unikrt-hvt.o: $(RT_HVT_OBJS)
	$(call rt_link,$(RT_HVT_OBJS),-G _unik_hvt_start)

$(O)/runtime/hvt.ld: runtime/hvt/hvt.ld
	@mkdir -p $(dir $@)
	cp $< $@

# ---------------------------------------------------------------------------------------------
# Man pages and completion, from the tables --help prints (scripts/gen-man), and installation

MAN_STAMP := $(O)/man/.generated
man: $(MAN_STAMP)
$(MAN_STAMP): scripts/gen-man docs/unikfile.md $(HOST_BINS)
	$(PYTHON) scripts/gen-man --bin $(BIN) --out $(O)
	touch $@

# make install PREFIX=/usr/local DESTDIR=/tmp/stage: the layout of docs/install.md.  Every
# program finds its siblings and the runtime from its own place (lib/selfpath.h).
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     := $(PREFIX)/bin
LIBEXECDIR := $(PREFIX)/libexec/unik
RTDIR      := $(PREFIX)/lib/unik
INCDIR     := $(PREFIX)/include/unik
MANDIR     := $(PREFIX)/share/man
DOCDIR     := $(PREFIX)/share/doc/unik
BASHCOMPDIR := $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR := $(PREFIX)/share/zsh/site-functions
UNITDIR    := $(PREFIX)/lib/systemd/system
INSTALL_BIN := $(filter $(BIN)/unik $(BIN)/unik-cc $(BIN)/unik-oci $(BIN)/unik-spt $(BIN)/unik-hvt,\
	$(HOST_BINS))
INSTALL_LIBEXEC := $(filter $(BIN)/unik-daemon $(BIN)/unik-shim $(BIN)/unik-pack,$(HOST_BINS))
INSTALL_DOCS := README.md $(shell find docs -name '*.md' 2>/dev/null)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(RTDIR)/include/unik \
	    $(DESTDIR)$(INCDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) \
	    $(DESTDIR)$(UNITDIR)
	install -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/
	install -m 0755 $(INSTALL_LIBEXEC) $(DESTDIR)$(LIBEXECDIR)/
	install -m 0644 $(filter-out %.h %/.stamp,$(RT_OUT)) $(DESTDIR)$(RTDIR)/
	# The runtime's headers for programs (unik/service.h, lwIP's for --unik-lwip).
	if [ -d $(O)/runtime/include ]; then cp -R $(O)/runtime/include/. $(DESTDIR)$(RTDIR)/include/ && \
	    find $(DESTDIR)$(RTDIR)/include -name .stamp -delete && \
	    chmod -R u=rwX,go=rX $(DESTDIR)$(RTDIR)/include; fi
	install -m 0644 include/unik/*.h $(DESTDIR)$(INCDIR)/
	install -m 0644 $(O)/man/man1/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(O)/man/man5/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(O)/man/man8/*.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(O)/completion/unik.bash $(DESTDIR)$(BASHCOMPDIR)/unik
	install -m 0644 $(O)/completion/_unik $(DESTDIR)$(ZSHCOMPDIR)/_unik
	sed 's|@LIBEXECDIR@|$(LIBEXECDIR)|g' dist/systemd/unik.service.in \
	    > $(DESTDIR)$(UNITDIR)/unik.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/unik.service
	install -m 0644 dist/systemd/unik.socket $(DESTDIR)$(UNITDIR)/
	for f in $(INSTALL_DOCS); do install -D -m 0644 $$f $(DESTDIR)$(DOCDIR)/$${f#docs/}; done

# Removes what install wrote (the folders of its own, whole), whatever is built now.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,unik unik-cc unik-oci unik-spt unik-hvt)
	rm -rf $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(RTDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(MANDIR)/man1/unik.1 $(DESTDIR)$(MANDIR)/man1/unik-*.1 \
	    $(DESTDIR)$(MANDIR)/man5/unikfile.5 $(DESTDIR)$(MANDIR)/man8/unik-daemon.8 \
	    $(DESTDIR)$(MANDIR)/man8/unik-oci.8 $(DESTDIR)$(BASHCOMPDIR)/unik \
	    $(DESTDIR)$(ZSHCOMPDIR)/_unik $(DESTDIR)$(UNITDIR)/unik.service \
	    $(DESTDIR)$(UNITDIR)/unik.socket

# ---------------------------------------------------------------------------------------------
# Tests

-include tests/unit/unit.mk
-include tests/apps/apps.mk
-include tests/tools/tools.mk
-include tests/fuzz/fuzz.mk
-include bench/bench.mk

# The include graph of every source and the symbols of the objects (the unit tests' objects too:
# their .d files say what a file-specific -I made an include mean).
check-deps: all $(UNIT_SRCS:tests/unit/%.c=$(UNIT_OBJDIR)/%.o)
	$(PYTHON) scripts/check-deps --build $(O)

test: all unit-tests test-apps test-tools
	UNIK_BIN_DIR=$(abspath $(BIN)) UNIK_BUILD_DIR=$(abspath $(O)) $(PYTHON) tests/run.py $(if $(TESTS),--filter '$(TESTS)')

# The README's first command: unik builds examples/hello (its Makefile, CC=unik-cc) through the
# daemon, which the CLI starts on first use, then runs it on the local qemu provider attached.
example: all
	$(BIN)/unik build --force --name hello --path examples/hello
	$(BIN)/unik run --rm hello "from the README"

asan:
	$(MAKE) O=build/asan BIN=build/asan/bin SAN=1 test

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build bin

# Not the dependencies of bench-compare's base tree (bench/bench.mk), which it builds itself.
-include $(shell find $(O) \( -path $(O)/test-output -o -path $(O)/bench-base \) -prune -o \
	-name '*.d' -type f -print 2>/dev/null)
