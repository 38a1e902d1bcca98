/* The daemon's state: images, builds and instances in memory, written through to SQLite
 * ($UNIK_HOME/unik.db, WAL) before any request that changed them is answered. */
#include "daemon/internal.h"
#include "utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct daemon D;

void lock(void)
{
	pthread_mutex_lock(&D.lock);
}

void unlock(void)
{
	pthread_mutex_unlock(&D.lock);
}

void new_id(char out[ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[ID_LEN];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)((ts.tv_nsec >> (i % 8)) ^ rand());
	}
	for (size_t i = 0; i < ID_LEN; i++)
		out[i] = hex[r[i] & 15];
	out[ID_LEN] = '\0';
}

bool json_key_known(const char *key, const char *const *keys, const char *what,
                    struct unik_error *err)
{
	char known[256] = "";
	size_t n = 0;

	for (size_t i = 0; keys[i]; i++) {
		if (strcmp(keys[i], key) == 0)
			return true;
		n += (size_t)snprintf(known + n, n < sizeof(known) ? sizeof(known) - n : 0, "%s%s",
		                      i ? ", " : "", keys[i]);
		if (n >= sizeof(known))
			n = sizeof(known) - 1;
	}
	unik_error_set(err, UNIK_E_INVALID, "unknown %s \"%.*s\" (known: %s)", what,
	               UNIK_UTF8_CUT(key, 60), known);
	return false;
}

json_t *jstr_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static const char *jget_str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static char *jdup(json_t *o, const char *k)
{
	const char *s = jget_str(o, k);

	return s ? xstrdup(s) : NULL;
}

/* A copy of the object under k, or an empty object when it is missing or not one. */
static json_t *jobject_copy(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_object(v) ? json_deep_copy(v) : json_object();
}

/* ------------------------------------------------------------------------------------------ */
/* JSON forms (the API's, plus a few private keys for the database) */

json_t *image_json(const struct image *im)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(im->id));
	json_object_set_new(o, "name", json_string(im->name));
	json_object_set_new(o, "base", json_string(im->base));
	json_object_set_new(o, "language", json_string(im->language));
	json_object_set_new(o, "compiler", json_string(im->compiler));
	json_object_set_new(o, "provider", json_string(im->provider));
	json_object_set_new(o, "created", json_string(im->created));
	json_object_set_new(o, "size_bytes",
	                    json_integer((json_int_t)(im->elf_size + im->rootfs_size)));
	{
		json_t *f = im->formats ? json_deep_copy(im->formats) : json_object();

		if (!json_object_get(f, "elf"))
			json_object_set_new(
			    f, "elf", json_pack("{s:I}", "size_bytes", (json_int_t)im->elf_size));
		json_object_set_new(o, "formats", f);
	}
	json_object_set_new(o, "rootfs_bytes", json_integer((json_int_t)im->rootfs_size));
	json_object_set_new(o, "args", json_string(im->args ? im->args : ""));
	json_object_set_new(o, "env", im->env ? json_deep_copy(im->env) : json_object());
	json_object_set_new(o, "memory_mb", json_integer(im->memory_mb));
	json_object_set_new(o, "build", jstr_or_null(im->build_id));
	return o;
}

static struct image *image_from_json(json_t *o)
{
	struct image *im = xcalloc(1, sizeof(*im));
	const char *id = jget_str(o, "id");

	snprintf(im->id, sizeof(im->id), "%s", id ? id : "");
	im->name = jdup(o, "name");
	im->base = jdup(o, "base");
	im->language = jdup(o, "language");
	im->compiler = jdup(o, "compiler");
	im->provider = jdup(o, "provider");
	im->created = jdup(o, "created");
	im->args = jdup(o, "args");
	im->build_id = jdup(o, "build");
	im->env = jobject_copy(o, "env");
	im->memory_mb = json_integer_value(json_object_get(o, "memory_mb"));
	im->elf_size = (uint64_t)json_integer_value(
	    json_object_get(json_object_get(json_object_get(o, "formats"), "elf"), "size_bytes"));
	im->rootfs_size = (uint64_t)json_integer_value(json_object_get(o, "rootfs_bytes"));
	{
		const char *k;
		json_t *v;

		im->formats = json_object();
		json_object_foreach(json_object_get(o, "formats"), k, v)
		{
			json_t *sz = json_object_get(v, "size_bytes");

			if (json_is_integer(sz) && json_integer_value(sz) >= 0)
				image_set_format(im, k, (uint64_t)json_integer_value(sz));
		}
	}
	if (!im->name || !im->base || !im->language || !im->compiler || !im->provider ||
	    !im->created) {
		image_free(im);
		return NULL;
	}
	return im;
}

