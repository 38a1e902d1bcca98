/* Start-up: bring the machine up in order, read the command line, build the process's initial
 * stack as Linux's execve would, and jump to musl's _start. */
#include "kernel/cmdline.h"
#include "kernel/devices.h"
#include "fs/fs.h"

const char *proc_name = "app";
/* What the loader handed over (kernel.h). */
struct boot_info boot_info;
/* The devices the host attached, from the boot line's manifest (devices.h). */
struct rt_devices boot_devices;

/* musl's entry (crt1.o); a service (--unik-service) has none and never starts a process. */
extern char _start[] __attribute__((weak));
/* The includeos backend's event loop (service/loop.c), in unikrt-service.o only: where it is
 * linked it runs instead of a process. */
extern NORETURN void unik_service_run(void) __attribute__((weak));
extern void unik_enter_user(void *entry, uint64_t sp) NORETURN;

/* --- the initial stack --- */

static struct linux_phdr tls_phdr;

static uint64_t push_bytes(uint64_t sp, const void *p, size_t n)
{
	sp -= n;
	k_memcpy((void *)sp, p, n);
	return sp;
}

static NORETURN void start_process(struct cmdline_words *argv, struct cmdline_words *env)
{
	uint64_t sp = user_stack_top();
	uint64_t *argp = kmalloc(sizeof(uint64_t) * (size_t)(argv->n + env->n + 2));
	for (int i = env->n - 1; i >= 0; i--)
		argp[argv->n + i] = sp = push_bytes(sp, env->v[i], k_strlen(env->v[i]) + 1);
	for (int i = argv->n - 1; i >= 0; i--)
		argp[i] = sp = push_bytes(sp, argv->v[i], k_strlen(argv->v[i]) + 1);
	uint64_t platform = sp = push_bytes(sp, "x86_64", 7);
	uint8_t rnd[16];
	random_bytes(rnd, sizeof(rnd));
	sp &= ~15UL;
	uint64_t random = sp = push_bytes(sp, rnd, sizeof(rnd));

	/* musl finds its static TLS image through the program headers; hand it exactly one. */
	tls_phdr.p_type = PT_TLS;
	tls_phdr.p_flags = 4;
	tls_phdr.p_vaddr = tls_phdr.p_paddr = (uint64_t)__unik_tdata_start;
	tls_phdr.p_filesz = (uint64_t)(__unik_tdata_end - __unik_tdata_start);
	tls_phdr.p_memsz = (uint64_t)(__unik_tbss_end - __unik_tdata_start);
	tls_phdr.p_align = 64;

	uint64_t aux[][2] = {
	    {AT_PHDR, (uint64_t)&tls_phdr},
	    {AT_PHENT, sizeof(struct linux_phdr)},
	    {AT_PHNUM, 1},
	    {AT_PAGESZ, PAGE_SIZE},
	    {AT_ENTRY, (uint64_t)_start},
	    {AT_UID, 0},
	    {AT_EUID, 0},
	    {AT_GID, 0},
	    {AT_EGID, 0},
	    {AT_SECURE, 0},
	    {AT_HWCAP, cpu_hwcap()},
	    {AT_CLKTCK, 100},
	    {AT_PLATFORM, platform},
	    {AT_RANDOM, random},
	    {AT_EXECFN, argv->n ? argp[0] : 0},
	    {AT_SYSINFO_EHDR, clock_vdso()},
	    {AT_NULL, 0},
	};
	size_t words = 1 + (size_t)argv->n + 1 + (size_t)env->n + 1 + 2 * ARRAY_SIZE(aux);
	sp = (sp - words * 8) & ~15UL;
	uint64_t *p = (uint64_t *)sp;
	*p++ = (uint64_t)argv->n;
	for (int i = 0; i < argv->n; i++)
		*p++ = argp[i];
	*p++ = 0;
	for (int i = 0; i < env->n; i++)
		*p++ = argp[argv->n + i];
	*p++ = 0;
	k_memcpy(p, aux, sizeof(aux));
	kfree(argp);

	fs_clock_ready = true;
	unik_enter_user(_start, sp);
}

/* The archives the image carries and the loader's modules; a level of its own, since the boot
 * info it reads is main.c's. */
static void rootfs_load(void)
{
	size_t rootfs_len = (size_t)(__unik_rootfs_end - __unik_rootfs_start);
	if (rootfs_len)
		fs_load_cpio(__unik_rootfs_start, rootfs_len, true, "embedded root fs");
	for (int i = 0; i < boot_info.nmodules; i++)
		fs_load_cpio((const void *)boot_info.modules[i].start,
		             boot_info.modules[i].end - boot_info.modules[i].start, true, "initrd");
}
UNIK_INIT(INIT_ROOTFS, rootfs_load);

void init_run(int lo, int hi)
{
	int last = 0;
	for (const struct init_entry *e = __unik_init_start; e < __unik_init_end; e++) {
		/* The linker script sorts the entries; an unsorted table is a broken unik.ld. */
		if (e->level < last)
			panic("init level %d after %d: unik.ld does not sort .unik_init", e->level,
			      last);
		last = e->level;
		if (e->level >= lo && e->level <= hi)
			e->fn();
	}
}

static uint32_t boot_magic_value, boot_info_value;

/* Everything after the privileged set-up runs in ring 3, natively even where a hypervisor
 * emulates ring 0; the few privileged steps go through ring0(). */
static NORETURN void kmain_ring3(void)
{
	boot_parse(boot_magic_value, boot_info_value, &boot_info);
	mem_init(&boot_info);

	/* The command line first: the device manifest in it is what drivers, started by the init
	 * levels below, look their devices up in. */
	struct cmdline_words env = {0}, argv = {0};
	size_t baked_len =
	    k_strnlen(__unik_cmdline_start, (size_t)(__unik_cmdline_end - __unik_cmdline_start));
	cmdline_parse(__unik_cmdline_start, baked_len, false, &env, &argv, NULL);
	if (boot_info.cmdline)
		cmdline_parse((const char *)boot_info.cmdline, boot_info.cmdline_len,
		              boot_info.drop_first_word, &env, &argv, &boot_devices);
	if (boot_devices.hostname[0])
		kern_set_hostname(boot_devices.hostname, k_strlen(boot_devices.hostname));
	init_run(INIT_RING0_LAST + 1, INIT_LAST);
	if (unik_service_run)
		unik_service_run();

	if (!argv.n)
		cmdline_push(&argv, k_strdup("app"));
	const char *slash = argv.v[0];
	for (const char *c = argv.v[0]; *c; c++)
		if (*c == '/')
			slash = c + 1;
	proc_name = slash;
	start_process(&argv, &env);
}

void kmain(uint32_t magic, uint32_t info)
{
	init_run(0, INIT_RING0_LAST);
	boot_magic_value = magic;
	boot_info_value = info;
	in_kernel_ring3 = 1; /* until unik_enter_user: the faults of kmain_ring3 are the kernel's */
	cpu_drop_to_ring3(kmain_ring3);
}
