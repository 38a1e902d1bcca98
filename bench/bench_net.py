#!/usr/bin/env python3
"""Network benchmarks (issue 14): examples/http as a unikernel against the same server built
natively (musl-gcc -static) in a minimal Linux guest (Debian's kernel from build/linux, an
initramfs holding bench/linux_init.c as /init), under the same QEMU, accelerator, machine
(microvm), virtio-net device and host path (a tap on a bridge the benchmark makes, or QEMU's
user-mode network without root).  Figures, each a ratio with both absolute numbers: requests/s
with wrk on keep-alive connections and a 1 KiB body, new connections/s (wrk with
'Connection: close'), and the time from QEMU's start to the first HTTP answer, against hello's
boot to exit and against the Linux guest's.  Then the includeos backend (issue 16):
examples/includeos/http against the rump build of examples/http answering the same small body,
both as unikernels on the same QEMU, accelerator and path, in rounds that alternate which goes
first, with each example's kernel size.  Reports only; never fails on a figure.

    python3 bench/bench_net.py --build build --bin bin --json build/bench/net.json
"""

import argparse
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, 'tests', 'lib'))

from qemu import qemu_command, kvm_usable  # noqa: E402

TARGETS = {  # figure: (target, aim)
    'rps_ratio': (1.0, 1.5),
    'cps_ratio': (1.0, 1.5),
    'first_answer_vs_hello': (1.5, None),
    'linux_first_answer_speedup': (10.0, None),
    'includeos_rps_ratio': (1.0, None),
    'includeos_cps_ratio': (1.0, None),
}
INCLUDEOS_MAX_KIB = 256  # issue 16: the includeos HTTP server's kernel
MAC = '52:54:00:12:34:56'
SERVER_MEM = '256M'  # the unikernel's, the Linux guest's and hello's (for its boot to exit)
PORT = 8080
# Debian's virtio-net and the transports it sits on, in load order (/init retries anyway).
MODULES = ['virtio_ring.ko', 'virtio.ko', 'virtio_mmio.ko', 'failover.ko', 'net_failover.ko',
           'virtio_net.ko']


def newc(entries, path):
    """A newc cpio archive of (name, mode, bytes or None for a directory)."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate(entries + [('TRAILER!!!', 0, b'')], 1):
        data = data or b''
        nb = name.encode() + b'\0'
        out += ('070701' + ''.join('%08X' % v for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))).encode() + nb
        out += b'\0' * (-len(out) % 4) + data
        out += b'\0' * (-len(out) % 4)
    with open(path, 'wb') as f:
        f.write(out)


def linux_initramfs(build, out):
    """The Linux guest's initramfs, or None (with the reason printed) when a part is missing."""
    linux = os.path.join(build, 'linux')
    parts = {'init': os.path.join(build, 'bench', 'linux_init'),
             'http': os.path.join(build, 'bench', 'http.native')}
    for m in MODULES:
        parts[m] = os.path.join(linux, 'modules', m)
    missing = [p for p in parts.values() if not os.path.exists(p)]
    if not os.path.exists(os.path.join(linux, 'vmlinuz')) or missing:
        print('bench_net: no Linux guest (%s missing: scripts/install-deps fetches the kernel, '
              'musl-gcc builds the rest); its figures are skipped'
              % ', '.join(missing or [os.path.join(linux, 'vmlinuz')]))
        return None
    entries = [('dev', 0o040755, None), ('lib', 0o040755, None), ('proc', 0o040755, None),
               ('modules', 0o100644, ''.join(m + '\n' for m in MODULES).encode())]
    for name in ('init', 'http'):
        entries.append((name, 0o100755, open(parts[name], 'rb').read()))
    for m in MODULES:
        entries.append(('lib/' + m, 0o100644, open(parts[m], 'rb').read()))
    newc(entries, out)
    return out


