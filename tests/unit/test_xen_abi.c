/* runtime/platform/xen/xen_abi.h against Xen's own public headers: hypercall and operation numbers,
 * structure layouts, the console ring's index arithmetic and the CPUID detection.  No Xen runs
 * here, so this is what pins the runtime's Xen PVH encoding. */
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* Xen's public headers describe XENMEM_memory_map's entries only as "the BIOS INT 0x15 E820
 * format"; Linux's boot protocol header spells that format out. */
#include <asm/bootparam.h>

#include <xen/xen.h>
#include <xen/arch-x86/cpuid.h>
#include <xen/arch-x86/hvm/start_info.h>
#include <xen/event_channel.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
#include <xen/io/console.h>
#include <xen/memory.h>
#include <xen/sched.h>

#include "runtime/platform/xen/xen_abi.h"

#define SAME_LAYOUT(ours, theirs)                                                                  \
	do {                                                                                       \
		assert_int_equal(sizeof(ours), sizeof(theirs));                                    \
		assert_int_equal(_Alignof(ours), _Alignof(theirs));                                \
	} while (0)
#define SAME_FIELD(ours, theirs, f1, f2)                                                           \
	do {                                                                                       \
		assert_int_equal(offsetof(ours, f1), offsetof(theirs, f2));                        \
		assert_int_equal(sizeof(((ours *)0)->f1), sizeof(((theirs *)0)->f2));              \
	} while (0)

static void test_numbers(void **state)
{
	(void)state;
	assert_int_equal(UNIK_XEN_CPUID_FIRST, XEN_CPUID_FIRST_LEAF);
	assert_int_equal(UNIK_XEN_SIG_EBX, XEN_CPUID_SIGNATURE_EBX);
	assert_int_equal(UNIK_XEN_SIG_ECX, XEN_CPUID_SIGNATURE_ECX);
	assert_int_equal(UNIK_XEN_SIG_EDX, XEN_CPUID_SIGNATURE_EDX);
	uint32_t sig[3] = {UNIK_XEN_SIG_EBX, UNIK_XEN_SIG_ECX, UNIK_XEN_SIG_EDX};
	assert_memory_equal(sig, "XenVMMXenVMM", 12);
	uint32_t hv[3] = {UNIK_HYPERV_SIG_EBX, UNIK_HYPERV_SIG_ECX, UNIK_HYPERV_SIG_EDX};
	assert_memory_equal(hv, "Microsoft Hv", 12);

	assert_int_equal(UNIK_XEN_HC_MEMORY_OP, __HYPERVISOR_memory_op);
	assert_int_equal(UNIK_XEN_HC_SCHED_OP, __HYPERVISOR_sched_op);
	assert_int_equal(UNIK_XEN_HC_EVTCHN_OP, __HYPERVISOR_event_channel_op);
	assert_int_equal(UNIK_XEN_HC_HVM_OP, __HYPERVISOR_hvm_op);
	assert_int_equal(UNIK_XEN_DOMID_SELF, DOMID_SELF);

	assert_int_equal(UNIK_XEN_SCHEDOP_YIELD, SCHEDOP_yield);
	assert_int_equal(UNIK_XEN_SCHEDOP_SHUTDOWN, SCHEDOP_shutdown);
	assert_int_equal(UNIK_XEN_SCHEDOP_SHUTDOWN_CODE, SCHEDOP_shutdown_code);
	assert_int_equal(UNIK_XEN_SHUTDOWN_POWEROFF, SHUTDOWN_poweroff);
	assert_int_equal(UNIK_XEN_SHUTDOWN_CRASH, SHUTDOWN_crash);
	assert_int_equal(UNIK_XEN_EVTCHNOP_SEND, EVTCHNOP_send);
	assert_int_equal(UNIK_XEN_HVMOP_GET_PARAM, HVMOP_get_param);
	assert_int_equal(UNIK_XEN_HVM_PARAM_CONSOLE_PFN, HVM_PARAM_CONSOLE_PFN);
	assert_int_equal(UNIK_XEN_HVM_PARAM_CONSOLE_EVTCHN, HVM_PARAM_CONSOLE_EVTCHN);
	assert_int_equal(UNIK_XEN_XENMEM_ADD_TO_PHYSMAP, XENMEM_add_to_physmap);
	assert_int_equal(UNIK_XEN_XENMEM_MEMORY_MAP, XENMEM_memory_map);
	assert_int_equal(UNIK_XEN_XENMAPSPACE_SHARED_INFO, XENMAPSPACE_shared_info);
	assert_int_equal(UNIK_XEN_LEGACY_MAX_VCPUS, XEN_LEGACY_MAX_VCPUS);
	assert_int_equal(UNIK_XEN_START_MAGIC, XEN_HVM_START_MAGIC_VALUE);
}

