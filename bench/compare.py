#!/usr/bin/env python3
"""A/B benchmark against a base commit: API throughput, `unik run -d` and `unik build` for the
current tree and for BASE, measured in the same run and reported as ratios (Firecracker's A/B
tests).  The issue's targets: each within 10 % of the base.

    python3 bench/compare.py --base REV [--samples 7] [--seconds 0.5]
    make bench-compare BASE=REV [BENCH_SAMPLES=7 BENCH_SECONDS=0.5]

BASE is checked out with `git worktree add` into build/bench-base and built there with its own
build/ and bin/ (so its unik-cc finds its own runtime).  Both trees' daemons run side by side,
and every sample is a pair taken back to back, one from each tree, the order flipping from pair
to pair: load on the machine that comes and goes (other tests, other builds) falls on both
alike, and the median of the pairs' ratios cancels it.  The measuring code is the current tree's
bench_api.py and bench_cli.py, the same for both.  Reports only: the exit status is non-zero
when a figure cannot be measured, never because of a ratio.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import bench_api  # noqa: E402
import bench_cli  # noqa: E402

TOLERANCE = 0.10
TREES = ('current', 'base')

# name: what it measures, which way is better.
FIGURES = {
    'api_list_rps': ('GET /v1/instances per second, 100 instances', 'higher'),
    'run_d_ms': ('`unik run -d` to the first console line, ms', 'lower'),
    # A few ms, the difference of two noisy times: its ratio is shown only when both are > 0.
    'run_added_ms': ('`unik run -d` added to starting QEMU alone, ms', 'lower'),
    'build_ms': ('`unik build` of examples/hello, ms', 'lower'),
}


def log(msg):
    print('bench-compare: %s' % msg, flush=True)


def git(*args, cwd=REPO):
    return subprocess.run(['git'] + list(args), cwd=cwd, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True).stdout.strip()


def prepare_base(rev, base_dir, jobs):
    """base_dir at rev, built; returns (commit, its bin directory)."""
    commit = git('rev-parse', '--verify', rev + '^{commit}')
    git('worktree', 'prune')
    if os.path.exists(os.path.join(base_dir, '.git')):
        git('checkout', '--quiet', '--detach', '--force', commit, cwd=base_dir)
    else:
        os.makedirs(os.path.dirname(base_dir), exist_ok=True)
        git('worktree', 'add', '--detach', '--force', base_dir, commit)
    log('building %s (%s) in %s' % (rev, commit[:12], base_dir))
    build_log = base_dir + '.log'
    with open(build_log, 'w') as f:
        p = subprocess.run(['make', '-C', base_dir, '-j%d' % jobs, 'all', 'O=build', 'BIN=bin'],
                           stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        sys.exit('bench-compare: the base does not build; see %s' % build_log)
    return commit, os.path.join(base_dir, 'bin')


def clean_environ():
    """No UNIK_* variable may point both trees at the same binaries or runtime (UNIK_ACCEL, a
    choice of the machine, stays).  The scripts' helpers read os.environ, so it is cleaned."""
    for k in list(os.environ):
        if k.startswith('UNIK_') and k != 'UNIK_ACCEL':
            del os.environ[k]


def pairs(n):
    """n pairs, the order flipping each time: current first, then base first, ..."""
    for i in range(n):
        yield TREES if i % 2 == 0 else TREES[::-1]


# ---- API throughput -------------------------------------------------------------------------


def measure_api(bins, args, work, samples):
    gen = bench_api.build_gen()
    daemons = {}
    try:
        for t in TREES:
            home = os.path.join(work, 'api-' + t)
            os.makedirs(home)
            port = bench_api.free_port()
            bench_api.seed(home, 100)
            daemons[t] = (bench_api.start(os.path.join(bins[t], 'unik'), home, port), port)
            bench_api.load(gen, port, '/v1/instances', args.threads, 1)  # warm up
        # Short slices, twice as many pairs: a burst of other load spoils fewer of them.
        n = 2 * args.samples
        for i, order in enumerate(pairs(n)):
            for t in order:
                rps, errors = bench_api.load(gen, daemons[t][1], '/v1/instances', args.threads,
                                             args.seconds)
                if errors:
                    sys.exit('bench-compare: %d failed requests against the %s daemon' % (
                        errors, t))
                samples['api_list_rps'][t].append(rps)
            log('api pair %d/%d' % (i + 1, n))
    finally:
        for p, _ in daemons.values():
            bench_api.stop(p)


# ---- unik run -d and unik build --------------------------------------------------------------


def run_d(u):
    """Seconds from `unik run -d` to the guest's first console line; the instance's dir."""
    t0 = time.perf_counter()
    inst = json.loads(u.run(['run', '-d', '-o', 'json', 'hello']).stdout)
    inst_dir = os.path.join(u.home, 'instances', inst['id'])
    dt = bench_cli.wait_first_line(os.path.join(inst_dir, 'console.log'), t0)
    u.run(['logs', '-f', inst['id']])
    return dt, inst['id'], inst_dir


def direct(cmd, work):
    """Seconds from starting the daemon's own QEMU command alone to the first console line."""
    d = os.path.join(work, 'direct')
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    t0 = time.perf_counter()
    q = bench_cli.start_direct(cmd, d)
    dt = bench_cli.wait_first_line(os.path.join(d, 'console.log'), t0)
    q.wait(timeout=30)
    return dt