class Path:
    """The host side of the NIC: a tap on a bridge (root) or QEMU's user-mode network."""

    def __init__(self, kind):
        self.kind = kind
        self.links = []
        if kind == 'tap':
            tag = '%04x' % random.randrange(0x10000)
            used = self._host_nets()
            for _ in range(100):
                net = ipaddress.ip_network('10.%d.%d.0/24' % (random.randrange(100, 250),
                                                              random.randrange(256)))
                if not any(net.overlaps(u) for u in used):
                    break
            self.bridge, self.tap = 'ukb%sn' % tag, 'ukt%sn' % tag
            self.guest_ip, self.prefix = str(net[2]), 24
            self._ip('link', 'add', self.bridge, 'type', 'bridge')
            self.links.append(self.bridge)
            self._ip('addr', 'add', '%s/24' % net[1], 'dev', self.bridge)
            self._ip('link', 'set', self.bridge, 'up')
            self._ip('tuntap', 'add', 'dev', self.tap, 'mode', 'tap')
            self.links.append(self.tap)
            self._ip('link', 'set', self.tap, 'master', self.bridge, 'up')
            # A permanent neighbour entry: the first connection attempts do not wait on ARP.
            self._ip('neigh', 'replace', self.guest_ip, 'lladdr', MAC, 'dev', self.bridge,
                     'nud', 'permanent')
            self.host, self.port = self.guest_ip, PORT
        else:
            self.guest_ip, self.prefix = '10.0.2.15', 24
            with socket.socket() as s:
                s.bind(('127.0.0.1', 0))
                self.port = s.getsockname()[1]
            self.host = '127.0.0.1'

    @staticmethod
    def _ip(*args):
        subprocess.run(['ip'] + list(args), check=True, stdin=subprocess.DEVNULL,
                       capture_output=True)

    @staticmethod
    def _host_nets():
        out = subprocess.run(['ip', '-4', '-o', 'addr', 'show'], capture_output=True,
                             text=True).stdout
        return [ipaddress.ip_interface(m).network for m in re.findall(r'inet (\S+)', out)]

    def netdev(self):
        if self.kind == 'tap':
            return 'tap,id=n0,ifname=%s,script=no,downscript=no' % self.tap
        return 'user,id=n0,hostfwd=tcp:127.0.0.1:%d-:%d' % (self.port, PORT)

    def close(self):
        for name in reversed(self.links):
            subprocess.run(['ip', 'link', 'del', name], capture_output=True)


def first_answer(host, port, deadline, every=0.005, patience=0.1):
    """Probes host:port with HTTP GETs until one is answered with a 200 (True) or the deadline
    passes (False).  A new connection is started every `every` seconds and each is given up after
    `patience`: a SYN the guest drops (not up yet) is sent again by the host only after a second,
    so overlapping short attempts time the guest's readiness to within a few milliseconds rather
    than the client's retry policy.  Connections that get an answer other than a 200, or are
    refused (listening not yet), are closed and replaced by the next attempt."""
    import selectors
    req = b'GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n'
    sel = selectors.DefaultSelector()
    live = {}  # socket -> [started, sent, data]
    next_try = time.monotonic()

    def drop(sock):
        sel.unregister(sock)
        live.pop(sock, None)
        sock.close()

    try:
        while True:
            now = time.monotonic()
            if now >= deadline:
                return False
            if now >= next_try:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                sock.connect_ex((host, port))
                live[sock] = [now, False, b'']
                sel.register(sock, selectors.EVENT_WRITE | selectors.EVENT_READ)
                next_try = now + every
            for sock in [s for s, st in live.items() if now - st[0] > patience and not st[1]]:
                drop(sock)
            for key, ev in sel.select(max(0.0, min(next_try, deadline) - time.monotonic())):
                sock, st = key.fileobj, live.get(key.fileobj)
                if st is None:
                    continue
                if not st[1]:
                    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                        drop(sock)
                        continue
                    try:
                        sock.sendall(req)
                    except OSError:
                        drop(sock)
                        continue
                    st[1] = True
                    sel.modify(sock, selectors.EVENT_READ)
                    continue
                try:
                    chunk = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b''
                st[2] += chunk
                if st[2].startswith(b'HTTP/1.1 200'):
                    return True
                if not chunk or b'\r\n' in st[2]:
                    drop(sock)
    finally:
        for sock in list(live):
            sock.close()
        sel.close()


class Server:
    """One guest serving HTTP; started by start(), stopped by stop()."""

    def __init__(self, name, cmd, path, log):
        self.name, self.cmd, self.path, self.log = name, cmd, path, log
        self.p = None

    def start(self, timeout):
        """Boots the guest; seconds from QEMU's start to the first answer, or None."""
        t0 = time.monotonic()
        with open(os.path.join(self.log, self.name + '-qemu.log'), 'w') as log:
            self.p = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=log)
        ok = first_answer(self.path.host, self.path.port, t0 + timeout)
        return time.monotonic() - t0 if ok else None

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()


