#!/usr/bin/env python3
"""A/B benchmark against a base commit: API throughput (bench_api.py), `unik run -d` and
`unik build` (bench_cli.py) for the current tree and for BASE, measured in the same run, in
alternating order round after round so the machine's drift falls on both alike, then reported as
ratios (Firecracker's A/B tests).  The issue's targets: each within 10 % of the base.

    python3 bench/compare.py --base REV [--rounds 3] [--runs 3] [--seconds 3]
    make bench-compare BASE=REV [BENCH_ROUNDS=3 BENCH_RUNS=3 BENCH_SECONDS=3]

BASE is checked out with `git worktree add` into build/bench-base and built there with its own
build/ and bin/ (so its unik-cc finds its own runtime).  The same measuring scripts, the current
tree's, drive both trees' binaries.  Reports only: the exit status is non-zero when a figure
could not be measured, never because of a ratio.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TOLERANCE = 0.10

# name, what it measures, which way is better, the script and how to read its JSON.
FIGURES = [
    ('api_list_rps', 'GET /v1/instances per second (100 instances)', 'higher', 'api',
     lambda r: r['api_list_rps']),
    ('run_d_ms', '`unik run -d` to the first console line, ms', 'lower', 'cli',
     lambda r: r['run']['unik_run_d_median_s'] * 1000),
    # A few ms, the difference of two noisy times: its ratio is only shown when both are > 0.
    ('run_added_ms', '`unik run -d` added to QEMU alone, ms', 'lower', 'cli',
     lambda r: r['run']['added_ms']),
    ('build_ms', '`unik build` of examples/hello, ms', 'lower', 'cli',
     lambda r: r['build']['unik_median_s'] * 1000),
]


def log(msg):
    print('bench-compare: %s' % msg, flush=True)


def git(*args, cwd=REPO):
    return subprocess.run(['git'] + list(args), cwd=cwd, check=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True).stdout.strip()


def prepare_base(rev, base_dir, jobs):
    """build/bench-base at rev, built; returns (commit, its bin directory)."""
    commit = git('rev-parse', '--verify', rev + '^{commit}')
    git('worktree', 'prune')
    if os.path.exists(os.path.join(base_dir, '.git')):
        git('checkout', '--quiet', '--detach', '--force', commit, cwd=base_dir)
    else:
        os.makedirs(os.path.dirname(base_dir), exist_ok=True)
        git('worktree', 'add', '--detach', '--force', base_dir, commit)
    log('building %s (%s) in %s' % (rev, commit[:12], base_dir))
    with open(os.path.join(os.path.dirname(base_dir), 'bench-base-build.log'), 'w') as f:
        p = subprocess.run(['make', '-C', base_dir, '-j%d' % jobs, 'all', 'O=build', 'BIN=bin'],
                           stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        sys.exit('bench-compare: the base does not build; see %s' % f.name)
    return commit, os.path.join(base_dir, 'bin')


def clean_env():
    """The environment of a measurement: no UNIK_* variable that would point both trees at the
    same binaries or runtime (UNIK_ACCEL, a choice of the machine, stays)."""
    return {k: v for k, v in os.environ.items() if not k.startswith('UNIK_') or k == 'UNIK_ACCEL'}


def measure(script, bindir, args, work):
    """Runs one measuring script against the unik in bindir; returns its JSON result."""
    out = os.path.join(work, 'result.json')
    if os.path.exists(out):
        os.unlink(out)
    cmd = [sys.executable, os.path.join(HERE, 'bench_%s.py' % script),
           '--unik', os.path.join(bindir, 'unik'), '--json', out]
    if script == 'api':
        cmd += ['--seconds', str(args.seconds)]
    else:
        cmd += ['--runs', str(args.runs)]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, env=clean_env())
    with open(os.path.join(work, 'measure.log'), 'a') as f:
        f.write('$ %s\n%s[exit %d]\n' % (' '.join(cmd), p.stdout, p.returncode))
    if p.returncode != 0 or not os.path.exists(out):
        sys.exit('bench-compare: bench_%s.py failed for %s (exit %d):\n%s' % (
            script, bindir, p.returncode, p.stdout[-2000:]))
    with open(out) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--base', required=True, help='the base revision (a commit, tag, HEAD~3)')
    ap.add_argument('--base-dir', default=os.path.join(REPO, 'build', 'bench-base'))
    ap.add_argument('--bin', default=os.path.join(REPO, 'bin'), help="the current tree's bin/")
    ap.add_argument('--rounds', type=int, default=int(os.environ.get('BENCH_ROUNDS', 3)))
    ap.add_argument('--runs', type=int, default=int(os.environ.get('BENCH_RUNS', 3)),
                    help='bench_cli.py runs of each kind per round')
    ap.add_argument('--seconds', type=float, default=float(os.environ.get('BENCH_SECONDS', 3)),
                    help='bench_api.py seconds of load per round')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--json', default=os.path.join(REPO, 'build', 'bench', 'compare.json'))
    args = ap.parse_args()

    current = os.path.abspath(args.bin)
    if not os.access(os.path.join(current, 'unik'), os.X_OK):
        sys.exit('bench-compare: %s/unik is missing (run make)' % current)
    commit, base = prepare_base(args.base, os.path.abspath(args.base_dir), args.jobs)
    trees = {'current': current, 'base': base}
    values = {t: {name: [] for name, *_ in FIGURES} for t in trees}
    work = tempfile.mkdtemp(prefix='unik-bench-cmp-')
    t0 = time.monotonic()
    for rnd in range(args.rounds):
        order = ['current', 'base'] if rnd % 2 == 0 else ['base', 'current']
        for script in ('api', 'cli'):
            for tree in order:
                log('round %d/%d: bench_%s.py, %s' % (rnd + 1, args.rounds, script, tree))
                res = measure(script, trees[tree], args, work)
                for name, _, _, s, get in FIGURES:
                    if s == script:
                        values[tree][name].append(get(res))

    report = {'base': args.base, 'base_commit': commit, 'head_commit': git('rev-parse', 'HEAD'),
              'rounds': args.rounds, 'runs': args.runs, 'seconds': args.seconds,
              'tolerance': TOLERANCE, 'figures': {}}
    print('\nA/B against %s (%s): %d rounds in alternating order, %.0f s' % (
        args.base, commit[:12], args.rounds, time.monotonic() - t0))
    for name, what, better, _, _ in FIGURES:
        curs, bases = values['current'][name], values['base'][name]
        cur, bas = statistics.median(curs), statistics.median(bases)
        # The two trees ran back to back in each round: the median of those paired ratios
        # cancels what drifts between rounds (other load on the machine) better than a ratio of
        # medians would.
        pairs = [c / b for c, b in zip(curs, bases) if b > 0 and c >= 0]
        ratio = statistics.median(pairs) if len(pairs) == len(curs) else None
        if ratio is None:
            verdict = 'n/a (difference %+.1f)' % (cur - bas)
        elif better == 'higher':
            verdict = 'within 10 %' if ratio >= 1 - TOLERANCE else 'WORSE by more than 10 %'
        else:
            verdict = 'within 10 %' if ratio <= 1 + TOLERANCE else 'WORSE by more than 10 %'
        spread = max(pairs) / min(pairs) if pairs and min(pairs) > 0 else None
        if spread and spread > 1 + 2 * TOLERANCE:
            verdict += ' (rounds disagree by %.0f %%: a busy machine? more rounds)' % (
                (spread - 1) * 100)
        report['figures'][name] = {'what': what, 'better': better, 'current': cur, 'base': bas,
                                   'ratio': ratio, 'paired_ratios': pairs,
                                   'current_all': curs, 'base_all': bases, 'verdict': verdict}
        print('%s: current %.1f, base %.1f, ratio %s  -- %s; %s is better; %s' % (
            name, cur, bas, '%.3f' % ratio if ratio is not None else 'n/a', what, better,
            verdict))
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2)
    print('results: %s (measurement log: %s/measure.log)' % (args.json, work))
    return 0


if __name__ == '__main__':
    sys.exit(main())
