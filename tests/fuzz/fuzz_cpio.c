/* libFuzzer target: the guest's newc cpio reader (runtime/fs/cpio.c fs_load_cpio, which seeds the
 * root file system from the embedded archive and initrd modules) with the file systems it fills
 * (vfs.c, tmpfs.c, devfs.c), compiled for the host as they are.
 * This file gives it the few kernel services it calls: an allocator that can drop everything
 * between inputs, and a panic that returns here (a panic is the reader refusing bad input, as
 * the guest would at boot).  After a load, paths are looked up and files read. */
#include <setjmp.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* runtime/kernel/kernel.h and fs/fs.h, which cannot be included next to the host's headers. */
struct inode;
extern struct inode *fs_root_ino, *fs_cwd;
void fs_init(void);
int fs_load_cpio(const void *data, size_t len, bool borrow, const char *what);
int fs_lookup(struct inode *base, const char *path, int flags, struct inode **out);
long fs_read(struct inode *ino, void *buf, uint64_t n, uint64_t off);
#define LOOKUP_FOLLOW 1

/* ---- the kernel services runtime/fs uses ---- */

struct block {
	struct block *prev, *next;
	size_t size;
	max_align_t data[];
};
static struct block blocks = {&blocks, &blocks, 0};
static jmp_buf on_panic;

void *kmalloc(size_t n);
void *kmalloc(size_t n)
{
	struct block *b = malloc(sizeof(*b) + n);

	if (!b)
		return NULL;
	b->size = n;
	b->next = blocks.next;
	b->prev = &blocks;
	blocks.next->prev = b;
	blocks.next = b;
	return b->data;
}

void *kzalloc(size_t n);
void *kzalloc(size_t n)
{
	void *p = kmalloc(n);

	if (p)
		memset(p, 0, n);
	return p;
}

void kfree(void *p);
void kfree(void *p)
{
	struct block *b;

	if (!p)
		return;
	b = (struct block *)((char *)p - offsetof(struct block, data));
	b->prev->next = b->next;
	b->next->prev = b->prev;
	free(b);
}

void *krealloc(void *p, size_t n);
void *krealloc(void *p, size_t n)
{
	void *q = kmalloc(n);

	if (q && p) {
		size_t old = ((struct block *)((char *)p - offsetof(struct block, data)))->size;
		memcpy(q, p, old < n ? old : n);
		kfree(p);
	}
	return q;
}

static void free_all(void)
{
	while (blocks.next != &blocks)
		kfree(blocks.next->data);
}

void panic(const char *fmt, ...) __attribute__((noreturn));
void panic(const char *fmt, ...)
{
	(void)fmt;
	longjmp(on_panic, 1);
}

void *k_memset(void *d, int c, size_t n);
void *k_memset(void *d, int c, size_t n)
{
	return memset(d, c, n);
}
void *k_memcpy(void *d, const void *s, size_t n);
void *k_memcpy(void *d, const void *s, size_t n)
{
	return memcpy(d, s, n);
}
int k_memcmp(const void *a, const void *b, size_t n);
int k_memcmp(const void *a, const void *b, size_t n)
{
	return memcmp(a, b, n);
}
size_t k_strlen(const char *s);
size_t k_strlen(const char *s)
{
	return strlen(s);
}
size_t k_strnlen(const char *s, size_t max);
size_t k_strnlen(const char *s, size_t max)
{
	return strnlen(s, max);
}
int k_strcmp(const char *a, const char *b);
int k_strcmp(const char *a, const char *b)
{
	return strcmp(a, b);
}
char *k_strndup(const char *s, size_t n);
char *k_strndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = kmalloc(len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}
char *k_strdup(const char *s);
char *k_strdup(const char *s)
{
	return k_strndup(s, strlen(s));
}
uint64_t clock_realtime_ns(void);
uint64_t clock_realtime_ns(void)
{
	return 0;
}
void random_bytes(void *buf, size_t n);
void random_bytes(void *buf, size_t n)
{
	memset(buf, 0x5a, n);
}
void console_write(const char *buf, size_t len);
void console_write(const char *buf, size_t len)
{
	(void)buf;
	(void)len;
}
bool console_readable(void);
bool console_readable(void)
{
	return false;
}
size_t console_read(char *buf, size_t len, bool block);
size_t console_read(char *buf, size_t len, bool block)
{
	(void)buf;
	(void)len;
	(void)block;
	return 0;
}

/* ---- the target ---- */

static void load(const uint8_t *data, size_t size, bool borrow)
{
	static const char *const paths[] = {"/",         "a",       "a/b",     "dir/file",  "link",
	                                    "link/file", "../../a", "bin/app", "etc/passwd"};
	static volatile int i; /* survives the longjmp */
	char buf[256];

	fs_root_ino = fs_cwd = NULL;
	if (setjmp(on_panic) == 0) {
		fs_init();
		fs_load_cpio(data, size, borrow, "fuzz.cpio");
		for (i = 0; i < (int)(sizeof(paths) / sizeof(paths[0])); i++) {
			struct inode *ino;

			if (fs_lookup(fs_root_ino, paths[i], LOOKUP_FOLLOW, &ino) == 0)
				fs_read(ino, buf, sizeof(buf), 0);
		}
	}
	free_all();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	load(data, size, false);
	load(data, size, true);
	return 0;
}
