/* Unit tests for unik-cc's argument parsing (cmd/unik-cc/args.c): its own options come out,
 * gcc's stay in order, and compile-only runs are told from links. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "args.h"

static int parse(struct unikcc_args *a, const char *const *words, struct unik_error *err)
{
	char *argv[64] = {"unik-cc"};
	int argc = 1;

	for (; words[argc - 1]; argc++)
		argv[argc] = (char *)words[argc - 1];
	return unikcc_parse_args(argc, argv, a, err);
}

static void parse_ok(struct unikcc_args *a, const char *const *words)
{
	struct unik_error err;

	if (parse(a, words, &err) < 0)
		fail_msg("parse: %s", err.msg);
}

static void assert_words(const struct strv *v, const char *const *want)
{
	size_t n = 0;

	while (want[n])
		n++;
	assert_int_equal(v->n, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(v->v[i], want[i]);
}

static void test_compile_only_modes(void **state)
{
	static const char *const flags[] = {"-c", "-S", "-E", "-M", "-MM", "-fsyntax-only"};
	struct unikcc_args a;

	(void)state;
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		parse_ok(&a, (const char *[]){"-O2", flags[i], "a.c", "b.c", NULL});
		assert_int_equal(a.mode, UNIKCC_PASS);
		assert_int_equal(a.n_inputs, 2);
		assert_words(&a.gcc_args, (const char *[]){"-O2", flags[i], "a.c", "b.c", NULL});
		unikcc_args_free(&a);
	}
	/* -MD and -MMD write dependencies as a side effect of a normal run. */
	parse_ok(&a, (const char *[]){"-MMD", "-MF", "a.d", "a.c", NULL});
	assert_int_equal(a.mode, UNIKCC_LINK);
	assert_int_equal(a.n_inputs, 1);
	unikcc_args_free(&a);
}

static void test_no_inputs_is_pass(void **state)
{
	struct unikcc_args a;

	(void)state;
	parse_ok(&a, (const char *[]){"--version", NULL});
	assert_int_equal(a.mode, UNIKCC_PASS);
	assert_true(a.version);
	assert_words(&a.gcc_args, (const char *[]){"--version", NULL});
	unikcc_args_free(&a);

	parse_ok(&a, (const char *[]){"-v", NULL});
	assert_int_equal(a.mode, UNIKCC_PASS);
	assert_true(a.verbose);
	unikcc_args_free(&a);

	parse_ok(&a, (const char *[]){"-lm", "-print-file-name=libc.a", NULL});
	assert_int_equal(a.mode, UNIKCC_PASS);
	assert_int_equal(a.n_inputs, 0);
	unikcc_args_free(&a);
}

static void test_link_output_and_order(void **state)
{
	struct unikcc_args a;

	(void)state;
	parse_ok(&a, (const char *[]){"-O2", "-o", "app.elf", "a.c", "-Iinc", "b.o", "-lm", NULL});
	assert_int_equal(a.mode, UNIKCC_LINK);
	assert_string_equal(a.output, "app.elf");
	assert_int_equal(a.n_inputs, 2);
	assert_words(&a.gcc_args,
	             (const char *[]){"-O2", "-o", "app.elf", "a.c", "-Iinc", "b.o", "-lm", NULL});
	assert_words(&a.link_args, (const char *[]){"-O2", "a.c", "-Iinc", "b.o", "-lm", NULL});
	unikcc_args_free(&a);

	parse_ok(&a, (const char *[]){"-oapp", "a.c", NULL});
	assert_string_equal(a.output, "app");
	assert_words(&a.link_args, (const char *[]){"a.c", NULL});
	unikcc_args_free(&a);

	parse_ok(&a, (const char *[]){"--output=x", "a.c", NULL});
	assert_string_equal(a.output, "x");
	unikcc_args_free(&a);

	parse_ok(&a, (const char *[]){"a.c", NULL});
	assert_null(a.output);
	unikcc_args_free(&a);
}

