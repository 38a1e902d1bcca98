/* Virtio over the virtio-mmio transport: QEMU's microvm has 512-byte register windows at
 * 0xfeb00000, one per transport, each wired to an IOAPIC pin.  Version 2 is virtio 1.x; QEMU
 * still makes version 1 (legacy) transports unless told -global virtio-mmio.force-legacy=false,
 * so both are driven: they differ only in feature negotiation and in how a queue's address is
 * given.  The registers are mapped uncached and touched through ring0(), since the kernel may
 * run in ring 3. */
#include "drivers/virtio.h"

#include "kernel/irq.h"

#define MMIO_BASE   0xfeb00000UL
#define MMIO_STRIDE 0x200
#define MMIO_SLOTS  24 /* 8 with one IOAPIC, 24 with microvm's second one */

#define R_MAGIC        0x000
#define R_VERSION      0x004
#define R_DEVICE_ID    0x008
#define R_DEV_FEAT     0x010
#define R_DEV_FEAT_SEL 0x014
#define R_DRV_FEAT     0x020
#define R_DRV_FEAT_SEL 0x024
#define R_PAGE_SIZE    0x028 /* legacy */
#define R_QUEUE_SEL    0x030
#define R_QUEUE_MAX    0x034
#define R_QUEUE_NUM    0x038
#define R_QUEUE_ALIGN  0x03c /* legacy */
#define R_QUEUE_PFN    0x040 /* legacy */
#define R_QUEUE_READY  0x044
#define R_QUEUE_NOTIFY 0x050
#define R_IRQ_STATUS   0x060
#define R_IRQ_ACK      0x064
#define R_STATUS       0x070
#define R_QUEUE_DESC   0x080
#define R_QUEUE_AVAIL  0x090
#define R_QUEUE_USED   0x0a0
#define R_CONFIG       0x100

#define MAGIC_VIRT 0x74726976 /* "virt" */

#define S_ACKNOWLEDGE 1
#define S_DRIVER      2
#define S_DRIVER_OK   4
#define S_FEATURES_OK 8
#define S_FAILED      128

/* The IOAPICs: microvm has a second one, for the transports past the eighth, when ACPI is on. */
#define IOAPIC1         0xfec00000UL
#define IOAPIC2         0xfec10000UL
#define IOAPIC_REDTBL   0x10
#define IOAPIC_LEVEL    (1u << 15)
#define IRQ_VECTOR_BASE 0x40
#define LAPIC_EOI       0xb0

static struct virtio_dev *by_vector[MMIO_SLOTS];
static bool have_ioapic2;

static uint64_t mmio_r0(uint64_t addr, uint64_t val, uint64_t write)
{
	if (write == 1)
		*(volatile uint32_t *)addr = (uint32_t)val;
	else if (write == 2)
		*(volatile uint8_t *)addr = (uint8_t)val;
	else if (write == 3)
		return *(volatile uint8_t *)addr;
	else
		return *(volatile uint32_t *)addr;
	return 0;
}

static uint32_t rd(uint64_t addr)
{
	return (uint32_t)ring0(mmio_r0, addr, 0, 0);
}

static void wr(uint64_t addr, uint32_t v)
{
	ring0(mmio_r0, addr, v, 1);
}

/* Map the page of device registers at pa uncached (identity), unless it already is mapped. */
static bool map_mmio(uint64_t pa)
{
	pa = PAGE_DOWN(pa);
	if (vm_mapped(pa))
		return true;
	uint64_t *pte = pte_of(pa, true);
	if (!pte)
		return false;
	*pte = pa | PTE_P | PTE_W | PTE_PCD | PTE_PWT | pte_nx;
	tlb_flush();
	return true;
}

static void ioapic_write(uint64_t base, uint32_t reg, uint32_t v)
{
	wr(base, reg);
	wr(base + 0x10, v);
}

static uint32_t ioapic_read(uint64_t base, uint32_t reg)
{
	wr(base, reg);
	return rd(base + 0x10);
}

