/* libFuzzer target: unik-hvt's loader of a kernel into guest memory (lib/hvt_elf.c), which takes
 * whatever file it is given: loaded into 4 MiB of guest memory, segments from 1 MiB up. */
#include <stdint.h>
#include <stdlib.h>

#include "lib/hvt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t mem[4 << 20];
	struct unik_hvt_image img;
	struct unik_error err;

	if (unik_hvt_elf_load(data, size, "kernel.elf", mem, sizeof(mem), 1 << 20, &img, &err) ==
	        0 &&
	    (img.entry < img.load_start || img.entry >= img.load_end || img.load_end > sizeof(mem)))
		abort(); /* a load that succeeded must have stayed inside memory */
	return 0;
}
