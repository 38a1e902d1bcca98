/* Unit tests for the EC2 side of the aws provider: the form body, the XML parsers against answers
 * shaped as in the EC2 API reference (default namespace, nested item sets), base64, the instance
 * type table, console de-duplication, names, and status() against a tiny local EC2 that counts
 * calls (rate limiting, console copying, the exit line, the settled end). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "providers/provider.h"
#include "providers/aws/aws.h"
#include "providers/aws/awsprov.h"
#include "providers/aws/ec2.h"

/* ---- form and XML -------------------------------------------------------------------------- */

static void test_form(void **state)
{
	(void)state;
	const char *p[] = {"DiskContainer.UserBucket.S3Key=unik/ab c/disk.raw",
	                   "TagSpecification.1.Tag.1.Value=a:b=c&d~e", "Empty=", NULL};
	_cleanup_free_ char *body = aws_ec2_form("ImportSnapshot", p);

	assert_string_equal(body, "Action=ImportSnapshot&Version=2016-11-15"
	                          "&DiskContainer.UserBucket.S3Key=unik%2Fab%20c%2Fdisk.raw"
	                          "&TagSpecification.1.Tag.1.Value=a%3Ab%3Dc%26d~e&Empty=");
	_cleanup_free_ char *bare = aws_ec2_form("DescribeInstances", NULL);
	assert_string_equal(bare, "Action=DescribeInstances&Version=2016-11-15");
}

/* DescribeInstances as the API reference shows it, trimmed: the instance's own
 * privateIpAddress must win over the network interface's. */
