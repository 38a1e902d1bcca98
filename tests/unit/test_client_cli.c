/* Unit tests for the unik CLI's argument parsing: run's guest arguments after the image, UniK's
 * flag spellings, bundled short options, aliases of verbs, "did you mean" and memory sizes.  The
 * CLI's sources are compiled in here (its main renamed), as they are not part of a library. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define main unik_cli_main
#include "cmd/unik/main.c"
#undef main
#include "cmd/unik/args.c"
#include "cmd/unik/cli.c"
#include "cmd/unik/cmd_build.c"
#include "cmd/unik/cmd_compilers.c"
#include "cmd/unik/cmd_daemon.c"
#include "cmd/unik/cmd_describe_compiler.c"
#include "cmd/unik/cmd_describe_image.c"
#include "cmd/unik/cmd_describe_instance.c"
#include "cmd/unik/cmd_export.c"
#include "cmd/unik/cmd_push.c"
#include "cmd/unik/cmd_help.c"
#include "cmd/unik/cmd_images.c"
#include "cmd/unik/cmd_init.c"
#include "cmd/unik/cmd_inspect.c"
#include "cmd/unik/cmd_logs.c"
#include "cmd/unik/cmd_network.c"
#include "cmd/unik/cmd_volume.c"
#include "cmd/unik/cmd_providers.c"
#include "cmd/unik/cmd_ps.c"
#include "cmd/unik/cmd_rm.c"
#include "cmd/unik/cmd_rmi.c"
#include "cmd/unik/cmd_run.c"
#include "cmd/unik/cmd_start.c"
#include "cmd/unik/cmd_stop.c"
#include "cmd/unik/cmd_target.c"
#include "cmd/unik/cmd_version.c"
#include "cmd/unik/complete.c"

/* Parses `run WORDS...` into *a; returns what run_parse_args returned. */
/* Parses `run WORDS...` into *a; returns what run_parse_args returned.  Strings in *a borrow
 * from *words, which the next call (or the caller) frees. */
static int parse_run(struct cli *cli, struct run_args *a, struct unik_error *err,
                     struct strv *words, ...)
{
	va_list ap;
	const char *w;

	strv_free(words);
	strv_push(words, "run");
	va_start(ap, words);
	while ((w = va_arg(ap, const char *)))
		strv_push(words, w);
	va_end(ap);
	memset(a, 0, sizeof(*a));
	return run_parse_args(cli, (int)words->n, (char **)strv_argv(words), a, err);
}

static void test_run_args_after_image(void **state)
{
	struct cli cli = {0};
	struct run_args a;
	struct unik_error err = {0};
	_cleanup_strv_ struct strv w = {0};
	_cleanup_free_ char *args = NULL;

	(void)state;
	assert_int_equal(parse_run(&cli, &a, &err, &w, "--name", "i1", "-e", "A=B", "hello", "x",
	                           "-d", "--mem", "64", "a b", NULL),
	                 0);
	assert_string_equal(a.image, "hello");
	assert_string_equal(a.name, "i1");
	assert_false(a.detach); /* -d after the image is the guest's */
	assert_null(a.mem);
	assert_int_equal(a.env.n, 1);
	assert_string_equal(a.env.v[0], "A=B");
	assert_int_equal(a.guest.n, 5);
	assert_string_equal(a.guest.v[1], "-d");
	args = run_guest_args(&a);
	assert_string_equal(args, "hello x -d --mem 64 'a b'");
	run_args_free(&a);
}

static void test_run_unik_spellings(void **state)
{
	struct cli cli = {0};
	struct run_args a;
	struct unik_error err = {0};
	_cleanup_strv_ struct strv w = {0};
	_cleanup_free_ char *args = NULL;

	(void)state;
	assert_int_equal(parse_run(&cli, &a, &err, &w, "--instanceName", "i1", "--imageName",
	                           "hello", "--env", "K=V", "--instanceMemory", "96", "--args",
	                           "p 'q r'", "extra", NULL),
	                 0);
	assert_string_equal(a.image, "hello");
	assert_string_equal(a.name, "i1");
	assert_string_equal(a.mem, "96");
	assert_int_equal(a.guest.n, 1); /* with --imageName every word is an argument */
	args = run_guest_args(&a);
	assert_string_equal(args, "p 'q r' extra");
	run_args_free(&a);
}

