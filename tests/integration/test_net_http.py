"""examples/http end to end: the example server, built with unik-cc (so with the network
variant), boots on QEMU's user-mode network with a port forwarded from the host, and curl on the
host talks to it: one connection per request, then two requests on one keep-alive connection.
The guest takes its address by DHCP and exits after the requests it was told to serve."""

import glob
import os
import shutil
import subprocess
import threading
import time

from harness import REPO, Skip, accels, fail, out_dir
from qemu import boot, resolve_accel
from apps import run_unik_cc
from s3rver import free_port

MAC = '52:54:00:12:34:56'


def build_example():
    out = os.path.join(out_dir(), 'http.elf')
    src = os.path.join(REPO, 'examples', 'http', 'http.c')
    p = run_unik_cc(['-O2', '-Wall', '-pthread', '-o', out, src])
    if p.returncode != 0:
        fail('unik-cc examples/http/http.c failed (exit %d)' % p.returncode, p.stderr[-2000:])
    return out


def client(port, results):
    """Waits for the server's "listening" line, then makes the requests."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        logs = glob.glob(os.path.join(out_dir(), 'console-*.log'))
        if logs and 'listening on port' in open(logs[0], errors='replace').read():
            break
        time.sleep(0.1)
    url = 'http://127.0.0.1:%d/' % port
    for _ in range(3):
        results.append(subprocess.run(['curl', '-s', '-m', '20', url], capture_output=True,
                                      text=True).stdout)
    # Two requests on one connection (curl keeps it alive between the URLs).
    results.append(subprocess.run(['curl', '-s', '-m', '20', url + 'a', url + 'b'],
                                  capture_output=True, text=True).stdout)


@accels
def test_http_example_through_a_forwarded_port(accel):
    if not shutil.which('curl'):
        raise Skip('curl is not installed (Debian: curl)')
    accel = resolve_accel(accel)  # skips before the client starts waiting
    kernel = build_example()
    port = free_port()
    results = []
    t = threading.Thread(target=client, args=(port, results), daemon=True)
    t.start()
    r = boot(kernel, 'unik.dev.net0=net,mac=%s http 5' % MAC, accel=accel, timeout=120,
             extra=['-netdev', 'user,id=n0,hostfwd=tcp:127.0.0.1:%d-:8080' % port,
                    '-device', 'virtio-net-device,netdev=n0,mac=' + MAC])
    t.join(30)
    want = ['hello from unik: request %d\n' % i for i in (1, 2, 3)]
    want.append('hello from unik: request 4\nhello from unik: request 5\n')
    if results != want:
        fail('curl got %r, want %r' % (results, want), r.console[-1500:])
    r.expect_status(0).expect_app('listening on port 8080\nserved 5 requests\n')
    if 'unik: net0 up 10.0.2.15/24' not in r.runtime_lines:
        fail('no "unik: net0 up 10.0.2.15/24" line', '\n'.join(r.runtime_lines))
