/* Memory stress in the shape of a real allocator workload: many small and large malloc blocks,
 * realloc growth and shrinking, frees in random order, direct mmap/munmap/mremap regions, over
 * repeated rounds.  Every block holds a pattern derived from its slot and generation, checked
 * before it is freed or resized and summed into a checksum, so corruption cannot pass unseen.
 * The output depends only on the seed, never on addresses: the native build and the guest must
 * print the same lines.  Usage: memstress [ROUNDS [BUDGET_MIB]]. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SLOTS      3000
#define MAPS       12
#define MIN_(a, b) ((a) < (b) ? (a) : (b))

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint64_t failures, checksum = 1469598103934665603ull;
static size_t live, peak_live, budget;

static void fail(const char *what, unsigned slot, size_t at)
{
	failures++;
	if (failures <= 10)
		printf("FAIL: %s (slot %u, byte %zu)\n", what, slot, at);
}

/* The pattern: one 64-bit word per 8 bytes, a function of the seed and the word's index. */
static uint64_t word_at(uint64_t seed, size_t i)
{
	uint64_t x = seed + i * 0x9e3779b97f4a7c15ull;
	return x ^ (x >> 29);
}

static void fill(unsigned char *p, size_t from, size_t n, uint64_t seed)
{
	size_t i = from;
	for (; i < n && (i & 7); i++)
		p[i] = (unsigned char)(word_at(seed, i >> 3) >> ((i & 7) * 8));
	for (; i + 8 <= n; i += 8) {
		uint64_t w = word_at(seed, i >> 3);
		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++)
		p[i] = (unsigned char)(word_at(seed, i >> 3) >> ((i & 7) * 8));
}

/* Checks bytes [0, n) and folds a sample of them into the checksum. */
static void check(const unsigned char *p, size_t n, uint64_t seed, const char *what, unsigned slot)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		if (w != word_at(seed, i >> 3)) {
			fail(what, slot, i);
			return;
		}
	}
	for (; i < n; i++)
		if (p[i] != (unsigned char)(word_at(seed, i >> 3) >> ((i & 7) * 8))) {
			fail(what, slot, i);
			return;
		}
	checksum = (checksum ^ n ^ (n ? p[n - 1] : 0) ^ (n ? p[n / 2] : 0)) * 1099511628211ull;
}

struct block {
	unsigned char *p;
	size_t n;
	uint64_t seed;
};
static struct block blk[SLOTS];
static struct block map[MAPS];

static size_t pick_size(void)
{
	uint64_t r = next() % 1000;
	if (r < 700)
		return 1 + next() % 256; /* small */
	if (r < 930)
		return 256 + next() % (32 << 10); /* medium */
	if (r < 990)
		return (32 << 10) + next() % (512 << 10); /* large: mmap'd by musl */
	return (512 << 10) + next() % (4 << 20);          /* huge */
}

static void account(size_t add, size_t sub)
{
	live = live + add - sub;
	if (live > peak_live)
		peak_live = live;
}

static void malloc_op(unsigned s, unsigned round)
{
	struct block *b = &blk[s];
	uint64_t r = next() % 10;
	if (!b->p) {
		size_t n = pick_size();
		if (live + n > budget)
			return;
		b->p = malloc(n);
		if (!b->p) {
			fail("malloc failed", s, n);
			return;
		}
		b->n = n;
		b->seed = next() ^ round;
		fill(b->p, 0, n, b->seed);
		account(n, 0);
	} else if (r < 5) {
		check(b->p, b->n, b->seed, "block corrupted before free", s);
		free(b->p);
		account(0, b->n);
		b->p = NULL;
	} else {
		/* realloc: grow (often a lot) or shrink, keeping the prefix. */
		size_t n =
		    r < 8 ? b->n + b->n / 2 + 1 + next() % 4096 : b->n / (2 + next() % 4) + 1;
		if (n > b->n && live + (n - b->n) > budget)
			n = b->n / 2 + 1;
		check(b->p, MIN_(b->n, n), b->seed, "block corrupted before realloc", s);
		unsigned char *q = realloc(b->p, n);
		if (!q) {
			fail("realloc failed", s, n);
			return;
		}
		check(q, b->n < n ? b->n : n, b->seed, "realloc lost contents", s);
		if (n > b->n)
			fill(q, b->n, n, b->seed);
		account(n, b->n);
		b->p = q;
		b->n = n;
	}
}

