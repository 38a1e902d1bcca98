/* unik-cc's argument parsing: take out the --unik-* options and learn from gcc's options whether
 * this run compiles or links, what it writes and whether any input is C++. */
#include "cmd/unik-cc/args.h"

#include <stdlib.h>
#include <string.h>

#include "lib/cmdline.h"
#include "lib/suggest.h"

enum own_opt {
	OPT_CMDLINE,
	OPT_ENV,
	OPT_ROOTFS,
	OPT_MULTIBOOT,
	OPT_RUNTIME_DIR,
	OPT_KEEP_TEMPS,
	OPT_SERVICE,
	OPT_APP,
	OPT_DEVICE,
	OPT_TARGET,
	OPT_LWIP,
};

static const struct {
	const char *name;
	bool has_value;
} own_opts[] = {
    [OPT_CMDLINE] = {"--unik-cmdline", true},
    [OPT_ENV] = {"--unik-env", true},
    [OPT_ROOTFS] = {"--unik-rootfs", true},
    [OPT_MULTIBOOT] = {"--unik-multiboot", false},
    [OPT_RUNTIME_DIR] = {"--unik-runtime-dir", true},
    [OPT_KEEP_TEMPS] = {"--unik-keep-temps", false},
    [OPT_SERVICE] = {"--unik-service", false},
    [OPT_APP] = {"--unik-app", false},
    [OPT_DEVICE] = {"--unik-device", true},
    [OPT_TARGET] = {"--unik-target", true},
    [OPT_LWIP] = {"--unik-lwip", false},
};

#define N_OWN_OPTS (sizeof(own_opts) / sizeof(own_opts[0]))

/* gcc options that, written alone, take the next argument as their value: that argument must
 * not be mistaken for an input file. */
static const char *const gcc_separate_value_opts[] = {
    "-x",
    "-I",
    "-L",
    "-l",
    "-D",
    "-U",
    "-include",
    "-imacros",
    "-isystem",
    "-iquote",
    "-idirafter",
    "-iprefix",
    "-iwithprefix",
    "-iwithprefixbefore",
    "-isysroot",
    "-imultilib",
    "-MF",
    "-MT",
    "-MQ",
    "-Xlinker",
    "-Xassembler",
    "-Xpreprocessor",
    "-T",
    "-u",
    "-z",
    "-e",
    "-A",
    "-B",
    "-aux-info",
    "--param",
    "-dumpbase",
    "-dumpbase-ext",
    "-dumpdir",
    "-wrapper",
    "--sysroot",
    "--include",
    "--include-directory",
    "--include-directory-after",
    "--include-prefix",
    "--include-with-prefix",
    "--imacros",
    "--define-macro",
    "--undefine-macro",
    "--library-directory",
    "--language",
    "--for-linker",
    "--assert",
    "--entry",
    "--dumpbase",
    "--dumpdir",
    "--prefix",
};

/* Options after which gcc stops before linking. */
static const char *const gcc_no_link_opts[] = {"-c", "-S", "-E", "-M", "-MM", "-fsyntax-only"};

/* Linking options that cannot make a unikernel, which is one static executable at a fixed
 * address. */
static const char *const gcc_unsupported_link_opts[] = {"-shared", "-pie", "-static-pie"};

/* ld's names for a relocatable (partial) link, as they reach it through -Wl, or -Xlinker. */
static const char *const ld_partial_opts[] = {"-r", "--relocatable", "-relocatable", "-i", "-Ur"};

/* gcc's own spellings; busybox's kbuild links built-in.o with `$(CC) -nostdlib -r`. */
static const char *const gcc_partial_opts[] = {"-r", "-relocatable", "--relocatable"};

static const char *const cxx_suffixes[] = {".cc",  ".cp",  ".cxx", ".cpp",
                                           ".CPP", ".c++", ".C",   ".ii"};

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s, list[i]) == 0)
			return true;
	return false;
}

#define IN_LIST(s, list) in_list(s, list, sizeof(list) / sizeof(list[0]))

static int unknown_option(const char *name, struct unik_error *err)
{
	const char *names[N_OWN_OPTS];
	const char *guess;

	for (size_t i = 0; i < N_OWN_OPTS; i++)
		names[i] = own_opts[i].name;
	guess = unik_suggest(name, names, N_OWN_OPTS);
	if (guess)
		unik_error_set(err, UNIK_E_INVALID, "unknown option `%s` (did you mean `%s`?)",
		               name, guess);
	else
		unik_error_set(err, UNIK_E_INVALID,
		               "unknown option `%s`; `unik-cc --help` lists unik-cc's own options",
		               name);
	return -1;
}

static void set_string(char **dst, const char *value)
{
	free(*dst);
	*dst = xstrdup(value);
}

