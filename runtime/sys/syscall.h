/* The system-call table: each subsystem file registers its calls with SYSCALL(nr), which defines
 * the handler and puts {nr, handler} in the section .unik_syscall; at start-up syscall.c builds
 * one array indexed by number from those entries, and dispatch() indexes it.  A number with no
 * entry is unsupported: -ENOSYS and its name (generated from musl) on the console once. */
#ifndef UNIK_RT_SYS_SYSCALL_H
#define UNIK_RT_SYS_SYSCALL_H

#include "kernel/kernel.h"

#define SYSCALL_MAX 512

/* A handler gets the raw registers as numbers (and the frame, for the calls about signals). */
typedef long (*syscall_fn)(struct syscall_frame *f, long a0, long a1, long a2, long a3, long a4,
                           long a5);

/* Four bytes each: the image is linked below 4 GiB (unik.ld), so an address fits. */
struct syscall_entry {
	uint32_t nr;
	uint32_t fn;
};

/* The entry is written in assembly, and the handler's name is an assembler-local label
 * (".Lsc<nr>"), so that a call adds no symbol: an image's symbol table is part of its size. */
#define SYSCALL_ASM_(text)     __asm__(".pushsection .unik_syscall, \"a\"\n" text "\n.popsection")
#define SYSCALL_ENTRY_(nr, to) SYSCALL_ASM_(".balign 4\n.long " #nr ", .Lsc" #to)
#define SYSCALL_PARAMS_                                                                            \
	__attribute__((unused)) struct syscall_frame *f, __attribute__((unused)) long a0,          \
	    __attribute__((unused)) long a1, __attribute__((unused)) long a2,                      \
	    __attribute__((unused)) long a3, __attribute__((unused)) long a4,                      \
	    __attribute__((unused)) long a5

/* SYSCALL(nr) { body }: the body sees f and the arguments a0 to a5. */
#define SYSCALL(nr)                                                                                \
	SYSCALL_ENTRY_(nr, nr);                                                                    \
	__attribute__((used)) static long sc##nr(SYSCALL_PARAMS_) __asm__(".Lsc" #nr);             \
	static long sc##nr(SYSCALL_PARAMS_)
/* Another number for a handler of the same file (fsync and fdatasync, ...). */
#define SYSCALL_ALIAS(nr, same) SYSCALL_ENTRY_(nr, same)

/* An argument register as a pointer. */
#define P(x) ((void *)(x))

extern const struct syscall_entry __unik_syscall_start[], __unik_syscall_end[];

#endif
