/* A command-line door onto the aws provider's stage() and unstage(), for the Python tests:
 *   aws_stage [-o KEY=VALUE]... stage IMAGE_DIR IMAGE IMAGE_ID NAME [CMDLINE]
 *   aws_stage [-o KEY=VALUE]... unstage IMAGE_DIR
 * Progress lines go to stdout as "progress=LINE"; then "staged=yes" or "unstaged=yes", or on
 * failure "error=MESSAGE" and "code=NAME" with exit status 1. */
#include <stdio.h>
#include <string.h>

#include "providers/provider.h"

static void on_progress(void *ctx, const char *line)
{
	(void)ctx;
	printf("progress=%s\n", line);
	fflush(stdout);
}

static int failed(const struct unik_error *err)
{
	printf("error=%s\ncode=%s\n", err->msg, unik_error_code_name(err->code));
	return 1;
}

static int usage(void)
{
	fputs("usage: aws_stage [-o KEY=VALUE]... stage IMAGE_DIR IMAGE IMAGE_ID NAME [CMDLINE] | "
	      "unstage IMAGE_DIR\n",
	      stderr);
	return 2;
}

int main(int argc, char **argv)
{
	const struct unik_provider *p = unik_provider_find("aws");
	struct unik_error err = {0};
	const char *opts[64] = {NULL};
	size_t nopts = 0;
	int i = 1;

	if (!p || !p->stage || !p->unstage) {
		fputs("aws_stage: the aws provider is not compiled in\n", stderr);
		return 2;
	}
	for (; i + 1 < argc && !strcmp(argv[i], "-o"); i += 2)
		if (nopts + 1 < sizeof(opts) / sizeof(opts[0]))
			opts[nopts++] = argv[i + 1];
	if (i >= argc)
		return usage();
	if (!strcmp(argv[i], "stage") && (argc - i == 5 || argc - i == 6)) {
		struct unik_stage_spec spec = {
		    .image_dir = argv[i + 1],
		    .image = argv[i + 2],
		    .image_id = argv[i + 3],
		    .image_name = argv[i + 4],
		    .cmdline = argc - i == 6 ? argv[i + 5] : "",
		    .memory_mb = 64,
		    .opts = opts,
		    .progress = on_progress,
		};

		if (p->stage(NULL, &spec, &err) < 0)
			return failed(&err);
		printf("staged=yes\n");
		return 0;
	}
	if (!strcmp(argv[i], "unstage") && argc - i == 2) {
		if (p->unstage(NULL, argv[i + 1], opts, &err) < 0)
			return failed(&err);
		printf("unstaged=yes\n");
		return 0;
	}
	return usage();
}
