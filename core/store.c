/* The store (core/store.h): typed tables in SQLite, a schema version, and the migrations that
 * bring an older unik.db up to date. */
#include "core/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/stat.h>

struct unik_store {
	sqlite3 *db;
	char *path;
};

static const char schema_v1[] =
    "CREATE TABLE images(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, seq INTEGER NOT NULL,"
    " base TEXT NOT NULL, language TEXT NOT NULL, compiler TEXT NOT NULL,"
    " provider TEXT NOT NULL, args TEXT NOT NULL, created TEXT NOT NULL, build_id TEXT,"
    " memory_mb INTEGER NOT NULL, elf_size INTEGER NOT NULL, rootfs_size INTEGER NOT NULL);"
    "CREATE TABLE image_env(image_id TEXT NOT NULL, pos INTEGER NOT NULL, name TEXT NOT NULL,"
    " value TEXT NOT NULL, PRIMARY KEY(image_id, pos));"
    "CREATE TABLE image_formats(image_id TEXT NOT NULL, pos INTEGER NOT NULL,"
    " format TEXT NOT NULL, size INTEGER NOT NULL, PRIMARY KEY(image_id, format));"
    "CREATE TABLE builds(id TEXT PRIMARY KEY, image TEXT NOT NULL, seq INTEGER NOT NULL,"
    " image_id TEXT, state TEXT NOT NULL, error TEXT NOT NULL, created TEXT NOT NULL,"
    " finished TEXT);"
    "CREATE TABLE instances(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
    " seq INTEGER NOT NULL, image TEXT NOT NULL, image_id TEXT NOT NULL,"
    " provider TEXT NOT NULL, args TEXT NOT NULL, cmdline TEXT NOT NULL,"
    " created TEXT NOT NULL, started TEXT, finished TEXT, state TEXT NOT NULL,"
    " exit_code INTEGER, pid INTEGER NOT NULL, ip TEXT NOT NULL, detail TEXT NOT NULL,"
    " handle TEXT NOT NULL, handle_id TEXT NOT NULL, memory_mb INTEGER NOT NULL);"
    "CREATE TABLE instance_env(instance_id TEXT NOT NULL, pos INTEGER NOT NULL,"
    " name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(instance_id, pos));"
    "CREATE TABLE instance_opts(instance_id TEXT NOT NULL, pos INTEGER NOT NULL,"
    " key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(instance_id, pos));"
    "CREATE TABLE volumes(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
    " seq INTEGER NOT NULL, created TEXT NOT NULL, format TEXT NOT NULL,"
    " size_mb INTEGER NOT NULL, instance_id TEXT, mount TEXT);";

/* Version 2 adds networks, the NICs and published ports of instances (issue 14), and the volumes
 * and host shares they mount (issue 15). */
static const char schema_v2[] =
    "CREATE TABLE networks(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
    " seq INTEGER NOT NULL, created TEXT NOT NULL, subnet TEXT NOT NULL,"
    " gateway TEXT NOT NULL, bridge TEXT NOT NULL);"
    "CREATE TABLE instance_nics(instance_id TEXT NOT NULL, pos INTEGER NOT NULL,"
    " network TEXT, ip TEXT, mac TEXT NOT NULL, PRIMARY KEY(instance_id, pos));"
    "CREATE TABLE instance_ports(instance_id TEXT NOT NULL, pos INTEGER NOT NULL,"
    " proto TEXT NOT NULL, host_ip TEXT NOT NULL, host_port INTEGER NOT NULL,"
    " guest_port INTEGER NOT NULL, PRIMARY KEY(instance_id, pos));"
    "CREATE TABLE instance_mounts(instance_id TEXT NOT NULL, pos INTEGER NOT NULL,"
    " volume TEXT, host_path TEXT, at TEXT NOT NULL, readonly INTEGER NOT NULL,"
    " PRIMARY KEY(instance_id, pos));";

/* Version 3 lets a network run a DHCP server (dnsmasq, on the upper half of its subnet). */
static const char schema_v3[] = "ALTER TABLE networks ADD COLUMN dhcp INTEGER NOT NULL DEFAULT 0;";

/* Version 0 to 1: the JSON rows become typed rows, read as the version-0 daemon read them
 * (a row missing a field it required was skipped; absent optional fields were empty). */
