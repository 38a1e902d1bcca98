/* Physical pages from the boot memory map (identity mapped), and the page tables: the identity
 * map of RAM, and the helpers sys/mm.c maps, protects and unmaps user pages with. */
#include "kernel/kernel.h"

#define GIB  (1UL << 30)
#define MIB2 (1UL << 21)

extern uint64_t boot_pml4[512], boot_pd[512];

uint64_t lapic_base = 0xfee00000;
uint64_t pte_nx;

static uint64_t *used_map;  /* 1 = page not available */
static uint64_t *dirty_map; /* 1 = page may hold something other than zeros */
static uint64_t npages, ntotal;

static inline bool bit(const uint64_t *m, uint64_t pfn)
{
	return m[pfn >> 6] >> (pfn & 63) & 1;
}

/* Whole words at a time: under PVM-style nested hypervisors every ring-0 instruction is
 * emulated, so the runtime's own loops must be short. */
static void set_bits(uint64_t *m, uint64_t pfn, uint64_t n, bool v)
{
	for (; n && (pfn & 63); pfn++, n--)
		m[pfn >> 6] =
		    v ? m[pfn >> 6] | 1UL << (pfn & 63) : m[pfn >> 6] & ~(1UL << (pfn & 63));
	if (n >= 64) {
		k_memset(&m[pfn >> 6], v ? 0xff : 0, n / 64 * 8);
		pfn += n & ~63UL;
		n &= 63;
	}
	for (; n; pfn++, n--)
		m[pfn >> 6] =
		    v ? m[pfn >> 6] | 1UL << (pfn & 63) : m[pfn >> 6] & ~(1UL << (pfn & 63));
}

/* --- early allocation: before the bitmap exists, below the first GiB the boot map covers --- */

static bool overlaps(const struct boot_range *r, int n, uint64_t s, uint64_t e, uint64_t *below)
{
	for (int i = 0; i < n; i++)
		if (s < r[i].end && r[i].start < e) {
			*below = r[i].start;
			return true;
		}
	return false;
}

/* What boot.S mapped: the kernel's end plus 64 MiB, in 2 MiB pages, within the first GiB. */
uint64_t boot_mapped_end(void)
{
	uint64_t e = ((uint64_t)__unik_image_end + (64UL << 20) + MIB2 - 1) & ~(MIB2 - 1);
	return MIN(e, GIB);
}

static uint64_t early_alloc(struct boot_info *bi, uint64_t size)
{
	size = PAGE_UP(size);
	uint64_t kend = PAGE_UP((uint64_t)__unik_image_end);
	for (int i = bi->nram - 1; i >= 0; i--) {
		uint64_t lo = MAX(PAGE_UP(bi->ram[i].start), kend);
		uint64_t top = PAGE_DOWN(MIN(bi->ram[i].end, boot_mapped_end()));
		while (top >= lo + size) {
			uint64_t below;
			if (!overlaps(bi->reserved, bi->nreserved, top - size, top, &below)) {
				if (bi->nreserved >= BOOT_MAX_RANGES)
					panic("too many reserved memory ranges");
				bi->reserved[bi->nreserved++] =
				    (struct boot_range){top - size, top};
				k_memset((void *)(top - size), 0, size);
				return top - size;
			}
			top = PAGE_DOWN(below);
		}
	}
	panic("out of memory while starting (%lu bytes wanted)", size);
}

/* --- page tables --- */

bool vm_mapped(uint64_t va)
{
	uint64_t *t = boot_pml4;
	for (int shift = 39; shift >= 12; shift -= 9) {
		uint64_t e = t[(va >> shift) & 511];
		if (!(e & PTE_P))
			return false;
		if (shift == 12 || (e & PTE_PS))
			return true;
		t = (uint64_t *)(e & PTE_ADDR);
	}
	return true;
}

static uint64_t tlb_flush_r0(uint64_t u0, uint64_t u1, uint64_t u2)
{
	(void)u0, (void)u1, (void)u2;
	__asm__ volatile("mov %%cr3, %%rax\n\tmov %%rax, %%cr3" ::: "rax", "memory");
	return 0;
}

void tlb_flush(void)
{
	ring0(tlb_flush_r0, 0, 0, 0);
}

/* The page-table entry of va, or NULL when no page table covers it (create: make one). */
uint64_t *pte_of(uint64_t va, bool create)
{
	uint64_t *t = boot_pml4;
	for (int shift = 39; shift > 12; shift -= 9) {
		uint64_t *e = &t[(va >> shift) & 511];
		if (!(*e & PTE_P)) {
			if (!create)
				return NULL;
			uint64_t p = page_alloc_zeroed();
			if (!p)
				return NULL;
			*e = p | PTE_P | PTE_W | PTE_U;
		}
		t = (uint64_t *)(*e & PTE_ADDR);
	}
	return &t[(va >> 12) & 511];
}