static void test_option_values_are_not_inputs(void **state)
{
	struct unikcc_args a;

	(void)state;
	parse_ok(&a, (const char *[]){"-I", "inc", "-D", "X=1", "-include", "pre.h", "-L", "lib",
	                              "-l", "m", "-MF", "d", "-Xlinker", "--gc-sections", NULL});
	assert_int_equal(a.n_inputs, 0);
	assert_int_equal(a.mode, UNIKCC_PASS);
	unikcc_args_free(&a);

	/* An option missing its value is gcc's to report: unik-cc does not link. */
	parse_ok(&a, (const char *[]){"a.c", "-o", NULL});
	assert_int_equal(a.mode, UNIKCC_PASS);
	unikcc_args_free(&a);
	parse_ok(&a, (const char *[]){"a.c", "-I", NULL});
	assert_int_equal(a.mode, UNIKCC_PASS);
	unikcc_args_free(&a);

	parse_ok(&a, (const char *[]){"-x", "c", "-", NULL});
	assert_int_equal(a.n_inputs, 1);
	assert_int_equal(a.mode, UNIKCC_LINK);
	unikcc_args_free(&a);
}

static void test_own_options(void **state)
{
	struct unikcc_args a;

	(void)state;
	parse_ok(&a,
	         (const char *[]){"--unik-env", "A=1", "a.c", "--unik-env=B=x y", "--unik-cmdline",
	                          "app -v", "--unik-rootfs=root", "--unik-multiboot",
	                          "--unik-runtime-dir", "rt", "--unik-keep-temps", "-lm", NULL});
	assert_words(&a.env, (const char *[]){"A=1", "B=x y", NULL});
	assert_string_equal(a.cmdline, "app -v");
	assert_string_equal(a.rootfs, "root");
	assert_string_equal(a.runtime_dir, "rt");
	assert_true(a.multiboot);
	assert_true(a.keep_temps);
	assert_words(&a.gcc_args, (const char *[]){"a.c", "-lm", NULL});
	assert_int_equal(a.mode, UNIKCC_LINK);
	unikcc_args_free(&a);

	/* The last --unik-cmdline wins; an empty one is allowed. */
	parse_ok(&a, (const char *[]){"--unik-cmdline=x", "--unik-cmdline=", "a.c", NULL});
	assert_string_equal(a.cmdline, "");
	unikcc_args_free(&a);

	parse_ok(&a, (const char *[]){"--help", "a.c", NULL});
	assert_true(a.help);
	assert_words(&a.gcc_args, (const char *[]){"a.c", NULL});
	unikcc_args_free(&a);

	/* --unik-target makes a device application; the last one wins. */
	parse_ok(&a, (const char *[]){"--unik-target", "virtio", "--unik-target=hvt", "a.c", NULL});
	assert_int_equal(a.target, UNIKCC_TARGET_HVT);
	assert_true(a.app);
	assert_words(&a.gcc_args, (const char *[]){"a.c", NULL});
	unikcc_args_free(&a);
}