static void test_layouts(void **state)
{
	(void)state;
	SAME_LAYOUT(struct unik_xen_sched_shutdown, struct sched_shutdown);
	SAME_FIELD(struct unik_xen_sched_shutdown, struct sched_shutdown, reason, reason);

	SAME_LAYOUT(struct unik_xen_evtchn_send, struct evtchn_send);
	SAME_FIELD(struct unik_xen_evtchn_send, struct evtchn_send, port, port);

	SAME_LAYOUT(struct unik_xen_hvm_param, struct xen_hvm_param);
	SAME_FIELD(struct unik_xen_hvm_param, struct xen_hvm_param, domid, domid);
	SAME_FIELD(struct unik_xen_hvm_param, struct xen_hvm_param, index, index);
	SAME_FIELD(struct unik_xen_hvm_param, struct xen_hvm_param, value, value);

	SAME_LAYOUT(struct unik_xen_add_to_physmap, struct xen_add_to_physmap);
	SAME_FIELD(struct unik_xen_add_to_physmap, struct xen_add_to_physmap, domid, domid);
	SAME_FIELD(struct unik_xen_add_to_physmap, struct xen_add_to_physmap, size, size);
	SAME_FIELD(struct unik_xen_add_to_physmap, struct xen_add_to_physmap, space, space);
	SAME_FIELD(struct unik_xen_add_to_physmap, struct xen_add_to_physmap, idx, idx);
	SAME_FIELD(struct unik_xen_add_to_physmap, struct xen_add_to_physmap, gpfn, gpfn);

	SAME_LAYOUT(struct unik_xen_memory_map, struct xen_memory_map);
	SAME_FIELD(struct unik_xen_memory_map, struct xen_memory_map, nr_entries, nr_entries);
	SAME_FIELD(struct unik_xen_memory_map, struct xen_memory_map, buffer, buffer);
	SAME_LAYOUT(struct unik_xen_e820, struct boot_e820_entry);
	SAME_FIELD(struct unik_xen_e820, struct boot_e820_entry, addr, addr);
	SAME_FIELD(struct unik_xen_e820, struct boot_e820_entry, size, size);
	SAME_FIELD(struct unik_xen_e820, struct boot_e820_entry, type, type);

	SAME_LAYOUT(struct unik_xen_cons, struct xencons_interface);
	SAME_FIELD(struct unik_xen_cons, struct xencons_interface, in, in);
	SAME_FIELD(struct unik_xen_cons, struct xencons_interface, out, out);
	SAME_FIELD(struct unik_xen_cons, struct xencons_interface, in_cons, in_cons);
	SAME_FIELD(struct unik_xen_cons, struct xencons_interface, in_prod, in_prod);
	SAME_FIELD(struct unik_xen_cons, struct xencons_interface, out_cons, out_cons);
	SAME_FIELD(struct unik_xen_cons, struct xencons_interface, out_prod, out_prod);

	SAME_LAYOUT(struct unik_xen_vcpu_time_info, struct vcpu_time_info);
	SAME_FIELD(struct unik_xen_vcpu_time_info, struct vcpu_time_info, version, version);
	SAME_FIELD(struct unik_xen_vcpu_time_info, struct vcpu_time_info, tsc_timestamp,
	           tsc_timestamp);
	SAME_FIELD(struct unik_xen_vcpu_time_info, struct vcpu_time_info, system_time, system_time);
	SAME_FIELD(struct unik_xen_vcpu_time_info, struct vcpu_time_info, tsc_to_system_mul,
	           tsc_to_system_mul);
	SAME_FIELD(struct unik_xen_vcpu_time_info, struct vcpu_time_info, tsc_shift, tsc_shift);
	SAME_FIELD(struct unik_xen_vcpu_time_info, struct vcpu_time_info, flags, flags);

	SAME_LAYOUT(struct unik_xen_vcpu_info, struct vcpu_info);
	SAME_FIELD(struct unik_xen_vcpu_info, struct vcpu_info, evtchn_pending_sel,
	           evtchn_pending_sel);
	SAME_FIELD(struct unik_xen_vcpu_info, struct vcpu_info, time, time);

	/* Only the leading part of shared_info is ours; every field it has must sit where Xen's
	 * does. */
	assert_true(sizeof(struct unik_xen_shared_info) <= sizeof(struct shared_info));
	SAME_FIELD(struct unik_xen_shared_info, struct shared_info, vcpu_info, vcpu_info);
	SAME_FIELD(struct unik_xen_shared_info, struct shared_info, evtchn_pending, evtchn_pending);
	SAME_FIELD(struct unik_xen_shared_info, struct shared_info, evtchn_mask, evtchn_mask);
	SAME_FIELD(struct unik_xen_shared_info, struct shared_info, wc_version, wc_version);
	SAME_FIELD(struct unik_xen_shared_info, struct shared_info, wc_sec, wc_sec);
	SAME_FIELD(struct unik_xen_shared_info, struct shared_info, wc_nsec, wc_nsec);
	SAME_FIELD(struct unik_xen_shared_info, struct shared_info, wc_sec_hi, wc_sec_hi);

	SAME_LAYOUT(struct unik_xen_start_info, struct hvm_start_info);
	SAME_FIELD(struct unik_xen_start_info, struct hvm_start_info, magic, magic);
	SAME_FIELD(struct unik_xen_start_info, struct hvm_start_info, version, version);
	SAME_FIELD(struct unik_xen_start_info, struct hvm_start_info, nr_modules, nr_modules);
	SAME_FIELD(struct unik_xen_start_info, struct hvm_start_info, modlist_paddr, modlist_paddr);
	SAME_FIELD(struct unik_xen_start_info, struct hvm_start_info, cmdline_paddr, cmdline_paddr);
	SAME_FIELD(struct unik_xen_start_info, struct hvm_start_info, memmap_paddr, memmap_paddr);
	SAME_FIELD(struct unik_xen_start_info, struct hvm_start_info, memmap_entries,
	           memmap_entries);
	SAME_LAYOUT(struct unik_xen_modlist_entry, struct hvm_modlist_entry);
	SAME_FIELD(struct unik_xen_modlist_entry, struct hvm_modlist_entry, paddr, paddr);
	SAME_FIELD(struct unik_xen_modlist_entry, struct hvm_modlist_entry, size, size);
	SAME_LAYOUT(struct unik_xen_memmap_entry, struct hvm_memmap_table_entry);
	SAME_FIELD(struct unik_xen_memmap_entry, struct hvm_memmap_table_entry, addr, addr);
	SAME_FIELD(struct unik_xen_memmap_entry, struct hvm_memmap_table_entry, size, size);
	SAME_FIELD(struct unik_xen_memmap_entry, struct hvm_memmap_table_entry, type, type);
}

