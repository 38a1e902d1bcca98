/* lib/oci_config: config.json parsing, the unik note, paths inside the root fs, and how a
 * container's process maps onto the guest's command line and memory (its fuzz corpus is replayed
 * by test_fuzz_oci_config, tests/fuzz/fuzz.mk). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <elf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/oci_config.h"
#include "lib/util.h"

static int parse(const char *text, struct oci_config *c, struct unik_error *err)
{
	return oci_config_parse(text, strlen(text), "/b", c, err);
}

static void test_parse_docker_config(void **state)
{
	struct oci_config c;
	struct unik_error err;
	const char *text = "{\"ociVersion\":\"1.0.2-dev\",\"hostname\":\"web-1\","
	                   "\"process\":{\"args\":[\"/ociapp\",\"x\"],"
	                   "\"env\":[\"PATH=/bin\",\"K=V\"],\"cwd\":\"/w\",\"terminal\":true},"
	                   "\"root\":{\"path\":\"rootfs\"},\"linux\":{\"resources\":{\"memory\":"
	                   "{\"limit\":134217728}}},\"annotations\":{\"org.unik.kernel\":\"/k\"}}";

	(void)state;
	assert_int_equal(parse(text, &c, &err), 0);
	assert_string_equal(c.oci_version, "1.0.2-dev");
	assert_string_equal(c.hostname, "web-1");
	assert_int_equal(c.args.n, 2);
	assert_string_equal(c.args.v[1], "x");
	assert_int_equal(c.env.n, 2);
	assert_string_equal(c.cwd, "/w");
	assert_true(c.terminal);
	assert_string_equal(c.root_path, "/b/rootfs");
	assert_int_equal(c.memory_limit, 134217728);
	assert_string_equal(oci_config_annotation(&c, OCI_ANNOTATION_KERNEL), "/k");
	assert_null(oci_config_annotation(&c, "other"));
	oci_config_free(&c);

	/* An absolute root.path stays; a negative limit (unlimited) is no limit. */
	assert_int_equal(parse("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"/r\"},"
	                       "\"linux\":{\"resources\":{\"memory\":{\"limit\":-1}}}}",
	                       &c, &err),
	                 0);
	assert_string_equal(c.root_path, "/r");
	assert_string_equal(c.cwd, "/");
	assert_int_equal(c.memory_limit, 0);
	assert_false(c.terminal);
	oci_config_free(&c);
}

static void expect_error(const char *text, const char *needle)
{
	struct oci_config c;
	struct unik_error err;

	assert_int_equal(parse(text, &c, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
	assert_non_null(strstr(err.msg, "config.json"));
	oci_config_free(&c);
}

/* The network namespace, the resolv.conf mount and the hooks (docs/oci.md "Networking"). */
static void test_parse_network(void **state)
{
	struct oci_config c;
	struct unik_error err;
	char *r;

	(void)state;
	assert_int_equal(
	    parse("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"}}", &c, &err), 0);
	assert_int_equal(c.netns, OCI_NETNS_HOST);
	assert_null(c.resolv_mount);
	assert_int_equal(json_object_size(c.hooks), 0);
	oci_config_free(&c);

	assert_int_equal(
	    parse("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},"
	          "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"}]},"
	          "\"mounts\":[{\"destination\":\"/etc/resolv.conf\",\"source\":\"/d/"
	          "resolv.conf\"}],\"hooks\":{\"prestart\":[{\"path\":\"/bin/true\","
	          "\"args\":[\"true\"],\"timeout\":5}]}}",
	          &c, &err),
	    0);
	assert_int_equal(c.netns, OCI_NETNS_NEW);
	assert_null(c.netns_path);
	r = oci_config_resolv_conf(&c);
	assert_string_equal(r, "/d/resolv.conf");
	free(r);
	assert_int_equal(json_array_size(json_object_get(c.hooks, "prestart")), 1);
	oci_config_free(&c);

	assert_int_equal(parse("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},"
	                       "\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"/run/"
	                       "netns/x\"}]}}",
	                       &c, &err),
	                 0);
	assert_int_equal(c.netns, OCI_NETNS_PATH);
	assert_string_equal(c.netns_path, "/run/netns/x");
	oci_config_free(&c);
}