static void test_own_option_errors(void **state)
{
	static const struct {
		const char *args[4];
		const char *msg;
	} cases[] = {
	    {{"--unik-enf", "A=1", "a.c"}, "did you mean `--unik-env`"},
	    {{"--unik-frobnicate", "a.c"}, "unik-cc --help"},
	    {{"a.c", "--unik-env"}, "needs a value"},
	    {{"--unik-env", "NOEQ", "a.c"}, "NAME=VALUE"},
	    {{"--unik-env=1A=x", "a.c"}, "NAME=VALUE"},
	    {{"--unik-env=A-B=x", "a.c"}, "NAME=VALUE"},
	    {{"--unik-multiboot=yes", "a.c"}, "takes no value"},
	    {{"--unik-rootfs=", "a.c"}, "needs a directory"},
	    {{"--unik-target", "arm", "a.c"}, "unknown target (targets: virtio, unix, hvt)"},
	    {{"a.c", "--unik-target"}, "needs a value"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct unikcc_args a;
		struct unik_error err;

		assert_int_equal(parse(&a, cases[i].args, &err), -1);
		assert_int_equal(err.code, UNIK_E_INVALID);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: `%s` lacks `%s`", i, err.msg, cases[i].msg);
		unikcc_args_free(&a);
	}
}

/* --unik-target picks an entry of the target table and implies --unik-app. */
static void test_targets(void **state)
{
	struct unikcc_args a;

	(void)state;
	parse_ok(&a, (const char *[]){"a.c", NULL});
	assert_int_equal(a.target, UNIKCC_TARGET_VIRTIO);
	assert_false(a.app);
	unikcc_args_free(&a);
	parse_ok(&a, (const char *[]){"--unik-target=unix", "a.c", NULL});
	assert_int_equal(a.target, UNIKCC_TARGET_UNIX);
	assert_true(a.app);
	assert_words(&a.gcc_args, (const char *[]){"a.c", NULL});
	unikcc_args_free(&a);
	parse_ok(&a, (const char *[]){"--unik-target", "virtio", "a.c", NULL});
	assert_int_equal(a.target, UNIKCC_TARGET_VIRTIO);
	assert_true(a.app);
	unikcc_args_free(&a);
	for (int t = 0; t < UNIKCC_TARGETS; t++)
		assert_int_equal(unikcc_target_parse(unikcc_target_name((enum unikcc_target)t)), t);
	assert_null(unikcc_target_name(UNIKCC_TARGETS));
}

static void test_cxx_and_unsupported(void **state)
{
	static const char *const cxx[] = {"a.cc", "a.cpp", "a.cxx", "a.C", "a.c++"};
	struct unikcc_args a;

	(void)state;
	for (size_t i = 0; i < sizeof(cxx) / sizeof(cxx[0]); i++) {
		parse_ok(&a, (const char *[]){"a.c", cxx[i], NULL});
		assert_true(a.cxx);
		unikcc_args_free(&a);
	}
	parse_ok(&a, (const char *[]){"-x", "c++", "a.c", NULL});
	assert_true(a.cxx);
	unikcc_args_free(&a);
	parse_ok(&a, (const char *[]){"-xc++", "a.c", NULL});
	assert_true(a.cxx);
	unikcc_args_free(&a);
	parse_ok(&a, (const char *[]){"-x", "c++", "-x", "none", "a.c", "b.o", NULL});
	assert_false(a.cxx);
	unikcc_args_free(&a);
	parse_ok(&a, (const char *[]){"-x", "c", "a.cpp", NULL});
	assert_false(a.cxx);
	unikcc_args_free(&a);

	parse_ok(&a, (const char *[]){"-shared", "a.c", NULL});
	assert_string_equal(a.unsupported, "-shared");
	unikcc_args_free(&a);
	parse_ok(&a, (const char *[]){"@args.rsp", "a.c", NULL});
	assert_string_equal(a.response_file, "@args.rsp");
	unikcc_args_free(&a);
}

/* Partial links make objects for a later link: busybox's kbuild links each built-in.o with
 * `$(CC) -nostdlib -r`, and a runtime added there too would be defined twice in the end. */
static void test_partial_links(void **state)
{
	static const struct {
		const char *args[8];
		const char *partial;
	} cases[] = {
	    {{"-nostdlib", "-r", "-o", "built-in.o", "a.o", "b.o"}, "-r"},
	    {{"-nostdlib", "-Wl,-r", "-o", "x.o", "a.o"}, "-Wl,-r"},
	    {{"-Wl,--gc-sections,--relocatable", "-o", "x.o", "a.o"},
	     "-Wl,--gc-sections,--relocatable"},
	    {{"-Wl,-relocatable", "-o", "x.o", "a.o"}, "-Wl,-relocatable"},
	    {{"-relocatable", "-o", "x.o", "a.o"}, "-relocatable"},
	    {{"-Xlinker", "-r", "-o", "x.o", "a.c"}, "-r"},
	};
	struct unikcc_args a;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse_ok(&a, cases[i].args);
		if (a.mode != UNIKCC_PARTIAL)
			fail_msg("case %zu: mode %d, not a partial link", i, (int)a.mode);
		assert_string_equal(a.partial, cases[i].partial);
		/* Passed on untouched, -o included. */
		assert_words(&a.gcc_args, cases[i].args);
		unikcc_args_free(&a);
	}

	/* Words that only look like it: a real link. */
	parse_ok(&a, (const char *[]){"-Wl,-rpath,/x", "-Wl,--relax", "-rdynamic", "a.o", NULL});
	assert_int_equal(a.mode, UNIKCC_LINK);
	assert_null(a.partial);
	unikcc_args_free(&a);
	parse_ok(&a, (const char *[]){"-Xlinker", "--gc-sections", "-L", "-r", "a.o", NULL});
	assert_int_equal(a.mode, UNIKCC_LINK);
	unikcc_args_free(&a);

	/* Compiling with -r in the line still only compiles. */
	parse_ok(&a, (const char *[]){"-c", "-r", "a.c", NULL});
	assert_int_equal(a.mode, UNIKCC_PASS);
	unikcc_args_free(&a);
}

