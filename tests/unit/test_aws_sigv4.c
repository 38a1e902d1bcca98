/* Unit tests for the aws provider's SigV4 signer against AWS's published test vector, its URI
 * encoding, the error bodies of EC2 and S3, and S3's addressing styles.  The signer is compared
 * with botocore request by request in tests/integration/test_aws_sigv4.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "providers/aws/aws.h"
#include "lib/util.h"

static struct aws_config example_config(void)
{
	struct aws_config c = {
	    .access_key_id = "AKIDEXAMPLE",
	    .secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	    .region = "us-east-1",
	    .s3_endpoint = "https://s3.us-east-1.amazonaws.com",
	};
	return c;
}

/* AWS's SigV4 test suite, "get-vanilla". */
static void test_get_vanilla(void **state)
{
	struct aws_config c = example_config();
	struct aws_sign_req r = {
	    .method = "GET",
	    .host = "example.amazonaws.com",
	    .path = "/",
	    .query = "",
	    .payload_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    .service = "service",
	    .region = "us-east-1",
	    .when = 1440938160, /* 2015-08-30T12:36:00Z */
	};
	struct unik_error err = {0};
	char **out = NULL;
	_cleanup_free_ char *creq = NULL, *sts = NULL;

	(void)state;
	assert_int_equal(aws_sigv4_sign_debug(&c, &r, &out, &creq, &sts, &err), 0);
	assert_string_equal(creq,
	                    "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
	                    "\nhost;x-amz-date\n"
	                    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_string_equal(out[0], "X-Amz-Date: 20150830T123600Z");
	assert_string_equal(
	    out[1], "Authorization: AWS4-HMAC-SHA256 "
	            "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
	            "SignedHeaders=host;x-amz-date, "
	            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
	assert_null(out[2]);
	aws_strv_free(out);
}

static void test_s3_headers_and_token(void **state)
{
	struct aws_config c = example_config();
	const char *hdrs[] = {"Content-Type: text/plain", NULL};
	struct aws_sign_req r = {
	    .method = "PUT",
	    .host = "b.s3.amazonaws.com",
	    .path = "/k",
	    .query = "uploads",
	    .headers = hdrs,
	    .payload_sha256 = "UNSIGNED-PAYLOAD",
	    .service = "s3",
	    .region = "us-east-1",
	    .when = 1440938160,
	};
	struct unik_error err = {0};
	char **out = NULL;
	_cleanup_free_ char *creq = NULL;

	(void)state;
	c.session_token = "TOKEN";
	assert_int_equal(aws_sigv4_sign_debug(&c, &r, &out, &creq, NULL, &err), 0);
	assert_string_equal(out[0], "X-Amz-Date: 20150830T123600Z");
	assert_string_equal(out[1], "X-Amz-Security-Token: TOKEN");
	assert_string_equal(out[2], "X-Amz-Content-Sha256: UNSIGNED-PAYLOAD");
	assert_true(unik_str_has_prefix(out[3], "Authorization: AWS4-HMAC-SHA256 "));
	assert_non_null(strstr(out[3], "SignedHeaders=content-type;host;x-amz-content-sha256;"
	                               "x-amz-date;x-amz-security-token,"));
	assert_null(out[4]);
	/* A bare query key is signed as "key=". */
	assert_non_null(strstr(creq, "\n/k\nuploads=\n"));
	aws_strv_free(out);

	/* The signer sets Host itself. */
	hdrs[0] = "Host: evil";
	assert_int_equal(aws_sigv4_sign(&c, &r, &out, &err), -1);
	assert_int_equal(err.code, UNIK_E_INTERNAL);
}

static void test_uri_encode(void **state)
{
	_cleanup_free_ char *a = aws_uri_encode("a b/c+d=e~f_g.h-i\xc3\xa9", false);
	_cleanup_free_ char *b = aws_uri_encode("dir/disk image.raw", true);
	_cleanup_free_ char *e = aws_uri_encode("", true);
	char hex[65];

	(void)state;
	assert_string_equal(a, "a%20b%2Fc%2Bd%3De~f_g.h-i%C3%A9");
	assert_string_equal(b, "dir/disk%20image.raw");
	assert_string_equal(e, "");
	aws_sha256_hex("abc", 3, hex);
	assert_string_equal(hex,
	                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_parse_error(void **state)
{
	static const char ec2[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error>"
	    "<Code>InvalidAMIID.NotFound</Code><Message>The image id "
	    "'[ami-1]' does not exist</Message></Error></Errors>"
	    "<RequestID>x</RequestID></Response>";
	static const char s3[] = "<Error><Code>NoSuchUpload</Code><Message>gone</Message>"
	                         "<UploadId>u</UploadId></Error>";
	char *code, *msg;

	(void)state;
	assert_int_equal(aws_parse_error(ec2, strlen(ec2), &code, &msg), 0);
	assert_string_equal(code, "InvalidAMIID.NotFound");
	assert_string_equal(msg, "The image id '[ami-1]' does not exist");
	free(code);
	free(msg);
	assert_int_equal(aws_parse_error(s3, strlen(s3), &code, &msg), 0);
	assert_string_equal(code, "NoSuchUpload");
	assert_string_equal(msg, "gone");
	free(code);
	free(msg);
	assert_int_equal(aws_parse_error("<html>busy</html>", 17, &code, &msg), -1);
	assert_int_equal(aws_parse_error("not xml", 7, &code, &msg), -1);
	assert_int_equal(aws_parse_error("", 0, &code, &msg), -1);
}

static void test_s3_location(void **state)
{
	struct aws_config c = example_config();
	char *ep, *path;

	(void)state;
	aws_s3_location(&c, "unik-images", "dir/disk image.raw", &ep, &path);
	assert_string_equal(ep, "https://unik-images.s3.us-east-1.amazonaws.com");
	assert_string_equal(path, "/dir/disk%20image.raw");
	free(ep);
	free(path);
	/* Dots would break the wildcard certificate: path-style. */
	aws_s3_location(&c, "my.bucket", "", &ep, &path);
	assert_string_equal(ep, "https://s3.us-east-1.amazonaws.com");
	assert_string_equal(path, "/my.bucket");
	free(ep);
	free(path);
	c.s3_endpoint = "http://127.0.0.1:4568";
	c.s3_path_style = true;
	aws_s3_location(&c, "b-1", "k", &ep, &path);
	assert_string_equal(ep, "http://127.0.0.1:4568");
	assert_string_equal(path, "/b-1/k");
	free(ep);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_vanilla), cmocka_unit_test(test_s3_headers_and_token),
	    cmocka_unit_test(test_uri_encode),  cmocka_unit_test(test_parse_error),
	    cmocka_unit_test(test_s3_location),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