static const char migrate_0_1[] =
    "ALTER TABLE images RENAME TO images_v0;"
    "ALTER TABLE builds RENAME TO builds_v0;"
    "ALTER TABLE instances RENAME TO instances_v0;"
    /* schema_v1 runs here */
    "\x01"
    "INSERT INTO images SELECT id, json_extract(json, '$.name'), seq,"
    " json_extract(json, '$.base'), json_extract(json, '$.language'),"
    " json_extract(json, '$.compiler'), json_extract(json, '$.provider'),"
    " coalesce(json_extract(json, '$.args'), ''), json_extract(json, '$.created'),"
    " json_extract(json, '$.build'),"
    " CASE json_type(json, '$.memory_mb') WHEN 'integer' THEN json_extract(json, "
    "'$.memory_mb') ELSE 0 END,"
    " CASE json_type(json, '$.formats.elf.size_bytes') WHEN 'integer' THEN "
    "json_extract(json, '$.formats.elf.size_bytes') ELSE 0 END,"
    " CASE json_type(json, '$.rootfs_bytes') WHEN 'integer' THEN json_extract(json, "
    "'$.rootfs_bytes') ELSE 0 END"
    " FROM images_v0 WHERE json_valid(json) AND json_type(json, '$.name') = 'text'"
    " AND json_type(json, '$.base') = 'text' AND json_type(json, '$.language') = 'text'"
    " AND json_type(json, '$.compiler') = 'text' AND json_type(json, '$.provider') = 'text'"
    " AND json_type(json, '$.created') = 'text';"
    "INSERT INTO image_env SELECT i.id, e.id, e.key, e.value"
    " FROM images i JOIN images_v0 o ON o.id = i.id, json_each(o.json, '$.env') e"
    " WHERE e.type = 'text';"
    "INSERT INTO image_formats SELECT i.id, f.id, f.key, json_extract(f.value, "
    "'$.size_bytes')"
    " FROM images i JOIN images_v0 o ON o.id = i.id, json_each(o.json, '$.formats') f"
    " WHERE json_type(f.value, '$.size_bytes') = 'integer'"
    " AND json_extract(f.value, '$.size_bytes') >= 0;"
    "INSERT INTO builds SELECT id, json_extract(json, '$.image'), seq,"
    " json_extract(json, '$.image_id'),"
    " CASE coalesce(json_extract(json, '$.state'), 'running') WHEN 'running' THEN 'running'"
    " WHEN 'succeeded' THEN 'succeeded' ELSE 'failed' END,"
    " coalesce(json_extract(json, '$.error'), ''), json_extract(json, '$.created'),"
    " json_extract(json, '$.finished')"
    " FROM builds_v0 WHERE json_valid(json) AND json_type(json, '$.image') = 'text'"
    " AND json_type(json, '$.created') = 'text';"
    "INSERT INTO instances SELECT id, json_extract(json, '$.name'), seq,"
    " json_extract(json, '$.image'), json_extract(json, '$.image_id'),"
    " json_extract(json, '$.provider'), coalesce(json_extract(json, '$.args'), ''),"
    " coalesce(json_extract(json, '$._cmdline'), ''), json_extract(json, '$.created'),"
    " json_extract(json, '$.started'), json_extract(json, '$.finished'),"
    " coalesce(json_extract(json, '$.state'), ''),"
    " CASE json_type(json, '$.exit_code') WHEN 'integer' THEN json_extract(json, "
    "'$.exit_code') END,"
    " CASE json_type(json, '$.pid') WHEN 'integer' THEN json_extract(json, '$.pid') ELSE 0 "
    "END,"
    " coalesce(json_extract(json, '$.ip'), ''), coalesce(json_extract(json, '$.detail'), ''),"
    " coalesce(json_extract(json, '$.provider_handle'), ''),"
    " coalesce(json_extract(json, '$.provider_handle_id'), ''),"
    " CASE json_type(json, '$.memory_mb') WHEN 'integer' THEN json_extract(json, "
    "'$.memory_mb') ELSE 0 END"
    " FROM instances_v0 WHERE json_valid(json) AND json_type(json, '$.name') = 'text'"
    " AND json_type(json, '$.image') = 'text' AND json_type(json, '$.image_id') = 'text'"
    " AND json_type(json, '$.provider') = 'text' AND json_type(json, '$.created') = 'text';"
    "INSERT INTO instance_env SELECT i.id, e.id, e.key, e.value"
    " FROM instances i JOIN instances_v0 o ON o.id = i.id, json_each(o.json, '$.env') e"
    " WHERE e.type = 'text';"
    "INSERT INTO instance_opts SELECT i.id, e.id, e.key, e.value"
    " FROM instances i JOIN instances_v0 o ON o.id = i.id,"
    " json_each(o.json, '$.provider_opts') e WHERE e.type = 'text';"
    "DROP TABLE images_v0;"
    "DROP TABLE builds_v0;"
    "DROP TABLE instances_v0;";

