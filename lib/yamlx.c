/* Strict YAML tree over libyaml's event parser: see yamlx.h. */
#include "lib/yamlx.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "lib/suggest.h"
#include "lib/util.h"

#define YAMLX_MAX_DEPTH 32

struct yparse {
	yaml_parser_t p;
	const char *fname;
	struct unik_error *err;
};

static void node_free(struct yamlx_node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++) {
		if (n->keys)
			node_free(n->keys[i]);
		node_free(n->vals[i]);
	}
	free(n->keys);
	free(n->vals);
	free(n->value);
	free(n);
}

void yamlx_free(struct yamlx_node *n)
{
	node_free(n);
}

static int next_event(struct yparse *y, yaml_event_t *ev)
{
	if (yaml_parser_parse(&y->p, ev))
		return 0;
	unik_error_set(y->err, UNIK_E_INVALID, "%s line %zu: %s%s%s", y->fname,
	               y->p.problem_mark.line + 1, y->p.problem ? y->p.problem : "syntax error",
	               y->p.context ? " " : "", y->p.context ? y->p.context : "");
	return -1;
}

static struct yamlx_node *new_node(enum yamlx_kind kind, const yaml_event_t *ev)
{
	struct yamlx_node *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->line = (int)ev->start_mark.line + 1;
	return n;
}

static void push(struct yamlx_node *parent, struct yamlx_node *key, struct yamlx_node *val)
{
	parent->vals = xrealloc(parent->vals, (parent->n + 1) * sizeof(*parent->vals));
	if (parent->kind == YAMLX_MAP)
		parent->keys = xrealloc(parent->keys, (parent->n + 1) * sizeof(*parent->keys));
	if (key)
		parent->keys[parent->n] = key;
	parent->vals[parent->n++] = val;
}

/* Builds the node that starts with ev (which it consumes). */
static int build(struct yparse *y, yaml_event_t *ev, int depth, struct yamlx_node **out)
{
	struct yamlx_node *n = NULL;

	if (depth > YAMLX_MAX_DEPTH) {
		unik_error_set(y->err, UNIK_E_INVALID, "%s line %zu: nested too deeply", y->fname,
		               ev->start_mark.line + 1);
		yaml_event_delete(ev);
		return -1;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		unik_error_set(y->err, UNIK_E_INVALID,
		               "%s line %zu: aliases (*name) are not allowed", y->fname,
		               ev->start_mark.line + 1);
		yaml_event_delete(ev);
		return -1;
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor)
			goto anchor;
		if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length)) {
			unik_error_set(y->err, UNIK_E_INVALID, "%s line %zu: a NUL character",
			               y->fname, ev->start_mark.line + 1);
			yaml_event_delete(ev);
			return -1;
		}
		n = new_node(YAMLX_SCALAR, ev);
		n->value = xmalloc(ev->data.scalar.length + 1);
		memcpy(n->value, ev->data.scalar.value, ev->data.scalar.length);
		n->value[ev->data.scalar.length] = '\0';
		n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
		            ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE ||
		            ev->data.scalar.style == YAML_LITERAL_SCALAR_STYLE ||
		            ev->data.scalar.style == YAML_FOLDED_SCALAR_STYLE;
		yaml_event_delete(ev);
		*out = n;
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool map = ev->type == YAML_MAPPING_START_EVENT;

		if ((map && ev->data.mapping_start.anchor) ||
		    (!map && ev->data.sequence_start.anchor))
			goto anchor;
		n = new_node(map ? YAMLX_MAP : YAMLX_SEQ, ev);
		yaml_event_delete(ev);
		for (;;) {
			yaml_event_t e;
			struct yamlx_node *key = NULL, *val = NULL;

			if (next_event(y, &e) < 0)
				goto fail;
			if (e.type == YAML_SEQUENCE_END_EVENT || e.type == YAML_MAPPING_END_EVENT) {
				yaml_event_delete(&e);
				break;
			}
			if (build(y, &e, depth + 1, map ? &key : &val) < 0)
				goto fail;
			if (map) {
				if (key->kind != YAMLX_SCALAR) {
					unik_error_set(y->err, UNIK_E_INVALID,
					               "%s line %d: a key must be a plain word",
					               y->fname, key->line);
					node_free(key);
					goto fail;
				}
				if (yamlx_get(n, key->value)) {
					unik_error_set(y->err, UNIK_E_INVALID,
					               "%s line %d: key \"%s\" appears twice",
					               y->fname, key->line, key->value);
					node_free(key);
					goto fail;
				}
				if (next_event(y, &e) < 0 || build(y, &e, depth + 1, &val) < 0) {
					node_free(key);
					goto fail;
				}
			}
			push(n, key, val);
		}
		*out = n;
		return 0;
	}
	default:
		unik_error_set(y->err, UNIK_E_INVALID, "%s line %zu: unexpected YAML event",
		               y->fname, ev->start_mark.line + 1);
		yaml_event_delete(ev);
		return -1;
	}
anchor:
	unik_error_set(y->err, UNIK_E_INVALID, "%s line %zu: anchors (&name) are not allowed",
	               y->fname, ev->start_mark.line + 1);
	yaml_event_delete(ev);
	return -1;
fail:
	node_free(n);
	return -1;
}

int yamlx_parse(const char *buf, size_t len, const char *fname, struct yamlx_node **out,
                struct unik_error *err)
{
	struct yparse y = {.fname = fname, .err = err};
	struct yamlx_node *root = NULL;
	yaml_event_t ev;
	int docs = 0, rc = -1;