static void test_parse_errors(void **state)
{
	(void)state;
	expect_error("{\"process\": {", "config.json line 1 column");
	expect_error("{\"a\":1,\"a\":2}", "duplicate");
	expect_error("[]", "must be a JSON object");
	expect_error("{\"root\":{\"path\":\"r\"}}", "process is missing");
	expect_error("{\"process\":[],\"root\":{\"path\":\"r\"}}", "process must be an object");
	expect_error("{\"process\":{},\"root\":{\"path\":\"r\"}}",
	             "process.args must be a non-empty array of strings");
	expect_error("{\"process\":{\"args\":[\"\"]},\"root\":{\"path\":\"r\"}}",
	             "process.args[0] is empty");
	expect_error("{\"process\":{\"args\":[\"a\",2]},\"root\":{\"path\":\"r\"}}",
	             "process.args must be an array of strings");
	expect_error("{\"process\":{\"args\":[\"a\"],\"env\":{}},\"root\":{\"path\":\"r\"}}",
	             "process.env must be an array of strings");
	expect_error("{\"process\":{\"args\":[\"a\"],\"cwd\":\"rel\"},\"root\":{\"path\":\"r\"}}",
	             "process.cwd must be an absolute path");
	expect_error("{\"process\":{\"args\":[\"a\"],\"terminal\":1},\"root\":{\"path\":\"r\"}}",
	             "process.terminal must be true or false");
	expect_error("{\"process\":{\"args\":[\"a\"]}}", "root is missing");
	expect_error("{\"hostname\":1,\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"}}",
	             "hostname must be a string of at most 64 bytes");
	expect_error(
	    "{\"hostname\":\"x1234567890123456789012345678901234567890123456789012345678901"
	    "234\",\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"}}",
	    "hostname must be a string of at most 64 bytes");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"\"}}",
	             "root.path must be a non-empty string");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"linux\":{"
	             "\"resources\":{\"memory\":{\"limit\":1.5}}}}",
	             "linux.resources.memory.limit must be an integer");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},"
	             "\"annotations\":{\"x\":true}}",
	             "annotation \"x\" must be a string");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"linux\":{"
	             "\"namespaces\":[{\"type\":\"network\",\"path\":\"rel\"}]}}",
	             "linux.namespaces[].path must be an absolute path");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"hooks\":{"
	             "\"prestart\":[{\"path\":\"x\"}]}}",
	             "hooks.prestart[0].path must be an absolute path");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"hooks\":{"
	             "\"poststop\":[{\"path\":\"/x\",\"timeout\":0}]}}",
	             "hooks.poststop[0].timeout must be a positive integer");
	expect_error("{\"ociVersion\":1,\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"}}",
	             "ociVersion must be a string");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"mounts\":{}}",
	             "mounts must be an array");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"mounts\":[1]}",
	             "mounts[0] must be an object");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"mounts\":["
	             "{\"source\":\"/h\",\"type\":\"bind\"}]}",
	             "mounts[0] needs a destination");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"mounts\":["
	             "{\"destination\":\"/d\",\"options\":[\"bind\",7]}]}",
	             "mounts[0].options must be an array of strings");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"mounts\":["
	             "{\"destination\":\"/d\",\"type\":\"bind\"}]}",
	             "mounts[0] (a bind on /d) has no source");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"mounts\":["
	             "{\"destination\":\"/x/..\",\"type\":\"bind\",\"source\":\"/h\"}]}",
	             "binds /h on /: the guest's root is its image's");
	expect_error("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"mounts\":["
	             "{\"destination\":\"/d\",\"type\":\"bind\",\"source\":\"/h\"},"
	             "{\"destination\":\"/d/\",\"type\":\"bind\",\"source\":\"/i\"}]}",
	             "two bind mounts on /d (/h and /i)");
}

static char *cmdline_of(const char *args_env)
{
	struct oci_config c;
	struct unik_error err;
	char *text = xasprintf("{\"process\":{%s},\"root\":{\"path\":\"r\"}}", args_env);
	char *out = NULL;

	assert_int_equal(parse(text, &c, &err), 0);
	if (oci_guest_cmdline(&c, &out, &err) < 0)
		out = xasprintf("ERROR %s", err.msg);
	oci_config_free(&c);
	free(text);
	return out;
}

