/* ext2 (revision 1, the features mke2fs -t ext2 sets by default), read-write, on a block device.
 *
 * Blocks go through a write-back cache of bounded size, flushed in block order at sync, at
 * fsync and when it grows past its bound.  Inodes, once looked at, stay in memory as a struct
 * inode (the VFS's) with a struct e2ino beside it; the VFS changes their mode, size and times in
 * place, and write_inode copies them into the inode table's cached block.  Directories are read
 * as plain ext2 directories: an htree (dir_index) directory keeps its index in blocks that look
 * like empty entries, and loses its index flag when changed here, as Linux's ext2 does.
 *
 * Work is synchronous (drivers/blkdev.h): a system call runs to its end without another thread
 * getting in, so nothing here takes a lock. */
#include "drivers/blkdev.h"
#include "fs/ext2.h"

#define MAGIC           0xef53
#define STATE_VALID     1
#define STATE_ERROR     2
#define INCOMPAT_FTYPE  0x2
#define RO_SPARSE_SUPER 0x1
#define RO_LARGE_FILE   0x2
#define RO_BTREE_DIR    0x4
#define INDEX_FL        0x1000
#define ROOT_INO        2
#define NDIR            12
#define CACHE_BYTES     (4u << 20)
#define RUN_BYTES       (64u << 10)
#define HASH            256

/* The on-disk superblock's first fields (all little-endian, as x86 is). */
struct dsuper {
	uint32_t inodes_count, blocks_count, r_blocks_count, free_blocks, free_inodes;
	uint32_t first_data_block, log_block_size, log_frag_size, blocks_per_group;
	uint32_t frags_per_group, inodes_per_group, mtime, wtime;
	uint16_t mnt_count;
	int16_t max_mnt_count;
	uint16_t magic, state, errors, minor_rev;
	uint32_t lastcheck, checkinterval, creator_os, rev_level;
	uint16_t def_resuid, def_resgid;
	uint32_t first_ino;
	uint16_t inode_size, block_group_nr;
	uint32_t compat, incompat, ro_compat;
};

struct dgroup {
	uint32_t block_bitmap, inode_bitmap, inode_table;
	uint16_t free_blocks, free_inodes, used_dirs, pad;
	uint32_t reserved[3];
};

struct dinode {
	uint16_t mode, uid;
	uint32_t size, atime, ctime, mtime, dtime;
	uint16_t gid, links;
	uint32_t blocks, flags, osd1;
	uint32_t block[15];
	uint32_t generation, file_acl, size_high, faddr;
	uint8_t osd2[12];
};

struct dirent {
	uint32_t inode;
	uint16_t rec_len;
	uint8_t name_len, type;
	char name[];
};

struct buf {
	uint64_t blk;
	struct buf *hnext, *next;
	bool dirty;
	bool lazy; /* a bitmap or group descriptor block: fsync leaves it to the next sync */
	uint8_t *data;
};

struct e2ino {
	uint32_t ino;
	uint32_t block[15];
	uint32_t flags, blocks, file_acl;
	struct inode *vfs;
	struct e2ino *hnext;
};

struct ext2 {
	struct super_block sb;
	struct blkdev *dev;
	const char *name;
	uint32_t bs, ptrs, ngroups, ipg, bpg, isize;
	uint8_t *super; /* the 1024-byte superblock, as struct dsuper */
	uint8_t *run;   /* RUN_BYTES for writing runs of blocks at once */
	struct buf *hash[HASH], *bufs;
	size_t nbufs;
	struct e2ino *inodes[HASH];
};

static const struct fs_ops ext2_ops;

#define SUPER(fs) ((struct dsuper *)(fs)->super)
#define E(i)      ((struct e2ino *)(i)->priv)
#define FS(i)     ((struct ext2 *)(i)->sb->priv)

static uint32_t secs(int64_t ns)
{
	return (uint32_t)(ns / 1000000000);
}

/* --- the block cache --- */

static int dev_io(struct ext2 *fs, bool write, uint64_t blk, void *p, size_t n)
{
	uint64_t spb = fs->bs / 512;
	return fs->dev->rw(fs->dev, write, blk * spb, p, n);
}

static struct buf *bfind(struct ext2 *fs, uint64_t blk)
{
	for (struct buf *b = fs->hash[blk % HASH]; b; b = b->hnext)
		if (b->blk == blk)
			return b;
	return NULL;
}

/* A new cache entry for blk, its data not filled in; NULL when memory runs out. */
static struct buf *badd(struct ext2 *fs, uint64_t blk)
{
	struct buf *b = kzalloc(sizeof(*b));
	b->data = kmalloc(fs->bs);
	if (!b->data) {
		kfree(b);
		return NULL;
	}
	b->blk = blk;
	b->hnext = fs->hash[blk % HASH];
	fs->hash[blk % HASH] = b;
	b->next = fs->bufs;
	fs->bufs = b;
	fs->nbufs++;
	return b;
}

