/* Init levels: each subsystem registers its start-up function with UNIK_INIT(level, fn), which
 * puts an entry in the section .unik_init.<level>; unik.ld sorts those sections by name, so
 * main.c runs the entries in level order (same-level entries in link order, so a level holds
 * steps that do not depend on each other) without a hard-coded list.  Levels are two digits so
 * that sorting by name is sorting by number. */
#ifndef UNIK_RT_INIT_H
#define UNIK_RT_INIT_H

/* Ring 0, before boot info is read: what everything else relies on. */
#define INIT_CONSOLE    10 /* panic() can print from here on */
#define INIT_CPU        11 /* descriptor tables, FPU, interrupts */
#define INIT_SYSCALLS   12 /* the syscall MSRs, after the GDT they name */
#define INIT_IRQ        13 /* interrupt vectors (kernel/irq.c): the timer's first */
#define INIT_RING0_LAST 19
/* Ring 3, after boot_parse() and mem_init() (which take the boot info main.c holds). */
#define INIT_CLOCK  20
#define INIT_FS     21 /* the empty root file system */
#define INIT_ROOTFS 22 /* the embedded archive and initrd modules */
#define INIT_ETC    23 /* /etc defaults where the archives left none */
#define INIT_FILES  24 /* the standard descriptors */
#define INIT_NET    25 /* the network stack, on the devices the drivers registered (net/) */
#define INIT_MOUNTS 26 /* volumes (blk) and host shares (fs) mounted where the manifest says */
#define INIT_LAST   99

struct init_entry {
	int level;
	void (*fn)(void);
};

#define UNIK_INIT_(level, fn)                                                                      \
	static const struct init_entry init_entry_##fn                                             \
	    __attribute__((used, aligned(8), section(".unik_init." #level))) = {level, fn}
/* Two steps so that a level given as INIT_NAME is expanded before it names the section. */
#define UNIK_INIT(level, fn) UNIK_INIT_(level, fn)

/* main.c: run the registered functions whose level is in [lo, hi], in order. */
void init_run(int lo, int hi);

extern const struct init_entry __unik_init_start[], __unik_init_end[];

#endif
