"""An OCI registry for tests: Debian's `docker-registry` (distribution) on loopback, with its own
config file, storage directory and free port, optionally behind htpasswd basic auth and TLS with
a self-signed certificate made by openssl.

    with Registry(auth=('alice', 'secret'), tls=True) as reg:   # htpasswd (Basic)
    with Registry(token=('alice', 'secret')) as reg:             # a token server (Bearer)
        reg.host        # "127.0.0.1:PORT"
        reg.blob_path(digest)   # the file that holds a blob in the storage
"""

import base64
import http.server
import json
import os
import shutil
import threading
import socket
import subprocess
import time
import urllib.error
import urllib.request
import ssl

from harness import Skip, Failure, out_dir, tail


def _free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def need_registry():
    exe = shutil.which('docker-registry')
    if not exe:
        raise Skip('docker-registry is not installed (apt-get install docker-registry)')
    return exe


def _htpasswd_line(user, password):
    """A bcrypt line for user (distribution's htpasswd takes bcrypt only)."""
    if shutil.which('htpasswd'):
        p = subprocess.run(['htpasswd', '-nbB', user, password], capture_output=True, text=True)
        if p.returncode == 0 and p.stdout.strip():
            return p.stdout.strip()
    try:
        import crypt  # noqa: deprecated, but bcrypt where libcrypt has it
        h = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))
        if h and h.startswith('$2'):
            return '%s:%s' % (user, h)
    except (ImportError, AttributeError):
        pass
    raise Skip('no way to write a bcrypt htpasswd line (apt-get install apache2-utils)')


def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b'=').decode()


class TokenServer:
    """The token server of the registry's `auth: token:` (what Docker Hub's auth.docker.io is):
    answers GET /token?service=S&scope=repository:NAME:ACTIONS, for the one user and password
    given as basic auth, with an RS256 JWT signed by openssl whose x5c names the certificate the
    registry trusts.  Records each request's scope and user."""

    def __init__(self, dirpath, user, password, service, issuer):
        self.dir, self.user, self.password = dirpath, user, password
        self.service, self.issuer = service, issuer
        self.key = os.path.join(dirpath, 'token-key.pem')
        self.cert = os.path.join(dirpath, 'token-cert.pem')
        p = subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                            '-keyout', self.key, '-out', self.cert, '-days', '2',
                            '-subj', '/CN=unik-test-token'], capture_output=True, text=True)
        if p.returncode:
            raise Failure('openssl could not make the token signing key', p.stderr)
        der = subprocess.run(['openssl', 'x509', '-in', self.cert, '-outform', 'DER'],
                             capture_output=True, check=True).stdout
        self.x5c = base64.b64encode(der).decode()
        self.requests = []
        self.port = _free_port()
        self.realm = 'http://127.0.0.1:%d/token' % self.port
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                import urllib.parse
                u = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(u.query)
                who = None
                h = self.headers.get('Authorization', '')
                if h.startswith('Basic '):
                    try:
                        who = base64.b64decode(h[6:]).decode()
                    except ValueError:
                        who = ''
                server.requests.append({'scope': q.get('scope', []), 'user': who,
                                        'service': q.get('service', [''])[0]})
                if who != '%s:%s' % (server.user, server.password):
                    self.send_response(401)
                    self.end_headers()
                    return
                access = []
                for sc in q.get('scope', []):
                    kind, rest = sc.split(':', 1)
                    name, actions = rest.rsplit(':', 1)
                    access.append({'type': kind, 'name': name,
                                   'actions': actions.split(',')})
                body = json.dumps({'token': server.sign(access)}).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def sign(self, access):
        now = int(time.time())
        header = {'typ': 'JWT', 'alg': 'RS256', 'x5c': [self.x5c]}
        claims = {'iss': self.issuer, 'sub': self.user, 'aud': self.service, 'exp': now + 600,
                  'nbf': now - 60, 'iat': now, 'jti': '%d-%d' % (now, len(self.requests)),
                  'access': access}
        signing = (_b64url(json.dumps(header).encode()) + '.' +
                   _b64url(json.dumps(claims).encode())).encode()
        sig = subprocess.run(['openssl', 'dgst', '-sha256', '-sign', self.key], input=signing,
                             capture_output=True, check=True).stdout
        return signing.decode() + '.' + _b64url(sig)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Registry:
    def __init__(self, name='registry', auth=None, tls=False, token=None):
        self.exe = need_registry()
        self.dir = os.path.join(out_dir(), name)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.storage = os.path.join(self.dir, 'storage')
        os.makedirs(self.storage)
        self.port = _free_port()
        self.host = '127.0.0.1:%d' % self.port
        self.auth = auth
        self.tls = tls
        self.log = os.path.join(self.dir, 'registry.log')
        self.proc = None
        lines = ['version: 0.1', 'log:', '  level: info', 'storage:', '  filesystem:',
                 '    rootdirectory: %s' % self.storage, '  delete:', '    enabled: true',
                 'http:', '  addr: %s' % self.host, '  secret: unik-test-secret']
        if tls:
            if not shutil.which('openssl'):
                raise Skip('openssl is not installed: no certificate for the TLS registry')
            self.cert = os.path.join(self.dir, 'cert.pem')
            self.key = os.path.join(self.dir, 'key.pem')
            p = subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
                                '-keyout', self.key, '-out', self.cert, '-days', '2',
                                '-subj', '/CN=127.0.0.1', '-addext',
                                'subjectAltName=IP:127.0.0.1'],
                               capture_output=True, text=True)
            if p.returncode:
                raise Failure('openssl could not make a certificate', p.stderr)
            lines += ['  tls:', '    certificate: %s' % self.cert, '    key: %s' % self.key]
        if auth:
            ht = os.path.join(self.dir, 'htpasswd')
            with open(ht, 'w') as f:
                f.write(_htpasswd_line(*auth) + '\n')
            lines += ['auth:', '  htpasswd:', '    realm: unik-test', '    path: %s' % ht]
        self.token_server = None
        if token:
            if not shutil.which('openssl'):
                raise Skip('openssl is not installed: no key for the token server')
            self.token_server = TokenServer(self.dir, token[0], token[1],
                                            'unik-test-registry', 'unik-test-issuer')
            lines += ['auth:', '  token:', '    realm: %s' % self.token_server.realm,
                      '    service: unik-test-registry', '    issuer: unik-test-issuer',
                      '    rootcertbundle: %s' % self.token_server.cert]
        self.config = os.path.join(self.dir, 'config.yml')
        with open(self.config, 'w') as f:
            f.write('\n'.join(lines) + '\n')

    @property
    def url(self):
        return '%s://%s' % ('https' if self.tls else 'http', self.host)

    def __enter__(self):
        logf = open(self.log, 'wb')
        self.proc = subprocess.Popen([self.exe, 'serve', self.config], stdout=logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        logf.close()
        ctx = ssl._create_unverified_context() if self.tls else None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure('docker-registry exited with %d' % self.proc.returncode,
                              tail(open(self.log, 'rb').read()))
            try:
                urllib.request.urlopen(self.url + '/v2/', timeout=5, context=ctx)
                return self
            except urllib.error.HTTPError:
                return self  # 401 with auth: it answers
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.__exit__()
        raise Failure('docker-registry did not answer within 60 s',
                      tail(open(self.log, 'rb').read()))

    def __exit__(self, *exc):
        if self.token_server:
            self.token_server.close()
            self.token_server = None
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def blob_path(self, digest):
        algo, hexd = digest.split(':', 1)
        return os.path.join(self.storage, 'docker', 'registry', 'v2', 'blobs', algo, hexd[:2],
                            hexd, 'data')
