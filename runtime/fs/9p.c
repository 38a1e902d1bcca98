/* Host shares: a 9P2000.L client behind fs_ops, over virtio-9p (drivers/virtio_9p.c), and the
 * boot step that mounts each `fs` device of the manifest where its `at=` says.  Nothing is
 * cached but the inodes themselves (one per file the guest has looked up, found again by the
 * host's qid path, so that the vfs sees one inode per file): every lookup asks the host for the
 * file's attributes again, and reads and writes go to the host, so what the host changes is seen
 * at once. */
#include "drivers/virtio_9p.h"
#include "fs/fs.h"
#include "kernel/devices.h"
#include "kernel/init.h"

/* 9P2000.L message types (the R-message of each is its T + 1). */
enum {
	RLERROR = 7,
	TLOPEN = 12,
	TLCREATE = 14,
	TSYMLINK = 16,
	TREADLINK = 22,
	TSTATFS = 8,
	TGETATTR = 24,
	TSETATTR = 26,
	TREADDIR = 40,
	TFSYNC = 50,
	TLINK = 70,
	TMKDIR = 72,
	TRENAMEAT = 74,
	TUNLINKAT = 76,
	TVERSION = 100,
	TATTACH = 104,
	TWALK = 110,
	TREAD = 116,
	TWRITE = 118,
	TCLUNK = 120,
};

#define NOFID          0xffffffffu
#define NOTAG          0xffff
#define HDR            7 /* size[4] type[1] tag[2] */
#define GETATTR_BASIC  0x7ffULL
#define SETATTR_SIZE   0x8u
#define AT_REMOVEDIR_L 0x200u
#define HASH           64

struct p9 {
	struct p9_chan *c;
	uint32_t msize;
	uint32_t next_fid;
	struct inode *hash[HASH]; /* the inodes looked up, by qid path */
};

/* An inode's own: the fid walked to it (never opened), the one opened for I/O, the open
 * directory a listing reads from and where the last listing stopped. */
struct p9_ino {
	uint32_t fid, ofid, dfid;
	bool owrite; /* ofid is open for writing too */
	bool hashed;
	uint64_t qpath;
	uint64_t blocks; /* the host's st_blocks, from the last Rgetattr */
	struct inode *hnext;
	uint64_t dpos, doff; /* the next entry's index and the host's offset to read it from */
	/* A symlink made by create, which waits for its target (written next) to exist on the
	 * host: the directory and the name. */
	struct inode *ldir;
	char *lname;
};

struct attrs {
	uint64_t qpath;
	uint32_t mode;
	uint64_t nlink, size, blocks;
	int64_t atime, mtime, ctime;
};

static const struct fs_ops p9_ops;

#define PI(i) ((struct p9_ino *)(i)->priv)
#define PS(i) ((struct p9 *)(i)->sb->priv)

/* --- messages --- */

struct msg {
	struct p9 *p;
	uint8_t *b;
	uint32_t n;
};

struct rd {
	const uint8_t *b;
	uint32_t n, pos;
};

static void put(struct msg *m, const void *v, uint32_t n)
{
	k_memcpy(m->b + m->n, v, n);
	m->n += n;
}

/* Little-endian fields: x86 stores them so already. */
static void put32(struct msg *m, uint32_t v)
{
	put(m, &v, 4);
}

static void put64(struct msg *m, uint64_t v)
{
	put(m, &v, 8);
}

static void putstr_n(struct msg *m, const char *s, size_t n)
{
	uint16_t l = (uint16_t)n;
	put(m, &l, 2);
	put(m, s, l);
}

static void putstr(struct msg *m, const char *s)
{
	putstr_n(m, s, k_strlen(s));
}

/* Waits for the channel and starts a message of type t; every begin has its p9_chan_end. */
static void begin(struct p9 *p, struct msg *m, uint8_t t)
{
	m->p = p;
	m->b = p9_chan_begin(p->c);
	m->n = HDR;
	m->b[4] = t;
	uint16_t tag = t == TVERSION ? NOTAG : 1;
	k_memcpy(m->b + 5, &tag, 2);
}

static void get(struct rd *r, void *v, uint32_t n)
{
	if (r->pos + n > r->n) {
		k_memset(v, 0, n);
		r->pos = r->n;
		return;
	}
	k_memcpy(v, r->b + r->pos, n);
	r->pos += n;
}