/* Handles one --unik-* option at argv[*i], consuming its value if separate. */
static int parse_own(int argc, char **argv, int *i, struct unikcc_args *a, struct unik_error *err)
{
	const char *arg = argv[*i];
	const char *eq = strchr(arg, '=');
	size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
	const char *value = NULL;
	size_t opt;

	for (opt = 0; opt < N_OWN_OPTS; opt++)
		if (strlen(own_opts[opt].name) == name_len &&
		    strncmp(arg, own_opts[opt].name, name_len) == 0)
			break;
	if (opt == N_OWN_OPTS) {
		_cleanup_free_ char *name = xstrndup(arg, name_len);

		return unknown_option(name, err);
	}
	if (own_opts[opt].has_value) {
		if (eq) {
			value = eq + 1;
		} else if (*i + 1 < argc) {
			value = argv[++*i];
		} else {
			unik_error_set(err, UNIK_E_INVALID,
			               "option `%s` needs a value (`%s VALUE`)", own_opts[opt].name,
			               own_opts[opt].name);
			return -1;
		}
	} else if (eq) {
		unik_error_set(err, UNIK_E_INVALID, "option `%s` takes no value; write just `%s`",
		               own_opts[opt].name, own_opts[opt].name);
		return -1;
	}

	switch ((enum own_opt)opt) {
	case OPT_CMDLINE:
		set_string(&a->cmdline, value);
		break;
	case OPT_ENV:
		if (!unik_env_word_valid(value)) {
			unik_error_set(
			    err, UNIK_E_INVALID,
			    "--unik-env `%s`: expected NAME=VALUE, NAME made of letters, "
			    "digits and _ and not starting with a digit",
			    value);
			return -1;
		}
		strv_push(&a->env, value);
		break;
	case OPT_ROOTFS:
	case OPT_RUNTIME_DIR:
		if (*value == '\0') {
			unik_error_set(err, UNIK_E_INVALID, "option `%s` needs a directory, not ``",
			               own_opts[opt].name);
			return -1;
		}
		set_string(opt == OPT_ROOTFS ? &a->rootfs : &a->runtime_dir, value);
		break;
	case OPT_MULTIBOOT:
		a->multiboot = true;
		break;
	case OPT_KEEP_TEMPS:
		a->keep_temps = true;
		break;
	case OPT_SERVICE:
		a->service = true;
		break;
	case OPT_APP:
		a->app = true;
		break;
	case OPT_LWIP:
		a->lwip = a->app = true;
		break;
	case OPT_DEVICE: {
		_cleanup_free_ char *word = unikcc_device_word(value);

		if (!word) {
			unik_error_set(err, UNIK_E_INVALID,
			               "--unik-device `%s`: expected net:NAME or block:NAME, NAME "
			               "of at most 15 of a-z, 0-9, _ and -, starting with a letter",
			               value);
			return -1;
		}
		for (size_t k = 0; k < a->devices.n; k++)
			if (!strcmp(strchr(a->devices.v[k], ':'), strchr(word, ':'))) {
				unik_error_set(err, UNIK_E_INVALID,
				               "--unik-device `%s`: the name is declared twice",
				               value);
				return -1;
			}
		strv_push(&a->devices, word);
		a->app = true;
		break;
	}
	case OPT_TARGET: {
		int t = unikcc_target_parse(value);

		if (t < 0) {
			unik_error_set(err, UNIK_E_INVALID,
			               "--unik-target `%s`: unknown target (targets: %s)", value,
			               UNIKCC_TARGET_NAMES);
			return -1;
		}
		a->target = (enum unikcc_target)t;
		a->app = true;
		break;
	}
	}
	return 0;
}

static const char *const target_names[UNIKCC_TARGETS] = {
    [UNIKCC_TARGET_VIRTIO] = "virtio",
    [UNIKCC_TARGET_UNIX] = "unix",
    [UNIKCC_TARGET_HVT] = "hvt",
};

int unikcc_target_parse(const char *name)
{
	for (int t = 0; t < UNIKCC_TARGETS; t++)
		if (!strcmp(target_names[t], name))
			return t;
	return -1;
}

const char *unikcc_target_name(enum unikcc_target t)
{
	return (unsigned)t < UNIKCC_TARGETS ? target_names[t] : NULL;
}

char *unikcc_device_word(const char *spec)
{
	const char *colon = strchr(spec, ':'), *kind;
	size_t klen = colon ? (size_t)(colon - spec) : 0, n;

	if (!colon)
		return NULL;
	if (klen == 3 && !strncmp(spec, "net", 3))
		kind = "net";
	else if ((klen == 3 && !strncmp(spec, "blk", 3)) ||
	         (klen == 5 && !strncmp(spec, "block", 5)))
		kind = "blk";
	else
		return NULL;
	n = strlen(colon + 1);
	if (n < 1 || n > 15 || colon[1] < 'a' || colon[1] > 'z' ||
	    strspn(colon + 1, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return NULL;
	return xasprintf("%s:%s", kind, colon + 1);
}

static bool is_cxx_input(const char *path, const char *lang)
{
	if (lang)
		return unik_str_has_prefix(lang, "c++");
	for (size_t i = 0; i < sizeof(cxx_suffixes) / sizeof(cxx_suffixes[0]); i++)
		if (unik_str_has_suffix(path, cxx_suffixes[i]))
			return true;
	return false;
}

/* The first comma-separated word of -Wl,WORDS that asks ld for a partial link, or NULL. */
static const char *wl_partial(const char *words)
{
	_cleanup_free_ char *copy = xstrdup(words);
	char *save = NULL;

	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save))
		for (size_t i = 0; i < sizeof(ld_partial_opts) / sizeof(ld_partial_opts[0]); i++)
			if (strcmp(w, ld_partial_opts[i]) == 0)
				return ld_partial_opts[i];
	return NULL;
}

