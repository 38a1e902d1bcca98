# libFuzzer builds of the parsers of outside input (include from the top-level Makefile):
#   make fuzz                 builds build/fuzz/fuzz_{unikfile,untar,options,oci_config} with clang
#   build/fuzz/fuzz_untar tests/fuzz/corpus/untar -max_total_time=60
# make test replays tests/fuzz/corpus/* through the same entry points (tests/unit/test_fuzz_corpus.c).

FUZZ_CC    ?= clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -Iinclude -Ilib -I. -g -O1 \
	-fsanitize=fuzzer,address,undefined -DUNIK_VERSION='"$(VERSION)"'
FUZZ_LIB_SRCS := $(LIB_SRCS) $(CORE_SRCS)
FUZZ_NAMES := unikfile untar options oci_config

fuzz: $(FUZZ_NAMES:%=$(O)/fuzz/fuzz_%)
.PHONY: fuzz

$(O)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_SRCS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(FUZZ_LIB_SRCS) $(CORE_LIBS) -lm
