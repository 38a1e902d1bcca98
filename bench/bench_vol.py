#!/usr/bin/env python3
"""Volume benchmarks (issue 15): bench/volbench.c as a unikernel against the same program built
natively (musl-gcc -static) in a minimal Linux guest (Debian's kernel from build/linux, an
initramfs holding bench/linux_init.c as /init and the ext4, virtio-blk and 9p modules), under the
same QEMU, accelerator and machine (microvm), each on a fresh ext2 image made with mke2fs (a
virtio-blk-device, QEMU's default cache) and the same host directory as a virtio-9p share
(security_model=none).  Figures, each unik/Linux as a ratio of throughputs (above 1 is faster)
with both absolute numbers: a sequential write of 64 MiB ended by fsync, reading it back (Linux's
page cache dropped first), creating 1,000 small files each written and fsynced, and reading a
10 MiB file over the share.  Runs alternate between the guests; medians are reported.  Reports
only; never fails on a figure.

    python3 bench/bench_vol.py --build build --json build/bench/vol.json
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'lib'))
sys.path.insert(0, HERE)

from qemu import qemu_command, kvm_usable  # noqa: E402
from bench_net import newc, host_tsc_khz, ratio  # noqa: E402

TARGETS = {  # figure: (target, aim)
    'seq_write_ratio': (0.8, 1.0),
    'seq_read_ratio': (0.8, 1.0),
    'small_files_ratio': (0.8, 1.0),
    'share_read_ratio': (0.8, 1.0),
}
# What each ratio divides: unik's figure over Linux's.
FIGURES = {
    'seq_write_ratio': 'seq_write_mbps',
    'seq_read_ratio': 'seq_read_mbps',
    'small_files_ratio': 'small_files_per_s',
    'share_read_ratio': 'share_read_mbps',
}
# Debian's virtio-blk, ext2 (through ext4), virtio-9p and what they need, in load order (/init
# retries anyway, so the order need not be exact).
MODULES = ['virtio_ring.ko', 'virtio.ko', 'virtio_mmio.ko', 'virtio_blk.ko', 'crc16.ko',
           'mbcache.ko', 'jbd2.ko', 'crc32c_generic.ko', 'ext4.ko', 'netfs.ko', 'fscache.ko',
           '9pnet.ko', '9pnet_virtio.ko', '9p.ko']
MKE2FS = shutil.which('mke2fs') or '/sbin/mke2fs'


def linux_initramfs(build, out):
    """The Linux guest's initramfs, or None (with the reason printed) when a part is missing."""
    linux = os.path.join(build, 'linux')
    parts = {'init': os.path.join(build, 'bench', 'linux_init'),
             'volbench': os.path.join(build, 'bench', 'volbench.native')}
    for m in MODULES:
        parts[m] = os.path.join(linux, 'modules', m)
    missing = [p for p in parts.values() if not os.path.exists(p)]
    if not os.path.exists(os.path.join(linux, 'vmlinuz')) or missing:
        print('bench_vol: no Linux guest (%s missing: scripts/install-deps fetches the kernel '
              'and its modules, musl-gcc builds the rest); its figures are skipped'
              % ', '.join(missing or [os.path.join(linux, 'vmlinuz')]))
        return None
    entries = [('dev', 0o040755, None), ('lib', 0o040755, None), ('proc', 0o040755, None),
               ('modules', 0o100644, ''.join(m + '\n' for m in MODULES).encode())]
    for name in ('init', 'volbench'):
        entries.append((name, 0o100755, open(parts[name], 'rb').read()))
    for m in MODULES:
        entries.append(('lib/' + m, 0o100644, open(parts[m], 'rb').read()))
    newc(entries, out)
    return out