/* --- the console ring --- */

static void test_ring_sizes_and_mask(void **state)
{
	(void)state;
	struct xencons_interface x;
	assert_int_equal(UNIK_XEN_CONS_OUT_SIZE, sizeof(x.out));
	assert_int_equal(UNIK_XEN_CONS_IN_SIZE, sizeof(x.in));
	/* Where byte number prod lands must be where Xen's own macro puts it. */
	static struct unik_xen_cons ring;
	uint32_t starts[] = {0, 1, 2047, 2048, 4095, 0x7ffffffe, 0xfffff800, 0xffffffff};
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		memset(ring.out, 0, sizeof(ring.out));
		uint32_t prod = starts[i];
		assert_int_equal(
		    unik_xen_ring_put(ring.out, UNIK_XEN_CONS_OUT_SIZE, starts[i], &prod, "Z", 1),
		    1);
		assert_int_equal(ring.out[MASK_XENCONS_IDX(starts[i], x.out)], 'Z');
		assert_int_equal(prod, (uint32_t)(starts[i] + 1));
	}
}

static void test_ring_put_wraps(void **state)
{
	(void)state;
	static struct unik_xen_cons ring;
	memset(&ring, 0, sizeof(ring));
	/* 10 bytes starting 4 before the end of the 2048-byte ring: 4 at the end, 6 at the start.
	 */
	uint32_t cons = 2044, prod = 2044;
	assert_int_equal(
	    unik_xen_ring_put(ring.out, UNIK_XEN_CONS_OUT_SIZE, cons, &prod, "0123456789", 10), 10);
	assert_int_equal(prod, 2054);
	assert_memory_equal(ring.out + 2044, "0123", 4);
	assert_memory_equal(ring.out, "456789", 6);
	/* What a consumer reads back is the same bytes in order. */
	char back[16] = {0};
	assert_int_equal(
	    unik_xen_ring_get(ring.out, UNIK_XEN_CONS_OUT_SIZE, &cons, prod, back, sizeof(back)),
	    10);
	assert_string_equal(back, "0123456789");
	assert_int_equal(cons, prod);
}