static const char *build_state_name(enum build_state s)
{
	return s == BUILD_RUNNING ? "running" : s == BUILD_SUCCEEDED ? "succeeded" : "failed";
}

json_t *build_json(const struct build *b)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(b->id));
	json_object_set_new(o, "image", json_string(b->image));
	json_object_set_new(o, "image_id", jstr_or_null(b->image_id));
	json_object_set_new(o, "state", json_string(build_state_name(b->state)));
	json_object_set_new(o, "error", json_string(b->error ? b->error : ""));
	json_object_set_new(o, "created", json_string(b->created));
	json_object_set_new(o, "finished", jstr_or_null(b->finished));
	return o;
}

static struct build *build_from_json(json_t *o)
{
	struct build *b = xcalloc(1, sizeof(*b));
	const char *id = jget_str(o, "id"), *st = jget_str(o, "state");

	snprintf(b->id, sizeof(b->id), "%s", id ? id : "");
	b->image = jdup(o, "image");
	b->image_id = jdup(o, "image_id");
	b->error = jdup(o, "error");
	b->created = jdup(o, "created");
	b->finished = jdup(o, "finished");
	b->state = !st || strcmp(st, "running") == 0 ? BUILD_RUNNING
	           : strcmp(st, "succeeded") == 0    ? BUILD_SUCCEEDED
	                                             : BUILD_FAILED;
	if (!b->image || !b->created) {
		build_free(b);
		return NULL;
	}
	return b;
}

static enum unik_instance_state state_from_name(const char *s)
{
	for (int i = UNIK_STATE_PENDING; i <= UNIK_STATE_STOPPED; i++)
		if (s && strcmp(s, unik_instance_state_name(i)) == 0)
			return i;
	return UNIK_STATE_CRASHED;
}

json_t *instance_json(const struct instance *in)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(in->id));
	json_object_set_new(o, "name", json_string(in->name));
	json_object_set_new(o, "image", json_string(in->image));
	json_object_set_new(o, "image_id", json_string(in->image_id));
	json_object_set_new(o, "provider", json_string(in->provider));
	json_object_set_new(o, "state", json_string(unik_instance_state_name(in->state)));
	json_object_set_new(o, "exit_code",
	                    in->exit_code >= 0 ? json_integer(in->exit_code) : json_null());
	json_object_set_new(o, "pid", json_integer(in->pid));
	json_object_set_new(o, "ip", json_string(in->ip));
	json_object_set_new(o, "memory_mb", json_integer(in->memory_mb));
	json_object_set_new(o, "args", json_string(in->args ? in->args : ""));
	json_object_set_new(o, "env", in->env ? json_deep_copy(in->env) : json_object());
	json_object_set_new(o, "created", json_string(in->created));
	json_object_set_new(o, "started", jstr_or_null(in->started));
	json_object_set_new(o, "finished", jstr_or_null(in->finished));
	json_object_set_new(o, "detail", json_string(in->detail));
	json_object_set_new(o, "provider_handle", json_string(in->handle));
	json_object_set_new(o, "provider_handle_id", json_string(in->handle_id));
	json_object_set_new(o, "provider_opts",
	                    in->provider_opts ? json_deep_copy(in->provider_opts) : json_object());
	return o;
}

static struct instance *instance_from_json(json_t *o)
{
	struct instance *in = xcalloc(1, sizeof(*in));
	const char *id = jget_str(o, "id"), *s;
	json_t *ec = json_object_get(o, "exit_code");