def wrk(path, seconds, conns, close):
    """(requests/s, errors) from one wrk run."""
    cmd = ['wrk', '-t', '2', '-c', str(conns), '-d', '%ds' % seconds, '--timeout', '5s']
    if close:
        cmd += ['-H', 'Connection: close']
    cmd.append('http://%s:%d/' % (path.host, path.port))
    out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    m = re.search(r'Requests/sec:\s+([\d.]+)', out)
    errors = re.search(r'Socket errors: (.*)', out)
    non2xx = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    bad = ', '.join(x for x in (errors and errors.group(1),
                                non2xx and 'non-2xx %s' % non2xx.group(1)) if x)
    return (float(m.group(1)) if m else None), bad


def hello_boot(build, accel, mem):
    """Seconds from QEMU's start to hello's exit (microvm, no NIC, the server's memory size),
    or None."""
    hello = os.path.join(build, 'tests', 'apps', 'hello.elf')
    with tempfile.NamedTemporaryFile(suffix='.log') as f:
        cmd = qemu_command(hello, 'hello', accel, 'microvm', mem, console=f.name)
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        return time.monotonic() - t0 if p.returncode == 1 else None


def measure(server, args, boots, before=None):
    """Boot-to-first-answer (median of `boots`, each after before() if given), then the two wrk
    figures on the last boot."""
    fig = {'first_answer_s': None, 'rps': None, 'cps': None, 'errors': []}
    times = []
    for i in range(boots):
        if before:
            before()
        t = server.start(args.boot_timeout)
        if t is None:
            server.stop()
            print('bench_net: %s gave no HTTP answer in %d s' % (server.name, args.boot_timeout))
            return fig
        times.append(t)
        if i < boots - 1:
            server.stop()
    fig['first_answer_s'] = statistics.median(times)
    try:
        fig['rps'], bad = wrk(server.path, args.seconds, args.conns, close=False)
        if bad:
            fig['errors'].append('keep-alive: ' + bad)
        fig['cps'], bad = wrk(server.path, args.seconds, args.conns, close=True)
        if bad:
            fig['errors'].append('Connection: close: ' + bad)
    finally:
        server.stop()
    return fig


def includeos_vs_rump(args, path, accel, bdir):
    """examples/includeos/http against the rump examples/http (no --body: both answer one short
    line), keep-alive and new-connection requests/s, medians over args.rounds rounds that
    alternate the order; each kernel's size."""
    kernels = {'includeos': os.path.join(bdir, 'http-includeos.elf'),
               'rump': os.path.join(bdir, 'http.elf')}
    out = {'sizes_kib': {}}
    for name, k in kernels.items():
        if not os.path.exists(k):
            out['why'] = '%s is missing (make bench builds it; it needs lwIP)' % k
            return out
        out['sizes_kib'][name] = os.path.getsize(k) / 1024
    netdev = ['-netdev', path.netdev(), '-device', 'virtio-net-device,netdev=n0,mac=' + MAC]
    net = 'unik.dev.net0=net,mac=%s unik.net0=%s/%d%s' % (
        MAC, path.guest_ip, path.prefix, ',gw=10.0.2.2' if path.kind == 'user' else '')
    servers = {'includeos': Server('includeos', qemu_command(kernels['includeos'], net, accel,
                                                              'microvm', SERVER_MEM, extra=netdev),
                                   path, bdir),
               'rump': Server('rump', qemu_command(kernels['rump'], net + ' http', accel,
                                                   'microvm', SERVER_MEM, extra=netdev),
                              path, bdir)}
    got = {n: {'rps': [], 'cps': [], 'errors': []} for n in servers}
    for i in range(args.rounds):
        order = ['includeos', 'rump'] if i % 2 == 0 else ['rump', 'includeos']
        for name in order:
            srv = servers[name]
            try:
                if srv.start(args.boot_timeout) is None:
                    print('bench_net: %s gave no HTTP answer in %d s' % (name, args.boot_timeout))
                    continue
                for key, close in (('rps', False), ('cps', True)):
                    v, bad = wrk(path, args.seconds, args.conns, close)
                    if v:
                        got[name][key].append(v)
                    if bad:
                        got[name]['errors'].append('%s: %s' % (key, bad))
            finally:
                srv.stop()
    for name, g in got.items():
        out[name] = {'rps': statistics.median(g['rps']) if g['rps'] else None,
                     'cps': statistics.median(g['cps']) if g['cps'] else None,
                     'rps_all': g['rps'], 'cps_all': g['cps'], 'errors': g['errors']}
    return out


