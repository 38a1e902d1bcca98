/* Several MB of deterministic output: line i is "%07u " and 64 characters from a linear
 * congruential generator, then a summary with the byte count and an FNV-1a hash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned lines = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 57456;
	uint32_t s = 1;
	uint64_t h = 1469598103934665603ull, bytes = 0;
	char line[80];

	for (unsigned i = 0; i < lines; i++) {
		int n = snprintf(line, sizeof line, "%07u ", i);
		for (int j = 0; j < 64; j++) {
			s = s * 1664525u + 1013904223u;
			line[n++] = alnum[(s >> 24) % 36];
		}
		line[n++] = '\n';
		for (int j = 0; j < n; j++)
			h = (h ^ (unsigned char)line[j]) * 1099511628211ull;
		bytes += (uint64_t)n;
		fwrite(line, 1, (size_t)n, stdout);
	}
	printf("bigout done lines=%u bytes=%llu fnv=%016llx\n", lines, (unsigned long long)bytes,
	       (unsigned long long)h);
	return 0;
}
