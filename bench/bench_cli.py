#!/usr/bin/env python3
"""unik CLI benchmarks: (a) `unik build` of examples/hello end to end (pack, upload, make with
unik-cc, store) against `gcc -O2 -static` of the same source; (b) `unik run -d` to the guest's
first console line against starting the daemon's own QEMU command line (qemu.cmd) directly.
Medians of interleaved runs, reported as a ratio and as added milliseconds.

    python3 bench/bench_cli.py [--runs N] [--json build/bench/cli.json]
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HELLO = os.path.join(REPO, 'examples', 'hello')

TARGETS = {
    'build_ratio': (3.0, 2.0),   # target, aim
    'run_added_ms': (10.0, 5.0),
}


def verdict(key, value):
    target, aim = TARGETS[key]
    if value is None:
        return 'n/a'
    if value <= aim:
        return 'meets aim'
    if value <= target:
        return 'meets target'
    return 'MISSES target'


class Unik:
    def __init__(self, binary, home):
        self.binary = binary
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if k not in ('UNIK_HOST', 'UNIK_TOKEN')}
        self.env['UNIK_HOME'] = home
        bindir = os.path.dirname(binary)
        self.env['PATH'] = bindir + os.pathsep + self.env.get('PATH', '')

    def run(self, args, check=True):
        p = subprocess.run([self.binary] + args, env=self.env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if check and p.returncode != 0:
            raise RuntimeError('unik %s: exit %d\n%s%s' % (' '.join(args), p.returncode,
                                                            p.stdout, p.stderr))
        return p

    def stop_daemon(self):
        try:
            with open(os.path.join(self.home, 'daemon.pid')) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
            for _ in range(200):
                os.kill(pid, 0)
                time.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_first_line(path, t0, timeout=30):
    """Seconds from t0 until the file at path holds a complete first line."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            with open(path, 'rb') as f:
                if b'\n' in f.read(4096):
                    return time.perf_counter() - t0
        except FileNotFoundError:
            pass
        time.sleep(0.0002)
    raise RuntimeError('no console line in %s after %ds' % (path, timeout))


def bench_build(u, runs, workdir):
    src = os.path.join(HELLO, 'hello.c')
    out = os.path.join(workdir, 'hello-native')
    unik_t, gcc_t = [], []
    for i in range(runs):
        order = ['gcc', 'unik'] if i % 2 == 0 else ['unik', 'gcc']
        for what in order:
            t0 = time.perf_counter()
            if what == 'gcc':
                subprocess.run(['gcc', '-O2', '-static', '-o', out, src], check=True)
                gcc_t.append(time.perf_counter() - t0)
            else:
                u.run(['build', '--force', '--name', 'hello', '--path', HELLO])
                unik_t.append(time.perf_counter() - t0)
    return unik_t, gcc_t


def direct_command(inst_dir, tmp):
    """The daemon's QEMU command for an instance, with its files moved into tmp, and the kernel
    and initrd it expects on descriptors 4 and 5 (docs/providers.md, Confinement)."""
    with open(os.path.join(inst_dir, 'qemu.cmd')) as f:
        argv = shlex.split(f.read())
    files = {}
    with open(os.path.join(inst_dir, 'provider.state')) as f:
        for line in f:
            k, _, v = line.rstrip('\n').partition('=')
            if k in ('kernel', 'initrd') and v:
                files[k] = v
    return [a.replace(inst_dir, tmp) for a in argv], files


def start_direct(cmd, d):
    """Starts QEMU as the shim would hand it its files (QMP socket on 3, kernel on 4, initrd on
    5, console on stdout), but as this process's user: the baseline without unik."""
    argv, files = cmd
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(os.path.join(d, 'qmp.sock'))
    s.listen(8)
    fds = {3: s.fileno(), 4: os.open(files['kernel'], os.O_RDONLY)}
    if 'initrd' in files:
        fds[5] = os.open(files['initrd'], os.O_RDONLY)

    def setup():
        # Out of the way first, as an original may sit on another's target.
        high = {target: 100 + target for target in fds}
        for target, fd in fds.items():
            os.dup2(fd, high[target])
        for target in fds:
            os.dup2(high[target], target)  # inheritable; the originals are not

    with open(os.path.join(d, 'console.log'), 'wb') as con:
        q = subprocess.Popen(argv, cwd=d, stdin=subprocess.DEVNULL, stdout=con,
                             stderr=subprocess.DEVNULL, start_new_session=True,
                             close_fds=False, preexec_fn=setup)
    for target, fd in fds.items():
        if target != 3:
            os.close(fd)
    s.close()
    return q


def rest_post(sock_path, path, body):
    """POST JSON over the daemon's unix socket with no CLI in between."""
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(sock_path)

    c = Conn('localhost')
    data = json.dumps(body)
    c.request('POST', path, data, {'Content-Type': 'application/json'})
    r = c.getresponse()
    out = r.read()
    c.close()
    if r.status != 201:
        raise RuntimeError('POST %s: HTTP %d %s' % (path, r.status, out[:200]))
    return json.loads(out)


