/* A key-value store answering on UDP port 5000 of its net device, its log on its block device:
 *
 *   "put KEY VALUE" -> "ok"          "get KEY" -> "VALUE", or "missing"
 *
 * Each put is one 512-byte sector of the log (sector 1 on), then sector 0, the header, says how
 * many there are: a crash between the two loses that put and nothing else.  At start the log is
 * read back, so what was put before survives a restart on the same volume.  The network side is
 * ARP, ICMP echo and UDP over raw frames, as examples/mirage/ping does it. */
#include <stdio.h>
#include <string.h>

#include <unik/devices-app.h>

#define PORT     5000
#define MAGIC    "unik-kv 1\n"
#define KEYS     256
#define KEY_MAX  64
#define VAL_MAX  256
#define ETH_ARP  0x0806
#define ETH_IPV4 0x0800

static struct unik_net_info ni;
static unik_handle_t net, disk;
static uint64_t records, capacity; /* log records written; sectors on the disk */
static struct {
	char key[KEY_MAX], val[VAL_MAX];
} table[KEYS];
static int nkeys;
static uint8_t frame[1514], sector[UNIK_SECTOR_SIZE];

static void say(const char *s)
{
	unik_console_write(s, strlen(s));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t checksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += get16(p + i);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void set(const char *key, const char *val)
{
	int i;

	for (i = 0; i < nkeys && strcmp(table[i].key, key); i++)
		;
	if (i == nkeys) {
		if (nkeys == KEYS)
			return;
		nkeys++;
	}
	snprintf(table[i].key, KEY_MAX, "%s", key);
	snprintf(table[i].val, VAL_MAX, "%s", val);
}

static const char *lookup(const char *key)
{
	for (int i = 0; i < nkeys; i++)
		if (!strcmp(table[i].key, key))
			return table[i].val;
	return NULL;
}

/* The log read back into the table: each record is KEY at 0 and VALUE at KEY_MAX. */
static void replay(void)
{
	if (unik_block_read(disk, 0, sector, 1) != UNIK_R_OK ||
	    memcmp(sector, MAGIC, strlen(MAGIC))) {
		say("kv: a new log\n");
		return;
	}
	sscanf((char *)sector + strlen(MAGIC), "%llu", (unsigned long long *)&records);
	if (records >= capacity)
		records = capacity - 1;
	for (uint64_t r = 1; r <= records; r++) {
		if (unik_block_read(disk, r, sector, 1) != UNIK_R_OK)
			break;
		sector[KEY_MAX - 1] = 0;
		sector[sizeof(sector) - 1] = 0;
		set((char *)sector, (char *)sector + KEY_MAX);
	}
	char line[80];
	snprintf(line, sizeof(line), "kv: replayed %llu records, %d keys\n",
	         (unsigned long long)records, nkeys);
	say(line);
}

static bool append(const char *key, const char *val)
{
	if (records + 2 > capacity)
		return false;
	memset(sector, 0, sizeof(sector));
	snprintf((char *)sector, KEY_MAX, "%s", key);
	snprintf((char *)sector + KEY_MAX, VAL_MAX, "%s", val);
	if (unik_block_write(disk, records + 1, sector, 1) != UNIK_R_OK)
		return false;
	memset(sector, 0, sizeof(sector));
	snprintf((char *)sector, sizeof(sector), MAGIC "%llu\n", (unsigned long long)(records + 1));
	if (unik_block_write(disk, 0, sector, 1) != UNIK_R_OK)
		return false;
	records++;
	return true;
}

/* One request's text into the reply's. */
static void serve(char *req, char *out, size_t max)
{
	char *cmd = strtok(req, " \n"), *key = strtok(NULL, " \n"), *val = strtok(NULL, "\n");
	const char *v;

	if (cmd && key && strlen(key) < KEY_MAX && !strcmp(cmd, "get"))
		snprintf(out, max, "%s", (v = lookup(key)) ? v : "missing");
	else if (cmd && key && val && strlen(key) < KEY_MAX && strlen(val) < VAL_MAX &&
	         !strcmp(cmd, "put"))
		snprintf(out, max, "%s", append(key, val) ? (set(key, val), "ok") : "full");
	else
		snprintf(out, max, "error: put KEY VALUE | get KEY");
}

/* Frame f turned around, in place: Ethernet and IPv4 addresses swapped, the IPv4 header's
 * length and checksum remade for a payload of plen bytes after its header. */
static size_t turn_ip(uint8_t *f, size_t hl, size_t plen)
{
	uint8_t *ip = f + 14;

	memcpy(f, f + 6, 6);
	memcpy(f + 6, ni.mac, 6);
	memcpy(ip + 16, ip + 12, 4);
	memcpy(ip + 12, &ni.ip, 4);
	put16(ip + 2, (uint16_t)(hl + plen));
	ip[8] = 64;
	put16(ip + 10, 0);
	put16(ip + 10, checksum(ip, hl));
	return 14 + hl + plen;
}

static size_t handle(uint8_t *f, size_t len)
{
	uint16_t type = len >= 14 ? get16(f + 12) : 0;
	uint8_t *p = f + 14;

	if (type == ETH_ARP && len >= 42 && get16(p) == 1 && get16(p + 6) == 1 &&
	    !memcmp(p + 24, &ni.ip, 4)) {
		put16(p + 6, 2);
		memcpy(p + 18, p + 8, 10);
		memcpy(p + 8, ni.mac, 6);
		memcpy(p + 14, &ni.ip, 4);
		memcpy(f, f + 6, 6);
		memcpy(f + 6, ni.mac, 6);
		return 42;
	}
	if (type != ETH_IPV4 || len < 34 || (p[0] >> 4) != 4 || memcmp(p + 16, &ni.ip, 4))
		return 0;
	size_t hl = (size_t)(p[0] & 15) * 4, total = get16(p + 2);
	if (hl < 20 || total < hl + 8 || 14 + total > len)
		return 0;
	uint8_t *l4 = p + hl;
	if (p[9] == 1 && l4[0] == 8) { /* ICMP echo */
		l4[0] = 0;
		put16(l4 + 2, 0);
		put16(l4 + 2, checksum(l4, total - hl));
		return turn_ip(f, hl, total - hl);
	}
	if (p[9] != 17 || get16(l4 + 2) != PORT)
		return 0;
	size_t ulen = get16(l4 + 4);
	if (ulen < 8 || ulen > total - hl)
		return 0;
	char req[400], reply[VAL_MAX + 16];
	size_t n = ulen - 8 < sizeof(req) - 1 ? ulen - 8 : sizeof(req) - 1;
	memcpy(req, l4 + 8, n);
	req[n] = 0;
	serve(req, reply, sizeof(reply));
	n = strlen(reply);
	uint16_t from = get16(l4);
	put16(l4, PORT);
	put16(l4 + 2, from);
	put16(l4 + 4, (uint16_t)(8 + n));
	put16(l4 + 6, 0); /* no checksum: IPv4 allows it */
	memcpy(l4 + 8, reply, n);
	return turn_ip(f, hl, 8 + n);
}

int unik_app_main(const struct unik_app_info *info)
{
	struct unik_block_info bi;
	uint8_t *ip = (uint8_t *)&ni.ip;
	char line[128];

	(void)info;
	if (unik_net_info("service", &net, &ni) != UNIK_R_OK || !ni.has_ip) {
		say("kv: no net device \"service\" with an address\n");
		return 1;
	}
	if (unik_block_info("storage", &disk, &bi) != UNIK_R_OK || bi.capacity < 2 * 512) {
		say("kv: no block device \"storage\"\n");
		return 1;
	}
	capacity = bi.capacity / UNIK_SECTOR_SIZE;
	replay();
	snprintf(line, sizeof(line), "kv: listening on %u.%u.%u.%u:%d\n", ip[0], ip[1], ip[2],
	         ip[3], PORT);
	say(line);
	for (;;) {
		size_t len;

		unik_yield(unik_clock_monotonic() + 1000000000ull, NULL);
		while (unik_net_read(net, frame, sizeof(frame), &len) == UNIK_R_OK)
			if ((len = handle(frame, len)))
				unik_net_write(net, frame, len);
	}
}
