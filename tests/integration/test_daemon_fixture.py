"""Helpers for the daemon tests (no tests here): start `unik daemon` with its own UNIK_HOME,
talk HTTP to it over its unix socket (or TCP), build multipart bodies and source tarballs."""

import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'lib'))
from harness import Skip, Failure, bin_dir, fail, out_dir, tail  # noqa: E402


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=60):
        super().__init__('localhost', timeout=timeout)
        self.sock_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.sock_path)
        self.sock = s


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode('utf-8', 'replace')

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            raise Failure('the answer is not JSON (status %d)' % self.status, self.text[:2000])

    def error(self):
        j = self.json()
        if not isinstance(j, dict) or 'error' not in j:
            raise Failure('not an error body', self.text[:2000])
        return j['error']


def daemon_binary():
    """The program whose `daemon` verb runs the daemon: $UNIK_DAEMON_BIN or bin/unik."""
    p = os.environ.get('UNIK_DAEMON_BIN') or os.path.join(bin_dir(), 'unik')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make)' % p)
    r = subprocess.run([p, 'daemon', '--help'], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    if r.returncode != 0:
        raise Failure('%s daemon --help failed: %s' % (p, (r.stderr or r.stdout).strip()))
    return p


class Daemon:
    """One daemon with a private UNIK_HOME under the test's output directory."""

    def __init__(self, name='home', args=(), env=None, home=None, config=None):
        """config: the text of the home's daemon-config.yaml, written now."""
        self.home = home or os.path.join(out_dir(), name)
        if config is not None:
            os.makedirs(self.home, mode=0o700, exist_ok=True)
            with open(os.path.join(self.home, 'daemon-config.yaml'), 'w') as f:
                f.write(config)
        self.args = list(args)
        self.extra_env = env or {}
        self.proc = None
        self.sock = os.path.join(self.home, 'daemon.sock')
        self.log_path = os.path.join(out_dir(), 'daemon-%s.log' % os.path.basename(self.home))
        self.tcp = None
        self.token = None

    def env(self):
        e = dict(os.environ)
        e.pop('UNIK_TOKEN', None)
        e.setdefault('UNIK_CC', os.path.join(bin_dir(), 'unik-cc'))
        e.setdefault('UNIK_SHIM', os.path.join(bin_dir(), 'unik-shim'))
        e.update(self.extra_env)
        return e

    def spawn(self, extra=()):
        log = open(self.log_path, 'ab')
        cmd = [daemon_binary(), 'daemon', '--home', self.home] + self.args + list(extra)
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=self.env(), start_new_session=True)

    def start(self, timeout=20):
        self.proc = self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure('the daemon exited with status %d at start' % self.proc.returncode,
                              self.log())
            try:
                if self.get('/v1/version').status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise Failure('the daemon does not answer on %s' % self.sock, self.log())

    def log(self):
        try:
            with open(self.log_path, 'rb') as f:
                return tail(f.read(), 40)
        except OSError:
            return ''

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Failure('the daemon did not stop within %ds of signal %d' % (timeout, sig),
                          self.log())

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        # Instances this daemon started are stopped with it, so nothing outlives the test.
        try:
            if self.proc and self.proc.poll() is None:
                for i in self.get('/v1/instances').json():
                    self.request('DELETE', '/v1/instances/%s?force=true' % i['id'])
        except Exception:
            pass
        self.stop()
        return False

    # -- HTTP --------------------------------------------------------------------------------

    def conn(self, timeout=120):
        if self.tcp:
            return http.client.HTTPConnection(self.tcp[0], self.tcp[1], timeout=timeout)
        return UnixHTTPConnection(self.sock, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=120):
        c = self.conn(timeout)
        h = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault('Content-Type', 'application/json')
        elif isinstance(body, str):
            body = body.encode()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return Response(r.status, dict(r.getheaders()), data)
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request('GET', path, **kw)

    def ok(self, method, path, body=None, status=200, headers=None, timeout=120):
        r = self.request(method, path, body, headers, timeout)
        if r.status != status:
            raise Failure('%s %s: status %d, wanted %d' % (method, path, r.status, status),
                          r.text[:3000] + '\n' + self.log())
        return r.json() if r.body.strip() else None

    def upload(self, path, parts, headers=None):
        body, ctype = multipart(parts)
        h = {'Content-Type': ctype}
        h.update(headers or {})
        return self.request('POST', path, body, h)

    def build(self, src, options, wait=True, part='source'):
        """Upload directory (or tar bytes) src; returns the build JSON (after it ended when
        wait).  Fails unless the POST is a 201."""
        data = src if isinstance(src, bytes) else tar_dir(src)
        r = self.upload('/v1/builds', [(part, 'src.tgz', 'application/gzip', data),
                                       ('options', None, 'application/json',
                                        json.dumps(options).encode())])
        if r.status != 201:
            raise Failure('POST /v1/builds: status %d' % r.status, r.text[:3000])
        b = r.json()
        if wait:
            b = self.wait_build(b['id'])
        return b

    def wait_build(self, bid, timeout=300):
        r = self.get('/v1/builds/%s/log?follow=true' % bid, timeout=timeout)
        b = self.ok('GET', '/v1/builds/%s' % bid)
        b['log'] = r.text
        return b


