/* The host side of the device model: checking an instance's devices and writing the manifest
 * words of guest ABI v2 (include/unik/devices.h). */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <unik/devices.h>

#include "lib/cmdline.h"
#include "lib/devices.h"
#include "lib/util.h"

#define FAIL(...) (unik_error_set(err, __VA_ARGS__), -1)

_Static_assert((int)UNIK_DEVICE_NET == (int)UNIK_DEV_NET &&
                   (int)UNIK_DEVICE_BLK == (int)UNIK_DEV_BLK &&
                   (int)UNIK_DEVICE_FS == (int)UNIK_DEV_FS &&
                   (int)UNIK_DEVICE_KINDS == (int)UNIK_DEV_KINDS,
               "lib/devices.h's kinds are include/unik/devices.h's");

static const char *const kind_names[] = UNIK_DEV_KIND_NAMES;

const char *unik_device_kind_name(enum unik_device_kind kind)
{
	if ((unsigned)kind >= UNIK_DEVICE_KINDS)
		return NULL;
	return kind_names[kind];
}

int unik_device_kind_parse(const char *name)
{
	for (int k = 0; k < UNIK_DEVICE_KINDS; k++)
		if (name && strcmp(name, kind_names[k]) == 0)
			return k;
	return -1;
}

void unik_device_caps_string(unsigned caps, char *buf, size_t len)
{
	size_t used = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (int k = UNIK_DEVICE_NET; k < UNIK_DEVICE_KINDS; k++) {
		if (!(caps & UNIK_DEVICE_BIT(k)))
			continue;
		int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", kind_names[k]);
		if (w < 0 || (size_t)w >= len - used)
			return;
		used += (size_t)w;
	}
	if (used == 0)
		snprintf(buf, len, "none");
}

static bool name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > UNIK_DEV_NAME_MAX || !islower((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '-')
			return false;
	return true;
}

static bool mac_ok(const char *m)
{
	if (strlen(m) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
			return false;
	}
	/* A unicast address: the group bit of the first octet clear. */
	return (strtol((char[3]){m[0], m[1], 0}, NULL, 16) & 1) == 0;
}

/* 52:54:00 (QEMU's prefix), then three bytes from an FNV-1a hash of the instance id and the
 * device's index: the same instance gets the same MACs every time it runs. */
static void mac_derive(const char *instance_id, size_t index, char out[18])
{
	uint32_t h = 2166136261u;

	for (const char *p = instance_id ? instance_id : ""; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h = (h ^ (uint32_t)index) * 16777619u;
	snprintf(out, 18, "52:54:00:%02x:%02x:%02x", (h >> 16) & 0xff, (h >> 8) & 0xff, h & 0xff);
}

int unik_devices_check(struct unik_device *devs, size_t n, unsigned caps, const char *provider,
                       const char *instance_id, struct unik_error *err)
{
	if (n > UNIK_DEV_MAX)
		return FAIL(UNIK_E_INVALID, "too many devices: %zu (at most %d)", n, UNIK_DEV_MAX);
	for (size_t i = 0; i < n; i++) {
		struct unik_device *d = &devs[i];
		const char *kind = unik_device_kind_name(d->kind);
		char have[64];

		if (!kind || d->kind == UNIK_DEVICE_CONSOLE)
			return FAIL(UNIK_E_INVALID, "device %zu: not a kind that can be attached",
			            i + 1);
		if (!name_ok(d->name))
			return FAIL(
			    UNIK_E_INVALID,
			    "device name \"%s\" is not valid: 1 to %d characters from a-z, 0-9, "
			    "_ and -, starting with a letter",
			    d->name ? d->name : "", UNIK_DEV_NAME_MAX);
		for (size_t j = 0; j < i; j++)
			if (strcmp(devs[j].name, d->name) == 0)
				return FAIL(UNIK_E_INVALID, "two devices are named \"%s\"",
				            d->name);
		if (!(caps & UNIK_DEVICE_BIT(d->kind))) {
			unik_device_caps_string(caps, have, sizeof(have));
			return FAIL(
			    UNIK_E_UNSUPPORTED,
			    "provider %s cannot attach %s devices (\"%s\"); it attaches: %s",
			    provider, kind, d->name, have);
		}
		if ((d->kind == UNIK_DEVICE_BLK || d->kind == UNIK_DEVICE_FS) &&
		    (!d->path || !d->path[0]))
			return FAIL(UNIK_E_INVALID, "%s device \"%s\" has no %s", kind, d->name,
			            d->kind == UNIK_DEVICE_BLK ? "disk file" : "host directory");
		if (d->kind == UNIK_DEVICE_BLK && d->format && strcmp(d->format, "raw") != 0 &&
		    strcmp(d->format, "qcow2") != 0)
			return FAIL(UNIK_E_INVALID,
			            "blk device \"%s\": disk format \"%s\" is not raw or qcow2",
			            d->name, d->format);
		if (d->mount && d->mount[0] != '/')
			return FAIL(UNIK_E_INVALID,
			            "%s device \"%s\": mount point \"%s\" is not an absolute path",
			            kind, d->name, d->mount);
		if (d->kind != UNIK_DEVICE_NET)
			continue;
		if (!d->mac[0])
			mac_derive(instance_id, i, d->mac);
		else if (!mac_ok(d->mac))
			return FAIL(
			    UNIK_E_INVALID,
			    "net device \"%s\": MAC \"%s\" is not a unicast XX:XX:XX:XX:XX:XX",
			    d->name, d->mac);
	}
	return 0;
}

char *unik_devices_cmdline(const struct unik_device *devs, size_t n, const char *cmdline)
{
	struct strv words = {0};
	char *out;

	for (size_t i = 0; i < n; i++) {
		const struct unik_device *d = &devs[i];
		_cleanup_free_ char *word = NULL;

		word = xasprintf("%s%s=%s%s%s%s%s%s", UNIK_DEV_WORD_PREFIX, d->name,
		                 unik_device_kind_name(d->kind), d->readonly ? ",ro" : "",
		                 d->kind == UNIK_DEVICE_NET ? ",mac=" : "",
		                 d->kind == UNIK_DEVICE_NET ? d->mac : "", d->mount ? ",at=" : "",
		                 d->mount ? d->mount : "");
		strv_push_take(&words, unik_cmdline_quote_word(word));
	}
	if (cmdline && cmdline[0])
		strv_push(&words, cmdline);
	out = strv_join(&words, " ");
	strv_free(&words);
	return out;
}
