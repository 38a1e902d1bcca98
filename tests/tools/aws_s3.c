/* A door onto the aws provider's AWS layer for tests/integration/test_aws_s3.py (and anyone
 * poking an S3 emulator or a fake EC2 by hand):
 *
 *   aws_s3 [-o KEY=VALUE]... upload BUCKET KEY FILE STATE
 *   aws_s3 [-o KEY=VALUE]... delete BUCKET KEY
 *   aws_s3 [-o KEY=VALUE]... call s3|ec2 METHOD PATH [QUERY [BODY]]
 *   aws_s3 [-o KEY=VALUE]... config
 *
 * -o options go to aws_config_load.  Progress lines go to stdout as "progress=LINE"; a failure
 * prints "error=MESSAGE" and "code=NAME" (unik's code) and "aws_code=CODE" (AWS's), exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/aws/aws.h"
#include "lib/util.h"

static void on_progress(void *ctx, const char *line)
{
	(void)ctx;
	printf("progress=%s\n", line);
	fflush(stdout);
}

static int usage(void)
{
	fputs("usage: aws_s3 [-o KEY=VALUE]... upload BUCKET KEY FILE STATE\n"
	      "       aws_s3 [-o KEY=VALUE]... delete BUCKET KEY\n"
	      "       aws_s3 [-o KEY=VALUE]... call s3|ec2 METHOD PATH [QUERY [BODY]]\n"
	      "       aws_s3 [-o KEY=VALUE]... config\n",
	      stderr);
	return 2;
}

static int failed(const struct unik_error *err, const char *aws_code)
{
	printf("error=%s\ncode=%s\n", err->msg, unik_error_code_name(err->code));
	if (aws_code)
		printf("aws_code=%s\n", aws_code);
	return 1;
}

int main(int argc, char **argv)
{
	_cleanup_strv_ struct strv opts = {0};
	struct aws_config c = {0};
	struct unik_error err = {0};
	int i = 1, rc = 0;
	const char *verb;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while (i + 1 < argc && strcmp(argv[i], "-o") == 0) {
		strv_push(&opts, argv[i + 1]);
		i += 2;
	}
	if (i >= argc)
		return usage();
	verb = argv[i++];
	if (aws_config_load((const char *const *)strv_argv(&opts), &c, &err) < 0)
		return failed(&err, NULL);

	if (strcmp(verb, "upload") == 0 && argc - i == 4) {
		if (aws_s3_upload(&c, argv[i], argv[i + 1], argv[i + 2], argv[i + 3], on_progress,
		                  NULL, &err) < 0)
			rc = failed(&err, NULL);
	} else if (strcmp(verb, "delete") == 0 && argc - i == 2) {
		if (aws_s3_delete(&c, argv[i], argv[i + 1], &err) < 0)
			rc = failed(&err, NULL);
	} else if (strcmp(verb, "call") == 0 && argc - i >= 3 && argc - i <= 5) {
		bool s3 = strcmp(argv[i], "s3") == 0;
		const char *body = argc - i == 5 ? argv[i + 4] : NULL;
		static const char *const form[] = {
		    "Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
		struct aws_call call = {
		    .service = argv[i],
		    .method = argv[i + 1],
		    .endpoint = s3 ? c.s3_endpoint : c.ec2_endpoint,
		    .path = argv[i + 2],
		    .query = argc - i >= 4 ? argv[i + 3] : "",
		    .headers = s3 ? NULL : form,
		    .body = body,
		    .body_len = body ? strlen(body) : 0,
		};
		struct aws_response resp = {0};

		if (aws_request(&c, &call, &resp, &err) < 0)
			rc = failed(&err, resp.error_code);
		printf("status=%ld\n", resp.status);
		for (char **h = resp.headers; h && *h; h++)
			printf("header=%s\n", *h);
		printf("body=%s\n", resp.body ? resp.body : "");
		aws_response_free(&resp);
	} else if (strcmp(verb, "config") == 0 && argc == i) {
		printf("access_key_id=%s\nsecret_access_key=%s\nsession_token=%s\nregion=%s\n"
		       "profile=%s\nsource=%s\nec2_endpoint=%s\ns3_endpoint=%s\ns3_path_style=%d\n",
		       c.access_key_id, c.secret_access_key, c.session_token ? c.session_token : "",
		       c.region, c.profile, c.source, c.ec2_endpoint, c.s3_endpoint,
		       c.s3_path_style);
	} else {
		rc = usage();
	}
	aws_config_free(&c);
	return rc;
}