	*out = NULL;
	if (!yaml_parser_initialize(&y.p)) {
		unik_error_set(err, UNIK_E_NOMEM, "%s: cannot start the YAML parser", fname);
		return -1;
	}
	yaml_parser_set_input_string(&y.p, (const unsigned char *)buf, len);
	for (;;) {
		if (next_event(&y, &ev) < 0)
			goto out;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_END_EVENT) {
			yaml_event_delete(&ev);
			continue;
		}
		if (ev.type == YAML_DOCUMENT_START_EVENT) {
			if (++docs > 1) {
				unik_error_set(err, UNIK_E_INVALID,
				               "%s line %zu: only one YAML document is allowed",
				               fname, ev.start_mark.line + 1);
				yaml_event_delete(&ev);
				goto out;
			}
			yaml_event_delete(&ev);
			continue;
		}
		if (root) { /* cannot happen within one document, but be safe */
			yaml_event_delete(&ev);
			unik_error_set(err, UNIK_E_INVALID, "%s: unexpected content", fname);
			goto out;
		}
		if (build(&y, &ev, 0, &root) < 0)
			goto out;
	}
	if (!root) {
		root = xcalloc(1, sizeof(*root));
		root->kind = YAMLX_MAP;
		root->line = 1;
	} else if (root->kind == YAMLX_SCALAR && yamlx_is_null(root)) {
		root->kind = YAMLX_MAP;
		free(root->value);
		root->value = NULL;
	}
	*out = root;
	root = NULL;
	rc = 0;
out:
	node_free(root);
	yaml_parser_delete(&y.p);
	return rc;
}

static const char *kind_name(enum yamlx_kind k)
{
	switch (k) {
	case YAMLX_MAP:
		return "a mapping (key: value lines)";
	case YAMLX_SEQ:
		return "a list";
	default:
		return "a single value";
	}
}

int yamlx_expect(const struct yamlx_node *n, enum yamlx_kind kind, const char *fname,
                 const char *what, struct unik_error *err)
{
	if (n->kind == kind)
		return 0;
	unik_error_set(err, UNIK_E_INVALID, "%s line %d: %s must be %s, not %s", fname, n->line,
	               what, kind_name(kind), kind_name(n->kind));
	return -1;
}

const struct yamlx_node *yamlx_get(const struct yamlx_node *map, const char *key)
{
	if (!map || map->kind != YAMLX_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->keys[i]->value, key) == 0)
			return map->vals[i];
	return NULL;
}

int yamlx_check_keys(const struct yamlx_node *map, const char *const *allowed, const char *fname,
                     struct unik_error *err)
{
	for (size_t i = 0; i < map->n; i++) {
		const char *k = map->keys[i]->value;
		bool ok = false;

		for (size_t j = 0; allowed[j] && !ok; j++)
			ok = strcmp(k, allowed[j]) == 0;
		if (ok)
			continue;
		const char *s = unik_suggest(k, allowed, SIZE_MAX);
		_cleanup_free_ char *shown = xstrndup(k, 80);

		if (s)
			unik_error_set(err, UNIK_E_INVALID,
			               "%s line %d: unknown key \"%s\" (did you mean \"%s\"?)",
			               fname, map->keys[i]->line, shown, s);
		else
			unik_error_set(err, UNIK_E_INVALID, "%s line %d: unknown key \"%s\"", fname,
			               map->keys[i]->line, shown);
		return -1;
	}
	return 0;
}

bool yamlx_is_null(const struct yamlx_node *n)
{
	if (n->kind != YAMLX_SCALAR || n->quoted)
		return false;
	return !n->value[0] || strcmp(n->value, "~") == 0 || strcmp(n->value, "null") == 0 ||
	       strcmp(n->value, "Null") == 0 || strcmp(n->value, "NULL") == 0;
}

int yamlx_str(const struct yamlx_node *n, const char *fname, const char *what, char **out,
              struct unik_error *err)
{
	if (yamlx_expect(n, YAMLX_SCALAR, fname, what, err) < 0)
		return -1;
	*out = xstrdup(n->value);
	return 0;
}

int yamlx_int(const struct yamlx_node *n, const char *fname, const char *what, int64_t min,
              int64_t max, int64_t *out, struct unik_error *err)
{
	char *end;
	long long v;

	if (yamlx_expect(n, YAMLX_SCALAR, fname, what, err) < 0)
		return -1;
	errno = 0;
	v = strtoll(n->value, &end, 10);
	if (n->quoted || !n->value[0] || *end || errno) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s line %d: %s must be a whole number, not \"%.40s\"", fname,
		               n->line, what, n->value);
		return -1;
	}
	if (v < min || v > max) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s line %d: %s must be between %" PRId64 " and %" PRId64, fname,
		               n->line, what, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int yamlx_bool(const struct yamlx_node *n, const char *fname, const char *what, bool *out,
               struct unik_error *err)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", NULL};
	static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", NULL};

	if (yamlx_expect(n, YAMLX_SCALAR, fname, what, err) < 0)
		return -1;
	for (size_t i = 0; !n->quoted && yes[i]; i++) {
		if (strcmp(n->value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcmp(n->value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	unik_error_set(err, UNIK_E_INVALID, "%s line %d: %s must be true or false, not \"%.40s\"",
	               fname, n->line, what, n->value);
	return -1;
}
