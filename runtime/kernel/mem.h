/* The runtime's memory layers: physical pages and page tables (page.c), the kernel heap
 * (heap.c), and the process's address space (sys/mm.c).  Included by kernel.h. */
#ifndef UNIK_RT_MEM_H
#define UNIK_RT_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct boot_info;

/* page.c: physical pages (identity mapped), taken from the top of RAM down. */
void mem_init(struct boot_info *bi);
uint64_t boot_mapped_end(void);
uint64_t pages_alloc(size_t n);
uint64_t page_alloc_zeroed(void);
void pages_free(uint64_t addr, size_t n);
uint64_t mem_total_bytes(void);
uint64_t mem_free_bytes(void);
extern uint64_t lapic_base;

/* page.c: the page tables, for the mappings of the user address space. */
#define PTE_P    0x1UL
#define PTE_W    0x2UL
#define PTE_U    0x4UL
#define PTE_PWT  0x8UL
#define PTE_PCD  0x10UL
#define PTE_D    0x40UL
#define PTE_PS   0x80UL
#define PTE_ADDR 0x000ffffffffff000UL
#define PTE_NX   (1UL << 63)
extern uint64_t pte_nx; /* PTE_NX when the CPU has it (EFER.NXE is then on), else 0 */
bool vm_mapped(uint64_t va);
uint64_t *pte_of(uint64_t va, bool create); /* NULL: no table (or, creating, no memory) */
void tlb_flush(void);
void pt_unmap(uint64_t s, uint64_t e);                /* frees the pages behind [s, e) */
int pt_move(uint64_t old, uint64_t to, uint64_t len); /* to has no pages yet */
void pt_protect(uint64_t s, uint64_t e, uint64_t bits);

/* heap.c: the kernel heap.  kmalloc returns NULL when out of memory for big blocks, and panics
 * for small ones; the caller owns the block until kfree. */
void *kmalloc(size_t n);
void *kzalloc(size_t n);
void *krealloc(void *p, size_t n);
void kfree(void *p);

/* sys/mm.c: the user stack, brk and mmap areas, and the faults that fill them. */
bool mem_handle_fault(uint64_t addr);
uint64_t user_stack_top(void);
bool user_range_ok(const void *p, size_t n);

#endif
