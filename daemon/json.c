/* The REST door's JSON: request checks shared by the routes, and the model's records encoded
 * as the API shows them (an image's form is its image.json, core/meta.c). */
#include "daemon/internal.h"

#include <stdio.h>
#include <string.h>

#include "lib/utf8.h"

json_t *jstr_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* NAME=VALUE words from an object of strings the caller checked. */
void pairs_from_json(json_t *o, struct strv *out)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) unik_env_set(out, k, json_string_value(v));
}

json_t *image_json(const struct unik_image *im)
{
	return unik_image_meta_json(im);
}

json_t *build_json(const struct unik_build *b)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(b->id));
	json_object_set_new(o, "image", json_string(b->image));
	json_object_set_new(o, "image_id", jstr_or_null(b->image_id));
	json_object_set_new(o, "state", json_string(unik_build_state_name(b->state)));
	json_object_set_new(o, "error", json_string(b->error ? b->error : ""));
	json_object_set_new(o, "created", json_string(b->created));
	json_object_set_new(o, "finished", jstr_or_null(b->finished));
	return o;
}

/* An instance's NICs: the network ("user" for user-mode networking), the device's name in the
 * guest (net0, ...; a mirage image's declared name, from its "net:NAME=NETWORK" binds), the
 * address, the MAC. */
static json_t *nics_json(const struct unik_instance *in, const struct strv *binds)
{
	json_t *a = json_array();
	size_t b = 0;

	for (size_t i = 0; i < in->nnics; i++) {
		const struct unik_nic *nic = &in->nics[i];
		char dev[32], ip[64];
		bool has_ip = unik_core_nic_address(D.core, nic, ip, sizeof(ip));

		while (b < binds->n && strncmp(binds->v[b], "net:", 4))
			b++;
		if (b < binds->n) {
			snprintf(dev, sizeof(dev), "%.*s", (int)strcspn(binds->v[b] + 4, "="),
			         binds->v[b] + 4);
			b++;
		} else {
			snprintf(dev, sizeof(dev), "net%zu", i);
		}
		json_array_append_new(
		    a, json_pack("{s:s, s:s, s:o, s:b, s:o}", "name",
		                 nic->network ? nic->network : "user", "device", dev, "ip",
		                 has_ip ? json_string(ip) : json_null(), "dhcp", !nic->ip, "mac",
		                 nic->mac[0] ? json_string(nic->mac) : json_null()));
	}
	return a;
}

/* Published ports, with Docker's spelling of each as "text". */
static json_t *ports_json(const struct unik_instance *in)
{
	json_t *a = json_array();

	for (size_t i = 0; i < in->nports; i++) {
		const struct unik_port *p = &in->ports[i];
		char text[96];

		unik_port_format(p, text, sizeof(text));
		json_array_append_new(a, json_pack("{s:s, s:s, s:i, s:i, s:s}", "proto",
		                                   unik_port_proto_name(p->proto), "host_ip",
		                                   p->host_ip[0] ? p->host_ip : "0.0.0.0",
		                                   "host_port", (int)p->host_port, "guest_port",
		                                   (int)p->guest_port, "text", text));
	}
	return a;
}

/* An instance's volumes and host shares. */
static json_t *mounts_json(const struct unik_instance *in)
{
	json_t *a = json_array();

	for (size_t i = 0; i < in->nmounts; i++) {
		const struct unik_mount *m = &in->mounts[i];

		json_array_append_new(a, json_pack("{s:o, s:o, s:s, s:b}", "volume",
		                                   jstr_or_null(m->volume), "host_path",
		                                   jstr_or_null(m->host_path), "at", m->at,
		                                   "readonly", m->readonly));
	}
	return a;
}

json_t *instance_json(const struct unik_instance *in)
{
	json_t *o = json_object();
	_cleanup_strv_ struct strv binds = {0};
	json_t *ba = json_array();

	unik_core_instance_binds(D.core, in, &binds);
	for (size_t i = 0; i < binds.n; i++)
		json_array_append_new(ba, json_string(binds.v[i]));

	json_object_set_new(o, "id", json_string(in->id));
	json_object_set_new(o, "name", json_string(in->name));
	json_object_set_new(o, "image", json_string(in->image));
	json_object_set_new(o, "image_id", json_string(in->image_id));
	json_object_set_new(o, "provider", json_string(in->provider));
	json_object_set_new(o, "state", json_string(unik_core_state_name(in->state)));
	json_object_set_new(o, "exit_code",
	                    in->exit_code >= 0 ? json_integer(in->exit_code) : json_null());
	json_object_set_new(o, "pid", json_integer(in->pid));
	json_object_set_new(o, "ip", json_string(in->ip));
	json_object_set_new(o, "memory_mb", json_integer(in->memory_mb));
	json_object_set_new(o, "args", json_string(in->args ? in->args : ""));
	json_object_set_new(o, "env", unik_pairs_json(&in->env));
	json_object_set_new(o, "created", json_string(in->created));
	json_object_set_new(o, "started", jstr_or_null(in->started));
	json_object_set_new(o, "finished", jstr_or_null(in->finished));
	json_object_set_new(o, "detail", json_string(in->detail));
	json_object_set_new(o, "provider_handle", json_string(in->handle));
	json_object_set_new(o, "provider_handle_id", json_string(in->handle_id));
	json_object_set_new(o, "provider_opts", unik_pairs_json(&in->provider_opts));
	json_object_set_new(o, "networks", nics_json(in, &binds));
	json_object_set_new(o, "binds", ba);
	json_object_set_new(o, "ports", ports_json(in));
	json_object_set_new(o, "mounts", mounts_json(in));
	return o;
}

