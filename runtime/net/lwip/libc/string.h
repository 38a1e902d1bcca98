/* The part of <string.h> lwIP calls, for its freestanding build only (this folder is on the
 * include path of lwIP's files and runtime/net/'s, nowhere else); net/libc.c defines them. */
#ifndef UNIK_LWIP_STRING_H
#define UNIK_LWIP_STRING_H

#include <stddef.h>

void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

#endif