	snprintf(in->id, sizeof(in->id), "%s", id ? id : "");
	in->name = jdup(o, "name");
	in->image = jdup(o, "image");
	in->image_id = jdup(o, "image_id");
	in->provider = jdup(o, "provider");
	in->args = jdup(o, "args");
	in->cmdline = jdup(o, "_cmdline");
	in->created = jdup(o, "created");
	in->started = jdup(o, "started");
	in->finished = jdup(o, "finished");
	in->env = jobject_copy(o, "env");
	in->state = state_from_name(jget_str(o, "state"));
	in->exit_code = json_is_integer(ec) ? (int)json_integer_value(ec) : -1;
	in->pid = (int)json_integer_value(json_object_get(o, "pid"));
	in->memory_mb = json_integer_value(json_object_get(o, "memory_mb"));
	if ((s = jget_str(o, "ip")))
		snprintf(in->ip, sizeof(in->ip), "%s", s);
	if ((s = jget_str(o, "detail")))
		snprintf(in->detail, sizeof(in->detail), "%s", s);
	if ((s = jget_str(o, "provider_handle")))
		snprintf(in->handle, sizeof(in->handle), "%s", s);
	if ((s = jget_str(o, "provider_handle_id")))
		snprintf(in->handle_id, sizeof(in->handle_id), "%s", s);
	in->provider_opts = jobject_copy(o, "provider_opts");
	if (!in->name || !in->image || !in->image_id || !in->provider || !in->created) {
		instance_free(in);
		return NULL;
	}
	if (!in->cmdline)
		in->cmdline = xstrdup("");
	return in;
}

void image_free(struct image *im)
{
	if (!im)
		return;
	free(im->name);
	free(im->base);
	free(im->language);
	free(im->compiler);
	free(im->provider);
	free(im->args);
	free(im->created);
	free(im->build_id);
	json_decref(im->env);
	json_decref(im->formats);
	free(im);
}

void build_free(struct build *b)
{
	if (!b)
		return;
	free(b->image);
	free(b->error);
	free(b->created);
	free(b->finished);
	free(b->image_id);
	build_opts_free(&b->opts);
	free(b);
}

void instance_free(struct instance *in)
{
	if (!in)
		return;
	json_decref(in->provider_opts);
	free(in->name);
	free(in->image);
	free(in->image_id);
	free(in->provider);
	free(in->args);
	free(in->cmdline);
	free(in->created);
	free(in->started);
	free(in->finished);
	json_decref(in->env);
	free(in);
}

/* ------------------------------------------------------------------------------------------ */
/* Lists */

#define LIST_ADD(arr, n, item)                                                                     \
	do {                                                                                       \
		(arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr)));                               \
		(arr)[(n)++] = (item);                                                             \
	} while (0)

#define LIST_DEL(arr, n, item)                                                                     \
	do {                                                                                       \
		for (size_t i_ = 0; i_ < (n); i_++)                                                \
			if ((arr)[i_] == (item)) {                                                 \
				memmove(&(arr)[i_], &(arr)[i_ + 1],                                \
				        ((n)-i_ - 1) * sizeof(*(arr)));                            \
				(n)--;                                                             \
				break;                                                             \
			}                                                                          \
	} while (0)

void add_image(struct image *im)
{
	if (!im->seq)
		im->seq = ++D.seq;
	LIST_ADD(D.images, D.nimages, im);
}

void remove_image(struct image *im)
{
	LIST_DEL(D.images, D.nimages, im);
}

void add_build(struct build *b)
{
	if (!b->seq)
		b->seq = ++D.seq;
	LIST_ADD(D.builds, D.nbuilds, b);
}

void add_instance(struct instance *in)
{
	if (!in->seq)
		in->seq = ++D.seq;
	D.inst_gen++;
	LIST_ADD(D.insts, D.ninsts, in);
}

void remove_instance(struct instance *in)
{
	D.inst_gen++;
	LIST_DEL(D.insts, D.ninsts, in);
}

struct build *find_build(const char *id)
{
	for (size_t i = 0; i < D.nbuilds; i++)
		if (strcmp(D.builds[i]->id, id) == 0)
			return D.builds[i];
	return NULL;
}

struct image *find_image_name(const char *name)
{
	for (size_t i = 0; i < D.nimages; i++)
		if (strcmp(D.images[i]->name, name) == 0)
			return D.images[i];
	return NULL;
}

struct instance *find_instance_name(const char *name)
{
	for (size_t i = 0; i < D.ninsts; i++)
		if (strcmp(D.insts[i]->name, name) == 0)
			return D.insts[i];
	return NULL;
}

