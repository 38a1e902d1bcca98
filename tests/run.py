#!/usr/bin/env python3
"""unik's test runner: runs the cmocka unit test binaries and the integration tests (every
test_* function in tests/integration/test_*.py), in parallel, each integration test in its own
process group with a time limit.  Ends with the line `N passed, N failed, N skipped`.

    UNIK_BUILD_DIR=build UNIK_BIN_DIR=bin python3 tests/run.py [--filter PATTERN] [-j N]
"""

import argparse
import concurrent.futures
import fnmatch
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TESTS, 'lib'))

import harness  # noqa: E402


class Result:
    def __init__(self, name, outcome, reason='', details='', duration=0.0):
        self.name = name
        self.outcome = outcome  # 'pass', 'fail' or 'skip'
        self.reason = reason
        self.details = details
        self.duration = duration


def matcher(pattern):
    if not pattern:
        return lambda name: True
    if any(c in pattern for c in '*?['):
        return lambda name: fnmatch.fnmatchcase(name, pattern)
    return lambda name: pattern in name


# ---------------------------------------------------------------------------------------------
# Integration tests


class Case:
    def __init__(self, name, path, func, variant, timeout):
        self.name = name
        self.path = path
        self.func = func
        self.variant = variant
        self.timeout = timeout


def load_module(path):
    modname = 'unik_it_' + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def collect_integration(broken):
    """Every test_* function of tests/integration/test_*.py, expanded over its variants.
    A module that does not import is reported as one failing test."""
    cases = []
    d = os.path.join(TESTS, 'integration')
    for fn in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if not (fn.startswith('test_') and fn.endswith('.py')):
            continue
        path = os.path.join(d, fn)
        prefix = fn[len('test_'):-len('.py')]
        try:
            mod = load_module(path)
        except Exception:
            broken.append(Result(prefix + '/import', 'fail', 'module does not import',
                                 traceback.format_exc()))
            continue
        funcs = [(k, v) for k, v in vars(mod).items()
                 if k.startswith('test_') and callable(v) and getattr(v, '__module__', None)
                 == mod.__name__]
        funcs.sort(key=lambda kv: kv[1].__code__.co_firstlineno)
        for k, f in funcs:
            short = k[len('test_'):]
            limit = getattr(f, 'unik_timeout', harness.DEFAULT_TIMEOUT)
            vs = getattr(f, 'unik_variants', None)
            if vs is None:
                cases.append(Case('%s/%s' % (prefix, short), path, k, None, limit))
            else:
                for vid, _ in vs:
                    cases.append(Case('%s/%s/%s' % (prefix, vid, short), path, k, vid, limit))
    return cases


def test_out_dir(build, name):
    return os.path.join(build, 'test-output', *name.split('/'))


def _tail_newest_console(out):
    logs = []
    for root, _, files in os.walk(out):
        logs += [os.path.join(root, f) for f in files if f.endswith('.log')]
    if not logs:
        return ''
    newest = max(logs, key=os.path.getmtime)
    with open(newest, 'rb') as f:
        return '%s:\n%s' % (newest, harness.tail(f.read()))


def run_case(case, build, default_timeout):
    out = test_out_dir(build, case.name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    env = dict(os.environ, UNIK_TEST_NAME=case.name, UNIK_TEST_OUT=out, UNIK_BUILD_DIR=build,
               PYTHONDONTWRITEBYTECODE='1')
    limit = case.timeout if case.timeout != harness.DEFAULT_TIMEOUT else default_timeout
    cmd = [sys.executable, os.path.abspath(__file__), '--run-one', case.path, case.func,
           case.variant or '']
    start = time.monotonic()
    with open(os.path.join(out, 'test.log'), 'wb') as log:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                             start_new_session=True)
        try:
            p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
            return Result(case.name, 'fail', 'timed out after %ds' % limit,
                          _tail_newest_console(out), time.monotonic() - start)
    # Whatever the test started is over with the test.
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    duration = time.monotonic() - start
    try:
        with open(os.path.join(out, 'result.json')) as f:
            r = json.load(f)
    except (OSError, ValueError):
        with open(os.path.join(out, 'test.log'), 'rb') as f:
            log = f.read()
        return Result(case.name, 'fail', 'test process died (exit %s) without a result'
                      % p.returncode, harness.tail(log), duration)
    return Result(case.name, r['outcome'], r.get('reason', ''), r.get('details', ''), duration)


def run_one(path, func, variant):
    """Child side: run one test function and write result.json into its output directory."""
    out = harness.out_dir()
    res = {'outcome': 'pass'}
    try:
        mod = load_module(path)
        f = getattr(mod, func)
        kwargs = {}
        if variant:
            kwargs = dict(dict(f.unik_variants)[variant])
        f(**kwargs)
    except harness.Skip as e:
        res = {'outcome': 'skip', 'reason': str(e)}
    except harness.Failure as e:
        tb = traceback.extract_tb(e.__traceback__)
        where = ''
        for fr in tb:
            if fr.filename == path:
                where = ' [%s:%d]' % (os.path.basename(fr.filename), fr.lineno)
        res = {'outcome': 'fail', 'reason': e.reason + where, 'details': e.details}
    except AssertionError as e:
        res = {'outcome': 'fail', 'reason': 'assertion failed: %s' % (str(e) or '(no message)'),
               'details': traceback.format_exc()}
    except BaseException as e:
        res = {'outcome': 'fail', 'reason': '%s: %s' % (type(e).__name__, e),
               'details': traceback.format_exc()}
    sys.stdout.flush()
    with open(os.path.join(out, 'result.json'), 'w') as fp:
        json.dump(res, fp)
    return 0


