/* The EC2 Query API: form-encoded POSTs signed for service "ec2", and the few actions the aws
 * provider needs, with their XML answers read through libxml2.  Shapes follow the EC2 API
 * reference for version 2016-11-15. */
#include "providers/aws/ec2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

/* ---- the call ------------------------------------------------------------------------------ */

char *aws_ec2_form(const char *action, const char *const *params)
{
	_cleanup_free_ char *a = aws_uri_encode(action, false);
	char *body = xasprintf("Action=%s&Version=%s", a, EC2_API_VERSION);

	for (size_t i = 0; params && params[i]; i++) {
		const char *eq = strchr(params[i], '=');
		_cleanup_free_ char *name =
		    eq ? xstrndup(params[i], (size_t)(eq - params[i])) : xstrdup(params[i]);
		_cleanup_free_ char *k = aws_uri_encode(name, false);
		_cleanup_free_ char *v = aws_uri_encode(eq ? eq + 1 : "", false);
		char *next = xasprintf("%s&%s=%s", body, k, v);

		free(body);
		body = next;
	}
	return body;
}

int aws_ec2_call(const struct aws_config *c, const char *action, const char *const *params,
                 struct aws_response *resp, struct unik_error *err)
{
	static const char *const headers[] = {
	    "Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
	_cleanup_free_ char *body = aws_ec2_form(action, params);
	struct aws_call call = {
	    .service = "ec2",
	    .method = "POST",
	    .endpoint = c->ec2_endpoint,
	    .path = "/",
	    .query = "",
	    .headers = headers,
	    .body = body,
	    .body_len = strlen(body),
	};

	if (aws_request(c, &call, resp, err) < 0) {
		/* The error (AWS's code and message) is in err; the failed answer is not kept. */
		aws_response_free(resp);
		unik_error_prefix(err, "%s", action);
		return -1;
	}
	return 0;
}

bool aws_ec2_error_is(const struct unik_error *err, const char *suffix)
{
	_cleanup_free_ char *pat = xasprintf("%s:", suffix);

	return err && err->code != UNIK_OK && strstr(err->msg, pat) != NULL;
}

/* ---- XML ----------------------------------------------------------------------------------- */

static xmlDocPtr parse_xml(const char *xml, size_t len)
{
	if (!xml || len == 0 || len > (size_t)INT32_MAX)
		return NULL;
	return xmlReadMemory(xml, (int)len, "ec2.xml", NULL,
	                     XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
	                         XML_PARSE_NOWARNING);
}

static bool named(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

/* The first element named name at or below n, depth first. */
static xmlNodePtr find_desc(xmlNodePtr n, const char *name)
{
	for (; n; n = n->next) {
		xmlNodePtr r;

		if (named(n, name))
			return n;
		if (n->type == XML_ELEMENT_NODE && (r = find_desc(n->children, name)))
			return r;
	}
	return NULL;
}

/* The direct child named name. */
static xmlNodePtr child(xmlNodePtr n, const char *name)
{
	for (xmlNodePtr k = n ? n->children : NULL; k; k = k->next)
		if (named(k, name))
			return k;
	return NULL;
}

/* Follows "a/b/c" through direct children. */
static xmlNodePtr path(xmlNodePtr n, const char *p)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "%s", p);
	for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok && n;
	     tok = strtok_r(NULL, "/", &save))
		n = child(n, tok);
	return n;
}

/* The node's text, trimmed, into out (empty when n is NULL). */
static void text_into(xmlNodePtr n, char *out, size_t size)
{
	xmlChar *t = n ? xmlNodeGetContent(n) : NULL;
	const char *s = t ? (const char *)t : "";
	size_t len;

	while (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
		s++;
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\n' || s[len - 1] == '\r' ||
	               s[len - 1] == '\t'))
		len--;
	if (len >= size)
		len = size - 1;
	memcpy(out, s, len);
	out[len] = '\0';
	xmlFree(t);
}

char *aws_ec2_xml_text(const char *xml, size_t len, const char *name)
{
	xmlDocPtr doc = parse_xml(xml, len);
	xmlNodePtr n;
	char *r = NULL;

	if (!doc)
		return NULL;
	n = find_desc(xmlDocGetRootElement(doc), name);
	if (n) {
		xmlChar *t = xmlNodeGetContent(n);

		r = xstrdup(t ? (const char *)t : "");
		xmlFree(t);
	}
	xmlFreeDoc(doc);
	return r;
}