static int exec(struct unik_store *s, const char *sql, struct unik_error *err)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		unik_error_set(err, UNIK_E_IO, "database %s: %s", s->path, msg ? msg : "error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Runs one statement with its parameters bound from types: 's' a string (NULL binds NULL),
 * 'i' an int64_t, 'n' an int64_t that binds NULL when negative. */
static int run(struct unik_store *s, const char *sql, struct unik_error *err, const char *types,
               ...)
{
	sqlite3_stmt *st = NULL;
	va_list ap;
	int rc;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		unik_error_set(err, UNIK_E_IO, "database %s: %s", s->path, sqlite3_errmsg(s->db));
		return -1;
	}
	va_start(ap, types);
	for (int i = 0; types[i]; i++) {
		if (types[i] == 's') {
			const char *v = va_arg(ap, const char *);

			if (v)
				sqlite3_bind_text(st, i + 1, v, -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(st, i + 1);
		} else {
			int64_t v = va_arg(ap, int64_t);

			if (types[i] == 'n' && v < 0)
				sqlite3_bind_null(st, i + 1);
			else
				sqlite3_bind_int64(st, i + 1, v);
		}
	}
	va_end(ap);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		unik_error_set(err, UNIK_E_IO, "database %s: %s", s->path, sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

static int user_version(struct unik_store *s, int *out, struct unik_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
		unik_error_set(err, UNIK_E_IO, "database %s: %s", s->path, sqlite3_errmsg(s->db));
		return -1;
	}
	rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		unik_error_set(err, UNIK_E_IO, "database %s: %s", s->path, sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

static bool has_table(struct unik_store *s, const char *name)
{
	sqlite3_stmt *st = NULL;
	bool r = false;

	if (sqlite3_prepare_v2(s->db,
	                       "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1,
	                       &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	r = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return r;
}

/* Runs a migration's SQL, with "\x01" standing for the newest table definitions. */
static int run_script(struct unik_store *s, const char *script, struct unik_error *err)
{
	const char *mark = strchr(script, '\x01');

	if (!mark)
		return exec(s, script, err);
	{
		_cleanup_free_ char *head = xstrndup(script, (size_t)(mark - script));

		if (exec(s, head, err) < 0 || exec(s, schema_v1, err) < 0)
			return -1;
	}
	return exec(s, mark + 1, err);
}

/* Brings the schema from its version to the newest, in one transaction with the version bump. */
static int migrate(struct unik_store *s, int *from, struct unik_error *err)
{
	int v;

	if (exec(s, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	if (user_version(s, &v, err) < 0)
		goto fail;
	*from = v;
	if (v > UNIK_STORE_SCHEMA_VERSION) {
		unik_error_set(
		    err, UNIK_E_STATE,
		    "database %s has schema version %d, newer than this unik knows (%d): "
		    "run the unik that wrote it, or move the file aside to start empty",
		    s->path, v, UNIK_STORE_SCHEMA_VERSION);
		goto fail;
	}
	if (v == UNIK_STORE_SCHEMA_VERSION) {
		exec(s, "COMMIT", NULL);
		return 0;
	}
	if (v == 0 && !has_table(s, "images")) {
		/* A new database: the newest tables at once. */
		if (exec(s, schema_v1, err) < 0 || exec(s, schema_v2, err) < 0 ||
		    exec(s, schema_v3, err) < 0)
			goto fail;
		v = UNIK_STORE_SCHEMA_VERSION;
	} else if (v == 0) {
		if (run_script(s, migrate_0_1, err) < 0) {
			unik_error_prefix(err, "upgrading the store from schema version 0 to 1");
			goto fail;
		}
		v = 1;
	}
	if (v == 1) {
		if (exec(s, schema_v2, err) < 0) {
			unik_error_prefix(err, "upgrading the store from schema version 1 to 2");
			goto fail;
		}
		v = 2;
	}
	if (v == 2 && exec(s, schema_v3, err) < 0) {
		unik_error_prefix(err, "upgrading the store from schema version 2 to 3");
		goto fail;
	}
	{
		_cleanup_free_ char *bump =
		    xasprintf("PRAGMA user_version = %d", UNIK_STORE_SCHEMA_VERSION);

		if (exec(s, bump, err) < 0 || exec(s, "COMMIT", err) < 0)
			goto fail;
	}
	return 0;
fail:
	exec(s, "ROLLBACK", NULL);
	return -1;
}

int unik_store_open(const char *path, struct unik_store **out, int *from_version,
                    struct unik_error *err)
{
	struct unik_store *s = xcalloc(1, sizeof(*s));
	int from = UNIK_STORE_SCHEMA_VERSION;

	s->path = xstrdup(path);
	if (sqlite3_open_v2(path, &s->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
	                    NULL) != SQLITE_OK) {
		unik_error_set(err, UNIK_E_IO, "open %s: %s", path,
		               s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	(void)chmod(path, 0600);
	sqlite3_busy_timeout(s->db, 5000);
	if (exec(s, "PRAGMA journal_mode=WAL", err) < 0 ||
	    exec(s, "PRAGMA synchronous=FULL", err) < 0 || migrate(s, &from, err) < 0)
		goto fail;
	if (from_version)
		*from_version = from;
	*out = s;
	return 0;
fail:
	unik_store_close(s);
	return -1;
}

void unik_store_close(struct unik_store *s)
{
	if (!s)
		return;
	if (s->db)
		sqlite3_close(s->db);
	free(s->path);
	free(s);
}

int unik_store_begin(struct unik_store *s, struct unik_error *err)
{
	return exec(s, "BEGIN IMMEDIATE", err);
}

int unik_store_commit(struct unik_store *s, struct unik_error *err)
{
	if (exec(s, "COMMIT", err) < 0) {
		unik_store_rollback(s);
		return -1;
	}
	return 0;
}

void unik_store_rollback(struct unik_store *s)
{
	exec(s, "ROLLBACK", NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Writes */

/* Replaces owner's rows of a NAME=VALUE list table (image_env, instance_env, instance_opts). */
static int put_pairs(struct unik_store *s, const char *table, const char *owner_col,
                     const char *k_col, const char *owner, const struct strv *words,
                     struct unik_error *err)
{
	_cleanup_free_ char *del = xasprintf("DELETE FROM %s WHERE %s = ?", table, owner_col);
	_cleanup_free_ char *ins = xasprintf(
	    "INSERT INTO %s(%s, pos, %s, value) VALUES(?, ?, ?, ?)", table, owner_col, k_col);

	if (run(s, del, err, "s", owner) < 0)
		return -1;
	for (size_t i = 0; i < words->n; i++) {
		const char *eq = strchr(words->v[i], '=');
		_cleanup_free_ char *k = NULL;

		if (!eq)
			continue;
		k = xstrndup(words->v[i], (size_t)(eq - words->v[i]));
		if (run(s, ins, err, "siss", owner, (int64_t)i, k, eq + 1) < 0)
			return -1;
	}
	return 0;
}

int unik_store_put_image(struct unik_store *s, const struct unik_image *im, struct unik_error *err)
{
	if (run(s,
	        "INSERT OR REPLACE INTO images(id, name, seq, base, language, compiler, provider, "
	        "args, created, build_id, memory_mb, elf_size, rootfs_size) VALUES(?, ?, ?, ?, ?, "
	        "?, ?, ?, ?, ?, ?, ?, ?)",
	        err, "ssisssssssiii", im->id, im->name, im->seq, im->base, im->language,
	        im->compiler, im->provider, im->args ? im->args : "", im->created, im->build_id,
	        (int64_t)im->memory_mb, (int64_t)im->elf_size, (int64_t)im->rootfs_size) < 0)
		return -1;
	if (put_pairs(s, "image_env", "image_id", "name", im->id, &im->env, err) < 0 ||
	    run(s, "DELETE FROM image_formats WHERE image_id = ?", err, "s", im->id) < 0)
		return -1;
	for (size_t i = 0; i < im->formats.n; i++)
		if (run(s,
		        "INSERT INTO image_formats(image_id, pos, format, size) VALUES(?, ?, ?, ?)",
		        err, "sisi", im->id, (int64_t)i, im->formats.v[i].name,
		        (int64_t)im->formats.v[i].size) < 0)
			return -1;
	return 0;
}

int unik_store_del_image(struct unik_store *s, const char *id, struct unik_error *err)
{
	if (run(s, "DELETE FROM image_env WHERE image_id = ?", err, "s", id) < 0 ||
	    run(s, "DELETE FROM image_formats WHERE image_id = ?", err, "s", id) < 0 ||
	    run(s, "DELETE FROM images WHERE id = ?", err, "s", id) < 0) {
		unik_error_prefix(err, "delete image %s", id);
		return -1;
	}
	return 0;
}

int unik_store_put_build(struct unik_store *s, const struct unik_build *b, struct unik_error *err)
{
	if (run(s,
	        "INSERT OR REPLACE INTO builds(id, image, seq, image_id, state, error, created, "
	        "finished) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
	        err, "ssisssss", b->id, b->image, b->seq, b->image_id,
	        unik_build_state_name(b->state), b->error ? b->error : "", b->created,
	        b->finished) < 0) {
		unik_error_prefix(err, "write build %s", b->id);
		return -1;
	}
	return 0;
}

/* Replaces an instance's NICs and published ports. */
static int put_nets(struct unik_store *s, const struct unik_instance *in, struct unik_error *err)
{
	if (run(s, "DELETE FROM instance_nics WHERE instance_id = ?", err, "s", in->id) < 0 ||
	    run(s, "DELETE FROM instance_ports WHERE instance_id = ?", err, "s", in->id) < 0 ||
	    run(s, "DELETE FROM instance_mounts WHERE instance_id = ?", err, "s", in->id) < 0)
		return -1;
	for (size_t i = 0; i < in->nmounts; i++)
		if (run(s,
		        "INSERT INTO instance_mounts(instance_id, pos, volume, host_path, at, "
		        "readonly) VALUES(?, ?, ?, ?, ?, ?)",
		        err, "sisssi", in->id, (int64_t)i, in->mounts[i].volume,
		        in->mounts[i].host_path, in->mounts[i].at,
		        (int64_t)in->mounts[i].readonly) < 0)
			return -1;
	for (size_t i = 0; i < in->nnics; i++)
		if (run(s,
		        "INSERT INTO instance_nics(instance_id, pos, network, ip, mac) VALUES(?, "
		        "?, "
		        "?, ?, ?)",
		        err, "sisss", in->id, (int64_t)i, in->nics[i].network, in->nics[i].ip,
		        in->nics[i].mac) < 0)
			return -1;
	for (size_t i = 0; i < in->nports; i++) {
		const struct unik_port *p = &in->ports[i];

		if (run(s,
		        "INSERT INTO instance_ports(instance_id, pos, proto, host_ip, host_port, "
		        "guest_port) VALUES(?, ?, ?, ?, ?, ?)",
		        err, "sissii", in->id, (int64_t)i, unik_port_proto_name(p->proto),
		        p->host_ip, (int64_t)p->host_port, (int64_t)p->guest_port) < 0)
			return -1;
	}
	return 0;
}

int unik_store_put_instance(struct unik_store *s, const struct unik_instance *in,
                            struct unik_error *err)
{
	if (run(s,
	        "INSERT OR REPLACE INTO instances(id, name, seq, image, image_id, provider, args, "
	        "cmdline, created, started, finished, state, exit_code, pid, ip, detail, handle, "
	        "handle_id, memory_mb) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
	        "?, "
	        "?)",
	        err, "ssisssssssssnissssi", in->id, in->name, in->seq, in->image, in->image_id,
	        in->provider, in->args ? in->args : "", in->cmdline ? in->cmdline : "", in->created,
	        in->started, in->finished, unik_instance_state_name(in->state),
	        (int64_t)in->exit_code, (int64_t)in->pid, in->ip, in->detail, in->handle,
	        in->handle_id, (int64_t)in->memory_mb) < 0 ||
	    put_pairs(s, "instance_env", "instance_id", "name", in->id, &in->env, err) < 0 ||
	    put_pairs(s, "instance_opts", "instance_id", "key", in->id, &in->provider_opts, err) <
	        0 ||
	    put_nets(s, in, err) < 0) {
		unik_error_prefix(err, "write instance %s", in->id);
		return -1;
	}
	return 0;
}

int unik_store_del_instance(struct unik_store *s, const char *id, struct unik_error *err)
{
	if (run(s, "DELETE FROM instance_env WHERE instance_id = ?", err, "s", id) < 0 ||
	    run(s, "DELETE FROM instance_nics WHERE instance_id = ?", err, "s", id) < 0 ||
	    run(s, "DELETE FROM instance_mounts WHERE instance_id = ?", err, "s", id) < 0 ||
	    run(s, "DELETE FROM instance_ports WHERE instance_id = ?", err, "s", id) < 0 ||
	    run(s, "DELETE FROM instance_opts WHERE instance_id = ?", err, "s", id) < 0 ||
	    run(s, "DELETE FROM instances WHERE id = ?", err, "s", id) < 0) {
		unik_error_prefix(err, "delete instance %s", id);
		return -1;
	}
	return 0;
}

int unik_store_put_volume(struct unik_store *s, const struct unik_volume *v, struct unik_error *err)
{
	if (run(s,
	        "INSERT OR REPLACE INTO volumes(id, name, seq, created, format, size_mb, "
	        "instance_id, mount) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
	        err, "ssississ", v->id, v->name, v->seq, v->created, v->format ? v->format : "raw",
	        (int64_t)v->size_mb, v->instance_id, v->mount) < 0) {
		unik_error_prefix(err, "write volume %s", v->id);
		return -1;
	}
	return 0;
}

int unik_store_del_volume(struct unik_store *s, const char *id, struct unik_error *err)
{
	return run(s, "DELETE FROM volumes WHERE id = ?", err, "s", id);
}

int unik_store_put_network(struct unik_store *s, const struct unik_network *n,
                           struct unik_error *err)
{
	if (run(s,
	        "INSERT OR REPLACE INTO networks(id, name, seq, created, subnet, gateway, bridge, "
	        "dhcp) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
	        err, "ssissssi", n->id, n->name, n->seq, n->created, n->subnet, n->gateway,
	        n->bridge, (int64_t)n->dhcp) < 0) {
		unik_error_prefix(err, "write network %s", n->id);
		return -1;
	}
	return 0;
}

int unik_store_del_network(struct unik_store *s, const char *id, struct unik_error *err)
{
	return run(s, "DELETE FROM networks WHERE id = ?", err, "s", id);
}

/* ------------------------------------------------------------------------------------------ */
/* Reads */

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	return t ? xstrdup((const char *)t) : NULL;
}

static void col_copy(sqlite3_stmt *st, int i, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	snprintf(buf, len, "%s", t ? (const char *)t : "");
}

static int prepare(struct unik_store *s, const char *sql, sqlite3_stmt **st, struct unik_error *err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
		unik_error_set(err, UNIK_E_IO, "database %s: %s", s->path, sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

static int finish(struct unik_store *s, sqlite3_stmt *st, int rc, const char *what,
                  struct unik_error *err)
{
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		unik_error_set(err, UNIK_E_IO, "database %s: read %s: %s", s->path, what,
		               sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

/* Reads a NAME=VALUE list table into the owners' strvs; find maps an owner id to its strv. */
static int load_pairs(struct unik_store *s, const char *sql, void *ctx,
                      struct strv *(*find)(void *ctx, const char *id), struct unik_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (prepare(s, sql, &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct strv *w = find(ctx, (const char *)sqlite3_column_text(st, 0));

		if (w)
			strv_pushf(w, "%s=%s", (const char *)sqlite3_column_text(st, 1),
			           (const char *)sqlite3_column_text(st, 2));
	}
	return finish(s, st, rc, "a list", err);
}

#define LIST_PUSH(arr, n, item)                                                                    \
	do {                                                                                       \
		(arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr)));                               \
		(arr)[(n)++] = (item);                                                             \
	} while (0)

static struct strv *image_env_of(void *ctx, const char *id)
{
	struct unik_store_contents *c = ctx;

	for (size_t i = 0; id && i < c->nimages; i++)
		if (strcmp(c->images[i]->id, id) == 0)
			return &c->images[i]->env;
	return NULL;
}

static struct unik_instance *instance_of(struct unik_store_contents *c, const char *id)
{
	for (size_t i = 0; id && i < c->ninstances; i++)
		if (strcmp(c->instances[i]->id, id) == 0)
			return c->instances[i];
	return NULL;
}

static struct strv *instance_env_of(void *ctx, const char *id)
{
	struct unik_instance *in = instance_of(ctx, id);

	return in ? &in->env : NULL;
}

static struct strv *instance_opts_of(void *ctx, const char *id)
{
	struct unik_instance *in = instance_of(ctx, id);

	return in ? &in->provider_opts : NULL;
}

static void seen_seq(struct unik_store_contents *c, int64_t seq)
{
	if (seq > c->max_seq)
		c->max_seq = seq;
}

static int load_images(struct unik_store *s, struct unik_store_contents *c, struct unik_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (prepare(s,
	            "SELECT id, name, seq, base, language, compiler, provider, args, created, "
	            "build_id, memory_mb, elf_size, rootfs_size FROM images ORDER BY seq",
	            &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct unik_image *im = xcalloc(1, sizeof(*im));

		col_copy(st, 0, im->id, sizeof(im->id));
		im->name = col_dup(st, 1);
		im->seq = sqlite3_column_int64(st, 2);
		im->base = col_dup(st, 3);
		im->language = col_dup(st, 4);
		im->compiler = col_dup(st, 5);
		im->provider = col_dup(st, 6);
		im->args = col_dup(st, 7);
		im->created = col_dup(st, 8);
		im->build_id = col_dup(st, 9);
		im->memory_mb = sqlite3_column_int64(st, 10);
		im->elf_size = (uint64_t)sqlite3_column_int64(st, 11);
		im->rootfs_size = (uint64_t)sqlite3_column_int64(st, 12);
		seen_seq(c, im->seq);
		LIST_PUSH(c->images, c->nimages, im);
	}
	if (finish(s, st, rc, "images", err) < 0)
		return -1;
	if (load_pairs(s, "SELECT image_id, name, value FROM image_env ORDER BY image_id, pos", c,
	               image_env_of, err) < 0)
		return -1;
	if (prepare(s, "SELECT image_id, format, size FROM image_formats ORDER BY image_id, pos",
	            &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);

		for (size_t i = 0; id && i < c->nimages; i++)
			if (strcmp(c->images[i]->id, id) == 0)
				unik_formats_set(&c->images[i]->formats,
				                 (const char *)sqlite3_column_text(st, 1),
				                 (uint64_t)sqlite3_column_int64(st, 2));
	}
	return finish(s, st, rc, "image formats", err);
}

static int load_builds(struct unik_store *s, struct unik_store_contents *c, struct unik_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (prepare(s,
	            "SELECT id, image, seq, image_id, state, error, created, finished FROM builds "
	            "ORDER BY seq",
	            &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct unik_build *b = xcalloc(1, sizeof(*b));

		col_copy(st, 0, b->id, sizeof(b->id));
		b->image = col_dup(st, 1);
		b->seq = sqlite3_column_int64(st, 2);
		b->image_id = col_dup(st, 3);
		b->state = unik_build_state_from_name((const char *)sqlite3_column_text(st, 4));
		b->error = col_dup(st, 5);
		b->created = col_dup(st, 6);
		b->finished = col_dup(st, 7);
		seen_seq(c, b->seq);
		LIST_PUSH(c->builds, c->nbuilds, b);
	}
	return finish(s, st, rc, "builds", err);
}

static int load_instances(struct unik_store *s, struct unik_store_contents *c,
                          struct unik_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (prepare(s,
	            "SELECT id, name, seq, image, image_id, provider, args, cmdline, created, "
	            "started, finished, state, exit_code, pid, ip, detail, handle, handle_id, "
	            "memory_mb FROM instances ORDER BY seq",
	            &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct unik_instance *in = xcalloc(1, sizeof(*in));

		col_copy(st, 0, in->id, sizeof(in->id));
		in->name = col_dup(st, 1);
		in->seq = sqlite3_column_int64(st, 2);
		in->image = col_dup(st, 3);
		in->image_id = col_dup(st, 4);
		in->provider = col_dup(st, 5);
		in->args = col_dup(st, 6);
		in->cmdline = col_dup(st, 7);
		in->created = col_dup(st, 8);
		in->started = col_dup(st, 9);
		in->finished = col_dup(st, 10);
		in->state =
		    unik_instance_state_from_name((const char *)sqlite3_column_text(st, 11));
		in->exit_code = sqlite3_column_type(st, 12) == SQLITE_NULL
		                    ? -1
		                    : (int)sqlite3_column_int64(st, 12);
		in->pid = (int)sqlite3_column_int64(st, 13);
		col_copy(st, 14, in->ip, sizeof(in->ip));
		col_copy(st, 15, in->detail, sizeof(in->detail));
		col_copy(st, 16, in->handle, sizeof(in->handle));
		col_copy(st, 17, in->handle_id, sizeof(in->handle_id));
		in->memory_mb = sqlite3_column_int64(st, 18);
		seen_seq(c, in->seq);
		LIST_PUSH(c->instances, c->ninstances, in);
	}
	if (finish(s, st, rc, "instances", err) < 0)
		return -1;
	if (load_pairs(
	        s, "SELECT instance_id, name, value FROM instance_env ORDER BY instance_id, pos", c,
	        instance_env_of, err) < 0 ||
	    load_pairs(
	        s, "SELECT instance_id, key, value FROM instance_opts ORDER BY instance_id, pos", c,
	        instance_opts_of, err) < 0)
		return -1;
	if (prepare(s,
	            "SELECT instance_id, network, ip, mac FROM instance_nics ORDER BY instance_id, "
	            "pos",
	            &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct unik_instance *in = instance_of(c, (const char *)sqlite3_column_text(st, 0));
		struct unik_nic nic = {0};

		if (!in)
			continue;
		nic.network = col_dup(st, 1);
		nic.ip = col_dup(st, 2);
		col_copy(st, 3, nic.mac, sizeof(nic.mac));
		LIST_PUSH(in->nics, in->nnics, nic);
	}
	if (finish(s, st, rc, "instance NICs", err) < 0)
		return -1;
	if (prepare(s,
	            "SELECT instance_id, proto, host_ip, host_port, guest_port FROM instance_ports "
	            "ORDER BY instance_id, pos",
	            &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct unik_instance *in = instance_of(c, (const char *)sqlite3_column_text(st, 0));
		struct unik_port p = {0};
		int64_t hp = sqlite3_column_int64(st, 3), gp = sqlite3_column_int64(st, 4);

		/* A row out of range (written by hand) is dropped, not wrapped. */
		if (!in || hp < 1 || hp > 65535 || gp < 1 || gp > 65535)
			continue;
		p.proto = strcmp((const char *)sqlite3_column_text(st, 1), "udp") == 0
		              ? UNIK_PORT_UDP
		              : UNIK_PORT_TCP;
		col_copy(st, 2, p.host_ip, sizeof(p.host_ip));
		p.host_port = (uint16_t)hp;
		p.guest_port = (uint16_t)gp;
		LIST_PUSH(in->ports, in->nports, p);
	}
	if (finish(s, st, rc, "instance ports", err) < 0)
		return -1;
	if (prepare(s,
	            "SELECT instance_id, volume, host_path, at, readonly FROM instance_mounts "
	            "ORDER BY instance_id, pos",
	            &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct unik_instance *in = instance_of(c, (const char *)sqlite3_column_text(st, 0));
		struct unik_mount m = {0};

		/* A row naming neither a volume nor a directory (written by hand) is dropped. */
		if (!in || (sqlite3_column_type(st, 1) == SQLITE_NULL) ==
		               (sqlite3_column_type(st, 2) == SQLITE_NULL))
			continue;
		m.volume = col_dup(st, 1);
		m.host_path = col_dup(st, 2);
		m.at = col_dup(st, 3);
		m.readonly = sqlite3_column_int64(st, 4) != 0;
		LIST_PUSH(in->mounts, in->nmounts, m);
	}
	return finish(s, st, rc, "instance mounts", err);
}

static int load_volumes(struct unik_store *s, struct unik_store_contents *c, struct unik_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (prepare(
	        s,
	        "SELECT id, name, seq, created, format, size_mb, instance_id, mount FROM volumes "
	        "ORDER BY seq",
	        &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct unik_volume *v = xcalloc(1, sizeof(*v));

		col_copy(st, 0, v->id, sizeof(v->id));
		v->name = col_dup(st, 1);
		v->seq = sqlite3_column_int64(st, 2);
		v->created = col_dup(st, 3);
		v->format = col_dup(st, 4);
		v->size_mb = (uint64_t)sqlite3_column_int64(st, 5);
		v->instance_id = col_dup(st, 6);
		v->mount = col_dup(st, 7);
		seen_seq(c, v->seq);
		LIST_PUSH(c->volumes, c->nvolumes, v);
	}
	return finish(s, st, rc, "volumes", err);
}

static int load_networks(struct unik_store *s, struct unik_store_contents *c,
                         struct unik_error *err)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (prepare(
	        s,
	        "SELECT id, name, seq, created, subnet, gateway, bridge, dhcp FROM networks ORDER "
	        "BY "
	        "seq",
	        &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct unik_network *n = xcalloc(1, sizeof(*n));

		col_copy(st, 0, n->id, sizeof(n->id));
		n->name = col_dup(st, 1);
		n->seq = sqlite3_column_int64(st, 2);
		n->created = col_dup(st, 3);
		n->subnet = col_dup(st, 4);
		n->gateway = col_dup(st, 5);
		n->bridge = col_dup(st, 6);
		n->dhcp = sqlite3_column_int(st, 7) != 0;
		seen_seq(c, n->seq);
		LIST_PUSH(c->networks, c->nnetworks, n);
	}
	return finish(s, st, rc, "networks", err);
}

int unik_store_load(struct unik_store *s, struct unik_store_contents *out, struct unik_error *err)
{
	memset(out, 0, sizeof(*out));
	/* One read transaction: the lists and their owners from the same snapshot. */
	if (exec(s, "BEGIN", err) < 0)
		return -1;
	if (load_images(s, out, err) < 0 || load_builds(s, out, err) < 0 ||
	    load_instances(s, out, err) < 0 || load_volumes(s, out, err) < 0 ||
	    load_networks(s, out, err) < 0) {
		exec(s, "ROLLBACK", NULL);
		unik_store_contents_free(out);
		return -1;
	}
	exec(s, "COMMIT", NULL);
	return 0;
}

void unik_store_contents_free(struct unik_store_contents *c)
{
	for (size_t i = 0; i < c->nimages; i++)
		unik_image_free(c->images[i]);
	for (size_t i = 0; i < c->nbuilds; i++)
		unik_build_free(c->builds[i]);
	for (size_t i = 0; i < c->ninstances; i++)
		unik_instance_free(c->instances[i]);
	for (size_t i = 0; i < c->nvolumes; i++)
		unik_volume_free(c->volumes[i]);
	for (size_t i = 0; i < c->nnetworks; i++)
		unik_network_free(c->networks[i]);
	free(c->networks);
	free(c->images);
	free(c->builds);
	free(c->instances);
	free(c->volumes);
	memset(c, 0, sizeof(*c));
}