static void test_run_short_forms(void **state)
{
	struct cli cli = {0};
	struct run_args a;
	struct unik_error err = {0};
	_cleanup_strv_ struct strv w = {0};

	(void)state;
	assert_int_equal(
	    parse_run(&cli, &a, &err, &w, "-dm64", "-eX=1", "--image=img", "--", "-v", NULL), 0);
	assert_true(a.detach);
	assert_string_equal(a.mem, "64");
	assert_string_equal(a.env.v[0], "X=1");
	assert_string_equal(a.image, "img");
	assert_int_equal(a.guest.n, 1);
	assert_string_equal(a.guest.v[0], "-v");
	run_args_free(&a);

	assert_int_equal(parse_run(&cli, &a, &err, &w, "-o", "json", "-d", "hello", NULL), 0);
	assert_true(cli.json);
	assert_null(run_guest_args(&a));
	run_args_free(&a);
}

static void test_run_errors(void **state)
{
	struct cli cli = {0};
	struct run_args a;
	struct unik_error err = {0};
	_cleanup_strv_ struct strv w = {0};

	(void)state;
	assert_int_equal(parse_run(&cli, &a, &err, &w, "-d", NULL), -1);
	assert_non_null(strstr(err.msg, "which image"));
	run_args_free(&a);
	assert_int_equal(parse_run(&cli, &a, &err, &w, "--memroy", "64", "hello", NULL), -1);
	assert_string_equal(err.msg, "unknown option `--memroy` (did you mean `--memory`?)");
	run_args_free(&a);
	assert_int_equal(parse_run(&cli, &a, &err, &w, "-instanceName", "i1", "hello", NULL), -1);
	assert_string_equal(err.msg,
	                    "unknown option `-instanceName` (did you mean `--instanceName`?)");
	run_args_free(&a);
	assert_int_equal(parse_run(&cli, &a, &err, &w, "-dz", "hello", NULL), -1);
	assert_string_equal(err.msg, "unknown option `-z` in `-dz`");
	run_args_free(&a);
	assert_int_equal(parse_run(&cli, &a, &err, &w, "--mem", "lots", "hello", NULL), -1);
	assert_non_null(strstr(err.msg, "--mem `lots`"));
	run_args_free(&a);
	assert_int_equal(parse_run(&cli, &a, &err, &w, "--name", NULL), -1);
	assert_string_equal(err.msg, "option `--name` needs a value NAME");
	run_args_free(&a);
	assert_int_equal(parse_run(&cli, &a, &err, &w, "--detach=maybe", "hello", NULL), -1);
	assert_non_null(strstr(err.msg, "takes no value"));
	run_args_free(&a);
	assert_int_equal(parse_run(&cli, &a, &err, &w, "--help", NULL), 1);
	run_args_free(&a);
}

static void test_generic_parser(void **state)
{
	struct cli cli = {0};
	bool force = false;
	const char *image = NULL;
	const struct cli_opt opts[] = {
	    {0, "image|imageName|name", CLI_OPT_STR, &image, "IMAGE", ""},
	    {'f', "force", CLI_OPT_BOOL, &force, NULL, ""},
	};
	char *argv[] = {"rmi", "a",      "--force=false", "b", "-f", "--imageName",
	                "c",   "--host", "h:1",           "-", NULL};
	_cleanup_strv_ struct strv pos = {0};
	struct unik_error err = {0};

	(void)state;
	assert_int_equal(cli_parse_args(&cli, 10, argv, opts, 2, 0, &pos, &err), 0);
	assert_true(force);
	assert_string_equal(image, "c");
	assert_string_equal(cli.host, "h:1");
	assert_int_equal(pos.n, 3);
	assert_string_equal(pos.v[0], "a");
	assert_string_equal(pos.v[1], "b");
	assert_string_equal(pos.v[2], "-");
}