static const char DESCRIBE[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
    "  <requestId>8f7724cf-496f-496e-8fe3-example</requestId>\n"
    "  <reservationSet><item><reservationId>r-1234567890abcdef0</reservationId>\n"
    "    <instancesSet><item>\n"
    "      <instanceId>i-1234567890abcdef0</instanceId>\n"
    "      <imageId>ami-bff32ccc</imageId>\n"
    "      <instanceState><code>80</code><name>stopped</name></instanceState>\n"
    "      <networkInterfaceSet><item><privateIpAddress>10.9.9.9</privateIpAddress>\n"
    "        </item></networkInterfaceSet>\n"
    "      <privateIpAddress>192.168.1.88</privateIpAddress>\n"
    "      <ipAddress>54.194.252.215</ipAddress>\n"
    "      <stateReason><code>Client.InstanceInitiatedShutdown</code>\n"
    "        <message>Client.InstanceInitiatedShutdown: Instance initiated shutdown</message>\n"
    "      </stateReason>\n"
    "      <tagSet><item><key>Name</key><value>x</value></item></tagSet>\n"
    "    </item></instancesSet>\n"
    "  </item></reservationSet>\n"
    "</DescribeInstancesResponse>\n";

static void test_parse_instance(void **state)
{
	(void)state;
	struct ec2_instance in;
	struct unik_error err = {0};
	static const char empty[] =
	    "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
	    "<requestId>x</requestId><reservationSet/></DescribeInstancesResponse>";

	assert_int_equal(aws_ec2_parse_instance(DESCRIBE, strlen(DESCRIBE), &in, &err), 0);
	assert_string_equal(in.state, "stopped");
	assert_string_equal(in.private_ip, "192.168.1.88");
	assert_string_equal(in.public_ip, "54.194.252.215");
	assert_string_equal(in.reason, "Client.InstanceInitiatedShutdown: Instance initiated "
	                               "shutdown");
	assert_int_equal(aws_ec2_parse_instance(empty, strlen(empty), &in, &err), -1);
	assert_int_equal(err.code, UNIK_E_NOTFOUND);
	assert_true(aws_ec2_error_is(&err, ".NotFound"));
	assert_int_equal(aws_ec2_parse_instance("<oops", 5, &in, &err), -1);
	assert_int_equal(err.code, UNIK_E_IO);
}

static void test_parse_import(void **state)
{
	(void)state;
	static const char active[] =
	    "<DescribeImportSnapshotTasksResponse "
	    "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
	    "<requestId>r</requestId><importSnapshotTaskSet><item>"
	    "<importTaskId>import-snap-1</importTaskId><snapshotTaskDetail>"
	    "<diskImageSize>0.0</diskImageSize><format>RAW</format><progress>42</progress>"
	    "<status>active</status><statusMessage>converting</statusMessage>"
	    "<userBucket><s3Bucket>b</s3Bucket><s3Key>k</s3Key></userBucket>"
	    "</snapshotTaskDetail></item></importSnapshotTaskSet>"
	    "</DescribeImportSnapshotTasksResponse>";
	static const char done[] =
	    "<DescribeImportSnapshotTasksResponse "
	    "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
	    "<importSnapshotTaskSet><item><importTaskId>import-snap-1</importTaskId>"
	    "<snapshotTaskDetail><snapshotId>snap-0123</snapshotId><status>completed</status>"
	    "</snapshotTaskDetail></item></importSnapshotTaskSet>"
	    "</DescribeImportSnapshotTasksResponse>";
	struct ec2_import_task t;
	struct unik_error err = {0};

	assert_int_equal(aws_ec2_parse_import_task(active, strlen(active), &t, &err), 0);
	assert_string_equal(t.status, "active");
	assert_string_equal(t.progress, "42");
	assert_string_equal(t.message, "converting");
	assert_string_equal(t.snapshot, "");
	assert_int_equal(aws_ec2_parse_import_task(done, strlen(done), &t, &err), 0);
	assert_string_equal(t.status, "completed");
	assert_string_equal(t.snapshot, "snap-0123");
}

static void test_xml_text(void **state)
{
	(void)state;
	static const char reg[] =
	    "<RegisterImageResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
	    "<requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>"
	    "<imageId>ami-1234567890EXAMPLE</imageId></RegisterImageResponse>";
	_cleanup_free_ char *ami = aws_ec2_xml_text(reg, strlen(reg), "imageId");

	assert_string_equal(ami, "ami-1234567890EXAMPLE");
	assert_null(aws_ec2_xml_text(reg, strlen(reg), "instanceId"));
	assert_null(aws_ec2_xml_text("not xml", 7, "imageId"));
	assert_null(aws_ec2_xml_text("", 0, "imageId"));
}

static void test_error_is(void **state)
{
	(void)state;
	struct unik_error err = {0};

	assert_false(aws_ec2_error_is(&err, ".NotFound"));
	unik_error_set(&err, UNIK_E_NOTFOUND,
	               "DeregisterImage: AWS EC2: InvalidAMIID.NotFound: The image id "
	               "'[ami-1]' does not exist");
	assert_true(aws_ec2_error_is(&err, ".NotFound"));
	assert_true(aws_ec2_error_is(&err, "InvalidAMIID.NotFound"));
	assert_false(aws_ec2_error_is(&err, "InvalidInstanceID.NotFound"));
}

/* ---- base64, types, names ------------------------------------------------------------------ */

static void test_base64(void **state)
{
	(void)state;
	static const char *const vec[][2] = {{"", ""},
	                                     {"f", "Zg=="},
	                                     {"fo", "Zm8="},
	                                     {"foo", "Zm9v"},
	                                     {"foob", "Zm9vYg=="},
	                                     {"fooba", "Zm9vYmE="},
	                                     {"foobar", "Zm9vYmFy"}};
	char bin[256];
	char *out;
	size_t len;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		_cleanup_free_ char *e = aws_base64_encode(vec[i][0], strlen(vec[i][0]));

		assert_string_equal(e, vec[i][1]);
		assert_int_equal(aws_base64_decode(vec[i][1], &out, &len), 0);
		assert_int_equal(len, strlen(vec[i][0]));
		assert_memory_equal(out, vec[i][0], len);
		free(out);
	}
	for (int i = 0; i < 256; i++)
		bin[i] = (char)i;
	_cleanup_free_ char *e = aws_base64_encode(bin, sizeof(bin));
	assert_int_equal(aws_base64_decode(e, &out, &len), 0);
	assert_int_equal(len, sizeof(bin));
	assert_memory_equal(out, bin, sizeof(bin));
	free(out);
	/* EC2 wraps long output; whitespace is skipped, junk is not. */
	assert_int_equal(aws_base64_decode("Zm9v\nYmFy\r\n", &out, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(out, "foobar", 6);
	free(out);
	assert_int_equal(aws_base64_decode("Zm9v*mFy", &out, &len), -1);
	assert_int_equal(aws_base64_decode("Zg==Zg==", &out, &len), -1);
}

static void test_instance_types(void **state)
{
	(void)state;
	assert_string_equal(aws_instance_type_for(0), "t3.nano");
	assert_string_equal(aws_instance_type_for(64), "t3.nano");
	assert_string_equal(aws_instance_type_for(512), "t3.nano");
	assert_string_equal(aws_instance_type_for(513), "t3.micro");
	assert_string_equal(aws_instance_type_for(1024), "t3.micro");
	assert_string_equal(aws_instance_type_for(2048), "t3.small");
	assert_string_equal(aws_instance_type_for(4096), "t3.medium");
	assert_string_equal(aws_instance_type_for(8192), "t3.large");
	assert_string_equal(aws_instance_type_for(8193), "m5.xlarge");
	assert_string_equal(aws_instance_type_for(393216), "m5.24xlarge");
	assert_null(aws_instance_type_for(393217));
}

static void test_names(void **state)
{
	(void)state;
	_cleanup_free_ char *b1 = aws_default_bucket("eu-west-1", "AKIDEXAMPLE");
	_cleanup_free_ char *b2 = aws_default_bucket("eu-west-1", "AKIDEXAMPLE");
	_cleanup_free_ char *b3 = aws_default_bucket("eu-west-1", "AKIDOTHER");
	_cleanup_free_ char *n = aws_ami_name("my app/v2:latest", "0123456789ab", 1700000000);

	assert_string_equal(b1, b2);
	assert_string_not_equal(b1, b3);
	assert_int_equal(strlen(b1), strlen("unik-eu-west-1-") + 10);
	for (const char *p = b1; *p; p++)
		assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-');
	assert_string_equal(n, "unik-my-app/v2-latest-0123456789ab-1700000000");
}

static void test_variants(void **state)
{
	(void)state;
	char k1[17], k2[17], hex[65];
	_cleanup_free_ char *n = NULL, *a = NULL;
	_cleanup_strv_ struct strv keys = {0}, none = {0};
	bool variant = true;
	const char *text = "cmdline=args baked\n"
	                   "image_id=0123456789ab\n"
	                   "us-east-1.bucket=b\n"
	                   "us-east-1.ami=ami-base\n"
	                   "us-east-1.done=1\n"
	                   "us-east-1.variant.00112233aabbccdd.cmdline=args x.y=z\n"
	                   "us-east-1.variant.00112233aabbccdd.ami=ami-v1\n"
	                   "us-east-1.variant.00112233aabbccdd.done=1\n"
	                   "us-east-1.variant.ffeeddcc00112233.task=import-snap-1\n"
	                   "eu-west-1.variant.0101010101010101.ami=ami-eu\n"
	                   "us-east-1.variant..ami=ami-bad\n"
	                   "us-east-1.variant.junk=x.y\n";

	/* The key: the first 16 hex digits of the command line's SHA-256. */
	aws_variant_key("args one", k1);
	aws_variant_key("args two", k2);
	aws_sha256_hex("args one", 8, hex);
	assert_int_equal(strlen(k1), 16);
	assert_memory_equal(k1, hex, 16);
	assert_string_not_equal(k1, k2);
	n = aws_variant_ami_name("my app", "0123456789ab", "00112233aabbccdd", 1700000000);
	assert_string_equal(n, "unik-my-app-0123456789ab-00112233-1700000000");

	/* Variants per region, each once, in order; malformed keys are skipped. */
	assert_int_equal(aws_state_variants(text, "us-east-1", &keys), 2);
	assert_string_equal(keys.v[0], "00112233aabbccdd");
	assert_string_equal(keys.v[1], "ffeeddcc00112233");
	assert_int_equal(aws_state_variants(text, "us-west-2", &none), 0);

	/* Which AMI boots a command line: the image's own for "" and the baked one. */
	a = aws_state_ami_for(text, "us-east-1", "", &variant);
	assert_string_equal(a, "ami-base");
	assert_false(variant);
	free(a);
	a = aws_state_ami_for(text, "us-east-1", "args baked", &variant);
	assert_string_equal(a, "ami-base");
	assert_false(variant);
	free(a);
	/* Another command line: its variant once finished, else none yet. */
	a = aws_state_ami_for(text, "us-east-1", "args other", &variant);
	assert_null(a);
	assert_true(variant);
	/* Not staged in a region: nothing, whatever the command line. */
	a = aws_state_ami_for(text, "eu-west-1", "", &variant);
	assert_null(a);
	assert_false(variant);
	/* Staged without a recorded command line: any non-empty one needs a variant. */
	a = aws_state_ami_for("us-east-1.ami=ami-x\nus-east-1.done=1\n", "us-east-1", "args",
	                      &variant);
	assert_null(a);
	assert_true(variant);
}

static void test_variant_lookup(void **state)
{
	(void)state;
	char key[17];
	bool variant = false;
	_cleanup_free_ char *text = NULL, *pending = NULL, *a = NULL, *b = NULL;

	/* A finished variant is found by its command line's key; an unfinished one is not. */
	aws_variant_key("args one", key);
	text = xasprintf("cmdline=args\nus-east-1.ami=ami-base\nus-east-1.done=1\n"
	                 "us-east-1.variant.%s.ami=ami-one\nus-east-1.variant.%s.done=1\n",
	                 key, key);
	a = aws_state_ami_for(text, "us-east-1", "args one", &variant);
	assert_string_equal(a, "ami-one");
	assert_true(variant);
	pending = xasprintf("cmdline=args\nus-east-1.ami=ami-base\nus-east-1.done=1\n"
	                    "us-east-1.variant.%s.ami=ami-one\n",
	                    key);
	b = aws_state_ami_for(pending, "us-east-1", "args one", &variant);
	assert_null(b);
	assert_true(variant);
}

static void test_console_seen(void **state)
{
	(void)state;
	/* First snapshot, growth, nothing new, a slid window, a restarted console. */
	assert_int_equal(aws_console_seen(NULL, 0, "abc", 3), 0);
	assert_int_equal(aws_console_seen("abc", 3, "abcdef", 6), 3);
	assert_int_equal(aws_console_seen("abcdef", 6, "abcdef", 6), 6);
	assert_int_equal(aws_console_seen("abcdef", 6, "cdefgh", 6), 4);
	assert_int_equal(aws_console_seen("abcdef", 6, "xyz", 3), 0);
	assert_int_equal(aws_console_seen("aaaa", 4, "aaab", 4), 3);
}

static void test_provider_table(void **state)
{
	(void)state;
	const struct unik_provider *p = &unik_provider_aws;
	size_t k = 0, h = 0;

	assert_string_equal(p->name, "aws");
	assert_string_equal(p->image_format, "raw");
	assert_non_null(p->stage);
	assert_non_null(p->unstage);
	assert_non_null(p->start);
	assert_true(unik_provider_attaches(p, UNIK_DEVICE_NET));
	assert_true(unik_provider_attaches(p, UNIK_DEVICE_BLK));
	assert_false(unik_provider_attaches(p, UNIK_DEVICE_FS));
	while (p->opt_keys[k])
		k++;
	while (p->opt_help[h])
		h++;
	assert_int_equal(k, h);
	for (const char *want[] = {"profile", "region", "endpoint_url", "s3_endpoint_url",
	                           "ec2_endpoint_url", "bucket", "instance_type", "subnet",
	                           "security_group", "key_name", NULL},
	                *const *w = want;
	     *w; w++) {
		bool found = false;

		for (size_t i = 0; i < k; i++)
			found |= !strcmp(p->opt_keys[i], *w);
		assert_true(found);
	}
}

/* ---- status() against a tiny EC2 ----------------------------------------------------------- */

struct mini_ec2 {
	int fd;
	int port;
	pthread_t thread;
	pthread_mutex_t lock;
	int describe, console, stop;
	const char *state;  /* instanceState/name */
	const char *output; /* console text */
};

static void reply(int c, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
	                 "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: %zu\r\n"
	                 "Connection: close\r\n\r\n",
	                 strlen(body));

	assert_int_equal(unik_write_all(c, head, (size_t)n), 0);
	assert_int_equal(unik_write_all(c, body, strlen(body)), 0);
}

static void *mini_serve(void *arg)
{
	struct mini_ec2 *m = arg;

	for (;;) {
		int c = accept(m->fd, NULL, NULL);
		char buf[16384];
		size_t got = 0;
		char *hend = NULL;
		long clen = 0;

		if (c < 0)
			return NULL;
		/* Headers, then Content-Length bytes of form. */
		while (got + 1 < sizeof(buf)) {
			ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);

			if (n <= 0)
				break;
			got += (size_t)n;
			buf[got] = '\0';
			if (!hend && (hend = strstr(buf, "\r\n\r\n"))) {
				char *cl = strcasestr(buf, "content-length:");

				clen = cl ? strtol(cl + 15, NULL, 10) : 0;
			}
			if (hend && (long)(got - (size_t)(hend + 4 - buf)) >= clen)
				break;
		}
		pthread_mutex_lock(&m->lock);
		if (strstr(buf, "Action=DescribeInstances")) {
			char *body;

			m->describe++;
			body = xasprintf(
			    "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/"
			    "2016-11-15/\"><reservationSet><item><instancesSet><item>"
			    "<instanceId>i-0abc</instanceId><instanceState><name>%s</name>"
			    "</instanceState><privateIpAddress>10.1.2.3</privateIpAddress>"
			    "</item></instancesSet></item></reservationSet>"
			    "</DescribeInstancesResponse>",
			    m->state);
			reply(c, body);
			free(body);
		} else if (strstr(buf, "Action=GetConsoleOutput")) {
			_cleanup_free_ char *b64 = aws_base64_encode(m->output, strlen(m->output));
			char *body =
			    xasprintf("<GetConsoleOutputResponse xmlns=\"http://ec2.amazonaws."
			              "com/doc/2016-11-15/\"><instanceId>i-0abc</instanceId>"
			              "<output>%s</output></GetConsoleOutputResponse>",
			              b64);

			m->console++;
			reply(c, body);
			free(body);
		} else if (strstr(buf, "Action=StopInstances")) {
			m->stop++;
			reply(c, "<StopInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/"
			         "2016-11-15/\"><instancesSet/></StopInstancesResponse>");
		} else {
			reply(c, "<x/>");
		}
		pthread_mutex_unlock(&m->lock);
		close(c);
	}
}

