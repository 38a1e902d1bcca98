#!/usr/bin/env python3
"""unik's benchmarks: boot-to-exit time of examples/hello against the floor stub (a multiboot
kernel that does nothing but print and exit) under the same QEMU flags, the size of the hello
image, and the least guest memory it runs in.  Reports; fails only if hello does not run."""

import argparse
import json
import math
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'tests', 'lib'))

from qemu import qemu_command, kvm_usable  # noqa: E402

TARGETS = {
    'boot_ratio': (1.5, 1.2),
    'size_kib': (128, 64),
    'min_mem_mib': (4, 4),
    'memstress_ratio': (1.25, 1.1),
    'threads_ratio': (0.5, 1.0),
}


def boot_ratio(args, accel, cmdline, machine):
    """hello's boot-to-exit time over the floor's on one machine type, runs interleaved so that
    drift in the machine hits both alike: (median hello s, median floor s, median ratio, all
    hello times, all floor times), or None if a run failed."""
    hello_t, floor_t, ratios = [], [], []
    for i in range(args.runs):
        order = [('floor', args.floor, ''), ('hello', args.hello, cmdline)]
        if i % 2:
            order.reverse()
        got = {}
        for name, kernel, cl in order:
            dt, rc, text = run_once(kernel, accel, args.mem, cl, machine=machine)
            ok = hello_ok(rc, text) if name == 'hello' else floor_ok(rc, text)
            if not ok:
                print('bench: run %d of %s on %s failed (qemu exit %s): %r'
                      % (i, name, machine, rc, text[-500:]))
                return None
            got[name] = dt
        hello_t.append(got['hello'])
        floor_t.append(got['floor'])
        ratios.append(got['hello'] / got['floor'])
    return (statistics.median(hello_t), statistics.median(floor_t), statistics.median(ratios),
            hello_t, floor_t)


def bench_lines(text):
    """The 'bench KEY VALUE' lines tests/apps/threads.c prints."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == 'bench':
            out[parts[1]] = float(parts[2])
    return out


def threads_figure(args, accel):
    """Thread create+join, futex ping-pong and pipe throughput in the guest against the same
    program run natively, in the same run (tests/apps/threads.c, mode bench)."""
    if not args.threads or not args.threads_native:
        return {'why': 'no --threads/--threads-native'}
    if not os.path.exists(args.threads_native):
        return {'why': 'no native build (musl-gcc missing)'}
    n = '300'
    _, rc, text = run_once(args.threads, accel, args.mem, 'threads bench ' + n, timeout=120)
    guest = bench_lines(text)
    p = subprocess.run([args.threads_native, 'bench', n], stdout=subprocess.PIPE, timeout=120)
    native = bench_lines(p.stdout.decode())
    keys = ['create_join_us', 'futex_roundtrips_per_s', 'pipe_mb_per_s']
    if any(k not in guest or k not in native for k in keys):
        return {'why': 'the bench run failed: guest %r native %r' % (guest, native)}
    # Each ratio says how the guest does against native: above 1 is faster.
    return {
        'guest': guest, 'native': native,
        'create_join_ratio': native['create_join_us'] / guest['create_join_us'],
        'futex_ratio': guest['futex_roundtrips_per_s'] / native['futex_roundtrips_per_s'],
        'pipe_ratio': guest['pipe_mb_per_s'] / native['pipe_mb_per_s'],
    }


def run_once(kernel, accel, mem, cmdline, timeout=30, machine='microvm'):
    """Boot once; returns (seconds, qemu exit code, console text)."""
    with tempfile.NamedTemporaryFile(prefix='unik-bench-', suffix='.log', delete=False) as f:
        console = f.name
    try:
        cmd = qemu_command(kernel, cmdline, accel, machine, mem, None, console)
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            rc = None
        dt = time.perf_counter() - t0
        with open(console, 'rb') as f:
            text = f.read().decode('utf-8', 'replace').replace('\r\n', '\n')
        return dt, rc, text
    finally:
        os.unlink(console)


def loadable_bytes(path):
    """Bytes of the file that PT_LOAD segments cover (what a loader copies), and the memory
    they take (with .bss)."""
    with open(path, 'rb') as f:
        data = f.read()
    phoff, = struct.unpack_from('<Q', data, 0x20)
    phentsize, phnum = struct.unpack_from('<HH', data, 0x36)
    filesz = memsz = 0
    for i in range(phnum):
        p_type, _, _, _, _, p_filesz, p_memsz = struct.unpack_from('<IIQQQQQ', data,
                                                                    phoff + i * phentsize)
        if p_type == 1:
            filesz += p_filesz
            memsz += p_memsz
    return filesz, memsz


def stripped_bytes(path):
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, 'stripped')
        try:
            subprocess.run(['strip', '-o', out, path], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        except (OSError, subprocess.CalledProcessError):
            return None
        return os.path.getsize(out)


def hello_ok(rc, text):
    return rc == 1 and text.rstrip('\n').endswith('unik: exit status 0') and 'Hello' in text


def floor_ok(rc, text):
    return rc == 1 and text == 'floor\n'


def fmt_target(key, value, unit, lower_is_better=True):
    target, aim = TARGETS[key]
    sign = 1 if lower_is_better else -1
    if value is None:
        verdict = 'n/a'
    elif sign * value <= sign * aim:
        verdict = 'meets aim'
    elif sign * value <= sign * target:
        verdict = 'meets target'
    else:
        verdict = 'MISSES target'
    op = '<=' if lower_is_better else '>='
    return '%s %s%s (aim %s %s%s): %s' % (op, target, unit, op, aim, unit, verdict)


def least(runs_in, lo, hi, probes):
    """The least m in (lo, hi] for which runs_in(m), by bisection, given that it fails at lo
    and runs at hi; each probe's result goes into probes."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        probes[mid] = runs_in(mid)
        if probes[mid]:
            hi = mid
        else:
            lo = mid
    return hi