static uint32_t get32(struct rd *r)
{
	uint32_t v;
	get(r, &v, 4);
	return v;
}

static uint64_t get64(struct rd *r)
{
	uint64_t v;
	get(r, &v, 8);
	return v;
}

static uint64_t getqid(struct rd *r)
{
	r->pos += 5; /* type[1] version[4] */
	return get64(r);
}

/* Sends m and waits for the answer, which r then reads past its header: 0, or the Linux errno
 * the host's Rlerror carries (negated). */
static int rpc(struct msg *m, struct rd *r)
{
	uint8_t t = m->b[4];
	k_memcpy(m->b, &m->n, 4);
	uint32_t len;
	const uint8_t *b = p9_chan_rpc(m->p->c, m->n, &len);
	uint32_t size;
	k_memcpy(&size, b, 4);
	*r = (struct rd){b, MIN(size, virtio_9p_buf_size(m->p->c)), HDR};
	if (size < HDR || len < HDR)
		return -EIO;
	if (b[4] == RLERROR) {
		int e = (int)get32(r);
		return e > 0 ? -e : -EIO;
	}
	return b[4] == t + 1 ? 0 : -EIO;
}

static int done(struct msg *m, int r)
{
	p9_chan_end(m->p->c);
	return r;
}

/* A message whose answer carries nothing wanted. */
static int call(struct msg *m)
{
	struct rd r;
	return done(m, rpc(m, &r));
}

static uint32_t fid_new(struct p9 *p)
{
	return p->next_fid++;
}

static void clunk(struct p9 *p, uint32_t fid)
{
	struct msg m;
	if (fid == NOFID)
		return;
	begin(p, &m, TCLUNK);
	put32(&m, fid);
	call(&m);
}

/* newfid for the file name in the directory fid (name NULL: fid itself). */
static int walk(struct p9 *p, struct inode *dir, const char *name, uint32_t newfid)
{
	struct msg m;
	struct rd r;
	begin(p, &m, TWALK);
	put32(&m, PI(dir)->fid);
	put32(&m, newfid);
	uint16_t n = name ? 1 : 0;
	put(&m, &n, 2);
	if (name)
		putstr(&m, name);
	int e = rpc(&m, &r);
	uint16_t got = 0;
	if (!e)
		get(&r, &got, 2);
	return done(&m, e ? e : got == n ? 0 : -ENOENT);
}

static int getattr(struct p9 *p, uint32_t fid, struct attrs *a)
{
	struct msg m;
	struct rd r;
	begin(p, &m, TGETATTR);
	put32(&m, fid);
	put64(&m, GETATTR_BASIC);
	int e = rpc(&m, &r);
	if (!e) {
		get64(&r); /* valid */
		a->qpath = getqid(&r);
		a->mode = get32(&r);
		r.pos += 8; /* uid, gid */
		a->nlink = get64(&r);
		r.pos += 8; /* rdev */
		a->size = get64(&r);
		r.pos += 8; /* blksize */
		a->blocks = get64(&r);
		int64_t t[6];
		get(&r, t, sizeof(t));
		a->atime = t[0] * 1000000000 + t[1];
		a->mtime = t[2] * 1000000000 + t[3];
		a->ctime = t[4] * 1000000000 + t[5];
	}
	return done(&m, e);
}

/* Opens a new fid for the file i's fid names (a clone of it), with Linux's open flags. */
static int lopen(struct p9 *p, struct inode *i, uint32_t flags, uint32_t *out)
{
	struct msg m;
	uint32_t fid = fid_new(p);
	int e = walk(p, i, NULL, fid);
	if (e)
		return e;
	begin(p, &m, TLOPEN);
	put32(&m, fid);
	put32(&m, flags);
	e = call(&m);
	if (e)
		clunk(p, fid);
	else
		*out = fid;
	return e;
}

/* --- inodes --- */

static void apply(struct inode *i, const struct attrs *a)
{
	i->mode = a->mode;
	/* A host file unlinked while open there still has its inode here until we drop it. */
	i->nlink = a->nlink ? (uint32_t)a->nlink : 1;
	i->size = a->size;
	PI(i)->blocks = a->blocks;
	i->atime = a->atime;
	i->mtime = a->mtime;
	i->ctime = a->ctime;
}