static void mini_start(struct mini_ec2 *m)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	m->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(m->fd >= 0);
	assert_int_equal(bind(m->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(m->fd, 16), 0);
	assert_int_equal(getsockname(m->fd, (struct sockaddr *)&a, &al), 0);
	m->port = ntohs(a.sin_port);
	pthread_mutex_init(&m->lock, NULL);
	assert_int_equal(pthread_create(&m->thread, NULL, mini_serve, m), 0);
}

static void set_mini(struct mini_ec2 *m, const char *state, const char *output)
{
	pthread_mutex_lock(&m->lock);
	m->state = state;
	m->output = output;
	pthread_mutex_unlock(&m->lock);
}

static int counted(struct mini_ec2 *m, int *what)
{
	int n;

	pthread_mutex_lock(&m->lock);
	n = *what;
	pthread_mutex_unlock(&m->lock);
	return n;
}

static char *slurp(const char *dir, const char *name)
{
	_cleanup_free_ char *p = unik_path_join(dir, name);
	char *text = NULL;

	if (unik_read_file(p, &text, NULL, NULL) < 0)
		return NULL;
	return text;
}

static void test_status_rate_limit(void **state)
{
	(void)state;
	static struct mini_ec2 m;
	struct unik_error err = {0};
	struct unik_instance_status st;
	_cleanup_free_ char *dir = unik_mkdtemp("test-aws", &err);
	_cleanup_free_ char *rec = NULL, *path = NULL, *log = NULL;

	assert_non_null(dir);
	setenv("AWS_ACCESS_KEY_ID", "AKIDUNIT", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	unsetenv("AWS_SESSION_TOKEN");
	mini_start(&m);
	set_mini(&m, "running", "boot\nhello\n");
	rec = xasprintf("provider=aws\nec2_instance=i-0abc\nami=ami-1\nregion=us-east-1\n"
	                "ec2_endpoint_url=http://127.0.0.1:%d\n",
	                m.port);
	path = unik_path_join(dir, "provider.state");
	assert_int_equal(unik_write_file_atomic(path, rec, strlen(rec), 0644, &err), 0);

	/* Many calls within the period cost one DescribeInstances and one console fetch. */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(unik_provider_aws.status(NULL, dir, &st, &err), 0);
		assert_int_equal(st.state, UNIK_STATE_RUNNING);
	}
	assert_int_equal(counted(&m, &m.describe), 1);
	assert_int_equal(counted(&m, &m.console), 1);
	assert_string_equal(st.handle, "i-0abc");
	assert_string_equal(st.handle_id, "ami-1");
	assert_string_equal(st.ip, "10.1.2.3");
	log = slurp(dir, "console.log");
	assert_string_equal(log, "boot\nhello\n");

	/* The guest ends: the next period sees only the new bytes and the exit line. */
	set_mini(&m, "stopped", "boot\nhello\nunik: exit status 7\n");
	sleep(2);
	assert_int_equal(unik_provider_aws.status(NULL, dir, &st, &err), 0);
	assert_int_equal(st.state, UNIK_STATE_EXITED);
	assert_int_equal(st.exit_code, 7);
	free(log);
	log = slurp(dir, "console.log");
	assert_string_equal(log, "boot\nhello\nunik: exit status 7\n");
	assert_int_equal(counted(&m, &m.stop), 0);

	/* Settled: later calls, even after the period, ask AWS nothing. */
	sleep(2);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(unik_provider_aws.status(NULL, dir, &st, &err), 0);
		assert_int_equal(st.state, UNIK_STATE_EXITED);
		assert_int_equal(st.exit_code, 7);
	}
	assert_int_equal(counted(&m, &m.describe), 2);
	assert_int_equal(unik_rmtree(dir, &err), 0);
}