def kvm_cpu(build):
    """The -cpu model KVM guests get: tests/lib/qemu.py's, else 'host,arch-capabilities=off'
    where QEMU cannot set that MSR (seen nested on AMD hosts: 'failed to set MSR 0x10a', and
    QEMU aborts), or None when neither boots hello."""
    hello = os.path.join(build, 'tests', 'apps', 'hello.elf')
    default = qemu_command(hello, '', 'kvm')
    for cpu in (default[default.index('-cpu') + 1], 'host,arch-capabilities=off'):
        with tempfile.NamedTemporaryFile(suffix='.log') as f:
            cmd = with_cpu(qemu_command(hello, 'hello', 'kvm', 'microvm', '64M', console=f.name),
                           cpu)
            try:
                p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                   timeout=60)
            except subprocess.TimeoutExpired:
                continue
            if p.returncode == 1:
                return cpu
    return None


def with_cpu(cmd, cpu):
    cmd = list(cmd)
    cmd[cmd.index('-cpu') + 1] = cpu
    return cmd


def mkfs(img, mib):
    if os.path.exists(img):
        os.unlink(img)
    subprocess.run([MKE2FS, '-q', '-F', '-t', 'ext2', '-b', '4096', img, '%dM' % mib],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True)


def devices(img, share):
    return ['-drive', 'if=none,id=data,file=%s,format=raw' % img,
            '-device', 'virtio-blk-device,drive=data,serial=data',
            '-fsdev', 'local,id=fs0,path=%s,security_model=none' % share,
            '-device', 'virtio-9p-device,fsdev=fs0,mount_tag=share']


def figures(text):
    """The 'bench KEY VALUE' lines volbench printed, or None without its 'volbench ok'."""
    out = {}
    ok = False
    for line in text.replace('\r\n', '\n').splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == 'bench':
            out[parts[1]] = float(parts[2])
        elif line.strip() == 'volbench ok':
            ok = True
    return out if ok else None


def boot(name, cmd, console, timeout):
    """One guest run to its end: its figures, or None (with the console's tail printed)."""
    if os.path.exists(console):
        os.unlink(console)
    err = ''
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=timeout)
        err = p.stderr.decode('utf-8', 'replace')
    except subprocess.TimeoutExpired:
        err = 'no exit in %d s' % timeout
    text = open(console, 'rb').read().decode('utf-8', 'replace') if os.path.exists(console) \
        else ''
    fig = figures(text)
    if fig is None:
        print('bench_vol: the %s guest failed (%s); its console (%s) ends:\n%s'
              % (name, err.strip()[-500:], console, text[-1500:]))
    return fig