static struct inode **bucket(struct p9 *p, uint64_t qpath)
{
	return &p->hash[(qpath ^ qpath >> 16) % HASH];
}

static struct inode *hash_find(struct p9 *p, uint64_t qpath)
{
	for (struct inode *i = *bucket(p, qpath); i; i = PI(i)->hnext)
		if (PI(i)->qpath == qpath)
			return i;
	return NULL;
}

static void hash_add(struct p9 *p, struct inode *i)
{
	struct inode **b = bucket(p, PI(i)->qpath);
	PI(i)->hnext = *b;
	*b = i;
	PI(i)->hashed = true;
}

static void hash_del(struct p9 *p, struct inode *i)
{
	if (!PI(i)->hashed)
		return;
	for (struct inode **pp = bucket(p, PI(i)->qpath); *pp; pp = &PI(*pp)->hnext)
		if (*pp == i) {
			*pp = PI(i)->hnext;
			break;
		}
	PI(i)->hashed = false;
}

static struct inode *inode_make(struct super_block *sb, uint32_t mode)
{
	struct inode *i = inode_new(mode);
	struct p9_ino *pi = kzalloc(sizeof(*pi));
	if (!i || !pi) {
		kfree(i);
		kfree(pi);
		return NULL;
	}
	pi->fid = pi->ofid = pi->dfid = NOFID;
	i->sb = sb;
	i->priv = pi;
	return i;
}

/* The inode of the file fid names: the one already known for its qid path (which takes fid
 * over), else a new one. */
static struct inode *adopt(struct super_block *sb, uint32_t fid, struct inode *dir)
{
	struct p9 *p = sb->priv;
	struct attrs a;
	if (getattr(p, fid, &a)) {
		clunk(p, fid);
		return NULL;
	}
	struct inode *i = hash_find(p, a.qpath);
	if (i) {
		uint32_t old = PI(i)->fid;
		PI(i)->fid = fid;
		clunk(p, old);
	} else if ((i = inode_make(sb, a.mode))) {
		PI(i)->fid = fid;
		PI(i)->qpath = a.qpath;
		hash_add(p, i);
	} else {
		clunk(p, fid);
		return NULL;
	}
	apply(i, &a);
	if (S_ISDIR(i->mode) && i != sb->root)
		i->parent = dir;
	return i;
}

static struct inode *p9_lookup(struct inode *dir, const char *name)
{
	struct p9 *p = PS(dir);
	uint32_t fid = fid_new(p);
	if (walk(p, dir, name, fid))
		return NULL;
	return adopt(dir->sb, fid, dir);
}

/* One name of i is gone: the last, or a directory's only one, leaves it to fs_put. */
static void drop_name(struct inode *i)
{
	if (S_ISDIR(i->mode) || i->nlink <= 1) {
		i->nlink = 0;
		hash_del(PS(i), i);
	} else {
		i->nlink--;
	}
	fs_put(i);
}

/* --- fs_ops --- */

static int p9_create(struct inode *dir, const char *name, uint32_t mode, struct inode **out)
{
	struct p9 *p = PS(dir);
	struct msg m;
	struct inode *i;
	uint32_t fid = NOFID;
	int e;
	if (dir->sb->readonly)
		return -EROFS;
	switch (mode & S_IFMT) {
	case S_IFDIR:
		begin(p, &m, TMKDIR);
		put32(&m, PI(dir)->fid);
		putstr(&m, name);
		put32(&m, mode & 07777);
		put32(&m, 0);
		if ((e = call(&m)))
			return e;
		break;
	case S_IFREG:
		fid = fid_new(p);
		if ((e = walk(p, dir, NULL, fid)))
			return e;
		begin(p, &m, TLCREATE);
		put32(&m, fid);
		putstr(&m, name);
		put32(&m, O_RDWR | O_CREAT | O_EXCL);
		put32(&m, mode & 07777);
		put32(&m, 0);
		if ((e = call(&m))) {
			clunk(p, fid);
			return e;
		}
		break;
	case S_IFLNK:
		/* The target comes with the write that follows (file.c's symlinkat). */
		if (!(i = inode_make(dir->sb, mode)))
			return -ENOMEM;
		i->nlink = 1;
		PI(i)->ldir = dir;
		PI(i)->lname = k_strdup(name);
		if (out)
			*out = i;
		return 0;
	default:
		return -EPERM;
	}
	if (!(i = p9_lookup(dir, name))) {
		clunk(p, fid);
		return -EIO;
	}
	if (fid != NOFID) {
		/* Tlcreate left fid open read-write: the new file's I/O goes through it. */
		clunk(p, PI(i)->ofid);
		PI(i)->ofid = fid;
		PI(i)->owrite = true;
	}
	if (out)
		*out = i;
	return 0;
}