static void irq_common(struct trap_frame *f)
{
	struct virtio_dev *v = by_vector[f->vector - IRQ_VECTOR_BASE];
	if (v) {
		uint32_t isr = rd(v->base + R_IRQ_STATUS);
		/* Acknowledged before the handler looks at the rings, so that a buffer used
		 * meanwhile raises the (level-triggered) line again. */
		wr(v->base + R_IRQ_ACK, isr);
		if (v->irq)
			v->irq(v);
	}
	*(volatile uint32_t *)(lapic_base + LAPIC_EOI) = 0;
}

/* Route the transport's line to its vector, level-triggered, active high, to the boot CPU
 * (APIC ID 0).  With a second IOAPIC, microvm wires transport i to its pin i (GSI 24 + i);
 * with one, to GSI 5 + i. */
static int route_irq(struct virtio_dev *v)
{
	uint64_t base = have_ioapic2 ? IOAPIC2 : IOAPIC1;
	int pin = have_ioapic2 ? v->slot : 5 + v->slot;
	int r = irq_register(v->vector, irq_common);
	if (r)
		return r;
	by_vector[v->vector - IRQ_VECTOR_BASE] = v;
	ioapic_write(base, IOAPIC_REDTBL + 2 * pin + 1, 0);
	ioapic_write(base, IOAPIC_REDTBL + 2 * pin, (uint32_t)v->vector | IOAPIC_LEVEL);
	return 0;
}

int virtio_probe(uint32_t id, void (*found)(struct virtio_dev *v))
{
	int n = 0;
	if (!map_mmio(IOAPIC1))
		return 0;
	/* A missing IOAPIC reads as zeros (QEMU) or ones: its version register names none. */
	uint32_t ver = map_mmio(IOAPIC2) ? ioapic_read(IOAPIC2, 1) & 0xff : 0;
	have_ioapic2 = ver && ver != 0xff;
	for (int slot = 0; slot < MMIO_SLOTS; slot++) {
		uint64_t base = MMIO_BASE + (uint64_t)slot * MMIO_STRIDE;
		if (!map_mmio(base))
			break;
		if (rd(base + R_MAGIC) != MAGIC_VIRT)
			continue;
		uint32_t version = rd(base + R_VERSION);
		if ((version != 1 && version != 2) || rd(base + R_DEVICE_ID) != id)
			continue;
		struct virtio_dev *v = kzalloc(sizeof(*v));
		v->base = base;
		v->device_id = id;
		v->slot = slot;
		v->vector = IRQ_VECTOR_BASE + slot;
		v->legacy = version == 1;
		wr(base + R_STATUS, 0);
		while (rd(base + R_STATUS))
			cpu_relax();
		wr(base + R_STATUS, S_ACKNOWLEDGE);
		wr(base + R_STATUS, S_ACKNOWLEDGE | S_DRIVER);
		found(v);
		n++;
	}
	return n;
}

