/* malloc stress: many small blocks, realloc growth, and blocks of tens of MiB, all filled with
 * patterns and checked, freed and allocated again.  Needs about 100 MiB of guest memory. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			printf("FAIL: " __VA_ARGS__);                                              \
			printf("\n");                                                              \
		}                                                                                  \
	} while (0)

static uint32_t rng = 12345;
static uint32_t next(void)
{
	rng = rng * 1103515245u + 12345u;
	return rng >> 8;
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 31 + i * 7 + (i >> 12));
}

static size_t verify(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed * 31 + i * 7 + (i >> 12)))
			return i;
	return n;
}

static void small_blocks(void)
{
	enum { N = 50000 };
	static unsigned char *blk[N];
	static size_t len[N];

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			if (blk[i] && (next() & 1))
				continue;
			free(blk[i]);
			len[i] = 1 + next() % 300;
			blk[i] = malloc(len[i]);
			CHECK(blk[i] != NULL, "malloc(%zu) failed", len[i]);
			if (!blk[i])
				return;
			CHECK(((uintptr_t)blk[i] & 15) == 0,
			      "malloc(%zu) = %p is not 16-byte aligned", len[i], (void *)blk[i]);
			fill(blk[i], len[i], (unsigned)i);
		}
		for (int i = 0; i < N; i++)
			CHECK(verify(blk[i], len[i], (unsigned)i) == len[i],
			      "small block %d corrupted", i);
	}
	for (int i = 0; i < N; i++)
		free(blk[i]);
	printf("small blocks ok\n");
}

static void realloc_growth(void)
{
	unsigned char *p = NULL;
	size_t n = 0;

	while (n < (16u << 20)) {
		size_t m = n ? n + n / 2 + 13 : 1;
		unsigned char *q = realloc(p, m);
		CHECK(q != NULL, "realloc to %zu failed", m);
		if (!q)
			break;
		CHECK(verify(q, n, 99) == n, "realloc to %zu lost contents", m);
		p = q;
		for (size_t i = n; i < m; i++)
			p[i] = (unsigned char)(99 * 31 + i * 7 + (i >> 12));
		n = m;
	}
	p = realloc(p, 1000);
	CHECK(p && verify(p, 1000, 99) == 1000, "shrinking realloc lost contents");
	free(p);
	printf("realloc growth ok (reached %zu bytes)\n", n);
}

static void big_blocks(void)
{
	enum { NBIG = 3 };
	const size_t sz = 32u << 20;
	unsigned char *b[NBIG];

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < NBIG; i++) {
			b[i] = malloc(sz);
			CHECK(b[i] != NULL, "malloc(32 MiB) #%d failed in round %d", i, round);
			if (!b[i])
				return;
			fill(b[i], sz, (unsigned)(i + 10 * round));
		}
		for (int i = 0; i < NBIG; i++) {
			size_t at = verify(b[i], sz, (unsigned)(i + 10 * round));
			CHECK(at == sz, "big block %d corrupted at offset %zu", i, at);
		}
		for (int i = 0; i < NBIG; i++)
			free(b[i]);
	}
	unsigned char *z = calloc(1, 24u << 20);
	CHECK(z != NULL, "calloc(24 MiB) failed");
	if (z) {
		size_t nz = 0;
		for (size_t i = 0; i < (24u << 20); i++)
			nz += z[i] != 0;
		CHECK(nz == 0, "calloc(24 MiB) has %zu non-zero bytes", nz);
		free(z);
	}
	printf("big blocks ok\n");
}

int main(void)
{
	small_blocks();
	realloc_growth();
	big_blocks();
	printf("malloc: %d failures\n", failures);
	return failures ? 1 : 0;
}
