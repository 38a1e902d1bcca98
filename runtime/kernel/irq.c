/* Interrupts: a driver asks for a vector with irq_register(), which installs the IDT gate
 * (cpu.c) and the handler unik_trap() calls; the local APIC timer (the scheduler's) is the
 * first.  Handlers run in ring 0 with interrupts off, on the interrupt stack, and must send
 * their own end-of-interrupt. */
#include "kernel/irq.h"
#include "kernel/sched.h"

static irq_handler handlers[256 - IRQ_FIRST];

int irq_register(int vector, irq_handler fn)
{
	if (vector < IRQ_FIRST || vector > 255 || handlers[vector - IRQ_FIRST])
		return -EBUSY;
	handlers[vector - IRQ_FIRST] = fn;
	cpu_enable_vector(vector);
	return 0;
}

void irq_dispatch(struct trap_frame *f)
{
	irq_handler fn = handlers[f->vector - IRQ_FIRST];
	if (fn)
		fn(f);
	else if (f->vector != 0xff) /* the APIC's spurious vector needs nothing */
		kprintf(UNIK_CONSOLE_PREFIX "unexpected interrupt %lu\n", f->vector);
}

/* The local APIC timer: the scheduler's tick, and what ends an idle halt. */
static void timer_irq(struct trap_frame *f)
{
	clock_timer_irq();
	sched_timer_irq(f); /* may switch threads, and then returns elsewhere */
}

static void irq_init(void)
{
	irq_register(IRQ_TIMER, timer_irq);
}
UNIK_INIT(INIT_IRQ, irq_init);
