/* The one check of a unik kernel ELF: see guest_elf.h. */
#include "lib/guest_elf.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"
#include "unik/abi.h"
#include "unik/devices.h"

/* Note segments of a unik kernel are tens of bytes (the PVH and unik notes); only this much of
 * one is read, so a hostile file cannot make the check allocate much. */
#define NOTES_MAX 4096
/* GRUB looks for the multiboot2 header in the first 32 KiB, 8-byte aligned. */
#define MB2_MAGIC  0xe85250d6u
#define MB2_SEARCH 32768u
/* More program headers than this is not a kernel unik-cc linked. */
#define PHNUM_MAX 64

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The KIND:NAME words of a UNIK_NOTE_APP_DEVICES descriptor into g. */
static void app_devices(const uint8_t *p, size_t n, struct unik_guest_elf *g)
{
	static const char *const kinds[] = {[UNIK_DEV_NET] = "net:", [UNIK_DEV_BLK] = "blk:"};
	size_t off = 0;

	g->app = true;
	while (off < n) {
		const char *w = (const char *)p + off;
		size_t len = strnlen(w, n - off);

		off += len + 1;
		for (unsigned k = UNIK_DEV_NET; k <= UNIK_DEV_BLK; k++)
			if (len > 4 && len - 4 < sizeof(g->app_devices[0].name) &&
			    !strncmp(w, kinds[k], 4) &&
			    g->napp_devices < sizeof(g->app_devices) / sizeof(g->app_devices[0])) {
				g->app_devices[g->napp_devices].kind = k;
				memcpy(g->app_devices[g->napp_devices].name, w + 4, len - 4);
				g->app_devices[g->napp_devices].name[len - 4] = '\0';
				g->napp_devices++;
			}
	}
}

static void scan_notes(const uint8_t *p, size_t n, struct unik_guest_elf *g)
{
	size_t off = 0;

	while (off + sizeof(Elf64_Nhdr) <= n) {
		Elf64_Nhdr nh;
		uint64_t name_off, desc_off, next;

		memcpy(&nh, p + off, sizeof(nh));
		name_off = off + sizeof(nh);
		desc_off = name_off + (((uint64_t)nh.n_namesz + 3) & ~3ull);
		next = desc_off + (((uint64_t)nh.n_descsz + 3) & ~3ull);
		if (next > n)
			return;
		/* The name is "unik" with or without its NUL, as linkers disagree on n_namesz. */
		if (nh.n_type == UNIK_NOTE_ABI && (nh.n_namesz == 4 || nh.n_namesz == 5) &&
		    memcmp(p + name_off, UNIK_NOTE_NAME, 4) == 0 &&
		    (nh.n_namesz == 4 || p[name_off + 4] == '\0') && nh.n_descsz >= 4 &&
		    !g->abi_version) {
			g->abi_version = get32(p + desc_off);
			/* A note that says version 0 is still a unik note: remember it was there.
			 */
			if (!g->abi_version)
				g->abi_version = UINT32_MAX;
		}
		if (nh.n_type == UNIK_NOTE_DEVICES && (nh.n_namesz == 4 || nh.n_namesz == 5) &&
		    memcmp(p + name_off, UNIK_NOTE_NAME, 4) == 0 && nh.n_descsz >= 4)
			g->devices |= get32(p + desc_off);
		if (nh.n_type == UNIK_NOTE_APP_DEVICES && (nh.n_namesz == 4 || nh.n_namesz == 5) &&
		    memcmp(p + name_off, UNIK_NOTE_NAME, 4) == 0 && !g->app)
			app_devices(p + desc_off, nh.n_descsz, g);
		if (nh.n_type == UNIK_NOTE_HVT && (nh.n_namesz == 4 || nh.n_namesz == 5) &&
		    memcmp(p + name_off, UNIK_NOTE_NAME, 4) == 0 && nh.n_descsz >= 4 &&
		    !g->hvt_version)
			g->hvt_version = get32(p + desc_off) ? get32(p + desc_off) : UINT32_MAX;
		if (nh.n_type == UNIK_XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 &&
		    memcmp(p + name_off, "Xen", 4) == 0 && (nh.n_descsz == 4 || nh.n_descsz == 8)) {
			uint64_t e = get32(p + desc_off);

			if (nh.n_descsz == 8)
				e |= (uint64_t)get32(p + desc_off + 4) << 32;
			g->pvh = true;
			g->pvh_entry = e;
		}
		off = (size_t)next;
	}
}