/* The text of element name in a successful answer, which EC2 must have sent. */
static int answer_text(const char *action, const struct aws_response *resp, const char *name,
                       char **out, struct unik_error *err)
{
	*out = aws_ec2_xml_text(resp->body, resp->body_len, name);
	if (!*out || !**out) {
		free(*out);
		*out = NULL;
		unik_error_set(err, UNIK_E_IO, "AWS EC2: %s: the answer has no <%s>", action, name);
		return -1;
	}
	return 0;
}

/* ---- import -------------------------------------------------------------------------------- */

int aws_ec2_import_snapshot(const struct aws_config *c, const char *bucket, const char *key,
                            const char *description, const char *role, char **task_id,
                            struct unik_error *err)
{
	_cleanup_strv_ struct strv p = {0};
	struct aws_response resp = {0};
	int rc;

	strv_pushf(&p, "Description=%s", description);
	strv_push(&p, "DiskContainer.Description=unik raw disk");
	strv_push(&p, "DiskContainer.Format=RAW");
	strv_pushf(&p, "DiskContainer.UserBucket.S3Bucket=%s", bucket);
	strv_pushf(&p, "DiskContainer.UserBucket.S3Key=%s", key);
	if (role && *role)
		strv_pushf(&p, "RoleName=%s", role);
	if (aws_ec2_call(c, "ImportSnapshot", (const char *const *)strv_argv(&p), &resp, err) < 0)
		return -1;
	rc = answer_text("ImportSnapshot", &resp, "importTaskId", task_id, err);
	aws_response_free(&resp);
	return rc;
}

int aws_ec2_parse_import_task(const char *xml, size_t len, struct ec2_import_task *t,
                              struct unik_error *err)
{
	xmlDocPtr doc = parse_xml(xml, len);
	xmlNodePtr item, d;

	memset(t, 0, sizeof(*t));
	if (!doc) {
		unik_error_set(err, UNIK_E_IO, "AWS EC2: DescribeImportSnapshotTasks: not XML");
		return -1;
	}
	item = child(find_desc(xmlDocGetRootElement(doc), "importSnapshotTaskSet"), "item");
	d = child(item, "snapshotTaskDetail");
	if (!d) {
		xmlFreeDoc(doc);
		unik_error_set(err, UNIK_E_NOTFOUND,
		               "AWS EC2: DescribeImportSnapshotTasks: the import task is unknown");
		return -1;
	}
	text_into(child(d, "status"), t->status, sizeof(t->status));
	text_into(child(d, "progress"), t->progress, sizeof(t->progress));
	text_into(child(d, "statusMessage"), t->message, sizeof(t->message));
	text_into(child(d, "snapshotId"), t->snapshot, sizeof(t->snapshot));
	xmlFreeDoc(doc);
	return 0;
}

int aws_ec2_describe_import_task(const struct aws_config *c, const char *task_id,
                                 struct ec2_import_task *t, struct unik_error *err)
{
	_cleanup_free_ char *id = xasprintf("ImportTaskId.1=%s", task_id);
	const char *p[] = {id, NULL};
	struct aws_response resp = {0};
	int rc;

	if (aws_ec2_call(c, "DescribeImportSnapshotTasks", p, &resp, err) < 0)
		return -1;
	rc = aws_ec2_parse_import_task(resp.body, resp.body_len, t, err);
	aws_response_free(&resp);
	return rc;
}

/* ---- images and snapshots ------------------------------------------------------------------ */