static bool table_empty(const uint64_t *t)
{
	for (int i = 0; i < 512; i++)
		if (t[i])
			return false;
	return true;
}

/* Frees the pages behind [s, e) and the page tables left empty; flushes the TLB once. */
void pt_unmap(uint64_t s, uint64_t e)
{
	bool any = false;
	for (uint64_t a = s; a < e;) {
		uint64_t *pdpt = NULL, *pd = NULL, *pt = NULL;
		uint64_t *e4 = &boot_pml4[(a >> 39) & 511];
		if (*e4 & PTE_P) {
			pdpt = (uint64_t *)(*e4 & PTE_ADDR);
			if (pdpt[(a >> 30) & 511] & PTE_P) {
				pd = (uint64_t *)(pdpt[(a >> 30) & 511] & PTE_ADDR);
				if (pd[(a >> 21) & 511] & PTE_P)
					pt = (uint64_t *)(pd[(a >> 21) & 511] & PTE_ADDR);
			}
		}
		uint64_t next2m = (a | (MIB2 - 1)) + 1;
		if (!pt) {
			a = MIN(next2m, e);
			continue;
		}
		uint64_t stop = MIN(next2m, e);
		for (; a < stop; a += PAGE_SIZE) {
			uint64_t *pte = &pt[(a >> 12) & 511];
			if (*pte & PTE_P) {
				pages_free(*pte & PTE_ADDR, 1);
				*pte = 0;
				any = true;
			}
		}
		if (table_empty(pt)) {
			pd[((a - 1) >> 21) & 511] = 0;
			pages_free((uint64_t)pt, 1);
			any = true;
		}
	}
	if (any)
		tlb_flush();
}

/* Moves the pages behind [old, old + len) to [to, to + len), which has none. */
int pt_move(uint64_t old, uint64_t to, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += PAGE_SIZE) {
		uint64_t *src = pte_of(old + off, false);
		if (!src || !(*src & PTE_P))
			continue;
		uint64_t *dst = pte_of(to + off, true);
		if (!dst)
			return -ENOMEM;
		*dst = *src;
		*src = 0;
	}
	pt_unmap(old, old + len); /* only empty page tables are left to free */
	tlb_flush();
	return 0;
}

/* Sets the rights of the pages behind [s, e) to bits (PTE_W, PTE_U, PTE_NX), keeping their
 * dirty bits for msync; flushes the TLB once, so that a fault on a present page always means a
 * protection violation. */
void pt_protect(uint64_t s, uint64_t e, uint64_t bits)
{
	bool any = false;
	for (uint64_t a = s; a < e; a += PAGE_SIZE) {
		uint64_t *pte = pte_of(a, false);
		if (!pte) {
			/* No page table: the rest of this 2 MiB holds no page either. */
			a = (a | (MIB2 - 1)) + 1 - PAGE_SIZE;
			continue;
		}
		if (*pte & PTE_P) {
			*pte = (*pte & (PTE_ADDR | PTE_D)) | PTE_P | bits;
			any = true;
		}
	}
	if (any)
		tlb_flush();
}
static void map_range_2m(uint64_t *pdpt, uint64_t start, uint64_t end, struct boot_info *bi)
{
	for (uint64_t a = start & ~(MIB2 - 1); a < end && a < (512 * GIB); a += MIB2) {
		uint64_t g = a / GIB;
		if (!(pdpt[g] & PTE_P))
			pdpt[g] = early_alloc(bi, PAGE_SIZE) | PTE_P | PTE_W | PTE_U;
		uint64_t *pd = (uint64_t *)(pdpt[g] & PTE_ADDR);
		if (!(pd[(a % GIB) / MIB2] & PTE_P))
			pd[(a % GIB) / MIB2] = a | PTE_P | PTE_W | PTE_U | PTE_PS | pte_nx;
	}
}

/* Identity-map every 2 MiB block that holds RAM (the first is boot_pt's 4 KiB pages, page 0
 * left out), and the local APIC uncached.  The boot code mapped the kernel and what follows it;
 * blocks past RAM are unmapped again, so a wild pointer faults as it would in Linux. */
