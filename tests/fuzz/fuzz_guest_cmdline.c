/* libFuzzer entry point: the guest's command-line parser (runtime/kernel/cmdline.c, compiled for
 * the host).  Input: one flags byte (bit 0: drop the first word, as after a multiboot loader), then
 * the command line baked into the image, a NUL, and the boot line, parsed in that order as the
 * runtime does at start-up.  Checks what docs/guest-abi.md promises of the result, and that the
 * guest agrees with the host's side of the grammar (lib/cmdline.c): it splits the boot line into
 * the same words, and reads back exactly the words the host composed a command line from.  The
 * device manifest (guest ABI v2) is read from the boot line: a well-formed device table comes
 * out, and manifest words the host puts in front of a line change nothing else in it. */
#define UNIK_CMDLINE_HOST
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The runtime's helpers, over an arena freed after each input: the runtime never frees what
 * the command line allocates, so the fuzzer must not see that as a leak. */
struct fz_block {
	struct fz_block *next;
	size_t size;
	_Alignas(16) unsigned char data[];
};
static struct fz_block *fz_arena;

static void *kmalloc(size_t n)
{
	struct fz_block *b = malloc(sizeof(*b) + n);
	if (!b)
		abort();
	b->next = fz_arena;
	b->size = n;
	fz_arena = b;
	return b->data;
}

static void kfree(void *p)
{
	(void)p; /* the arena takes it back */
}

static void *krealloc(void *p, size_t n)
{
	void *q = kmalloc(n);
	if (p) {
		struct fz_block *b =
		    (struct fz_block *)((unsigned char *)p - offsetof(struct fz_block, data));
		memcpy(q, p, b->size < n ? b->size : n);
	}
	return q;
}

static char *k_strndup(const char *s, size_t n)
{
	size_t l = strnlen(s, n);
	char *d = kmalloc(l + 1);
	memcpy(d, s, l);
	d[l] = 0;
	return d;
}

static char *k_strchr(const char *s, int c)
{
	return strchr(s, c);
}

static int k_strcmp(const char *a, const char *b)
{
	return strcmp(a, b);
}

static int k_strncmp(const char *a, const char *b, size_t n)
{
	return strncmp(a, b, n);
}

static size_t k_strlen(const char *s)
{
	return strlen(s);
}

static __attribute__((format(printf, 1, 2))) void kprintf(const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
}

static __attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...)
{
	(void)fmt;
	abort();
}

#include "runtime/kernel/cmdline.c"
#include "runtime/kernel/devices.c"

#include "lib/cmdline.h"
#include "lib/devices.h"

static void check_devices(const struct rt_devices *t)
{
	if (t->n < 0 || t->n > UNIK_DEV_MAX)
		abort();
	for (int i = 0; i < t->n; i++) {
		const struct rt_device *d = &t->d[i];
		size_t n = strnlen(d->name, sizeof(d->name));
		if (!n || n > UNIK_DEV_NAME_MAX || d->name[0] < 'a' || d->name[0] > 'z')
			abort();
		if (d->kind <= UNIK_DEV_CONSOLE || d->kind >= UNIK_DEV_KINDS)
			abort();
		if (d->mac[0] && (d->kind != UNIK_DEV_NET || strlen(d->mac) != 17))
			abort();
		if (d->mount && d->mount[0] != '/')
			abort();
		for (int j = 0; j < i; j++)
			if (!strcmp(t->d[j].name, d->name))
				abort();
	}
}

static void same_guest_words(const struct cmdline_words *a, const struct cmdline_words *b,
                             const char *what)
{
	if (a->n != b->n) {
		fprintf(stderr, "%s: %d words with the manifest, %d without\n", what, a->n, b->n);
		abort();
	}
	for (int i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i])) {
			fprintf(stderr, "%s word %d: <%s> with the manifest, <%s> without\n", what,
			        i, a->v[i], b->v[i]);
			abort();
		}
}

static void check_words(const struct cmdline_words *w, size_t max_len)
{
	if (w->n < 0 || (w->n && !w->v) || (w->v && w->v[w->n]))
		abort(); /* not a NULL-terminated vector */
	for (int i = 0; i < w->n; i++)
		if (!w->v[i] || strlen(w->v[i]) > max_len)
			abort();
}

static void same_words(const struct cmdline_words *g, const struct strv *h, const char *what)
{
	if ((size_t)g->n != h->n) {
		fprintf(stderr, "%s: the guest has %d words, the host %zu\n", what, g->n, h->n);
		abort();
	}
	for (int i = 0; i < g->n; i++)
		if (strcmp(g->v[i], h->v[i])) {
			fprintf(stderr, "%s word %d: guest <%s>, host <%s>\n", what, i, g->v[i],
			        h->v[i]);
			abort();
		}
}