static void test_ring_full(void **state)
{
	(void)state;
	static struct unik_xen_cons ring;
	static char big[3000];
	memset(big, 'x', sizeof(big));
	uint32_t cons = 100, prod = 100;
	/* An empty ring takes exactly its size, no more. */
	assert_int_equal(
	    unik_xen_ring_put(ring.out, UNIK_XEN_CONS_OUT_SIZE, cons, &prod, big, sizeof(big)),
	    2048);
	assert_int_equal(prod - cons, 2048);
	/* Full: nothing goes in, prod does not move. */
	assert_int_equal(unik_xen_ring_put(ring.out, UNIK_XEN_CONS_OUT_SIZE, cons, &prod, "y", 1),
	                 0);
	assert_int_equal(prod, 2148);
	/* The consumer frees 5 bytes: exactly 5 more fit. */
	cons += 5;
	assert_int_equal(
	    unik_xen_ring_put(ring.out, UNIK_XEN_CONS_OUT_SIZE, cons, &prod, "abcdefgh", 8), 5);
	assert_int_equal(prod - cons, 2048);
	assert_memory_equal(ring.out + (2148 & 2047), "abcde", 5);
}

static void test_ring_index_overflow(void **state)
{
	(void)state;
	static struct unik_xen_cons ring;
	/* Indices wrap at 2^32: 2000 bytes in use across the wrap, 48 free. */
	uint32_t cons = 0xfffffc00u, prod = 0xfffffc00u + 2000u;
	assert_int_equal(prod, 0x3d0);
	static char big[100];
	memset(big, 'q', sizeof(big));
	assert_int_equal(
	    unik_xen_ring_put(ring.out, UNIK_XEN_CONS_OUT_SIZE, cons, &prod, big, sizeof(big)), 48);
	assert_int_equal(prod, 0x400);
	assert_int_equal(prod - cons, 2048);
	/* Indices further apart than the ring (a corrupt consumer) take nothing. */
	uint32_t bad = cons + 4000;
	assert_int_equal(unik_xen_ring_put(ring.out, UNIK_XEN_CONS_OUT_SIZE, cons, &bad, "z", 1),
	                 0);
	assert_int_equal(bad, cons + 4000);
	char out[8];
	uint32_t c = 0;
	assert_int_equal(unik_xen_ring_get(ring.in, UNIK_XEN_CONS_IN_SIZE, &c, 2000, out, 8), 0);
	assert_int_equal(c, 0);
}

static void test_ring_get_partial(void **state)
{
	(void)state;
	static struct unik_xen_cons ring;
	memcpy(ring.in + 1020, "abcd", 4);
	memcpy(ring.in, "ef", 2);
	uint32_t cons = 1020;
	char out[4];
	assert_int_equal(unik_xen_ring_get(ring.in, UNIK_XEN_CONS_IN_SIZE, &cons, 1026, out, 3), 3);
	assert_memory_equal(out, "abc", 3);
	assert_int_equal(unik_xen_ring_get(ring.in, UNIK_XEN_CONS_IN_SIZE, &cons, 1026, out, 4), 3);
	assert_memory_equal(out, "def", 3);
	assert_int_equal(cons, 1026);
	assert_int_equal(unik_xen_ring_get(ring.in, UNIK_XEN_CONS_IN_SIZE, &cons, 1026, out, 4), 0);
}

/* --- CPUID detection against fake CPUs --- */

struct fake_leaf {
	uint32_t leaf;
	const char *sig; /* 12 bytes: ebx ecx edx */
	uint32_t eax;
};
struct fake_cpu {
	const struct fake_leaf *leaves;
	int calls;
};

