/* The process's address space: the demand-paged stack, brk, and the mmap family (mmap, munmap,
 * mremap, mprotect, madvise, msync) over mappings that remember their rights and their file. */
#include "kernel/kernel.h"
#include "fs/fs.h"
#include "sys/syscall.h"
#include "sys/sysdefs.h"

/* The user stack lives outside the identity map, grows on demand like Linux's, and is capped
 * like Linux's default RLIMIT_STACK. */
#define STACK_TOP 0x00007ff000000000UL
#define STACK_MAX (8UL << 20)

/* Anonymous and file mappings live in a virtual area outside the identity map, as in Linux:
 * each page is backed by whatever physical page is free when it is first touched, so mappings
 * need no physically contiguous run (no fragmentation), untouched pages cost nothing, munmap and
 * MADV_DONTNEED/MADV_FREE give pages back at once, and mremap moves page-table entries instead
 * of copying.  The area ends below the Xen console page and the stack. */
#define BRK_BASE  0x0000080000000000UL
#define MMAP_BASE 0x0000100000000000UL
#define MMAP_TOP  0x00007e0000000000UL

#define VMA_SHARED  1 /* a MAP_SHARED file mapping: written pages go back to the file */
#define VMA_NOWRITE 2 /* its file was not opened for writing: PROT_WRITE is refused */

/* A mapping: its rights, and for a file mapping the inode (one open_count reference per vma) and
 * the file offset of its first page.  File pages are read in on first touch, like anonymous
 * ones are zeroed. */
struct vma {
	uint64_t start, end;
	struct inode *ino;
	uint64_t off;
	uint8_t prot, flags;
};
static struct vma *vmas; /* sorted, disjoint; neighbours alike are merged */
static int nvma, vma_cap;
static uint64_t brk_cur = BRK_BASE;

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

static struct vma *vma_find_at(uint64_t a)
{
	int i = vma_index(a);
	return i < nvma && vmas[i].start <= a ? &vmas[i] : NULL;
}

/* Whether [s, e) is wholly mapped (by one vma or several that touch), or wholly unmapped. */
static bool vma_covered(uint64_t s, uint64_t e)
{
	for (int i = vma_index(s); s < e; i++) {
		if (i >= nvma || vmas[i].start > s)
			return false;
		s = vmas[i].end;
	}
	return true;
}

static bool vma_free(uint64_t s, uint64_t e)
{
	int i = vma_index(s);
	return i >= nvma || vmas[i].start >= e;
}

static void vma_room(void)
{
	if (nvma < vma_cap)
		return;
	vma_cap = vma_cap ? vma_cap * 2 : 64;
	vmas = krealloc(vmas, (size_t)vma_cap * sizeof(*vmas));
	if (!vmas)
		panic("out of memory tracking mappings");
}

static void vma_put(struct vma *v)
{
	if (v->ino) {
		v->ino->open_count--;
		fs_put(v->ino);
	}
}

static bool vma_alike(const struct vma *a, const struct vma *b)
{
	return a->end == b->start && a->prot == b->prot && a->flags == b->flags &&
	       a->ino == b->ino && (!a->ino || a->off + (a->end - a->start) == b->off);
}

/* Merges vmas[i] with vmas[i + 1] when they are alike. */
static void vma_merge(int i)
{
	if (i < 0 || i + 1 >= nvma || !vma_alike(&vmas[i], &vmas[i + 1]))
		return;
	vmas[i].end = vmas[i + 1].end;
	vma_put(&vmas[i + 1]);
	k_memmove(&vmas[i + 1], &vmas[i + 2], (size_t)(nvma - i - 2) * sizeof(*vmas));
	nvma--;
}

/* Makes a a vma boundary if a mapping spans it. */
static void vma_split(uint64_t a)
{
	int i = vma_index(a);
	if (i >= nvma || vmas[i].start >= a)
		return;
	vma_room();
	k_memmove(&vmas[i + 1], &vmas[i], (size_t)(nvma - i) * sizeof(*vmas));
	nvma++;
	vmas[i].end = a;
	vmas[i + 1].off += a - vmas[i + 1].start;
	vmas[i + 1].start = a;
	if (vmas[i].ino)
		vmas[i].ino->open_count++;
}