static int p9_link(struct inode *dir, const char *name, struct inode *target)
{
	struct msg m;
	if (dir->sb->readonly)
		return -EROFS;
	begin(PS(dir), &m, TLINK);
	put32(&m, PI(dir)->fid);
	put32(&m, PI(target)->fid);
	putstr(&m, name);
	int e = call(&m);
	if (!e)
		target->nlink++;
	return e;
}

static int p9_unlink(struct inode *dir, const char *name, bool rmdir)
{
	struct msg m;
	if (dir->sb->readonly)
		return -EROFS;
	struct inode *i = p9_lookup(dir, name);
	begin(PS(dir), &m, TUNLINKAT);
	put32(&m, PI(dir)->fid);
	putstr(&m, name);
	put32(&m, rmdir ? AT_REMOVEDIR_L : 0);
	int e = call(&m);
	if (!e && i)
		drop_name(i);
	return e;
}

static int p9_rename(struct inode *odir, const char *oname, struct inode *ndir, const char *nname)
{
	struct msg m;
	if (odir->sb->readonly)
		return -EROFS;
	struct inode *src = p9_lookup(odir, oname), *dst = p9_lookup(ndir, nname);
	begin(PS(odir), &m, TRENAMEAT);
	put32(&m, PI(odir)->fid);
	putstr(&m, oname);
	put32(&m, PI(ndir)->fid);
	putstr(&m, nname);
	int e = call(&m);
	if (e)
		return e;
	if (dst && dst != src)
		drop_name(dst);
	if (src && S_ISDIR(src->mode))
		src->parent = ndir;
	return 0;
}

/* The fid to read (or write) i through, opened on first use: read-write where the host allows,
 * so that one fid serves both. */
static int io_fid(struct inode *i, bool write, uint32_t *out)
{
	struct p9_ino *pi = PI(i);
	if (pi->ofid != NOFID && (pi->owrite || !write)) {
		*out = pi->ofid;
		return 0;
	}
	uint32_t fid;
	bool rw = !i->sb->readonly;
	int e = rw ? lopen(PS(i), i, O_RDWR, &fid) : -EROFS;
	if (e && !write) {
		rw = false;
		e = lopen(PS(i), i, O_RDONLY, &fid);
	}
	if (e)
		return e;
	clunk(PS(i), pi->ofid);
	pi->ofid = fid;
	pi->owrite = rw;
	*out = fid;
	return 0;
}

static long readlink(struct inode *i, void *buf, uint64_t n)
{
	struct msg m;
	struct rd r;
	begin(PS(i), &m, TREADLINK);
	put32(&m, PI(i)->fid);
	int e = rpc(&m, &r);
	long got = e;
	if (!e) {
		uint16_t l = 0;
		get(&r, &l, 2);
		got = (long)MIN((uint64_t)MIN(l, r.n - r.pos), n);
		k_memcpy(buf, r.b + r.pos, (size_t)got);
	}
	return done(&m, (int)got);
}

static long p9_read(struct inode *i, void *buf, uint64_t n, uint64_t off)
{
	struct p9 *p = PS(i);
	uint32_t fid;
	if (S_ISLNK(i->mode))
		return PI(i)->lname ? 0 : readlink(i, buf, n);
	if (S_ISDIR(i->mode))
		return -EISDIR;
	int e = io_fid(i, false, &fid);
	if (e)
		return e;
	uint64_t total = 0;
	while (total < n) {
		struct msg m;
		struct rd r;
		uint32_t want = (uint32_t)MIN(n - total, (uint64_t)(p->msize - HDR - 4));
		begin(p, &m, TREAD);
		put32(&m, fid);
		put64(&m, off + total);
		put32(&m, want);
		e = rpc(&m, &r);
		uint32_t got = e ? 0 : get32(&r);
		got = MIN(got, MIN(want, r.n - r.pos));
		if (got)
			k_memcpy((char *)buf + total, r.b + r.pos, got);
		done(&m, 0);
		if (e)
			return total ? (long)total : e;
		total += got;
		if (got < want)
			break;
	}
	if (off + total > i->size)
		i->size = off + total;
	return (long)total;
}