json_t *volume_json(const struct unik_volume *v)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(v->id));
	json_object_set_new(o, "name", json_string(v->name));
	json_object_set_new(o, "type", json_string("ext2"));
	json_object_set_new(o, "format", json_string(v->format ? v->format : "raw"));
	json_object_set_new(o, "size_mb", json_integer((json_int_t)v->size_mb));
	json_object_set_new(o, "created", json_string(v->created));
	return o;
}

json_t *network_json(const struct unik_network *n)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(n->id));
	json_object_set_new(o, "name", json_string(n->name));
	json_object_set_new(o, "subnet", json_string(n->subnet));
	json_object_set_new(o, "gateway", json_string(n->gateway));
	json_object_set_new(o, "bridge", json_string(n->bridge));
	json_object_set_new(o, "dhcp", json_boolean(n->dhcp));
	json_object_set_new(o, "created", json_string(n->created));
	return o;
}

json_t *providers_json(void)
{
	json_t *a = json_array();
	const struct unik_provider *const *ps = unik_core_providers(D.core);
	const char *def = unik_core_default_provider(D.core);

	for (size_t i = 0; ps[i]; i++) {
		const struct unik_provider *p = ps[i];
		char reason[512] = "";
		_cleanup_strv_ struct strv opts = {0};
		json_t *keys = json_object();
		bool ok;

		unik_core_provider_opts(D.core, p, NULL, &opts, NULL);
		ok = p->available((const char *const *)opts.v, reason, sizeof(reason));
		for (size_t k = 0; p->opt_keys && p->opt_keys[k]; k++)
			json_object_set_new(
			    keys, p->opt_keys[k],
			    json_string(p->opt_help && p->opt_help[k] ? p->opt_help[k] : ""));
		json_array_append_new(a,
		                      json_pack("{s:s, s:s, s:b, s:b, s:s, s:s, s:o}", "name",
		                                p->name, "description", p->description, "default",
		                                strcmp(p->name, def) == 0, "available", ok,
		                                "reason", ok ? "" : reason, "image_format",
		                                p->image_format, "options", keys));
	}
	return a;
}

json_t *compilers_json(void)
{
	const struct unik_provider *const *ps = unik_core_providers(D.core);
	json_t *a = json_array();

	const struct unik_compiler *const *cs = unik_core_compilers();

	for (size_t i = 0; cs[i]; i++) {
		const struct unik_compiler *c = cs[i];
		json_t *langs = json_array(), *provs = json_array();

		for (size_t j = 0; c->languages[j]; j++)
			json_array_append_new(langs, json_string(c->languages[j]));
		for (size_t j = 0; ps[j]; j++)
			if (strcmp(ps[j]->image_format, "elf") == 0)
				json_array_append_new(provs, json_string(ps[j]->name));
		json_array_append_new(a, json_pack("{s:s, s:s, s:o, s:o, s:s}", "name", c->name,
		                                   "base", c->base, "languages", langs, "providers",
		                                   provs, "description", c->description));
	}
	return a;
}

json_t *images_json(void)
{
	struct unik_core_view v;
	json_t *a = json_array();

	unik_core_read_begin(D.core, &v);
	for (size_t i = 0; i < v.nimages; i++)
		json_array_append_new(a, image_json(v.images[i]));
	unik_core_read_end(D.core);
	return a;
}

json_t *instances_json(void)
{
	struct unik_core_view v;
	json_t *a = json_array();

	unik_core_read_begin(D.core, &v);
	for (size_t i = 0; i < v.ninstances; i++)
		json_array_append_new(a, instance_json(v.instances[i]));
	unik_core_read_end(D.core);
	return a;
}

json_t *image_json_ref(const char *ref, struct unik_error *err)
{
	const struct unik_image *im;
	struct unik_core_view v;
	json_t *j = NULL;

	unik_core_read_begin(D.core, &v);
	if ((im = unik_core_image(D.core, ref, err)))
		j = image_json(im);
	unik_core_read_end(D.core);
	return j;
}

json_t *instance_json_ref(const char *ref, struct unik_error *err)
{
	const struct unik_instance *in;
	struct unik_core_view v;
	json_t *j = NULL;

	unik_core_read_begin(D.core, &v);
	if ((in = unik_core_instance(D.core, ref, err)))
		j = instance_json(in);
	unik_core_read_end(D.core);
	return j;
}
