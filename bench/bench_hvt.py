#!/usr/bin/env python3
"""Boot to exit of one mirage hello under unik-hvt (the hvt target) against the same source's
virtio build under QEMU microvm with KVM (what the qemu provider runs): each boot is the time
from starting the process until it has exited with the application's status, the runs of the
two interleaved so that drift in the machine hits both alike.  Reported as medians and their
ratio (hvt / QEMU; below 1 is faster).

    python3 bench/bench_hvt.py [--runs 11] [--build build] [--bin bin] [--json OUT]

Needs /dev/kvm (read-write); prints why and exits 0 without figures when it does not open.
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
sys.path.insert(0, os.path.join(REPO, 'tests', 'lib'))
from qemu import qemu_command  # noqa: E402  (tests/lib)

HELLO = r'''
#include <stdio.h>
#include <unik/devices-app.h>

int unik_app_main(const struct unik_app_info *info)
{
	printf("hello from %s\n", info->argv[0]);
	return 3;
}
'''


def build(unik_cc, rt, src, out, extra):
    subprocess.run([unik_cc, '--unik-runtime-dir', rt, '-O2', '-I', os.path.join(REPO, 'include'),
                    '--unik-app'] + extra + ['-o', out, src], check=True)


def timed(cmd, want_rc):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=60)
    dt = time.perf_counter() - t0
    if p.returncode != want_rc:
        raise SystemExit('%s exited %d, not %d: %s' % (cmd[0], p.returncode, want_rc,
                                                         p.stderr.decode()[-500:]))
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--runs', type=int, default=11)
    ap.add_argument('--build', default=os.path.join(REPO, 'build'))
    ap.add_argument('--bin', default=os.path.join(REPO, 'bin'))
    ap.add_argument('--json')
    args = ap.parse_args()
    try:
        os.close(os.open('/dev/kvm', os.O_RDWR))
    except OSError as e:
        print('bench_hvt: skipped: /dev/kvm does not open read-write (%s)' % e.strerror)
        return 0
    rt = os.path.join(args.build, 'runtime')
    unik_cc = os.path.join(args.bin, 'unik-cc')
    with tempfile.TemporaryDirectory(prefix='unik-bench-hvt-') as d:
        src = os.path.join(d, 'hello.c')
        with open(src, 'w') as f:
            f.write(HELLO)
        hvt, virtio = os.path.join(d, 'hello-hvt'), os.path.join(d, 'hello-virtio')
        build(unik_cc, rt, src, hvt, ['--unik-target', 'hvt'])
        build(unik_cc, rt, src, virtio, [])
        hvt_cmd = [os.path.join(args.bin, 'unik-hvt'), '--mem', '32', hvt]
        # QEMU exits with 2N+1 through isa-debug-exit.
        qemu_cmd = qemu_command(virtio, 'hello', 'kvm', 'microvm-noacpi', '32M', None,
                                os.path.join(d, 'console.log'))
        # -cpu max as the qemu provider runs it, less IA32_ARCH_CAPABILITIES (MSR 0x10a):
        # PVM-style hosts' KVM refuses QEMU's write of it, and QEMU 7.2 then aborts.
        qemu_cmd[qemu_cmd.index('-cpu') + 1] = 'max,-arch-capabilities'
        timed(hvt_cmd, 3)  # warm the page cache for both
        timed(qemu_cmd, 7)
        hvt_t, qemu_t, ratios = [], [], []
        for _ in range(args.runs):
            a = timed(hvt_cmd, 3)
            b = timed(qemu_cmd, 7)
            hvt_t.append(a)
            qemu_t.append(b)
            ratios.append(a / b)
    res = {
        'runs': args.runs,
        'hvt_median_ms': statistics.median(hvt_t) * 1000,
        'qemu_microvm_kvm_median_ms': statistics.median(qemu_t) * 1000,
        'median_ratio': statistics.median(ratios),
    }
    print('%-36s %8.1f ms' % ('mirage hello under unik-hvt', res['hvt_median_ms']))
    print('%-36s %8.1f ms' % ('same app, virtio, QEMU microvm KVM', res['qemu_microvm_kvm_median_ms']))
    print('%-36s %8.2f x   (hvt / QEMU, median of per-pair ratios)' % ('ratio', res['median_ratio']))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