/* The target of a symlink create made: the link is made on the host now. */
static long symlink_finish(struct inode *i, const char *target, uint64_t n)
{
	struct p9_ino *pi = PI(i);
	struct p9 *p = PS(i);
	struct msg m;
	if (n > PATH_MAX)
		return -ENAMETOOLONG;
	begin(p, &m, TSYMLINK);
	put32(&m, PI(pi->ldir)->fid);
	putstr(&m, pi->lname);
	putstr_n(&m, target, n);
	put32(&m, 0);
	int e = call(&m);
	uint32_t fid = fid_new(p);
	if (!e)
		e = walk(p, pi->ldir, pi->lname, fid);
	struct attrs a;
	if (!e && (e = getattr(p, fid, &a)))
		clunk(p, fid);
	if (e)
		return e;
	kfree(pi->lname);
	pi->lname = NULL;
	pi->fid = fid;
	pi->qpath = a.qpath;
	apply(i, &a);
	if (!hash_find(p, a.qpath))
		hash_add(p, i);
	return (long)n;
}

static long p9_write(struct inode *i, const void *buf, uint64_t n, uint64_t off)
{
	struct p9 *p = PS(i);
	uint32_t fid;
	if (i->sb->readonly)
		return -EROFS;
	if (PI(i)->lname)
		return symlink_finish(i, buf, n);
	if (!S_ISREG(i->mode))
		return -EINVAL;
	int e = io_fid(i, true, &fid);
	if (e)
		return e;
	uint64_t total = 0;
	while (total < n) {
		struct msg m;
		struct rd r;
		uint32_t chunk = (uint32_t)MIN(n - total, (uint64_t)(p->msize - HDR - 16));
		begin(p, &m, TWRITE);
		put32(&m, fid);
		put64(&m, off + total);
		put32(&m, chunk);
		put(&m, (const char *)buf + total, chunk);
		e = rpc(&m, &r);
		uint32_t got = e ? 0 : MIN(get32(&r), chunk);
		done(&m, 0);
		if (e)
			return total ? (long)total : e;
		total += got;
		if (got < chunk)
			break;
	}
	if (off + total > i->size)
		i->size = off + total;
	i->mtime = i->ctime = fs_now();
	return (long)total;
}

static int p9_truncate(struct inode *i, uint64_t size)
{
	struct msg m;
	if (i->sb->readonly)
		return -EROFS;
	if (S_ISDIR(i->mode))
		return -EISDIR;
	begin(PS(i), &m, TSETATTR);
	put32(&m, PI(i)->fid);
	put32(&m, SETATTR_SIZE);
	put32(&m, 0); /* mode, uid, gid */
	put32(&m, 0);
	put32(&m, 0);
	put64(&m, size);
	for (int k = 0; k < 4; k++) /* atime, mtime */
		put64(&m, 0);
	int e = call(&m);
	if (!e) {
		i->size = size;
		i->mtime = i->ctime = fs_now();
	}
	return e;
}

/* Reads the directory's entries from the host, from where the last listing stopped when pos
 * continues it, else from the start. */