static void test_guest_cmdline(void **state)
{
	char *s;

	(void)state;
	s = cmdline_of("\"args\":[\"/ociapp\",\"args\",\"two words\",\"\",\"it's\"],"
	               "\"env\":[\"PATH=/usr/bin\",\"HOSTNAME=h\",\"K=a b\",\"BAD NAME=1\","
	               "\"=x\",\"TERM=xterm\"]");
	assert_string_equal(s,
	                    "HOSTNAME=h K='a b' TERM=xterm ociapp args 'two words' '' 'it'\\''s'");
	free(s);
	/* args[0] without a directory is its own basename; a trailing slash keeps the word. */
	s = cmdline_of("\"args\":[\"hello\"]");
	assert_string_equal(s, "hello");
	free(s);
	s = cmdline_of("\"args\":[\"/a/b/\"]");
	assert_string_equal(s, "/a/b/");
	free(s);
	/* argv[0] that the guest would read as a variable is refused. */
	s = cmdline_of("\"args\":[\"/x/A=1\"]");
	assert_non_null(strstr(s, "ERROR guest command line"));
	free(s);
}

static void memory_case(const char *extra, int rc, uint64_t want, const char *needle)
{
	struct oci_config c;
	struct unik_error err;
	char *text =
	    xasprintf("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"}%s}", extra);
	uint64_t mb = 0;

	assert_int_equal(parse(text, &c, &err), 0);
	assert_int_equal(oci_guest_memory_mb(&c, &mb, &err), rc);
	if (rc == 0)
		assert_int_equal(mb, want);
	else if (!strstr(err.msg, needle))
		fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
	oci_config_free(&c);
	free(text);
}

static void test_guest_memory(void **state)
{
	(void)state;
	memory_case("", 0, OCI_DEFAULT_MEMORY_MB, NULL);
	memory_case(",\"linux\":{\"resources\":{\"memory\":{\"limit\":134217728}}}", 0, 128, NULL);
	memory_case(",\"linux\":{\"resources\":{\"memory\":{\"limit\":134217729}}}", 0, 129, NULL);
	memory_case(",\"linux\":{\"resources\":{\"memory\":{\"limit\":6291456}}}", -1, 0,
	            "too small");
	memory_case(",\"annotations\":{\"org.unik.memory\":\"256\"}", 0, 256, NULL);
	/* docker --memory wins over the image's annotation. */
	memory_case(",\"annotations\":{\"org.unik.memory\":\"256\"},\"linux\":{\"resources\":{"
	            "\"memory\":{\"limit\":67108864}}}",
	            0, 64, NULL);
	memory_case(",\"annotations\":{\"org.unik.memory\":\"lots\"}", -1, 0, "org.unik.memory");
	memory_case(",\"annotations\":{\"org.unik.memory\":\"-5\"}", -1, 0, "between 8");
}

/* A minimal x86-64 ELF: header, one PT_NOTE, one note. */
static size_t make_elf(uint8_t *buf, size_t cap, const char *name, uint32_t type, uint16_t machine)
{
	Elf64_Ehdr eh = {0};
	Elf64_Phdr ph = {0};
	Elf64_Nhdr nh = {0};
	size_t namesz = strlen(name) + 1, off = sizeof(eh) + sizeof(ph);
	size_t len;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = machine;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	nh.n_namesz = (uint32_t)namesz;
	nh.n_descsz = 4;
	nh.n_type = type;
	len = off + sizeof(nh) + ((namesz + 3) & ~(size_t)3) + 4;
	assert_true(len <= cap);
	memset(buf, 0, len);
	ph.p_type = PT_NOTE;
	ph.p_offset = off;
	ph.p_filesz = len - off;
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + sizeof(eh), &ph, sizeof(ph));
	memcpy(buf + off, &nh, sizeof(nh));
	memcpy(buf + off + sizeof(nh), name, namesz);
	buf[len - 4] = 1;
	return len;
}