static void bdrop(struct ext2 *fs, struct buf *b)
{
	for (struct buf **pp = &fs->hash[b->blk % HASH]; *pp; pp = &(*pp)->hnext)
		if (*pp == b) {
			*pp = b->hnext;
			break;
		}
	for (struct buf **pp = &fs->bufs; *pp; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	fs->nbufs--;
	kfree(b->data);
	kfree(b);
}

/* The cached block blk, read from the disk unless `fill` is false (then zeroed: a block just
 * allocated); NULL on an I/O error.  Never evicts: pointers stay good until cache_trim. */
static struct buf *bget(struct ext2 *fs, uint64_t blk, bool fill)
{
	struct buf *b = bfind(fs, blk);
	if (b && fill)
		return b;
	if (!b && !(b = badd(fs, blk)))
		return NULL;
	if (!fill) {
		k_memset(b->data, 0, fs->bs);
		b->dirty = true;
	} else if (dev_io(fs, false, blk, b->data, fs->bs) < 0) {
		bdrop(fs, b);
		return NULL;
	}
	return b;
}

/* bget for a bitmap or group descriptor block. */
static struct buf *bget_lazy(struct ext2 *fs, uint64_t blk)
{
	struct buf *b = bget(fs, blk, true);
	if (b)
		b->lazy = true;
	return b;
}

/* Writes the dirty blocks (all, or all but the lazy ones) in block order, runs of neighbours in
 * one request each. */
static int cache_flush(struct ext2 *fs, bool all)
{
	size_t n = 0;
	for (struct buf *b = fs->bufs; b; b = b->next)
		n += b->dirty && (all || !b->lazy);
	if (!n)
		return 0;
	struct buf **v = kmalloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = 0;
	for (struct buf *b = fs->bufs; b; b = b->next)
		if (b->dirty && (all || !b->lazy))
			v[n++] = b;
	for (size_t gap = n / 2; gap; gap /= 2) /* Shell's sort */
		for (size_t i = gap; i < n; i++)
			for (size_t j = i; j >= gap && v[j - gap]->blk > v[j]->blk; j -= gap) {
				struct buf *t = v[j];
				v[j] = v[j - gap];
				v[j - gap] = t;
			}
	int r = 0;
	size_t per = RUN_BYTES / fs->bs;
	for (size_t i = 0; i < n && !r;) {
		size_t k = 1;
		while (i + k < n && k < per && v[i + k]->blk == v[i]->blk + k)
			k++;
		for (size_t j = 0; j < k; j++) {
			k_memcpy(fs->run + j * fs->bs, v[i + j]->data, fs->bs);
			v[i + j]->dirty = false;
		}
		r = dev_io(fs, true, v[i]->blk, fs->run, k * fs->bs);
		i += k;
	}
	kfree(v);
	return r;
}

/* Keeps the cache within CACHE_BYTES: past it, write everything back and drop it all.  Called
 * only where no buffer pointer is held (at the start of an operation, between blocks). */
static void cache_trim(struct ext2 *fs)
{
	if (fs->nbufs * fs->bs <= CACHE_BYTES)
		return;
	if (cache_flush(fs, true) < 0)
		return;
	while (fs->bufs) {
		struct buf *b = fs->bufs;
		fs->bufs = b->next;
		kfree(b->data);
		kfree(b);
	}
	k_memset(fs->hash, 0, sizeof(fs->hash));
	fs->nbufs = 0;
}

/* --- group descriptors, bitmaps, allocation --- */

static struct dgroup *group(struct ext2 *fs, uint32_t g, struct buf **bp)
{
	uint32_t per = fs->bs / sizeof(struct dgroup);
	struct buf *b = bget_lazy(fs, SUPER(fs)->first_data_block + 1 + g / per);
	if (!b)
		return NULL;
	*bp = b;
	return (struct dgroup *)b->data + g % per;
}

/* A zero bit in [from, n) of the bitmap, set; -1 if none. */
static long bit_take(uint8_t *map, uint32_t from, uint32_t n)
{
	for (uint32_t i = from; i < n; i++) {
		if (map[i / 8] == 0xff && !(i & 7)) {
			i += 7;
			continue;
		}
		if (!(map[i / 8] >> (i & 7) & 1)) {
			map[i / 8] |= (uint8_t)(1 << (i & 7));
			return i;
		}
	}
	return -1;
}

/* A free block, as near after goal as there is one; 0 when the disk is full. */
static uint32_t block_alloc(struct ext2 *fs, uint32_t goal)
{
	struct dsuper *s = SUPER(fs);
	if (goal < s->first_data_block || goal >= s->blocks_count)
		goal = s->first_data_block;
	uint32_t g0 = (goal - s->first_data_block) / fs->bpg;
	for (uint32_t k = 0; k <= fs->ngroups; k++) {
		uint32_t g = (g0 + k) % fs->ngroups;
		struct buf *gb, *bb;
		struct dgroup *gd = group(fs, g, &gb);
		if (!gd || !gd->free_blocks)
			continue;
		if (!(bb = bget_lazy(fs, gd->block_bitmap)))
			continue;
		uint32_t first = s->first_data_block + g * fs->bpg;
		uint32_t n = MIN(fs->bpg, s->blocks_count - first);
		long i = bit_take(bb->data, k == 0 ? (goal - first) : 0, n);
		if (i < 0)
			continue;
		bb->dirty = gb->dirty = true;
		gd->free_blocks--;
		s->free_blocks--;
		return first + (uint32_t)i;
	}
	return 0;
}

static void block_free(struct ext2 *fs, uint32_t blk)
{
	struct dsuper *s = SUPER(fs);
	if (blk < s->first_data_block || blk >= s->blocks_count)
		return;
	uint32_t g = (blk - s->first_data_block) / fs->bpg,
	         i = (blk - s->first_data_block) % fs->bpg;
	struct buf *gb, *bb;
	struct dgroup *gd = group(fs, g, &gb);
	if (!gd || !(bb = bget_lazy(fs, gd->block_bitmap)))
		return;
	if (!(bb->data[i / 8] >> (i & 7) & 1))
		return;
	bb->data[i / 8] &= (uint8_t) ~(1 << (i & 7));
	bb->dirty = gb->dirty = true;
	gd->free_blocks++;
	s->free_blocks++;
}

/* A free inode number, starting with group g; 0 when there is none. */
static uint32_t inode_alloc(struct ext2 *fs, uint32_t g0, bool dir)
{
	struct dsuper *s = SUPER(fs);
	for (uint32_t k = 0; k < fs->ngroups; k++) {
		uint32_t g = (g0 + k) % fs->ngroups;
		struct buf *gb, *bb;
		struct dgroup *gd = group(fs, g, &gb);
		if (!gd || !gd->free_inodes || !(bb = bget_lazy(fs, gd->inode_bitmap)))
			continue;
		uint32_t from = g == 0 ? s->first_ino - 1 : 0;
		long i = bit_take(bb->data, from, fs->ipg);
		if (i < 0)
			continue;
		bb->dirty = gb->dirty = true;
		gd->free_inodes--;
		gd->used_dirs += dir;
		s->free_inodes--;
		return g * fs->ipg + (uint32_t)i + 1;
	}
	return 0;
}

static void inode_free(struct ext2 *fs, uint32_t ino, bool dir)
{
	uint32_t g = (ino - 1) / fs->ipg, i = (ino - 1) % fs->ipg;
	struct buf *gb, *bb;
	struct dgroup *gd = group(fs, g, &gb);
	if (!gd || !(bb = bget_lazy(fs, gd->inode_bitmap)))
		return;
	bb->data[i / 8] &= (uint8_t) ~(1 << (i & 7));
	bb->dirty = gb->dirty = true;
	gd->free_inodes++;
	gd->used_dirs -= dir;
	SUPER(fs)->free_inodes++;
}

/* --- inodes --- */

static struct dinode *dinode_at(struct ext2 *fs, uint32_t ino, struct buf **bp)
{
	struct buf *gb;
	struct dgroup *gd = group(fs, (ino - 1) / fs->ipg, &gb);
	if (!gd)
		return NULL;
	uint64_t off = (uint64_t)((ino - 1) % fs->ipg) * fs->isize;
	struct buf *b = bget(fs, gd->inode_table + off / fs->bs, true);
	if (!b)
		return NULL;
	*bp = b;
	return (struct dinode *)(b->data + off % fs->bs);
}

/* Copies what the VFS and this file keep in memory into the inode table's cached block. */
static void write_inode(struct inode *i)
{
	struct ext2 *fs = FS(i);
	struct e2ino *e = E(i);
	struct buf *b;
	struct dinode *d = dinode_at(fs, e->ino, &b);
	if (!d)
		return;
	struct dinode n = *d;
	n.mode = (uint16_t)i->mode;
	n.links = (uint16_t)i->nlink;
	n.size = (uint32_t)i->size;
	if (S_ISREG(i->mode)) {
		n.size_high = (uint32_t)(i->size >> 32);
		if (i->size >> 31 && !(SUPER(fs)->ro_compat & RO_LARGE_FILE))
			SUPER(fs)->ro_compat |= RO_LARGE_FILE;
	}
	n.atime = secs(i->atime);
	n.mtime = secs(i->mtime);
	n.ctime = secs(i->ctime);
	n.blocks = e->blocks;
	n.flags = e->flags;
	k_memcpy(n.block, e->block, sizeof(n.block));
	if (k_memcmp(&n, d, sizeof(n))) {
		*d = n;
		b->dirty = true;
	}
}

static struct inode *iget(struct ext2 *fs, uint32_t ino)
{
	if (!ino || ino > SUPER(fs)->inodes_count)
		return NULL;
	for (struct e2ino *e = fs->inodes[ino % HASH]; e; e = e->hnext)
		if (e->ino == ino)
			return e->vfs;
	struct buf *b;
	struct dinode *d = dinode_at(fs, ino, &b);
	if (!d)
		return NULL;
	struct e2ino *e = kzalloc(sizeof(*e));
	struct inode *i = inode_new(d->mode);
	if (!e || !i) {
		kfree(e);
		kfree(i);
		return NULL;
	}
	e->ino = ino;
	k_memcpy(e->block, d->block, sizeof(e->block));
	e->flags = d->flags;
	e->blocks = d->blocks;
	e->file_acl = d->file_acl;
	e->vfs = i;
	i->priv = e;
	i->sb = &fs->sb;
	i->nlink = d->links;
	i->size = d->size | (S_ISREG(d->mode) ? (uint64_t)d->size_high << 32 : 0);
	i->atime = (int64_t)d->atime * 1000000000;
	i->mtime = (int64_t)d->mtime * 1000000000;
	i->ctime = (int64_t)d->ctime * 1000000000;
	e->hnext = fs->inodes[ino % HASH];
	fs->inodes[ino % HASH] = e;
	return i;
}

/* A symlink whose target lives in i_block itself: no data block (an xattr block aside). */
static bool fast_link(struct inode *i)
{
	struct e2ino *e = E(i);
	return S_ISLNK(i->mode) && e->blocks == (e->file_acl ? FS(i)->bs / 512 : 0);
}

/* --- block maps --- */

/* The disk block behind block lblk of the file; 0 for a hole, unless alloc (then a new zeroed
 * block, with the indirect blocks that lead to it), or on error (*err set). */
static uint32_t bmap(struct inode *i, uint64_t lblk, bool alloc, int *err)
{
	struct ext2 *fs = FS(i);
	struct e2ino *e = E(i);
	uint64_t p = fs->ptrs;
	uint32_t *slot;
	int levels;
	if (lblk < NDIR) {
		slot = &e->block[lblk];
		levels = 0;
	} else if ((lblk -= NDIR) < p) {
		slot = &e->block[12];
		levels = 1;
	} else if ((lblk -= p) < p * p) {
		slot = &e->block[13];
		levels = 2;
	} else if ((lblk -= p * p) < p * p * p) {
		slot = &e->block[14];
		levels = 3;
	} else {
		*err = -EFBIG;
		return 0;
	}
	struct buf *holder = NULL;
	uint32_t goal = 0;
	for (int l = levels;; l--) {
		if (!*slot) {
			if (!alloc)
				return 0;
			uint32_t nb = block_alloc(fs, goal ? goal + 1 : e->block[0]);
			if (!nb) {
				*err = -ENOSPC;
				return 0;
			}
			if (!bget(fs, nb, false)) {
				*err = -EIO;
				return 0;
			}
			*slot = nb;
			e->blocks += fs->bs / 512;
			if (holder)
				holder->dirty = true;
		}
		if (!l)
			return *slot;
		goal = *slot;
		holder = bget(fs, *slot, true);
		if (!holder) {
			*err = -EIO;
			return 0;
		}
		uint64_t span = 1;
		for (int k = 1; k < l; k++)
			span *= p;
		slot = (uint32_t *)holder->data + (lblk / span) % p;
	}
}

/* Frees the blocks of the subtree under *slot (levels of indirection) that map file blocks at
 * or past keep; base is the first file block it maps. */
static void trunc_tree(struct ext2 *fs, struct e2ino *e, uint32_t *slot, int levels, uint64_t base,
                       uint64_t keep, bool *changed)
{
	if (!*slot)
		return;
	uint64_t span = 1;
	for (int k = 0; k < levels; k++)
		span *= fs->ptrs;
	if (base + span <= keep)
		return;
	if (levels) {
		struct buf *b = bget(fs, *slot, true);
		if (!b)
			return;
		uint64_t child = span / fs->ptrs;
		for (uint32_t j = 0; j < fs->ptrs; j++) {
			bool c = false;
			trunc_tree(fs, e, (uint32_t *)b->data + j, levels - 1, base + j * child,
			           keep, &c);
			if (c)
				b->dirty = true;
		}
		if (base < keep)
			return;
	}
	block_free(fs, *slot);
	e->blocks -= fs->bs / 512;
	*slot = 0;
	*changed = true;
}

static void free_from(struct inode *i, uint64_t keep)
{
	struct ext2 *fs = FS(i);
	struct e2ino *e = E(i);
	if (fast_link(i))
		return;
	uint64_t p = fs->ptrs, base = NDIR;
	bool c = false;
	for (int k = 0; k < NDIR; k++)
		trunc_tree(fs, e, &e->block[k], 0, (uint64_t)k, keep, &c);
	trunc_tree(fs, e, &e->block[12], 1, base, keep, &c);
	base += p;
	trunc_tree(fs, e, &e->block[13], 2, base, keep, &c);
	base += p * p;
	trunc_tree(fs, e, &e->block[14], 3, base, keep, &c);
}

/* --- file data --- */

/* Block lblk of i is at p and not cached: read it with the blocks after it that follow it on
 * the disk too (up to RUN_BYTES), in one request, as a sequential reader will want them. */
static void read_ahead(struct inode *i, uint64_t lblk, uint32_t p)
{
	struct ext2 *fs = FS(i);
	uint64_t nblk = (i->size + fs->bs - 1) / fs->bs;
	size_t k = 1, per = RUN_BYTES / fs->bs;
	int err = 0;
	while (k < per && lblk + k < nblk && bmap(i, lblk + k, false, &err) == p + k &&
	       !bfind(fs, p + k))
		k++;
	if (k == 1 || dev_io(fs, false, p, fs->run, k * fs->bs) < 0)
		return;
	for (size_t j = 0; j < k; j++) {
		struct buf *b = badd(fs, p + j);
		if (!b)
			return;
		k_memcpy(b->data, fs->run + j * fs->bs, fs->bs);
	}
}

static long ext2_read(struct inode *i, void *buf, uint64_t n, uint64_t off)
{
	struct ext2 *fs = FS(i);
	if (off >= i->size)
		return 0;
	n = MIN(n, i->size - off);
	if (fast_link(i)) {
		k_memcpy(buf, (char *)E(i)->block + off, n);
		return (long)n;
	}
	uint64_t done = 0;
	while (done < n) {
		cache_trim(fs);
		uint64_t pos = off + done, within = pos % fs->bs;
		uint64_t chunk = MIN(fs->bs - within, n - done);
		int err = 0;
		uint32_t p = bmap(i, pos / fs->bs, false, &err);
		if (p && !bfind(fs, p))
			read_ahead(i, pos / fs->bs, p);
		struct buf *b = p ? bget(fs, p, true) : NULL;
		if (err || (p && !b))
			return done ? (long)done : -EIO;
		if (b)
			k_memcpy((char *)buf + done, b->data + within, chunk);
		else
			k_memset((char *)buf + done, 0, chunk);
		done += chunk;
	}
	return (long)done;
}

static long ext2_write(struct inode *i, const void *buf, uint64_t n, uint64_t off)
{
	struct ext2 *fs = FS(i);
	if (!n)
		return 0;
	if (off + n < off)
		return -EFBIG;
	if (S_ISLNK(i->mode) && !off && !i->size && n < sizeof(E(i)->block)) {
		k_memcpy(E(i)->block, buf, n); /* a fast symlink */
		i->size = n;
		write_inode(i);
		return (long)n;
	}
	uint64_t done = 0;
	int err = 0;
	while (done < n) {
		cache_trim(fs);
		uint64_t pos = off + done, within = pos % fs->bs;
		uint64_t chunk = MIN(fs->bs - within, n - done);
		uint32_t old = bmap(i, pos / fs->bs, false, &err);
		uint32_t p = old ? old : bmap(i, pos / fs->bs, true, &err);
		if (!p)
			break;
		/* A block written whole need not be read first. */
		struct buf *b = bget(fs, p, old && chunk != fs->bs);
		if (!b) {
			err = -EIO;
			break;
		}
		k_memcpy(b->data + within, (const char *)buf + done, chunk);
		b->dirty = true;
		done += chunk;
	}
	if (off + done > i->size)
		i->size = off + done;
	if (done)
		i->mtime = i->ctime = fs_now();
	write_inode(i);
	return done ? (long)done : (err ? err : -EIO);
}

static int ext2_truncate(struct inode *i, uint64_t size)
{
	struct ext2 *fs = FS(i);
	if (S_ISDIR(i->mode))
		return -EISDIR;
	if (!S_ISREG(i->mode))
		return -EINVAL;
	cache_trim(fs);
	if (size < i->size) {
		/* Zero the tail of the last block kept, so that growing again reads zeros. */
		int err = 0;
		uint32_t p = size % fs->bs ? bmap(i, size / fs->bs, false, &err) : 0;
		struct buf *b = p ? bget(fs, p, true) : NULL;
		if (b) {
			k_memset(b->data + size % fs->bs, 0, fs->bs - size % fs->bs);
			b->dirty = true;
		}
		free_from(i, (size + fs->bs - 1) / fs->bs);
	}
	i->size = size;
	i->mtime = i->ctime = fs_now();
	write_inode(i);
	return 0;
}

/* --- directories --- */

#define DIRENT_LEN(n) ((8u + (n) + 3) & ~3u)

/* Walks dir's entries: calls fn for each entry in use until it returns true, with the entry and
 * the one before it in its block (NULL for a block's first); returns that entry, or NULL. */
static struct dirent *dir_walk(struct inode *dir, bool (*fn)(void *arg, struct dirent *d),
                               void *arg, struct buf **bp, struct dirent **prevp)
{
	struct ext2 *fs = FS(dir);
	uint64_t nblk = dir->size / fs->bs;
	for (uint64_t l = 0; l < nblk; l++) {
		int err = 0;
		uint32_t p = bmap(dir, l, false, &err);
		struct buf *b = p ? bget(fs, p, true) : NULL;
		if (!b)
			continue;
		struct dirent *prev = NULL;
		for (uint32_t off = 0; off + 8 <= fs->bs;) {
			struct dirent *d = (struct dirent *)(b->data + off);
			if (d->rec_len < 8 || off + d->rec_len > fs->bs)
				break;
			if (d->inode && fn(arg, d)) {
				if (bp)
					*bp = b;
				if (prevp)
					*prevp = prev;
				return d;
			}
			prev = d;
			off += d->rec_len;
		}
	}
	return NULL;
}

static bool name_is(void *arg, struct dirent *d)
{
	const char *name = arg;
	if (d->name[0] != name[0]) /* most entries of a big directory differ here */
		return false;
	size_t n = k_strlen(name);
	return d->name_len == n && !k_memcmp(d->name, name, n);
}

static bool is_dots(struct dirent *d)
{
	return (d->name_len == 1 && d->name[0] == '.') ||
	       (d->name_len == 2 && d->name[0] == '.' && d->name[1] == '.');
}

static bool not_dots(void *arg, struct dirent *d)
{
	(void)arg;
	return !is_dots(d);
}

static struct inode *ext2_lookup(struct inode *dir, const char *name)
{
	struct ext2 *fs = FS(dir);
	cache_trim(fs);
	struct dirent *d = dir_walk(dir, name_is, (void *)name, NULL, NULL);
	struct inode *i = d ? iget(fs, d->inode) : NULL;
	if (i && S_ISDIR(i->mode) && !i->parent)
		i->parent = dir;
	return i;
}

static uint8_t ftype(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return 1;
	case S_IFDIR:
		return 2;
	case S_IFCHR:
		return 3;
	case S_IFBLK:
		return 4;
	case S_IFIFO:
		return 5;
	case S_IFSOCK:
		return 6;
	case S_IFLNK:
		return 7;
	}
	return 0;
}

