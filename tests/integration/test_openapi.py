"""docs/api/openapi.yaml is a valid OpenAPI document (checked by swagger-cli, a real validator,
which scripts/install-deps puts in build/npm) and says what the daemon serves: every route and
method in daemon/routes.c's table is in the spec, and every route and method in the spec is
served.

How the daemon's routes are read: daemon/routes.c's `daemon_routes[]` table is parsed for its
{"METHOD", "/pattern", ...} rows (both the v1 routes and UniK's), and a real daemon is asked.
The daemon answers a path no route matches with `404 no such route`, and a known path with the
wrong method with `405 ... is not allowed on`; a route that exists but names a missing thing
gets the handler's own answer instead (a `not_found` 404, a 400, a 501 ...).  Those two
answers are first learnt from the daemon itself (a made-up path, and a wrong method on
/v1/version), so the test does not hang on their wording.  Then every (method, path) of the
spec, with made-up names in its parameters, must get some other answer, and every other method
on each spec path must get one of the two; and the table parsed from routes.c must equal the
spec's routes, method for method."""

import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, Skip, fail, build_dir  # noqa: E402
from test_daemon_fixture import Daemon  # noqa: E402

SPEC = os.path.join(REPO, 'docs', 'api', 'openapi.yaml')
ROUTES_C = os.path.join(REPO, 'daemon', 'routes.c')
METHODS = ('get', 'put', 'post', 'delete', 'patch', 'head', 'options')
PROBE_NAME = 'openapi-probe-missing'


def swagger_cli():
    for prefix in (os.path.join(build_dir(), 'npm'), os.path.join(REPO, 'build', 'npm')):
        p = os.path.join(prefix, 'node_modules', '.bin', 'swagger-cli')
        if os.access(p, os.X_OK):
            return p
    p = shutil.which('swagger-cli')
    if p:
        return p
    raise Skip('swagger-cli (@apidevtools/swagger-cli) is not installed: run '
               'scripts/install-deps, which npm-installs it into build/npm')