int unik_guest_elf_parse(unik_guest_elf_read_fn rd, void *ctx, uint64_t size, const char *name,
                         struct unik_guest_elf *out, struct unik_error *err)
{
	struct unik_guest_elf g = {0};
	bool loads = false;
	Elf64_Ehdr eh;
	uint8_t *head;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	if (size < sizeof(eh) || !rd(ctx, 0, &eh, sizeof(eh)) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
		unik_error_set(err, UNIK_E_INVALID, "%s is not an ELF file", name);
		return -1;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64) {
		unik_error_set(err, UNIK_E_INVALID, "%s is not an x86-64 ELF", name);
		return -1;
	}
	if (eh.e_phnum &&
	    (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > PHNUM_MAX || eh.e_phoff > size ||
	     (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > size - eh.e_phoff)) {
		unik_error_set(err, UNIK_E_INVALID, "%s: bad program headers", name);
		return -1;
	}
	if (eh.e_shoff &&
	    (eh.e_shoff > size || (uint64_t)eh.e_shnum * eh.e_shentsize > size - eh.e_shoff)) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "%s: truncated: the section headers end at byte %llu but the file has %llu "
		    "bytes",
		    name, (unsigned long long)(eh.e_shoff + (uint64_t)eh.e_shnum * eh.e_shentsize),
		    (unsigned long long)size);
		return -1;
	}
	g.entry = eh.e_entry;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (!rd(ctx, eh.e_phoff + (uint64_t)i * sizeof(ph), &ph, sizeof(ph))) {
			unik_error_set(err, UNIK_E_INVALID, "%s: bad program headers", name);
			return -1;
		}
		if (ph.p_type == PT_LOAD) {
			/* A truncated kernel would load short segments and boot into garbage. */
			if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset) {
				unik_error_set(
				    err, UNIK_E_INVALID,
				    "%s: truncated: segment %u ends at byte %llu but the "
				    "file has %llu bytes",
				    name, i, (unsigned long long)(ph.p_offset + ph.p_filesz),
				    (unsigned long long)size);
				return -1;
			}
			if (ph.p_memsz < ph.p_filesz || ph.p_paddr + ph.p_memsz < ph.p_paddr) {
				unik_error_set(err, UNIK_E_INVALID,
				               "%s: segment %u has a bad memory size", name, i);
				return -1;
			}
			if (!loads || ph.p_paddr < g.load_start)
				g.load_start = ph.p_paddr;
			loads = true;
			if (ph.p_paddr + ph.p_memsz > g.load_end)
				g.load_end = ph.p_paddr + ph.p_memsz;
		} else if (ph.p_type == PT_NOTE && ph.p_offset < size) {
			uint8_t notes[NOTES_MAX];
			size_t n =
			    ph.p_filesz < sizeof(notes) ? (size_t)ph.p_filesz : sizeof(notes);

			if (n > size - ph.p_offset)
				n = (size_t)(size - ph.p_offset);
			if (rd(ctx, ph.p_offset, notes, n))
				scan_notes(notes, n, &g);
		}
	}
	hlen = size < MB2_SEARCH ? (size_t)size : MB2_SEARCH;
	head = xmalloc(hlen);
	if (rd(ctx, 0, head, hlen)) {
		for (size_t off = 0; off + 16 <= hlen; off += 8) {
			uint32_t magic = get32(head + off), arch = get32(head + off + 4),
			         len = get32(head + off + 8), sum = get32(head + off + 12);

			if (magic == MB2_MAGIC && arch == 0 && magic + arch + len + sum == 0 &&
			    len >= 16) {
				g.multiboot2 = true;
				break;
			}
		}
	}
	free(head);
	*out = g;
	return 0;
}