int virtio_negotiate(struct virtio_dev *v, uint64_t want)
{
	uint64_t has;
	wr(v->base + R_DEV_FEAT_SEL, 1);
	has = (uint64_t)rd(v->base + R_DEV_FEAT) << 32;
	wr(v->base + R_DEV_FEAT_SEL, 0);
	has |= rd(v->base + R_DEV_FEAT);
	if (!v->legacy)
		want |= 1ULL << VIRTIO_F_VERSION_1;
	v->features = has & want;
	if (!v->legacy && !(v->features >> VIRTIO_F_VERSION_1 & 1))
		goto fail;
	wr(v->base + R_DRV_FEAT_SEL, 1);
	wr(v->base + R_DRV_FEAT, (uint32_t)(v->features >> 32));
	wr(v->base + R_DRV_FEAT_SEL, 0);
	wr(v->base + R_DRV_FEAT, (uint32_t)v->features);
	if (v->legacy) /* no FEATURES_OK step */
		return 0;
	wr(v->base + R_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
	if (rd(v->base + R_STATUS) & S_FEATURES_OK)
		return 0;
fail:
	wr(v->base + R_STATUS, S_FAILED);
	return -ENODEV;
}

int virtio_queue_init(struct virtio_dev *v, struct virtq *q, int idx)
{
	wr(v->base + R_QUEUE_SEL, (uint32_t)idx);
	uint32_t max = rd(v->base + R_QUEUE_MAX);
	if (!max || (!v->legacy && rd(v->base + R_QUEUE_READY)) ||
	    (v->legacy && rd(v->base + R_QUEUE_PFN)))
		return -ENODEV;
	uint16_t size = VQ_SIZE_MAX;
	while (size > max)
		size /= 2;
	/* The layout a legacy device requires, which a modern one accepts: the descriptors, the
	 * available ring right after them, and the used ring on the next page. */
	uint64_t page = pages_alloc(2);
	if (!page)
		return -ENOMEM;
	k_memset((void *)page, 0, 2 * PAGE_SIZE);
	*q = (struct virtq){.size = size, .index = (uint16_t)idx};
	q->desc = (struct vq_desc *)page;
	q->avail = (volatile uint16_t *)(page + 16 * size);
	q->used = (volatile uint16_t *)(page + PAGE_SIZE);
	wr(v->base + R_QUEUE_NUM, size);
	if (v->legacy) {
		wr(v->base + R_PAGE_SIZE, PAGE_SIZE);
		wr(v->base + R_QUEUE_ALIGN, PAGE_SIZE);
		wr(v->base + R_QUEUE_PFN, (uint32_t)(page / PAGE_SIZE));
		return 0;
	}
	wr(v->base + R_QUEUE_DESC, (uint32_t)page);
	wr(v->base + R_QUEUE_DESC + 4, (uint32_t)(page >> 32));
	wr(v->base + R_QUEUE_AVAIL, (uint32_t)(uint64_t)q->avail);
	wr(v->base + R_QUEUE_AVAIL + 4, (uint32_t)((uint64_t)q->avail >> 32));
	wr(v->base + R_QUEUE_USED, (uint32_t)(uint64_t)q->used);
	wr(v->base + R_QUEUE_USED + 4, (uint32_t)((uint64_t)q->used >> 32));
	wr(v->base + R_QUEUE_READY, 1);
	return 0;
}

int virtio_start(struct virtio_dev *v)
{
	int r = route_irq(v);
	if (r)
		return r;
	wr(v->base + R_STATUS,
	   S_ACKNOWLEDGE | S_DRIVER | S_DRIVER_OK | (v->legacy ? 0 : S_FEATURES_OK));
	return 0;
}

uint8_t virtio_config8(struct virtio_dev *v, int i)
{
	return (uint8_t)ring0(mmio_r0, v->base + R_CONFIG + (uint64_t)i, 0, 3);
}

uint16_t virtio_config16(struct virtio_dev *v, int i)
{
	return (uint16_t)(virtio_config8(v, i) | virtio_config8(v, i + 1) << 8);
}

void virtq_push(struct virtq *q, uint16_t head)
{
	q->avail[2 + (q->avail_idx & (q->size - 1))] = head;
	/* The ring entry before the index that publishes it (x86 keeps stores in order; the
	 * compiler must too). */
	__asm__ volatile("" ::: "memory");
	q->avail[1] = ++q->avail_idx;
}

void virtq_kick(struct virtio_dev *v, struct virtq *q)
{
	__asm__ volatile("mfence" ::: "memory");
	wr(v->base + R_QUEUE_NOTIFY, q->index);
}

struct vq_used_elem *virtq_next_used(struct virtq *q)
{
	if (q->used[1] == q->used_seen)
		return NULL;
	__asm__ volatile("" ::: "memory"); /* the element after the index that published it */
	struct vq_used_elem *ring = (struct vq_used_elem *)(q->used + 2);
	return &ring[q->used_seen++ & (q->size - 1)];
}
