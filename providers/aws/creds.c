/* Where the aws provider's credentials, region and endpoints come from: the environment, the
 * provider's options and the shared ~/.aws/credentials and ~/.aws/config files, in the order
 * the AWS SDKs and CLI use. */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "providers/aws/aws.h"
#include "lib/util.h"

/* ---- a small INI reader: [section], key = value, # and ; comments, and the indented
 * "key =\n  sub = value" blocks the AWS config file allows (kept as "key.sub"). ---- */

struct ini_entry {
	char *section;
	char *key;
	char *value;
};

struct ini {
	struct ini_entry *e;
	size_t n;
};

static void ini_free(struct ini *ini)
{
	for (size_t i = 0; i < ini->n; i++) {
		free(ini->e[i].section);
		free(ini->e[i].key);
		free(ini->e[i].value);
	}
	free(ini->e);
	ini->e = NULL;
	ini->n = 0;
}

static char *strip(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static void ini_add(struct ini *ini, const char *section, const char *key, const char *value)
{
	/* A later line wins, as in the AWS CLI's reader. */
	for (size_t i = 0; i < ini->n; i++) {
		if (strcmp(ini->e[i].section, section) == 0 && strcmp(ini->e[i].key, key) == 0) {
			free(ini->e[i].value);
			ini->e[i].value = xstrdup(value);
			return;
		}
	}
	ini->e = xrealloc(ini->e, (ini->n + 1) * sizeof(*ini->e));
	ini->e[ini->n].section = xstrdup(section);
	ini->e[ini->n].key = xstrdup(key);
	ini->e[ini->n].value = xstrdup(value);
	ini->n++;
}

/* Parses text into ini; names the file and line of anything it cannot read. */
static int aws_ini_parse(const char *text, const char *fname, struct ini *ini,
                         struct unik_error *err)
{
	_cleanup_free_ char *copy = xstrdup(text);
	_cleanup_free_ char *section = NULL, *parent = NULL;
	char *save = NULL;
	int lineno = 0;

	for (char *line = copy; line; line = save) {
		char *nl = strchr(line, '\n');
		bool indented = isspace((unsigned char)line[0]) && line[0] != '\n';
		char *s, *eq, *key, *value;

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		s = strip(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');

			if (!end || strip(end + 1)[0]) {
				unik_error_set(err, UNIK_E_INVALID,
				               "%s line %d: bad section header \"%s\"", fname,
				               lineno, s);
				return -1;
			}
			*end = '\0';
			free(section);
			section = xstrdup(strip(s + 1));
			/* "[profile  prod]" is "profile prod". */
			if (unik_str_has_prefix(section, "profile") &&
			    isspace((unsigned char)section[7])) {
				char *name = strip(section + 7);
				char *norm = xasprintf("profile %s", name);

				free(section);
				section = norm;
			}
			free(parent);
			parent = NULL;
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			unik_error_set(err, UNIK_E_INVALID,
			               "%s line %d: expected \"key = value\", found \"%s\"", fname,
			               lineno, s);
			return -1;
		}
		if (!section) {
			unik_error_set(err, UNIK_E_INVALID,
			               "%s line %d: \"%s\" comes before any [section]", fname,
			               lineno, s);
			return -1;
		}
		*eq = '\0';
		key = strip(s);
		value = strip(eq + 1);
		if (!*key) {
			unik_error_set(err, UNIK_E_INVALID, "%s line %d: a value without a key",
			               fname, lineno);
			return -1;
		}
		for (char *p = key; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (indented && parent) {
			_cleanup_free_ char *sub = xasprintf("%s.%s", parent, key);

			ini_add(ini, section, sub, value);
			continue;
		}
		free(parent);
		parent = *value ? NULL : xstrdup(key);
		ini_add(ini, section, key, value);
	}
	return 0;
}

static const char *ini_get(const struct ini *ini, const char *section, const char *key)
{
	for (size_t i = 0; i < ini->n; i++)
		if (strcmp(ini->e[i].section, section) == 0 && strcmp(ini->e[i].key, key) == 0)
			return ini->e[i].value;
	return NULL;
}

static bool ini_has_section(const struct ini *ini, const char *section)
{
	for (size_t i = 0; i < ini->n; i++)
		if (strcmp(ini->e[i].section, section) == 0)
			return true;
	return false;
}

/* Loads path into ini; a missing file leaves ini empty and *found false. */
static int ini_load(const char *path, struct ini *ini, bool *found, struct unik_error *err)
{
	_cleanup_free_ char *text = NULL;
	struct unik_error e = {0};

	*found = false;
	if (unik_read_file(path, &text, NULL, &e) < 0) {
		if (e.code == UNIK_E_NOTFOUND)
			return 0;
		if (err)
			*err = e;
		return -1;
	}
	*found = true;
	return aws_ini_parse(text, path, ini, err);
}

/* ---- the configuration ---- */

static const char *opt(const char *const *opts, const char *key)
{
	size_t n = strlen(key);

	for (const char *const *o = opts; o && *o; o++)
		if (strncmp(*o, key, n) == 0 && (*o)[n] == '=')
			return *o + n + 1;
	return NULL;
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static char *home_file(const char *env_name, const char *rel)
{
	const char *v = env(env_name), *home = env("HOME");

	if (v) {
		if (v[0] == '~' && v[1] == '/' && home)
			return unik_path_join(home, v + 2);
		return xstrdup(v);
	}
	if (!home) {
		struct passwd *pw = getpwuid(getuid());

		home = pw && pw->pw_dir ? pw->pw_dir : "/";
	}
	return unik_path_join(home, rel);
}

void aws_config_free(struct aws_config *c)
{
	if (!c)
		return;
	free(c->access_key_id);
	if (c->secret_access_key)
		memset(c->secret_access_key, 0, strlen(c->secret_access_key));
	free(c->secret_access_key);
	free(c->session_token);
	free(c->region);
	free(c->profile);
	free(c->source);
	free(c->ec2_endpoint);
	free(c->s3_endpoint);
	memset(c, 0, sizeof(*c));
}

static int check_endpoint(const char *what, const char *url, struct unik_error *err)
{
	if (!unik_str_has_prefix(url, "http://") && !unik_str_has_prefix(url, "https://")) {
		unik_error_set(err, UNIK_E_INVALID,
		               "%s \"%s\": an endpoint is a URL starting with http:// or https://",
		               what, url);
		return -1;
	}
	return 0;
}

static char *endpoint_trim(const char *url)
{
	char *s = xstrdup(url);
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

/* Service-specific before general, options before the environment before the profile. */
static int pick_endpoint(const char *const *opts, const struct ini *cfg, const char *cfg_section,
                         const char *svc, char **out, bool *overridden, struct unik_error *err)
{
	_cleanup_free_ char *opt_key = xasprintf("%s_endpoint_url", svc);
	_cleanup_free_ char *env_key = xasprintf("AWS_ENDPOINT_URL_%s", svc);
	_cleanup_free_ char *sub_key = xasprintf("%s.endpoint_url", svc);
	const char *what = NULL, *v = NULL;

	for (char *p = env_key; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if ((v = opt(opts, opt_key)))
		what = opt_key;
	else if ((v = opt(opts, "endpoint_url")))
		what = "endpoint_url";
	else if ((v = env(env_key)))
		what = env_key;
	else if ((v = env("AWS_ENDPOINT_URL")))
		what = "AWS_ENDPOINT_URL";
	else if (cfg_section && (v = ini_get(cfg, cfg_section, sub_key)) && *v)
		what = "the profile's endpoint_url";
	else if (cfg_section && (v = ini_get(cfg, cfg_section, "endpoint_url")) && *v)
		what = "the profile's endpoint_url";
	if (!v || !*v) {
		*overridden = false;
		return 0;
	}
	if (check_endpoint(what, v, err) < 0)
		return -1;
	*out = endpoint_trim(v);
	*overridden = true;
	return 0;
}

static bool truthy(const char *v)
{
	return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
	             strcasecmp(v, "yes") == 0 || strcasecmp(v, "path") == 0);
}

int aws_config_load(const char *const *opts, struct aws_config *c, struct unik_error *err)
{
	struct ini creds = {0}, cfg = {0};
	_cleanup_free_ char *creds_path =
	    home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
	_cleanup_free_ char *cfg_path = home_file("AWS_CONFIG_FILE", ".aws/config");
	_cleanup_free_ char *cfg_section = NULL;
	const char *profile_opt = opt(opts, "profile");
	const char *profile = profile_opt ? profile_opt : env("AWS_PROFILE");
	const char *v;
	bool creds_found = false, cfg_found = false, s3_override = false, ec2_override = false;
	bool have_creds_section, have_cfg_section;
	const char *tld;
	int ret = -1;

	memset(c, 0, sizeof(*c));
	if (!profile)
		profile = env("AWS_DEFAULT_PROFILE");
	c->profile = xstrdup(profile ? profile : "default");
	if (ini_load(creds_path, &creds, &creds_found, err) < 0 ||
	    ini_load(cfg_path, &cfg, &cfg_found, err) < 0)
		goto out;
	/* The config file names profiles "[profile NAME]", except the default one. */
	cfg_section = xasprintf("profile %s", c->profile);
	if (strcmp(c->profile, "default") == 0 && !ini_has_section(&cfg, cfg_section)) {
		free(cfg_section);
		cfg_section = xstrdup("default");
	}
	have_creds_section = ini_has_section(&creds, c->profile);
	have_cfg_section = ini_has_section(&cfg, cfg_section);
	if (profile && strcmp(profile, "default") != 0 && !have_creds_section &&
	    !have_cfg_section) {
		unik_error_set(err, UNIK_E_INVALID,
		               "AWS profile \"%s\" (from %s) is in neither %s [%s]%s nor %s [%s]%s",
		               profile, profile_opt ? "the option profile=" : "AWS_PROFILE",
		               creds_path, profile, creds_found ? "" : " (no such file)", cfg_path,
		               cfg_section, cfg_found ? "" : " (no such file)");
		goto out;
	}

	/* Keys: the environment (unless a profile was asked for by name), then the profile. */
	if (!profile_opt && env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY")) {
		c->access_key_id = xstrdup(env("AWS_ACCESS_KEY_ID"));
		c->secret_access_key = xstrdup(env("AWS_SECRET_ACCESS_KEY"));
		if ((v = env("AWS_SESSION_TOKEN")) || (v = env("AWS_SECURITY_TOKEN")))
			c->session_token = xstrdup(v);
		c->source = xstrdup("the environment (AWS_ACCESS_KEY_ID)");
	} else if (!profile_opt && (env("AWS_ACCESS_KEY_ID") || env("AWS_SECRET_ACCESS_KEY"))) {
		unik_error_set(
		    err, UNIK_E_PERM, "AWS credentials: %s is set in the environment but %s is not",
		    env("AWS_ACCESS_KEY_ID") ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		    env("AWS_ACCESS_KEY_ID") ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		goto out;
	} else {
		const struct ini *files[] = {&creds, &cfg};
		const char *sections[] = {c->profile, cfg_section};
		const char *paths[] = {creds_path, cfg_path};

		for (int i = 0; i < 2 && !c->access_key_id; i++) {
			const char *id = ini_get(files[i], sections[i], "aws_access_key_id");
			const char *secret =
			    ini_get(files[i], sections[i], "aws_secret_access_key");
			const char *token = ini_get(files[i], sections[i], "aws_session_token");

			if (!id && !secret)
				continue;
			if (!id || !*id || !secret || !*secret) {
				unik_error_set(
				    err, UNIK_E_PERM, "AWS credentials: %s [%s] has %s but no %s",
				    paths[i], sections[i],
				    id && *id ? "aws_access_key_id" : "aws_secret_access_key",
				    id && *id ? "aws_secret_access_key" : "aws_access_key_id");
				goto out;
			}
			c->access_key_id = xstrdup(id);
			c->secret_access_key = xstrdup(secret);
			if (token && *token)
				c->session_token = xstrdup(token);
			c->source = xasprintf("%s [%s]", paths[i], sections[i]);
		}
	}
	if (!c->access_key_id) {
		const char *other = NULL;

		if (ini_get(&cfg, cfg_section, "sso_session") ||
		    ini_get(&cfg, cfg_section, "sso_start_url"))
			other = "AWS SSO";
		else if (ini_get(&cfg, cfg_section, "role_arn"))
			other = "an assumed role (role_arn)";
		else if (ini_get(&cfg, cfg_section, "credential_process"))
			other = "credential_process";
		unik_error_set(
		    err, UNIK_E_PERM,
		    "no AWS credentials found: looked at %s%s [%s]%s and %s [%s]%s%s%s%s",
		    profile_opt ? ""
		                : "the environment (AWS_ACCESS_KEY_ID and "
		                  "AWS_SECRET_ACCESS_KEY), ",
		    creds_path, c->profile, creds_found ? "" : " (no such file)", cfg_path,
		    cfg_section, cfg_found ? "" : " (no such file)",
		    other ? "; the profile uses " : "", other ? other : "",
		    other ? ", which unik cannot use: export the keys, e.g. with `eval "
		            "\"$(aws configure export-credentials --format env)\"`"
		          : "");
		goto out;
	}

	if ((v = opt(opts, "region")) && *v)
		c->region = xstrdup(v);
	else if ((v = env("AWS_REGION")) || (v = env("AWS_DEFAULT_REGION")))
		c->region = xstrdup(v);
	else if ((v = ini_get(&cfg, cfg_section, "region")) && *v)
		c->region = xstrdup(v);
	else
		c->region = xstrdup("us-east-1");
	for (const char *p = c->region; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '-') {
			unik_error_set(err, UNIK_E_INVALID,
			               "AWS region \"%s\" is not a region name", c->region);
			goto out;
		}
	}

	tld = unik_str_has_prefix(c->region, "cn-") ? "amazonaws.com.cn" : "amazonaws.com";
	if (pick_endpoint(opts, &cfg, cfg_section, "ec2", &c->ec2_endpoint, &ec2_override, err) <
	        0 ||
	    pick_endpoint(opts, &cfg, cfg_section, "s3", &c->s3_endpoint, &s3_override, err) < 0)
		goto out;
	if (!ec2_override)
		c->ec2_endpoint = xasprintf("https://ec2.%s.%s", c->region, tld);
	if (!s3_override)
		c->s3_endpoint = xasprintf("https://s3.%s.%s", c->region, tld);
	/* Emulators and S3-compatible stores rarely have per-bucket host names. */
	c->s3_path_style = s3_override;
	if ((v = opt(opts, "s3_path_style")))
		c->s3_path_style = truthy(v);
	else if ((v = ini_get(&cfg, cfg_section, "s3.addressing_style")))
		c->s3_path_style = s3_override || strcasecmp(v, "path") == 0;
	ret = 0;
out:
	ini_free(&creds);
	ini_free(&cfg);
	if (ret < 0)
		aws_config_free(c);
	return ret;
}
