"""The daemon's HTTP door under hostile clients (issue #11, item 1): any bytes in a path, query,
header or body get a 4xx with a valid UTF-8 error and the daemon keeps serving; names holding
control bytes (%00) are refused; bodies over the limit get 413 before they are read; slow and
idle connections are closed and never lock authorised clients out; --listen is checked strictly
and before anything is bound."""

import json
import os
import resource
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import fail, out_dir, timeout
from test_daemon_fixture import Daemon, multipart, tar_dir, write_tree

TOKEN = 'http-test-token-7'


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def raw_request(d, data, read_timeout=20, tcp=None):
    """Sends data (bytes) as is on a new connection; returns (status or None, body bytes)."""
    if tcp:
        s = socket.create_connection(tcp, timeout=read_timeout)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(read_timeout)
        s.connect(d.sock)
    try:
        s.sendall(data)
        buf = b''
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
            head, sep, body = buf.partition(b'\r\n\r\n')
            if sep:
                clen = [ln.split(b':', 1)[1].strip() for ln in head.split(b'\r\n')
                        if ln.lower().startswith(b'content-length:')]
                if clen and len(body) >= int(clen[0]):
                    break
    except socket.timeout:
        fail('no answer within %ds to %r' % (read_timeout, data[:200]), d.log())
    finally:
        s.close()
    if not buf.startswith(b'HTTP/1.'):
        return None, buf
    status = int(buf.split(b' ', 2)[1])
    return status, buf.partition(b'\r\n\r\n')[2]


def check_error(d, what, status, body, compat=False, want=None):
    """A 4xx (or the 501 of UniK's volume routes) whose body is valid UTF-8, and for /v1 the
    JSON error shape."""
    if d.proc.poll() is not None:
        fail('the daemon died (status %s) on %s' % (d.proc.returncode, what), d.log())
    ok = status is not None and (400 <= status < 500 or (status == 501 and '/volumes' in what))
    if not ok or (want and status != want):
        fail('%s: status %s, wanted %s' % (what, status, want or '4xx'), repr(body[:500]))
    try:
        text = body.decode('utf-8')
    except UnicodeDecodeError as e:
        fail('%s: the error is not valid UTF-8: %s' % (what, e), repr(body[:500]))
    if compat:
        return text
    try:
        e = json.loads(text)['error']
        assert isinstance(e['code'], str) and isinstance(e['message'], str)
    except (ValueError, KeyError, TypeError, AssertionError):
        fail('%s: not a JSON error body' % what, text[:500])
    return e


NASTY = ['%ff', 'zz%ff', '%e2%82', '%c3', '%ed%a0%80', '%f4%90%80%80', '%c0%af',
         'a' + '%c3%a9' * 45, 'b' + '%f0%9f%98%80' * 30, '%00', 'h0%00x', '%0a', '%1b[31m',
         '%7f', '%zz', '%', '%4', '..%2f..%2fetc', '%25ff']

ROUTES = ['/v1/%s', '/v1/compilers/%s', '/v1/builds/%s', '/v1/builds/%s/log',
          '/v1/images/%s', '/v1/images/%s/formats/%s', '/v1/instances/%s',
          '/v1/instances/%s/stop', '/v1/instances/%s/start', '/v1/instances/%s/logs',
          '/v1/instances/%s/wait', '/v1/zz/%s', '/images/%s', '/images/%s/create',
          '/instances/%s', '/instances/%s/start', '/instances/%s/stop', '/instances/%s/logs',
          '/volumes/%s', '/volumes/%s/attach/%s', '/v1/compilers/rump?language=%s',
          '/describe_compiler?base=%s&lang=c', '/v1/images/x?force=%s']