def test_spec_validates():
    if not shutil.which('node') and not shutil.which('nodejs'):
        raise Skip('node is not installed (scripts/install-deps installs nodejs and npm)')
    p = subprocess.run([swagger_cli(), 'validate', SPEC], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    if p.returncode != 0 or 'is valid' not in p.stdout:
        fail('swagger-cli validate %s failed' % os.path.relpath(SPEC, REPO), p.stdout[-4000:])


def norm(path):
    """/v1/images/{ref}/formats/{format} and /v1/images/*/formats/* -> /v1/images/{}/formats/{}"""
    return '/'.join('{}' if s == '*' or (s.startswith('{') and s.endswith('}')) else s
                    for s in path.split('/'))


def spec_routes():
    try:
        import yaml
    except ImportError:
        raise Skip('python3-yaml is not installed (scripts/install-deps installs it)')
    with open(SPEC) as f:
        spec = yaml.safe_load(f)
    out = {}
    for path, item in (spec.get('paths') or {}).items():
        for m in item:
            if m in METHODS:
                out.setdefault(norm(path), {})[m.upper()] = path
    return out


def table_routes():
    """The daemon's route table, from daemon/routes.c: {normalised path: {METHOD: pattern}}."""
    with open(ROUTES_C) as f:
        text = f.read()
    m = re.search(r'daemon_routes\s*\[\s*\]\s*=\s*\{(.*?)\n\};', text, re.S)
    if not m:
        fail('no `daemon_routes[] = {...};` table in daemon/routes.c: update this test to read '
             'the route table where it now lives')
    # Rows only: a pattern such as "/v1/builds/*/log" holds "/*" and "*/", so no comment
    # stripping, and the row form cannot occur in a comment by accident.
    body = m.group(1)
    out = {}
    for meth, pat in re.findall(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"', body):
        out.setdefault(norm(pat), {})[meth] = pat
    if len(out) < 5:
        fail('read only %d routes from daemon/routes.c' % len(out), m.group(1)[:2000])
    return out


def test_route_table_matches_spec():
    spec, table = spec_routes(), table_routes()
    problems = []
    for path in sorted(set(spec) | set(table)):
        sm, tm = set(spec.get(path, {})), set(table.get(path, {}))
        for meth in sorted(tm - sm):
            problems.append('served but not in the spec: %s %s' % (meth, table[path][meth]))
        for meth in sorted(sm - tm):
            problems.append('in the spec but not served: %s %s' % (meth, spec[path][meth]))
    if problems:
        fail('%d routes differ between daemon/routes.c and docs/api/openapi.yaml'
             % len(problems), '\n'.join(problems))


def spec_serves(spec, method, url):
    """Whether some path of the spec, with its parameters as wildcards, covers method url
    (GET /instances/run is GET /instances/{id} for an instance named run)."""
    segs = url.split('/')
    for path, meths in spec.items():
        p = path.split('/')
        if method in meths and len(p) == len(segs) and all(
                a == '{}' or a == b for a, b in zip(p, segs)):
            return True
    return False


def concrete(path):
    return re.sub(r'\{[^}/]+\}', lambda m: 'raw' if m.group(0) == '{format}' else PROBE_NAME,
                  path)


def signature(resp, method, url):
    """The answer with the request's own method and path taken out, to compare answers."""
    body = resp.text.replace(url, '<URL>').replace(method, '<METHOD>')
    try:
        j = json.loads(body)
        body = json.dumps(j, sort_keys=True)
    except ValueError:
        pass
    return (resp.status, body.strip())


def test_daemon_serves_what_the_spec_says():
    spec = spec_routes()
    with Daemon() as d:
        def ask(method, url):
            # No body: a route that wants one answers 400 (or 415), which is still its own.
            return d.request(method, url, body=b'' if method in ('POST', 'PUT', 'PATCH')
                             else None, timeout=30)

        unknown = {}
        for prefix in ('/v1/', '/'):
            url = prefix + 'no-such-route-for-openapi/x/y/z'
            unknown[prefix] = signature(ask('GET', url), 'GET', url)
        if unknown['/v1/'][0] != 404:
            fail('a made-up /v1 path is not a 404', repr(unknown['/v1/']))
        wrong = signature(ask('PATCH', '/v1/version'), 'PATCH', '/v1/version')
        if wrong[0] not in (404, 405) or wrong == unknown['/v1/']:
            fail('a wrong method on /v1/version is not told apart from an unknown path',
                 '%r\n%r' % (wrong, unknown['/v1/']))
        wrong_compat = signature(ask('PATCH', '/images'), 'PATCH', '/images')

        def route_error(method, url):
            sig = signature(ask(method, url), method, url)
            compat = not url.startswith('/v1/')
            return sig in ((unknown['/'], wrong_compat) if compat else
                           (unknown['/v1/'], wrong)), sig

        problems = []
        for path in sorted(spec):
            for meth, orig in sorted(spec[path].items()):
                url = concrete(orig)
                bad, sig = route_error(meth, url)
                if bad:
                    problems.append('in the spec, not served: %s %s -> %d %s'
                                    % (meth, orig, sig[0], sig[1][:200]))
            orig = next(iter(spec[path].values()))
            for meth in ('GET', 'POST', 'PUT', 'DELETE', 'PATCH'):
                if meth in spec[path]:
                    continue
                url = concrete(orig)
                if spec_serves(spec, meth, url):
                    continue
                bad, sig = route_error(meth, url)
                if not bad:
                    problems.append('served, not in the spec: %s %s -> %d %s'
                                    % (meth, orig, sig[0], sig[1][:200]))
        if d.proc.poll() is not None:
            fail('the daemon died while its routes were probed', d.log())
        if problems:
            fail('%d routes differ between the daemon and docs/api/openapi.yaml'
                 % len(problems), '\n'.join(problems))