/* The directory changed here: drop its htree index, which this code does not keep up. */
static void dir_touched(struct inode *dir)
{
	E(dir)->flags &= ~INDEX_FL;
	dir->mtime = dir->ctime = fs_now();
}

static void dirent_set(struct ext2 *fs, struct dirent *d, const char *name, struct inode *i)
{
	size_t n = k_strlen(name);
	d->inode = E(i)->ino;
	d->name_len = (uint8_t)n;
	d->type = SUPER(fs)->incompat & INCOMPAT_FTYPE ? ftype(i->mode) : 0;
	k_memcpy(d->name, name, n);
}

struct room {
	uint32_t need;
};

static bool has_room(void *arg, struct dirent *d)
{
	struct room *r = arg;
	return d->rec_len - DIRENT_LEN(d->name_len) >= r->need;
}

static int dir_add(struct inode *dir, const char *name, struct inode *i)
{
	struct ext2 *fs = FS(dir);
	struct room r = {DIRENT_LEN(k_strlen(name))};
	struct buf *b;
	struct dirent *d = dir_walk(dir, has_room, &r, &b, NULL);
	if (d) {
		uint32_t used = DIRENT_LEN(d->name_len);
		struct dirent *n = (struct dirent *)((char *)d + used);
		n->rec_len = (uint16_t)(d->rec_len - used);
		d->rec_len = (uint16_t)used;
		d = n;
	} else {
		/* Entries not in use (inode 0) at the start of a block, which dir_walk skips. */
		uint64_t nblk = dir->size / fs->bs;
		for (uint64_t l = 0; l < nblk && !d; l++) {
			int err = 0;
			uint32_t p = bmap(dir, l, false, &err);
			b = p ? bget(fs, p, true) : NULL;
			struct dirent *f = b ? (struct dirent *)b->data : NULL;
			if (f && !f->inode && f->rec_len >= r.need)
				d = f;
		}
	}
	if (!d) {
		int err = 0;
		uint32_t p = bmap(dir, dir->size / fs->bs, true, &err);
		if (!p)
			return err ? err : -ENOSPC;
		b = bget(fs, p, true);
		if (!b)
			return -EIO;
		d = (struct dirent *)b->data;
		d->rec_len = (uint16_t)fs->bs;
		dir->size += fs->bs;
	}
	dirent_set(fs, d, name, i);
	b->dirty = true;
	dir_touched(dir);
	write_inode(dir);
	return 0;
}