int aws_ec2_register_image(const struct aws_config *c, const char *name, const char *description,
                           const char *snapshot_id, char **ami, struct unik_error *err)
{
	_cleanup_strv_ struct strv p = {0};
	struct aws_response resp = {0};
	int rc;

	strv_pushf(&p, "Name=%s", name);
	strv_pushf(&p, "Description=%s", description);
	strv_push(&p, "Architecture=x86_64");
	strv_push(&p, "BootMode=legacy-bios");
	strv_push(&p, "EnaSupport=true");
	strv_push(&p, "VirtualizationType=hvm");
	strv_push(&p, "RootDeviceName=/dev/xvda");
	strv_push(&p, "BlockDeviceMapping.1.DeviceName=/dev/xvda");
	strv_pushf(&p, "BlockDeviceMapping.1.Ebs.SnapshotId=%s", snapshot_id);
	strv_push(&p, "BlockDeviceMapping.1.Ebs.DeleteOnTermination=true");
	strv_push(&p, "BlockDeviceMapping.1.Ebs.VolumeType=gp3");
	if (aws_ec2_call(c, "RegisterImage", (const char *const *)strv_argv(&p), &resp, err) < 0)
		return -1;
	rc = answer_text("RegisterImage", &resp, "imageId", ami, err);
	aws_response_free(&resp);
	return rc;
}

int aws_ec2_describe_image(const struct aws_config *c, const char *ami, char *state,
                           size_t state_len, struct unik_error *err)
{
	_cleanup_free_ char *id = xasprintf("ImageId.1=%s", ami);
	const char *p[] = {id, NULL};
	struct aws_response resp = {0};
	xmlDocPtr doc;
	xmlNodePtr item;

	if (aws_ec2_call(c, "DescribeImages", p, &resp, err) < 0)
		return -1;
	doc = parse_xml(resp.body, resp.body_len);
	item = doc ? child(find_desc(xmlDocGetRootElement(doc), "imagesSet"), "item") : NULL;
	if (!item) {
		unik_error_set(err, UNIK_E_NOTFOUND, "AWS EC2: DescribeImages: no image %s", ami);
		xmlFreeDoc(doc);
		aws_response_free(&resp);
		return -1;
	}
	text_into(child(item, "imageState"), state, state_len);
	xmlFreeDoc(doc);
	aws_response_free(&resp);
	return 0;
}

static int simple(const struct aws_config *c, const char *action, const char *param,
                  struct unik_error *err)
{
	const char *p[] = {param, NULL};

	return aws_ec2_call(c, action, p, NULL, err);
}

int aws_ec2_deregister_image(const struct aws_config *c, const char *ami, struct unik_error *err)
{
	_cleanup_free_ char *p = xasprintf("ImageId=%s", ami);

	return simple(c, "DeregisterImage", p, err);
}

int aws_ec2_delete_snapshot(const struct aws_config *c, const char *snapshot,
                            struct unik_error *err)
{
	_cleanup_free_ char *p = xasprintf("SnapshotId=%s", snapshot);

	return simple(c, "DeleteSnapshot", p, err);
}

/* ---- security groups ----------------------------------------------------------------------- */

int aws_ec2_ingress(const struct aws_config *c, bool authorize, const char *group, const char *rule,
                    const char *description, struct unik_error *err)
{
	_cleanup_strv_ struct strv p = {0};
	char proto[8];
	unsigned port;
	int n = 0;

	/* "PROTO:PORT:CIDR", as aws_ingress_rules makes them. */
	if (sscanf(rule, "%7[a-z]:%u:%n", proto, &port, &n) != 2 || !n || !rule[n]) {
		unik_error_set(err, UNIK_E_INTERNAL, "AWS EC2: ingress rule \"%s\"", rule);
		return -1;
	}
	strv_pushf(&p, "GroupId=%s", group);
	strv_pushf(&p, "IpPermissions.1.IpProtocol=%s", proto);
	strv_pushf(&p, "IpPermissions.1.FromPort=%u", port);
	strv_pushf(&p, "IpPermissions.1.ToPort=%u", port);
	strv_pushf(&p, "IpPermissions.1.IpRanges.1.CidrIp=%s", rule + n);
	/* A revocation matches the rule without its description. */
	if (authorize && description)
		strv_pushf(&p, "IpPermissions.1.IpRanges.1.Description=%s", description);
	return aws_ec2_call(
	    c, authorize ? "AuthorizeSecurityGroupIngress" : "RevokeSecurityGroupIngress",
	    (const char *const *)strv_argv(&p), NULL, err);
}

/* ---- instances ----------------------------------------------------------------------------- */