# ---------------------------------------------------------------------------------------------
# Unit tests (cmocka, TAP output)

TAP_RE = re.compile(r'^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*?)\s*(?:#\s*(SKIP|TODO)\b:?\s*(.*))?$',
                    re.IGNORECASE)


def collect_unit(build):
    d = os.path.join(build, 'tests', 'unit')
    if not os.path.isdir(d):
        return []
    bins = []
    for fn in sorted(os.listdir(d)):
        p = os.path.join(d, fn)
        if (fn.startswith('test_') and '.' not in fn and os.path.isfile(p)
                and os.access(p, os.X_OK)):
            bins.append(p)
    return bins


def run_unit(path, build, limit, match):
    binname = os.path.basename(path)
    prefix = 'unit/%s' % binname
    out = test_out_dir(build, prefix)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT='TAP', UNIK_TEST_OUT=out)
    start = time.monotonic()
    p = subprocess.Popen([path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=out, env=env, start_new_session=True)
    timed_out = False
    try:
        so, se = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(p.pid, signal.SIGKILL)
        so, se = p.communicate()
    duration = time.monotonic() - start
    so = so.decode('utf-8', 'replace')
    se = se.decode('utf-8', 'replace')
    with open(os.path.join(out, 'output.log'), 'w') as f:
        f.write(so + ('\n--- stderr ---\n' + se if se else ''))
    results = []
    plan = None
    current = None
    for line in so.split('\n'):
        line = line.rstrip('\r')
        m = re.match(r'^1\.\.(\d+)', line)
        if m:
            plan = int(m.group(1))
            continue
        m = TAP_RE.match(line)
        if m and (line.startswith('ok') or line.startswith('not ok')):
            ok, _, name, directive, why = m.groups()
            if directive and directive.upper() == 'SKIP' and not name:
                name, why = (why or ''), 'skipped by the unit test'
            name = name or 'case%d' % (len(results) + 1)
            full = '%s/%s' % (prefix, name)
            if directive and directive.upper() == 'SKIP':
                current = Result(full, 'skip', why or 'skipped in the unit test')
            elif ok.lower() == 'ok':
                current = Result(full, 'pass')
            else:
                current = Result(full, 'fail', 'unit test failed')
            results.append(current)
            continue
        if line.startswith('#') and current is not None and current.outcome == 'fail':
            current.details += line[1:].strip() + '\n'
    if results:
        share = duration / len(results)
        for r in results:
            r.duration = share
    shown = [r for r in results if match(r.name)]
    whole = None
    if timed_out:
        whole = 'timed out after %ds' % limit
    elif p.returncode < 0:
        whole = 'killed by signal %d' % -p.returncode
    elif not results:
        whole = 'no TAP output (exit %d)' % p.returncode
    elif plan is not None and len(results) < plan:
        whole = 'stopped after %d of %d cases (exit %d)' % (len(results), plan, p.returncode)
    elif p.returncode != 0 and all(r.outcome != 'fail' for r in results):
        whole = 'exit status %d though every case passed' % p.returncode
    if whole and (match(prefix) or shown or not results):
        shown.append(Result(prefix, 'fail', whole, harness.tail(so + se), duration))
    for r in shown:
        if r.outcome == 'fail' and not r.details:
            r.details = harness.tail(se or so, 15)
    return shown


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--filter', help='fnmatch glob if it has *?[, else a substring of the name')
    ap.add_argument('-j', '--jobs', type=int, default=(os.cpu_count() or 1) + 1)
    ap.add_argument('--timeout', type=int, default=harness.DEFAULT_TIMEOUT,
                    help='default per-test time limit in seconds')
    ap.add_argument('--list', action='store_true', help='list the integration tests and stop')
    ap.add_argument('--run-one', nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.run_one:
        return run_one(*args.run_one)

    build = harness.build_dir()
    os.environ['UNIK_BUILD_DIR'] = build
    os.environ['UNIK_BIN_DIR'] = harness.bin_dir()
    match = matcher(args.filter)

    broken = []
    cases = [c for c in collect_integration(broken) if match(c.name)]
    broken = [r for r in broken if match(r.name)]
    if args.list:
        for c in cases:
            print(c.name)
        return 0
    units = collect_unit(build)

    lock = threading.Lock()
    counts = {'pass': 0, 'fail': 0, 'skip': 0}

    def report(r):
        with lock:
            counts[r.outcome] += 1
            if r.outcome == 'pass':
                print('PASS %s (%.1fs)' % (r.name, r.duration))
            elif r.outcome == 'skip':
                print('SKIP %s: %s' % (r.name, r.reason))
            else:
                print('FAIL %s: %s (%.1fs)' % (r.name, r.reason, r.duration))
                if r.details.strip():
                    for line in r.details.rstrip('\n').split('\n')[-60:]:
                        print('    ' + line)
            sys.stdout.flush()

    for r in broken:
        report(r)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        futs = [ex.submit(run_unit, u, build, args.timeout, match) for u in units]
        futs += [ex.submit(run_case, c, build, args.timeout) for c in cases]
        for fut in concurrent.futures.as_completed(futs):
            try:
                rs = fut.result()
            except Exception:
                rs = Result('runner', 'fail', 'internal error', traceback.format_exc())
            for r in rs if isinstance(rs, list) else [rs]:
                report(r)

    total = sum(counts.values())
    if total == 0:
        print('no tests matched%s' % (' %r' % args.filter if args.filter else ''))
    print('%d passed, %d failed, %d skipped' % (counts['pass'], counts['fail'], counts['skip']))
    return 1 if counts['fail'] or total == 0 else 0


if __name__ == '__main__':
    sys.exit(main())