def median_figures(runs):
    runs = [r for r in runs if r]
    if not runs:
        return None
    return {k: statistics.median(r[k] for r in runs if k in r) for k in runs[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(REPO, 'build'))
    ap.add_argument('--json', default=os.path.join(REPO, 'build', 'bench', 'vol.json'))
    ap.add_argument('--accel', choices=['kvm', 'tcg'], help='default: kvm when usable')
    ap.add_argument('--runs', type=int, default=3, help='boots of each guest (alternating)')
    ap.add_argument('--mib', type=int, default=64, help='MiB written then read')
    ap.add_argument('--files', type=int, default=1000, help='small files created')
    ap.add_argument('--share-mib', type=int, default=10, help='MiB read over the share')
    ap.add_argument('--disk-mib', type=int, default=256, help='size of the ext2 image')
    ap.add_argument('--mem', default='256M')
    ap.add_argument('--timeout', type=int, default=600, help='seconds for one guest run')
    ap.add_argument('--only', choices=['unik', 'linux'], help='run one guest only')
    a = ap.parse_args()

    accel = a.accel or ('kvm' if kvm_usable() is None else 'tcg')
    cpu = 'max'
    if accel == 'kvm':
        cpu = kvm_cpu(a.build)
        if cpu is None:
            print('bench_vol: QEMU does not boot hello under KVM here; TCG is used')
            accel, cpu = 'tcg', 'max'
    bdir = os.path.join(a.build, 'bench')
    kernel = os.path.join(bdir, 'volbench.elf')
    if not os.path.exists(kernel):
        sys.exit('bench_vol: %s is missing (make bench builds it)' % kernel)
    if not os.path.exists(MKE2FS):
        print('bench_vol: mke2fs is not installed (e2fsprogs); skipped')
        return 0

    work = tempfile.mkdtemp(prefix='unik-bench-vol-', dir=bdir)
    share = os.path.join(work, 'share')
    os.makedirs(share)
    big = os.path.join(share, 'big')
    with open(big, 'wb') as f:
        f.write(os.urandom(a.share_mib * 1024 * 1024))
    img = os.path.join(work, 'disk.img')
    prog = ['disk', '/data', str(a.mib), str(a.files), 'share', '/share/big']

    guests = {}
    if a.only != 'linux':
        guests['unik'] = lambda console: with_cpu(qemu_command(
            kernel, ' '.join(['unik.dev.data=blk,at=/data', 'unik.dev.share=fs,at=/share',
                              'volbench'] + prog),
            accel, 'microvm', a.mem, console=console, extra=devices(img, share)), cpu)
    if a.only != 'unik':
        initrd = linux_initramfs(a.build, os.path.join(bdir, 'linux-vol-initramfs.cpio'))
        if initrd:
            # tsc_early_khz: see bench_net.py (a loaded TCG fails the PIT calibration).
            append = ' '.join(['console=ttyS0 quiet panic=-1 tsc_early_khz=%d tsc=reliable --'
                               % host_tsc_khz(), '-m', '/dev/vda:/data:ext2',
                               '-m', 'share:/share:9p:trans=virtio,version=9p2000.L', '-',
                               '/volbench'] + prog)
            guests['linux'] = lambda console: with_cpu(qemu_command(
                os.path.join(a.build, 'linux', 'vmlinuz'), append, accel, 'microvm', a.mem,
                initrd=initrd, console=console, extra=devices(img, share)), cpu)

    runs = {name: [] for name in guests}
    try:
        for i in range(a.runs):
            order = sorted(guests) if i % 2 == 0 else sorted(guests, reverse=True)
            for name in order:
                if runs[name] and not any(runs[name]):
                    continue  # it failed once: it would again, after as long a wait
                mkfs(img, a.disk_mib)
                console = os.path.join(bdir, 'vol-%s-console.log' % name)
                runs[name].append(boot(name, guests[name](console), console, a.timeout))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    results = {'accel': accel, 'cpu': cpu, 'machine': 'microvm', 'runs': a.runs, 'mib': a.mib,
               'files': a.files, 'share_mib': a.share_mib, 'block_size': 4096,
               'all': runs}
    for name in ('unik', 'linux'):
        results[name] = median_figures(runs.get(name, []))
    u, lx = results['unik'] or {}, results['linux'] or {}
    for key, fig in FIGURES.items():
        results[key] = ratio(u.get(fig), lx.get(fig))
    report(results)
    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, 'w') as f:
        json.dump(results, f, indent=2)
        f.write('\n')
    return 0


def report(r):
    def num(v, fmt):
        return fmt % v if v is not None else 'n/a'

    u, lx = r['unik'] or {}, r['linux'] or {}
    print('volume benchmark: %s (-cpu %s), microvm, ext2 (4 KiB blocks) on virtio-blk, '
          'virtio-9p share; medians of %d runs' % (r['accel'], r['cpu'], r['runs']))
    rows = [
        ('write %d MiB + fsync' % r['mib'], 'seq_write_mbps', '%.1f MB/s', 'seq_write_ratio'),
        ('read %d MiB' % r['mib'], 'seq_read_mbps', '%.1f MB/s', 'seq_read_ratio'),
        ('%d files, each fsynced' % r['files'], 'small_files_per_s', '%.0f files/s',
         'small_files_ratio'),
        ('read %d MiB over 9p' % r['share_mib'], 'share_read_mbps', '%.1f MB/s',
         'share_read_ratio'),
    ]
    print('  %-26s %16s %16s   %s' % ('figure', 'unik', 'linux', 'unik / linux (target, aim)'))
    for name, fig, fmt, key in rows:
        target, aim = TARGETS[key]
        print('  %-26s %16s %16s   %s (>= %.1fx, aim %.1fx)'
              % (name, num(u.get(fig), fmt), num(lx.get(fig), fmt), num(r.get(key), '%.2fx'),
                 target, aim))


if __name__ == '__main__':
    sys.exit(main())
