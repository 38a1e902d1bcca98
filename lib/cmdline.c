/* Host implementation of the guest command-line grammar: quoting, composing and splitting. */
#include "lib/cmdline.h"

#include <stdlib.h>
#include <string.h>

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_ident_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_ident(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

bool unik_env_name_valid(const char *name, size_t len)
{
	if (len == 0 || !is_ident_start(name[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_ident(name[i]))
			return false;
	return true;
}

bool unik_env_word_valid(const char *word)
{
	const char *eq = strchr(word, '=');

	return eq && unik_env_name_valid(word, (size_t)(eq - word));
}

/* A dynamically grown byte buffer, always NUL-terminated. */
struct buf {
	char *p;
	size_t len, cap;
};

static void buf_putc(struct buf *b, char c)
{
	if (b->len + 2 > b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->p = xrealloc(b->p, b->cap);
	}
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
	while (*s)
		buf_putc(b, *s++);
}

static char *buf_take(struct buf *b)
{
	char *p = b->p ? b->p : xstrdup("");

	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

/* Characters that mean nothing to the grammar or to sh, so a word made only of them needs no
 * quotes.  Keeping sh's view too lets people paste a command line into a shell. */
static bool is_safe(char c)
{
	return is_ident(c) || (c != '\0' && strchr("-./:,+@%=^", c));
}

static void quote_into(struct buf *b, const char *word)
{
	bool safe = *word != '\0';

	for (const char *p = word; *p && safe; p++)
		safe = is_safe(*p);
	if (safe) {
		buf_puts(b, word);
		return;
	}
	buf_putc(b, '\'');
	for (const char *p = word; *p; p++) {
		if (*p == '\'')
			buf_puts(b, "'\\''");
		else
			buf_putc(b, *p);
	}
	buf_putc(b, '\'');
}

char *unik_cmdline_quote_word(const char *word)
{
	struct buf b = {0};

	quote_into(&b, word);
	return buf_take(&b);
}

int unik_cmdline_compose(const struct strv *env, const struct strv *argv, char **out,
                         struct unik_error *err)
{
	struct buf b = {0};

	for (size_t i = 0; env && i < env->n; i++) {
		const char *eq = strchr(env->v[i], '=');

		if (!unik_env_word_valid(env->v[i])) {
			unik_error_set(err, UNIK_E_INVALID,
			               "environment word `%s` is not NAME=VALUE with NAME made of "
			               "letters, digits and _ (not starting with a digit)",
			               env->v[i]);
			free(b.p);
			return -1;
		}
		if (b.len)
			buf_putc(&b, ' ');
		/* NAME= stays bare so that readers which only look at the raw text still see it. */
		for (const char *p = env->v[i]; p <= eq; p++)
			buf_putc(&b, *p);
		if (eq[1] != '\0')
			quote_into(&b, eq + 1);
	}
	if (argv && argv->n > 0 && unik_env_word_valid(argv->v[0])) {
		unik_error_set(err, UNIK_E_INVALID,
		               "program name `%s` would be read as an environment variable "
		               "(NAME=VALUE); choose a name without `=`",
		               argv->v[0]);
		free(b.p);
		return -1;
	}
	/* The guest drops a "--" that ends the environment: a program named so needs one more. */
	if (argv && argv->n > 0 && strcmp(argv->v[0], "--") == 0)
		buf_puts(&b, b.len ? " --" : "--");
	for (size_t i = 0; argv && i < argv->n; i++) {
		if (b.len)
			buf_putc(&b, ' ');
		quote_into(&b, argv->v[i]);
	}
	*out = buf_take(&b);
	return 0;
}

void unik_cmdline_free(struct unik_cmdline *c)
{
	strv_free(&c->env);
	strv_free(&c->argv);
}

int unik_cmdline_split(const char *s, struct unik_cmdline *out, struct unik_error *err)
{
	const char *p = s;
	bool env_done = false; /* a "--" ended the environment, as in the guest */

	memset(out, 0, sizeof(*out));
	for (;;) {
		struct buf w = {0};
		char *word;

		while (is_blank(*p))
			p++;
		if (*p == '\0')
			return 0;
		/* w.p stays NULL for an empty quoted word; buf_take turns that into "". */
		while (*p && !is_blank(*p)) {
			if (*p == '\'') {
				const char *end = strchr(p + 1, '\'');

				if (!end) {
					unik_error_set(err, UNIK_E_INVALID,
					               "command line: unterminated ' (opened at "
					               "offset %zu)",
					               (size_t)(p - s));
					free(w.p);
					return -1;
				}
				for (p++; p < end; p++)
					buf_putc(&w, *p);
				p = end + 1;
			} else if (*p == '"') {
				size_t open = (size_t)(p - s);

				for (p++; *p && *p != '"'; p++) {
					if (*p == '\\' && p[1] && strchr("\\\"$`", p[1]))
						p++;
					buf_putc(&w, *p);
				}
				if (*p != '"') {
					unik_error_set(err, UNIK_E_INVALID,
					               "command line: unterminated \" (opened at "
					               "offset %zu)",
					               open);
					free(w.p);
					return -1;
				}
				p++;
			} else if (*p == '\\') {
				if (p[1] == '\0') {
					unik_error_set(err, UNIK_E_INVALID,
					               "command line: ends with a lone backslash");
					free(w.p);
					return -1;
				}
				buf_putc(&w, p[1]);
				p += 2;
			} else {
				buf_putc(&w, *p++);
			}
		}
		word = buf_take(&w);
		if (!env_done && out->argv.n == 0 && unik_env_word_valid(word)) {
			strv_push_take(&out->env, word);
		} else if (!env_done && out->argv.n == 0 && strcmp(word, "--") == 0) {
			env_done = true;
			free(word);
		} else {
			strv_push_take(&out->argv, word);
		}
	}
}