static int dir_remove(struct inode *dir, const char *name)
{
	struct buf *b;
	struct dirent *prev;
	struct dirent *d = dir_walk(dir, name_is, (void *)name, &b, &prev);
	if (!d)
		return -ENOENT;
	if (prev)
		prev->rec_len = (uint16_t)(prev->rec_len + d->rec_len);
	else
		d->inode = 0;
	b->dirty = true;
	dir_touched(dir);
	write_inode(dir);
	return 0;
}

static int ext2_create(struct inode *dir, const char *name, uint32_t mode, struct inode **out)
{
	struct ext2 *fs = FS(dir);
	cache_trim(fs);
	bool isdir = S_ISDIR(mode);
	uint32_t ino = inode_alloc(fs, (E(dir)->ino - 1) / fs->ipg, isdir);
	if (!ino)
		return -ENOSPC;
	struct buf *b;
	struct dinode *d = dinode_at(fs, ino, &b);
	if (!d)
		return -EIO;
	k_memset(d, 0, fs->isize);
	d->mode = (uint16_t)mode;
	b->dirty = true;
	struct inode *i = iget(fs, ino);
	if (!i)
		return -ENOMEM;
	i->atime = i->mtime = i->ctime = fs_now();
	i->nlink = 1;
	int r = 0;
	if (isdir) {
		i->parent = dir;
		i->nlink = 2;
		uint32_t p = bmap(i, 0, true, &r);
		struct buf *db = p ? bget(fs, p, true) : NULL;
		if (db) {
			struct dirent *dot = (struct dirent *)db->data;
			dirent_set(fs, dot, ".", i);
			dot->rec_len = 12;
			struct dirent *dotdot = (struct dirent *)(db->data + 12);
			dirent_set(fs, dotdot, "..", dir);
			dotdot->rec_len = (uint16_t)(fs->bs - 12);
			db->dirty = true;
			i->size = fs->bs;
		} else if (!r) {
			r = -EIO;
		}
	}
	if (!r)
		r = dir_add(dir, name, i);
	if (r < 0) {
		i->nlink = 0;
		fs_put(i);
		return r;
	}
	if (isdir)
		dir->nlink++;
	write_inode(i);
	write_inode(dir);
	if (out)
		*out = i;
	return 0;
}

