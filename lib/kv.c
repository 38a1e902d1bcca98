/* The key=value record files of the providers: parse, look up, change and save. */
#include "lib/kv.h"

#include <stdlib.h>
#include <string.h>

/* Whether the line of len bytes at line is a record for key: "key=..." (never a mere prefix). */
static bool is_key_line(const char *line, size_t len, const char *key)
{
	size_t kl = strlen(key);

	return kl > 0 && len > kl && line[0] != '#' && !strncmp(line, key, kl) && line[kl] == '=';
}

void unik_kv_free(struct unik_kv *kv)
{
	strv_free(&kv->lines);
}

void unik_kv_parse(struct unik_kv *kv, const char *text)
{
	strv_free(&kv->lines);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (len > 0 && *p != '#')
			strv_push_take(&kv->lines, xstrndup(p, len));
		p = nl ? nl + 1 : NULL;
	}
}

int unik_kv_load(const char *path, struct unik_kv *kv, struct unik_error *err)
{
	_cleanup_free_ char *text = NULL;
	struct unik_error e = {0};

	strv_free(&kv->lines);
	if (unik_read_file(path, &text, NULL, &e) < 0) {
		if (e.code == UNIK_E_NOTFOUND)
			return 0;
		if (err)
			*err = e;
		return -1;
	}
	unik_kv_parse(kv, text);
	return 0;
}

int unik_kv_save(const char *path, const struct unik_kv *kv, struct unik_error *err)
{
	size_t len = 0, at = 0;
	_cleanup_free_ char *text = NULL;

	for (size_t i = 0; i < kv->lines.n; i++)
		len += strlen(kv->lines.v[i]) + 1;
	text = xmalloc(len + 1);
	for (size_t i = 0; i < kv->lines.n; i++) {
		size_t n = strlen(kv->lines.v[i]);

		memcpy(text + at, kv->lines.v[i], n);
		at += n;
		text[at++] = '\n';
	}
	text[at] = '\0';
	return unik_write_file_atomic(path, text, at, 0644, err);
}

static size_t find_line(const struct unik_kv *kv, const char *key)
{
	for (size_t i = 0; i < kv->lines.n; i++)
		if (is_key_line(kv->lines.v[i], strlen(kv->lines.v[i]), key))
			return i;
	return (size_t)-1;
}

const char *unik_kv_find(const struct unik_kv *kv, const char *key)
{
	size_t i = find_line(kv, key);

	return i == (size_t)-1 ? NULL : kv->lines.v[i] + strlen(key) + 1;
}

void unik_kv_set(struct unik_kv *kv, const char *key, const char *value)
{
	size_t i = find_line(kv, key);
	char *line = xasprintf("%s=%s", key, value ? value : "");

	if (i == (size_t)-1) {
		strv_push_take(&kv->lines, line);
		return;
	}
	free(kv->lines.v[i]);
	kv->lines.v[i] = line;
}

void unik_kv_del(struct unik_kv *kv, const char *key)
{
	size_t i = find_line(kv, key);

	if (i == (size_t)-1)
		return;
	free(kv->lines.v[i]);
	memmove(&kv->lines.v[i], &kv->lines.v[i + 1], (kv->lines.n - i) * sizeof(char *));
	kv->lines.n--;
}

bool unik_kv_get(const char *text, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);

		if (is_key_line(p, len, key)) {
			size_t n = len - klen - 1;

			if (n >= size)
				n = size - 1;
			memcpy(out, p + klen + 1, n);
			out[n] = '\0';
			return true;
		}
		p = nl ? nl + 1 : NULL;
	}
	out[0] = '\0';
	return false;
}
