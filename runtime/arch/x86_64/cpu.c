/* CPU set-up: the GDT (kernel and ring-3 segments) with a TSS whose IST stacks every vector uses,
 * the IDT, FPU/SSE/AVX state, the legacy PICs silenced, and the MSRs that make the syscall
 * instruction land in the kernel. */
#include "kernel/kernel.h"

extern char unik_vectors[];
extern char unik_syscall_entry[], unik_ud_entry[];

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

struct idt_entry {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t zero;
} __attribute__((packed));

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

static struct tss tss __attribute__((aligned(16)));
static uint64_t gdt[7] __attribute__((aligned(16)));
static struct idt_entry idt[256] __attribute__((aligned(16)));
static uint8_t ist_fault[ISTACK_SIZE] __attribute__((aligned(16)));
static uint8_t ist_double[ISTACK_SIZE] __attribute__((aligned(16)));
static uint8_t ist_ring0[ISTACK_SIZE] __attribute__((aligned(16)));
static uint32_t hwcap;
static bool rdrand, fsgsbase;
/* The FPU/SSE/AVX state each thread keeps (sched.c): xsave's area for the features enabled in
 * XCR0, else fxsave's 512 bytes. */
static uint64_t xcr0;
static uint32_t fpu_bytes = 512;

static void gdt_init(void)
{
	gdt[0] = 0;
	gdt[1] = 0x00209a0000000000; /* 0x08: 64-bit code */
	gdt[2] = 0x00cf92000000ffff; /* 0x10: data */
	gdt[3] = 0x00cff2000000ffff; /* 0x18: user data (sysret's SS is STAR.user + 8) */
	gdt[4] = 0x0020fa0000000000; /* 0x20: user 64-bit code (STAR.user + 16) */
	uint64_t base = (uint64_t)&tss, limit = sizeof(tss) - 1;
	gdt[5] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89UL << 40 |
	         ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	gdt[6] = base >> 32;
	tss.rsp[0] = (uint64_t)unik_boot_stack_top;
	tss.ist[0] = (uint64_t)(ist_fault + sizeof(ist_fault));
	tss.ist[1] = (uint64_t)(ist_double + sizeof(ist_double));
	tss.ist[2] = (uint64_t)(ist_ring0 + sizeof(ist_ring0));
	tss.iomap_base = sizeof(tss);
	struct desc_ptr p = {sizeof(gdt) - 1, (uint64_t)gdt};
	__asm__ volatile("lgdt %0\n\t"
	                 "pushq $0x08\n\t"
	                 "leaq 1f(%%rip), %%rax\n\t"
	                 "pushq %%rax\n\t"
	                 "lretq\n"
	                 "1:\n\t"
	                 "movl $0x10, %%eax\n\t"
	                 "movl %%eax, %%ss\n\t"
	                 "movl %%eax, %%ds\n\t"
	                 "movl %%eax, %%es\n\t"
	                 "movw $0x28, %%ax\n\t"
	                 "ltr %%ax"
	                 :
	                 : "m"(p)
	                 : "rax", "memory");
}

static void idt_set(int i)
{
	uint64_t h = (uint64_t)(unik_vectors + 16 * i);
	idt[i].off_lo = h & 0xffff;
	idt[i].sel = 0x08;
	/* Double fault, NMI and machine check get their own stack; the rest share one. */
	idt[i].ist = (i == 8 || i == 2 || i == 18) ? 2 : 1;
	/* int3 from ring 3 is a breakpoint (SIGTRAP), as on Linux, not a #GP. */
	idt[i].type = i == 3 ? 0xee : 0x8e;
	idt[i].off_mid = (h >> 16) & 0xffff;
	idt[i].off_hi = h >> 32;
	idt[i].zero = 0;
}

/* A device vector becomes present once a driver registers it (kernel/irq.c). */
void cpu_enable_vector(int vector)
{
	idt_set(vector);
}

static void idt_init(void)
{
	/* Only the exceptions and the APIC's spurious vector: an unused vector firing would be a
	 * bug, and every ring-0 instruction counts under emulating hypervisors. */
	for (int i = 0; i < 32; i++)
		idt_set(i);
	idt_set(0xff);
	/* Invalid opcode doubles as the door of ring0() (entry.S), on a stack of its own: kernel
	 * code running in ring 3 uses the kernel stack, which a fault must not overwrite. */
	uint64_t g = (uint64_t)unik_ud_entry;
	idt[6] = (struct idt_entry){g & 0xffff, 0x08, 3, 0x8e, (g >> 16) & 0xffff, g >> 32, 0};
	struct desc_ptr p = {sizeof(idt) - 1, (uint64_t)idt};
	__asm__ volatile("lidt %0" : : "m"(p));
}

