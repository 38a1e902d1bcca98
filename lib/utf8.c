/* UTF-8 checks, cuts and escapes: see utf8.h. */
#include "lib/utf8.h"

#include <stdint.h>

#include "lib/util.h"

size_t unik_utf8_char_len(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp;
	size_t n;

	if (len == 0)
		return 0;
	if (u[0] < 0x80)
		return 1;
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		n = 2, cp = u[0] & 0x1f;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		n = 3, cp = u[0] & 0x0f;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		n = 4, cp = u[0] & 0x07;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (u[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool unik_utf8_valid(const char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = unik_utf8_char_len(s + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

size_t unik_utf8_cut(const char *s, size_t len, size_t max)
{
	size_t i = 0;

	while (i < len) {
		size_t n = unik_utf8_char_len(s + i, len - i);

		if (n == 0)
			n = 1;
		if (i + n > max)
			break;
		i += n;
	}
	return i;
}

char *unik_utf8_escape(const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char *out = xmalloc(len * 4 + 1), *p = out;

	for (size_t i = 0; i < len;) {
		size_t n = s[i] ? unik_utf8_char_len(s + i, len - i) : 0;

		if (n) {
			memcpy(p, s + i, n);
			p += n;
			i += n;
			continue;
		}
		*p++ = '\\';
		*p++ = 'x';
		*p++ = hex[(unsigned char)s[i] >> 4];
		*p++ = hex[(unsigned char)s[i] & 15];
		i++;
	}
	*p = '\0';
	return out;
}
