/* The guest's command line, env(1) style with shell quoting (docs/guest-abi.md): words split
 * and sorted into the environment and argv.  No kernel dependencies beyond the few helpers
 * below, so tests/fuzz/fuzz_guest_cmdline.c compiles it for the host (with
 * UNIK_CMDLINE_HOST, providing those helpers itself). */
#ifndef UNIK_RT_CMDLINE_H
#define UNIK_RT_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <unik/abi.h>

/* A NULL-terminated vector of words; the words and the vector are kmalloc'd and never freed. */
struct cmdline_words {
	char **v;
	int n, cap;
};

struct rt_devices;

void cmdline_push(struct cmdline_words *w, char *s);
/* Adds the NAME=VALUE words of s to env (replacing a variable of the same name) and, if s has
 * any other words, replaces argv with them; drop_first skips a loader's kernel path.  With devs
 * (the boot line, not the baked one), the leading device manifest words go into devs first
 * (devices.h), so a line of only those leaves env and argv as they were. */
void cmdline_parse(const char *s, size_t len, bool drop_first, struct cmdline_words *env,
                   struct cmdline_words *argv, struct rt_devices *devs);

#ifndef UNIK_CMDLINE_HOST
/* lib.c and heap.c */
void *kmalloc(size_t n);
void *krealloc(void *p, size_t n);
void kfree(void *p);
char *k_strndup(const char *s, size_t n);
char *k_strchr(const char *s, int c);
int k_strcmp(const char *a, const char *b);
size_t k_strlen(const char *s);
int k_strncmp(const char *a, const char *b, size_t n);
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif

#endif