/* -nostartfiles, -nodefaultlibs, -nolibc and -nostdlib as gcc's manual has them; they stay in
 * the arguments, and the link leaves out what each names. */
static void test_nostdlib_family(void **state)
{
	static const struct {
		const char *flag;
		bool start, libc, defaults;
	} cases[] = {
	    {"-nostartfiles", true, false, false},
	    {"-nodefaultlibs", false, true, true},
	    {"-nolibc", false, true, false},
	    {"-nostdlib", true, true, true},
	};
	struct unikcc_args a;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse_ok(&a, (const char *[]){cases[i].flag, "-o", "app", "a.o", NULL});
		assert_int_equal(a.mode, UNIKCC_LINK);
		assert_int_equal(a.no_start_files, cases[i].start);
		assert_int_equal(a.no_libc, cases[i].libc);
		assert_int_equal(a.no_default_libs, cases[i].defaults);
		assert_words(&a.link_args, (const char *[]){cases[i].flag, "a.o", NULL});
		unikcc_args_free(&a);
	}
	parse_ok(&a, (const char *[]){"-o", "app", "a.o", NULL});
	assert_false(a.no_start_files || a.no_libc || a.no_default_libs);
	unikcc_args_free(&a);
}

static void test_shared_and_pic(void **state)
{
	struct unikcc_args a;

	(void)state;
	/* -shared is refused at link time (main.c says why); -fPIC compiles are plain compiles. */
	parse_ok(&a, (const char *[]){"-shared", "-fPIC", "-o", "libx.so", "a.o", NULL});
	assert_int_equal(a.mode, UNIKCC_LINK);
	assert_string_equal(a.unsupported, "-shared");
	unikcc_args_free(&a);
	parse_ok(&a, (const char *[]){"-fPIC", "-c", "a.c", NULL});
	assert_int_equal(a.mode, UNIKCC_PASS);
	assert_null(a.unsupported);
	unikcc_args_free(&a);
	parse_ok(&a, (const char *[]){"-fpic", "-o", "app", "a.c", NULL});
	assert_int_equal(a.mode, UNIKCC_LINK);
	assert_null(a.unsupported);
	unikcc_args_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compile_only_modes),
	    cmocka_unit_test(test_no_inputs_is_pass),
	    cmocka_unit_test(test_link_output_and_order),
	    cmocka_unit_test(test_targets),
	    cmocka_unit_test(test_option_values_are_not_inputs),
	    cmocka_unit_test(test_own_options),
	    cmocka_unit_test(test_own_option_errors),
	    cmocka_unit_test(test_cxx_and_unsupported),
	    cmocka_unit_test(test_partial_links),
	    cmocka_unit_test(test_nostdlib_family),
	    cmocka_unit_test(test_shared_and_pic),
	};

	return cmocka_run_group_tests_name("unikcc_args", tests, NULL, NULL);
}
