#!/usr/bin/env python3
"""Disk image benchmarks (issue 4): each format's size for hello, the time to pack each format
against copying the same bytes with cp (medians), and the raw disk's boot-to-exit time under
BIOS (-M pc, SeaBIOS + GRUB) against the ELF's direct PVH boot (-M microvm).  Prints a table and
writes JSON.  Targets: raw <= 2 MiB (aim 1 MiB), packing every format < 1 s.

    python3 bench/bench_disk.py --unik-pack bin/unik-pack --kernel build/tests/apps/hello.elf \
        --json build/bench/disk.json
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'lib'))

from qemu import QEMU, kvm_usable  # noqa: E402

FORMATS = ['raw', 'qcow2', 'vmdk', 'vhd', 'iso', 'elf']
EXIT_RE = re.compile(r'unik: exit status (\d+)')


def median_time(cmd, runs, before=None):
    times = []
    for _ in range(runs):
        if before:
            before()
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def boot_time(args, accel, runs, timeout):
    """Median seconds from QEMU's start to its exit; None when the guest did not exit 0."""
    times = []
    for _ in range(runs):
        with tempfile.NamedTemporaryFile(prefix='unik-bench-disk-', suffix='.log') as f:
            cmd = [QEMU, '-accel', accel, '-cpu',
                   'host,-arch-capabilities' if accel == 'kvm' else 'max', '-m', '128M',
                   '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
                   '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
                   '-serial', 'file:' + f.name] + args
            t0 = time.perf_counter()
            try:
                p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
            dt = time.perf_counter() - t0
            text = open(f.name, 'rb').read().decode('utf-8', 'replace')
            m = EXIT_RE.findall(text)
            if p.returncode != 1 or not m or m[-1] != '0':
                return None
            times.append(dt)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--unik-pack', default=os.path.join(REPO, 'bin', 'unik-pack'))
    ap.add_argument('--kernel', default=os.path.join(REPO, 'build', 'tests', 'apps', 'hello.elf'))
    ap.add_argument('--json', default=os.path.join(REPO, 'build', 'bench', 'disk.json'))
    ap.add_argument('--runs', type=int, default=5, help='packs and copies per format (>= 5)')
    ap.add_argument('--boot-runs', type=int, default=3)
    ap.add_argument('--accel', default='auto', help='tcg, kvm, or auto (both when KVM works)')
    a = ap.parse_args()

    for p in (a.unik_pack, a.kernel):
        if not os.path.exists(p):
            sys.exit('bench_disk: %s is missing (make bin/unik-pack test-apps)' % p)
    work = tempfile.mkdtemp(prefix='unik-bench-disk-')
    results = {'kernel': a.kernel, 'formats': {}, 'boot': {}}
    try:
        print('%-6s %10s %10s %10s %8s' % ('format', 'size', 'pack ms', 'cp ms', 'ratio'))
        for fmt in FORMATS:
            out = os.path.join(work, 'hello.' + fmt)
            cmd = [a.unik_pack, '--kernel', a.kernel, '--format', fmt, '-o', out]
            if fmt != 'elf':
                cmd += ['--cmdline', 'hello']
            pack = median_time(cmd, a.runs)
            size = os.path.getsize(out)
            copy = os.path.join(work, 'copy.' + fmt)
            cp = median_time(['cp', out, copy], a.runs,
                             before=lambda: os.path.exists(copy) and os.unlink(copy))
            results['formats'][fmt] = {'size_bytes': size, 'pack_s': pack, 'cp_s': cp,
                                       'pack_vs_cp': pack / cp if cp else None}
            print('%-6s %9.0fK %10.1f %10.1f %7.1fx' % (fmt, size / 1024, pack * 1000, cp * 1000,
                                                      pack / cp if cp else 0))

        accels = ['tcg', 'kvm'] if a.accel == 'auto' else [a.accel]
        if 'kvm' in accels and kvm_usable():
            print('kvm: %s (skipped)' % kvm_usable())
            accels.remove('kvm')
        raw = os.path.join(work, 'hello.raw')
        print('\n%-5s %14s %16s %8s' % ('accel', 'ELF PVH (s)', 'raw BIOS (s)', 'ratio'))
        for accel in accels:
            direct = boot_time(['-M', 'microvm', '-kernel', a.kernel, '-append', 'hello'],
                               accel, a.boot_runs, 60)
            disk = boot_time(['-M', 'pc', '-drive', 'file=%s,format=raw' % raw], accel,
                             a.boot_runs, 120)
            ratio = disk / direct if disk and direct else None
            results['boot'][accel] = {'elf_pvh_s': direct, 'raw_bios_s': disk, 'ratio': ratio}
            fmt = lambda v: '%.3f' % v if v is not None else 'failed'  # noqa: E731
            print('%-5s %14s %16s %8s' % (accel, fmt(direct), fmt(disk),
                                          '%.1fx' % ratio if ratio else '-'))

        raw_size = results['formats']['raw']['size_bytes']
        slowest = max(v['pack_s'] for v in results['formats'].values())
        results['targets'] = {
            'raw_size_le_2MiB': raw_size <= 2 * 1024 * 1024,
            'raw_size_le_1MiB_aim': raw_size <= 1024 * 1024,
            'pack_every_format_lt_1s': slowest < 1.0,
        }
        print('\ntargets: raw %d KiB (<= 2048, aim 1024): %s; slowest pack %.0f ms (< 1000): %s'
              % (raw_size // 1024, 'met' if raw_size <= 2 << 20 else 'MISSED', slowest * 1000,
                 'met' if slowest < 1 else 'MISSED'))
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, 'w') as f:
            json.dump(results, f, indent=2)
        print('wrote %s' % a.json)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
