"""Clients ride out a busy daemon: a thousand lib/client users connecting to one daemon at the
same moment all succeed (the client retries a full listen queue with backoff and jitter); `unik
ps` and a `unik build` upload wait for a paused daemon whose queue is full instead of failing
(the upload is sent whole, and once) or starting another daemon; a missing or stale socket
still starts one at once; and a daemon that stays unreachable is reported as overloaded after
the retry timeout, naming the socket and what to do.

Why 1,000 threads of tests/tools/client_load rather than 1,000 `unik ps` processes: on a
2-core machine shared with other jobs, forking and exec'ing 1,000 processes takes minutes
(1,000 `/bin/true` took 86 s here), so they never arrive together; threads do, in a second."""

import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Failure, Skip, fail, out_dir, bin_dir, build_dir, timeout  # noqa: E402
from test_daemon_fixture import Daemon  # noqa: E402

CLIENTS = 1000


def unik_bin():
    p = os.path.join(bin_dir(), 'unik')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make)' % p)
    return p


def client_load(sock, n, retry=None):
    """n threads of tests/tools/client_load, each a lib/client user, GET /v1/instances at once;
    returns (ok, failed, attempts, the tool's output)."""
    tool = os.path.join(build_dir(), 'tests', 'tools', 'client_load')
    if not os.access(tool, os.X_OK):
        raise Failure('%s is missing (run make test-tools)' % tool)
    argv = [tool, 'unix:' + sock, str(n), '/v1/instances'] + ([retry] if retry else [])
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    m = re.match(r'ok (\d+) failed (\d+) attempts (\d+)', p.stdout)
    if not m:
        fail('client_load said nothing useful (status %d)' % p.returncode, p.stdout + p.stderr)
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), p.stdout


@timeout(240)
def test_thousand_concurrent_clients_all_succeed():
    """1,000 clients connect to one daemon at the same moment.  With retries off (as before),
    the unix socket's full listen queue fails a share of them at once; with the default retry,
    none fails."""
    with Daemon() as d:
        ok0, failed0, _, out0 = client_load(d.sock, CLIENTS, '0')
        ok, failed, attempts, out = client_load(d.sock, CLIENTS)
        if d.proc.poll() is not None:
            fail('the daemon died under %d clients' % CLIENTS, d.log())
        print('retries off: %d of %d failed; retries on: %d failed, %d attempts'
              % (failed0, CLIENTS, failed, attempts))
        if failed:
            fail('%d of %d concurrent clients failed despite retries' % (failed, CLIENTS), out)
        if failed0 == 0 and attempts == CLIENTS:
            raise Skip('the daemon kept up with %d clients at once here, so its queue never '
                       'filled and the retries were not exercised' % CLIENTS)


def cli_env(home):
    """The environment of a CLI run against the daemon of home: no other host, token or retry
    timeout from the caller's environment."""
    env = dict(os.environ)
    for k in ('UNIK_HOST', 'UNIK_TOKEN', 'UNIK_RETRY_TIMEOUT'):
        env.pop(k, None)
    env['UNIK_HOME'] = home
    return env


def fill_queue(path):
    """Connects to the unix socket at path without being accepted until its listen queue is
    full; returns the connections."""
    # One descriptor per queued connection: the daemon's queue may be longer than 1,024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    fillers = []
    while len(fillers) < 100000:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.setblocking(False)
        try:
            c.connect(path)
        except BlockingIOError:
            c.close()
            return fillers
        fillers.append(c)
    fail('the listen queue of %s never filled' % path)


@timeout(240)
def test_ps_waits_for_paused_daemon():
    """The daemon is stopped (SIGSTOP) with its listen queue full; `unik ps` started then, on
    the default socket of UNIK_HOME (where the CLI would start a daemon) and with --host, wait,
    and all succeed once it goes on.  None takes the busy daemon for a missing one."""
    n = 40
    with Daemon() as d:
        env = cli_env(d.home)
        os.kill(d.proc.pid, signal.SIGSTOP)
        fillers = []
        procs = []
        try:
            fillers = fill_queue(d.sock)
            for i in range(n):
                argv = [unik_bin(), 'ps'] + (['--host', 'unix:' + d.sock] if i % 2 else [])
                procs.append(subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.PIPE, text=True))
            time.sleep(2)
        finally:
            for c in fillers:
                c.close()
            os.kill(d.proc.pid, signal.SIGCONT)
        results = []
        for p in procs:
            try:
                _, err = p.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
            results.append((p.returncode, err))
        started = [err for rc, err in results if 'started the daemon' in err]
        failed = [(rc, err) for rc, err in results if rc != 0]
        if started:
            fail('%d clients took a busy daemon for a missing one and started another'
                 % len(started), started[0])
        if failed:
            fail('%d of %d `unik ps` failed against a paused daemon with a full queue'
                 % (len(failed), n), failed[0][1])


