#!/usr/bin/env python3
"""unik-oci benchmark: `docker run --runtime=unik --rm` of examples/hello (a unik kernel in a
FROM scratch image) against `docker run --rm` of the same program built as a static Linux binary
in a FROM scratch image under runc.  Both run on one private dockerd started here; runs are
interleaved; the medians and their ratio are reported (target: unik / runc <= 1.5, aim < 1).

    python3 bench/bench_oci.py [--unik-oci bin/unik-oci] [--runs N] [--json build/bench/oci.json]
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HELLO = os.path.join(REPO, 'examples', 'hello', 'hello.c')
TARGET, AIM = 1.5, 1.0


def sh(cmd, env=None, timeout=300, check=True):
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if check and p.returncode:
        sys.exit('bench_oci: %s failed (%d): %s' % (' '.join(cmd), p.returncode,
                                                     p.stderr.decode()[-2000:]))
    return p


def image(env, d, tag, program):
    ctx = os.path.join(d, 'ctx-' + tag)
    os.makedirs(ctx)
    shutil.copy(program, os.path.join(ctx, 'hello'))
    with open(os.path.join(ctx, 'Dockerfile'), 'w') as f:
        f.write('FROM scratch\nCOPY hello /hello\nENTRYPOINT ["/hello"]\n')
    sh(['docker', 'build', '-q', '-t', tag, ctx], env=env)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--unik-oci', default=os.path.join(REPO, 'bin', 'unik-oci'))
    ap.add_argument('--unik-cc', default=os.path.join(REPO, 'bin', 'unik-cc'))
    ap.add_argument('--runs', type=int, default=7)
    ap.add_argument('--json')
    a = ap.parse_args()
    a.runs = max(5, a.runs)
    for prog in ('dockerd', 'docker', 'containerd', 'runc', 'qemu-system-x86_64'):
        if not shutil.which(prog):
            print('bench_oci: skipped: %s is not installed' % prog)
            return 0
    unik_oci = os.path.abspath(a.unik_oci)
    if not os.access(unik_oci, os.X_OK):
        sys.exit('bench_oci: %s is missing (run make)' % unik_oci)

    d = tempfile.mkdtemp(prefix='uo-bench-', dir='/tmp')
    sock = os.path.join(d, 'sock')
    env = dict(os.environ, DOCKER_HOST='unix://' + sock, DOCKER_BUILDKIT='0')
    log = open(os.path.join(d, 'dockerd.log'), 'wb')
    daemon = None
    try:
        cc_env = dict(os.environ)
        rt = os.path.join(REPO, 'build', 'runtime')
        if os.path.exists(os.path.join(rt, 'unikrt.o')):
            cc_env['UNIK_RUNTIME_DIR'] = rt
        kernel = os.path.join(d, 'hello.elf')
        native = os.path.join(d, 'hello.native')
        sh([a.unik_cc, '-O2', '-o', kernel, HELLO], env=cc_env)
        sh([shutil.which('musl-gcc') or 'gcc', '-static', '-O2', '-o', native, HELLO])

        daemon = subprocess.Popen(
            ['dockerd', '--data-root', os.path.join(d, 'data'), '--exec-root',
             os.path.join(d, 'exec'), '--pidfile', os.path.join(d, 'pid'), '--host',
             'unix://' + sock, '--iptables=false', '--ip6tables=false', '--bridge=none',
             '--add-runtime', 'unik=' + unik_oci],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        end = time.monotonic() + 90
        while sh(['docker', 'version'], env=env, check=False).returncode:
            if time.monotonic() > end or daemon.poll() is not None:
                sys.exit('bench_oci: dockerd did not start (see %s/dockerd.log)' % d)
            time.sleep(0.3)
        image(env, d, 'bench-unik', kernel)
        image(env, d, 'bench-runc', native)

        base = ['docker', 'run', '--rm', '--pull', 'never', '--network', 'none']
        cmds = {'unik': base + ['--runtime=unik', 'bench-unik'],
                'runc': base + ['bench-runc']}
        times = {'unik': [], 'runc': []}
        for k in cmds:  # warm-up: page cache, image layers, the shim binaries
            sh(cmds[k], env=env)
        for _ in range(a.runs):
            for k in ('runc', 'unik'):
                t0 = time.monotonic()
                p = sh(cmds[k], env=env)
                times[k].append(time.monotonic() - t0)
                if b'hello' not in p.stdout.lower():
                    sys.exit('bench_oci: %s printed %r' % (k, p.stdout[:200]))
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = med['unik'] / med['runc']
        res = {'runs': a.runs, 'unik_median_ms': round(med['unik'] * 1000, 1),
               'runc_median_ms': round(med['runc'] * 1000, 1), 'ratio': round(ratio, 3),
               'target': TARGET, 'aim': AIM, 'meets_target': ratio <= TARGET,
               'samples_ms': {k: [round(x * 1000, 1) for x in v] for k, v in times.items()}}
        print('oci: docker run --rm, median of %d: unik %.0f ms, runc %.0f ms, ratio %.2f '
              '(target <= %.1f, aim < %.1f) %s' % (a.runs, med['unik'] * 1000,
                                                    med['runc'] * 1000, ratio, TARGET, AIM,
                                                    'ok' if ratio <= TARGET else 'MISSED'))
        if a.json:
            os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
            with open(a.json, 'w') as f:
                json.dump(res, f, indent=2)
        return 0
    finally:
        if daemon and daemon.poll() is None:
            ids = sh(['docker', 'ps', '-aq'], env=env, check=False).stdout.split()
            if ids:
                sh(['docker', 'rm', '-f'] + [i.decode() for i in ids], env=env, check=False)
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        log.close()
        with open('/proc/self/mountinfo') as f:
            mps = [l.split()[4] for l in f if l.split()[4].startswith(d + '/')]
        for mp in sorted(mps, key=len, reverse=True):
            subprocess.run(['umount', '-l', mp], stderr=subprocess.DEVNULL)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
