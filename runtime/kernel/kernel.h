/* The runtime's internal interfaces.  Freestanding: only compiler headers and include/unik/. */
#ifndef UNIK_RT_KERNEL_H
#define UNIK_RT_KERNEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unik/abi.h>
#include "arch/x86_64/boot.h"
#include "kernel/init.h"
#include "kernel/linux.h"

#define PAGE_SIZE     4096UL
#define PAGE_UP(x)    (((uint64_t)(x) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
#define PAGE_DOWN(x)  ((uint64_t)(x) & ~(PAGE_SIZE - 1))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define MAX(a, b)     ((a) > (b) ? (a) : (b))
#define unlikely(x)   __builtin_expect(!!(x), 0)
#define NORETURN      __attribute__((noreturn))

/* lib.c: string helpers and formatted console output. */
void *k_memset(void *d, int c, size_t n);
void *k_memcpy(void *d, const void *s, size_t n);
void *k_memmove(void *d, const void *s, size_t n);
int k_memcmp(const void *a, const void *b, size_t n);
size_t k_strlen(const char *s);
size_t k_strnlen(const char *s, size_t max);
int k_strcmp(const char *a, const char *b);
int k_strncmp(const char *a, const char *b, size_t n);
char *k_strchr(const char *s, int c);
char *k_strdup(const char *s);
char *k_strndup(const char *s, size_t n);
int k_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int k_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
NORETURN void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* io.h-style port and CPU helpers. */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}
static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return (uint64_t)hi << 32 | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
	                 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
	                 : "a"(leaf), "c"(sub));
}
static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* console.c: COM1, or Xen's PV console (xen.c). */
void console_init(void);
void console_write(const char *buf, size_t len);
void console_start_line(void);
bool console_readable(void);
long console_read(char *buf, size_t len, bool block); /* -EINTR on a signal */

/* cpu.c: descriptor tables, FPU/SSE, system-call MSRs, interrupts. */
void cpu_init(void);
void cpu_enable_syscalls(void);
uint32_t cpu_hwcap(void);
/* Privileged work from code that may run in ring 3 (see entry.S): fn runs in ring 0. */
typedef uint64_t (*ring0_fn)(uint64_t, uint64_t, uint64_t);
uint64_t ring0(ring0_fn fn, uint64_t a, uint64_t b, uint64_t c);
bool cpu_in_ring0(void);
void cpu_wrmsr(uint32_t msr, uint64_t v);
uint64_t cpu_rdmsr(uint32_t msr);
NORETURN void cpu_drop_to_ring3(void (*fn)(void));
void cpu_set_fs_base(uint64_t v);
uint64_t cpu_get_fs_base(void);
bool cpu_has_rdrand(void);
void cpu_enable_vector(int vector);
size_t cpu_fpu_size(void);
void cpu_fpu_save(void *area);
void cpu_fpu_restore(const void *area);

/* boot.c: what the loader told us. */
#define BOOT_MAX_RANGES  64
#define BOOT_MAX_MODULES 8
struct boot_range {
	uint64_t start, end;
};
struct boot_info {
	const char *loader;
	struct boot_range ram[BOOT_MAX_RANGES];
	int nram;
	struct boot_range reserved[BOOT_MAX_RANGES];
	int nreserved;
	struct boot_range modules[BOOT_MAX_MODULES];
	int nmodules;
	uint64_t cmdline, cmdline_len;
	bool drop_first_word; /* multiboot loaders put the kernel's path first */
	bool memory_clean;    /* RAM outside the reserved ranges is still zero */
};
void boot_parse(uint32_t magic, uint64_t info, struct boot_info *bi);
/* main.c: this boot's, for the few who read it after boot_parse (net/netif.c: the raw command
 * line, before main.c parses it). */
extern struct boot_info boot_info;

/* page.c, heap.c and sys/mm.c: physical pages, page tables, the kernel heap and the user
 * address space. */
#include "kernel/mem.h"

/* clock.c */
void clock_init(void);
uint64_t clock_monotonic_ns(void);
uint64_t clock_realtime_ns(void);
void clock_timer_irq(void);
/* Arm the local APIC timer to interrupt at the monotonic deadline (0: stop it); sched.c owns it. */
void clock_timer_at(uint64_t deadline_ns);
/* Halt until an interrupt: the timer armed above, or a device's. */
void clock_halt(void);
uint64_t clock_vdso(void);

/* trap.c */
struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};
NORETURN void crash_signal(int sig, uint64_t rip, uint64_t rsp, uint64_t rbp);

/* fs/vfs.c and fs/cpio.c: the file systems and the root archives. */
void fs_init(void);
int fs_load_cpio(const void *data, size_t len, bool borrow, const char *what);
void fs_add_etc_defaults(void); /* after the archives: /etc/passwd, group, hosts */

/* file.c: file descriptors. */
void files_init(void);

/* syscall.c: the registers the entry stub saved, in push order reversed. */
struct syscall_frame {
	uint64_t nr, rdi, rsi, rdx, r10, r8, r9, r11, rcx;
};
long unik_syscall(struct syscall_frame *f);
/* The hostname uname reports (sys/syscall.c); len at most UNIK_HOSTNAME_MAX. */
const char *kern_hostname(void);
void kern_set_hostname(const char *name, size_t len);
extern uint64_t unik_user_rsp, unik_kstack_top;
NORETURN void proc_exit(int status);
NORETURN void proc_exit_crash(void); /* after a crash report: status 255 */
void signal_pend(int sig);           /* acted on as the current system call returns */
void random_bytes(void *buf, size_t n);
extern int in_syscall, syscall_ring, in_kernel_ring3;
extern uint64_t unik_syscall_sp;
extern char unik_syscall_efault[];

/* main.c */
extern const char *proc_name;

/* Linker-script symbols. */
extern char __unik_image_start[], __unik_image_end[], __unik_text_start[], __unik_text_end[];
extern char __unik_rodata_start[], __unik_data_start[], __unik_xbss_start[], __unik_xbss_end[];
extern char __unik_cmdline_start[], __unik_cmdline_end[];
extern char __unik_rootfs_start[], __unik_rootfs_end[];
extern char __unik_tdata_start[], __unik_tdata_end[], __unik_tbss_end[];
extern char unik_boot_stack_top[];

#endif