static void p9_readdir(struct inode *dir, uint64_t pos,
                       bool (*emit)(void *arg, const char *name, struct inode *i), void *arg)
{
	struct p9 *p = PS(dir);
	struct p9_ino *pd = PI(dir);
	char name[NAME_MAX + 1];
	if (pd->dfid == NOFID && lopen(p, dir, O_RDONLY | O_DIRECTORY, &pd->dfid))
		return;
	uint64_t idx = 0, off = 0;
	if (pos && pos >= pd->dpos && pd->dpos) {
		idx = pd->dpos;
		off = pd->doff;
	}
	uint32_t cap = p->msize - HDR - 4;
	char *data = kmalloc(cap);
	if (!data)
		return;
	for (;;) {
		struct msg m;
		struct rd r;
		begin(p, &m, TREADDIR);
		put32(&m, pd->dfid);
		put64(&m, off);
		put32(&m, cap);
		int e = rpc(&m, &r);
		uint32_t count = e ? 0 : MIN(get32(&r), MIN(cap, r.n - r.pos));
		/* Copied out: the lookups below need the channel. */
		k_memcpy(data, r.b + r.pos, count);
		done(&m, 0);
		if (!count)
			break;
		struct rd d = {(const uint8_t *)data, count, 0};
		while (d.pos < d.n) {
			uint64_t qpath = getqid(&d);
			uint64_t next = get64(&d);
			d.pos++; /* type */
			uint16_t l = 0;
			get(&d, &l, 2);
			l = (uint16_t)MIN(l, MIN((uint32_t)NAME_MAX, d.n - d.pos));
			get(&d, name, l);
			name[l] = 0;
			if (!k_strcmp(name, ".") || !k_strcmp(name, "..")) {
				off = next;
				continue;
			}
			if (idx < pos) {
				idx++;
				off = next;
				continue;
			}
			struct inode *i = hash_find(p, qpath);
			if (!i)
				i = p9_lookup(dir, name);
			if (i && emit(arg, name, i))
				goto stop;
			idx++;
			off = next;
		}
	}
stop:
	pd->dpos = idx;
	pd->doff = off;
	kfree(data);
}

static void p9_evict(struct inode *i)
{
	struct p9 *p = PS(i);
	struct p9_ino *pi = PI(i);
	hash_del(p, i);
	clunk(p, pi->fid);
	clunk(p, pi->ofid);
	clunk(p, pi->dfid);
	kfree(pi->lname);
	kfree(pi);
	i->priv = NULL;
}

static int fsync_fid(struct p9 *p, uint32_t fid)
{
	struct msg m;
	begin(p, &m, TFSYNC);
	put32(&m, fid);
	put32(&m, 0);
	return call(&m);
}

static int p9_fsync(struct inode *i)
{
	return PI(i)->ofid != NOFID && PI(i)->owrite ? fsync_fid(PS(i), PI(i)->ofid) : 0;
}

static int p9_sync(struct super_block *sb)
{
	struct p9 *p = sb->priv;
	int r = 0;
	for (int b = 0; b < HASH; b++)
		for (struct inode *i = p->hash[b]; i; i = PI(i)->hnext) {
			int e = p9_fsync(i);
			r = r ? r : e;
		}
	return r;
}

/* Tstatfs on the share's root: the host file system's figures, as QEMU reads them there. */
static int p9_statfs(struct super_block *sb, struct linux_statfs *s)
{
	struct p9 *p = sb->priv;
	struct msg m;
	struct rd r;
	begin(p, &m, TSTATFS);
	put32(&m, PI(sb->root)->fid);
	int e = rpc(&m, &r);
	if (!e) {
		s->f_type = get32(&r);
		s->f_bsize = s->f_frsize = get32(&r);
		s->f_blocks = get64(&r);
		s->f_bfree = get64(&r);
		s->f_bavail = get64(&r);
		s->f_files = get64(&r);
		s->f_ffree = get64(&r);
		uint64_t fsid = get64(&r);
		s->f_fsid[0] = (int32_t)fsid;
		s->f_fsid[1] = (int32_t)(fsid >> 32);
		s->f_namelen = get32(&r);
	}
	return done(&m, e);
}

static uint64_t p9_blocks(struct inode *i)
{
	return PI(i)->blocks;
}

/* chmod and utimensat on the host file: Tsetattr with the mode, or both times as set in i. */
static int p9_setattr(struct inode *i, unsigned what)
{
	struct msg m;
	uint32_t valid = 0;
	if (what & FS_ATTR_MODE)
		valid |= 0x1; /* P9_ATTR_MODE */
	if (what & FS_ATTR_TIMES)
		valid |= 0x10 | 0x20 | 0x80 | 0x100; /* ATIME, MTIME, ATIME_SET, MTIME_SET */
	begin(PS(i), &m, TSETATTR);
	put32(&m, PI(i)->fid);
	put32(&m, valid);
	put32(&m, i->mode & 07777);
	put32(&m, 0); /* uid, gid */
	put32(&m, 0);
	put64(&m, 0); /* size */
	put64(&m, (uint64_t)(i->atime / 1000000000));
	put64(&m, (uint64_t)(i->atime % 1000000000));
	put64(&m, (uint64_t)(i->mtime / 1000000000));
	put64(&m, (uint64_t)(i->mtime % 1000000000));
	return call(&m);
}

