#!/usr/bin/env python3
"""The mirage backend's unix target (bin/unik-spt) against a native process (issue 16's
Targets).

1. Spawn to exit: a mirage-style hello (bench/spt/hello.c, unik-cc --unik-target unix) run by
   unik-spt, against a native static hello (bench/spt/native.c, musl-gcc -static) fork+exec'd
   the same way (posix_spawn, then waitpid), median of --runs each, interleaved.  Target: at most
   3x native and at most 5 ms.
2. Host memory of an idle instance (bench/spt/idle.c, which yields forever): VmRSS and VmHWM of
   the application's process and of unik-spt, which waits for it.  Target: 4 MiB.

    python3 bench/bench_spt.py --bin BIN --build BUILD [--runs 200] [--json OUT]

Figures are reported, never asserted; prints one JSON object.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def build(args, name, out):
    cc = [os.path.join(args.bin, 'unik-cc'), '-O2', '-I', os.path.join(REPO, 'include'),
          '--unik-target', 'unix', '-o', out, os.path.join(HERE, 'spt', name)]
    subprocess.run(cc, check=True)
    return out


def spawn_ms(argv, devnull):
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, {}, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status = os.waitpid(pid, 0)
    dt = (time.perf_counter_ns() - t0) / 1e6
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit('%s failed (%d)' % (argv, os.waitstatus_to_exitcode(status)))
    return dt


def status_kib(pid):
    out = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            if k in ('VmRSS', 'VmHWM'):
                out[k] = int(v.split()[0])
    return out


def idle_memory(args, spt, idle):
    p = subprocess.Popen([spt, idle], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        if p.stdout.readline() != b'idle\n':
            sys.exit('the idle application did not start')
        time.sleep(0.5)
        with open('/proc/%d/task/%d/children' % (p.pid, p.pid)) as f:
            child = int(f.read().split()[0])
        return {'app': status_kib(child), 'unik_spt': status_kib(p.pid)}
    finally:
        p.terminate()
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--bin', default=os.path.join(REPO, 'bin'))
    ap.add_argument('--build', default=os.path.join(REPO, 'build'))
    ap.add_argument('--runs', type=int, default=200)
    ap.add_argument('--json')
    args = ap.parse_args()
    work = os.path.join(args.build, 'bench', 'spt')
    os.makedirs(work, exist_ok=True)
    spt = os.path.join(args.bin, 'unik-spt')
    hello = build(args, 'hello.c', os.path.join(work, 'hello'))
    idle = build(args, 'idle.c', os.path.join(work, 'idle'))
    res = {'runs': args.runs}
    musl = shutil.which('musl-gcc')
    native = None
    if musl:
        native = os.path.join(work, 'native')
        subprocess.run([musl, '-static', '-O2', '-o', native, os.path.join(HERE, 'spt', 'native.c')],
                       check=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    spt_ms, native_ms = [], []
    for _ in range(args.runs):
        spt_ms.append(spawn_ms([spt, hello], devnull))
        if native:
            native_ms.append(spawn_ms([native], devnull))
    res['spt_spawn_to_exit_ms'] = round(statistics.median(spt_ms), 3)
    if native_ms:
        res['native_spawn_to_exit_ms'] = round(statistics.median(native_ms), 3)
        res['spt_vs_native'] = round(res['spt_spawn_to_exit_ms'] /
                                     res['native_spawn_to_exit_ms'], 2)
    else:
        res['native'] = 'skipped: musl-gcc is not installed'
    mem = idle_memory(args, spt, idle)
    res['idle_app_rss_kib'] = mem['app']['VmRSS']
    res['idle_app_hwm_kib'] = mem['app']['VmHWM']
    res['idle_unik_spt_rss_kib'] = mem['unik_spt']['VmRSS']
    res['targets'] = {'spawn_to_exit': '<= 3x native and <= 5 ms', 'idle_rss': '<= 4096 KiB'}
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        with open(args.json, 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