static int ext2_link(struct inode *dir, const char *name, struct inode *target)
{
	cache_trim(FS(dir));
	int r = dir_add(dir, name, target);
	if (r < 0)
		return r;
	target->nlink++;
	target->ctime = fs_now();
	write_inode(target);
	return 0;
}

static bool dir_empty(struct inode *dir)
{
	return !dir_walk(dir, not_dots, NULL, NULL, NULL);
}

static int ext2_unlink(struct inode *dir, const char *name, bool rmdir)
{
	cache_trim(FS(dir));
	struct inode *i = ext2_lookup(dir, name);
	if (!i)
		return -ENOENT;
	if (rmdir) {
		if (!S_ISDIR(i->mode))
			return -ENOTDIR;
		if (!dir_empty(i))
			return -ENOTEMPTY;
	} else if (S_ISDIR(i->mode)) {
		return -EISDIR;
	}
	int r = dir_remove(dir, name);
	if (r < 0)
		return r;
	if (S_ISDIR(i->mode)) {
		i->nlink = 0;
		dir->nlink--;
		write_inode(dir);
	} else {
		i->nlink--;
	}
	i->ctime = fs_now();
	write_inode(i);
	fs_put(i);
	return 0;
}

static bool is_ancestor(struct inode *a, struct inode *d)
{
	for (;;) {
		if (d == a)
			return true;
		if (d == d->sb->root || !d->parent)
			return false;
		d = d->parent;
	}
}