int aws_ec2_run_instance(const struct aws_config *c, const struct ec2_run_params *rp,
                         char **instance_id, struct unik_error *err)
{
	_cleanup_strv_ struct strv p = {0};
	struct aws_response resp = {0};
	int rc, tag = 0;

	strv_pushf(&p, "ImageId=%s", rp->image_id);
	strv_pushf(&p, "InstanceType=%s", rp->instance_type);
	strv_push(&p, "MinCount=1");
	strv_push(&p, "MaxCount=1");
	/* The guest powers off when its application ends: keep the instance (and its console)
	 * so that status() can read the exit status and start() can boot it again. */
	strv_push(&p, "InstanceInitiatedShutdownBehavior=stop");
	if (rp->subnet && *rp->subnet)
		strv_pushf(&p, "SubnetId=%s", rp->subnet);
	if (rp->security_group && *rp->security_group)
		strv_pushf(&p, "SecurityGroupId.1=%s", rp->security_group);
	if (rp->key_name && *rp->key_name)
		strv_pushf(&p, "KeyName=%s", rp->key_name);
	if (rp->user_data) {
		_cleanup_free_ char *b64 = aws_base64_encode(rp->user_data, strlen(rp->user_data));

		strv_pushf(&p, "UserData=%s", b64);
	}
	strv_push(&p, "TagSpecification.1.ResourceType=instance");
	if (rp->unik_id) {
		tag++;
		strv_pushf(&p, "TagSpecification.1.Tag.%d.Key=unik:instance", tag);
		strv_pushf(&p, "TagSpecification.1.Tag.%d.Value=%s", tag, rp->unik_id);
	}
	if (rp->unik_name) {
		tag++;
		strv_pushf(&p, "TagSpecification.1.Tag.%d.Key=unik:name", tag);
		strv_pushf(&p, "TagSpecification.1.Tag.%d.Value=%s", tag, rp->unik_name);
		tag++;
		strv_pushf(&p, "TagSpecification.1.Tag.%d.Key=Name", tag);
		strv_pushf(&p, "TagSpecification.1.Tag.%d.Value=unik-%s", tag, rp->unik_name);
	}
	if (aws_ec2_call(c, "RunInstances", (const char *const *)strv_argv(&p), &resp, err) < 0)
		return -1;
	rc = answer_text("RunInstances", &resp, "instanceId", instance_id, err);
	aws_response_free(&resp);
	return rc;
}

int aws_ec2_parse_instance(const char *xml, size_t len, struct ec2_instance *out,
                           struct unik_error *err)
{
	xmlDocPtr doc = parse_xml(xml, len);
	xmlNodePtr item;

	memset(out, 0, sizeof(*out));
	if (!doc) {
		unik_error_set(err, UNIK_E_IO, "AWS EC2: DescribeInstances: not XML");
		return -1;
	}
	item = child(find_desc(xmlDocGetRootElement(doc), "instancesSet"), "item");
	if (!item) {
		xmlFreeDoc(doc);
		unik_error_set(err, UNIK_E_NOTFOUND,
		               "AWS EC2: DescribeInstances: InvalidInstanceID.NotFound: the "
		               "instance is not listed");
		return -1;
	}
	text_into(path(item, "instanceState/name"), out->state, sizeof(out->state));
	text_into(child(item, "ipAddress"), out->public_ip, sizeof(out->public_ip));
	text_into(child(item, "privateIpAddress"), out->private_ip, sizeof(out->private_ip));
	text_into(path(item, "stateReason/message"), out->reason, sizeof(out->reason));
	text_into(path(item, "placement/availabilityZone"), out->zone, sizeof(out->zone));
	xmlFreeDoc(doc);
	return 0;
}

int aws_ec2_describe_instance(const struct aws_config *c, const char *instance_id,
                              struct ec2_instance *out, struct unik_error *err)
{
	_cleanup_free_ char *id = xasprintf("InstanceId.1=%s", instance_id);
	const char *p[] = {id, NULL};
	struct aws_response resp = {0};
	int rc;

	if (aws_ec2_call(c, "DescribeInstances", p, &resp, err) < 0)
		return -1;
	rc = aws_ec2_parse_instance(resp.body, resp.body_len, out, err);
	aws_response_free(&resp);
	return rc;
}