static void push_both(struct unikcc_args *a, const char *arg)
{
	strv_push(&a->gcc_args, arg);
	strv_push(&a->link_args, arg);
}

int unikcc_parse_args(int argc, char **argv, struct unikcc_args *a, struct unik_error *err)
{
	const char *lang = NULL; /* the language set by -x, NULL for "by file name" */
	bool no_link = false, missing_value = false;

	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (unik_str_has_prefix(arg, "--unik-")) {
			if (parse_own(argc, argv, &i, a, err) < 0)
				return -1;
			continue;
		}
		if (strcmp(arg, "--help") == 0) {
			a->help = true;
			continue;
		}
		if (strcmp(arg, "-o") == 0 || strcmp(arg, "--output") == 0) {
			strv_push(&a->gcc_args, arg);
			if (i + 1 == argc) {
				missing_value = true;
				continue;
			}
			set_string(&a->output, argv[++i]);
			strv_push(&a->gcc_args, argv[i]);
			continue;
		}
		if ((unik_str_has_prefix(arg, "-o") && arg[2] != '\0') ||
		    unik_str_has_prefix(arg, "--output=")) {
			set_string(&a->output, arg[1] == 'o' ? arg + 2 : arg + strlen("--output="));
			strv_push(&a->gcc_args, arg);
			continue;
		}
		push_both(a, arg);
		if (strcmp(arg, "-v") == 0) {
			a->verbose = true;
		} else if (strcmp(arg, "--version") == 0) {
			a->version = true;
		} else if (IN_LIST(arg, gcc_no_link_opts)) {
			no_link = true;
		} else if (IN_LIST(arg, gcc_unsupported_link_opts)) {
			if (!a->unsupported)
				a->unsupported = arg;
		} else if (IN_LIST(arg, gcc_partial_opts)) {
			if (!a->partial)
				a->partial = arg;
		} else if (strcmp(arg, "-nostdlib") == 0) {
			a->no_start_files = a->no_default_libs = a->no_libc = true;
		} else if (strcmp(arg, "-nostartfiles") == 0) {
			a->no_start_files = true;
		} else if (strcmp(arg, "-nodefaultlibs") == 0) {
			a->no_default_libs = a->no_libc = true;
		} else if (strcmp(arg, "-nolibc") == 0) {
			a->no_libc = true;
		} else if (unik_str_has_prefix(arg, "-Wl,")) {
			const char *p = wl_partial(arg + strlen("-Wl,"));

			if (p && !a->partial)
				a->partial = arg;
		} else if (IN_LIST(arg, gcc_separate_value_opts)) {
			if (i + 1 == argc) {
				missing_value = true;
				continue;
			}
			push_both(a, argv[++i]);
			if (strcmp(arg, "-Xlinker") == 0 && IN_LIST(argv[i], ld_partial_opts) &&
			    !a->partial)
				a->partial = argv[i];
			if (strcmp(arg, "-x") == 0 || strcmp(arg, "--language") == 0)
				lang = strcmp(argv[i], "none") == 0 ? NULL : argv[i];
		} else if (unik_str_has_prefix(arg, "-x") ||
		           unik_str_has_prefix(arg, "--language=")) {
			const char *l = arg[1] == 'x' ? arg + 2 : arg + strlen("--language=");

			lang = strcmp(l, "none") == 0 ? NULL : l;
		} else if (arg[0] == '@') {
			if (!a->response_file)
				a->response_file = argv[i];
		} else if (arg[0] != '-' || arg[1] == '\0') {
			/* A file name, or "-" for standard input. */
			a->n_inputs++;
			if (is_cxx_input(arg, lang))
				a->cxx = true;
		}
	}
	/* A missing option value is gcc's to report, in its own words. */
	if (no_link || missing_value || a->n_inputs == 0)
		a->mode = UNIKCC_PASS;
	else if (a->partial)
		a->mode = UNIKCC_PARTIAL;
	else
		a->mode = UNIKCC_LINK;
	return 0;
}

void unikcc_args_free(struct unikcc_args *a)
{
	strv_free(&a->gcc_args);
	strv_free(&a->link_args);
	strv_free(&a->env);
	strv_free(&a->devices);
	free(a->cmdline);
	free(a->rootfs);
	free(a->runtime_dir);
	free(a->output);
	memset(a, 0, sizeof(*a));
}