/* Adds v, whose range must be free, merging it with alike neighbours. */
static void vma_add(struct vma v)
{
	vma_room();
	int i = vma_index(v.start);
	k_memmove(&vmas[i + 1], &vmas[i], (size_t)(nvma - i) * sizeof(*vmas));
	vmas[i] = v;
	nvma++;
	if (v.ino)
		v.ino->open_count++;
	vma_merge(i);
	vma_merge(i - 1);
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

/* The page-table rights for prot: x86 pages are always readable, so PROT_NONE pages keep their
 * memory but are kept from ring 3 (the runtime reads them through the identity map). */
static uint64_t prot_bits(int prot)
{
	uint64_t b = prot & PROT_EXEC ? 0 : pte_nx;
	if (prot & PROT_WRITE)
		b |= PTE_W;
	if (prot != PROT_NONE)
		b |= PTE_U;
	return b;
}

/* Writes the pages of MAP_SHARED file mappings in [s, e) that were written since they were read
 * in or last written back to their file, up to its end (a mapping never grows its file). */
static void writeback(uint64_t s, uint64_t e)
{
	bool any = false;
	for (int i = vma_index(s); i < nvma && vmas[i].start < e; i++) {
		struct vma *v = &vmas[i];
		if (!(v->flags & VMA_SHARED))
			continue;
		for (uint64_t a = MAX(s, v->start); a < MIN(e, v->end); a += PAGE_SIZE) {
			uint64_t *pte = pte_of(a, false);
			if (!pte || (*pte & (PTE_P | PTE_D)) != (PTE_P | PTE_D))
				continue;
			uint64_t off = v->off + (a - v->start);
			if (off < v->ino->size)
				fs_write(v->ino, (void *)(*pte & PTE_ADDR),
				         MIN(PAGE_SIZE, v->ino->size - off), off);
			*pte &= ~PTE_D;
			any = true;
		}
	}
	if (any)
		tlb_flush();
}

/* Unmaps [s, e): shared file pages are written back first, then pages and vmas go. */
static void unmap(uint64_t s, uint64_t e)
{
	writeback(s, e);
	vma_split(s);
	vma_split(e);
	int i = vma_index(s), j = i;
	while (j < nvma && vmas[j].end <= e)
		vma_put(&vmas[j++]);
	k_memmove(&vmas[i], &vmas[j], (size_t)(nvma - j) * sizeof(*vmas));
	nvma -= j - i;
	pt_unmap(s, e);
}

static uint64_t free_pages(void)
{
	return mem_free_bytes() / PAGE_SIZE;
}

static void stack_init(void)
{
	/* The stack's reserve, mapped on demand and never executable. */
	vma_add((struct vma){STACK_TOP - STACK_MAX, STACK_TOP, NULL, 0, PROT_READ | PROT_WRITE, 0});
}
UNIK_INIT(INIT_CLOCK, stack_init);

uint64_t user_stack_top(void)
{
	return STACK_TOP;
}

bool user_range_ok(const void *p, size_t n)
{
	uint64_t a = (uint64_t)p;
	if (a + n < a || a >= (1UL << 47))
		return false;
	/* Mapping pages are filled on first touch; the rest (the identity map, Xen's console
	 * page) must be there already. */
	for (uint64_t pg = PAGE_DOWN(a); pg < a + n; pg += PAGE_SIZE) {
		struct vma *v = in_mmap_area(pg) ? vma_find_at(pg) : NULL;
		if (v ? v->prot == PROT_NONE : !vm_mapped(pg))
			return false;
	}
	return true;
}

/* A touch of a mapped page: the first one gets the page (zeros, or the file's bytes); one of a
 * page that is there is a protection violation, since every change of rights flushes the TLB and
 * x86 caches no absent entry.  Unhandled faults become the crash report or EFAULT. */
bool mem_handle_fault(uint64_t addr)
{
	struct vma *v = in_mmap_area(addr) ? vma_find_at(addr) : NULL;
	if (!v || v->prot == PROT_NONE)
		return false;
	uint64_t va = PAGE_DOWN(addr);
	uint64_t *pte = pte_of(va, true);
	if (pte && (*pte & PTE_P))
		return false;
	uint64_t p = pte ? page_alloc_zeroed() : 0;
	if (!p) {
		kprintf(UNIK_CONSOLE_PREFIX
		        "out of memory: no page left for address %lx (the guest "
		        "has %lu KiB of RAM; give it more memory)\n",
		        addr, mem_total_bytes() >> 10);
		proc_exit_crash();
	}
	if (v->ino)
		fs_read(v->ino, (void *)p, PAGE_SIZE, v->off + (va - v->start));
	*pte = p | PTE_P | prot_bits(v->prot);
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
		vma_add((struct vma){cur, want, NULL, 0, PROT_READ | PROT_WRITE, 0});
	} else if (want < cur) {
		unmap(want, cur);
	}
	brk_cur = addr;
	return (long)brk_cur;
}

