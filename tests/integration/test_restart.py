"""A daemon killed with SIGKILL at random moments, over and over, in the middle of uploads, builds
and detached runs (REST and CLI): nothing it acknowledged is lost, and each start leaves a clean
home: no upload files, no build directories without a record, no sources or outputs of ended
builds, no processes of builds, no QEMU that belongs to no live instance."""

import os
import random
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Skip, bin_dir, fail, out_dir, timeout
from test_daemon_fixture import Daemon, multipart, provider_ready, tar_dir, write_tree

HELLO_C = '#include <stdio.h>\nint main(void)\n{\n\tprintf("hello\\n");\n\treturn 0;\n}\n'
KILLS = 30


def slow_source(seconds):
    d = os.path.join(out_dir(), 'slow%d' % int(seconds * 10))
    return tar_dir(write_tree(d, {'Makefile': 'app: app.c\n\tsleep %.1f\n\t$(CC) -o app app.c\n'
                                  % seconds, 'app.c': HELLO_C}))


def stalled_upload(sock_path, stop):
    """Sends half of a multipart build upload, then waits: the daemon holds tmp/upload-*."""
    body, ctype = multipart([('source', 'src.tgz', 'application/gzip', os.urandom(256 * 1024)),
                             ('options', None, 'application/json', b'{"name": "stall"}')])
    try:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(sock_path)
        s.sendall(b'POST /v1/builds HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n'
                  b'Content-Length: %d\r\n\r\n' % (ctype.encode(), len(body)))
        s.sendall(body[:len(body) // 2])
        stop.wait(30)
        s.close()
    except OSError:
        pass


def processes():
    """{pid: (argv, cwd)} of every process we can read."""
    out = {}
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as f:
                argv = [a.decode('utf-8', 'replace') for a in f.read().split(b'\0') if a]
            cwd = os.readlink('/proc/%s/cwd' % p)
        except OSError:
            continue
        out[int(p)] = (argv, cwd)
    return out


@timeout(900)
def test_kill9_thirty_times():
    if not os.access('/usr/bin/bwrap', os.X_OK):
        raise Skip('bubblewrap is not installed (/usr/bin/bwrap)')
    rnd = random.Random(int(os.environ.get('UNIK_TEST_SEED', '11')))
    d = Daemon()
    d.start()
    try:
        provider_ready(d)
        assert d.build(slow_source(0), {'name': 'hello'})['state'] == 'succeeded'
    finally:
        d.kill9()
    sources = [slow_source(s) for s in (0, 0.5, 1.5)]
    unik = os.path.join(bin_dir(), 'unik')
    cli_env = dict(os.environ, UNIK_HOST='unix:' + d.sock)
    acked_builds, acked_instances, lock = [], [], threading.Lock()
    n = [0]

    def submit_build():
        i = n[0] = n[0] + 1
        try:
            b = d.build(rnd.choice(sources), {'name': 'b%03d' % i}, wait=False)
        except Exception:
            return  # refused or cut off: never acknowledged
        with lock:
            acked_builds.append(b['id'])

    def run_rest():
        try:
            r = d.request('POST', '/v1/instances', {'image': 'hello'}, timeout=30)
        except OSError:
            return
        if r.status == 201:
            with lock:
                acked_instances.append(r.json()['id'])

    def run_cli():
        try:
            p = subprocess.run([unik, 'run', '-d', 'hello'], env=cli_env, capture_output=True,
                               text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return
        if p.returncode == 0 and p.stdout.strip():
            with lock:
                acked_instances.append(p.stdout.strip())

    for k in range(KILLS):
        d.start(timeout=60)
        stop = threading.Event()
        threads = [threading.Thread(target=f) for f in
                   (submit_build, submit_build, run_rest, run_cli)]
        threads.append(threading.Thread(target=stalled_upload, args=(d.sock, stop)))
        for t in threads:
            t.start()
        time.sleep(rnd.uniform(0.1, 1.5))
        d.kill9()
        stop.set()
        for t in threads:
            t.join(60)

    # The last start: everything acknowledged is there, and the home is clean.
    with Daemon(home=d.home) as d2:
        missing = []
        for bid in acked_builds:
            r = d2.get('/v1/builds/' + bid)
            if r.status != 200:
                missing.append('build ' + bid)
            elif r.json()['state'] == 'succeeded' and \
                    d2.get('/v1/images/' + r.json()['image_id']).status != 200:
                missing.append('image of build ' + bid)
        for iid in acked_instances:
            if d2.get('/v1/instances/' + iid).status != 200:
                missing.append('instance ' + iid)
        builds = {b['id']: b for b in d2.ok('GET', '/v1/builds')}
        stray = []
        tmp = os.path.join(d2.home, 'tmp')
        stray += [os.path.join(tmp, f) for f in os.listdir(tmp) if f.startswith('upload-')]
        for bid in os.listdir(os.path.join(d2.home, 'builds')):
            p = os.path.join(d2.home, 'builds', bid)
            if bid not in builds:
                stray.append(p + ' (no such build)')
            elif builds[bid]['state'] != 'running':
                stray += [os.path.join(p, x) for x in ('src', 'out')
                          if os.path.exists(os.path.join(p, x))]
        live = {i['id']: i for i in d2.ok('GET', '/v1/instances') if i['state'] == 'running'}
        orphans = []
        home = os.path.realpath(d2.home)
        for pid, (argv, cwd) in processes().items():
            if pid == d2.proc.pid:
                continue
            line = ' '.join(argv)
            if cwd.startswith(home + '/builds/'):
                orphans.append('%d %s (cwd %s)' % (pid, line[:200], cwd))
            elif home + '/' in line:
                inst = line.split(home + '/instances/', 1)[-1].split('/')[0] \
                    if home + '/instances/' in line else None
                if inst not in live:
                    orphans.append('%d %s' % (pid, line[:200]))
        print('%d kills: %d builds and %d instances acknowledged; %d lost, %d orphan '
              'processes, %d stray files' % (KILLS, len(acked_builds), len(acked_instances),
                                             len(missing), len(orphans), len(stray)))
        if missing or orphans or stray:
            fail('after %d kills: %d acknowledged records lost, %d orphan processes, %d stray '
                 'files' % (KILLS, len(missing), len(orphans), len(stray)),
                 '\n'.join(missing + orphans + stray))
        if not acked_builds or not acked_instances:
            fail('the test acknowledged %d builds and %d instances: it tested nothing'
                 % (len(acked_builds), len(acked_instances)))


@timeout(300)
def test_restart_kills_what_an_unconfined_build_left():
    """Under build_sandbox: none no PID namespace takes a build along when the daemon dies: make
    gets the parent-death signal, but what it started lives on until the next start kills it."""
    config = 'build_sandbox: none\n'
    d = Daemon(config=config)
    d.start()
    try:
        b = d.build(slow_source(120), {'name': 'slow'}, wait=False)
        deadline = time.time() + 60
        sleepers = []
        while not sleepers and time.time() < deadline:
            sleepers = [pid for pid, (argv, cwd) in processes().items()
                        if argv[:2] == ['sleep', '120.0'] and b['id'] in cwd]
            time.sleep(0.2)
        if not sleepers:
            fail('the build never started its sleep', d.get('/v1/builds/%s/log' % b['id']).text)
    finally:
        d.kill9()
    time.sleep(1)
    alive = [p for p in sleepers if os.path.exists('/proc/%d' % p)]
    if not alive:
        raise Skip('the build died with the daemon already: nothing for the restart to do')
    with Daemon(config=config) as d2:
        time.sleep(0.5)
        left = [p for p in alive if os.path.exists('/proc/%d' % p) and
                open('/proc/%d/stat' % p).read().split()[2] != 'Z']
        if left:
            fail('the restarted daemon left the build\'s processes %s running' % left)
        bb = d2.ok('GET', '/v1/builds/' + b['id'])
        assert bb['state'] == 'failed', bb
        assert not os.path.exists(os.path.join(d.home, 'builds', b['id'], 'src'))