def test_overloaded_daemon_is_reported_after_the_retry_timeout():
    # A short path: sockaddr_un holds 108 bytes.
    tmp = tempfile.mkdtemp(prefix='unik-busy-')
    sock = os.path.join(tmp, 'd.sock')
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock)
    srv.listen(0)
    fillers = fill_queue(sock)
    try:
        env = dict(os.environ)
        env.pop('UNIK_HOST', None)
        env['UNIK_HOME'] = os.path.join(out_dir(), 'home')
        env['UNIK_RETRY_TIMEOUT'] = '0.5'
        t0 = time.monotonic()
        p = subprocess.run([unik_bin(), '--host', 'unix:' + sock, 'ps'], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        took = time.monotonic() - t0
        if p.returncode == 0:
            fail('ps succeeded against a socket that never accepts', p.stdout)
        want = 'the unik daemon at unix socket %s is overloaded' % sock
        if want not in p.stderr or 'UNIK_RETRY_TIMEOUT' not in p.stderr:
            fail('no clear "overloaded" message', p.stderr)
        if took < 0.5:
            fail('gave up after %.2f s, before the 0.5 s retry timeout' % took, p.stderr)
        # The flag wins over the environment, and a bad value is named.
        p = subprocess.run([unik_bin(), '--host', 'unix:' + sock, 'ps', '--retry-timeout',
                            'soon'], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=60)
        if p.returncode == 0 or '--retry-timeout' not in p.stderr or 'soon' not in p.stderr:
            fail('a bad --retry-timeout is not named', p.stderr)
        env['UNIK_RETRY_TIMEOUT'] = '0'
        t0 = time.monotonic()
        p = subprocess.run([unik_bin(), '--host', 'unix:' + sock, 'ps'], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        if p.returncode == 0 or 'resource temporarily unavailable' not in p.stderr.lower():
            fail('with retries off, a full queue is not reported as such', p.stderr)
    finally:
        for c in fillers:
            c.close()
        srv.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_missing_or_stale_socket_still_starts_a_daemon():
    """A missing socket, or one nothing listens on (a daemon killed with -9), is no busy
    daemon: `unik ps` starts one there at once, as before retries existed, and the next `unik
    ps` uses it."""
    for stale in (False, True):
        # Short: sockaddr_un holds 108 bytes, and the daemon refuses a deeper UNIK_HOME.
        home = tempfile.mkdtemp(prefix='unik-auto-')
        sock = os.path.join(home, 'daemon.sock')
        if stale:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(sock)
            s.close()
        env = cli_env(home)
        pid = None
        try:
            p = subprocess.run([unik_bin(), 'ps'], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=60)
            try:
                with open(os.path.join(home, 'daemon.pid')) as f:
                    pid = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
            what = 'a stale socket' if stale else 'no socket'
            if p.returncode != 0 or 'started the daemon' not in p.stderr:
                fail('`unik ps` with %s did not start a daemon' % what, p.stderr)
            p = subprocess.run([unik_bin(), 'ps'], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=60)
            if p.returncode != 0 or 'started the daemon' in p.stderr:
                fail('the second `unik ps` (%s before) did not use the daemon' % what,
                     p.stderr)
        finally:
            if pid:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                for _ in range(100):
                    try:
                        os.kill(pid, 0)
                    except ProcessLookupError:
                        break
                    time.sleep(0.1)
            log = os.path.join(home, 'daemon.log')
            if os.path.exists(log):
                shutil.copy(log, os.path.join(out_dir(), 'daemon-%s.log'
                                              % ('stale' if stale else 'fresh')))
            shutil.rmtree(home, ignore_errors=True)


@timeout(240)
def test_build_upload_waits_for_paused_daemon():
    """An upload (`unik build`, a multipart POST) that cannot get through a full queue is sent
    whole once the daemon takes it, and only once: one build, one image."""
    from test_cli import HELLO, need_core
    need_core()
    with Daemon() as d:
        env = cli_env(d.home)
        os.kill(d.proc.pid, signal.SIGSTOP)
        fillers = []
        try:
            fillers = fill_queue(d.sock)
            # --host: no probe of the socket first; the request meets the full queue itself.
            p = subprocess.Popen([unik_bin(), '--host', 'unix:' + d.sock, 'build', '--name',
                                  'hello', '--path', HELLO],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
            time.sleep(2)
        finally:
            for c in fillers:
                c.close()
            os.kill(d.proc.pid, signal.SIGCONT)
        out, _ = p.communicate(timeout=180)
        if p.returncode != 0 or 'built image hello' not in out:
            fail('`unik build` through a full queue failed', out[-3000:])
        builds = d.ok('GET', '/v1/builds')
        if len(builds) != 1:
            fail('%d builds for one `unik build`' % len(builds), json.dumps(builds)[:3000])
