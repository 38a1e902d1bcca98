/* Virtio over its two transports.  virtio-pci (pc, q35): modern devices found by a scan of PCI
 * bus 0 through ports 0xcf8/0xcfc, their capabilities' structures in memory BARs, interrupts by
 * MSI-X to the local APIC.  virtio-mmio: QEMU's microvm has 512-byte register windows at
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
#define IRQ_VECTOR_BASE 0x40
#define LAPIC_EOI       0xb0

static struct virtio_dev *by_vector[MMIO_SLOTS];
static bool have_ioapic2;

/* op: 0 read 32 bits, 1 write 32, 2 write 8, 3 read 8, 4 write 16, 5 read 16. */
static uint64_t mmio_r0(uint64_t addr, uint64_t val, uint64_t write)
{
	if (write == 4)
		*(volatile uint16_t *)addr = (uint16_t)val;
	else if (write == 5)
		return *(volatile uint16_t *)addr;
	else if (write == 1)
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

static void wr8(uint64_t addr, uint8_t v)
{
	ring0(mmio_r0, addr, v, 2);
}

static uint8_t rd8(uint64_t addr)
{
	return (uint8_t)ring0(mmio_r0, addr, 0, 3);
}

static void wr16(uint64_t addr, uint16_t v)
{
	ring0(mmio_r0, addr, v, 4);
}

static uint16_t rd16(uint64_t addr)
{
	return (uint16_t)ring0(mmio_r0, addr, 0, 5);
}

/* The common registers, at their place on each transport (virtio-pci's common configuration
 * structure, or the virtio-mmio window). */
#define REG(v, off_mmio, off_pci) ((v)->base + ((v)->pci ? (off_pci) : (off_mmio)))

static void set_status(struct virtio_dev *v, uint8_t st)
{
	if (v->pci)
		wr8(v->base + 0x14, st);
	else
		wr(v->base + R_STATUS, st);
}

static uint8_t get_status(struct virtio_dev *v)
{
	return v->pci ? rd8(v->base + 0x14) : (uint8_t)rd(v->base + R_STATUS);
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

static int pci_route_irq(struct virtio_dev *v);

static void irq_common(struct trap_frame *f)
{
	struct virtio_dev *v = by_vector[f->vector - IRQ_VECTOR_BASE];
	if (v && v->pci) {
		/* MSI-X: the message is the interrupt, nothing to acknowledge. */
		if (v->irq)
			v->irq(v);
	} else if (v) {
		uint32_t isr = rd(v->base + R_IRQ_STATUS);
		/* Acknowledged before the handler looks at the rings, so that a buffer used
		 * meanwhile raises the line again (a new edge). */
		wr(v->base + R_IRQ_ACK, isr);
		if (v->irq)
			v->irq(v);
	}
	*(volatile uint32_t *)(lapic_base + LAPIC_EOI) = 0;
}

/* Route the transport's line to its vector, edge-triggered, active high, to the boot CPU
 * (APIC ID 0).  With a second IOAPIC, microvm wires transport i to its pin i (GSI 24 + i);
 * with one, to GSI 5 + i. */
static int route_irq(struct virtio_dev *v)
{
	if (v->pci)
		return pci_route_irq(v);
	uint64_t base = have_ioapic2 ? IOAPIC2 : IOAPIC1;
	int pin = have_ioapic2 ? v->slot : 5 + v->slot;
	int r = irq_register(v->vector, irq_common);
	if (r)
		return r;
	by_vector[v->vector - IRQ_VECTOR_BASE] = v;
	ioapic_write(base, IOAPIC_REDTBL + 2 * pin + 1, 0);
	/* Edge, not level: under KVM, whose split irqchip is microvm's default, a level-triggered
	 * entry of the second IOAPIC was never delivered (virtio-9p saw no interrupt at all), while
	 * TCG delivered it.  QEMU's virtio-mmio raises the line again on every notification, so an
	 * edge is not lost: each used buffer makes a new one. */
	ioapic_write(base, IOAPIC_REDTBL + 2 * pin, (uint32_t)v->vector);
	return 0;
}

static void reset(struct virtio_dev *v)
{
	set_status(v, 0);
	while (get_status(v))
		cpu_relax();
	set_status(v, S_ACKNOWLEDGE);
	set_status(v, S_ACKNOWLEDGE | S_DRIVER);
}

/* --- virtio-pci (modern): pc and q35 --- */

#define PCI_VENDOR_VIRTIO 0x1af4
#define PCI_CAP_VENDOR    0x09
#define PCI_CAP_MSIX      0x11
#define VPCI_COMMON       1
#define VPCI_NOTIFY       2
#define VPCI_DEVICE       4
#define MSIX_NO_VECTOR    0xffff

static uint64_t pci_cfg_r0(uint64_t addr, uint64_t val, uint64_t write)
{
	__asm__ volatile("outl %0, %1" : : "a"((uint32_t)addr), "Nd"((uint16_t)0xcf8));
	if (write) {
		__asm__ volatile("outl %0, %1" : : "a"((uint32_t)val), "Nd"((uint16_t)0xcfc));
		return 0;
	}
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"((uint16_t)0xcfc));
	return v;
}

static uint32_t pci_rd(uint32_t dev, int off)
{
	return (uint32_t)ring0(pci_cfg_r0, 0x80000000u | dev << 11 | (uint32_t)(off & 0xfc), 0, 0);
}

static void pci_wr(uint32_t dev, int off, uint32_t val)
{
	ring0(pci_cfg_r0, 0x80000000u | dev << 11 | (uint32_t)(off & 0xfc), val, 1);
}

static uint8_t pci_rd8(uint32_t dev, int off)
{
	return (uint8_t)(pci_rd(dev, off) >> 8 * (off & 3));
}

/* The address BAR bar decodes (memory BARs only), mapped uncached for len bytes from off. */
static uint64_t pci_bar(uint32_t dev, int bar, uint32_t off, uint32_t len)
{
	uint32_t lo = pci_rd(dev, 0x10 + 4 * bar);
	if (lo & 1)
		return 0;
	uint64_t a = lo & ~0xfu;
	if ((lo >> 1 & 3) == 2)
		a |= (uint64_t)pci_rd(dev, 0x14 + 4 * bar) << 32;
	if (!a)
		return 0;
	for (uint64_t p = PAGE_DOWN(a + off); p < a + off + len; p += PAGE_SIZE)
		if (!map_mmio(p))
			return 0;
	return a + off;
}

/* Route the device's MSI-X entry 0 to its vector on the boot CPU; every queue uses it. */
static int pci_route_irq(struct virtio_dev *v)
{
	uint32_t dev = (uint32_t)v->slot;
	int cap = v->msix_cap;
	if (!cap)
		return -ENODEV;
	uint32_t table = pci_rd(dev, cap + 4);
	uint64_t t = pci_bar(dev, table & 7, table & ~7u, 16);
	if (!t)
		return -ENODEV;
	int r = irq_register(v->vector, irq_common);
	if (r)
		return r;
	by_vector[v->vector - IRQ_VECTOR_BASE] = v;
	wr(t, 0xfee00000); /* the local APIC of CPU 0, fixed delivery */
	wr(t + 4, 0);
	wr(t + 8, (uint32_t)v->vector);
	wr(t + 12, 0); /* unmasked */
	pci_wr(dev, cap, (pci_rd(dev, cap) & ~(1u << 30)) | 1u << 31);
	wr16(v->base + 0x10, MSIX_NO_VECTOR); /* no interrupt for configuration changes */
	for (uint16_t q = 0; q < 2; q++) {
		wr16(v->base + 0x16, q);
		wr16(v->base + 0x1a, 0);
	}
	return 0;
}

/* The transitional (legacy) PCI device id of a device type, or 0 when it has none we drive. */
static uint32_t pci_transitional_id(uint32_t id)
{
	switch (id) {
	case VIRTIO_ID_NET:
		return 0x1000;
	case VIRTIO_ID_BLOCK:
		return 0x1001;
	case VIRTIO_ID_9P:
		return 0x1009;
	default:
		return 0;
	}
}

/* PCI devices of every type take their vectors from one count, since each type is probed on its
 * own (a NIC on the first socket, a share at boot). */
static int pci_vectors;

static int pci_probe(uint32_t id, void (*found)(struct virtio_dev *v))
{
	int n = 0;
	for (uint32_t dev = 0; dev < 32; dev++) {
		uint32_t idr = pci_rd(dev, 0);
		if ((idr & 0xffff) != PCI_VENDOR_VIRTIO)
			continue;
		uint32_t did = idr >> 16;
		/* Modern ids are 0x1040 + type; transitional ones 0x1000 + (net 0, 9p 9, ...). */
		if (did != 0x1040 + id && did != pci_transitional_id(id))
			continue;
		if (pci_vectors == MMIO_SLOTS / 2)
			break;
		struct virtio_dev *v = kzalloc(sizeof(*v));
		v->pci = true;
		v->slot = (int)dev;
		v->device_id = id;
		v->vector = IRQ_VECTOR_BASE + MMIO_SLOTS / 2 + pci_vectors++;
		pci_wr(dev, 4, pci_rd(dev, 4) | 0x6); /* memory decoding, bus master */
		for (int cap = pci_rd(dev, 0x34) & 0xfc; cap; cap = pci_rd8(dev, cap + 1) & 0xfc) {
			uint8_t type = pci_rd8(dev, cap);
			if (type == PCI_CAP_MSIX)
				v->msix_cap = cap;
			if (type != PCI_CAP_VENDOR)
				continue;
			uint8_t cfg = pci_rd8(dev, cap + 3), bar = pci_rd8(dev, cap + 4);
			uint32_t off = pci_rd(dev, cap + 8), len = pci_rd(dev, cap + 12);
			uint64_t a = cfg == VPCI_COMMON || cfg == VPCI_NOTIFY || cfg == VPCI_DEVICE
			                 ? pci_bar(dev, bar, off, len)
			                 : 0;
			if (cfg == VPCI_COMMON)
				v->base = a;
			else if (cfg == VPCI_NOTIFY) {
				v->notify = a;
				v->notify_mul = pci_rd(dev, cap + 16);
			} else if (cfg == VPCI_DEVICE)
				v->devcfg = a;
		}
		if (!v->base || !v->notify || !v->devcfg) {
			kfree(v);
			continue;
		}
		reset(v);
		found(v);
		n++;
	}
	return n;
}

/* --- virtio-mmio: microvm --- */

int virtio_probe(uint32_t id, void (*found)(struct virtio_dev *v))
{
	int n = 0;
	/* Where there is PCI (a host bridge answers at 0:0.0) the firmware may have put BARs
	 * where microvm's window would be: reading them could have side effects. */
	if (pci_rd(0, 0) != 0xffffffff)
		return pci_probe(id, found);
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
		reset(v);
		found(v);
		n++;
	}
	return n;
}

int virtio_negotiate(struct virtio_dev *v, uint64_t want)
{
	uint64_t has;
	wr(REG(v, R_DEV_FEAT_SEL, 0x00), 1);
	has = (uint64_t)rd(REG(v, R_DEV_FEAT, 0x04)) << 32;
	wr(REG(v, R_DEV_FEAT_SEL, 0x00), 0);
	has |= rd(REG(v, R_DEV_FEAT, 0x04));
	if (!v->legacy)
		want |= 1ULL << VIRTIO_F_VERSION_1;
	v->features = has & want;
	if (!v->legacy && !(v->features >> VIRTIO_F_VERSION_1 & 1))
		goto fail;
	wr(REG(v, R_DRV_FEAT_SEL, 0x08), 1);
	wr(REG(v, R_DRV_FEAT, 0x0c), (uint32_t)(v->features >> 32));
	wr(REG(v, R_DRV_FEAT_SEL, 0x08), 0);
	wr(REG(v, R_DRV_FEAT, 0x0c), (uint32_t)v->features);
	if (v->legacy) /* no FEATURES_OK step */
		return 0;
	set_status(v, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
	if (get_status(v) & S_FEATURES_OK)
		return 0;
fail:
	set_status(v, S_FAILED);
	return -ENODEV;
}

int virtio_queue_init(struct virtio_dev *v, struct virtq *q, int idx)
{
	uint32_t max;
	if (v->pci) {
		wr16(v->base + 0x16, (uint16_t)idx);
		max = rd16(v->base + 0x18);
		if (!max || rd16(v->base + 0x1c))
			return -ENODEV;
	} else {
		wr(v->base + R_QUEUE_SEL, (uint32_t)idx);
		max = rd(v->base + R_QUEUE_MAX);
		if (!max || (!v->legacy && rd(v->base + R_QUEUE_READY)) ||
		    (v->legacy && rd(v->base + R_QUEUE_PFN)))
			return -ENODEV;
	}
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
	if (v->pci) {
		q->notify = v->notify + (uint64_t)rd16(v->base + 0x1e) * v->notify_mul;
		wr16(v->base + 0x18, size);
		wr(v->base + 0x20, (uint32_t)page);
		wr(v->base + 0x24, (uint32_t)(page >> 32));
		wr(v->base + 0x28, (uint32_t)(uint64_t)q->avail);
		wr(v->base + 0x2c, (uint32_t)((uint64_t)q->avail >> 32));
		wr(v->base + 0x30, (uint32_t)(uint64_t)q->used);
		wr(v->base + 0x34, (uint32_t)((uint64_t)q->used >> 32));
		wr16(v->base + 0x1c, 1);
		return 0;
	}
	q->notify = v->base + R_QUEUE_NOTIFY;
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
	set_status(v, S_ACKNOWLEDGE | S_DRIVER | S_DRIVER_OK | (v->legacy ? 0 : S_FEATURES_OK));
	return 0;
}

uint8_t virtio_config8(struct virtio_dev *v, int i)
{
	return rd8((v->pci ? v->devcfg : v->base + R_CONFIG) + (uint64_t)i);
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
	if (v->pci)
		wr16(q->notify, q->index);
	else
		wr(q->notify, q->index);
}

struct vq_used_elem *virtq_next_used(struct virtq *q)
{
	if (q->used[1] == q->used_seen)
		return NULL;
	__asm__ volatile("" ::: "memory"); /* the element after the index that published it */
	struct vq_used_elem *ring = (struct vq_used_elem *)(q->used + 2);
	return &ring[q->used_seen++ & (q->size - 1)];
}