/* Resolution shared by images and instances: id, name, then a unique prefix of either. */
static void *resolve(void **items, size_t n, size_t id_off, size_t name_off, const char *what,
                     const char *ref, struct unik_error *err)
{
	void *hit = NULL;
	size_t nhits = 0, rl;
	_cleanup_strv_ struct strv cands = {0};

	if (!ref || !*ref || strlen(ref) > 200) {
		unik_error_set(err, UNIK_E_NOTFOUND, "no %s \"%.*s\"", what,
		               UNIK_UTF8_CUT(ref ? ref : "", 60));
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		const char *id = (const char *)items[i] + id_off;
		const char *name = *(char **)((char *)items[i] + name_off);

		if (strcmp(id, ref) == 0 || strcmp(name, ref) == 0)
			return items[i];
	}
	rl = strlen(ref);
	for (size_t i = 0; i < n; i++) {
		const char *id = (const char *)items[i] + id_off;
		const char *name = *(char **)((char *)items[i] + name_off);

		if (strncmp(id, ref, rl) == 0 || strncmp(name, ref, rl) == 0) {
			hit = items[i];
			nhits++;
			strv_pushf(&cands, "%s (%s)", name, id);
		}
	}
	if (nhits == 1)
		return hit;
	if (nhits == 0) {
		unik_error_set(err, UNIK_E_NOTFOUND, "no %s \"%s\"", what, ref);
		return NULL;
	}
	char list[600] = "";
	size_t used = 0;
	for (size_t i = 0; i < cands.n && used < 500; i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
		                         cands.v[i]);
	unik_error_set(err, UNIK_E_STATE, "\"%s\" matches %zu %ss: %s; give more of the name or id",
	               ref, nhits, what, list);
	return NULL;
}

struct image *resolve_image(const char *ref, struct unik_error *err)
{
	return resolve((void **)D.images, D.nimages, offsetof(struct image, id),
	               offsetof(struct image, name), "image", ref, err);
}

struct instance *resolve_instance(const char *ref, struct unik_error *err)
{
	return resolve((void **)D.insts, D.ninsts, offsetof(struct instance, id),
	               offsetof(struct instance, name), "instance", ref, err);
}

/* ------------------------------------------------------------------------------------------ */
/* SQLite */