def host_tsc_khz():
    with open('/proc/cpuinfo') as f:
        m = re.search(r'^cpu MHz\s*:\s*([\d.]+)', f.read(), re.M)
    return int(float(m.group(1)) * 1000) if m else 2000000


def ratio(a, b):
    return a / b if a and b else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.path.join(REPO, 'build'))
    ap.add_argument('--bin', default=os.path.join(REPO, 'bin'))
    ap.add_argument('--json', default=os.path.join(REPO, 'build', 'bench', 'net.json'))
    ap.add_argument('--accel', choices=['kvm', 'tcg'], help='default: kvm when usable')
    ap.add_argument('--path', choices=['tap', 'user'],
                    help='default: a tap on a bridge when root, else user-mode')
    ap.add_argument('--seconds', type=int, default=5, help='per wrk run')
    ap.add_argument('--conns', type=int, default=16, help='wrk connections')
    ap.add_argument('--boots', type=int, default=5,
                    help='unikernel (and hello) boots to the first answer (to the exit)')
    ap.add_argument('--boot-timeout', type=int, default=60)
    ap.add_argument('--rounds', type=int, default=3,
                    help='includeos/rump rounds (each boots both and runs wrk twice on each)')
    ap.add_argument('--only', choices=['linux', 'includeos'],
                    help='only the figures against Linux, or only includeos against rump')
    a = ap.parse_args()

    if not shutil.which('wrk'):
        print('bench_net: wrk is not installed (Debian: wrk); skipped')
        return 0
    accel = a.accel or ('kvm' if kvm_usable() is None else 'tcg')
    kind = a.path or ('tap' if os.geteuid() == 0 and os.path.exists('/dev/net/tun')
                      and shutil.which('ip') else 'user')
    bdir = os.path.join(a.build, 'bench')
    os.makedirs(bdir, exist_ok=True)
    kernel = os.path.join(bdir, 'http.elf')
    if not os.path.exists(kernel):
        sys.exit('bench_net: %s is missing (make bench builds it)' % kernel)

    results = {'accel': accel, 'path': kind, 'machine': 'microvm', 'wrk_conns': a.conns,
               'wrk_seconds': a.seconds, 'body_bytes': 1024}
    hello_times = []
    path = Path(kind)
    try:
        if a.only != 'linux':
            results['includeos'] = includeos_vs_rump(a, path, accel, bdir)
            results['includeos_rounds'] = a.rounds
        if a.only == 'includeos':
            return finish(results, a)
        netdev = ['-netdev', path.netdev(), '-device', 'virtio-net-device,netdev=n0,mac=' + MAC]
        cmdline = 'unik.dev.net0=net,mac=%s unik.net0=%s/%d%s http --body 1024' % (
            MAC, path.guest_ip, path.prefix, ',gw=10.0.2.2' if kind == 'user' else '')
        unik = Server('unik', qemu_command(kernel, cmdline, accel, 'microvm', SERVER_MEM,
                                           extra=netdev), path, bdir)
        # hello's boots alternate with the server's, so that the load of the machine (TCG on
        # shared cores) weighs on both alike.
        results['unik'] = measure(
            unik, a, a.boots, lambda: hello_times.append(hello_boot(a.build, accel, SERVER_MEM)))
        results['hello_boot_s'] = (statistics.median(hello_times) if None not in hello_times
                                   else None)

        initrd = linux_initramfs(a.build, os.path.join(bdir, 'linux-initramfs.cpio'))
        if initrd:
            # Under a loaded TCG the kernel's PIT calibration of the TSC fails and the boot
            # stalls; QEMU's TSC runs at the host's rate, so the host's figure is given.
            append = 'console=ttyS0 quiet panic=-1 tsc_early_khz=%d tsc=reliable -- %s/%d ' \
                '/http --body 1024' % (host_tsc_khz(), path.guest_ip, path.prefix)
            cmd = qemu_command(os.path.join(a.build, 'linux', 'vmlinuz'), append, accel,
                               'microvm', SERVER_MEM, initrd=initrd,
                               console=os.path.join(bdir, 'linux-console.log'), extra=netdev)
            linux = Server('linux', cmd, path, bdir)
            results['linux'] = measure(linux, a, 1)
    finally:
        path.close()

    return finish(results, a)