def multipart(parts):
    """parts: [(name, filename or None, content type, bytes)] -> (body, content type)."""
    boundary = 'unik' + uuid.uuid4().hex
    out = io.BytesIO()
    for name, filename, ctype, data in parts:
        out.write(b'--%s\r\n' % boundary.encode())
        disp = 'form-data; name="%s"' % name
        if filename:
            disp += '; filename="%s"' % filename
        out.write(('Content-Disposition: %s\r\n' % disp).encode())
        if ctype:
            out.write(('Content-Type: %s\r\n' % ctype).encode())
        out.write(b'\r\n')
        out.write(data)
        out.write(b'\r\n')
    out.write(b'--%s--\r\n' % boundary.encode())
    return out.getvalue(), 'multipart/form-data; boundary=%s' % boundary


def tar_dir(d):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as t:
        for name in sorted(os.listdir(d)):
            t.add(os.path.join(d, name), arcname=name)
    return buf.getvalue()


def tar_entries(entries, mode='w:gz'):
    """entries: [(TarInfo, bytes or None)] -> archive bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT) as t:
        for ti, data in entries:
            if data is not None:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return buf.getvalue()


def write_tree(root, files):
    """files: {relative path: text or bytes}; returns root."""
    for rel, data in files.items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'wb') as f:
            f.write(data.encode() if isinstance(data, str) else data)
    return root


def provider_ready(d):
    """Skip unless the qemu provider is compiled in and available."""
    for p in d.ok('GET', '/v1/providers'):
        if p['name'] == 'qemu':
            if not p['available']:
                raise Skip('the qemu provider is not available: %s' % p['reason'])
            return
    raise Skip('the qemu provider is not compiled in (providers/registry.c)')


TICK_C = r'''
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 0;
	const char *g = getenv("GREETING");
	printf("tick start %s\n", g ? g : "(none)");
	for (int i = 0; i < n; i++) {
		printf("tick %d\n", i);
		fflush(stdout);
		usleep(200000);
	}
	return argc > 2 ? atoi(argv[2]) : 0;
}
'''


# -- the CLI against a Daemon, for tests that drive unik as a user would ---------------------


def cli(d, *argv, ok=True, timeout=600):
    """bin/unik ARGV... against daemon d; a non-zero exit fails the test unless ok is False."""
    env = dict(os.environ, UNIK_HOST='unix:' + d.sock)
    r = subprocess.run([os.path.join(bin_dir(), 'unik')] + list(argv), env=env,
                       capture_output=True, text=True, timeout=timeout)
    if ok and r.returncode != 0:
        fail('unik %s: exit %d' % (' '.join(argv), r.returncode), r.stderr + r.stdout)
    return r


def cli_error(d, want, *argv):
    """bin/unik ARGV... must fail, saying want on stderr."""
    r = cli(d, *argv, ok=False)
    if r.returncode == 0 or want not in r.stderr:
        fail('unik %s: wanted a failure saying %r' % (' '.join(argv), want),
             'exit %d\n%s%s' % (r.returncode, r.stdout, r.stderr))


def wait_console(d, name, text, seconds=90):
    """Waits until instance name's console holds text; returns the console."""
    deadline = time.monotonic() + seconds
    log = ''
    while time.monotonic() < deadline:
        log = d.get('/v1/instances/%s/logs' % name).text
        if text in log:
            return log
        time.sleep(0.2)
    fail('instance %s never printed %r' % (name, text), log[-2000:])


def curl(url, tries=60):
    """curl url until it answers (a guest boots under TCG in a second or so); its body."""
    last = None
    for _ in range(tries):
        last = subprocess.run(['curl', '-sS', '--max-time', '5', url], capture_output=True,
                              text=True, timeout=30)
        if last.returncode == 0:
            return last.stdout
        time.sleep(0.5)
    fail('curl %s never answered' % url, last.stderr if last else '')


def free_port(kind=socket.SOCK_STREAM):
    """A port of 127.0.0.1 that nothing uses now."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port