static int ext2_rename(struct inode *odir, const char *oname, struct inode *ndir, const char *nname)
{
	struct ext2 *fs = FS(odir);
	cache_trim(fs);
	struct inode *src = ext2_lookup(odir, oname);
	if (!src)
		return -ENOENT;
	struct inode *dst = ext2_lookup(ndir, nname);
	if (dst == src)
		return 0;
	bool sdir = S_ISDIR(src->mode);
	if (sdir && is_ancestor(src, ndir))
		return -EINVAL;
	if (dst) {
		if (sdir && !S_ISDIR(dst->mode))
			return -ENOTDIR;
		if (!sdir && S_ISDIR(dst->mode))
			return -EISDIR;
		if (S_ISDIR(dst->mode) && !dir_empty(dst))
			return -ENOTEMPTY;
		/* Point the existing name at src: no room needed, never a moment without it. */
		struct buf *b;
		struct dirent *d = dir_walk(ndir, name_is, (void *)nname, &b, NULL);
		if (!d)
			return -EIO;
		dirent_set(fs, d, nname, src);
		b->dirty = true;
		dir_touched(ndir);
		if (S_ISDIR(dst->mode)) {
			dst->nlink = 0;
			ndir->nlink--;
		} else {
			dst->nlink--;
		}
		dst->ctime = fs_now();
		write_inode(dst);
	} else {
		int r = dir_add(ndir, nname, src);
		if (r < 0)
			return r;
	}
	dir_remove(odir, oname);
	if (sdir) {
		odir->nlink--;
		ndir->nlink++;
		struct buf *b;
		struct dirent *d = dir_walk(src, name_is, "..", &b, NULL);
		if (d) {
			d->inode = E(ndir)->ino;
			b->dirty = true;
		}
		src->parent = ndir;
	}
	src->ctime = fs_now();
	write_inode(src);
	write_inode(odir);
	write_inode(ndir);
	if (dst)
		fs_put(dst);
	return 0;
}