def finish(results, a):
    inc = results.get('includeos') or {}
    results['includeos_rps_ratio'] = ratio((inc.get('includeos') or {}).get('rps'),
                                           (inc.get('rump') or {}).get('rps'))
    results['includeos_cps_ratio'] = ratio((inc.get('includeos') or {}).get('cps'),
                                           (inc.get('rump') or {}).get('cps'))
    u, lx = results.get('unik', {}), results.get('linux') or {}
    results['rps_ratio'] = ratio(u.get('rps'), lx.get('rps'))
    results['cps_ratio'] = ratio(u.get('cps'), lx.get('cps'))
    results['first_answer_vs_hello'] = ratio(u.get('first_answer_s'), results.get('hello_boot_s'))
    results['linux_first_answer_speedup'] = ratio(lx.get('first_answer_s'),
                                                  u.get('first_answer_s'))
    report(results)
    with open(a.json, 'w') as f:
        json.dump(results, f, indent=2)
        f.write('\n')
    return 0


def num(v, fmt):
    return fmt % v if v is not None else 'n/a'


def report_includeos(r):
    inc = r.get('includeos')
    if not inc:
        return
    print('includeos backend against rump, same server, same QEMU (%s, microvm, %s path), '
          'medians of the rounds that answered (of %s):'
          % (r['accel'], r['path'], r.get('includeos_rounds', 'n/a')))
    if inc.get('why'):
        print('  skipped: ' + inc['why'])
    i, rp = inc.get('includeos') or {}, inc.get('rump') or {}
    for label, key in (('requests/s (keep-alive)', 'rps'), ('new connections/s', 'cps')):
        print('  %-28s %14s %18s   %s includeos / rump (>= 1.0x)'
              % (label, num(i.get(key), '%.0f'), num(rp.get(key), '%.0f (rump)'),
                 num(r.get('includeos_%s_ratio' % key), '%.2fx')))
    for name, kib in sorted(inc.get('sizes_kib', {}).items()):
        print('  %-28s %10.1f KiB%s' % (name + ' kernel size', kib,
                                        '   (<= %d KiB: %s)' % (INCLUDEOS_MAX_KIB,
                                                                'met' if kib <= INCLUDEOS_MAX_KIB
                                                                else 'MISSED')
                                        if name == 'includeos' else ''))
    for name, fig in (('includeos', i), ('rump', rp)):
        for e in fig.get('errors', []):
            print('  %s: wrk errors: %s' % (name, e))


def report(r):
    report_includeos(r)
    if 'unik' not in r:
        return

    u, lx = r.get('unik', {}), r.get('linux') or {}
    print('network benchmark: %s, %s, %s path, wrk -t 2 -c %d -d %ds, %d-byte body'
          % (r['accel'], r['machine'], r['path'], r['wrk_conns'], r['wrk_seconds'],
             r['body_bytes']))
    rows = [
        ('requests/s (keep-alive)', num(u.get('rps'), '%.0f'), num(lx.get('rps'), '%.0f'),
         'rps_ratio', 'unik / linux'),
        ('new connections/s', num(u.get('cps'), '%.0f'), num(lx.get('cps'), '%.0f'),
         'cps_ratio', 'unik / linux'),
        ('boot to first answer', num(u.get('first_answer_s'), '%.3f s'),
         num(lx.get('first_answer_s'), '%.3f s'), 'linux_first_answer_speedup',
         'linux / unik'),
        ('first answer vs hello exit', num(u.get('first_answer_s'), '%.3f s'),
         num(r.get('hello_boot_s'), '%.3f s (hello)'), 'first_answer_vs_hello',
         'unik / hello'),
    ]
    print('  %-28s %14s %18s   %s' % ('figure', 'unik', 'baseline', 'ratio (target, aim)'))
    for name, uv, bv, key, how in rows:
        target, aim = TARGETS[key]
        bound = ('<= %.1fx' if key == 'first_answer_vs_hello' else '>= %.1fx') % target
        print('  %-28s %14s %18s   %s %s (%s%s)' % (name, uv, bv, num(r.get(key), '%.2fx'), how,
                                                   bound, ', aim %.1fx' % aim if aim else ''))
    for who, fig in (('unik', u), ('linux', lx)):
        for e in fig.get('errors', []):
            print('  %s: wrk errors: %s' % (who, e))


if __name__ == '__main__':
    sys.exit(main())