static void map_identity(struct boot_info *bi, uint64_t top)
{
	uint64_t *pdpt = (uint64_t *)(boot_pml4[0] & PTE_ADDR);
	uint64_t first_free = top / MIB2 + (top % MIB2 != 0);
	if (first_free < 512)
		k_memset(&boot_pd[MAX(first_free, 1UL)], 0, (512 - MAX(first_free, 1UL)) * 8);
	/* Past the image's last 2 MiB block RAM holds data only (the heap, page tables, files):
	 * not executable. */
	for (uint64_t b = PAGE_UP((uint64_t)__unik_image_end) / MIB2 + 1;
	     b < MIN(first_free, 512UL); b++)
		if (boot_pd[b] & PTE_P)
			boot_pd[b] |= pte_nx;
	for (int i = 0; i < bi->nram; i++)
		map_range_2m(pdpt, bi->ram[i].start, bi->ram[i].end, bi);
	for (int i = 0; i < bi->nreserved; i++)
		map_range_2m(pdpt, bi->reserved[i].start, bi->reserved[i].end, bi);
	lapic_base = cpu_rdmsr(0x1b) & PTE_ADDR;
	uint64_t lg = lapic_base / GIB;
	if (lg < 512) {
		if (!(pdpt[lg] & PTE_P))
			pdpt[lg] = early_alloc(bi, PAGE_SIZE) | PTE_P | PTE_W | PTE_U;
		uint64_t *pd = (uint64_t *)(pdpt[lg] & PTE_ADDR);
		uint64_t idx = (lapic_base % GIB) / MIB2;
		if (!(pd[idx] & PTE_P))
			pd[idx] =
			    (lapic_base & ~(MIB2 - 1)) | PTE_P | PTE_W | PTE_PS | PTE_PCD | PTE_PWT;
	}
	tlb_flush();
}

/* Data pages are mapped no-execute (W^X) where the CPU can: the NX bit is reserved, and faults,
 * until EFER.NXE is on, and only CPUs that list NX in CPUID take it. */
static void nx_init(void)
{
	uint32_t r[4];
	cpuid(0x80000000, 0, r);
	if (r[0] < 0x80000001)
		return;
	cpuid(0x80000001, 0, r);
	if (!(r[3] >> 20 & 1))
		return;
	cpu_wrmsr(0xc0000080, cpu_rdmsr(0xc0000080) | 0x800);
	pte_nx = PTE_NX;
}

/* The rights of page a of the image's 2 MiB blocks: code read-only and executable, constants
 * read-only, data and .bss (and what lies around the image) writable, never executable.  A page
 * shared by two kinds gets the rights of both. */
static uint64_t image_rights(uint64_t a)
{
	if (a >= (uint64_t)__unik_xbss_start && a < (uint64_t)__unik_xbss_end)
		return 0;
	if (a < (uint64_t)__unik_image_start || a >= PAGE_DOWN((uint64_t)__unik_data_start))
		return PTE_W | pte_nx;
	return a < (uint64_t)__unik_rodata_start ? 0 : pte_nx;
}

/* W^X for the image, which boot.S mapped writable and executable: the first 2 MiB already are
 * 4 KiB pages (boot_pt); the image's other blocks get page tables of their own.  The kernel runs
 * in ring 0 with CR0.WP set, so it cannot write its own code either. */
static void image_protect(void)
{
	extern uint64_t boot_pt[512];
	uint64_t first = (uint64_t)__unik_image_start / MIB2;
	uint64_t last = ((uint64_t)__unik_image_end - 1) / MIB2;
	for (uint64_t b = first; b <= last; b++) {
		uint64_t *pt = boot_pt;
		if (b) {
			if (!(boot_pd[b] & PTE_PS) || !(pt = (uint64_t *)page_alloc_zeroed()))
				continue;
		}
		for (uint64_t i = b ? 0 : 1; i < 512; i++) {
			uint64_t a = b * MIB2 + i * PAGE_SIZE;
			pt[i] = a | PTE_P | PTE_U | image_rights(a);
		}
		if (b)
			boot_pd[b] = (uint64_t)pt | PTE_P | PTE_W | PTE_U;
	}
	tlb_flush();
}