@timeout(600)
def test_url_bytes():
    with Daemon() as d:
        for route in ROUTES:
            for n in NASTY:
                path = route.replace('%s', n)
                for method in ('GET', 'POST', 'DELETE'):
                    what = '%s %s' % (method, path)
                    st, body = raw_request(d, ('%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0'
                                               '\r\nConnection: close\r\n\r\n'
                                               % (method, path)).encode())
                    if st is not None and st < 400:
                        fail('%s: status %d' % (what, st), repr(body[:300]))
                    check_error(d, what, st, body, compat=not path.startswith('/v1'))
        # Raw bytes that are not UTF-8 in the request line, a header and a JSON body.
        for data in [b'GET /v1/images/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
                     b'GET /images/\xc3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
                     b'GET /v1/version HTTP/1.1\r\nHost: \xff\r\nX-\xff: \xc3\r\n'
                     b'Connection: close\r\n\r\n']:
            st, body = raw_request(d, data)
            if d.proc.poll() is not None or st is None:
                fail('the daemon died or gave no answer on %r' % data, d.log())
        for route, body_bytes in [('/v1/instances', b'{"image": "\xff\xfe"}'),
                                  ('/v1/instances', b'{"image": "x", "\xc3": 1}'),
                                  ('/v1/instances', b'\xff' * 100),
                                  ('/v1/builds', b'{"name": "\xe2\x82"}'),
                                  ('/instances/run', b'{"ImageName": "\xff"}'),
                                  ('/instances/run', b'{"\xc3\xa9\xc3": 1}')]:
            st, body = raw_request(d, b'POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: '
                                   b'application/json\r\nContent-Length: %d\r\n'
                                   b'Connection: close\r\n\r\n%s'
                                   % (route.encode(), len(body_bytes), body_bytes))
            check_error(d, 'POST %s %r' % (route, body_bytes), st, body,
                        compat=not route.startswith('/v1'))
        # A valid name that a message cuts is cut between characters: no \x escapes appear.
        e = check_error(d, 'long name', *raw_request(
            d, b'GET /v1/builds/a' + b'%c3%a9' * 45 + b' HTTP/1.1\r\nHost: x\r\n'
            b'Connection: close\r\n\r\n'), want=404)
        if '\\x' in e['message'] or 'a\u00e9' not in e['message']:
            fail('a valid UTF-8 name was cut inside a character', e['message'])
        e = check_error(d, 'bad bytes', *raw_request(
            d, b'GET /v1/images/zz%ff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
            want=404)
        if 'zz\\xff' not in e['message']:
            fail('the byte 0xff is not shown as \\xff', e['message'])
        d.ok('GET', '/v1/version')


@timeout(600)
def test_nul_in_names():
    with Daemon() as d:
        s = write_tree(os.path.join(out_dir(), 'h0src'), {
            'Makefile': 'h0: h0.c\n\t$(CC) -O2 -o h0 h0.c\n',
            'h0.c': 'int main(void) { return 0; }\n'})
        b = d.build(s, {'name': 'h0'})
        if b['state'] != 'succeeded':
            fail('build h0: %s' % b['state'], b.get('log', ''))
        for method, path in [('DELETE', '/v1/images/h0%00x'), ('DELETE', '/v1/images/h0%00'),
                             ('DELETE', '/images/h0%00x'), ('GET', '/v1/images/h0%00x'),
                             ('DELETE', '/v1/images/h0%0a'), ('DELETE', '/v1/images/h0%7f'),
                             ('GET', '/images/h0%00x'),
                             ('POST', '/v1/images/h0%00x/formats/elf'),
                             ('GET', '/v1/images?x=%00')]:
            st, body = raw_request(d, ('%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
                                       % (method, path)).encode())
            check_error(d, '%s %s' % (method, path), st, body,
                        compat=not path.startswith('/v1'), want=400)
        # JSON strings with \u0000 and form fields with a NUL byte.
        for path, j in [('/v1/instances', '{"image": "h0\\u0000x"}'),
                        ('/instances/run', '{"ImageName": "h0\\u0000x"}'),
                        ('/v1/instances', '{"image": "h0", "name": "a\\u0000b"}')]:
            r = d.request('POST', path, j, {'Content-Type': 'application/json'})
            check_error(d, 'POST %s %s' % (path, j), r.status, r.body,
                        compat=not path.startswith('/v1'), want=400)
        good = tar_dir(s)
        body, ctype = multipart([('source', 's.tgz', None, good),
                                 ('options', None, None, b'{"name": "h1"}\x00{"name": "h0"}')])
        r = d.request('POST', '/v1/builds', body, {'Content-Type': ctype})
        check_error(d, 'a NUL in a form part', r.status, r.body, want=400)
        body, ctype = multipart([('tarfile', 's.tgz', None, good),
                                 ('base', None, None, b'rump\x00x')])
        r = d.request('POST', '/images/h2/create', body, {'Content-Type': ctype})
        check_error(d, 'a NUL in a UniK form part', r.status, r.body, compat=True, want=400)
        # h0 is still there.
        d.ok('GET', '/v1/images/h0')


def test_body_413():
    config = 'build:\n  max_upload_mb: 1\n'
    with Daemon(config=config) as d:
        for route, ctype in [('/v1/instances', 'application/json'),
                             ('/v1/builds', 'application/json'),
                             ('/instances/run', 'application/json'),
                             ('/v1/builds', 'multipart/form-data; boundary=xyz'),
                             ('/images/x/create', 'multipart/form-data; boundary=xyz')]:
            # 100 MB announced, nothing sent: the answer must come from the headers alone.
            st, body = raw_request(d, ('POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n'
                                       'Content-Length: 104857600\r\n\r\n'
                                       % (route, ctype)).encode(), read_timeout=15)
            e = check_error(d, 'POST %s (%s, 100 MB)' % (route, ctype), st, body,
                            compat=not route.startswith('/v1'), want=413)
            if route.startswith('/v1') and e['code'] != 'too_large':
                fail('code %r for a body over the limit' % e['code'])
        # Chunked, over the limit: 413 too.
        chunk = b'x' * 65536
        data = b'POST /v1/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n' \
               b'Transfer-Encoding: chunked\r\n\r\n'
        data += (b'%x\r\n%s\r\n' % (len(chunk), chunk)) * 40 + b'0\r\n\r\n'
        st, body = raw_request(d, data, read_timeout=60)
        check_error(d, 'a chunked body of 2.5 MB', st, body, want=413)
        d.ok('GET', '/v1/version')


def test_listen_checked():
    for i, (spec, needle) in enumerate([('localhost:abc', 'from 1 to 65535'), ('127.0.0.1:0', 'from 1 to 65535'),
                         ('127.0.0.1:65536', 'from 1 to 65535'), ('127.0.0.1:+80', '65535'),
                         ('127.0.0.1: 80', '65535'), ('127.0.0.1:080x', '65535'),
                         ('127.0.0.1', 'no port'), ('[::1:3000', 'unclosed'),
                         ('example.org:3000', 'numeric IP'), ('[1.2.3.4]:3000', 'IPv6')]):
        d = Daemon(name='l%d' % i, args=['--listen', spec])
        rc = refused(d)
        if rc == 0 or needle not in d.log() or spec not in d.log():
            fail('--listen %s: exit %s, wanted a refusal naming it and %r' % (spec, rc, needle),
                 d.log())
    # Refused for lack of a token before anything is bound: with the ports held by someone
    # else, the refusal still names the token, not "address in use".
    held = []
    ports = []
    for _ in range(2):
        s = socket.socket()
        s.bind(('0.0.0.0', 0))
        s.listen(1)
        held.append(s)
        ports.append(s.getsockname()[1])
    try:
        d = Daemon(name='lt', args=['--listen', '127.0.0.1:%d' % ports[0],
                                         '--listen', '0.0.0.0:%d' % ports[1]])
        rc = refused(d)
        log = d.log()
        if rc != 1 or 'needs a token' not in log or 'in use' in log:
            fail('a non-loopback listener without a token: exit %s' % rc, log)
    finally:
        for s in held:
            s.close()
    # And a free port stays free: nothing listens there after the refusal.
    port = free_port()
    d = Daemon(name='lf', args=['--listen', '0.0.0.0:%d' % port])
    if refused(d) != 1:
        fail('a non-loopback listener without a token was accepted', d.log())
    try:
        socket.create_connection(('127.0.0.1', port), timeout=2).close()
        fail('something listens on %d after the refusal' % port)
    except ConnectionRefusedError:
        pass


def refused(d, extra=()):
    """Starts d, which must refuse to start: returns its exit status (killed after 20 s)."""
    p = d.spawn(extra)
    try:
        return p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return 'still running after 20 s'


def _closed(s):
    s.setblocking(False)
    try:
        return s.recv(4096) == b''
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def _wait_closed(socks, limit, what, d):
    deadline = time.monotonic() + limit
    left = list(socks)
    while left and time.monotonic() < deadline:
        left = [s for s in left if not _closed(s)]
        if left:
            time.sleep(0.2)
    if left:
        fail('%d of %d %s still open %ds later' % (len(left), len(socks), what, limit), d.log())


@timeout(600)
def test_slowloris():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    port = free_port()
    d = Daemon(args=['--listen', '127.0.0.1:%d' % port, '--token', TOKEN,
                     '--header-timeout', '3', '--body-timeout', '3'])
    auth = {'Authorization': 'Bearer ' + TOKEN}
    with d:
        d.tcp = ('127.0.0.1', port)
        attackers = []
        try:
            for i in range(2100):
                s = socket.create_connection(('127.0.0.1', port), timeout=10)
                s.sendall(b'GET /v1/version HTTP/1.1\r\nHost: x\r\n')
                attackers.append(s)
        except OSError as e:
            fail('opening half-header connections: %s after %d' % (e, len(attackers)))
        # An authorised client still gets in (before the fix: the 2,000 places were taken and
        # no connection ever timed out).
        r = d.request('GET', '/v1/version', headers=auth, timeout=30)
        if r.status != 200:
            fail('an authorised request during the flood: %d' % r.status, r.text)
        # Every half-header connection is closed: evicted, or after the header timeout.
        _wait_closed(attackers, 3 + 20, 'half-header connections', d)
        for s in attackers:
            s.close()
        # Many sources (loopback has all of 127/8), each under its own cap: the listener's cap
        # still leaves the authorised client its place.
        many = []
        try:
            for i in range(600):
                s = socket.socket()
                s.bind(('127.0.%d.%d' % (1 + i // 200, 1 + i % 200), 0))
                s.settimeout(10)
                s.connect(('127.0.0.1', port))
                s.sendall(b'GET /v1/version HTTP/1.1\r\n')
                many.append(s)
        except OSError as e:
            fail('opening connections from many addresses: %s after %d' % (e, len(many)))
        r = d.request('GET', '/v1/version', headers=auth, timeout=30)
        if r.status != 200:
            fail('an authorised request during a flood from 600 addresses: %d' % r.status, r.text)
        _wait_closed(many, 3 + 20, 'half-header connections from many addresses', d)
        for s in many:
            s.close()
        # One that drips a byte at a time is closed too: the timeout counts from the start.
        drip = socket.create_connection(('127.0.0.1', port), timeout=10)
        t0 = time.monotonic()
        closed = False
        for ch in b'GET /v1/version HTTP/1.1\r\nX-Slow: ' + b'a' * 200:
            try:
                drip.sendall(bytes([ch]))
            except OSError:
                closed = True
                break
            if _closed(drip):
                closed = True
                break
            drip.setblocking(True)
            time.sleep(0.2)
            if time.monotonic() - t0 > 30:
                break
        drip.close()
        if not closed:
            fail('a connection dripping its headers was not closed after 30 s')
        # An idle kept-alive connection, and a stalled body, are closed.
        idle = socket.create_connection(('127.0.0.1', port), timeout=10)
        idle.sendall(b'GET /v1/version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n'
                     % TOKEN.encode())
        if not idle.recv(4096).startswith(b'HTTP/1.1 200'):
            fail('a kept-alive request was not answered')
        stall = socket.create_connection(('127.0.0.1', port), timeout=10)
        stall.sendall(b'POST /v1/instances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n'
                      b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"ima'
                      % TOKEN.encode())
        _wait_closed([idle, stall], 3 + 20, 'idle or stalled connections', d)
        idle.close()
        stall.close()
        # The unix socket has the same deadlines.
        u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        u.connect(d.sock)
        u.sendall(b'GET /v1/version HTTP/1.1\r\n')
        _wait_closed([u], 3 + 20, 'half-header unix socket connections', d)
        u.close()
        d.ok('GET', '/v1/version', headers=auth)


@timeout(600)
def test_long_streams():
    port = free_port()
    d = Daemon(args=['--listen', '127.0.0.1:%d' % port, '--token', TOKEN,
                     '--header-timeout', '1', '--body-timeout', '1'])
    auth = {'Authorization': 'Bearer ' + TOKEN}
    with d:
        d.tcp = ('127.0.0.1', port)
        s = write_tree(os.path.join(out_dir(), 'slow'), {
            'Makefile': 'slow:\n\t@echo stream-start\n\t@sleep 5\n\t@echo stream-end-marker\n'
                        '\t@false\n'})
        body, ctype = multipart([('source', 's.tgz', None, tar_dir(s)),
                                 ('options', None, None, b'{"name": "slow"}')])
        h = {'Content-Type': ctype}
        h.update(auth)
        r = d.request('POST', '/v1/builds', body, h)
        if r.status != 201:
            fail('POST /v1/builds: %d' % r.status, r.text)
        bid = r.json()['id']
        t0 = time.monotonic()
        log = d.get('/v1/builds/%s/log?follow=true' % bid, headers=auth, timeout=120)
        took = time.monotonic() - t0
        if log.status != 200 or 'stream-end-marker' not in log.text:
            fail('the followed build log was cut (status %d, %.1fs)' % (log.status, took),
                 log.text[-2000:] + '\n' + d.log())