int aws_ec2_console_output(const struct aws_config *c, const char *instance_id, bool latest,
                           char **out, size_t *len, struct unik_error *err)
{
	_cleanup_free_ char *id = xasprintf("InstanceId=%s", instance_id);
	const char *p[] = {id, latest ? "Latest=true" : NULL, NULL};
	struct aws_response resp = {0};
	_cleanup_free_ char *b64 = NULL;

	*out = NULL;
	*len = 0;
	if (aws_ec2_call(c, "GetConsoleOutput", p, &resp, err) < 0)
		return -1;
	b64 = aws_ec2_xml_text(resp.body, resp.body_len, "output");
	aws_response_free(&resp);
	if (!b64) {
		*out = xstrdup("");
		return 0;
	}
	if (aws_base64_decode(b64, out, len) < 0) {
		unik_error_set(err, UNIK_E_IO,
		               "AWS EC2: GetConsoleOutput: the output is not base64");
		return -1;
	}
	return 0;
}

static int instance_action(const struct aws_config *c, const char *action, const char *id,
                           const char *extra, struct unik_error *err)
{
	_cleanup_free_ char *p0 = xasprintf("InstanceId.1=%s", id);
	const char *p[] = {p0, extra, NULL};

	return aws_ec2_call(c, action, p, NULL, err);
}

int aws_ec2_stop_instance(const struct aws_config *c, const char *instance_id, bool force,
                          struct unik_error *err)
{
	return instance_action(c, "StopInstances", instance_id, force ? "Force=true" : NULL, err);
}

int aws_ec2_start_instance(const struct aws_config *c, const char *instance_id,
                           struct unik_error *err)
{
	return instance_action(c, "StartInstances", instance_id, NULL, err);
}

int aws_ec2_terminate_instance(const struct aws_config *c, const char *instance_id,
                               struct unik_error *err)
{
	return instance_action(c, "TerminateInstances", instance_id, NULL, err);
}

/* ---- EBS volumes -------------------------------------------------------------------------- */

int aws_ec2_create_volume(const struct aws_config *c, const char *snapshot, const char *zone,
                          const char *unik_id, const char *device_name, char **volume_id,
                          struct unik_error *err)
{
	_cleanup_strv_ struct strv p = {0};
	struct aws_response resp = {0};
	int rc, tag = 0;

	strv_pushf(&p, "SnapshotId=%s", snapshot);
	strv_pushf(&p, "AvailabilityZone=%s", zone);
	strv_push(&p, "VolumeType=gp3");
	if (unik_id || device_name)
		strv_push(&p, "TagSpecification.1.ResourceType=volume");
	if (unik_id) {
		tag++;
		strv_pushf(&p, "TagSpecification.1.Tag.%d.Key=unik:instance", tag);
		strv_pushf(&p, "TagSpecification.1.Tag.%d.Value=%s", tag, unik_id);
	}
	if (device_name) {
		tag++;
		strv_pushf(&p, "TagSpecification.1.Tag.%d.Key=unik:device", tag);
		strv_pushf(&p, "TagSpecification.1.Tag.%d.Value=%s", tag, device_name);
	}
	if (aws_ec2_call(c, "CreateVolume", (const char *const *)strv_argv(&p), &resp, err) < 0)
		return -1;
	rc = answer_text("CreateVolume", &resp, "volumeId", volume_id, err);
	aws_response_free(&resp);
	return rc;
}

int aws_ec2_parse_volume(const char *xml, size_t len, struct ec2_volume *out,
                         struct unik_error *err)
{
	xmlDocPtr doc = parse_xml(xml, len);
	xmlNodePtr item, att;