struct membuf {
	const uint8_t *p;
	size_t len;
};

static bool mem_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
	const struct membuf *m = ctx;

	if (off > m->len || len > m->len - off)
		return false;
	memcpy(buf, m->p + off, len);
	return true;
}

int unik_guest_elf_parse_mem(const void *buf, size_t len, const char *name,
                             struct unik_guest_elf *out, struct unik_error *err)
{
	struct membuf m = {.p = buf, .len = len};

	return unik_guest_elf_parse(mem_read_at, &m, len, name, out, err);
}

int unik_guest_elf_verify(const struct unik_guest_elf *g, const char *name, struct unik_error *err)
{
	if (!g->abi_version) {
		unik_error_set(
		    err, UNIK_E_INVALID,
		    "%s is an ELF program but not a unik kernel (no \"unik\" note): was it "
		    "linked with unik-cc?",
		    name);
		return -1;
	}
	if (g->abi_version > UNIK_ABI_VERSION) {
		if (g->abi_version == UINT32_MAX)
			unik_error_set(err, UNIK_E_INVALID,
			               "%s: its \"unik\" note says guest ABI version 0, which does "
			               "not exist",
			               name);
		else
			unik_error_set(err, UNIK_E_INVALID,
			               "%s is built for guest ABI v%u, and this unik knows %s%d: "
			               "upgrade unik or rebuild the image",
			               name, g->abi_version,
			               UNIK_ABI_VERSION > 1 ? "v1 to v" : "only v",
			               UNIK_ABI_VERSION);
		return -1;
	}
	if (!g->pvh) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s has no PVH entry note (Xen's PHYS32_ENTRY), so no loader can "
		               "start it: was it linked with unik-cc's linker script?",
		               name);
		return -1;
	}
	if (g->load_end > g->load_start && g->load_start < UNIK_LOAD_ADDR) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s loads at 0x%llx, below 0x%x where a unik kernel starts (the "
		               "firmware's memory)",
		               name, (unsigned long long)g->load_start, UNIK_LOAD_ADDR);
		return -1;
	}
	return 0;
}

static bool fd_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
	int fd = *(const int *)ctx;
	size_t done = 0;

	if (off > (uint64_t)INT64_MAX - len)
		return false;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