static void test_status_autostop(void **state)
{
	(void)state;
	static struct mini_ec2 m;
	struct unik_error err = {0};
	struct unik_instance_status st;
	_cleanup_free_ char *dir = unik_mkdtemp("test-aws", &err);
	_cleanup_free_ char *rec = NULL, *path = NULL;

	setenv("AWS_ACCESS_KEY_ID", "AKIDUNIT", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	mini_start(&m);
	/* An exit line cut before its newline is not taken yet while the instance runs. */
	set_mini(&m, "running", "hello\nunik: exit status 4");
	rec = xasprintf("provider=aws\nec2_instance=i-0abc\nami=ami-1\nregion=us-east-1\n"
	                "ec2_endpoint_url=http://127.0.0.1:%d\n",
	                m.port);
	path = unik_path_join(dir, "provider.state");
	assert_int_equal(unik_write_file_atomic(path, rec, strlen(rec), 0644, &err), 0);
	assert_int_equal(unik_provider_aws.status(NULL, dir, &st, &err), 0);
	assert_int_equal(st.state, UNIK_STATE_RUNNING);
	/* Once whole, the exit line counts, and a guest that cannot power the instance off
	 * does not leave it running (and billed). */
	set_mini(&m, "running", "hello\nunik: exit status 42\n");
	sleep(2);
	assert_int_equal(unik_provider_aws.status(NULL, dir, &st, &err), 0);
	assert_int_equal(st.state, UNIK_STATE_EXITED);
	assert_int_equal(st.exit_code, 42);
	assert_int_equal(counted(&m, &m.stop), 1);
	assert_int_equal(unik_rmtree(dir, &err), 0);
}

/* A NIC is the primary network interface: one at most, no host network or tap, ports on their
 * own numbers and only with a security group; each port one rule. */
static void test_ingress_rules(void **state)
{
	(void)state;
	static const struct unik_port ports[] = {
	    {.proto = UNIK_PORT_TCP, .host_port = 80, .guest_port = 80},
	    {.proto = UNIK_PORT_UDP, .host_ip = "198.51.100.4", .host_port = 53, .guest_port = 53},
	};
	struct unik_device d[2] = {
	    {.kind = UNIK_DEVICE_NET, .name = "net0", .ports = ports, .nports = 2},
	    {.kind = UNIK_DEVICE_NET, .name = "net1"},
	};
	struct unik_port mapped = {.proto = UNIK_PORT_TCP, .host_port = 8080, .guest_port = 80};
	struct unik_error err = {0};
	_cleanup_strv_ struct strv rules = {0};

	assert_int_equal(aws_ingress_rules(d, 1, "sg-1", &rules, &err), 0);
	assert_int_equal(rules.n, 2);
	assert_string_equal(rules.v[0], "tcp:80:0.0.0.0/0");
	assert_string_equal(rules.v[1], "udp:53:198.51.100.4/32");
	strv_free(&rules);
	assert_int_equal(aws_ingress_rules(d, 1, NULL, &rules, &err), -1);
	assert_int_equal(err.code, UNIK_E_INVALID);
	assert_non_null(strstr(err.msg, "security_group="));
	assert_int_equal(aws_ingress_rules(d, 2, "sg-1", &rules, &err), -1);
	assert_int_equal(err.code, UNIK_E_UNSUPPORTED);
	d[0].ports = &mapped;
	d[0].nports = 1;
	assert_int_equal(aws_ingress_rules(d, 1, "sg-1", &rules, &err), -1);
	assert_non_null(strstr(err.msg, "80:80"));
	d[0].nports = 0;
	d[0].tap = "uktap0";
	assert_int_equal(aws_ingress_rules(d, 1, "sg-1", &rules, &err), -1);
	assert_non_null(strstr(err.msg, "tap \"uktap0\""));
	d[0].tap = NULL;
	assert_int_equal(aws_ingress_rules(d, 1, NULL, &rules, &err), 0);
	assert_int_equal(rules.n, 0);
}

/* The core's words for the NIC come off the command line; anything else stays. */
static void test_cmdline_without_devices(void **state)
{
	(void)state;
	struct unik_device d = {.kind = UNIK_DEVICE_NET,
	                        .name = "net0",
	                        .ip = "10.0.2.15/24",
	                        .gateway = "10.0.2.2",
	                        .dns = "10.0.2.3",
	                        .mac = "52:54:00:12:34:56"};
	_cleanup_free_ char *full = unik_devices_cmdline(&d, 1, "A=1 app 'x y'");
	_cleanup_free_ char *bare = unik_devices_cmdline(&d, 1, "");
	_cleanup_free_ char *a = aws_cmdline_without_devices(full, &d, 1);
	_cleanup_free_ char *b = aws_cmdline_without_devices(bare, &d, 1);
	_cleanup_free_ char *c = aws_cmdline_without_devices("app unik.net0=1", &d, 1);
	_cleanup_free_ char *e = aws_cmdline_without_devices("app", NULL, 0);
	/* core/vm.c's hostname word after the devices' comes off too. */
	_cleanup_free_ char *named = unik_devices_cmdline(&d, 1, "unik.hostname=web-1 A=1 app");
	_cleanup_free_ char *alone = unik_devices_cmdline(&d, 1, "unik.hostname=web-1");
	_cleanup_free_ char *f = aws_cmdline_without_devices(named, &d, 1);
	_cleanup_free_ char *g = aws_cmdline_without_devices(alone, &d, 1);

	assert_string_equal(f, "A=1 app");
	assert_string_equal(g, "");
	assert_string_equal(a, "A=1 app 'x y'");
	assert_string_equal(b, "");
	assert_string_equal(c, "app unik.net0=1");
	assert_string_equal(e, "app");
}

/* A run with volumes keeps their manifest words (in order, with ,ro) in front of its own line,
 * or of the image's baked one; the NIC's words come off; shares and qcow2 disks are refused. */
static void test_guest_cmdline_volumes(void **state)
{
	(void)state;
	struct unik_device d[3] = {
	    {.kind = UNIK_DEVICE_NET, .name = "net0", .mac = "52:54:00:12:34:56"},
	    {.kind = UNIK_DEVICE_BLK, .name = "vol0", .path = "/v/0", .mount = "/data"},
	    {.kind = UNIK_DEVICE_BLK,
	     .name = "vol1",
	     .path = "/v/1",
	     .mount = "/ref",
	     .readonly = 1},
	};
	struct unik_device share = {
	    .kind = UNIK_DEVICE_FS, .name = "share0", .path = "/srv", .mount = "/srv"};
	struct unik_error err = {0};
	_cleanup_strv_ struct strv rules = {0};
	_cleanup_free_ char *full = unik_devices_cmdline(d, 3, "app x");
	_cleanup_free_ char *bare = unik_devices_cmdline(d, 3, "");
	_cleanup_free_ char *a = aws_guest_cmdline(full, d, 3, "baked");
	_cleanup_free_ char *b = aws_guest_cmdline(bare, d, 3, "baked line");
	_cleanup_free_ char *c = aws_guest_cmdline(bare, d, 3, NULL);

	assert_string_equal(a, "unik.dev.vol0=blk,at=/data unik.dev.vol1=blk,ro,at=/ref app x");
	assert_string_equal(b,
	                    "unik.dev.vol0=blk,at=/data unik.dev.vol1=blk,ro,at=/ref baked line");
	assert_string_equal(c, "unik.dev.vol0=blk,at=/data unik.dev.vol1=blk,ro,at=/ref");
	assert_int_equal(aws_ingress_rules(d, 3, NULL, &rules, &err), 0);
	assert_int_equal(aws_ingress_rules(&share, 1, NULL, &rules, &err), -1);
	assert_int_equal(err.code, UNIK_E_UNSUPPORTED);
	assert_non_null(strstr(err.msg, "host shares need a local hypervisor; use a volume"));
	d[1].format = "qcow2";
	assert_int_equal(aws_ingress_rules(d, 3, NULL, &rules, &err), -1);
	assert_int_equal(err.code, UNIK_E_UNSUPPORTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form),
	    cmocka_unit_test(test_parse_instance),
	    cmocka_unit_test(test_parse_import),
	    cmocka_unit_test(test_xml_text),
	    cmocka_unit_test(test_error_is),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_instance_types),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_variants),
	    cmocka_unit_test(test_variant_lookup),
	    cmocka_unit_test(test_console_seen),
	    cmocka_unit_test(test_provider_table),
	    cmocka_unit_test(test_status_rate_limit),
	    cmocka_unit_test(test_status_autostop),
	    cmocka_unit_test(test_ingress_rules),
	    cmocka_unit_test(test_cmdline_without_devices),
	    cmocka_unit_test(test_guest_cmdline_volumes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