static void test_unik_note(void **state)
{
	uint8_t buf[512];
	size_t n;

	(void)state;
	n = make_elf(buf, sizeof(buf), "unik", 1, EM_X86_64);
	assert_true(oci_elf_buf_is_unik(buf, n));
	for (size_t cut = 0; cut < n; cut++)
		assert_false(oci_elf_buf_is_unik(buf, cut));
	n = make_elf(buf, sizeof(buf), "unik", 2, EM_X86_64);
	assert_false(oci_elf_buf_is_unik(buf, n));
	n = make_elf(buf, sizeof(buf), "GNU", 1, EM_X86_64);
	assert_false(oci_elf_buf_is_unik(buf, n));
	n = make_elf(buf, sizeof(buf), "unikx", 1, EM_X86_64);
	assert_false(oci_elf_buf_is_unik(buf, n));
	n = make_elf(buf, sizeof(buf), "unik", 1, EM_AARCH64);
	assert_false(oci_elf_buf_is_unik(buf, n));
	assert_false(oci_elf_buf_is_unik("#!/bin/sh\n", 10));
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void test_detect_kernel(void **state)
{
	char *dir = unik_mkdtemp("oci-detect", NULL);
	char *root, *p, *kernel = NULL, *text;
	uint8_t buf[512];
	size_t n = make_elf(buf, sizeof(buf), "unik", 1, EM_X86_64);
	struct oci_config c;
	struct unik_error err;

	(void)state;
	assert_non_null(dir);
	root = unik_path_join(dir, "rootfs");
	assert_int_equal(mkdir(root, 0755), 0);
	p = unik_path_join(root, "bin");
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = unik_path_join(root, "bin/k");
	write_bytes(p, buf, n);
	free(p);
	p = unik_path_join(root, "linux");
	write_bytes(p, "\177ELF", 4);
	free(p);
	/* An absolute link resolves inside the root fs, never to the host's file. */
	p = unik_path_join(root, "escape");
	assert_int_equal(symlink("/bin/k", p), 0);
	free(p);
	p = unik_path_join(root, "passwd");
	assert_int_equal(symlink("/etc/passwd", p), 0);
	free(p);

	struct {
		const char *args, *ann;
		int want;
	} cases[] = {
	    {"\"/bin/k\"", NULL, 1},     {"\"k\"", NULL, 1},        {"\"/escape\"", NULL, 1},
	    {"\"/linux\"", NULL, 0},     {"\"/missing\"", NULL, 0}, {"\"/passwd\"", NULL, 0},
	    {"\"/app\"", "/bin/k", 1},   {"\"/app\"", "/nope", -1}, {"\"/app\"", "/linux", -1},
	    {"\"/app\"", "/passwd", -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *ann =
		    cases[i].ann
		        ? xasprintf(",\"annotations\":{\"org.unik.kernel\":\"%s\"}", cases[i].ann)
		        : xstrdup("");
		int r;

		text = xasprintf("{\"process\":{\"args\":[%s],\"env\":[\"PATH=/usr/bin:/bin\"]},"
		                 "\"root\":{\"path\":\"rootfs\"}%s}",
		                 cases[i].args, ann);
		assert_int_equal(oci_config_parse(text, strlen(text), dir, &c, &err), 0);
		r = oci_detect_kernel(&c, &kernel, &err);
		if (r != cases[i].want)
			fail_msg("case %zu (%s, %s): %d, wanted %d (%s)", i, cases[i].args,
			         cases[i].ann ? cases[i].ann : "-", r, cases[i].want, err.msg);
		if (r == 1) {
			_cleanup_free_ char *want = unik_path_join(root, "bin/k");
			char real[PATH_MAX];

			assert_non_null(realpath(want, real));
			assert_string_equal(kernel, real);
		}
		if (r < 0)
			assert_non_null(strstr(err.msg, "org.unik.kernel"));
		free(kernel);
		kernel = NULL;
		oci_config_free(&c);
		free(text);
	}
	unik_rmtree(dir, NULL);
	free(root);
	free(dir);
}

/* A bind's destination, the one bind of the config, or NULL when it has none. */
static const char *one_bind(const char *mounts, bool *ro)
{
	static char dst[256];
	struct oci_config c;
	struct unik_error err;
	char *text = xasprintf("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},"
	                       "\"mounts\":[%s]}",
	                       mounts);

	if (parse(text, &c, &err) < 0)
		fail_msg("%s: %s", mounts, err.msg);
	free(text);
	assert_true(c.nbinds <= 1);
	if (!c.nbinds) {
		oci_config_free(&c);
		return NULL;
	}
	snprintf(dst, sizeof(dst), "%s", c.binds[0].destination);
	*ro = c.binds[0].readonly;
	oci_config_free(&c);
	return dst;
}

/* Which mounts become shares (docs/oci.md "Volumes"): Docker's own list for `docker run -v
 * /h:/data -v vol:/v:ro`, where only the two binds of the user remain. */
static void test_parse_binds(void **state)
{
	static const char *const runtimes[] = {
	    "/proc",         "/dev",         "/dev/pts",
	    "/dev/shm",      "/sys",         "/sys/fs/cgroup",
	    "/run",          "/run/secrets", "/etc/resolv.conf",
	    "/etc/hostname", "/etc/hosts",   "/run/.containerenv",
	    "//proc/",       "/x/../dev/shm"};
	static const char *const users[] = {"/data",        "/devices", "/procs",  "/etc",
	                                    "/etc/hosts.d", "/var/run", "/srv/sys"};
	struct oci_config c;
	struct unik_error err;
	const char *d;
	char *m;
	bool ro = false;

	(void)state;
	assert_int_equal(
	    parse("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"mounts\":["
	          "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	          "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
	          "\"options\":[\"nosuid\",\"mode=755\"]},"
	          "{\"destination\":\"/dev/shm\",\"type\":\"bind\",\"source\":\"/s/shm\","
	          "\"options\":[\"rbind\"]},"
	          "{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":"
	          "\"cgroup\",\"options\":[\"ro\"]},"
	          "{\"destination\":\"/data/\",\"type\":\"bind\",\"source\":\"/h\","
	          "\"options\":[\"rbind\",\"rprivate\"]},"
	          "{\"destination\":\"/v\",\"type\":\"bind\",\"source\":\"/var/lib/docker/"
	          "volumes/vol/_data\",\"options\":[\"rbind\",\"ro\",\"rprivate\"]},"
	          "{\"destination\":\"/tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"},"
	          "{\"destination\":\"/etc/resolv.conf\",\"type\":\"bind\",\"source\":"
	          "\"/c/resolv.conf\",\"options\":[\"rbind\",\"rprivate\"]},"
	          "{\"destination\":\"/etc/hostname\",\"type\":\"bind\",\"source\":"
	          "\"/c/hostname\",\"options\":[\"rbind\",\"rprivate\"]},"
	          "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/c/hosts\","
	          "\"options\":[\"rbind\",\"rprivate\"]}]}",
	          &c, &err),
	    0);
	assert_int_equal(c.nbinds, 2);
	assert_string_equal(c.binds[0].destination, "/data");
	assert_string_equal(c.binds[0].source, "/h");
	assert_false(c.binds[0].readonly);
	assert_string_equal(c.binds[1].destination, "/v");
	assert_string_equal(c.binds[1].source, "/var/lib/docker/volumes/vol/_data");
	assert_true(c.binds[1].readonly);
	assert_string_equal(c.resolv_mount, "/c/resolv.conf");
	oci_config_free(&c);

	for (size_t i = 0; i < sizeof(runtimes) / sizeof(runtimes[0]); i++) {
		m = xasprintf("{\"destination\":\"%s\",\"type\":\"bind\",\"source\":\"/h\"}",
		              runtimes[i]);
		if ((d = one_bind(m, &ro)))
			fail_msg("a bind on %s became %s", runtimes[i], d);
		free(m);
	}
	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
		m = xasprintf("{\"destination\":\"%s\",\"type\":\"bind\",\"source\":\"/h\"}",
		              users[i]);
		d = one_bind(m, &ro);
		assert_non_null(d);
		assert_string_equal(d, users[i]);
		free(m);
	}
	/* podman's and containerd's spelling: type "none" with "rbind"; the last of ro/rw wins; a
	 * destination is cleaned; a relative source is the bundle's. */
	d = one_bind("{\"destination\":\"/x\",\"type\":\"none\",\"source\":\"/h\","
	             "\"options\":[\"rbind\",\"ro\"]}",
	             &ro);
	assert_non_null(d);
	assert_true(ro);
	d = one_bind("{\"destination\":\"/x\",\"source\":\"/h\",\"options\":[\"bind\",\"ro\","
	             "\"rw\"]}",
	             &ro);
	assert_non_null(d);
	assert_false(ro);
	d = one_bind("{\"destination\":\"x/./y//../z/\",\"type\":\"bind\",\"source\":\"/h\"}", &ro);
	assert_string_equal(d, "/x/z");
	assert_null(one_bind("{\"destination\":\"/x\",\"type\":\"tmpfs\",\"source\":\"/h\","
	                     "\"options\":[\"ro\"]}",
	                     &ro));
	assert_int_equal(
	    parse("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"mounts\":["
	          "{\"destination\":\"/x\",\"type\":\"bind\",\"source\":\"vol\"}]}",
	          &c, &err),
	    0);
	assert_string_equal(c.binds[0].source, "/b/vol");
	oci_config_free(&c);
}