long file_mmap_inode(int fd, long prot, bool shared, struct inode **out);

long sys_mmap(uint64_t addr, uint64_t len, long prot, long flags, long fd, uint64_t off)
{
	if (!len || (off & (PAGE_SIZE - 1)))
		return -EINVAL;
	if (!(flags & (MAP_SHARED | MAP_PRIVATE)))
		return -EINVAL;
	if (len > MMAP_TOP - MMAP_BASE)
		return -ENOMEM;
	uint64_t size = PAGE_UP(len);
	struct vma v = {0, 0, NULL, off, (uint8_t)(prot & 7), 0};
	if (!(flags & MAP_ANONYMOUS)) {
		bool shared = flags & MAP_SHARED; /* MAP_SHARED_VALIDATE too */
		long r = file_mmap_inode((int)fd, prot, shared, &v.ino);
		if (r < 0)
			return r;
		v.flags = (uint8_t)((shared ? VMA_SHARED : 0) | (r ? 0 : VMA_NOWRITE));
	} else {
		v.off = 0;
	}
	if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
		if (addr & (PAGE_SIZE - 1))
			return -EINVAL;
		/* Only within the mmap area: the rest of the address space is the identity map
		 * of RAM, the stack and the kernel. */
		if (addr < BRK_BASE || addr + size > MMAP_TOP)
			return -ENOMEM;
		if (!vma_free(addr, addr + size)) {
			if (flags & MAP_FIXED_NOREPLACE)
				return -EEXIST;
			unmap(addr, addr + size);
		}
		v.start = addr;
	} else {
		/* Refuse what could not be backed now, so malloc returns NULL rather than the
		 * guest running out on a later touch; reservations (PROT_NONE, MAP_NORESERVE) are
		 * address space only, as in Linux. */
		if (prot != PROT_NONE && !(flags & MAP_NORESERVE) &&
		    size / PAGE_SIZE > free_pages())
			return -ENOMEM;
		v.start = vma_find(size);
		if (!v.start)
			return -ENOMEM;
	}
	v.end = v.start + size;
	vma_add(v);
	return (long)v.start;
}