def memstress_figure(args, accel):
    """The least guest memory (MiB) in which tests/apps/memstress prints what its native build
    prints, as a ratio to the native build's peak RSS."""
    if not args.memstress or not args.memstress_native:
        return {'why': 'no --memstress/--memstress-native given'}
    if not os.path.exists(args.memstress_native):
        return {'why': 'no native build (musl-gcc missing)'}
    from apps import run_native_rss
    want, status, rss = run_native_rss(args.memstress_native)
    if status != 0:
        return {'why': 'the native run failed with status %d' % status}

    def runs_in(m):
        _, rc, text = run_once(args.memstress, accel, '%dM' % m, 'memstress', timeout=600)
        app = ''.join(l for l in text.splitlines(True) if not l.startswith('unik: '))
        return rc == 1 and app == want

    rss_mib = rss / (1 << 20)
    lo, hi = max(1, int(rss_mib) - 8), int(math.ceil(rss_mib * 1.25 + 8))
    probes = {}
    while not runs_in(hi):
        probes[hi] = False
        lo, hi = hi, hi * 2
        if hi > 4096:
            return {'why': 'does not run in 4 GiB', 'native_rss_mib': rss_mib}
    probes[hi] = True
    hi = least(runs_in, lo, hi, probes)
    return {'native_rss_mib': rss_mib, 'min_mib': hi, 'ratio': hi / rss_mib,
            'target_ratio': TARGETS['memstress_ratio'][0],
            'probes': {str(k): v for k, v in sorted(probes.items())}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--hello', required=True)
    ap.add_argument('--floor', required=True)
    ap.add_argument('--json', required=True)
    ap.add_argument('--runs', type=int, default=int(os.environ.get('BENCH_RUNS', 15)))
    ap.add_argument('--mem', default='128M', help='guest memory for the timing runs')
    ap.add_argument('--accel', choices=['kvm', 'tcg'], help='default: kvm when usable')
    ap.add_argument('--memstress', help='tests/apps/memstress.elf: least guest memory it runs in')
    ap.add_argument('--memstress-native', help='its musl-gcc -static build, for the peak RSS')
    ap.add_argument('--threads', help='tests/apps/threads.elf: thread and pipe figures')
    ap.add_argument('--threads-native', help='its musl-gcc -static build')
    args = ap.parse_args()

    accel = args.accel or ('kvm' if kvm_usable() is None else 'tcg')
    cmdline = 'hello bench'

    # Does it run at all?
    dt, rc, text = run_once(args.hello, accel, args.mem, cmdline)
    if not hello_ok(rc, text):
        print('bench: hello does not run (qemu exit %s); console:\n%s' % (rc, text[-2000:]))
        return 1
    dt, rc, text = run_once(args.floor, accel, args.mem, '')
    if not floor_ok(rc, text):
        print('bench: the floor stub does not run (qemu exit %s); console: %r' % (rc, text))
        return 1

    # Boot to exit, on microvm as the qemu provider runs it (no ACPI) and with microvm's defaults.
    fast = boot_ratio(args, accel, cmdline, 'microvm-noacpi')
    dflt = boot_ratio(args, accel, cmdline, 'microvm')
    if not fast or not dflt:
        return 1
    med_hello, med_floor, med_ratio, hello_t, floor_t = fast
    acpi_hello, acpi_floor, acpi_ratio, _, _ = dflt

    # Size.
    size = os.path.getsize(args.hello)
    size_kib = size / 1024
    load_file, load_mem = loadable_bytes(args.hello)
    stripped = stripped_bytes(args.hello)

    # The least memory (MiB) hello runs in: bisect, checking the bound first.
    def runs_in(m):
        _, rc, text = run_once(args.hello, accel, '%dM' % m, cmdline, timeout=20)
        return hello_ok(rc, text)

    probes = {}
    lo, hi = 1, 64
    if not runs_in(hi):
        min_mem = None
    else:
        probes[hi] = True
        min_mem = lo if runs_in(lo) else least(runs_in, lo, hi, probes)

    mstress = memstress_figure(args, accel)
    threads = threads_figure(args, accel)

    res = {
        'accel': accel,
        'machine': 'microvm,acpi=off',
        'mem': args.mem,
        'runs': args.runs,
        'boot': {
            'hello_median_s': med_hello,
            'floor_median_s': med_floor,
            'median_ratio': med_ratio,
            'hello_s': hello_t,
            'floor_s': floor_t,
            'target_ratio': TARGETS['boot_ratio'][0],
            'aim_ratio': TARGETS['boot_ratio'][1],
            'acpi_on': {'hello_median_s': acpi_hello, 'floor_median_s': acpi_floor,
                        'median_ratio': acpi_ratio},
        },
        'size': {'bytes': size, 'kib': size_kib, 'target_kib': TARGETS['size_kib'][0],
                 'aim_kib': TARGETS['size_kib'][1], 'stripped_bytes': stripped,
                 'loaded_file_bytes': load_file, 'loaded_memory_bytes': load_mem},
        'min_mem': {'mib': min_mem, 'target_mib': TARGETS['min_mem_mib'][0],
                    'probes': {str(k): v for k, v in sorted(probes.items())}},
        'memstress': mstress,
        'threads': threads,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(res, f, indent=2)

    print('unik bench (%s, microvm,acpi=off, -m %s, %d interleaved runs each)'
          % (accel, args.mem, args.runs))
    print('%-28s %14s   %s' % ('measure', 'value', 'target'))
    print('-' * 90)
    print('%-28s %10.1f ms' % ('floor boot-to-exit (median)', med_floor * 1000))
    print('%-28s %10.1f ms' % ('hello boot-to-exit (median)', med_hello * 1000))
    print('%-28s %10.2f x    %s' % ('hello / floor (median ratio)', med_ratio,
                                  fmt_target('boot_ratio', med_ratio, 'x')))
    print('%-28s %10.2f x    (floor %.1f ms, hello %.1f ms)'
          % ('  with ACPI (microvm default)', acpi_ratio, acpi_floor * 1000, acpi_hello * 1000))
    print('%-28s %10.1f KiB   %s' % ('hello ELF size', size_kib,
                                       fmt_target('size_kib', size_kib, ' KiB')))
    print('%-28s %10.1f KiB' % ('  stripped', stripped / 1024 if stripped else float('nan')))
    print('%-28s %10.1f KiB   (%.1f KiB in memory with .bss)'
          % ('  loaded (PT_LOAD bytes)', load_file / 1024, load_mem / 1024))
    print('%-28s %14s   %s' % ('least memory hello runs in',
                               '%d MiB' % min_mem if min_mem else '> 64 MiB ',
                               fmt_target('min_mem_mib', min_mem, ' MiB')))
    if mstress.get('ratio'):
        print('%-28s %10.2f x    %s' % ('memstress least mem / RSS', mstress['ratio'],
                                      fmt_target('memstress_ratio', mstress['ratio'], 'x')))
        print('%-28s %10d MiB   (native peak RSS %.1f MiB)'
              % ('  least guest memory', mstress['min_mib'], mstress['native_rss_mib']))
    else:
        print('%-28s %14s   %s' % ('memstress least mem / RSS', 'n/a', mstress.get('why', '')))
    if threads.get('guest'):
        g, n = threads['guest'], threads['native']
        for key, label, ratio in (
                ('create_join_us', 'thread create+join', 'create_join_ratio'),
                ('futex_roundtrips_per_s', 'futex ping-pong', 'futex_ratio'),
                ('pipe_mb_per_s', 'pipe throughput', 'pipe_ratio')):
            print('%-28s %10.2f x    %s (guest %.1f, native %.1f %s)'
                  % (label + ' vs native', threads[ratio],
                     fmt_target('threads_ratio', threads[ratio], 'x', lower_is_better=False),
                     g[key], n[key], key.split('_', 1)[1] if key != 'create_join_us' else 'us'))
    else:
        print('%-28s %14s   %s' % ('threads vs native', 'n/a', threads.get('why', '')))
    print('results: %s' % args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
