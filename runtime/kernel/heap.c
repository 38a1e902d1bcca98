/* The kernel heap: size classes carved from single pages, big blocks as whole pages. */
#include "kernel/kernel.h"

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
	/* The free node overlays the header: take the class before the link overwrites it. */
	uint32_t cls = h->cls;
	struct kfree_node *f = (void *)h;
	f->next = kfree_lists[cls];
	kfree_lists[cls] = f;
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