long sys_munmap(uint64_t addr, uint64_t len)
{
	if ((addr & (PAGE_SIZE - 1)) || !len || len > (1UL << 47))
		return -EINVAL;
	uint64_t end = addr + PAGE_UP(len);
	if (in_mmap_area(addr) || in_mmap_area(end - 1)) {
		/* Not past the mapping area: the Xen console page and the stack lie above it. */
		uint64_t s = MAX(addr, BRK_BASE), e = MIN(end, MMAP_TOP);
		if (s < e)
			unmap(s, e);
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
	uint64_t olen = PAGE_UP(old_len), nlen = PAGE_UP(new_len);
	struct vma *v = olen && in_mmap_area(old) ? vma_find_at(old) : NULL;
	if (!v || old + olen > MMAP_TOP || v->end < old + olen)
		return -EFAULT;
	if (nlen <= olen) {
		unmap(old + nlen, old + olen);
		return (long)old;
	}
	if ((nlen - olen) / PAGE_SIZE > free_pages())
		return -ENOMEM;
	struct vma grown = *v;
	grown.off += old - v->start;
	if (old + nlen <= MMAP_TOP && vma_free(old + olen, old + nlen)) {
		grown.off += olen;
		grown.start = old + olen;
		grown.end = old + nlen;
		vma_add(grown);
		return (long)old;
	}
	if (!(flags & MREMAP_MAYMOVE))
		return -ENOMEM;
	uint64_t p = vma_find(nlen);
	if (!p)
		return -ENOMEM;
	if (pt_move(old, p, olen) < 0) {
		pt_unmap(p, p + nlen);
		return -ENOMEM;
	}
	grown.start = p;
	grown.end = p + nlen;
	vma_add(grown);
	unmap(old, old + olen); /* its pages moved: only the vma is left */
	return (long)p;
}

/* Linux's rules: the whole range must be mapped, and a shared mapping of a file opened
 * read-only cannot become writable.  PROT_READ pages lose write access; pages are executable
 * only with PROT_EXEC. */
long sys_mprotect(uint64_t addr, uint64_t len, long prot)
{
	if ((addr & (PAGE_SIZE - 1)) || (prot & ~7L))
		return -EINVAL;
	uint64_t end = addr + PAGE_UP(len);
	if (end < addr)
		return -ENOMEM;
	/* The identity map (the image, the kernel's RAM) has rights of its own. */
	if (addr == end || !in_mmap_area(addr))
		return 0;
	if (end > STACK_TOP || !vma_covered(addr, end))
		return -ENOMEM;
	for (int i = vma_index(addr); i < nvma && vmas[i].start < end; i++)
		if ((prot & PROT_WRITE) && (vmas[i].flags & VMA_NOWRITE))
			return -EACCES;
	vma_split(addr);
	vma_split(end);
	int i = vma_index(addr), j = i;
	for (; j < nvma && vmas[j].start < end; j++)
		vmas[j].prot = (uint8_t)prot;
	pt_protect(addr, end, prot_bits((int)prot));
	for (int k = j - 1; k >= i - 1; k--)
		vma_merge(k);
	return 0;
}

long sys_madvise(uint64_t addr, uint64_t len, long advice)
{
	if (addr & (PAGE_SIZE - 1))
		return -EINVAL;
	uint64_t end = addr + PAGE_UP(len);
	if (end < addr)
		return -EINVAL;
	/* MADV_DONTNEED promises zeros (or the file's bytes) on the next touch of private
	 * memory; MADV_FREE allows them.  In the mmap area both give the pages back, shared file
	 * pages after they are written back. */
	if ((advice == MADV_DONTNEED || advice == MADV_FREE) && in_mmap_area(addr)) {
		if (!vma_covered(addr, end))
			return -ENOMEM;
		writeback(addr, end);
		pt_unmap(addr, end);
	}
	return 0;
}

/* Written pages of shared file mappings go back to the in-memory file now; with no page cache,
 * MS_ASYNC is as synchronous as MS_SYNC. */
long sys_msync(uint64_t addr, uint64_t len, long flags)
{
	if ((addr & (PAGE_SIZE - 1)) || (flags & ~7L) ||
	    (flags & (MS_ASYNC | MS_SYNC)) == (MS_ASYNC | MS_SYNC))
		return -EINVAL;
	uint64_t end = addr + PAGE_UP(len);
	if (end < addr)
		return -ENOMEM;
	if (addr == end || !in_mmap_area(addr))
		return 0;
	if (!vma_covered(addr, end))
		return -ENOMEM;
	writeback(addr, end);
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

SYSCALL(26)
{
	return sys_msync(a0, a1, a2);
}

SYSCALL(28)
{
	return sys_madvise(a0, a1, a2);
}