struct rd {
	struct ext2 *fs;
	struct inode *dir;
	uint64_t skip;
	bool (*emit)(void *arg, const char *name, struct inode *i);
	void *arg;
};

static bool rd_one(void *arg, struct dirent *d)
{
	struct rd *r = arg;
	if (is_dots(d))
		return false;
	if (r->skip) {
		r->skip--;
		return false;
	}
	char name[NAME_MAX + 1];
	k_memcpy(name, d->name, d->name_len);
	name[d->name_len] = 0;
	struct inode *i = iget(r->fs, d->inode);
	if (!i)
		return false;
	if (S_ISDIR(i->mode) && !i->parent)
		i->parent = r->dir;
	return r->emit(r->arg, name, i);
}

static void ext2_readdir(struct inode *dir, uint64_t pos,
                         bool (*emit)(void *arg, const char *name, struct inode *i), void *arg)
{
	struct rd r = {FS(dir), dir, pos, emit, arg};
	cache_trim(r.fs);
	dir_walk(dir, rd_one, &r, NULL, NULL);
}

/* The last name and the last open file are gone: give the blocks and the inode back. */
static void ext2_evict(struct inode *i)
{
	struct ext2 *fs = FS(i);
	struct e2ino *e = E(i);
	if (!fs->sb.readonly) {
		free_from(i, 0);
		i->size = 0;
		write_inode(i);
		struct buf *b;
		struct dinode *d = dinode_at(fs, e->ino, &b);
		if (d) {
			d->dtime = secs(fs_now()) ? secs(fs_now()) : 1;
			b->dirty = true;
		}
		inode_free(fs, e->ino, S_ISDIR(i->mode));
	}
	for (struct e2ino **pp = &fs->inodes[e->ino % HASH]; *pp; pp = &(*pp)->hnext)
		if (*pp == e) {
			*pp = e->hnext;
			break;
		}
	kfree(e);
	i->priv = NULL;
}

/* --- the superblock, sync, mount --- */

static int write_super(struct ext2 *fs)
{
	SUPER(fs)->wtime = secs((int64_t)clock_realtime_ns());
	return fs->dev->rw(fs->dev, true, 2, fs->super, 1024);
}

static int ext2_sync(struct super_block *sb)
{
	struct ext2 *fs = sb->priv;
	if (sb->readonly)
		return 0;
	for (int h = 0; h < HASH; h++)
		for (struct e2ino *e = fs->inodes[h]; e; e = e->hnext)
			write_inode(e->vfs);
	int r = cache_flush(fs, true);
	if (fs_sync_final) /* unmounted or at exit: the file system is whole again */
		SUPER(fs)->state = (SUPER(fs)->state | STATE_VALID) & ~STATE_ERROR;
	if (!r)
		r = write_super(fs);
	if (!r)
		r = fs->dev->flush(fs->dev);
	return r;
}

/* Everything, as sync does: leaving the bitmaps and group descriptors to a later sync (half the
 * requests of a new small file's fsync) left disks after a kill that `e2fsck -p` would not
 * repair (test_volumes_data.py, sigkill_keeps_fsynced_files). */
static int ext2_fsync(struct inode *i)
{
	return ext2_sync(i->sb);
}

/* The superblock's counts as they are now (kept current in memory).  f_blocks is the whole
 * disk, as Linux's ext2 gives it with `-o minixdf` (without, it leaves out the groups' own
 * metadata); f_fsid is made from the UUID as Linux makes it. */