static const struct fs_ops p9_ops = {
    .lookup = p9_lookup,
    .create = p9_create,
    .link = p9_link,
    .unlink = p9_unlink,
    .rename = p9_rename,
    .read = p9_read,
    .write = p9_write,
    .truncate = p9_truncate,
    .readdir = p9_readdir,
    .evict = p9_evict,
    .fsync = p9_fsync,
    .sync = p9_sync,
    .statfs = p9_statfs,
    .blocks = p9_blocks,
    .setattr = p9_setattr,
};

/* --- mounting --- */

/* Tversion and Tattach: the share's root, or an errno. */
static int attach(struct p9 *p, uint64_t *qpath)
{
	struct msg m;
	struct rd r;
	begin(p, &m, TVERSION);
	put32(&m, virtio_9p_buf_size(p->c));
	putstr(&m, "9P2000.L");
	int e = rpc(&m, &r);
	if (!e) {
		p->msize = MIN(get32(&r), virtio_9p_buf_size(p->c));
		uint16_t l = 0;
		get(&r, &l, 2);
		if (l != 8 || r.pos + 8 > r.n || k_memcmp(r.b + r.pos, "9P2000.L", 8))
			e = -EIO;
		else if (p->msize < 4096)
			e = -EIO;
	}
	done(&m, e);
	if (e)
		return e;
	begin(p, &m, TATTACH);
	put32(&m, 0);
	put32(&m, NOFID);
	putstr(&m, "root");
	putstr(&m, "");
	put32(&m, 0); /* n_uname: root */
	e = rpc(&m, &r);
	if (!e)
		*qpath = getqid(&r);
	return done(&m, e);
}

static void share_mount(const struct rt_device *d)
{
	const char *ro = d->readonly ? " read-only" : "";
	struct p9_chan *c = virtio_9p_find(d->name);
	if (!c) {
		kprintf(UNIK_CONSOLE_PREFIX
		        "share %s: no virtio-9p device has the mount tag \"%s\": "
		        "not mounted\n",
		        d->name, d->name);
		return;
	}
	if (!d->mount || d->mount[0] != '/' || !d->mount[1]) {
		kprintf(UNIK_CONSOLE_PREFIX "share %s: no mount point (at=/PATH, not /): not "
		                            "mounted\n",
		        d->name);
		return;
	}
	struct p9 *p = kzalloc(sizeof(*p));
	struct super_block *sb = kzalloc(sizeof(*sb));
	struct attrs a;
	uint64_t qpath;
	p->c = c;
	p->next_fid = 1;
	p->msize = 8192;
	int e = attach(p, &qpath);
	if (!e)
		e = getattr(p, 0, &a);
	struct inode *root = e ? NULL : inode_make(sb, S_IFDIR | 0755);
	if (!root) {
		kprintf(UNIK_CONSOLE_PREFIX "share %s: the host refused to attach (error %d): not "
		                            "mounted\n",
		        d->name, -e);
		return;
	}
	sb->ops = &p9_ops;
	sb->priv = p;
	sb->readonly = d->readonly;
	sb->root = root;
	PI(root)->fid = 0;
	PI(root)->qpath = a.qpath;
	apply(root, &a);
	root->parent = root;
	hash_add(p, root);
	struct inode *at = fs_mkdir_p(d->mount, 0755);
	if (!at || (e = fs_mount(at, sb))) {
		kprintf(UNIK_CONSOLE_PREFIX "share %s: cannot mount on %s (error %d)\n", d->name,
		        d->mount, at ? -e : ENOTDIR);
		return;
	}
	kprintf(UNIK_CONSOLE_PREFIX "share %s mounted%s on %s\n", d->name, ro, d->mount);
}

static void shares_mount(void)
{
	for (int i = 0; i < boot_devices.n; i++)
		if (boot_devices.d[i].kind == UNIK_DEV_FS)
			share_mount(&boot_devices.d[i]);
}
UNIK_INIT(INIT_MOUNTS, shares_mount);