/* The environment as the guest keeps it: a later NAME=VALUE replaces an earlier one in place. */
static void guest_env(const struct strv *in, struct strv *out)
{
	for (size_t i = 0; i < in->n; i++) {
		size_t l = (size_t)(strchr(in->v[i], '=') - in->v[i]) + 1, k;
		for (k = 0; k < out->n; k++)
			if (!strncmp(out->v[k], in->v[i], l))
				break;
		if (k < out->n) {
			free(out->v[k]);
			out->v[k] = strdup(in->v[i]);
		} else {
			strv_push(out, in->v[i]);
		}
	}
}

int unik_fuzz_guest_cmdline(const uint8_t *data, size_t size);
int unik_fuzz_guest_cmdline(const uint8_t *data, size_t size)
{
	struct cmdline_words env = {0}, argv = {0};
	struct rt_devices devs = {0};
	if (!size)
		return 0;
	bool drop_first = data[0] & 1;
	const char *s = (const char *)data + 1;
	size_t len = size - 1;
	const char *nul = memchr(s, 0, len);
	size_t baked = nul ? (size_t)(nul - s) : len;

	cmdline_parse(s, baked, false, &env, &argv, NULL);
	if (nul)
		cmdline_parse(nul + 1, len - baked - 1, drop_first, &env, &argv, &devs);
	check_words(&env, len);
	check_words(&argv, len);
	check_devices(&devs);
	for (int i = 0; i < env.n; i++) {
		/* NAME=VALUE with NAME = [A-Za-z_][A-Za-z0-9_]*, each name once. */
		const char *e = env.v[i], *eq = strchr(e, '=');
		if (!eq || eq == e || (e[0] >= '0' && e[0] <= '9'))
			abort();
		for (const char *p = e; p < eq; p++)
			if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			      (*p >= '0' && *p <= '9') || *p == '_'))
				abort();
		for (int j = 0; j < i; j++)
			if (!strncmp(env.v[j], e, (size_t)(eq - e) + 1))
				abort();
	}

	/* The host's split of the boot line, where it accepts it, is the guest's. */
	if (nul) {
		struct cmdline_words ge = {0}, ga = {0};
		struct unik_cmdline hc = {0};
		struct unik_error err;
		char *line = strndup(nul + 1, len - baked - 1);
		cmdline_parse(line, strlen(line), false, &ge, &ga, NULL);
		if (unik_cmdline_split(line, &hc, &err) == 0) {
			struct strv want = {0};
			guest_env(&hc.env, &want);
			same_words(&ge, &want, "environment");
			same_words(&ga, &hc.argv, "argv");
			strv_free(&want);
		}
		unik_cmdline_free(&hc);
		free(line);
	}

	/* Whatever words the host composes a command line from, the guest reads back. */
	{
		struct strv env = {0}, av = {0};
		struct cmdline_words ge = {0}, ga = {0};
		struct unik_error err;
		char *line = NULL;
		for (const char *p = s, *end = s + len; p < end;) {
			const char *q = memchr(p, 0, (size_t)(end - p));
			size_t l = q ? (size_t)(q - p) : (size_t)(end - p);
			char *w = strndup(p, l);
			if (!av.n && unik_env_word_valid(w))
				strv_push_take(&env, w);
			else
				strv_push_take(&av, w);
			p += l + 1;
		}
		if (unik_cmdline_compose(&env, &av, &line, &err) == 0) {
			struct strv want = {0};
			cmdline_parse(line, strlen(line), false, &ge, &ga, NULL);
			guest_env(&env, &want);
			same_words(&ge, &want, "composed environment");
			strv_free(&want);
			same_words(&ga, &av, "composed argv");
		}
		free(line);
		strv_free(&env);
		strv_free(&av);
	}
	/* The host's manifest words in front of the boot line change nothing else in it. */
	if (nul) {
		struct unik_device hd[] = {
		    {.kind = UNIK_DEVICE_NET, .name = "net0", .mac = "52:54:00:12:34:56"},
		    {.kind = UNIK_DEVICE_BLK, .name = "data", .readonly = true, .mount = "/a b,c"},
		    {.kind = UNIK_DEVICE_FS, .name = "share", .mount = "/mnt"},
		};
		struct cmdline_words e1 = {0}, a1 = {0}, e2 = {0}, a2 = {0};
		struct rt_devices d1 = {0}, d2 = {0};
		char *line = strndup(nul + 1, len - baked - 1);
		char *full = unik_devices_cmdline(hd, sizeof(hd) / sizeof(hd[0]), line);
		cmdline_parse(line, strlen(line), false, &e1, &a1, &d1);
		cmdline_parse(full, strlen(full), false, &e2, &a2, &d2);
		same_guest_words(&e2, &e1, "environment");
		same_guest_words(&a2, &a1, "argv");
		check_devices(&d2);
		if (d2.n < 3 || strcmp(d2.d[1].mount, "/a b,c") || !d2.d[1].readonly ||
		    strcmp(d2.d[0].mac, "52:54:00:12:34:56"))
			abort(); /* the host's words did not come through */
		free(line);
		free(full);
	}
	while (fz_arena) {
		struct fz_block *b = fz_arena;
		fz_arena = b->next;
		free(b);
	}
	return 0;
}

#ifndef UNIK_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return unik_fuzz_guest_cmdline(data, size);
}
#endif
