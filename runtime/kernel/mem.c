/* Memory: physical pages from the boot memory map (identity mapped), the page tables, the
 * kernel heap, the demand-paged user stack, and the process's brk/mmap system calls. */
#include "kernel/kernel.h"
#include "sys/syscall.h"
#include "sys/sysdefs.h"

#define PTE_P    0x1UL
#define PTE_W    0x2UL
#define PTE_U    0x4UL
#define PTE_PWT  0x8UL
#define PTE_PCD  0x10UL
#define PTE_PS   0x80UL
#define PTE_ADDR 0x000ffffffffff000UL
#define GIB      (1UL << 30)
#define MIB2     (1UL << 21)

/* The user stack lives outside the identity map, grows on demand like Linux's, and is capped
 * like Linux's default RLIMIT_STACK. */
#define STACK_TOP 0x00007ff000000000UL
#define STACK_MAX (8UL << 20)

extern uint64_t boot_pml4[512], boot_pd[512];

uint64_t lapic_base = 0xfee00000;

static uint64_t *used_map;  /* 1 = page not available */
static uint64_t *dirty_map; /* 1 = page may hold something other than zeros */
static uint64_t npages, ntotal;
static uint64_t brk_cur = 0x0000080000000000UL; /* BRK_BASE */

static uint64_t page_alloc_zeroed(void);
static bool in_mmap_area(uint64_t a);
static bool vma_contains(uint64_t a);
static void vma_add(uint64_t s, uint64_t e);

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

static bool vm_mapped(uint64_t va)
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

bool user_range_ok(const void *p, size_t n)
{
	uint64_t a = (uint64_t)p;
	if (a + n < a || a >= (1UL << 47))
		return false;
	for (uint64_t pg = PAGE_DOWN(a); pg < a + n; pg += PAGE_SIZE)
		if (!vm_mapped(pg) && !(in_mmap_area(pg) && vma_contains(pg)))
			return false;
	return true;
}

static uint64_t tlb_flush_r0(uint64_t u0, uint64_t u1, uint64_t u2)
{
	(void)u0, (void)u1, (void)u2;
	__asm__ volatile("mov %%cr3, %%rax\n\tmov %%rax, %%cr3" ::: "rax", "memory");
	return 0;
}

