/* Reads what the loader handed over (PVH start info, multiboot v1 or v2 information) into one
 * shape: RAM ranges, reserved ranges, modules and the command line. */
#include "kernel/kernel.h"
#include "platform/xen/xen.h"

struct mb1_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
	uint32_t syms[4];
	uint32_t mmap_length, mmap_addr;
};

struct mb1_module {
	uint32_t start, end, cmdline, pad;
};

struct mb1_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

/* Loader structures are read before page.c maps all of RAM. */
static const void *early(uint64_t addr, uint64_t size)
{
	if (addr + size > boot_mapped_end() || addr + size < addr)
		panic("boot information at %lx lies beyond the early memory map", addr);
	return (const void *)addr;
}

static void add(struct boot_range *r, int *n, uint64_t start, uint64_t end)
{
	if (end > start && *n < BOOT_MAX_RANGES)
		r[(*n)++] = (struct boot_range){start, end};
}

static void add_ram(struct boot_info *bi, uint64_t addr, uint64_t size, uint32_t type)
{
	if (type == 1)
		add(bi->ram, &bi->nram, addr, addr + size);
}

static void add_module(struct boot_info *bi, uint64_t start, uint64_t end)
{
	if (end > start && bi->nmodules < BOOT_MAX_MODULES) {
		bi->modules[bi->nmodules++] = (struct boot_range){start, end};
		add(bi->reserved, &bi->nreserved, start, end);
	}
}

static void set_cmdline(struct boot_info *bi, uint64_t addr)
{
	if (!addr)
		return;
	bi->cmdline = addr;
	early(addr, 1);
	bi->cmdline_len = k_strnlen((const char *)addr, boot_mapped_end() - addr);
	add(bi->reserved, &bi->nreserved, addr, addr + bi->cmdline_len + 1);
}

static void parse_pvh(struct boot_info *bi, const struct unik_xen_start_info *si)
{
	bi->loader = "pvh";
	bi->memory_clean = true;
	if (si->magic != BOOT_MAGIC_PVH)
		panic("PVH start info has a bad magic %x", si->magic);
	add(bi->reserved, &bi->nreserved, (uint64_t)si, (uint64_t)(si + 1));
	set_cmdline(bi, si->cmdline_paddr);
	const struct unik_xen_modlist_entry *m =
	    early(si->modlist_paddr, si->nr_modules * sizeof(*m));
	for (uint32_t i = 0; i < si->nr_modules; i++)
		add_module(bi, m[i].paddr, m[i].paddr + m[i].size);
	if (si->version >= 1 && si->memmap_paddr) {
		const struct unik_xen_memmap_entry *e =
		    early(si->memmap_paddr, si->memmap_entries * sizeof(*e));
		for (uint32_t i = 0; i < si->memmap_entries; i++)
			add_ram(bi, e[i].addr, e[i].size, e[i].type);
	}
	/* Start info version 0 (Xen before 4.11) has no map: Xen itself gives it. */
	if (!bi->nram) {
		struct unik_xen_e820 x[BOOT_MAX_RANGES];
		int n = xen_memory_map(x, BOOT_MAX_RANGES);
		for (int i = 0; i < n; i++)
			add_ram(bi, x[i].addr, x[i].size, x[i].type);
	}
	if (!bi->nram)
		panic("the PVH loader gave no memory map");
}

static void parse_mb1(struct boot_info *bi, const struct mb1_info *mi)
{
	bi->loader = "multiboot";
	bi->drop_first_word = true;
	if (mi->flags & (1 << 2))
		set_cmdline(bi, mi->cmdline);
	if (mi->flags & (1 << 3)) {
		const struct mb1_module *m = early(mi->mods_addr, mi->mods_count * sizeof(*m));
		for (uint32_t i = 0; i < mi->mods_count; i++)
			add_module(bi, m[i].start, m[i].end);
	}
	if (mi->flags & (1 << 6)) {
		uint64_t p = (uint64_t)early(mi->mmap_addr, mi->mmap_length),
		         end = p + mi->mmap_length;
		while (p < end) {
			const struct mb1_mmap *e = (const void *)p;
			add_ram(bi, e->addr, e->len, e->type);
			p += e->size + 4;
		}
	} else if (mi->flags & 1) {
		add_ram(bi, 0, (uint64_t)mi->mem_lower << 10, 1);
		add_ram(bi, 1 << 20, (uint64_t)mi->mem_upper << 10, 1);
	}
	if (!bi->nram)
		panic("the multiboot loader gave no memory map");
}

static void parse_mb2(struct boot_info *bi, uint64_t info)
{
	bi->loader = "multiboot2";
	/* GRUB's multiboot2 command line holds only the arguments (checked by booting a GRUB
	 * disk); QEMU's multiboot v1 loader, by contrast, puts the kernel's path first. */
	uint32_t total = *(const uint32_t *)early(info, 8);
	early(info, total);
	add(bi->reserved, &bi->nreserved, info, info + total);
	uint64_t p = info + 8, end = info + total;
	while (p + 8 <= end) {
		uint32_t type = *(const uint32_t *)p, size = *(const uint32_t *)(p + 4);
		if (type == 0)
			break;
		if (type == 1) {
			set_cmdline(bi, p + 8);
		} else if (type == 3) {
			const uint32_t *m = (const void *)(p + 8);
			add_module(bi, m[0], m[1]);
		} else if (type == 6) {
			uint32_t esize = *(const uint32_t *)(p + 8);
			for (uint64_t e = p + 16; esize && e + esize <= p + size; e += esize) {
				const uint64_t *q = (const void *)e;
				add_ram(bi, q[0], q[1], *(const uint32_t *)(e + 16));
			}
		}
		p += (size + 7) & ~7u;
	}
	if (!bi->nram)
		panic("the multiboot2 loader gave no memory map");
}

/* The first 2 MiB in 4 KiB pages, page 0 left out so that NULL faults (boot.S maps them as one
 * 2 MiB page until the loader's tables have been read). */
extern uint64_t boot_pt[512], boot_pd[512];

static uint64_t forget_page0_r0(uint64_t a, uint64_t b, uint64_t c)
{
	(void)a, (void)b, (void)c;
	__asm__ volatile("mov %%cr3, %%rax\n\tmov %%rax, %%cr3" ::: "rax", "memory");
	return 0;
}

static void unmap_page0(void)
{
	for (uint64_t i = 1; i < 512; i++)
		boot_pt[i] = i << 12 | 7;
	boot_pd[0] = (uint64_t)boot_pt | 7;
	ring0(forget_page0_r0, 0, 0, 0);
}

void boot_parse(uint32_t magic, uint64_t info, struct boot_info *bi)
{
	k_memset(bi, 0, sizeof(*bi));
	/* Loaders may leave their tables in page 0: QEMU's PVH option ROM on -M pc puts the
	 * memory map there.  Page 0 is mapped while they are read, and only then: everything
	 * kept from them is copied into bi. */
	switch (magic) {
	case BOOT_MAGIC_PVH:
		parse_pvh(bi, early(info, sizeof(struct unik_xen_start_info)));
		break;
	case BOOT_MAGIC_MB1:
		add(bi->reserved, &bi->nreserved, info, info + sizeof(struct mb1_info));
		parse_mb1(bi, early(info, sizeof(struct mb1_info)));
		break;
	case BOOT_MAGIC_MB2:
		parse_mb2(bi, info);
		break;
	default:
		panic("unknown boot loader (magic %x)", magic);
	}
	unmap_page0();
}