def bench_run(u, runs, workdir):
    unik_t, direct_t, rest_t = [], [], []
    ids = []
    cmd = None
    for i in range(runs + 1):
        order = ['unik', 'direct', 'rest'] if i % 2 == 0 else ['rest', 'direct', 'unik']
        for what in order:
            if what != 'unik' and cmd is None:
                continue
            if what == 'rest':
                t0 = time.perf_counter()
                inst = rest_post(os.path.join(u.home, 'daemon.sock'), '/v1/instances',
                                 {'image': 'hello'})
                inst_dir = os.path.join(u.home, 'instances', inst['id'])
                rest_t.append(wait_first_line(os.path.join(inst_dir, 'console.log'), t0))
                ids.append(inst['id'])
                u.run(['logs', '-f', inst['id']])
                continue
            if what == 'unik':
                t0 = time.perf_counter()
                p = u.run(['run', '-d', '-o', 'json', 'hello'])
                inst = json.loads(p.stdout)
                inst_dir = os.path.join(u.home, 'instances', inst['id'])
                dt = wait_first_line(os.path.join(inst_dir, 'console.log'), t0)
                ids.append(inst['id'])
                u.run(['logs', '-f', inst['id']])
                if cmd is None:
                    cmd = direct_command(inst_dir, os.path.join(workdir, 'direct'))
                    continue  # the first run only finds the command: a warm-up
                unik_t.append(dt)
            else:
                d = os.path.join(workdir, 'direct')
                shutil.rmtree(d, ignore_errors=True)
                os.makedirs(d)
                t0 = time.perf_counter()
                q = start_direct(cmd, d)
                direct_t.append(wait_first_line(os.path.join(d, 'console.log'), t0))
                q.wait(timeout=30)
    for i in ids:
        u.run(['rm', '-f', i], check=False)
    return unik_t, direct_t, rest_t, cmd


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--unik', default=os.path.join(REPO, 'bin', 'unik'))
    ap.add_argument('--runs', type=int, default=int(os.environ.get('BENCH_RUNS', 7)))
    ap.add_argument('--json', default=os.path.join(REPO, 'build', 'bench', 'cli.json'))
    args = ap.parse_args()
    runs = max(5, args.runs)
    if not os.access(args.unik, os.X_OK):
        print('bench_cli: %s is missing (run make)' % args.unik)
        return 1

    work = tempfile.mkdtemp(prefix='unik-bench-cli-')
    u = Unik(os.path.abspath(args.unik), os.path.join(work, 'home'))
    try:
        # Warm-up: starts the daemon and builds once, so neither start-up is measured.
        u.run(['build', '--name', 'hello', '--path', HELLO])
        b_unik, b_gcc = bench_build(u, runs, work)
        r_unik, r_direct, r_rest, cmd = bench_run(u, runs, work)
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError) as e:
        print('bench_cli: %s' % e)
        return 1
    finally:
        u.stop_daemon()

    ratios = [a / b for a, b in zip(b_unik, b_gcc)]
    b_ratio = statistics.median(ratios)
    added_ms = (statistics.median(r_unik) - statistics.median(r_direct)) * 1000
    res = {
        'runs': runs,
        'build': {'unik_median_s': statistics.median(b_unik),
                  'gcc_static_median_s': statistics.median(b_gcc), 'median_ratio': b_ratio,
                  'unik_s': b_unik, 'gcc_s': b_gcc,
                  'target_ratio': TARGETS['build_ratio'][0], 'aim_ratio': TARGETS['build_ratio'][1]},
        'run': {'unik_run_d_median_s': statistics.median(r_unik),
                'direct_qemu_median_s': statistics.median(r_direct), 'added_ms': added_ms,
                'rest_post_median_s': statistics.median(r_rest),
                'unik_s': r_unik, 'direct_s': r_direct, 'rest_s': r_rest, 'qemu_command': cmd,
                'target_ms': TARGETS['run_added_ms'][0], 'aim_ms': TARGETS['run_added_ms'][1]},
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(res, f, indent=2)
    shutil.rmtree(work, ignore_errors=True)

    print('unik CLI bench (%d interleaved runs each)' % runs)
    print('%-36s %14s   %s' % ('measure', 'value', 'target'))
    print('-' * 96)
    print('%-36s %10.1f ms' % ('gcc -O2 -static hello.c (median)', res['build']['gcc_static_median_s'] * 1000))
    print('%-36s %10.1f ms' % ('unik build examples/hello (median)', res['build']['unik_median_s'] * 1000))
    print('%-36s %10.2f x    <= %sx (aim <= %sx): %s' % (
        'unik build / gcc (median ratio)', b_ratio, TARGETS['build_ratio'][0],
        TARGETS['build_ratio'][1], verdict('build_ratio', b_ratio)))
    print('%-36s %10.1f ms' % ('direct QEMU to first line (median)', res['run']['direct_qemu_median_s'] * 1000))
    print('%-36s %10.1f ms' % ('unik run -d to first line (median)', res['run']['unik_run_d_median_s'] * 1000))
    print('%-36s %10.1f ms' % ('REST POST (no CLI) to first line', res['run']['rest_post_median_s'] * 1000))
    print('%-36s %10.1f ms   <= %s ms (aim <= %s ms): %s' % (
        'added by unik run', added_ms, TARGETS['run_added_ms'][0], TARGETS['run_added_ms'][1],
        verdict('run_added_ms', added_ms)))
    print('results: %s' % args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