static void fpu_init(void)
{
	uint32_t r[4];
	cpuid(1, 0, r);
	hwcap = r[3];
	rdrand = r[2] & (1u << 30);
	uint64_t cr0, cr4;
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	cr0 = (cr0 & ~(1UL << 2)) | (1UL << 1) | (1UL << 5); /* EM off, MP and NE on */
	__asm__ volatile("mov %0, %%cr0" : : "r"(cr0));
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 |= (1UL << 9) | (1UL << 10); /* OSFXSR, OSXMMEXCPT */
	bool xsave = r[2] & (1u << 26), avx = r[2] & (1u << 28);
	if (xsave)
		cr4 |= 1UL << 18; /* OSXSAVE */
	uint32_t l7[4];
	cpuid(7, 0, l7);
	/* Some hypervisors (PVM) refuse FS_BASE writes through wrmsr; wrfsbase always works. */
	fsgsbase = l7[1] & 1;
	if (fsgsbase)
		cr4 |= 1UL << 16;
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
	if (xsave) {
		uint32_t d[4];
		cpuid(0xd, 0, d);
		xcr0 = 3; /* x87, SSE */
		if (avx)
			xcr0 |= 4;
		/* AVX-512 state (opmask, ZMM_Hi256, Hi16_ZMM) when the CPU offers all three. */
		if (avx && (d[0] & 0xe0) == 0xe0)
			xcr0 |= 0xe0;
		__asm__ volatile("xsetbv"
		                 :
		                 : "c"(0), "a"((uint32_t)xcr0), "d"((uint32_t)(xcr0 >> 32)));
		cpuid(0xd, 0, d); /* ebx: the area's size for what XCR0 now enables */
		fpu_bytes = d[1];
	}
	/* MXCSR's reset value (0x1f80) is already what the ABI wants. */
	__asm__ volatile("fninit");
}

/* Remap the 8259s away from the exception vectors and mask every line: the runtime uses the
 * local APIC timer only. */
static void pic_disable(void)
{
	outb(0x20, 0x11);
	outb(0xa0, 0x11);
	outb(0x21, 0x20);
	outb(0xa1, 0x28);
	outb(0x21, 0x04);
	outb(0xa1, 0x02);
	outb(0x21, 0x01);
	outb(0xa1, 0x01);
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
}

void cpu_init(void)
{
	gdt_init();
	idt_init();
	fpu_init();
	pic_disable();
}
UNIK_INIT(INIT_CPU, cpu_init);

void cpu_enable_syscalls(void)
{
	wrmsr(0xc0000080, rdmsr(0xc0000080) | 1); /* EFER.SCE */
	/* STAR: syscall loads CS 0x08 / SS 0x10; sysret loads CS 0x23 / SS 0x1b. */
	wrmsr(0xc0000081, (uint64_t)0x10 << 48 | (uint64_t)0x08 << 32);
	wrmsr(0xc0000082, (uint64_t)unik_syscall_entry); /* LSTAR */
	wrmsr(0xc0000084, 0x47700);                      /* FMASK: IF, TF, DF, AC, NT, IOPL */
}
UNIK_INIT(INIT_SYSCALLS, cpu_enable_syscalls);

void cpu_set_fs_base(uint64_t v)
{
	if (fsgsbase)
		__asm__ volatile("wrfsbase %0" : : "r"(v));
	else
		cpu_wrmsr(0xc0000100, v);
}

uint64_t cpu_get_fs_base(void)
{
	uint64_t v;
	if (!fsgsbase)
		return cpu_rdmsr(0xc0000100);
	__asm__ volatile("rdfsbase %0" : "=r"(v));
	return v;
}

bool cpu_in_ring0(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return !(cs & 3);
}

extern uint64_t unik_ring0_call(ring0_fn fn, uint64_t a, uint64_t b, uint64_t c);

uint64_t ring0(ring0_fn fn, uint64_t a, uint64_t b, uint64_t c)
{
	return cpu_in_ring0() ? fn(a, b, c) : unik_ring0_call(fn, a, b, c);
}

static uint64_t wrmsr_r0(uint64_t msr, uint64_t v, uint64_t unused)
{
	(void)unused;
	wrmsr((uint32_t)msr, v);
	return 0;
}

static uint64_t rdmsr_r0(uint64_t msr, uint64_t u1, uint64_t u2)
{
	(void)u1, (void)u2;
	return rdmsr((uint32_t)msr);
}

void cpu_wrmsr(uint32_t msr, uint64_t v)
{
	ring0(wrmsr_r0, msr, v, 0);
}

uint64_t cpu_rdmsr(uint32_t msr)
{
	return ring0(rdmsr_r0, msr, 0, 0);
}

/* Leaves ring 0 for good, continuing in fn on the current stack: after the privileged set-up,
 * the runtime's own work runs in ring 3 like the application's (see entry.S for why). */
void cpu_drop_to_ring3(void (*fn)(void))
{
	__asm__ volatile("mov %%rsp, %%rax\n\t"
	                 "and $-16, %%rax\n\t"
	                 "sub $8, %%rax\n\t"
	                 "pushq $0x1b\n\t"
	                 "pushq %%rax\n\t"
	                 "pushq $0x002\n\t"
	                 "pushq $0x23\n\t"
	                 "pushq %0\n\t"
	                 "iretq"
	                 :
	                 : "r"(fn)
	                 : "rax", "memory");
	__builtin_unreachable();
}

uint32_t cpu_hwcap(void)
{
	return hwcap;
}

size_t cpu_fpu_size(void)
{
	return fpu_bytes;
}

/* area is 64-byte aligned.  Both instructions work in ring 3, where kernel code may run. */
void cpu_fpu_save(void *area)
{
	if (xcr0)
		__asm__ volatile("xsave64 (%0)"
		                 :
		                 : "r"(area), "a"((uint32_t)xcr0), "d"((uint32_t)(xcr0 >> 32))
		                 : "memory");
	else
		__asm__ volatile("fxsave64 (%0)" : : "r"(area) : "memory");
}

void cpu_fpu_restore(const void *area)
{
	if (xcr0)
		__asm__ volatile("xrstor64 (%0)"
		                 :
		                 : "r"(area), "a"((uint32_t)xcr0), "d"((uint32_t)(xcr0 >> 32))
		                 : "memory");
	else
		__asm__ volatile("fxrstor64 (%0)" : : "r"(area) : "memory");
}

bool cpu_has_rdrand(void)
{
	return rdrand;
}
