/* UTF-8 for messages that quote what a client sent: cutting only between characters, and
 * escaping bytes that are not UTF-8 so that a message is always valid text (and JSON). */
#ifndef UNIK_UTF8_H
#define UNIK_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* The length of the valid UTF-8 character that starts s[0] (s has len bytes), or 0 when s[0]
 * does not start one (stray continuation byte, overlong form, surrogate, past U+10FFFF, or a
 * character cut short by len). */
size_t unik_utf8_char_len(const char *s, size_t len);

bool unik_utf8_valid(const char *s, size_t len);

/* The longest prefix of s (len bytes) of at most max bytes that ends between two characters:
 * a character is never cut in half; a byte that is not UTF-8 counts as one character. */
size_t unik_utf8_cut(const char *s, size_t len, size_t max);

/* A copy of s[0..len) that is valid UTF-8: every byte that does not start a valid character
 * (and NUL) becomes the four characters "\xNN".  The caller frees it; never NULL. */
char *unik_utf8_escape(const char *s, size_t len);

/* printf arguments for "%.*s" that show at most max bytes of s, cut between characters. */
#define UNIK_UTF8_CUT(s, max) (int)unik_utf8_cut((s), strlen(s), (max)), (s)

#endif
