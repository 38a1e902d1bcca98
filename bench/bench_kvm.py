#!/usr/bin/env python3
"""The kvm provider (libvirt) against the qemu provider on the same ELF, and the cost of watching
many libvirt domains.

1. Boot to exit of tests/apps/hello.elf through each provider (tests/tools/provider_driver, one
   process per call, as the daemon's calls would be): the time from calling run() until the
   guest's `unik: exit status` line is in console.log, and until status() reports the end.
   Target: the kvm provider within +50 ms of the qemu provider.
2. status() of N running kvm instances (default 100) from one process, cold (a fresh process:
   connecting included) and warm (the cached connection and lifecycle events), through
   bench/bench_kvm_status.c, built here against build/libunikcore.a.  Target: under 100 ms.

    python3 bench/bench_kvm.py [--runs 5] [--domains 100] [--json OUT]

Needs a libvirtd answering on qemu:///system (as root: `virtlogd -d && libvirtd -d`).  Prints one
JSON object; exits non-zero only when nothing could be measured.
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'lib'))
import libvirt_service  # noqa: E402  (tests/lib)
REPO = os.path.dirname(HERE)
CORE_LIBS = ['-lmicrohttpd', '-ljansson', '-lsqlite3', '-lyaml', '-lcurl', '-larchive', '-lgit2',
             '-lvirt', '-lxenlight', '-lxlutil', '-lxentoollog', '-lxml2', '-lcrypto',
             '-lpthread']


def driver_call(driver, provider, args, env, ident=None):
    cmd = [driver, '-p', provider]
    if ident:
        cmd += ['-i', ident, '-n', 'bench']
    p = subprocess.run(cmd + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, env=env, timeout=120)
    res = dict(l.partition('=')[::2] for l in p.stdout.splitlines())
    res['_rc'] = p.returncode
    return res


def ident(n):
    return '%012x' % (0xbe4000000000 + n)


def boot_once(driver, provider, kernel, env, work, n):
    d = os.path.join(work, '%s-%d' % (provider, n))
    os.makedirs(d)
    con = os.path.join(d, 'console.log')
    t0 = time.monotonic()
    r = driver_call(driver, provider, ['run', d, kernel, 'hello world', 64], env, ident(n))
    t_run = time.monotonic() - t0
    if r['_rc'] != 0:
        raise RuntimeError('%s run: %s' % (provider, r.get('error')))
    t_line = None
    while time.monotonic() - t0 < 60:
        try:
            with open(con, 'rb') as f:
                if b'unik: exit status ' in f.read():
                    t_line = time.monotonic() - t0
                    break
        except FileNotFoundError:
            pass
        time.sleep(0.0005)
    t_status = None
    while time.monotonic() - t0 < 60:
        st = driver_call(driver, provider, ['status', d], env)
        if st.get('state') not in ('pending', 'running'):
            t_status = time.monotonic() - t0
            if st.get('state') != 'exited' or st.get('exit_code') != '0':
                raise RuntimeError('%s ended as %s(%s)' % (provider, st.get('state'),
                                                           st.get('exit_code')))
            break
    if t_line is None or t_status is None:
        raise RuntimeError('%s: hello did not end within 60 s' % provider)
    return d, {'run_ms': t_run * 1000, 'exit_line_ms': t_line * 1000,
               'status_ended_ms': t_status * 1000}


def summarize(samples):
    out = {}
    for k in samples[0]:
        vals = [s[k] for s in samples]
        out[k] = {'median': round(statistics.median(vals), 1), 'min': round(min(vals), 1),
                  'max': round(max(vals), 1)}
    return out


def build_status_tool(build, out):
    lib, core = os.path.join(build, 'lib', 'libunik.a'), os.path.join(build, 'libunikcore.a')
    if not (os.path.exists(lib) and os.path.exists(core)):
        raise RuntimeError('%s or %s is missing (run make)' % (lib, core))
    cmd = ['cc', '-std=c11', '-O2', '-D_GNU_SOURCE', '-I' + os.path.join(REPO, 'include'),
           '-I' + os.path.join(REPO, 'lib'), '-I' + REPO, '-o', out,
           os.path.join(HERE, 'bench_kvm_status.c'), core, lib, '-Wl,--as-needed'] + CORE_LIBS
    subprocess.run(cmd, check=True)


def ensure_libvirtd():
    """Starts virtlogd and libvirtd (as root, no systemd) when they do not answer, as the kvm
    tests do."""
    log = os.path.join(tempfile.gettempdir(), 'unik-bench-libvirtd.log')
    try:
        libvirt_service.ensure(log)
    except libvirt_service.Unavailable as e:
        print('bench_kvm: %s' % e, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(REPO, 'build'))
    ap.add_argument('--bin', default=os.path.join(REPO, 'bin'))
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--domains', type=int, default=100)
    ap.add_argument('--json')
    a = ap.parse_args()

    driver = os.path.join(a.build, 'tests', 'tools', 'provider_driver')
    hello = os.path.join(a.build, 'tests', 'apps', 'hello.elf')
    clock = os.path.join(a.build, 'tests', 'apps', 'clock.elf')
    for p in (driver, hello, clock):
        if not os.path.exists(p):
            sys.exit('bench_kvm: %s is missing (make test-tools test-apps)' % p)
    env = dict(os.environ, UNIK_SHIM=os.path.join(a.bin, 'unik-shim'))
    env.pop('UNIK_ACCEL', None)
    ensure_libvirtd()
    avail = driver_call(driver, 'kvm', ['available'], env)
    if avail.get('available') != 'yes':
        # Reported and skipped, as the other benchmarks do with what the machine lacks, so that
        # the rest of `make bench` still runs.
        reason = 'kvm provider unavailable: %s' % avail.get('reason')
        print('bench_kvm: %s (skipped)' % reason)
        if a.json:
            with open(a.json, 'w') as f:
                f.write(json.dumps({'benchmark': 'kvm', 'skipped': reason}, indent=2) + '\n')
        return 0

    work = tempfile.mkdtemp(prefix='unik-bench-kvm-')
    result = {'benchmark': 'kvm', 'runs': a.runs}
    kvm_dirs = []
    pool = concurrent.futures.ThreadPoolExecutor(8)
    try:
        # 1. boot to exit, the providers interleaved so that drift hits both alike.
        samples = {'qemu': [], 'kvm': []}
        for i in range(a.runs + 1):
            for prov in ('qemu', 'kvm'):
                d, s = boot_once(driver, prov, hello, env, work, i)
                if prov == 'kvm':
                    kvm_dirs.append(d)
                if i > 0:  # the first round warms caches (libvirt's capabilities, page cache)
                    samples[prov].append(s)
        boot = {p: summarize(v) for p, v in samples.items()}
        result['boot_to_exit'] = boot
        result['kvm_minus_qemu_ms'] = {
            k: round(boot['kvm'][k]['median'] - boot['qemu'][k]['median'], 1)
            for k in boot['kvm']}
        result['boot_target_ms'] = 50

        # 2. status() of many running domains from one process.
        tool = os.path.join(work, 'bench_kvm_status')
        build_status_tool(a.build, tool)
        dirs = []

        def start(n):
            d = os.path.join(work, 'many-%d' % n)
            os.makedirs(d)
            r = driver_call(driver, 'kvm', ['run', d, clock, 'clock 600000', 32], env,
                            ident(1000 + n))
            if r['_rc'] != 0:
                raise RuntimeError('run %d: %s' % (n, r.get('error')))
            return d

        t0 = time.monotonic()
        for d in pool.map(start, range(a.domains)):
            dirs.append(d)
            kvm_dirs.append(d)
        result['start_%d_domains_s' % a.domains] = round(time.monotonic() - t0, 1)
        out = subprocess.run([tool, 'kvm', '5'] + dirs, capture_output=True, text=True,
                             timeout=300, check=True).stdout
        rounds = [dict(kv.split('=') for kv in l.split()) for l in out.splitlines()]
        if any(int(r['running']) != a.domains for r in rounds):
            raise RuntimeError('not all %d domains ran: %s' % (a.domains, out))
        result['status_%d' % a.domains] = {
            'cold_ms': round(int(rounds[0]['us']) / 1000, 2),
            'warm_ms': round(min(int(r['us']) for r in rounds[1:]) / 1000, 2),
            'target_ms': 100,
        }
    except (RuntimeError, subprocess.CalledProcessError) as e:
        result['error'] = str(e)
    finally:
        # Destroying a domain takes libvirt about as long as the host takes to reap QEMU.
        list(pool.map(lambda d: driver_call(driver, 'kvm', ['remove', d], env), kvm_dirs))
        pool.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    if a.json:
        with open(a.json, 'w') as f:
            f.write(text + '\n')
    return 1 if 'boot_to_exit' not in result else 0


if __name__ == '__main__':
    sys.exit(main())
