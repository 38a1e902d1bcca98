/* libFuzzer target: the guest ELF check (lib/guest_elf.c), which reads kernels from uploads,
 * container root file systems and image stores: parsed from memory and verified. */
#include <stdint.h>
#include <stdlib.h>

#include "lib/guest_elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct unik_guest_elf g;
	struct unik_error err;

	if (unik_guest_elf_parse_mem(data, size, "kernel.elf", &g, &err) == 0)
		(void)unik_guest_elf_verify(&g, "kernel.elf", &err);
	return 0;
}
