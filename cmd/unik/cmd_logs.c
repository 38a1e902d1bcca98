/* unik logs: print an instance's console, and with -f keep printing until it ends; --tail,
 * --since and -t as docker logs has them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/unik/cli.h"

/* --since: a duration back from now ("90s", "10m", "1h30m", "2d") or an RFC 3339 time
 * ("2026-12-03T07:25:55Z", with a fraction or an offset); Unix seconds, or -1 when it is
 * neither. */
static double parse_since(const char *s)
{
	struct tm tm;
	const char *p;
	double total = 0;

	memset(&tm, 0, sizeof(tm));
	p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p) {
		double frac = 0, t;
		long off = 0;

		if (*p == '.') {
			char *end;

			frac = strtod(p, &end);
			p = end;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
			off = (atol(p + 1) * 60 + atol(p + 4)) * 60 * (*p == '-' ? -1 : 1);
			p += 6;
		} else {
			return -1;
		}
		if (*p)
			return -1;
		t = (double)timegm(&tm) + frac - (double)off;
		return t;
	}
	for (p = s; *p;) {
		char *end;
		double n = strtod(p, &end);
		double unit;

		if (end == p || n < 0)
			return -1;
		switch (*end) {
		case 's':
			unit = 1;
			break;
		case 'm':
			unit = 60;
			break;
		case 'h':
			unit = 3600;
			break;
		case 'd':
			unit = 86400;
			break;
		default:
			return -1;
		}
		total += n * unit;
		p = end + 1;
	}
	if (p == s)
		return -1;
	{
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		return (double)now.tv_sec + now.tv_nsec / 1e9 - total;
	}
}

int cmd_logs(struct cli *cli, int argc, char **argv)
{
	static const struct cli_help help = {
	    "unik logs [options] INSTANCE",
	    "Prints the console of an instance: everything its guest wrote to stdout and\n"
	    "stderr, and the runtime's `unik:` lines.  With -f it keeps printing new output\n"
	    "until the instance ends (or Ctrl-C, which leaves the instance running).\n"
	    "--tail N starts N lines before the end, --since a duration ago (10m, 1h30m, 90s)\n"
	    "or from an RFC 3339 time, and -t puts the time each line was written in front\n"
	    "of it (not with -f yet).  Times need a provider whose console unik-shim writes\n"
	    "(qemu).",
	    "  unik logs i1\n"
	    "  unik logs -f --tail 20 i1\n"
	    "  unik logs -t --since 10m i1\n"
	    "  unik logs --instance i1 --follow\n",
	};
	const char *inst = NULL, *tail = NULL, *since = NULL;
	bool follow = false, stamps = false;
	const struct cli_opt opts[] = {
	    {0, "instance|instanceName|name", CLI_OPT_STR, &inst, "INSTANCE", "the instance"},
	    {'f', "follow", CLI_OPT_BOOL, &follow, NULL, "keep printing until the instance ends"},
	    {'n', "tail", CLI_OPT_STR, &tail, "N", "print only the last N lines (then follow)"},
	    {0, "since", CLI_OPT_STR, &since, "WHEN",
	     "lines written since a duration ago (10m) or an RFC 3339 time"},
	    {'t', "timestamps", CLI_OPT_BOOL, &stamps, NULL,
	     "each line after the time it was written"},
	};
	_cleanup_strv_ struct strv pos = {0};
	_cleanup_free_ char *path = NULL, *query = NULL;
	int rc;

	if (cli_parse(cli, argc, argv, opts, sizeof(opts) / sizeof(opts[0]), 0, &help, &pos, &rc))
		return rc;
	if (!inst && pos.n == 1)
		inst = pos.v[0];
	else if (pos.n > (inst ? 0u : 1u))
		return cli_usage_error(cli, "takes one instance (got `%s` too)", pos.v[pos.n - 1]);
	if (!inst)
		return cli_usage_error(cli, "which instance? (unik logs INSTANCE)");
	if (stamps && follow)
		return cli_usage_error(cli, "-t with -f is not supported yet: drop one of them");
	query = xstrdup(follow ? "?follow=true" : "");
	if (tail) {
		char *end;
		long n = strtol(tail, &end, 10);
		char *q;

		if (!strcmp(tail, "all"))
			n = -1;
		else if (!*tail || *end || n < 0)
			return cli_usage_error(cli, "--tail `%s`: want a number of lines or `all`",
			                       tail);
		if (n >= 0) {
			q = xasprintf("%s%ctail=%ld", query, *query ? '&' : '?', n);
			free(query);
			query = q;
		}
	}
	if (since) {
		double t = parse_since(since);
		char *q;

		if (t < 0)
			return cli_usage_error(
			    cli,
			    "--since `%s`: want a duration (10m, 1h30m, 90s, 2d) "
			    "or an RFC 3339 time (2026-12-03T07:25:55Z)",
			    since);
		q = xasprintf("%s%csince=%.3f", query, *query ? '&' : '?', t);
		free(query);
		query = q;
	}
	if (stamps) {
		char *q = xasprintf("%s%ctimestamps=true", query, *query ? '&' : '?');

		free(query);
		query = q;
	}
	{
		_cleanup_free_ char *base = cli_path("/v1/instances/%s/logs", inst);

		path = xasprintf("%s%s", base, query);
	}
	cli_catch_signals();
	if (cli_stream_to_stdout(cli, path) < 0)
		return cli_interrupted ? 130 : CLI_FAILED;
	return CLI_OK;
}