static void map_op(unsigned s, unsigned round)
{
	struct block *m = &map[s];
	size_t pg = 4096;
	uint64_t r = next() % 8;
	if (!m->p) {
		size_t n = (1 + next() % 1024) * pg;
		if (live + n > budget)
			return;
		void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			fail("mmap failed", s, n);
			return;
		}
		for (size_t i = 0; i < n; i += 512)
			if (((unsigned char *)p)[i]) {
				fail("fresh mmap is not zero", s, i);
				break;
			}
		m->p = p;
		m->n = n;
		m->seed = next() ^ round;
		fill(m->p, 0, n, m->seed);
		account(n, 0);
	} else if (r < 3) {
		check(m->p, m->n, m->seed, "mapping corrupted before munmap", s);
		munmap(m->p, m->n);
		account(0, m->n);
		m->p = NULL;
	} else if (r < 4 && m->n > pg) {
		/* Unmap the tail half: what stays must be intact. */
		size_t keep = (m->n / pg / 2) * pg;
		munmap(m->p + keep, m->n - keep);
		check(m->p, keep, m->seed, "mapping corrupted by a partial munmap", s);
		account(keep, m->n);
		m->n = keep;
	} else {
		size_t n = r < 7 ? m->n * 2 : (m->n / pg / 3 + 1) * pg;
		if (n > m->n && live + (n - m->n) > budget)
			n = m->n;
		void *q = mremap(m->p, m->n, n, MREMAP_MAYMOVE);
		if (q == MAP_FAILED) {
			fail("mremap failed", s, n);
			return;
		}
		unsigned char *p = q;
		check(p, m->n < n ? m->n : n, m->seed, "mremap lost contents", s);
		for (size_t i = m->n; i < n; i += 512)
			if (p[i]) {
				fail("mremap growth is not zero", s, i);
				break;
			}
		if (n > m->n)
			fill(p, m->n, n, m->seed);
		account(n, m->n);
		m->p = p;
		m->n = n;
	}
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)atoi(argv[1]) : 4;
	budget = (argc > 2 ? (size_t)atoi(argv[2]) : 40) << 20;
	/* Address space reserved as Go, Java and sanitizers do: no memory behind it. */
	void *r =
	    mmap(NULL, 1UL << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	printf("reserve 1 GiB: %s\n", r == MAP_FAILED ? "failed" : "ok");
	if (r != MAP_FAILED)
		munmap(r, 1UL << 30);
	for (unsigned round = 0; round < rounds; round++) {
		for (unsigned i = 0; i < 8000; i++) {
			if (next() % 64 == 0)
				map_op((unsigned)(next() % MAPS), round);
			else
				malloc_op((unsigned)(next() % SLOTS), round);
		}
		/* Free a random half, in random order, then check everything that is left. */
		for (unsigned i = 0; i < SLOTS / 2; i++) {
			unsigned s = (unsigned)(next() % SLOTS);
			if (blk[s].p) {
				check(blk[s].p, blk[s].n, blk[s].seed, "block corrupted", s);
				free(blk[s].p);
				account(0, blk[s].n);
				blk[s].p = NULL;
			}
		}
		for (unsigned s = 0; s < SLOTS; s++)
			if (blk[s].p)
				check(blk[s].p, blk[s].n, blk[s].seed,
				      "block corrupted at round end", s);
		for (unsigned s = 0; s < MAPS; s++)
			if (map[s].p)
				check(map[s].p, map[s].n, map[s].seed,
				      "mapping corrupted at round end", s);
		printf("round %u: live %zu bytes, checksum %016llx\n", round, live,
		       (unsigned long long)checksum);
	}
	for (unsigned s = 0; s < SLOTS; s++)
		free(blk[s].p);
	for (unsigned s = 0; s < MAPS; s++)
		if (map[s].p)
			munmap(map[s].p, map[s].n);
	printf("memstress: %s, %u rounds, peak live %zu bytes, %llu failures, checksum %016llx\n",
	       failures ? "FAILED" : "ok", rounds, peak_live, (unsigned long long)failures,
	       (unsigned long long)checksum);
	return failures ? 1 : 0;
}