static void fake_cpuid(void *ctx, uint32_t leaf, uint32_t r[4])
{
	struct fake_cpu *cpu = ctx;
	cpu->calls++;
	memset(r, 0, 4 * sizeof(uint32_t));
	for (const struct fake_leaf *l = cpu->leaves; l->sig; l++)
		if (l->leaf == leaf) {
			r[0] = l->eax;
			memcpy(&r[1], l->sig, 12);
		}
}

static uint32_t detect(const struct fake_leaf *leaves, int *calls)
{
	struct fake_cpu cpu = {leaves, 0};
	uint32_t base = unik_xen_cpuid_base(fake_cpuid, &cpu);
	*calls = cpu.calls;
	return base;
}

static void test_cpuid_detection(void **state)
{
	(void)state;
	int calls;
	static const struct fake_leaf xen[] = {{0x40000000, "XenVMMXenVMM", 0x40000005}, {0}};
	assert_int_equal(detect(xen, &calls), 0x40000000);
	assert_int_equal(calls, 1);

	static const struct fake_leaf viridian[] = {{0x40000000, "Microsoft Hv", 0x40000006},
	                                            {0x40000100, "XenVMMXenVMM", 0x40000105},
	                                            {0}};
	assert_int_equal(detect(viridian, &calls), 0x40000100);
	assert_int_equal(calls, 2);

	/* KVM and TCG cost exactly one CPUID. */
	static const struct fake_leaf kvm[] = {{0x40000000, "KVMKVMKVM\0\0\0", 0x40000001}, {0}};
	assert_int_equal(detect(kvm, &calls), 0);
	assert_int_equal(calls, 1);
	static const struct fake_leaf none[] = {{0}};
	assert_int_equal(detect(none, &calls), 0);
	assert_int_equal(calls, 1);
	static const struct fake_leaf tcg[] = {{0x40000000, "GenuineIntel", 0x16}, {0}};
	assert_int_equal(detect(tcg, &calls), 0);
	assert_int_equal(calls, 1);

	/* KVM with Hyper-V enlightenments: Viridian first, then KVM, not Xen. */
	static const struct fake_leaf kvm_hv[] = {{0x40000000, "Microsoft Hv", 0x4000000b},
	                                          {0x40000100, "KVMKVMKVM\0\0\0", 0x40000101},
	                                          {0}};
	assert_int_equal(detect(kvm_hv, &calls), 0);
	assert_int_equal(calls, 2);

	/* A Xen that lacks the hypercall leaf (base + 2) is no use. */
	static const struct fake_leaf short_xen[] = {{0x40000000, "XenVMMXenVMM", 0x40000001}, {0}};
	assert_int_equal(detect(short_xen, &calls), 0);

	/* Xen further out than Viridian's neighbour is never where Xen puts itself. */
	static const struct fake_leaf far[] = {{0x40000000, "Microsoft Hv", 0x40000006},
	                                       {0x40000100, "Microsoft Hv", 0x40000106},
	                                       {0x40000200, "XenVMMXenVMM", 0x40000205},
	                                       {0}};
	assert_int_equal(detect(far, &calls), 0);
	assert_int_equal(calls, 2);
}

static void test_shutdown_and_wall_clock(void **state)
{
	(void)state;
	assert_int_equal(unik_xen_shutdown_reason(false), SHUTDOWN_poweroff);
	assert_int_equal(unik_xen_shutdown_reason(true), SHUTDOWN_crash);
	assert_int_equal(unik_xen_wall_ns(1700000000u, 0, 5), 1700000000000000005LL);
	/* wc_sec_hi carries the seconds past 2^32 (the year 2106). */
	assert_int_equal(unik_xen_wall_ns(1, 1, 0), (int64_t)((1ULL << 32) + 1) * 1000000000LL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_layouts),
	    cmocka_unit_test(test_ring_sizes_and_mask),
	    cmocka_unit_test(test_ring_put_wraps),
	    cmocka_unit_test(test_ring_full),
	    cmocka_unit_test(test_ring_index_overflow),
	    cmocka_unit_test(test_ring_get_partial),
	    cmocka_unit_test(test_cpuid_detection),
	    cmocka_unit_test(test_shutdown_and_wall_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
