/* The guest's command line: env(1) style words with shell quoting (docs/guest-abi.md).
 * Freestanding and free of kernel state: see cmdline.h. */
#include "kernel/cmdline.h"
#include "kernel/devices.h"

void cmdline_push(struct cmdline_words *w, char *s)
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

static void split_words(const char *s, size_t len, struct cmdline_words *out)
{
	char *buf = kmalloc(len + 1);
	size_t i = 0;
	if (!buf)
		panic("out of memory reading the command line");
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
		cmdline_push(out, k_strndup(buf, n));
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
void cmdline_parse(const char *s, size_t len, bool drop_first, struct cmdline_words *env,
                   struct cmdline_words *argv, struct rt_devices *devs)
{
	struct cmdline_words w = {0};
	split_words(s, len, &w);
	int i = drop_first && w.n ? 1 : 0;
	/* Guest ABI v2: the host's device manifest comes before everything else (with the
	 * devices' network configuration, which net/netif.c reads: devices.h). */
	while (devs && i < w.n && devices_take_word(w.v[i], devs))
		i++;
	for (; i < w.n && is_assignment(w.v[i]); i++) {
		size_t klen = (size_t)(k_strchr(w.v[i], '=') - w.v[i]);
		int k;
		for (k = 0; k < env->n; k++)
			if (!k_strncmp(env->v[k], w.v[i], klen + 1))
				break;
		if (k < env->n)
			env->v[k] = w.v[i]; /* the boot line overrides what was baked in */
		else
			cmdline_push(env, w.v[i]);
	}
	if (i < w.n && !k_strcmp(w.v[i], "--"))
		i++;
	if (i < w.n)
		argv->n = 0;
	for (; i < w.n; i++)
		cmdline_push(argv, w.v[i]);
	kfree(w.v);
}