	memset(out, 0, sizeof(*out));
	if (!doc) {
		unik_error_set(err, UNIK_E_IO, "AWS EC2: DescribeVolumes: not XML");
		return -1;
	}
	item = child(find_desc(xmlDocGetRootElement(doc), "volumeSet"), "item");
	if (!item) {
		xmlFreeDoc(doc);
		unik_error_set(
		    err, UNIK_E_NOTFOUND,
		    "AWS EC2: DescribeVolumes: InvalidVolume.NotFound: the volume is not "
		    "listed");
		return -1;
	}
	text_into(child(item, "status"), out->state, sizeof(out->state));
	text_into(child(item, "availabilityZone"), out->zone, sizeof(out->zone));
	text_into(child(item, "snapshotId"), out->snapshot, sizeof(out->snapshot));
	/* A volume that is not multi-attach has one attachment at most. */
	att = child(child(item, "attachmentSet"), "item");
	text_into(child(att, "status"), out->attach_state, sizeof(out->attach_state));
	text_into(child(att, "instanceId"), out->instance, sizeof(out->instance));
	text_into(child(att, "device"), out->device, sizeof(out->device));
	xmlFreeDoc(doc);
	return 0;
}

int aws_ec2_describe_volume(const struct aws_config *c, const char *volume_id,
                            struct ec2_volume *out, struct unik_error *err)
{
	_cleanup_free_ char *id = xasprintf("VolumeId.1=%s", volume_id);
	const char *p[] = {id, NULL};
	struct aws_response resp = {0};
	int rc;

	if (aws_ec2_call(c, "DescribeVolumes", p, &resp, err) < 0)
		return -1;
	rc = aws_ec2_parse_volume(resp.body, resp.body_len, out, err);
	aws_response_free(&resp);
	return rc;
}

int aws_ec2_attach_volume(const struct aws_config *c, const char *volume_id,
                          const char *instance_id, const char *device, struct unik_error *err)
{
	_cleanup_free_ char *v = xasprintf("VolumeId=%s", volume_id);
	_cleanup_free_ char *i = xasprintf("InstanceId=%s", instance_id);
	_cleanup_free_ char *d = xasprintf("Device=%s", device);
	const char *p[] = {v, i, d, NULL};

	return aws_ec2_call(c, "AttachVolume", p, NULL, err);
}

int aws_ec2_detach_volume(const struct aws_config *c, const char *volume_id, bool force,
                          struct unik_error *err)
{
	_cleanup_free_ char *v = xasprintf("VolumeId=%s", volume_id);
	const char *p[] = {v, force ? "Force=true" : NULL, NULL};

	return aws_ec2_call(c, "DetachVolume", p, NULL, err);
}

int aws_ec2_delete_volume(const struct aws_config *c, const char *volume_id, struct unik_error *err)
{
	_cleanup_free_ char *p = xasprintf("VolumeId=%s", volume_id);

	return simple(c, "DeleteVolume", p, err);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *aws_base64_encode(const void *data, size_t len)
{
	const unsigned char *d = data;
	char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)d[i] << 16;

		if (i + 1 < len)
			v |= (unsigned)d[i + 1] << 8;
		if (i + 2 < len)
			v |= d[i + 2];
		*o++ = B64[(v >> 18) & 63];
		*o++ = B64[(v >> 12) & 63];
		*o++ = i + 1 < len ? B64[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? B64[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

int aws_base64_decode(const char *text, char **out, size_t *len)
{
	size_t n = strlen(text), got = 0;
	char *buf = xmalloc(n / 4 * 3 + 4);
	unsigned v = 0;
	int bits = 0, pad = 0;

	for (const char *s = text; *s; s++) {
		const char *at;

		if (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')
			continue;
		if (*s == '=') {
			pad++;
			continue;
		}
		at = strchr(B64, *s);
		if (!at || pad) {
			free(buf);
			return -1;
		}
		v = (v << 6) | (unsigned)(at - B64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[got++] = (char)((v >> bits) & 0xff);
		}
	}
	if (pad > 2) {
		free(buf);
		return -1;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

const char *aws_instance_type_for(unsigned long long memory_mb)
{
	static const struct {
		unsigned long long mb;
		const char *type;
	} table[] = {
	    {512, "t3.nano"},        {1024, "t3.micro"},      {2048, "t3.small"},
	    {4096, "t3.medium"},     {8192, "t3.large"},      {16384, "m5.xlarge"},
	    {32768, "m5.2xlarge"},   {65536, "m5.4xlarge"},   {131072, "m5.8xlarge"},
	    {196608, "m5.12xlarge"}, {262144, "m5.16xlarge"}, {393216, "m5.24xlarge"},
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (memory_mb <= table[i].mb)
			return table[i].type;
	return NULL;
}