def measure_cli(bins, args, work, samples):
    units = {t: bench_cli.Unik(os.path.join(bins[t], 'unik'), os.path.join(work, 'cli-' + t))
             for t in TREES}
    try:
        for t in TREES:  # starts each daemon and builds once: neither start-up is measured
            units[t].run(['build', '--name', 'hello', '--path', bench_cli.HELLO])
        # The baseline without unik: the current tree's QEMU command, started directly.
        _, iid, inst_dir = run_d(units['current'])
        argv, files = bench_cli.direct_command(inst_dir, os.path.join(work, 'direct'))
        for k, path in list(files.items()):  # `unik build --force` below replaces the image
            files[k] = os.path.join(work, 'direct-' + k)
            shutil.copyfile(path, files[k])
        cmd = (argv, files)
        units['current'].run(['rm', '-f', iid], check=False)
        for t in TREES:
            _, iid, _ = run_d(units[t])  # a warm-up run on each
            units[t].run(['rm', '-f', iid], check=False)
        for i, order in enumerate(pairs(args.samples)):
            base_line = direct(cmd, work)
            for t in order:
                dt, iid, _ = run_d(units[t])
                units[t].run(['rm', '-f', iid], check=False)
                samples['run_d_ms'][t].append(dt * 1000)
                samples['run_added_ms'][t].append((dt - base_line) * 1000)
            for t in order:
                t0 = time.perf_counter()
                units[t].run(['build', '--force', '--name', 'hello', '--path', bench_cli.HELLO])
                samples['build_ms'][t].append((time.perf_counter() - t0) * 1000)
            log('cli pair %d/%d' % (i + 1, args.samples))
    finally:
        for u in units.values():
            u.stop_daemon()


# ---- report ---------------------------------------------------------------------------------


def summarize(name, cur_all, base_all):
    what, better = FIGURES[name]
    cur, bas = statistics.median(cur_all), statistics.median(base_all)
    ratios = [c / b for c, b in zip(cur_all, base_all) if b > 0 and c > 0]
    ratio = statistics.median(ratios) if len(ratios) == len(cur_all) else None
    if ratio is None:
        verdict = 'no ratio (difference %+.1f)' % (cur - bas)
    elif (ratio >= 1 - TOLERANCE) if better == 'higher' else (ratio <= 1 + TOLERANCE):
        verdict = 'within 10 %'
    else:
        verdict = 'WORSE by more than 10 %'
    if ratios and len(ratios) >= 4:
        q = statistics.quantiles(ratios, n=4)
        spread = '; middle half of the pairs %.3f-%.3f' % (q[0], q[2])
    else:
        spread = ''
    return {'what': what, 'better': better, 'current': cur, 'base': bas, 'ratio': ratio,
            'pair_ratios': ratios, 'current_all': cur_all, 'base_all': base_all,
            'verdict': verdict + spread}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--base', required=True, help='the base revision (a commit, tag, HEAD~3)')
    ap.add_argument('--base-dir', default=os.path.join(REPO, 'build', 'bench-base'))
    ap.add_argument('--bin', default=os.path.join(REPO, 'bin'), help="the current tree's bin/")
    ap.add_argument('--samples', type=int, default=int(os.environ.get('BENCH_SAMPLES', 7)),
                    help='pairs measured for each figure')
    ap.add_argument('--seconds', type=float, default=float(os.environ.get('BENCH_SECONDS', 0.5)),
                    help='seconds of API load per sample (API samples: twice --samples)')
    ap.add_argument('--threads', type=int, default=4, help='API load threads')
    ap.add_argument('--jobs', type=int, default=2, help='make -j for the base')
    ap.add_argument('--json', default=os.path.join(REPO, 'build', 'bench', 'compare.json'))
    args = ap.parse_args()
    if args.samples < 1:
        ap.error('--samples must be at least 1')

    bins = {'current': os.path.abspath(args.bin)}
    if not os.access(os.path.join(bins['current'], 'unik'), os.X_OK):
        sys.exit('bench-compare: %s/unik is missing (run make)' % bins['current'])
    commit, bins['base'] = prepare_base(args.base, os.path.abspath(args.base_dir), args.jobs)
    clean_environ()
    samples = {name: {t: [] for t in TREES} for name in FIGURES}
    work = tempfile.mkdtemp(prefix='unik-bench-cmp-')
    t0 = time.monotonic()
    try:
        measure_api(bins, args, work, samples)
        measure_cli(bins, args, work, samples)
    except (RuntimeError, subprocess.SubprocessError, OSError, ValueError) as e:
        sys.exit('bench-compare: %s' % e)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    # head_commit is this checkout's; current_bin says which binaries were measured as current.
    report = {'base': args.base, 'base_commit': commit, 'head_commit': git('rev-parse', 'HEAD'),
              'current_bin': bins['current'],
              'samples': args.samples, 'seconds': args.seconds, 'tolerance': TOLERANCE,
              'figures': {}}
    print('\nA/B against %s (%s): %d pairs per figure (API: twice as many), order flipping, '
          '%.0f s' % (
        args.base, commit[:12], args.samples, time.monotonic() - t0))
    for name in FIGURES:
        r = summarize(name, samples[name]['current'], samples[name]['base'])
        report['figures'][name] = r
        print('%s: current %.1f, base %.1f, ratio %s  (%s; %s is better) %s' % (
            name, r['current'], r['base'], '%.3f' % r['ratio'] if r['ratio'] else 'n/a',
            r['what'], r['better'], r['verdict']))
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2)
    print('results: %s' % args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
