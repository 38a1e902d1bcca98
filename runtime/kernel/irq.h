/* Interrupt vectors for drivers (kernel/irq.c). */
#ifndef UNIK_RT_IRQ_H
#define UNIK_RT_IRQ_H

#include "kernel/kernel.h"

#define IRQ_FIRST 32   /* below are the CPU's exceptions */
#define IRQ_TIMER 0x20 /* the local APIC timer (platform/pvh/clock.c programs it) */

typedef void (*irq_handler)(struct trap_frame *f);

/* Route vector to fn; -EBUSY if it is taken or not a device vector. */
int irq_register(int vector, irq_handler fn);
/* trap.c: a vector at or above IRQ_FIRST fired. */
void irq_dispatch(struct trap_frame *f);

#endif