int unik_guest_elf_read(const char *path, struct unik_guest_elf *info, struct unik_error *err)
{
	/* Non-blocking, so a FIFO planted where a kernel was expected cannot hang the caller:
	 * fstat then refuses it. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;

	memset(info, 0, sizeof(*info));
	if (fd < 0 || fstat(fd, &st) < 0) {
		unik_error_sys(err, errno, "open %s", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		unik_error_set(err, UNIK_E_INVALID, "%s is not a regular file", path);
		return -1;
	}
	return unik_guest_elf_parse(fd_read_at, &fd, (uint64_t)st.st_size, path, info, err);
}

int unik_guest_elf_check(const char *path, struct unik_guest_elf *info, struct unik_error *err)
{
	struct unik_guest_elf g;

	if (info)
		memset(info, 0, sizeof(*info));
	if (unik_guest_elf_read(path, &g, err) < 0 || unik_guest_elf_verify(&g, path, err) < 0)
		return -1;
	if (info)
		*info = g;
	return 0;
}

const char *unik_guest_elf_app_target(const struct unik_guest_elf *g)
{
	if (!g->app)
		return NULL;
	if (g->pvh && g->abi_version)
		return "virtio";
	if (g->pvh || g->abi_version || !g->load_start)
		return NULL;
	return g->hvt_version ? "hvt" : "unix";
}

/* The targets that run on their own monitor, and the provider of each. */
static const struct {
	const char *target, *provider;
} monitors[] = {{"unix", "spt"}, {"hvt", "hvt"}};

const char *unik_target_monitor_provider(const char *target)
{
	for (size_t i = 0; target && i < sizeof(monitors) / sizeof(monitors[0]); i++)
		if (!strcmp(monitors[i].target, target))
			return monitors[i].provider;
	return NULL;
}

const char *unik_monitor_provider_target(const char *provider)
{
	for (size_t i = 0; provider && i < sizeof(monitors) / sizeof(monitors[0]); i++)
		if (!strcmp(monitors[i].provider, provider))
			return monitors[i].target;
	return NULL;
}

int unik_guest_elf_check_image(const char *path, struct unik_guest_elf *info,
                               struct unik_error *err)
{
	struct unik_guest_elf g;
	const char *t;

	if (info)
		memset(info, 0, sizeof(*info));
	if (unik_guest_elf_read(path, &g, err) < 0)
		return -1;
	t = unik_guest_elf_app_target(&g);
	if (!unik_target_monitor_provider(t) && unik_guest_elf_verify(&g, path, err) < 0)
		return -1;
	if (info)
		*info = g;
	return 0;
}

int unik_guest_elf_abi_version(const char *path, struct unik_error *err)
{
	struct unik_guest_elf g;

	if (unik_guest_elf_check(path, &g, err) < 0)
		return -1;
	return (int)g.abi_version;
}

/* Reads the whole file at path (at most max bytes) into *buf. */
static int read_small(const char *path, size_t max, uint8_t **buf, size_t *len,
                      struct unik_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0) {
		unik_error_sys(err, errno, "open %s", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		unik_error_set(err, UNIK_E_INVALID, "%s is not a regular file of at most %zu bytes",
		               path, max);
		return -1;
	}
	*len = (size_t)st.st_size;
	*buf = xmalloc(*len + 1);
	if (!fd_read_at(&fd, 0, *buf, *len)) {
		unik_error_set(err, UNIK_E_IO, "%s: short read", path);
		free(*buf);
		*buf = NULL;
		return -1;
	}
	return 0;
}

int unik_elf_defines_any_mem(const void *buf, size_t len, const char *const *names)
{
	const uint8_t *p = buf;
	Elf64_Ehdr eh;

	if (len < sizeof(eh))
		return 0;
	memcpy(&eh, p, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > len ||
	    (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) > len - eh.e_shoff)
		return 0;
	for (unsigned i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh, strsh;

		memcpy(&sh, p + eh.e_shoff + i * sizeof(sh), sizeof(sh));
		if (sh.sh_type != SHT_SYMTAB || sh.sh_link >= eh.e_shnum ||
		    sh.sh_entsize != sizeof(Elf64_Sym) || sh.sh_offset > len ||
		    sh.sh_size > len - sh.sh_offset)
			continue;
		memcpy(&strsh, p + eh.e_shoff + sh.sh_link * sizeof(strsh), sizeof(strsh));
		if (strsh.sh_offset > len || strsh.sh_size > len - strsh.sh_offset)
			continue;
		const char *strs = (const char *)p + strsh.sh_offset;
		for (uint64_t k = 0; k < sh.sh_size / sizeof(Elf64_Sym); k++) {
			Elf64_Sym s;

			memcpy(&s, p + sh.sh_offset + k * sizeof(s), sizeof(s));
			if (s.st_shndx == SHN_UNDEF || ELF64_ST_BIND(s.st_info) == STB_LOCAL ||
			    s.st_name >= strsh.sh_size)
				continue;
			const char *nm = strs + s.st_name;
			size_t room = strsh.sh_size - s.st_name;

			for (const char *const *n = names; *n; n++)
				if (strnlen(nm, room) < room && strcmp(nm, *n) == 0)
					return 1;
		}
	}
	return 0;
}

int unik_elf_defines_any(const char *path, const char *const *names, struct unik_error *err)
{
	uint8_t *buf = NULL;
	size_t len;

	if (read_small(path, (size_t)1 << 30, &buf, &len, err) < 0)
		return -1;
	int r = unik_elf_defines_any_mem(buf, len, names);
	free(buf);
	return r;
}
