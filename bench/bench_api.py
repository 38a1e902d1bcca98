#!/usr/bin/env python3
"""REST throughput of unik's daemon: `GET /v1/instances` requests per second with 100 instances
present, over a loopback TCP listener with keep-alive connections, against `GET /v1/version`
(the same server doing almost nothing) measured in the same run.  Target: 5,000 list requests
per second.

    python3 bench/bench_api.py [--unik bin/unik] [--seconds 5] [--threads 4] [--json OUT]

The 100 instances are written into the database (as ended instances) before the daemon starts,
so no VM runs during the measurement.  Prints one JSON object; exits non-zero only if the daemon
cannot be measured.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGET_RPS = 5000


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(unik, home, port):
    log = open(os.path.join(home, 'bench-daemon.log'), 'ab')
    p = subprocess.Popen([unik, 'daemon', '--home', home, '--listen', '127.0.0.1:%d' % port],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return p
        except OSError:
            if p.poll() is not None:
                break
            time.sleep(0.05)
    p.kill()
    sys.exit('bench_api: the daemon did not start (see %s/bench-daemon.log)' % home)


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)


# The first layout of unik.db (JSON rows, no schema version), as the daemon made it before
# core/store.c: a daemon of that age reads it as it is, a newer one migrates it on open, so one
# seed serves both sides of bench/compare.py.
SCHEMA_V0 = [
    'CREATE TABLE IF NOT EXISTS images(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, '
    'seq INTEGER NOT NULL, json TEXT NOT NULL)',
    'CREATE TABLE IF NOT EXISTS builds(id TEXT PRIMARY KEY, name TEXT NOT NULL, '
    'seq INTEGER NOT NULL, json TEXT NOT NULL)',
    'CREATE TABLE IF NOT EXISTS instances(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, '
    'seq INTEGER NOT NULL, json TEXT NOT NULL)',
]


def seed(home, n):
    """n ended instances in home's unik.db, written before any daemon opened it."""
    db = sqlite3.connect(os.path.join(home, 'unik.db'))
    now = time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime())
    with db:
        for stmt in SCHEMA_V0:
            db.execute(stmt)
        for i in range(n):
            iid = '%012x' % (0xbe0000000000 + i)
            row = {'id': iid, 'name': 'bench-%03d' % i, 'image': 'bench', 'image_id': '0' * 12,
                   'provider': 'qemu', 'state': 'exited', 'exit_code': 0, 'pid': 0, 'ip': '',
                   'memory_mb': 64, 'args': 'bench --flag %d' % i, 'env': {'MODE': 'bench'},
                   'created': now, 'started': now, 'finished': now, 'detail': '',
                   '_cmdline': 'MODE=bench bench --flag %d' % i}
            db.execute('INSERT INTO instances(id, name, seq, json) VALUES(?, ?, ?, ?)',
                       (iid, row['name'], i + 1, json.dumps(row)))
    db.close()


def build_gen():
    """Compiles the load generator (bench_api_load.c); returns its path."""
    build = os.path.join(REPO, 'build', 'bench')
    os.makedirs(build, exist_ok=True)
    gen = os.path.join(build, 'bench_api_load')
    subprocess.run([os.environ.get('CC', 'cc'), '-O2', '-D_GNU_SOURCE', '-Wall', '-pthread', '-o', gen,
                    os.path.join(HERE, 'bench_api_load.c')], check=True)
    return gen


def load(gen, port, path, threads, seconds):
    out = subprocess.run([gen, '127.0.0.1', str(port), path, str(threads), str(seconds)],
                         capture_output=True, text=True, timeout=seconds + 60)
    ok, errors, dt = out.stdout.split()
    return int(ok) / float(dt), int(errors)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--unik', default=os.path.join(REPO, 'bin', 'unik'))
    ap.add_argument('--seconds', type=float, default=5)
    ap.add_argument('--threads', type=int, default=4)
    ap.add_argument('--instances', type=int, default=100)
    ap.add_argument('--json', help='also write the result here')
    args = ap.parse_args()

    gen = build_gen()
    home = tempfile.mkdtemp(prefix='unik-bench-api-')
    try:
        port = free_port()
        seed(home, args.instances)
        p = start(args.unik, home, port)
        try:
            load(gen, port, '/v1/instances', args.threads, 1)  # warm up
            base, base_err = load(gen, port, '/v1/version', args.threads, args.seconds)
            rps, errs = load(gen, port, '/v1/instances', args.threads, args.seconds)
        finally:
            stop(p)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    res = {
        'api_list_rps': round(rps),
        'api_version_rps': round(base),
        'api_list_ratio': round(rps / base, 3) if base else None,
        'api_instances': args.instances,
        'api_errors': errs + base_err,
        'api_target_rps': TARGET_RPS,
        'api_meets_target': rps >= TARGET_RPS,
    }
    print(json.dumps(res))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