static int ext2_statfs(struct super_block *sb, struct linux_statfs *s)
{
	struct ext2 *fs = sb->priv;
	struct dsuper *d = SUPER(fs);
	uint32_t uuid[4];
	k_memcpy(uuid, fs->super + 0x68, sizeof(uuid));
	s->f_type = d->magic;
	s->f_bsize = s->f_frsize = fs->bs;
	s->f_blocks = d->blocks_count;
	s->f_bfree = d->free_blocks;
	s->f_bavail = d->free_blocks > d->r_blocks_count ? d->free_blocks - d->r_blocks_count : 0;
	s->f_files = d->inodes_count;
	s->f_ffree = d->free_inodes;
	s->f_fsid[0] = (int32_t)(uuid[0] ^ uuid[2]);
	s->f_fsid[1] = (int32_t)(uuid[1] ^ uuid[3]);
	s->f_namelen = 255;
	return 0;
}

/* i_blocks: the data, indirect and extended-attribute blocks, in 512-byte units. */
static uint64_t ext2_blocks(struct inode *i)
{
	return E(i)->blocks;
}

struct super_block *ext2_mount(struct blkdev *dev, const char *name, bool readonly)
{
	struct ext2 *fs = kzalloc(sizeof(*fs));
	fs->super = kmalloc(1024);
	fs->dev = dev;
	fs->name = name;
	struct dsuper *s = SUPER(fs);
	if (dev->rw(dev, false, 2, fs->super, 1024) < 0 || s->magic != MAGIC) {
		kprintf(UNIK_CONSOLE_PREFIX "%s: no ext2 file system on the disk\n", name);
		goto fail;
	}
	if (s->incompat & ~(uint32_t)INCOMPAT_FTYPE) {
		kprintf(UNIK_CONSOLE_PREFIX
		        "%s: the file system has features unik's ext2 does not "
		        "know (incompatible 0x%x): make it with mke2fs -t ext2\n",
		        name, s->incompat & ~(uint32_t)INCOMPAT_FTYPE);
		goto fail;
	}
	if (s->log_block_size > 6 || !s->inodes_per_group || !s->blocks_per_group) {
		kprintf(UNIK_CONSOLE_PREFIX "%s: the ext2 superblock is damaged: run e2fsck\n",
		        name);
		goto fail;
	}
	if (!readonly &&
	    s->ro_compat & ~(uint32_t)(RO_SPARSE_SUPER | RO_LARGE_FILE | RO_BTREE_DIR)) {
		kprintf(UNIK_CONSOLE_PREFIX "%s: features unik's ext2 cannot write (read-only "
		                            "compatible 0x%x): mounted read-only\n",
		        name, s->ro_compat);
		readonly = true;
	}
	if (!(s->state & STATE_VALID) || (s->state & STATE_ERROR)) {
		if (!readonly) {
			kprintf(
			    UNIK_CONSOLE_PREFIX
			    "%s: the file system was not unmounted cleanly: run e2fsck -p on the "
			    "volume (unik does before each attach)\n",
			    name);
			goto fail;
		}
		kprintf(UNIK_CONSOLE_PREFIX "%s: the file system was not unmounted cleanly: "
		                            "mounted read-only as asked\n",
		        name);
	}
	fs->bs = 1024u << s->log_block_size;
	fs->ptrs = fs->bs / 4;
	fs->ipg = s->inodes_per_group;
	fs->bpg = s->blocks_per_group;
	fs->isize = s->rev_level ? s->inode_size : 128;
	if (!s->rev_level)
		s->first_ino = 11;
	fs->ngroups = (s->blocks_count - s->first_data_block + fs->bpg - 1) / fs->bpg;
	fs->run = (uint8_t *)pages_alloc(RUN_BYTES / PAGE_SIZE);
	fs->sb.ops = &ext2_ops;
	fs->sb.priv = fs;
	fs->sb.readonly = readonly;
	fs->sb.root = iget(fs, ROOT_INO);
	if (!fs->run || !fs->sb.root || !S_ISDIR(fs->sb.root->mode)) {
		kprintf(UNIK_CONSOLE_PREFIX "%s: cannot read the ext2 root directory\n", name);
		goto fail;
	}
	fs->sb.root->parent = fs->sb.root;
	if (!readonly) {
		/* Marked in use on the disk until a clean unmount, as Linux does, so that a guest
		 * killed mid-write leaves a disk e2fsck checks. */
		s->state &= (uint16_t)~STATE_VALID;
		s->mnt_count++;
		s->mtime = secs((int64_t)clock_realtime_ns());
		if (write_super(fs) < 0 || dev->flush(dev) < 0) {
			kprintf(UNIK_CONSOLE_PREFIX "%s: cannot write the disk\n", name);
			goto fail;
		}
	}
	return &fs->sb;
fail:
	kfree(fs->super);
	kfree(fs);
	return NULL;
}

static const struct fs_ops ext2_ops = {
    .lookup = ext2_lookup,
    .create = ext2_create,
    .link = ext2_link,
    .unlink = ext2_unlink,
    .rename = ext2_rename,
    .read = ext2_read,
    .write = ext2_write,
    .truncate = ext2_truncate,
    .readdir = ext2_readdir,
    .evict = ext2_evict,
    .fsync = ext2_fsync,
    .sync = ext2_sync,
    .statfs = ext2_statfs,
    .blocks = ext2_blocks,
};