static void test_verb_aliases(void **state)
{
	static const char *const cases[][2] = {
	    {"rmi", "rmi"}, {"delete-image", "rmi"},   {"ps", "ps"},     {"instances", "ps"},
	    {"rm", "rm"},   {"delete-instance", "rm"}, {"logs", "logs"}, {"daemon", "daemon"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct cli_verb *v = cli_find_verb(cases[i][0]);

		assert_non_null(v);
		assert_string_equal(v->name, cases[i][1]);
	}
	assert_null(cli_find_verb("biuld"));
	assert_null(cli_find_verb("--help"));
	for (const struct cli_verb *v = cli_verbs; v->name; v++) {
		assert_non_null(v->fn);
		assert_true(strlen(v->summary) > 0);
	}
}

static void test_did_you_mean(void **state)
{
	static const char *const verbs[] = {"build", "images", "describe-image",
	                                    "rmi|delete-image"};
	static const char *const opts[] = {"name|instanceName", "mem|memory|instanceMemory"};

	(void)state;
	assert_string_equal(cli_did_you_mean("biuld", verbs, 4), "build");
	assert_string_equal(cli_did_you_mean("delete-imag", verbs, 4), "delete-image");
	assert_string_equal(cli_did_you_mean("instancename", opts, 2), "instanceName");
	assert_string_equal(cli_did_you_mean("memroy", opts, 2), "memory");
	/* Two swaps are two edits (lib/suggest.c); Levenshtein counted four and gave no hint. */
	assert_string_equal(cli_did_you_mean("mmeroy", opts, 2), "memory");
	assert_string_equal(cli_did_you_mean("BUILD", verbs, 4), "build");
	assert_null(cli_did_you_mean("zzzzzzzz", verbs, 4));
}

static void test_memory_sizes(void **state)
{
	static const struct {
		const char *s;
		long mb;
	} cases[] = {
	    {"64", 64}, {"64M", 64}, {"64MB", 64}, {"64MiB", 64}, {"1G", 1024}, {"2GiB", 2048},
	    {"0", -1},  {"-5", -1},  {"", -1},     {"12x", -1},   {"M", -1},    {"64MBs", -1},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cli_parse_mem(cases[i].s) != cases[i].mb)
			fail_msg("cli_parse_mem(%s) = %ld, wanted %ld", cases[i].s,
			         cli_parse_mem(cases[i].s), cases[i].mb);
	assert_int_equal(cli_parse_mem(NULL), -1);
}

/* Cells are cut at the end of a word with an ellipsis, never inside one. */
static void test_ellipsize(void **state)
{
	static const struct {
		const char *in;
		size_t width;
		const char *out;
	} cases[] = {
	    {"short", 10, "short"},
	    {"elf 93K, raw 1.0M, qcow2 1.0M", 20, "elf 93K, raw 1.0M…"},
	    {"elf 93K, raw 1.0M, qcow2 1.0M", 18, "elf 93K, raw 1.0M…"},
	    {"elf 93K, raw 1.0M, qcow2 1.0M", 17, "elf 93K, raw…"},
	    {"local QEMU microvm per instance (KVM when", 22, "local QEMU microvm…"},
	    {"a (b c", 4, "a…"},
	    {"abcdefghijkl", 5, "abcdefghijkl"}, /* one word: kept whole */
	    {"abcdefghijkl and more", 5, "abcdefghijkl…"},
	    {"1 second ago", 9, "1 second…"},
	    {"1 second ago", 8, "1…"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = cli_ellipsize(cases[i].in, cases[i].width);

		if (strcmp(got, cases[i].out))
			fail_msg("cli_ellipsize(\"%s\", %zu) = \"%s\", want \"%s\"", cases[i].in,
			         cases[i].width, got, cases[i].out);
		free(got);
	}
	assert_int_equal(cli_text_width("elf…"), 4);
}

static void test_since(void **state)
{
	(void)state;
	assert_true(parse_since("2026-12-03T07:25:55Z") == 1796282755.0);
	assert_true(parse_since("2026-12-03T07:25:55.5Z") == 1796282755.5);
	assert_true(parse_since("2026-12-03T08:25:55+01:00") == 1796282755.0);
	assert_true(parse_since("2026-12-03T07:25:55") < 0); /* no zone */
	assert_true(parse_since("10m") > 0);
	assert_true(parse_since("1h30m") > 0);
	assert_true(parse_since("yesterday") < 0);
	assert_true(parse_since("") < 0);
	assert_true(parse_since("10") < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_run_args_after_image),
	    cmocka_unit_test(test_run_unik_spellings),
	    cmocka_unit_test(test_run_short_forms),
	    cmocka_unit_test(test_run_errors),
	    cmocka_unit_test(test_generic_parser),
	    cmocka_unit_test(test_verb_aliases),
	    cmocka_unit_test(test_did_you_mean),
	    cmocka_unit_test(test_memory_sizes),
	    cmocka_unit_test(test_ellipsize),
	    cmocka_unit_test(test_since),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
