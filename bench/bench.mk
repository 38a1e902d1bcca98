# Benchmarks (included by the top-level Makefile): `make bench` boots examples/hello against
# the floor stub and reports boot time ratio, image size, the least memory hello runs in, and the least memory tests/apps/memstress runs
# in as a ratio to its native peak RSS.  bench_net.py compares examples/http as a unikernel with
# the same server in a minimal Linux guest (build/linux from scripts/install-deps), and the
# includeos build of an HTTP server (examples/includeos/http) with the rump one, in one run.
# bench_hvt.py times a mirage hello under unik-hvt against its virtio build on QEMU microvm with
# KVM.
# bench_vol.py runs bench/volbench.c on an ext2 volume and a 9p share the same way
# (docs/volumes.md).  bench_spt.py times a mirage-style hello under unik-spt against a native
# static one and reads an idle unik-spt instance's memory.

BENCH_DIR := $(O)/bench
# The Linux guest's /init and the native server, when musl-gcc is there (else bench_net.py skips
# the Linux figures).
BENCH_NET_NATIVE := $(if $(MUSL_GCC),$(BENCH_DIR)/linux_init $(BENCH_DIR)/http.native)
BENCH_VOL_NATIVE := $(if $(MUSL_GCC),$(BENCH_DIR)/linux_init $(BENCH_DIR)/volbench.native)

bench: $(BENCH_DIR)/floor.elf $(BENCH_DIR)/hello $(BENCH_DIR)/http.elf $(BENCH_NET_NATIVE) \
		$(if $(LWIP_OBJS),$(BENCH_DIR)/http-includeos.elf) \
		$(BENCH_DIR)/volbench.elf $(BENCH_VOL_NATIVE) all test-apps test-tools
	$(PYTHON) bench/run.py --hello $(BENCH_DIR)/hello --floor $(BENCH_DIR)/floor.elf \
		--memstress $(O)/tests/apps/memstress.elf --memstress-native $(O)/tests/apps/memstress.native \
		--threads $(O)/tests/apps/threads.elf --threads-native $(O)/tests/apps/threads.native \
		--json $(BENCH_DIR)/results.json $(BENCH_ARGS)
	$(PYTHON) bench/bench_cli.py --unik $(BIN)/unik --json $(BENCH_DIR)/cli.json
	$(PYTHON) bench/bench_api.py --unik $(BIN)/unik --json $(BENCH_DIR)/api.json
	$(PYTHON) bench/bench_disk.py --unik-pack $(BIN)/unik-pack --kernel $(O)/tests/apps/hello.elf \
		--json $(BENCH_DIR)/disk.json
	$(PYTHON) bench/bench_oci.py --unik-oci $(BIN)/unik-oci --unik-cc $(BIN)/unik-cc \
		--json $(BENCH_DIR)/oci.json
	$(PYTHON) bench/bench_kvm.py --build $(O) --bin $(BIN) --json $(BENCH_DIR)/kvm.json
	$(PYTHON) bench/bench_net.py --build $(O) --bin $(BIN) --json $(BENCH_DIR)/net.json
	$(PYTHON) bench/bench_spt.py --build $(O) --bin $(BIN) --json $(BENCH_DIR)/spt.json
	$(PYTHON) bench/bench_hvt.py --build $(O) --bin $(BIN) --json $(BENCH_DIR)/hvt.json
	$(PYTHON) bench/bench_vol.py --build $(O) --json $(BENCH_DIR)/vol.json

# bench_vol.py's program, as a unikernel and natively (static musl) for the Linux guest.
bench-vol: $(BENCH_DIR)/volbench.elf $(BENCH_VOL_NATIVE)
	$(PYTHON) bench/bench_vol.py --build $(O) --json $(BENCH_DIR)/vol.json $(BENCH_VOL_ARGS)

$(BENCH_DIR)/volbench.elf: bench/volbench.c $(APPS_DEPS)
	@mkdir -p $(dir $@)
	$(BIN)/unik-cc --unik-runtime-dir $(O)/runtime -O2 -Wall -o $@ $< || { rm -f $@; exit 1; }

$(BENCH_DIR)/volbench.native: bench/volbench.c
	@mkdir -p $(dir $@)
	$(MUSL_GCC) -static -O2 -Wall -o $@ $<

# The floor: a 32-bit multiboot v1 stub that prints one line and exits.
$(BENCH_DIR)/floor.elf: bench/floor/floor.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -nostdlib -static -no-pie -Wl,-Ttext=0x100000 -Wl,--build-id=none -o $@ $<

$(BENCH_DIR)/hello: examples/hello/hello.c $(BIN)/unik-cc $(O)/runtime/unikrt.o $(O)/runtime/mb1.o \
		$(O)/runtime/unik.ld
	@mkdir -p $(dir $@)
	$(BIN)/unik-cc --unik-runtime-dir $(O)/runtime -O2 -o $@ $< || { rm -f $@; exit 1; }

# examples/http, as a unikernel and natively (static musl), and the Linux guest's /init.
$(BENCH_DIR)/http.elf: examples/http/http.c $(APPS_DEPS)
	@mkdir -p $(dir $@)
	$(BIN)/unik-cc --unik-runtime-dir $(O)/runtime -O2 -Wall -pthread -o $@ $< || { rm -f $@; exit 1; }

# The same server as an includeos service (examples/includeos/http), against http.elf in one run
# (bench_net.py's includeos figures).
$(BENCH_DIR)/http-includeos.elf: examples/includeos/http/http.c $(BIN)/unik-cc \
		$(O)/runtime/unikrt-service.o $(O)/runtime/include/unik/service.h $(O)/runtime/unik.ld
	@mkdir -p $(dir $@)
	$(BIN)/unik-cc --unik-runtime-dir $(O)/runtime --unik-service -O2 -Wall -o $@ $< || \
		{ rm -f $@; exit 1; }

$(BENCH_DIR)/http.native: examples/http/http.c
	@mkdir -p $(dir $@)
	$(MUSL_GCC) -static -O2 -Wall -pthread -o $@ $<

$(BENCH_DIR)/linux_init: bench/linux_init.c
	@mkdir -p $(dir $@)
	$(MUSL_GCC) -static -O2 -Wall -Wextra -Werror -o $@ $<

.PHONY: bench

# A/B against a base commit (bench/compare.py): API throughput, `unik run -d` and `unik build` for
# this tree and for BASE, checked out and built in $(O)/bench-base, measured in pairs taken back to
# back in the same run and printed as ratios.  BENCH_SAMPLES (pairs per figure) and BENCH_SECONDS
# (API load per sample) set how long it takes.
bench-compare: all
	@test -n "$(BASE)" || { echo "usage: make bench-compare BASE=<rev> [BENCH_SAMPLES=7]" \
		"[BENCH_SECONDS=0.5]" >&2; exit 2; }
	$(PYTHON) bench/compare.py --base '$(BASE)' --base-dir $(O)/bench-base --bin $(BIN) \
		--json $(BENCH_DIR)/compare.json $(if $(BENCH_SAMPLES),--samples $(BENCH_SAMPLES)) \
		$(if $(BENCH_SECONDS),--seconds $(BENCH_SECONDS))

.PHONY: bench bench-vol bench-compare
