"""S3 for tests: finds (or installs with npm) the s3rver emulator and runs it on a free port
with its own directory, and a proxy to put in front of it that records every request, checks
each request's SigV4 signature with botocore (s3rver itself only checks the access key), and
lets a test answer chosen requests itself (throttling, expired tokens, a lost part).

    with S3rver() as s3, S3Proxy(s3.url) as proxy:
        ... endpoint_url=proxy.url, keys S3RVER / S3RVER ...
        proxy.requests   # [Request(method, path, query, headers, body, status)]
"""

import http.client
import http.server
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

from harness import Skip, Failure, REPO, build_dir, out_dir, tail

ACCESS_KEY = 'S3RVER'
SECRET_KEY = 'S3RVER'


def _npm_prefixes():
    p = []
    if os.environ.get('UNIK_NPM_PREFIX'):
        p.append(os.environ['UNIK_NPM_PREFIX'])
    p.append(os.path.join(build_dir(), 'npm'))
    p.append(os.path.join(REPO, 'build', 'npm'))
    return p


def find_s3rver(install=True):
    """The s3rver executable: $UNIK_NPM_PREFIX, build/npm, PATH, else `npm install --prefix
    build/npm s3rver` once.  Raises Skip when none can be had."""
    for prefix in _npm_prefixes():
        exe = os.path.join(prefix, 'node_modules', '.bin', 's3rver')
        if os.access(exe, os.X_OK):
            return exe
    exe = shutil.which('s3rver')
    if exe:
        return exe
    if not shutil.which('node'):
        raise Skip('s3rver needs node (apt-get install nodejs npm)')
    npm = shutil.which('npm')
    if not install or not npm:
        raise Skip('s3rver is not installed and there is no npm to install it '
                   '(npm install --prefix build/npm s3rver)')
    prefix = os.path.join(build_dir(), 'npm')
    os.makedirs(prefix, exist_ok=True)
    lock = os.path.join(prefix, '.install-lock')
    # Parallel tests may all get here: one installs, the others wait for it.
    with open(lock, 'w') as f:
        import fcntl
        fcntl.flock(f, fcntl.LOCK_EX)
        exe = os.path.join(prefix, 'node_modules', '.bin', 's3rver')
        if not os.access(exe, os.X_OK):
            p = subprocess.run([npm, 'install', '--no-audit', '--no-fund', '--prefix', prefix,
                                's3rver'], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=600)
            if p.returncode != 0 or not os.access(exe, os.X_OK):
                raise Skip('npm install s3rver failed: %s' % tail(p.stdout, 5))
    return exe


class S3rver:
    """s3rver on 127.0.0.1 and a free port, data in a fresh directory under the test's
    output; url is its endpoint."""

    def __init__(self, name='s3rver'):
        self.exe = find_s3rver()
        self.name = name
        self.proc = None
        self.url = None

    def __enter__(self):
        base = out_dir()
        self.dir = tempfile.mkdtemp(prefix=self.name + '-data-', dir=base)
        self.log_path = os.path.join(base, self.name + '.log')
        self.log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen([self.exe, '-d', self.dir, '-a', '127.0.0.1', '-p', '0',
                                      '--no-vhost-buckets'], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            with open(self.log_path, 'rb') as f:
                m = re.search(rb'listening on 127\.0\.0\.1:(\d+)', f.read())
            if m:
                self.port = int(m.group(1))
                self.url = 'http://127.0.0.1:%d' % self.port
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.__exit__(None, None, None)
        with open(self.log_path, 'rb') as f:
            raise Failure('s3rver did not start', tail(f.read()))

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return False

    def get(self, bucket, key):
        """The object's bytes, read straight from s3rver (which needs no signature)."""
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=60)
        c.request('GET', '/%s/%s' % (bucket, urllib.parse.quote(key)))
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status != 200:
            raise Failure('GET s3://%s/%s: HTTP %d' % (bucket, key, r.status), data[:500])
        return data


def _botocore():
    try:
        import botocore.auth  # noqa: F401
        return True
    except ImportError:
        return False


_AUTH = re.compile(r'AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, '
                   r'SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$')


