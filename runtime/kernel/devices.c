/* Reading the device manifest (guest ABI v2) into the guest's device table.  Freestanding and
 * free of kernel state: see devices.h and cmdline.h. */
#include "kernel/devices.h"

#include "kernel/cmdline.h"

static const char *const kind_names[] = UNIK_DEV_KIND_NAMES;

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The length of a name that ends at stop (or the end), or 0 when it is not a valid name. */
static int name_len(const char *s, char stop)
{
	int n = 0;

	if (!(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (; s[n] && s[n] != stop; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return 0;
	}
	return n <= UNIK_DEV_NAME_MAX ? n : 0;
}

/* An option of the word, at p (after a comma); returns where the next one starts, or NULL
 * with *why set. */
static const char *take_option(const char *p, struct rt_device *d, const char **why)
{
	if (!k_strncmp(p, "at=", 3)) {
		/* Last, to the end of the word: a mount point may hold commas. */
		if (p[3] != '/') {
			*why = "the mount point is not an absolute path";
			return NULL;
		}
		d->mount = p + 3;
		return p + k_strlen(p);
	}
	if (!k_strncmp(p, "ro", 2) && (p[2] == ',' || !p[2])) {
		d->readonly = true;
		return p + 2;
	}
	if (!k_strncmp(p, "mac=", 4)) {
		const char *m = p + 4;
		if (d->kind != UNIK_DEV_NET) {
			*why = "only a net device has a MAC";
			return NULL;
		}
		for (int i = 0; i < 17; i++)
			if (i % 3 == 2 ? m[i] != ':' : !is_hex(m[i])) {
				*why = "the MAC is not XX:XX:XX:XX:XX:XX";
				return NULL;
			}
		if (m[17] && m[17] != ',') {
			*why = "the MAC is not XX:XX:XX:XX:XX:XX";
			return NULL;
		}
		for (int i = 0; i < 17; i++)
			d->mac[i] = m[i];
		d->mac[17] = 0;
		return m + 17;
	}
	*why = "an unknown option (ro, mac= and at= are known)";
	return NULL;
}

static const char *parse_word(const char *w, struct rt_devices *t, struct rt_device *d)
{
	const char *p = w + sizeof(UNIK_DEV_WORD_PREFIX) - 1;
	int n = name_len(p, '='), k;

	if (!n || p[n] != '=')
		return "the name is not 1 to 15 of a-z, 0-9, _ and -, starting with a letter";
	for (int i = 0; i < n; i++)
		d->name[i] = p[i];
	d->name[n] = 0;
	if (!k_strcmp(d->name, "hostname"))
		return "the name \"hostname\" is reserved (unik.hostname= names the guest)";
	for (int i = 0; i < t->n; i++)
		if (!k_strcmp(t->d[i].name, d->name))
			return "a device of this name came before";
	p += n + 1;
	for (k = UNIK_DEV_NET; k < UNIK_DEV_KINDS; k++) {
		int l = (int)k_strlen(kind_names[k]);
		if (!k_strncmp(p, kind_names[k], (size_t)l) && (p[l] == ',' || !p[l]))
			break;
	}
	if (k == UNIK_DEV_KINDS)
		return "the kind is not net, blk or fs";
	d->kind = (enum unik_dev_kind)k;
	p += k_strlen(kind_names[k]);
	while (*p) {
		const char *why = NULL;
		p = take_option(p + 1, d, &why);
		if (!p)
			return why;
	}
	if (t->n == UNIK_DEV_MAX)
		return "more devices than the guest has room for";
	return NULL;
}

bool devices_is_hostname_word(const char *word)
{
	return !k_strncmp(word, UNIK_HOSTNAME_WORD_PREFIX, sizeof(UNIK_HOSTNAME_WORD_PREFIX) - 1);
}

bool devices_is_net_word(const char *word)
{
	const char *p = word + 5;
	int n;

	if (k_strncmp(word, "unik.", 5) || devices_is_hostname_word(word))
		return false;
	n = name_len(p, '=');
	return n && p[n] == '=';
}

bool devices_take_word(const char *word, struct rt_devices *t)
{
	struct rt_device d = {0};
	const char *why;

	if (devices_is_hostname_word(word)) {
		const char *name = word + sizeof(UNIK_HOSTNAME_WORD_PREFIX) - 1;
		size_t n = k_strlen(name);

		if (!n || n > UNIK_HOSTNAME_MAX)
			kprintf(UNIK_CONSOLE_PREFIX
			        "ignoring \"%s\": a hostname has 1 to %d bytes\n",
			        word, UNIK_HOSTNAME_MAX);
		else
			for (size_t i = 0; i <= n; i++)
				t->hostname[i] = name[i];
		return true;
	}
	if (k_strncmp(word, UNIK_DEV_WORD_PREFIX, sizeof(UNIK_DEV_WORD_PREFIX) - 1))
		return devices_is_net_word(word);
	why = parse_word(word, t, &d);
	if (why) {
		kprintf(UNIK_CONSOLE_PREFIX "device manifest: ignoring \"%s\": %s\n", word, why);
		return true;
	}
	t->d[t->n++] = d;
	return true;
}
