/* Unit tests for the aws provider's configuration: the credential chain (environment, then
 * ~/.aws/credentials, then ~/.aws/config), profiles, regions, endpoint overrides, the INI
 * reader's strictness and the messages when nothing is found. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "providers/aws/aws.h"
#include "lib/util.h"

static char *dir;

static const char *const vars[] = {
    "AWS_ACCESS_KEY_ID",    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",          "AWS_DEFAULT_PROFILE",
    "AWS_REGION",           "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",     "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_EC2", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",      NULL,
};

static void write_file(const char *name, const char *text)
{
	_cleanup_free_ char *p = unik_path_join(dir, name);
	struct unik_error err;

	assert_int_equal(unik_write_file_atomic(p, text, strlen(text), 0600, &err), 0);
}

static int setup(void **state)
{
	struct unik_error err;
	_cleanup_free_ char *aws = NULL;

	(void)state;
	for (const char *const *v = vars; *v; v++)
		unsetenv(*v);
	dir = unik_mkdtemp("unik-aws-creds", &err);
	assert_non_null(dir);
	aws = unik_path_join(dir, ".aws");
	assert_int_equal(mkdir(aws, 0700), 0);
	setenv("HOME", dir, 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unik_rmtree(dir, NULL);
	free(dir);
	dir = NULL;
	return 0;
}

static const char creds_file[] = "# keys\n"
                                 "[default]\n"
                                 "aws_access_key_id = AKIDDEFAULT\n"
                                 "aws_secret_access_key=secretdefault\n"
                                 "\n"
                                 "  ; another comment\n"
                                 "[prod]\n"
                                 "  aws_access_key_id   =   AKIDPROD  \n"
                                 "aws_secret_access_key = secret/prod+x=\n"
                                 "aws_session_token = tok\n";

static const char config_file[] = "[default]\n"
                                  "region = eu-west-1\n"
                                  "[profile prod]\n"
                                  "region = ap-south-1\n"
                                  "s3 =\n"
                                  "    addressing_style = path\n"
                                  "[profile cfgonly]\n"
                                  "aws_access_key_id = AKIDCFG\n"
                                  "aws_secret_access_key = secretcfg\n"
                                  "endpoint_url = http://localhost:4566/\n"
                                  "[profile sso]\n"
                                  "sso_session = corp\n"
                                  "region = us-west-2\n";

static void test_environment_first(void **state)
{
	struct aws_config c;
	struct unik_error err = {0};

	(void)state;
	write_file(".aws/credentials", creds_file);
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	setenv("AWS_SESSION_TOKEN", "tokenv", 1);
	assert_int_equal(aws_config_load(NULL, &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDENV");
	assert_string_equal(c.secret_access_key, "secretenv");
	assert_string_equal(c.session_token, "tokenv");
	assert_non_null(strstr(c.source, "environment"));
	assert_string_equal(c.region, "us-east-1");
	assert_string_equal(c.ec2_endpoint, "https://ec2.us-east-1.amazonaws.com");
	assert_string_equal(c.s3_endpoint, "https://s3.us-east-1.amazonaws.com");
	assert_false(c.s3_path_style);
	aws_config_free(&c);

	/* A profile asked for by name in the options passes over the environment's keys. */
	{
		const char *opts[] = {"profile=prod", "instance_type=t3.micro", NULL};

		assert_int_equal(aws_config_load(opts, &c, &err), 0);
		assert_string_equal(c.access_key_id, "AKIDPROD");
		assert_string_equal(c.session_token, "tok");
		aws_config_free(&c);
	}

	/* Half a key pair is an error that says which half is missing. */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(aws_config_load(NULL, &c, &err), -1);
	assert_int_equal(err.code, UNIK_E_PERM);
	assert_non_null(strstr(err.msg, "AWS_SECRET_ACCESS_KEY"));
}