static void make_dir(const char *dir, const char *name, mode_t mode)
{
	char *p = unik_path_join(dir, name);

	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, mode), 0);
	free(p);
}

/* The shares made of the binds: directories only, in order, each noted when left out or closed
 * to QEMU's user. */
static void test_shares(void **state)
{
	char tmpl[] = "/tmp/unik-oci-shares-XXXXXX";
	char *dir = mkdtemp(tmpl), *text, *p;
	struct oci_config c;
	struct oci_shares sh;
	struct unik_error err;

	(void)state;
	assert_non_null(dir);
	/* Nobody owns them: only the bits for others count. */
	setenv("UNIK_QEMU_USER", "64123:64123", 1);
	make_dir(dir, "a", 0777);
	make_dir(dir, "b", 0755);
	make_dir(dir, "closed", 0750);
	p = unik_path_join(dir, "secret");
	write_bytes(p, "s", 1);
	free(p);
	text = xasprintf(
	    "{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},\"mounts\":["
	    "{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"%s/a\"},"
	    "{\"destination\":\"/run/secrets/s\",\"type\":\"bind\",\"source\":\"%s/secret\"},"
	    "{\"destination\":\"/etc/app.conf\",\"type\":\"bind\",\"source\":\"%s/secret\"},"
	    "{\"destination\":\"/srv/with space\",\"type\":\"bind\",\"source\":\"%s/b\","
	    "\"options\":[\"ro\",\"rbind\"]},"
	    "{\"destination\":\"/w\",\"type\":\"bind\",\"source\":\"%s/b\"},"
	    "{\"destination\":\"/c\",\"type\":\"bind\",\"source\":\"%s/closed\","
	    "\"options\":[\"ro\"]}]}",
	    dir, dir, dir, dir, dir, dir);
	assert_int_equal(parse(text, &c, &err), 0);
	free(text);
	assert_int_equal(oci_config_shares(&c, &sh, &err), 0);
	assert_int_equal(sh.n, 4);
	assert_int_equal(sh.devs[0].kind, UNIK_DEVICE_FS);
	assert_string_equal(sh.devs[0].name, "share0");
	assert_string_equal(sh.devs[0].mount, "/data");
	assert_false(sh.devs[0].readonly);
	assert_string_equal(sh.devs[1].name, "share1");
	assert_string_equal(sh.devs[1].mount, "/srv/with space");
	assert_true(sh.devs[1].readonly);
	p = unik_path_join(dir, "b");
	assert_string_equal(sh.devs[1].path, p);
	free(p);
	assert_string_equal(sh.devs[2].name, "share2");
	assert_string_equal(sh.devs[3].name, "share3");
	assert_true(sh.devs[3].readonly);
	/* The file on /etc/app.conf is noted (the one under /run is the runtime's, silently), then
	 * the writable share QEMU's user may not write, then the one it may not read. */
	assert_int_equal(sh.notes.n, 3);
	assert_non_null(strstr(sh.notes.v[0], "/etc/app.conf"));
	assert_non_null(strstr(sh.notes.v[0], "directories only"));
	assert_non_null(
	    strstr(sh.notes.v[1], "(on /w) is not writable by QEMU's user 64123:64123"));
	assert_non_null(strstr(sh.notes.v[1], "mode 0755"));
	assert_non_null(strstr(sh.notes.v[2], "(on /c) is closed to QEMU's user"));
	oci_shares_free(&sh);
	oci_config_free(&c);
	unsetenv("UNIK_QEMU_USER");

	text = xasprintf("{\"process\":{\"args\":[\"a\"]},\"root\":{\"path\":\"r\"},"
	                 "\"mounts\":[{\"destination\":\"/d\",\"type\":\"bind\",\"source\":"
	                 "\"%s/missing\"}]}",
	                 dir);
	assert_int_equal(parse(text, &c, &err), 0);
	free(text);
	assert_int_equal(oci_config_shares(&c, &sh, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	assert_non_null(strstr(err.msg, "/missing"));
	assert_non_null(strstr(err.msg, "/d"));
	oci_shares_free(&sh);
	oci_config_free(&c);
	unik_rmtree(dir, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_docker_config),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_parse_network),
	    cmocka_unit_test(test_guest_cmdline),
	    cmocka_unit_test(test_guest_memory),
	    cmocka_unit_test(test_unik_note),
	    cmocka_unit_test(test_detect_kernel),
	    cmocka_unit_test(test_parse_binds),
	    cmocka_unit_test(test_shares),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