void mem_init(struct boot_info *bi)
{
	nx_init();
	uint64_t top = 0;
	for (int i = 0; i < bi->nram; i++)
		top = MAX(top, bi->ram[i].end);
	/* boot.S checked this for PVH and multiboot v1 before touching .bss; other loaders. */
	uint64_t need = PAGE_UP((uint64_t)__unik_image_end) + UNIK_MIN_FREE_KB * 1024;
	if (top < need) {
		kprintf(UNIK_CONSOLE_PREFIX
		        "out of memory: the guest has %lu KiB of RAM, the kernel "
		        "needs at least %lu KiB (give it more memory)\n",
		        top >> 10, need >> 10);
		proc_exit(UNIK_EXIT_CRASH);
	}
	npages = top / PAGE_SIZE;
	uint64_t words = (npages + 63) / 64;
	used_map = (uint64_t *)early_alloc(bi, words * 8);
	dirty_map = (uint64_t *)early_alloc(bi, words * 8);
	map_identity(bi, top);
	/* PVH loaders (QEMU, Firecracker, Xen) hand over RAM they never wrote, which is zero;
	 * boot loaders such as GRUB leave their own data behind. */
	if (!bi->memory_clean)
		k_memset(dirty_map, 0xff, words * 8);

	k_memset(used_map, 0xff, words * 8);
	for (int i = 0; i < bi->nram; i++) {
		uint64_t s = PAGE_UP(bi->ram[i].start) / PAGE_SIZE,
		         e = PAGE_DOWN(bi->ram[i].end) / PAGE_SIZE;
		if (e > s) {
			set_bits(used_map, s, e - s, false);
			ntotal += e - s;
		}
	}
	/* The kernel image and everything below it (page 0, BIOS data, the loader's tables). */
	set_bits(used_map, 0, PAGE_UP((uint64_t)__unik_image_end) / PAGE_SIZE, true);
	set_bits(dirty_map, 0, PAGE_UP((uint64_t)__unik_image_end) / PAGE_SIZE, true);
	for (int i = 0; i < bi->nreserved; i++) {
		uint64_t s = PAGE_DOWN(bi->reserved[i].start) / PAGE_SIZE;
		uint64_t e = MIN(PAGE_UP(bi->reserved[i].end) / PAGE_SIZE, npages);
		if (e > s) {
			set_bits(used_map, s, e - s, true);
			set_bits(dirty_map, s, e - s, true);
		}
	}
	if (npages & 63) /* bits past the end must never look free */
		used_map[npages >> 6] |= ~0UL << (npages & 63);
	image_protect();
}

/* --- the page bitmaps, scanned a word (64 pages) at a time --- */

static uint64_t busy(bool clean_only, uint64_t w)
{
	return clean_only ? used_map[w] | dirty_map[w] : used_map[w];
}

/* The highest run of n pages whose bits are all clear in used_map (and, with clean_only, in
 * dirty_map).  Returns the run's first page, or -1. */
static int64_t find_run(uint64_t n, bool clean_only)
{
	uint64_t run = 0;
	for (uint64_t p = npages; p > 0;) {
		if (!(p & 63) && p >= 64) {
			uint64_t w = busy(clean_only, (p - 64) >> 6);
			if (w == 0 || w == ~0UL) {
				run = w ? 0 : run + 64;
				p -= 64;
				if (run >= n)
					return (int64_t)(p + run - n);
				continue;
			}
		}
		p--;
		run = busy(clean_only, p >> 6) >> (p & 63) & 1 ? 0 : run + 1;
		if (run >= n)
			return (int64_t)(p + run - n);
	}
	return -1;
}

/* Pages come from the top of RAM down. */
uint64_t pages_alloc(size_t n)
{
	int64_t p = find_run(n, false);
	if (p < 0)
		return 0;
	set_bits(used_map, (uint64_t)p, n, true);
	set_bits(dirty_map, (uint64_t)p, n, true);
	return (uint64_t)p * PAGE_SIZE;
}

/* One page of zeros: a page nobody ever wrote if there is one, else one cleared here. */
uint64_t page_alloc_zeroed(void)
{
	int64_t p = find_run(1, true);
	bool clean = p >= 0;
	if (!clean)
		p = find_run(1, false);
	if (p < 0)
		return 0;
	set_bits(used_map, (uint64_t)p, 1, true);
	set_bits(dirty_map, (uint64_t)p, 1, true);
	if (!clean)
		k_memset((void *)(p * PAGE_SIZE), 0, PAGE_SIZE);
	return (uint64_t)p * PAGE_SIZE;
}

void pages_free(uint64_t addr, size_t n)
{
	uint64_t pfn = addr / PAGE_SIZE;
	if (pfn + n > npages)
		n = pfn < npages ? npages - pfn : 0;
	if (n)
		set_bits(used_map, pfn, n, false);
}

uint64_t mem_total_bytes(void)
{
	return ntotal * PAGE_SIZE;
}

/* Counted when asked (sysinfo, statfs): keeping a running count costs every allocation. */
uint64_t mem_free_bytes(void)
{
	uint64_t n = 0;
	for (uint64_t w = 0; w < (npages + 63) / 64; w++)
		n += (uint64_t)__builtin_popcountll(~used_map[w]);
	return n * PAGE_SIZE;
}
