#!/usr/bin/env python3
"""make fuzz: runs each libFuzzer target built in DIR for a bounded time or number of executions,
one after the other, and prints per target its executions and crashes.  Exits 1 when any target
crashed (or could not run).

    tests/fuzz/run_fuzz.py --dir build/fuzz [--time 60] [--runs N] NAME...

Each target grows a working corpus in DIR/corpus/NAME, seeded from tests/fuzz/corpus/NAME (the
seed corpus is never written), and writes a crashing input to DIR/artifacts/NAME/.  Its log is
DIR/logs/NAME.log.  A crash is reproduced with `DIR/fuzz_NAME ARTIFACT`; docs/fuzzing.md says how
to add it to the seed corpus so that make test replays it.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

SEEDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
KINDS = ('crash-', 'leak-', 'timeout-', 'oom-', 'slow-unit-')


def stat(log, key):
    m = re.findall(r'^stat::%s:\s*(\d+)' % key, log, re.M)
    return int(m[-1]) if m else None


def run(bindir, name, seconds, runs):
    exe = os.path.join(bindir, 'fuzz_' + name)
    work = os.path.join(bindir, 'corpus', name)
    arts = os.path.join(bindir, 'artifacts', name)
    logs = os.path.join(bindir, 'logs')
    for d in (work, arts, logs):
        os.makedirs(d, exist_ok=True)
    seeds = os.path.join(SEEDS, name)
    if not os.path.isfile(exe):
        return {'name': name, 'execs': 0, 'crashes': 1, 'note': 'no %s: make fuzz-build' % exe}
    before = set(os.listdir(arts))
    cmd = [exe, '-artifact_prefix=' + arts + '/', '-print_final_stats=1', '-timeout=30',
           '-rss_limit_mb=1024']
    cmd.append('-runs=%d' % runs if runs else '-max_total_time=%d' % seconds)
    cmd.append(work)
    if os.path.isdir(seeds):
        cmd.append(seeds)
    logpath = os.path.join(logs, name + '.log')
    print('fuzz_%s: %s' % (name, ' '.join(cmd)), flush=True)
    # Targets that go through files (records, memfds, temporary directories) are ten times
    # faster on tmpfs; a smaller ASan quarantine keeps the allocator's pages hot (libxml2).
    env = dict(os.environ)
    env.setdefault('ASAN_OPTIONS', 'quarantine_size_mb=16')
    tmp = None
    if 'TMPDIR' not in env and os.path.isdir('/dev/shm'):
        tmp = env['TMPDIR'] = tempfile.mkdtemp(prefix='unik-fuzz-', dir='/dev/shm')
    try:
        with open(logpath, 'wb') as f:
            rc = subprocess.call(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                 env=env)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    with open(logpath, 'rb') as f:
        log = f.read().decode('utf-8', 'replace')
    found = sorted(a for a in set(os.listdir(arts)) - before if a.startswith(KINDS))
    execs = stat(log, 'number_of_executed_units') or 0
    crashes = len(found) or (1 if rc != 0 else 0)
    note = ', '.join(os.path.join(arts, a) for a in found)
    if rc != 0 and not found:
        note = 'exit status %d, see %s' % (rc, logpath)
    return {'name': name, 'execs': execs, 'crashes': crashes, 'note': note,
            'cov': stat(log, 'new_units_added'), 'log': logpath}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--dir', required=True, help='where make fuzz-build put fuzz_NAME')
    ap.add_argument('--time', type=int, default=60, help='seconds per target')
    ap.add_argument('--runs', type=int, default=0, help='executions per target (instead of time)')
    ap.add_argument('names', nargs='+')
    args = ap.parse_args()

    results = [run(args.dir, n, args.time, args.runs) for n in args.names]
    width = max(len(r['name']) for r in results)
    print('\n%-*s %12s %8s' % (width, 'target', 'executions', 'crashes'))
    for r in results:
        print('%-*s %12d %8d%s' % (width, r['name'], r['execs'], r['crashes'],
                                   '  ' + r['note'] if r['note'] else ''))
    bad = [r for r in results if r['crashes']]
    print('%d targets, %d executions, %d crashed' % (len(results),
                                                     sum(r['execs'] for r in results), len(bad)))
    if bad:
        print('reproduce: %s/fuzz_NAME ARTIFACT (docs/fuzzing.md)' % args.dir)
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