static void map_range_2m(uint64_t *pdpt, uint64_t start, uint64_t end, struct boot_info *bi)
{
	for (uint64_t a = start & ~(MIB2 - 1); a < end && a < (512 * GIB); a += MIB2) {
		uint64_t g = a / GIB;
		if (!(pdpt[g] & PTE_P))
			pdpt[g] = early_alloc(bi, PAGE_SIZE) | PTE_P | PTE_W | PTE_U;
		uint64_t *pd = (uint64_t *)(pdpt[g] & PTE_ADDR);
		if (!(pd[(a % GIB) / MIB2] & PTE_P))
			pd[(a % GIB) / MIB2] = a | PTE_P | PTE_W | PTE_U | PTE_PS;
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
	ring0(tlb_flush_r0, 0, 0, 0);
}

void mem_init(struct boot_info *bi)
{
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
	vma_add(STACK_TOP - STACK_MAX, STACK_TOP); /* the stack's reserve, mapped on demand */
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

/* Pages come from the top of RAM down, leaving room for brk to grow up from the kernel. */
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
static uint64_t page_alloc_zeroed(void)
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

/* --- the kernel heap: size classes with a 16-byte header; big blocks take whole pages --- */

#define KH_MAGIC   0x6b6d656d
#define KH_CLASSES 7 /* 32 .. 2048 */
struct khdr {
	uint32_t magic;
	uint32_t cls;  /* class, or KH_CLASSES for page blocks */
	uint64_t size; /* usable bytes */
};
struct kfree_node {
	struct kfree_node *next;
};
static struct kfree_node *kfree_lists[KH_CLASSES];
static uint64_t bump_next[KH_CLASSES], bump_end[KH_CLASSES];

void *kmalloc(size_t n)
{
	size_t need = n + sizeof(struct khdr);
	for (int c = 0; c < KH_CLASSES; c++) {
		size_t bs = 32UL << c;
		if (need > bs)
			continue;
		struct khdr *h;
		if (kfree_lists[c]) {
			h = (void *)kfree_lists[c];
			kfree_lists[c] = kfree_lists[c]->next;
		} else {
			/* Carve blocks from a page as they are asked for, not all at once. */
			if (bump_next[c] + bs > bump_end[c]) {
				uint64_t p = pages_alloc(1);
				if (!p)
					panic(
					    "kernel out of memory (%lu KiB of RAM; give the guest "
					    "more memory)",
					    mem_total_bytes() >> 10);
				bump_next[c] = p;
				bump_end[c] = p + PAGE_SIZE;
			}
			h = (void *)bump_next[c];
			bump_next[c] += bs;
		}
		*h = (struct khdr){KH_MAGIC, (uint32_t)c, bs - sizeof(*h)};
		return h + 1;
	}
	size_t np = PAGE_UP(need) / PAGE_SIZE;
	uint64_t p = pages_alloc(np);
	if (!p)
		return NULL;
	struct khdr *h = (void *)p;
	*h = (struct khdr){KH_MAGIC, KH_CLASSES, np * PAGE_SIZE - sizeof(*h)};
	return h + 1;
}

void *kzalloc(size_t n)
{
	void *p = kmalloc(n);
	if (p)
		k_memset(p, 0, n);
	return p;
}

void kfree(void *p)
{
	if (!p)
		return;
	struct khdr *h = (struct khdr *)p - 1;
	if (h->magic != KH_MAGIC)
		panic("kfree of a bad pointer %p", p);
	h->magic = 0;
	if (h->cls == KH_CLASSES) {
		pages_free((uint64_t)h, (h->size + sizeof(*h)) / PAGE_SIZE);
		return;
	}
	struct kfree_node *f = (void *)h;
	f->next = kfree_lists[h->cls];
	kfree_lists[h->cls] = f;
}

void *krealloc(void *p, size_t n)
{
	if (!p)
		return kmalloc(n);
	struct khdr *h = (struct khdr *)p - 1;
	if (n <= h->size)
		return p;
	void *q = kmalloc(n);
	if (!q)
		return NULL;
	k_memcpy(q, p, h->size);
	kfree(p);
	return q;
}

/* --- the user stack --- */

uint64_t user_stack_top(void)
{
	return STACK_TOP;
}

static bool area_fault(uint64_t addr);

/* Page faults in a mapping (the stack's reserve among them) map a fresh page; anything else is a
 * crash. */
bool mem_handle_fault(uint64_t addr)
{
	return area_fault(addr);
}

/* --- brk, mmap and friends --- */

/* --- the mmap area: virtual addresses of their own, backed page by page on first touch --- */

/* Anonymous and file mappings live in a virtual area outside the identity map, as in Linux:
 * each page is backed by whatever physical page is free when it is first touched, so mappings
 * need no physically contiguous run (no fragmentation), untouched pages cost nothing, munmap and
 * MADV_DONTNEED/MADV_FREE give pages back at once, and mremap moves page-table entries instead
 * of copying.  The area ends below the Xen console page and the stack. */
#define BRK_BASE  0x0000080000000000UL
#define MMAP_BASE 0x0000100000000000UL
#define MMAP_TOP  0x00007e0000000000UL

struct vma {
	uint64_t start, end;
};
static struct vma *vmas; /* sorted, disjoint, never adjacent (merged) */
static int nvma, vma_cap;

/* The mmap area, with brk's below it and the stack's above. */
static bool in_mmap_area(uint64_t a)
{
	return a >= BRK_BASE && a < STACK_TOP;
}

/* Index of the first vma that ends above a. */
static int vma_index(uint64_t a)
{
	int lo = 0, hi = nvma;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (vmas[mid].end <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool vma_contains(uint64_t a)
{
	int i = vma_index(a);
	return i < nvma && vmas[i].start <= a;
}

/* Whether [s, e) is wholly mapped, or wholly unmapped. */
static bool vma_covers(uint64_t s, uint64_t e)
{
	int i = vma_index(s);
	return i < nvma && vmas[i].start <= s && vmas[i].end >= e;
}

static bool vma_free(uint64_t s, uint64_t e)
{
	int i = vma_index(s);
	return i >= nvma || vmas[i].start >= e;
}

static void vma_remove(uint64_t s, uint64_t e)
{
	for (int i = vma_index(s); i < nvma && vmas[i].start < e;) {
		struct vma *v = &vmas[i];
		if (v->start < s && v->end > e) { /* a hole in the middle: split */
			if (nvma == vma_cap)
				goto grow;
			k_memmove(&vmas[i + 2], &vmas[i + 1], (size_t)(nvma - i - 1) * sizeof(*v));
			vmas[i + 1] = (struct vma){e, v->end};
			v->end = s;
			nvma++;
			return;
		}
		if (v->start < s) {
			v->end = s;
			i++;
		} else if (v->end > e) {
			v->start = e;
			return;
		} else {
			k_memmove(v, v + 1, (size_t)(nvma - i - 1) * sizeof(*v));
			nvma--;
		}
		continue;
	grow:
		vma_cap = vma_cap ? vma_cap * 2 : 64;
		vmas = krealloc(vmas, (size_t)vma_cap * sizeof(*vmas));
		if (!vmas)
			panic("out of memory tracking mappings");
	}
}

/* Adds [s, e), which must be free, merging it with its neighbours. */
static void vma_add(uint64_t s, uint64_t e)
{
	int i = vma_index(s);
	bool prev = i > 0 && vmas[i - 1].end == s, next = i < nvma && vmas[i].start == e;
	if (prev && next) {
		vmas[i - 1].end = vmas[i].end;
		k_memmove(&vmas[i], &vmas[i + 1], (size_t)(nvma - i - 1) * sizeof(*vmas));
		nvma--;
	} else if (prev) {
		vmas[i - 1].end = e;
	} else if (next) {
		vmas[i].start = s;
	} else {
		if (nvma == vma_cap) {
			vma_cap = vma_cap ? vma_cap * 2 : 64;
			vmas = krealloc(vmas, (size_t)vma_cap * sizeof(*vmas));
			if (!vmas)
				panic("out of memory tracking mappings");
		}
		k_memmove(&vmas[i + 1], &vmas[i], (size_t)(nvma - i) * sizeof(*vmas));
		vmas[i] = (struct vma){s, e};
		nvma++;
	}
}

/* The lowest gap of len bytes, with a free page after it so that neighbours never merge and
 * the newest mapping can usually grow in place. */
static uint64_t vma_find(uint64_t len)
{
	uint64_t at = MMAP_BASE;
	for (int i = 0; i < nvma; i++) {
		if (vmas[i].end < at)
			continue; /* brk's */
		if (vmas[i].start >= at + len + PAGE_SIZE)
			break;
		at = vmas[i].end + PAGE_SIZE;
	}
	return at + len <= MMAP_TOP ? at : 0;
}

/* The page-table entry of va, or NULL when no page table covers it (create: make one). */
static uint64_t *pte_of(uint64_t va, bool create)
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
static void area_unmap(uint64_t s, uint64_t e)
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
		ring0(tlb_flush_r0, 0, 0, 0);
}

/* Moves the pages behind [old, old + len) to [to, to + len), which has none. */
static int area_move(uint64_t old, uint64_t to, uint64_t len)
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
	area_unmap(old, old + len); /* only empty page tables are left to free */
	ring0(tlb_flush_r0, 0, 0, 0);
	return 0;
}

static uint64_t free_pages(void)
{
	return mem_free_bytes() / PAGE_SIZE;
}

/* A touch of a mapped page that has no memory behind it yet. */
static bool area_fault(uint64_t addr)
{
	if (!in_mmap_area(addr) || !vma_contains(addr))
		return false;
	uint64_t *pte = pte_of(PAGE_DOWN(addr), true);
	uint64_t p = pte ? page_alloc_zeroed() : 0;
	if (!p) {
		kprintf(UNIK_CONSOLE_PREFIX
		        "out of memory: no page left for address %lx (the guest "
		        "has %lu KiB of RAM; give it more memory)\n",
		        addr, mem_total_bytes() >> 10);
		proc_exit_crash();
	}
	if (*pte & PTE_P) { /* a stale TLB entry: the page is there now */
		pages_free(p, 1);
		return true;
	}
	*pte = p | PTE_P | PTE_W | PTE_U;
	return true;
}

/* brk: a mapping of its own at BRK_BASE, grown and shrunk like any other. */
long sys_brk(uint64_t addr)
{
	uint64_t cur = PAGE_UP(brk_cur), want = PAGE_UP(addr);
	if (addr < BRK_BASE || want > MMAP_BASE)
		return (long)brk_cur;
	if (want > cur) {
		if ((want - cur) / PAGE_SIZE > free_pages())
			return (long)brk_cur;
		vma_add(cur, want);
	} else if (want < cur) {
		vma_remove(want, cur);
		area_unmap(want, cur);
	}
	brk_cur = addr;
	return (long)brk_cur;
}

long file_read_for_mmap(int fd, void *buf, uint64_t len, uint64_t off);

long sys_mmap(uint64_t addr, uint64_t len, long prot, long flags, long fd, uint64_t off)
{
	if (!len || (off & (PAGE_SIZE - 1)))
		return -EINVAL;
	if (!(flags & (MAP_SHARED | MAP_PRIVATE)))
		return -EINVAL;
	if (len > MMAP_TOP - MMAP_BASE)
		return -ENOMEM;
	uint64_t n = PAGE_UP(len) / PAGE_SIZE;
	uint64_t p;
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (addr & (PAGE_SIZE - 1))
			return -EINVAL;
		/* Only within the mmap area: the rest of the address space is the identity map
		 * of RAM, the stack and the kernel. */
		if (addr < BRK_BASE || addr + n * PAGE_SIZE > MMAP_TOP)
			return -ENOMEM;
		if (!vma_free(addr, addr + n * PAGE_SIZE)) {
			if (flags & MAP_FIXED_NOREPLACE)
				return -EEXIST;
			vma_remove(addr, addr + n * PAGE_SIZE);
			area_unmap(addr, addr + n * PAGE_SIZE);
		}
		p = addr;
		vma_add(p, p + n * PAGE_SIZE);
	} else {
		/* Refuse what could not be backed now, so malloc returns NULL rather than the
		 * guest running out on a later touch; reservations (PROT_NONE, MAP_NORESERVE) are
		 * address space only, as in Linux. */
		if (prot != PROT_NONE && !(flags & MAP_NORESERVE) && n > free_pages())
			return -ENOMEM;
		p = vma_find(n * PAGE_SIZE);
		if (!p)
			return -ENOMEM;
		vma_add(p, p + n * PAGE_SIZE);
	}
	if (!(flags & MAP_ANONYMOUS)) {
		long r = file_read_for_mmap((int)fd, (void *)p, len, off);
		if (r < 0) {
			vma_remove(p, p + n * PAGE_SIZE);
			area_unmap(p, p + n * PAGE_SIZE);
			return r;
		}
	}
	return (long)p;
}

long sys_munmap(uint64_t addr, uint64_t len)
{
	if ((addr & (PAGE_SIZE - 1)) || !len || len > (1UL << 47))
		return -EINVAL;
	uint64_t end = addr + PAGE_UP(len);
	if (in_mmap_area(addr) || in_mmap_area(end - 1)) {
		/* Not past the mapping area: the Xen console page and the stack lie above it. */
		uint64_t s = MAX(addr, BRK_BASE), e = MIN(end, MMAP_TOP);
		if (s < e) {
			vma_remove(s, e);
			area_unmap(s, e);
		}
	}
	return 0;
}

long sys_mremap(uint64_t old, uint64_t old_len, uint64_t new_len, long flags, uint64_t new_addr)
{
	(void)new_addr;
	if ((old & (PAGE_SIZE - 1)) || !new_len || (flags & MREMAP_FIXED))
		return -EINVAL;
	if (old_len > MMAP_TOP - MMAP_BASE || new_len > MMAP_TOP - MMAP_BASE)
		return -ENOMEM;
	uint64_t on = PAGE_UP(old_len) / PAGE_SIZE, nn = PAGE_UP(new_len) / PAGE_SIZE;
	uint64_t olen = on * PAGE_SIZE, nlen = nn * PAGE_SIZE;
	if (!on || !in_mmap_area(old) || old + olen > MMAP_TOP || !vma_covers(old, old + olen))
		return -EFAULT;
	if (nn <= on) {
		vma_remove(old + nlen, old + olen);
		area_unmap(old + nlen, old + olen);
		return (long)old;
	}
	if (nn - on > free_pages())
		return -ENOMEM;
	if (old + nlen <= MMAP_TOP && vma_free(old + olen, old + nlen)) {
		vma_add(old + olen, old + nlen);
		return (long)old;
	}
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	uint64_t p = vma_find(nlen);
	if (!p)
		return -ENOMEM;
	vma_add(p, p + nlen);
	if (area_move(old, p, olen) < 0) {
		vma_remove(p, p + nlen);
		area_unmap(p, p + nlen);
		return -ENOMEM;
	}
	vma_remove(old, old + olen);
	return (long)p;
}

/* Protection is not enforced: the identity map is read-write, and musl only asks for it to
 * set up guard pages. */
long sys_mprotect(uint64_t addr, uint64_t len, long prot)
{
	(void)len, (void)prot;
	return (addr & (PAGE_SIZE - 1)) ? -EINVAL : 0;
}

long sys_madvise(uint64_t addr, uint64_t len, long advice)
{
	if (addr & (PAGE_SIZE - 1))
		return -EINVAL;
	uint64_t end = addr + PAGE_UP(len);
	if (end < addr)
		return -EINVAL;
	/* MADV_DONTNEED promises zeros on the next touch of private anonymous memory; MADV_FREE
	 * allows them.  In the mmap area both give the pages back. */
	if ((advice == MADV_DONTNEED || advice == MADV_FREE) && in_mmap_area(addr)) {
		if (!vma_covers(addr, end))
			return -ENOMEM;
		area_unmap(addr, end);
	}
	return 0;
}

/* --- the system calls of this file, for the table in sys/syscall.c --- */

SYSCALL(9)
{
	return sys_mmap(a0, a1, a2, a3, a4, a5);
}

SYSCALL(10)
{
	return sys_mprotect(a0, a1, a2);
}

SYSCALL(11)
{
	return sys_munmap(a0, a1);
}

SYSCALL(12)
{
	return sys_brk(a0);
}

SYSCALL(25)
{
	return sys_mremap(a0, a1, a2, a3, a4);
}

SYSCALL(28)
{
	return sys_madvise(a0, a1, a2);
}