def verify_sigv4(method, target, headers, body, secret, scheme='http'):
    """None when botocore, given the same request, computes the same Authorization header;
    else why not.  headers is an http.client.HTTPMessage."""
    import datetime
    from unittest import mock
    import botocore.auth as A
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = headers.get('Authorization', '')
    m = _AUTH.match(auth)
    if not m:
        return 'no SigV4 Authorization header: %r' % auth
    akid, date, region, service, signed, _ = m.groups()
    amz_date = headers.get('X-Amz-Date', '')
    if amz_date[:8] != date:
        return 'X-Amz-Date %r does not match the scope date %s' % (amz_date, date)
    fixed = datetime.datetime.strptime(amz_date, '%Y%m%dT%H%M%SZ')

    class Fixed(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

        @classmethod
        def now(cls, tz=None):
            return fixed.replace(tzinfo=tz) if tz else fixed

    req = AWSRequest(method=method, url='%s://%s%s' % (scheme, headers['Host'], target),
                     data=body)
    names = signed.split(';')
    for name in names:
        if name in ('host', 'x-amz-date', 'x-amz-content-sha256', 'x-amz-security-token'):
            continue
        for v in headers.get_all(name) or []:
            req.headers[name] = v
    creds = Credentials(akid, secret, headers.get('X-Amz-Security-Token'))
    signer = (A.S3SigV4Auth if service == 's3' else A.SigV4Auth)(creds, service, region)
    with mock.patch.object(A.datetime, 'datetime', Fixed):
        signer.add_auth(req)
    if req.headers['Authorization'] != auth:
        return 'signature differs from botocore\'s:\n  got      %s\n  botocore %s' % (
            auth, req.headers['Authorization'])
    if 'x-amz-content-sha256' in names and \
            headers.get('X-Amz-Content-SHA256') != req.headers.get('X-Amz-Content-SHA256'):
        return 'X-Amz-Content-SHA256 %r is not the body\'s hash' % headers.get(
            'X-Amz-Content-SHA256')
    return None


class Request:
    def __init__(self, method, target, headers, body):
        self.method = method
        self.target = target
        u = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(u.path)
        self.query = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        self.headers = headers
        self.body = body
        self.status = None
        self.signature_error = None

    def __repr__(self):
        return '%s %s -> %s' % (self.method, self.target, self.status)


def s3_error(status, code, message):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            '<RequestId>unik-test</RequestId></Error>' % (code, message))
    return status, {'Content-Type': 'application/xml'}, body.encode()


class S3Proxy:
    """An HTTP proxy in front of upstream (or a bare server when upstream is None): records
    requests, verifies signatures with botocore when this Python has it, and calls hook(req)
    first: a (status, headers, body) answer short-cuts upstream."""

    def __init__(self, upstream=None, hook=None, secret=SECRET_KEY, name='proxy'):
        self.upstream = urllib.parse.urlsplit(upstream) if upstream else None
        self.hook = hook
        self.secret = secret
        self.requests = []
        self.lock = threading.Lock()
        self.verifying = _botocore()
        self.log_path = os.path.join(out_dir(), name + '.log')

    def __enter__(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, fmt, *args):
                pass

            def handle_one(self):
                n = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(n) if n else b''
                req = Request(self.command, self.path, self.headers, body)
                if proxy.verifying:
                    try:
                        req.signature_error = verify_sigv4(self.command, self.path,
                                                           self.headers, body, proxy.secret)
                    except Exception as e:  # a crash in the check is a failed check
                        req.signature_error = 'botocore could not check it: %r' % e
                with proxy.lock:
                    proxy.requests.append(req)
                answer = proxy.hook(req) if proxy.hook else None
                if answer is None and req.signature_error:
                    answer = s3_error(403, 'SignatureDoesNotMatch', req.signature_error)
                if answer is None and proxy.upstream:
                    answer = proxy.forward(self.command, self.path, self.headers, body)
                if answer is None:
                    answer = (200, {}, b'')
                status, headers, data = answer
                req.status = status
                with open(proxy.log_path, 'a') as f:
                    f.write('%s %s -> %d%s\n' % (self.command, self.path, status,
                                                 ' SIGNATURE: ' + req.signature_error
                                                 if req.signature_error else ''))
                self.send_response(status)
                for k, v in headers.items():
                    if k.lower() not in ('content-length', 'connection', 'transfer-encoding'):
                        self.send_header(k, v)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                if self.command != 'HEAD':
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = 'http://127.0.0.1:%d' % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        return False

    def forward(self, method, target, headers, body):
        c = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=120)
        # Host stays as the client signed it.
        skip = ('connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'expect')
        c.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            if k.lower() not in skip:
                c.putheader(k, v)
        c.endheaders(body if body else None)
        r = c.getresponse()
        data = r.read()
        out = {k: v for k, v in r.getheaders()}
        c.close()
        return r.status, out, data

    def matching(self, method, **query):
        """Requests with this method whose query has these keys (value None: any value)."""
        with self.lock:
            reqs = list(self.requests)
        return [r for r in reqs if r.method == method and
                all(k in r.query and (v is None or r.query[k] == str(v))
                    for k, v in query.items())]

    def bad_signatures(self):
        with self.lock:
            return [r for r in self.requests if r.signature_error]


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port
