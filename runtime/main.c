/* Start-up: bring the machine up in order, read the command line, build the process's initial
 * stack as Linux's execve would, and jump to musl's _start. */
#include "fs.h"

const char *proc_name = "app";
static struct boot_info bi;

extern char _start[];
extern void unik_enter_user(void *entry, uint64_t sp) NORETURN;

/* --- the command line: env(1) style words with shell quoting (docs/guest-abi.md) --- */

struct words {
	char **v;
	int n, cap;
};

static void words_push(struct words *w, char *s)
{
	if (w->n + 1 >= w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->v = krealloc(w->v, sizeof(char *) * (size_t)w->cap);
		if (!w->v)
			panic("out of memory reading the command line");
	}
	w->v[w->n++] = s;
	w->v[w->n] = NULL;
}

static void split_words(const char *s, size_t len, struct words *out)
{
	char *buf = kmalloc(len + 1);
	size_t i = 0;
	while (i < len) {
		while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
			i++;
		if (i >= len)
			break;
		size_t n = 0;
		char quote = 0;
		for (; i < len; i++) {
			char c = s[i];
			if (quote == '\'') {
				if (c == '\'')
					quote = 0;
				else
					buf[n++] = c;
			} else if (quote == '"') {
				if (c == '"')
					quote = 0;
				else if (c == '\\' && i + 1 < len &&
				         (s[i + 1] == '"' || s[i + 1] == '\\' || s[i + 1] == '$' ||
				          s[i + 1] == '`'))
					buf[n++] = s[++i];
				else
					buf[n++] = c;
			} else if (c == '\'' || c == '"') {
				quote = c;
			} else if (c == '\\' && i + 1 < len) {
				buf[n++] = s[++i];
			} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
				break;
			} else {
				buf[n++] = c;
			}
		}
		if (quote)
			kprintf(UNIK_CONSOLE_PREFIX "command line: unterminated %c quote\n", quote);
		words_push(out, k_strndup(buf, n));
	}
	kfree(buf);
}

static bool is_assignment(const char *w)
{
	const char *p = w;
	if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_'))
		return false;
	for (p++; *p != '='; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* Leading NAME=VALUE words (up to an optional "--") are the environment, the rest argv. */
static void parse_cmdline(const char *s, size_t len, bool drop_first, struct words *env,
                          struct words *argv)
{
	struct words w = {0};
	split_words(s, len, &w);
	int i = drop_first && w.n ? 1 : 0;
	for (; i < w.n && is_assignment(w.v[i]); i++) {
		size_t klen = (size_t)(k_strchr(w.v[i], '=') - w.v[i]);
		int k;
		for (k = 0; k < env->n; k++)
			if (!k_strncmp(env->v[k], w.v[i], klen + 1))
				break;
		if (k < env->n)
			env->v[k] = w.v[i]; /* the boot line overrides what was baked in */
		else
			words_push(env, w.v[i]);
	}
	if (i < w.n && !k_strcmp(w.v[i], "--"))
		i++;
	if (i < w.n)
		argv->n = 0;
	for (; i < w.n; i++)
		words_push(argv, w.v[i]);
}

/* --- the initial stack --- */

static struct linux_phdr tls_phdr;

static uint64_t push_bytes(uint64_t sp, const void *p, size_t n)
{
	sp -= n;
	k_memcpy((void *)sp, p, n);
	return sp;
}

static NORETURN void start_process(struct words *argv, struct words *env)
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

static uint32_t boot_magic_value, boot_info_value;

/* Everything after the privileged set-up runs in ring 3, natively even where a hypervisor
 * emulates ring 0; the few privileged steps go through ring0(). */
static NORETURN void kmain_ring3(void)
{
	boot_parse(boot_magic_value, boot_info_value, &bi);
	mem_init(&bi);
	clock_init();
	fs_init();
	size_t rootfs_len = (size_t)(__unik_rootfs_end - __unik_rootfs_start);
	if (rootfs_len)
		fs_load_cpio(__unik_rootfs_start, rootfs_len, true, "embedded root fs");
	for (int i = 0; i < bi.nmodules; i++)
		fs_load_cpio((const void *)bi.modules[i].start,
		             bi.modules[i].end - bi.modules[i].start, true, "initrd");
	fs_add_etc_defaults();
	files_init();

	struct words env = {0}, argv = {0};
	size_t baked_len =
	    k_strnlen(__unik_cmdline_start, (size_t)(__unik_cmdline_end - __unik_cmdline_start));
	parse_cmdline(__unik_cmdline_start, baked_len, false, &env, &argv);
	if (bi.cmdline)
		parse_cmdline((const char *)bi.cmdline, bi.cmdline_len, bi.drop_first_word, &env,
		              &argv);
	if (!argv.n)
		words_push(&argv, k_strdup("app"));
	const char *slash = argv.v[0];
	for (const char *c = argv.v[0]; *c; c++)
		if (*c == '/')
			slash = c + 1;
	proc_name = slash;
	start_process(&argv, &env);
}

void kmain(uint32_t magic, uint32_t info)
{
	console_init();
	cpu_init();
	cpu_enable_syscalls();
	boot_magic_value = magic;
	boot_info_value = info;
	cpu_drop_to_ring3(kmain_ring3);
}