static void test_profiles_from_files(void **state)
{
	struct aws_config c;
	struct unik_error err = {0};
	_cleanup_free_ char *cred_path = unik_path_join(dir, ".aws/credentials");

	(void)state;
	write_file(".aws/credentials", creds_file);
	write_file(".aws/config", config_file);
	assert_int_equal(aws_config_load(NULL, &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDDEFAULT");
	assert_string_equal(c.secret_access_key, "secretdefault");
	assert_null(c.session_token);
	assert_string_equal(c.profile, "default");
	assert_string_equal(c.region, "eu-west-1");
	assert_string_equal(c.ec2_endpoint, "https://ec2.eu-west-1.amazonaws.com");
	aws_config_free(&c);

	setenv("AWS_PROFILE", "prod", 1);
	assert_int_equal(aws_config_load(NULL, &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDPROD");
	assert_string_equal(c.secret_access_key, "secret/prod+x=");
	assert_string_equal(c.session_token, "tok");
	assert_string_equal(c.region, "ap-south-1");
	assert_true(c.s3_path_style);
	{
		_cleanup_free_ char *want = xasprintf("%s [prod]", cred_path);

		assert_string_equal(c.source, want);
	}
	aws_config_free(&c);

	/* Region: options, then AWS_REGION, then AWS_DEFAULT_REGION, then the profile. */
	setenv("AWS_DEFAULT_REGION", "us-west-1", 1);
	assert_int_equal(aws_config_load(NULL, &c, &err), 0);
	assert_string_equal(c.region, "us-west-1");
	aws_config_free(&c);
	setenv("AWS_REGION", "ca-central-1", 1);
	assert_int_equal(aws_config_load(NULL, &c, &err), 0);
	assert_string_equal(c.region, "ca-central-1");
	aws_config_free(&c);
	{
		const char *opts[] = {"region=sa-east-1", NULL};

		assert_int_equal(aws_config_load(opts, &c, &err), 0);
		assert_string_equal(c.region, "sa-east-1");
		aws_config_free(&c);
	}

	/* Keys that live in the config file, and its endpoint_url. */
	setenv("AWS_PROFILE", "cfgonly", 1);
	assert_int_equal(aws_config_load(NULL, &c, &err), 0);
	assert_string_equal(c.access_key_id, "AKIDCFG");
	assert_string_equal(c.s3_endpoint, "http://localhost:4566");
	assert_string_equal(c.ec2_endpoint, "http://localhost:4566");
	assert_true(c.s3_path_style);
	assert_non_null(strstr(c.source, "config [profile cfgonly]"));
	aws_config_free(&c);

	setenv("AWS_PROFILE", "nosuch", 1);
	assert_int_equal(aws_config_load(NULL, &c, &err), -1);
	assert_non_null(strstr(err.msg, "\"nosuch\""));
	assert_non_null(strstr(err.msg, cred_path));

	/* An SSO profile has no keys unik can use, and the message says what to do. */
	setenv("AWS_PROFILE", "sso", 1);
	assert_int_equal(aws_config_load(NULL, &c, &err), -1);
	assert_int_equal(err.code, UNIK_E_PERM);
	assert_non_null(strstr(err.msg, "AWS SSO"));
	assert_non_null(strstr(err.msg, "export-credentials"));
}

static void test_other_files_and_endpoints(void **state)
{
	struct aws_config c;
	struct unik_error err = {0};
	_cleanup_free_ char *cp = unik_path_join(dir, "creds.ini");
	_cleanup_free_ char *fp = unik_path_join(dir, "conf.ini");

	(void)state;
	write_file("creds.ini", "[default]\naws_access_key_id=A\naws_secret_access_key=S\n");
	write_file("conf.ini", "[default]\nregion=eu-north-1\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", cp, 1);
	setenv("AWS_CONFIG_FILE", fp, 1);
	setenv("AWS_ENDPOINT_URL", "http://all:1", 1);
	assert_int_equal(aws_config_load(NULL, &c, &err), 0);
	assert_string_equal(c.access_key_id, "A");
	assert_string_equal(c.region, "eu-north-1");
	assert_string_equal(c.s3_endpoint, "http://all:1");
	aws_config_free(&c);

	setenv("AWS_ENDPOINT_URL_S3", "http://s3env:2", 1);
	assert_int_equal(aws_config_load(NULL, &c, &err), 0);
	assert_string_equal(c.s3_endpoint, "http://s3env:2");
	assert_string_equal(c.ec2_endpoint, "http://all:1");
	aws_config_free(&c);
	{
		const char *opts[] = {"endpoint_url=http://opt:3", NULL};

		assert_int_equal(aws_config_load(opts, &c, &err), 0);
		assert_string_equal(c.s3_endpoint, "http://opt:3");
		assert_string_equal(c.ec2_endpoint, "http://opt:3");
		aws_config_free(&c);
	}
	{
		const char *opts[] = {"endpoint_url=http://opt:3",
		                      "ec2_endpoint_url=http://ec2opt:4", "s3_path_style=false",
		                      NULL};

		assert_int_equal(aws_config_load(opts, &c, &err), 0);
		assert_string_equal(c.ec2_endpoint, "http://ec2opt:4");
		assert_false(c.s3_path_style);
		aws_config_free(&c);
	}
	{
		const char *opts[] = {"endpoint_url=ftp://x", NULL};

		assert_int_equal(aws_config_load(opts, &c, &err), -1);
		assert_int_equal(err.code, UNIK_E_INVALID);
	}
}

static void test_nothing_found(void **state)
{
	struct aws_config c;
	struct unik_error err = {0};
	_cleanup_free_ char *cp = unik_path_join(dir, ".aws/credentials");
	_cleanup_free_ char *fp = unik_path_join(dir, ".aws/config");

	(void)state;
	assert_int_equal(aws_config_load(NULL, &c, &err), -1);
	assert_int_equal(err.code, UNIK_E_PERM);
	assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID"));
	assert_non_null(strstr(err.msg, cp));
	assert_non_null(strstr(err.msg, fp));
	assert_non_null(strstr(err.msg, "no such file"));
}

static void test_ini_errors(void **state)
{
	struct aws_config c;
	struct unik_error err = {0};

	(void)state;
	write_file(".aws/credentials", "[default]\naws_access_key_id = A\nthis line is wrong\n");
	assert_int_equal(aws_config_load(NULL, &c, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	assert_non_null(strstr(err.msg, "line 3"));

	write_file(".aws/credentials", "aws_access_key_id = A\n");
	assert_int_equal(aws_config_load(NULL, &c, &err), -1);
	assert_non_null(strstr(err.msg, "line 1"));

	write_file(".aws/credentials", "[default\n");
	assert_int_equal(aws_config_load(NULL, &c, &err), -1);
	assert_non_null(strstr(err.msg, "section"));

	write_file(".aws/credentials", "[default]\naws_access_key_id = A\n");
	assert_int_equal(aws_config_load(NULL, &c, &err), -1);
	assert_int_equal(err.code, UNIK_E_PERM);
	assert_non_null(strstr(err.msg, "no aws_secret_access_key"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_environment_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_profiles_from_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_files_and_endpoints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nothing_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ini_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
