"""The unik CLI against a scripted stand-in for the daemon (a small HTTP server in the test, on a
unix socket or TCP): what it sends (multipart uploads, JSON bodies, the bearer token, UniK's flag
spellings), how it shows what comes back (streamed logs, errors, tables, JSON, exit statuses),
and Ctrl-C while attached.  These need no daemon and no QEMU; tests/integration/test_cli.py runs
the same verbs against the real daemon."""

import email.parser
import email.policy
import gzip
import io
import json
import os
import signal
import socketserver
import subprocess
import tarfile
import threading
import time
import http.server

from harness import Failure, fail, out_dir, tail, bin_dir

VERBS = ['build', 'images', 'describe-image', 'rmi', 'delete-image', 'run', 'ps', 'instances',
         'describe-instance', 'logs', 'start', 'stop', 'rm', 'delete-instance', 'providers',
         'compilers', 'describe-compiler', 'target', 'version', 'help', 'init', 'inspect']


def unik_bin():
    p = os.path.join(bin_dir(), 'unik')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make)' % p)
    return p


def unik(args, home, env=None, timeout=60, input=None):
    e = {k: v for k, v in os.environ.items() if k not in ('UNIK_HOST', 'UNIK_TOKEN')}
    e['UNIK_HOME'] = home
    e.update(env or {})
    p = subprocess.run([unik_bin()] + list(args), env=e, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    with open(os.path.join(out_dir(), 'unik.log'), 'a') as f:
        f.write('$ unik %s\n%s%s[exit %d]\n' % (' '.join(args), p.stdout, p.stderr,
                                                 p.returncode))
    return p


def expect(p, code, what):
    if p.returncode != code:
        fail('%s: exit %d, wanted %d' % (what, p.returncode, code),
             tail('stdout:\n' + p.stdout + '\nstderr:\n' + p.stderr))
    return p


class Fake:
    """The stand-in daemon: routes answer from self.routes, every request is recorded."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        self.build_state = 'succeeded'
        self.build_log = ['$ make CC=unik-cc\n', 'unik-cc -O2 -o hello hello.c\n']
        self.console = ['Hello from a unikernel!\n']
        self.exit = {'state': 'exited', 'exit_code': 3}
        self.follow_forever = False
        self.images = [{'id': 'abc123', 'name': 'hello', 'compiler': 'rump', 'provider': 'qemu',
                        'size_bytes': 123456, 'created': '2024-01-01T00:00:00Z'}]
        self.providers = []
        self.closed = False

    def record(self, handler, body):
        with self.lock:
            self.requests.append({'method': handler.command, 'path': handler.path,
                                  'headers': dict(handler.headers.items()), 'body': body})

    def find(self, method, prefix):
        with self.lock:
            return [r for r in self.requests if r['method'] == method
                    and r['path'].startswith(prefix)]


def make_handler(fake):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *a):
            pass

        def address_string(self):
            return 'unix'

        def send_json(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def error(self, status, code, msg):
            self.send_json(status, {'error': {'code': code, 'message': msg}})

        def stream(self, pieces, forever=False):
            self.send_response(200)
            self.send_header('Content-Type', 'text/plain')
            self.send_header('Transfer-Encoding', 'chunked')
            self.end_headers()
            try:
                for p in pieces:
                    b = p.encode()
                    self.wfile.write(b'%x\r\n%s\r\n' % (len(b), b))
                    self.wfile.flush()
                    time.sleep(0.02)
                while forever and not fake.closed:
                    time.sleep(0.05)
                self.wfile.write(b'0\r\n\r\n')
            except (BrokenPipeError, ConnectionResetError):
                pass

        def body(self):
            n = int(self.headers.get('Content-Length') or 0)
            return self.rfile.read(n) if n else b''

        def do_GET(self):
            fake.record(self, None)
            p = self.path
            if p == '/v1/version':
                return self.send_json(200, {'version': '0.1.0', 'api': 'v1', 'guest_abi': 1})
            if p == '/v1/images':
                return self.send_json(200, fake.images)
            if p == '/v1/providers':
                return self.send_json(200, fake.providers)
            if p == '/v1/images/hello':
                return self.send_json(200, {'id': 'abc123', 'name': 'hello',
                                            'size_bytes': 123456, 'formats': {'elf': {}}})
            if p.startswith('/v1/images/'):
                return self.error(404, 'not_found', 'no image %s (see unik images)'
                                  % p.rsplit('/', 1)[1])
            if p == '/v1/instances':
                return self.send_json(200, [{'id': 'i0000001', 'name': 'i1', 'image': 'hello',
                                             'state': 'exited', 'exit_code': 3,
                                             'provider': 'qemu', 'ip': '',
                                             'created': '2024-01-01T00:00:00Z'}])
            if p == '/v1/builds/b1/log?follow=true':
                return self.stream(fake.build_log)
            if p == '/v1/builds/b1':
                return self.send_json(200, {'id': 'b1', 'image': 'hello',
                                            'state': fake.build_state,
                                            'error': '' if fake.build_state == 'succeeded'
                                            else 'make exited with status 2'})
            if p.endswith('/logs?follow=true'):
                return self.stream(fake.console, fake.follow_forever)
            if p.endswith('/logs'):
                return self.stream(fake.console)
            if p.endswith('/wait'):
                return self.send_json(200, dict({'id': 'i0000001', 'name': 'i1'}, **fake.exit))
            return self.error(404, 'not_found', 'no route %s' % p)

        def do_POST(self):
            data = self.body()
            fake.record(self, data)
            p = self.path
            if p == '/v1/builds':
                return self.send_json(201, {'id': 'b1', 'image': 'hello', 'state': 'running'})
            if p == '/v1/instances':
                b = json.loads(data)
                return self.send_json(201, {'id': 'i0000001', 'name': b.get('name', 'hello-1a2b'),
                                            'image': b['image'], 'state': 'running'})
            if p.endswith('/stop') or p.endswith('/start'):
                return self.send_json(200, {'id': 'i0000001', 'name': 'i1', 'state': 'stopped'})
            return self.error(404, 'not_found', 'no route %s' % p)

        def do_DELETE(self):
            fake.record(self, None)
            if self.path.startswith('/v1/instances/busy?') or self.path == '/v1/instances/busy':
                return self.error(409, 'state', 'instance busy is running (stop it first, or '
                                  'use --force)')
            self.send_response(204)
            self.send_header('Content-Length', '0')
            self.end_headers()

    return H


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class TCPHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


class Setup:
    def __init__(self, tcp=False):
        self.home = os.path.join(out_dir(), 'home')
        os.makedirs(self.home, exist_ok=True)
        self.fake = Fake()
        if tcp:
            self.server = TCPHTTPServer(('127.0.0.1', 0), make_handler(self.fake))
            self.port = self.server.server_address[1]
        else:
            # A short path: sun_path holds 108 bytes.
            self.sock = os.path.join(self.home, 'daemon.sock')
            if len(self.sock) > 100:
                self.home = os.path.join('/tmp', 'unik-cli-%d' % os.getpid())
                os.makedirs(self.home, exist_ok=True)
                self.sock = os.path.join(self.home, 'daemon.sock')
            self.server = UnixHTTPServer(self.sock, make_handler(self.fake))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def run(self, args, **kw):
        return unik(args, self.home, **kw)

    def close(self):
        self.fake.closed = True
        self.server.shutdown()
        self.server.server_close()


def with_fake(tcp=False):
    def wrap(fn):
        def test():
            s = Setup(tcp)
            try:
                fn(s)
            finally:
                s.close()
        test.__name__ = fn.__name__
        test.__module__ = fn.__module__
        test.__code__ = test.__code__.replace(co_firstlineno=fn.__code__.co_firstlineno)
        return test
    return wrap


def parse_multipart(req):
    ctype = req['headers'].get('Content-Type')
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b'Content-Type: ' + ctype.encode() + b'\r\n\r\n' + req['body'])
    parts = {}
    for part in msg.iter_parts():
        parts[part.get_param('name', header='content-disposition')] = (
            part.get_filename(), part.get_payload(decode=True))
    return parts


# ---------------------------------------------------------------------------------------------


def test_help_for_every_verb():
    home = os.path.join(out_dir(), 'home')
    for verb in VERBS:
        p = expect(unik([verb, '--help'], home), 0, 'unik %s --help' % verb)
        if 'Usage: unik' not in p.stdout or verb.split('-')[0] not in p.stdout:
            fail('unik %s --help does not show its usage' % verb, tail(p.stdout))
    p = expect(unik(['help'], home), 0, 'unik help')
    for verb in VERBS:
        if verb not in p.stdout:
            fail('unik help does not list %s' % verb, p.stdout)
    expect(unik(['help', 'run'], home), 0, 'unik help run')
    if os.path.exists(os.path.join(home, 'daemon.sock')):
        fail('--help started a daemon')


def test_usage_errors_exit_2():
    home = os.path.join(out_dir(), 'home')
    cases = [(['run', '--memroy', '64', 'hello'], '--memory'),
             (['biuld'], 'build'),
             (['ps', '--bogus'], 'unknown option'),
             (['run'], 'which image'),
             (['run', '-m', 'lots', 'hello'], '--mem'),
             (['logs'], 'which instance'),
             (['build', '--name'], 'needs a value'),
             (['images', '-o', 'yaml'], 'output format'),
             ([], 'no verb')]
    for args, words in cases:
        p = expect(unik(args, home), 2, 'unik %s' % ' '.join(args))
        if words not in p.stderr:
            fail('unik %s: the error does not mention %r' % (' '.join(args), words), p.stderr)


def test_run_with_too_little_memory_is_refused_at_once():
    """unik run -m 1 used to hang with no output: the guest's kernel is loaded at 1 MiB."""
    home = os.path.join(out_dir(), 'home')
    for mem in ('1', '1M'):
        p = expect(unik(['run', '-m', mem, 'hello'], home, timeout=20), 2,
                   'unik run -m %s' % mem)
        if 'at least 2 MiB' not in p.stderr or '--mem' not in p.stderr:
            fail('unik run -m %s: the error does not give the minimum' % mem, p.stderr)
    if os.path.exists(os.path.join(home, 'daemon.sock')):
        fail('unik run -m 1 started a daemon')


@with_fake()
def test_daemon_error_message_is_shown(s):
    p = expect(s.run(['describe-image', 'nope']), 1, 'describe-image of a missing image')
    if 'no image nope (see unik images)' not in p.stderr:
        fail("the daemon's message is not shown", p.stderr)
    p = expect(s.run(['rm', 'busy']), 1, 'rm of a running instance')
    if 'use --force' not in p.stderr:
        fail("the daemon's message is not shown", p.stderr)
    expect(s.run(['rm', '-f', 'busy2']), 0, 'rm -f')
    if not s.fake.find('DELETE', '/v1/instances/busy2?force=true'):
        fail('rm -f did not send force=true', str(s.fake.requests))


def test_unreachable_daemon_is_a_clear_error():
    home = os.path.join(out_dir(), 'home')
    import socket
    sk = socket.socket()
    sk.bind(('127.0.0.1', 0))
    port = sk.getsockname()[1]
    sk.close()
    p = expect(unik(['--host', '127.0.0.1:%d' % port, 'images'], home), 1, 'unreachable host')
    want = 'cannot reach the unik daemon at http://127.0.0.1:%d: connection refused' % port
    if want not in p.stderr:
        fail('no clear transport error', p.stderr)


@with_fake()
def test_tables_and_json(s):
    p = expect(s.run(['images']), 0, 'images')
    lines = p.stdout.splitlines()
    if not lines[0].startswith('NAME') or 'hello' not in lines[1] or '120.6 KiB' not in lines[1]:
        fail('images table', p.stdout)
    if lines[0].index('ID') != lines[1].index('abc123'):
        fail('images columns are not aligned', p.stdout)
    for verb in (['images'], ['ps'], ['instances'], ['describe-image', 'hello'], ['version']):
        p = expect(s.run(verb + ['-o', 'json']), 0, ' '.join(verb) + ' -o json')
        try:
            json.loads(p.stdout)
        except ValueError:
            fail('%s -o json is not JSON' % ' '.join(verb), p.stdout)
    p = expect(s.run(['ps', '-a']), 0, 'ps -a')
    if 'exited (3)' not in p.stdout:
        fail('ps -a does not show the exit status', p.stdout)
    p = expect(s.run(['ps']), 0, 'ps')
    if 'exited' in p.stdout:
        fail('ps without -a shows an ended instance', p.stdout)


@with_fake()
def test_build_uploads_packed_source_and_streams_log(s):
    src = os.path.join(out_dir(), 'proj')
    os.makedirs(os.path.join(src, 'build'))
    os.makedirs(os.path.join(src, '.git'))
    for name, text in [('hello.c', 'int main(void){return 0;}\n'), ('Makefile', 'all:\n'),
                       ('junk.o', 'x'), ('build/out', 'x'), ('.git/HEAD', 'ref'),
                       ('.unikignore', '*.o\nbuild/\n')]:
        with open(os.path.join(src, name), 'w') as f:
            f.write(text)
    os.symlink('hello.c', os.path.join(src, 'link.c'))
    p = expect(s.run(['build', '--name', 'hello', '--path', src, '-e', 'A=1', '--mem', '96',
                      '--args', "x 'y z'"]), 0, 'build')
    if 'unik-cc -O2 -o hello hello.c' not in p.stdout:
        fail('the build log was not streamed to stdout', p.stdout)
    if 'built image hello (120.6 KiB)' not in p.stdout:
        fail('no "built image" line', p.stdout)
    req = s.fake.find('POST', '/v1/builds')[0]
    parts = parse_multipart(req)
    opts = json.loads(parts['options'][1])
    # A build replaces the image of its name unless --no-replace (docker build's habit).
    if opts != {'name': 'hello', 'env': {'A': '1'}, 'memory_mb': 96, 'args': "x 'y z'",
                'force': True}:
        fail('build options', json.dumps(opts))
    with tarfile.open(fileobj=io.BytesIO(parts['source'][1]), mode='r:gz') as t:
        names = sorted(t.getnames())
        link = t.getmember('link.c')
    if names != ['.unikignore', 'Makefile', 'hello.c', 'link.c']:
        fail('packed names (.git, *.o and build/ must be left out)', str(names))
    if not link.issym() or link.linkname != 'hello.c':
        fail('the symlink was not kept as a link')


@with_fake()
def test_failed_build_exits_1_with_the_compiler_errors(s):
    s.fake.build_state = 'failed'
    s.fake.build_log = ["hello.c:3:9: error: 'undeclared_thing' undeclared\n",
                        'make: *** [Makefile:2: hello] Error 1\n']
    src = os.path.join(out_dir(), 'proj')
    os.makedirs(src)
    with open(os.path.join(src, 'hello.c'), 'w') as f:
        f.write('x\n')
    p = expect(s.run(['build', '--name', 'hello', src]), 1, 'failed build')
    if "error: 'undeclared_thing' undeclared" not in p.stdout:
        fail("gcc's error did not reach the terminal", p.stdout)
    if 'build of hello failed: make exited with status 2' not in p.stderr:
        fail("the daemon's reason is not shown", p.stderr)


@with_fake()
def test_run_attached_streams_console_and_exits_with_guest_status(s):
    p = s.run(['run', '--name', 'i1', '-e', 'K=V', '-m', '128', 'hello', 'a b', "it's", '-x'])
    expect(p, 3, 'run attached (the guest exits 3)')
    if 'Hello from a unikernel!' not in p.stdout:
        fail('the console did not stream', p.stdout)
    body = json.loads(s.fake.find('POST', '/v1/instances')[0]['body'])
    want = {'image': 'hello', 'name': 'i1', 'env': {'K': 'V'}, 'memory_mb': 128,
            'args': "hello 'a b' 'it'\\''s' -x"}
    if body != want:
        fail('run body', json.dumps(body) + '\nwanted ' + json.dumps(want))
    if not s.fake.find('GET', '/v1/instances/i0000001/wait'):
        fail('run did not wait for the instance')
    s.fake.exit = {'state': 'crashed', 'exit_code': 255, 'detail': 'page fault'}
    p = expect(s.run(['run', 'hello']), 255, 'run of a crashing guest')
    if 'crashed: page fault' not in p.stderr:
        fail('the crash is not reported', p.stderr)


@with_fake()
def test_run_detached_and_unik_spellings(s):
    p = expect(s.run(['run', '-d', '--instanceName', 'i9', '--imageName', 'hello', '--env',
                      'A=B', '--instanceMemory', '96', '--args', 'one two']), 0, 'run -d')
    if p.stdout.strip() != 'i9':
        fail('run -d prints the name', p.stdout)
    body = json.loads(s.fake.find('POST', '/v1/instances')[0]['body'])
    if body != {'image': 'hello', 'name': 'i9', 'env': {'A': 'B'}, 'memory_mb': 96,
                'args': 'one two'}:
        fail('UniK spellings', json.dumps(body))
    if s.fake.find('GET', '/v1/instances/i0000001/logs'):
        fail('run -d attached to the console')
    expect(s.run(['logs', '--instance', 'i9', '--follow']), 0, 'logs --follow')
    expect(s.run(['delete-instance', '--instance', 'i9', '--force']), 0, 'delete-instance')
    expect(s.run(['delete-image', '--image', 'hello']), 0, 'delete-image')
    expect(s.run(['stop', 'i9']), 0, 'stop')
    for m, path in [('GET', '/v1/instances/i9/logs?follow=true'),
                    ('DELETE', '/v1/instances/i9?force=true'), ('DELETE', '/v1/images/hello'),
                    ('POST', '/v1/instances/i9/stop')]:
        if not s.fake.find(m, path):
            fail('%s %s was not sent' % (m, path), json.dumps([r['path'] for r in
                                                                s.fake.requests]))


@with_fake()
def test_ctrl_c_while_attached_stops_the_instance(s):
    s.fake.follow_forever = True
    e = dict(os.environ, UNIK_HOME=s.home)
    e.pop('UNIK_HOST', None)
    p = subprocess.Popen([unik_bin(), 'run', '--name', 'i1', 'hello'], env=e,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not s.fake.find('GET', '/v1/instances/i0000001/logs') and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=10)
    if p.returncode != 130:
        fail('Ctrl-C: exit %s, wanted 130' % p.returncode, err)
    if time.monotonic() - t0 > 2:
        fail('Ctrl-C took %.1fs' % (time.monotonic() - t0))
    if not s.fake.find('POST', '/v1/instances/i0000001/stop'):
        fail('Ctrl-C did not stop the instance', err)


@with_fake(tcp=True)
def test_target_token_and_host(s):
    home = s.home
    p = expect(unik(['target', '--host', '127.0.0.1', '--port', str(s.port)], home), 0,
               'target')
    with open(os.path.join(home, 'client-config.yaml')) as f:
        text = f.read()
    if text != 'host: "127.0.0.1:%d"\n' % s.port:
        fail('client-config.yaml', text)
    expect(unik(['images'], home, env={'UNIK_TOKEN': 's3cret'}), 0, 'images through the config')
    req = s.fake.find('GET', '/v1/images')[-1]
    if req['headers'].get('Authorization') != 'Bearer s3cret':
        fail('no bearer token', str(req['headers']))
    p = expect(unik(['target'], home), 0, 'target (show)')
    if '127.0.0.1:%d' % s.port not in p.stdout:
        fail('target does not show the target', p.stdout)
    expect(unik(['target', '--local'], home), 0, 'target --local')
    if os.path.exists(os.path.join(home, 'client-config.yaml')):
        fail('target --local left the config')
    other = os.path.join(out_dir(), 'other')
    expect(unik(['--host', '127.0.0.1:%d' % s.port, '--token', 't2', 'ps'], other), 0,
           '--host before the verb')
    expect(unik(['ps', '--host', 'http://127.0.0.1:%d' % s.port], other), 0, '--host after')
    expect(unik(['ps'], other, env={'UNIK_HOST': '127.0.0.1:%d' % s.port}), 0, 'UNIK_HOST')
    if s.fake.find('GET', '/v1/instances')[0]['headers'].get('Authorization') != 'Bearer t2':
        fail('--token was not sent')


# ---------------------------------------------------------------------------------------------
# Docker's habits and output that fits (issue 17)

FORMATS = {f: {'size_bytes': n} for f, n in (('elf', 96000), ('raw', 1 << 20),
                                              ('qcow2', 1 << 20), ('vmdk', 786432),
                                              ('vhd', 1 << 21), ('iso', 1 << 21))}


def columns(line):
    return len(line)  # the text is decoded: '…' is one character, one column


def check_cut_cells(out, full):
    """Every cell cut with '…' in out is a prefix of its whole text in full that ends at a
    word's end (never inside a word)."""
    for line in out.splitlines():
        for cell in line.split('  '):
            cell = cell.strip()
            if not cell.endswith('…'):
                continue
            head = cell[:-1]
            i = full.find(head)
            if i < 0:
                fail('the cut cell %r is not a prefix of anything printed whole' % cell, out)
            nxt = full[i + len(head):i + len(head) + 1]
            if nxt.isalnum():
                fail('the cell %r is cut in the middle of a word (next: %r)' % (cell, nxt),
                     out + '\n' + full)


@with_fake()
def test_tables_fit_the_width_and_cut_at_word_ends(s):
    s.fake.images = [{'id': 'abc123def456', 'name': 'web-server',
                      'compiler': 'rump', 'provider': 'qemu', 'size_bytes': 123456,
                      'formats': FORMATS, 'created': '2024-01-01T00:00:00Z'}]
    env = {'COLUMNS': ''}
    p = expect(s.run(['images'], env=env), 0, 'images')
    full = expect(s.run(['images', '--no-trunc'], env=env), 0, 'images --no-trunc').stdout
    wide = [l for l in p.stdout.splitlines() if columns(l) > 80]
    if wide:
        fail('`unik images` piped is wider than 80 columns', p.stdout)
    if '…' not in p.stdout:
        fail('nothing was cut, yet the whole table is %d columns wide'
             % max(map(columns, full.splitlines())), p.stdout)
    check_cut_cells(p.stdout, full)
    if 'iso 2.0M' not in full or max(map(columns, full.splitlines())) <= 80:
        fail('--no-trunc did not print the whole cells', full)
    for cell in ('web-server', 'abc123def456', 'years ago'):
        if cell not in p.stdout:
            fail('%s was cut although shorter columns could give' % cell, p.stdout)
    p = expect(s.run(['images'], env={'COLUMNS': '60'}), 0, 'images, COLUMNS=60')
    if any(columns(l) > 60 for l in p.stdout.splitlines()[1:]) and \
            'web-server' not in p.stdout.splitlines()[1]:
        fail('COLUMNS=60 is not followed', p.stdout)
    p = expect(s.run(['images'], env={'COLUMNS': '250'}), 0, 'images, COLUMNS=250')
    if '…' in p.stdout:
        fail('COLUMNS=250 leaves room for every cell, yet one was cut', p.stdout)


@with_fake()
def test_provider_reasons_print_one_line_each(s):
    reason = ('libxl cannot open a context (xencall: Could not obtain handle on privileged\n'
              'command interface: No such file or directory;\nlibxl: libxl.c:102:'
              'libxl_ctx_alloc: cannot open libxc handle: No such file or directory)\n'
              'install Xen and boot its dom0')
    s.fake.providers = [
        {'name': 'qemu', 'default': True, 'image_format': 'elf', 'available': True,
         'description': 'local QEMU microvm per instance (KVM when /dev/kvm opens, else TCG)'},
        {'name': 'xen', 'default': False, 'image_format': 'elf', 'available': False,
         'reason': reason, 'description': 'a Xen PVH domain per instance, through libxl '
                                          '(needs a Xen dom0)'}]
    p = expect(s.run(['providers'], env={'COLUMNS': ''}), 0, 'providers')
    lines = p.stdout.splitlines()
    xen = [l for l in lines if l.startswith('xen: unavailable (libxl cannot open')]
    if len(xen) != 1 or any(columns(l) > 80 for l in lines):
        fail('the reason is not one line of at most 80 columns', p.stdout)
    if any(l.startswith(('command interface', 'libxl:', 'install Xen')) for l in lines):
        fail("the reason's own line breaks reached the output", p.stdout)
    full = expect(s.run(['providers', '--no-trunc'], env={'COLUMNS': ''}), 0,
                  'providers --no-trunc').stdout
    check_cut_cells(p.stdout, full.replace('\n', ' '))
    if 'install Xen and boot its dom0)' not in full:
        fail('--no-trunc did not print the whole reason', full)


@with_fake()
def test_colour_only_when_asked_or_on_a_terminal(s):
    p = expect(s.run(['ps', '-a']), 0, 'ps -a')
    if '\033[' in p.stdout:
        fail('colour on a pipe', repr(p.stdout))
    p = expect(s.run(['ps', '-a', '--color=always']), 0, 'ps -a --color=always')
    if '\033[33mexited (3)\033[0m' not in p.stdout:
        fail('--color=always does not colour the state', repr(p.stdout))
    if p.stdout.splitlines()[0].startswith('\033'):
        fail('the heading is coloured', repr(p.stdout))
    p = expect(s.run(['ps', '-a', '--color', 'never']), 0, '--color never')
    if '\033[' in p.stdout:
        fail('--color never', repr(p.stdout))
    p = expect(s.run(['--color=always', 'rm', 'busy']), 1, 'rm busy --color=always')
    if not p.stderr.startswith('\033[1m\033[31munik:\033[0m '):
        fail('the error is not coloured with --color=always', repr(p.stderr))
    p = expect(s.run(['rm', 'busy']), 1, 'rm busy')
    if '\033[' in p.stderr:
        fail('colour on a piped stderr', repr(p.stderr))
    # A terminal: colour unless NO_COLOR.
    import pty
    for env, want in (({}, True), ({'NO_COLOR': '1'}, False)):
        pid, fd = pty.fork()
        if pid == 0:
            e = {k: v for k, v in os.environ.items() if k not in ('UNIK_HOST', 'UNIK_TOKEN')}
            e.update(UNIK_HOME=s.home, TERM='xterm', **env)
            os.execve(unik_bin(), [unik_bin(), 'ps', '-a'], e)
        out = b''
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        os.waitpid(pid, 0)
        os.close(fd)
        if (b'\033[33mexited' in out) != want:
            fail('on a terminal with %r: colour %s' % (env, 'missing' if want else 'shown'),
                 repr(out))
    expect(s.run(['ps', '--color=sometimes']), 2, '--color=sometimes')


@with_fake()
def test_ps_a_q_and_images_q(s):
    p = expect(s.run(['ps', '-aq']), 0, 'ps -aq')
    if p.stdout != 'i0000001\n':
        fail('ps -aq prints the ids alone', p.stdout)
    p = expect(s.run(['ps', '-q']), 0, 'ps -q')
    if p.stdout != '':
        fail('ps -q lists an ended instance', p.stdout)
    p = expect(s.run(['images', '-q']), 0, 'images -q')
    if p.stdout != 'abc123\n':
        fail('images -q prints the ids alone', p.stdout)


@with_fake()
def test_build_replaces_unless_no_replace(s):
    src = os.path.join(out_dir(), 'proj')
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, 'hello.c'), 'w') as f:
        f.write('int main(void){return 0;}\n')
    expect(s.run(['build', '--no-replace', src]), 0, 'build --no-replace')
    opts = json.loads(parse_multipart(s.fake.find('POST', '/v1/builds')[0])['options'][1])
    if 'force' in opts or 'name' in opts or opts.get('default_name') != 'proj':
        fail('build --no-replace without --name: options', json.dumps(opts))
    expect(s.run(['build', '--no-replace', '-f', src]), 2, '--no-replace with -f')


def test_version_without_a_daemon_closes_its_parenthesis():
    home = os.path.join(out_dir(), 'nodaemon')
    os.makedirs(home, exist_ok=True)
    p = expect(unik(['version'], home), 0, 'version')
    line = [l for l in p.stdout.splitlines() if l.startswith('daemon')]
    if not line or line[0].count('(') != line[0].count(')') or 'not reachable' not in line[0]:
        fail('the daemon line', p.stdout)
    if os.path.exists(os.path.join(home, 'daemon.pid')):
        fail('version started a daemon')


def test_target_json():
    home = os.path.join(out_dir(), 'target')
    os.makedirs(home, exist_ok=True)
    for args, want in ((['target'], None), (['target', '127.0.0.1:3999'], '127.0.0.1:3999'),
                       (['target'], '127.0.0.1:3999'), (['target', '--local'], None)):
        p = expect(unik(args + ['-o', 'json'], home), 0, ' '.join(args))
        try:
            j = json.loads(p.stdout)
        except ValueError:
            fail('%s -o json printed text' % ' '.join(args), p.stdout)
        if j.get('target') != want or j.get('config') != os.path.join(home,
                                                                       'client-config.yaml'):
            fail('%s -o json' % ' '.join(args), p.stdout)