static int db_exec(const char *sql, struct unik_error *err)
{
	char *msg = NULL;

	if (sqlite3_exec(D.db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		unik_error_set(err, UNIK_E_IO, "database: %s: %s", sql, msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int db_begin(void)
{
	return db_exec("BEGIN IMMEDIATE", NULL);
}

int db_commit(struct unik_error *err)
{
	if (db_exec("COMMIT", err) < 0) {
		db_rollback();
		return -1;
	}
	return 0;
}

void db_rollback(void)
{
	db_exec("ROLLBACK", NULL);
}

static int db_put(const char *table, const char *id, const char *name, int64_t seq, json_t *o,
                  struct unik_error *err)
{
	_cleanup_free_ char *sql =
	    xasprintf("INSERT OR REPLACE INTO %s(id, name, seq, json) VALUES(?, ?, ?, ?)", table);
	_cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(D.db, sql, -1, &st, NULL) != SQLITE_OK) {
		unik_error_set(err, UNIK_E_IO, "database: %s", sqlite3_errmsg(D.db));
		return -1;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, seq);
	sqlite3_bind_text(st, 4, text, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		unik_error_set(err, UNIK_E_IO, "database: write %s %s: %s", table, id,
		               sqlite3_errmsg(D.db));
		return -1;
	}
	return 0;
}

static int db_del(const char *table, const char *id, struct unik_error *err)
{
	_cleanup_free_ char *sql = xasprintf("DELETE FROM %s WHERE id = ?", table);
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(D.db, sql, -1, &st, NULL) != SQLITE_OK) {
		unik_error_set(err, UNIK_E_IO, "database: %s", sqlite3_errmsg(D.db));
		return -1;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		unik_error_set(err, UNIK_E_IO, "database: delete %s %s: %s", table, id,
		               sqlite3_errmsg(D.db));
		return -1;
	}
	return 0;
}

int db_put_image(const struct image *im, struct unik_error *err)
{
	json_t *o = image_json(im);
	int r = db_put("images", im->id, im->name, im->seq, o, err);

	json_decref(o);
	return r;
}

int db_del_image(const char *id, struct unik_error *err)
{
	return db_del("images", id, err);
}

int db_put_build(const struct build *b, struct unik_error *err)
{
	json_t *o = build_json(b);
	int r = db_put("builds", b->id, b->image, b->seq, o, err);

	json_decref(o);
	return r;
}

int db_put_instance(const struct instance *in, struct unik_error *err)
{
	json_t *o = instance_json(in);
	int r;

	D.inst_gen++;
	json_object_set_new(o, "_cmdline", json_string(in->cmdline ? in->cmdline : ""));
	r = db_put("instances", in->id, in->name, in->seq, o, err);
	json_decref(o);
	return r;
}

int db_del_instance(const char *id, struct unik_error *err)
{
	D.inst_gen++;
	return db_del("instances", id, err);
}

int save_build(const struct build *b, struct unik_error *err)
{
	if (db_begin() < 0 || db_put_build(b, err) < 0) {
		db_rollback();
		return -1;
	}
	return db_commit(err);
}

int save_instance(const struct instance *in, struct unik_error *err)
{
	if (db_begin() < 0 || db_put_instance(in, err) < 0) {
		db_rollback();
		return -1;
	}
	return db_commit(err);
}

static int load_table(const char *table, struct unik_error *err)
{
	_cleanup_free_ char *sql = xasprintf("SELECT json, seq FROM %s ORDER BY seq", table);
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(D.db, sql, -1, &st, NULL) != SQLITE_OK) {
		unik_error_set(err, UNIK_E_IO, "database: %s", sqlite3_errmsg(D.db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 0);
		int64_t seq = sqlite3_column_int64(st, 1);
		json_t *o = text ? json_loads(text, 0, NULL) : NULL;

		if (seq > D.seq)
			D.seq = seq;
		if (!json_is_object(o)) {
			fprintf(stderr, "unik daemon: skipping an unreadable %s row\n", table);
			json_decref(o);
			continue;
		}
		if (strcmp(table, "images") == 0) {
			struct image *im = image_from_json(o);
			if (im) {
				im->seq = seq;
				add_image(im);
			}
		} else if (strcmp(table, "builds") == 0) {
			struct build *b = build_from_json(o);
			if (b) {
				b->seq = seq;
				add_build(b);
			}
		} else {
			struct instance *in = instance_from_json(o);
			if (in) {
				in->seq = seq;
				add_instance(in);
			}
		}
		json_decref(o);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		unik_error_set(err, UNIK_E_IO, "database: read %s: %s", table,
		               sqlite3_errmsg(D.db));
		return -1;
	}
	return 0;
}

int state_open(struct unik_error *err)
{
	_cleanup_free_ char *path = unik_path_join(D.home, "unik.db");

	if (sqlite3_open_v2(path, &D.db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
	                    NULL) != SQLITE_OK) {
		unik_error_set(err, UNIK_E_IO, "open %s: %s", path,
		               D.db ? sqlite3_errmsg(D.db) : "out of memory");
		return -1;
	}
	(void)chmod(path, 0600);
	sqlite3_busy_timeout(D.db, 5000);
	if (db_exec("PRAGMA journal_mode=WAL", err) < 0 ||
	    db_exec("PRAGMA synchronous=FULL", err) < 0 ||
	    db_exec(
	        "CREATE TABLE IF NOT EXISTS images(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT "
	        "NULL, seq INTEGER NOT NULL, json TEXT NOT NULL);"
	        "CREATE TABLE IF NOT EXISTS builds(id TEXT PRIMARY KEY, name TEXT NOT NULL, "
	        "seq INTEGER NOT NULL, json TEXT NOT NULL);"
	        "CREATE TABLE IF NOT EXISTS instances(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT "
	        "NULL, seq INTEGER NOT NULL, json TEXT NOT NULL);",
	        err) < 0)
		return -1;
	if (load_table("images", err) < 0 || load_table("builds", err) < 0 ||
	    load_table("instances", err) < 0)
		return -1;
	return 0;
}

void state_close(void)
{
	if (D.db)
		sqlite3_close(D.db);
	D.db = NULL;
}
