# Benchmarks (included by the top-level Makefile): `make bench` boots examples/hello against
# the floor stub and reports boot time ratio, image size, the least memory hello runs in, and the least memory tests/apps/memstress runs
# in as a ratio to its native peak RSS.  bench_net.py compares examples/http as a unikernel with
# the same server in a minimal Linux guest (build/linux from scripts/install-deps).  bench_spt.py
# times a mirage-style hello under unik-spt against a native static one and reads an idle
# unik-spt instance's memory.

BENCH_DIR := $(O)/bench
# The Linux guest's /init and the native server, when musl-gcc is there (else bench_net.py skips
# the Linux figures).
BENCH_NET_NATIVE := $(if $(MUSL_GCC),$(BENCH_DIR)/linux_init $(BENCH_DIR)/http.native)

bench: $(BENCH_DIR)/floor.elf $(BENCH_DIR)/hello $(BENCH_DIR)/http.elf $(BENCH_NET_NATIVE) all \
		test-apps test-tools
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

.PHONY: bench bench-compare
