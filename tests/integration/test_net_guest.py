"""Guests on a host network (issue 14, item 7): each test makes its own Linux bridges (a private
/24 the host holds .1 of) and taps named uk*, boots a guest whose virtio-net NIC is one of those
taps, and talks to it with real clients from the host: a UDP echo, a guest that connects out to a
TCP server on the bridge's address, a guest with two NICs on two subnets, DHCP from a dnsmasq the
test starts, and 200 concurrent connections from wrk to examples/http.  The bridges, taps and
dnsmasq go away with the test, failed or not.  Skipped without root, /dev/net/tun, ip, dnsmasq
or wrk."""

import glob
import ipaddress
import os
import random
import re
import shutil
import socket
import subprocess
import threading
import time

from harness import REPO, Skip, accels, build_dir, check_equal, fail, out_dir
from qemu import boot, resolve_accel
from apps import app, run_native, run_unik_cc


def require_lwip():
    with open(os.path.join(build_dir(), 'runtime', 'net', 'lwip_config.h')) as f:
        if f.read().split() != ['#define', 'UNIK_LWIP', '1']:
            raise Skip('the runtime was built without lwIP (no lwip source in build/src)')


def require_host_net(*tools):
    if os.geteuid() != 0:
        raise Skip('needs root for bridges and taps')
    if not os.path.exists('/dev/net/tun'):
        raise Skip('no /dev/net/tun')
    for t in ('ip',) + tools:
        if not shutil.which(t):
            raise Skip('%s is not installed (Debian: %s)' % (
                t, {'ip': 'iproute2', 'dnsmasq': 'dnsmasq-base'}.get(t, t)))


def ip(*args):
    p = subprocess.run(['ip'] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True)
    if p.returncode:
        fail('ip %s: %s' % (' '.join(args), p.stderr.strip()))
    return p.stdout


def host_networks():
    nets = []
    for line in ip('-4', '-o', 'addr', 'show').splitlines():
        m = re.search(r'inet (\S+)', line)
        if m:
            nets.append(ipaddress.ip_interface(m.group(1)).network)
    for line in ip('-4', 'route', 'show').splitlines():
        word = line.split()[0]
        if word != 'default':
            nets.append(ipaddress.ip_network(word, strict=False))
    return nets


class HostNet:
    """Bridges and taps for one test, removed by close() (and by `with`)."""

    def __init__(self):
        self.links = []
        self.tag = '%04x' % random.randrange(0x10000)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for name in reversed(self.links):
            subprocess.run(['ip', 'link', 'del', name], stdin=subprocess.DEVNULL,
                           capture_output=True)
        self.links = []

    def bridge(self, n):
        """A bridge with a free 10.X.Y.0/24 of which the host holds .1: (name, network)."""
        used = host_networks()
        for _ in range(100):
            net = ipaddress.ip_network('10.%d.%d.0/24' % (random.randrange(100, 250),
                                                          random.randrange(256)))
            if not any(net.overlaps(u) for u in used):
                break
        else:
            fail('no free /24 in 10.100-249.x.0 for a bridge')
        name = 'ukb%s%d' % (self.tag, n)
        ip('link', 'add', name, 'type', 'bridge')
        self.links.append(name)
        ip('addr', 'add', '%s/24' % net[1], 'dev', name)
        ip('link', 'set', name, 'up')
        return name, net

    def tap(self, n, bridge):
        name = 'ukt%s%d' % (self.tag, n)
        ip('tuntap', 'add', 'dev', name, 'mode', 'tap')
        self.links.append(name)
        ip('link', 'set', name, 'master', bridge)
        ip('link', 'set', name, 'up')
        return name


def nic(index, tap, mac):
    return ['-netdev', 'tap,id=n%d,ifname=%s,script=no,downscript=no' % (index, tap),
            '-device', 'virtio-net-device,netdev=n%d,mac=%s' % (index, mac)]


def mac(index):
    return '52:54:00:12:34:%02x' % (0x56 + index)


class Guest:
    """One boot in a thread, so that the test can be its client meanwhile."""

    def __init__(self, kernel, cmdline, accel, extra, mem='128M', timeout=120):
        self.result = None
        self.error = None
        self.t = threading.Thread(target=self._run, daemon=True,
                                  args=(kernel, cmdline, accel, extra, mem, timeout))
        self.t.start()

    def _run(self, kernel, cmdline, accel, extra, mem, timeout):
        try:
            self.result = boot(kernel, cmdline, accel=accel, mem=mem, timeout=timeout,
                               extra=extra)
        except BaseException as e:  # handed to the test's thread by join()
            self.error = e

    def console(self):
        logs = glob.glob(os.path.join(out_dir(), 'console-*.log'))
        if not logs:
            return ''
        with open(max(logs, key=os.path.getmtime), errors='replace') as f:
            return f.read()

    def wait_for(self, needle, timeout=60):
        """Waits for `needle` on the console; fails with the console if the guest ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.console()
            if needle in text:
                return text
            if not self.t.is_alive():
                break
            time.sleep(0.1)
        self.join(5)
        fail('the guest never printed %r' % needle, self.console()[-2000:])

    def join(self, timeout=60):
        self.t.join(timeout)
        if self.error:
            raise self.error
        if self.result is None:
            fail('the guest is still running after the client finished', self.console()[-2000:])
        return self.result


def expect_up(r, name, address):
    line = 'unik: %s up %s' % (name, address)
    if line not in r.runtime_lines:
        fail('no %r line' % line, '\n'.join(r.runtime_lines))


def udp_exchange(address, port, payloads, timeout=30):
    """Sends each payload to address:port until it comes back (the guest may still be coming up
    for the first); returns the list of (reply, source address)."""
    got = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        for data in payloads:
            deadline = time.monotonic() + timeout
            while True:
                s.sendto(data, (address, port))
                try:
                    reply, src = s.recvfrom(65536)
                    got.append((reply, src))
                    break
                except socket.timeout:
                    if time.monotonic() > deadline:
                        fail('no UDP answer from %s:%d in %d s' % (address, port, timeout))
    return got


def say_bye(guest, address, port=7007):
    """Ends the guest's echo: "bye" until the guest is gone, as the echo of the last datagram
    before it powers off may never leave it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        deadline = time.monotonic() + 30
        while guest.t.is_alive() and time.monotonic() < deadline:
            s.sendto(b'bye', (address, port))
            guest.t.join(0.5)
    return guest.join()


def expect_echoed(r):
    """A datagram sent again while the guest was slow to answer is echoed again: the count
    varies."""
    r.expect_status(0)
    if not re.fullmatch(r'udp echo on port 7007\nechoed [1-9]\d* datagrams\n', r.app):
        fail('unexpected output', r.context())


@accels
def test_udp_echo_from_the_host(accel):
    """The guest echoes UDP on a static address on a bridge; the host's socket gets each
    datagram (1 byte, 1 KiB, one full Ethernet frame's worth) back from that address."""
    require_lwip()
    require_host_net()
    accel = resolve_accel(accel, direct=True)
    with HostNet() as hn:
        br, net = hn.bridge(0)
        tap = hn.tap(0, br)
        guest_ip = str(net[2])
        cmdline = 'unik.dev.net0=net,mac=%s unik.net0=%s/24,gw=%s netpeer udpecho 7007' % (
            mac(0), guest_ip, net[1])
        g = Guest(app('netpeer'), cmdline, accel, nic(0, tap, mac(0)))
        g.wait_for('udp echo on port 7007')
        payloads = [b'x', bytes(range(256)) * 4, b'\xa5' * 1472]
        got = udp_exchange(guest_ip, 7007, payloads)
        r = say_bye(g, guest_ip)
    for (reply, src), want in zip(got, payloads):
        if reply != want or src != (guest_ip, 7007):
            fail('a %d-byte datagram came back as %d bytes from %s' % (len(want), len(reply), src))
    expect_echoed(r)
    expect_up(r, 'net0', guest_ip + '/24')


class EchoServer:
    """A TCP server on the host that echoes what one client sends, counting the bytes."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((address, 0))
        self.sock.listen(1)
        self.sock.settimeout(90)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.peer = None
        self.error = None
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            c, self.peer = self.sock.accept()
            with c:
                c.settimeout(60)
                while True:
                    data = c.recv(65536)
                    if not data:
                        break
                    self.received += data
                    c.sendall(data)
        except OSError as e:
            self.error = e
        finally:
            self.sock.close()


@accels
def test_guest_connects_out(accel):
    """The guest connects to a TCP server the test runs on the bridge's address, sends 256 KiB
    and reads them back: the server sees the guest's address and the bytes it sent."""
    require_lwip()
    require_host_net()
    accel = resolve_accel(accel, direct=True)
    size = 256 * 1024
    with HostNet() as hn:
        br, net = hn.bridge(0)
        tap = hn.tap(0, br)
        guest_ip = str(net[2])
        srv = EchoServer(str(net[1]))
        cmdline = 'unik.dev.net0=net,mac=%s unik.net0=%s/24,gw=%s netpeer connect %s %d %d' % (
            mac(0), guest_ip, net[1], net[1], srv.port, size)
        r = boot(app('netpeer'), cmdline, accel=accel, timeout=120, extra=nic(0, tap, mac(0)))
        srv.t.join(10)
    if srv.error:
        fail('host server: %s' % srv.error, r.context())
    want = bytes((i * 7 + i // 251) & 0xff for i in range(size))
    if bytes(srv.received) != want:
        fail('the server got %d bytes, not the %d-byte pattern' % (len(srv.received), size))
    if not srv.peer or srv.peer[0] != guest_ip:
        fail('the connection came from %s, not %s' % (srv.peer, guest_ip))
    r.expect_status(0).expect_app('connected to %s port %d\nsent %d bytes, got %d back, the same\n'
                                  % (net[1], srv.port, size, size))


@accels
def test_two_nics_on_two_subnets(accel):
    """Two NICs on two bridges with static addresses in different subnets: the guest's UDP
    echo, bound to every address, answers on both, each from the address it was sent to."""
    require_lwip()
    require_host_net()
    accel = resolve_accel(accel, direct=True)
    with HostNet() as hn:
        br0, net0 = hn.bridge(0)
        br1, net1 = hn.bridge(1)
        extra = nic(0, hn.tap(0, br0), mac(0)) + nic(1, hn.tap(1, br1), mac(1))
        ip0, ip1 = str(net0[2]), str(net1[3])
        cmdline = ('unik.dev.net0=net,mac=%s unik.dev.net1=net,mac=%s unik.net0=%s/24 '
                   'unik.net1=%s/24 netpeer udpecho 7007' % (mac(0), mac(1), ip0, ip1))
        g = Guest(app('netpeer'), cmdline, accel, extra)
        g.wait_for('udp echo on port 7007')
        got = udp_exchange(ip0, 7007, [b'to net0'])
        got += udp_exchange(ip1, 7007, [b'to net1'])
        r = say_bye(g, ip1)
    check_equal('replies', got, [(b'to net0', (ip0, 7007)), (b'to net1', (ip1, 7007))])
    expect_echoed(r)
    expect_up(r, 'net0', ip0 + '/24')
    expect_up(r, 'net1', ip1 + '/24')


@accels
def test_dhcp_from_dnsmasq(accel):
    """No address on the command line: the guest leases one from a dnsmasq the test runs on
    the bridge (a one-address range, so the lease is known), and /etc/resolv.conf names the DNS
    server dnsmasq handed out.  dnsmasq sends only the options asked for: the runtime adds the
    name server (6) to lwIP's parameter request list, which leaves it out with its own resolver
    off (runtime/net/netif.c, unik_dhcp_ask_dns)."""
    require_lwip()
    require_host_net('dnsmasq')
    accel = resolve_accel(accel, direct=True)
    d = out_dir()
    with HostNet() as hn:
        br, net = hn.bridge(0)
        tap = hn.tap(0, br)
        lease, dns = str(net[77]), str(net[53])
        log = open(os.path.join(d, 'dnsmasq.log'), 'w')
        dm = subprocess.Popen(
            ['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--interface=' + br,
             '--bind-interfaces', '--except-interface=lo', '--port=0', '--user=root',
             '--dhcp-range=%s,%s,255.255.255.0,5m' % (lease, lease),
             '--dhcp-option=option:router,%s' % net[1],
             '--dhcp-option=option:dns-server,%s' % dns,
             '--dhcp-leasefile=' + os.path.join(d, 'dnsmasq.leases'),
             '--pid-file=' + os.path.join(d, 'dnsmasq.pid'), '--log-dhcp'],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            r = boot(app('net_stack'), 'unik.dev.net0=net,mac=%s net_stack resolv' % mac(0),
                     accel=accel, timeout=120, extra=nic(0, tap, mac(0)))
        finally:
            dm.terminate()
            try:
                dm.wait(10)
            except subprocess.TimeoutExpired:
                dm.kill()
                dm.wait()
            log.close()
    r.expect_status(0).expect_app('nameserver %s\nnet stack program ran\n' % dns)
    expect_up(r, 'net0', lease + '/24')


@accels
def test_wrk_200_connections(accel):
    """examples/http on a bridge, serving forever with a 1 KiB body: wrk with 200 connections
    and 2 threads for 5 s gets answers with no socket error and no non-2xx status."""
    require_lwip()
    require_host_net('wrk')
    accel = resolve_accel(accel, direct=True)
    kernel = os.path.join(out_dir(), 'http.elf')
    p = run_unik_cc(['-O2', '-Wall', '-pthread', '-o', kernel,
                     os.path.join(REPO, 'examples', 'http', 'http.c')])
    if p.returncode:
        fail('unik-cc examples/http/http.c failed', p.stderr[-2000:])
    with HostNet() as hn:
        br, net = hn.bridge(0)
        tap = hn.tap(0, br)
        guest_ip = str(net[2])
        cmdline = 'unik.dev.net0=net,mac=%s unik.net0=%s/24 http --body 1024' % (mac(0),
                                                                                guest_ip)
        # The server runs forever: the test stops QEMU through its monitor.
        monitor = os.path.join(out_dir(), 'monitor.sock')
        extra = nic(0, tap, mac(0)) + ['-monitor', 'unix:%s,server=on,wait=off' % monitor]
        g = Guest(kernel, cmdline, accel, extra, mem='256M', timeout=120)
        try:
            g.wait_for('listening on port 8080')
            w = subprocess.run(['wrk', '-c', '200', '-t', '2', '-d', '5s', '--timeout', '10s',
                                'http://%s:8080/' % guest_ip], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=60)
            with open(os.path.join(out_dir(), 'wrk.out'), 'w') as f:
                f.write(w.stdout + w.stderr)
        finally:
            quit_qemu(monitor)
            g.t.join(30)
    if w.returncode:
        fail('wrk exited %d' % w.returncode, w.stdout + w.stderr)
    m = re.search(r'(\d+) requests in', w.stdout)
    if not m or int(m.group(1)) == 0:
        fail('wrk made no request', w.stdout)
    if 'Socket errors' in w.stdout or 'Non-2xx' in w.stdout:
        fail('wrk saw errors', w.stdout + '\n' + g.console()[-1500:])


def quit_qemu(monitor):
    """Asks QEMU to quit through its human monitor socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(monitor)
            s.sendall(b'quit\n')
            while s.recv(4096):
                pass
    except OSError:
        pass


def start_dnsmasq(d, args):
    log = open(os.path.join(d, 'dnsmasq.log'), 'w')
    dm = subprocess.Popen(['dnsmasq', '--no-daemon', '--conf-file=/dev/null', '--user=root',
                           '--pid-file=' + os.path.join(d, 'dnsmasq.pid')] + args,
                          stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    return dm, log


def stop_dnsmasq(dm, log):
    dm.terminate()
    try:
        dm.wait(10)
    except subprocess.TimeoutExpired:
        dm.kill()
        dm.wait()
    log.close()


@accels
def test_names_resolve_through_musl(accel):
    """tests/apps/resolve.c on a bridge, with a DNS server (dnsmasq on the bridge's address,
    port 53) that alone knows svc.unik.test and answers NXDOMAIN for the rest of unik.test:
    getaddrinfo and gethostbyname find localhost and the guest's own hostname (unik.hostname=
    on the boot line, uname -n, and the line the runtime added to /etc/hosts) in /etc/hosts,
    the service over UDP through musl's resolver, and say EAI_NONAME / HOST_NOT_FOUND for a
    name that does not exist.  sethostname then renames the guest (a name /etc/hosts does not
    have, which the server says does not exist), and refuses 80 bytes with EINVAL."""
    require_lwip()
    require_host_net('dnsmasq')
    accel = resolve_accel(accel)
    d = out_dir()
    with HostNet() as hn:
        br, net = hn.bridge(0)
        tap = hn.tap(0, br)
        guest, dns, svc = str(net[9]), str(net[1]), str(net[200])
        dm, log = start_dnsmasq(d, [
            '--interface=' + br, '--bind-interfaces', '--except-interface=lo', '--port=53',
            '--no-resolv', '--no-hosts', '--local=/unik.test/',
            '--address=/svc.unik.test/' + svc, '--log-queries'])
        try:
            cmdline = ('unik.dev.net0=net,mac=%s unik.net0=%s/24,dns=%s unik.hostname=box-1 '
                       'resolve localhost hostname svc.unik.test nothere.unik.test '
                       '-set renamed.unik.test hostname' % (mac(0), guest, dns))
            r = boot(app('resolve'), cmdline, accel=accel, timeout=180,
                     extra=nic(0, tap, mac(0)))
        finally:
            stop_dnsmasq(dm, log)
    expect_up(r, 'net0', guest + '/24')
    r.expect_status(0).expect_app(
        'getaddrinfo localhost: 127.0.0.1\n'
        'gethostbyname localhost: 127.0.0.1\n'
        'uname -n: box-1\n'
        'getaddrinfo box-1: %s\n'
        'gethostbyname box-1: %s\n'
        'getaddrinfo svc.unik.test: %s\n'
        'gethostbyname svc.unik.test: %s\n'
        'getaddrinfo nothere.unik.test: EAI_NONAME\n'
        'gethostbyname nothere.unik.test: HOST_NOT_FOUND\n'
        'uname -n: renamed.unik.test\n'
        'getaddrinfo renamed.unik.test: EAI_NONAME\n'
        'gethostbyname renamed.unik.test: HOST_NOT_FOUND\n'
        'sethostname 80 bytes: refused\n' % (guest, guest, svc, svc))
    # The same program natively (musl-gcc) agrees on what the host can check without
    # renaming it: localhost from /etc/hosts, and 80 bytes refused.
    native = os.path.join(os.path.dirname(app('resolve')), 'resolve.native')
    if os.path.exists(native):
        got, status = run_native(native, ['localhost'])
        check_equal('the native run', (got, status),
                    ('getaddrinfo localhost: 127.0.0.1\ngethostbyname localhost: 127.0.0.1\n'
                     'sethostname 80 bytes: refused\n', 0))
    with open(os.path.join(d, 'dnsmasq.log'), errors='replace') as f:
        queries = f.read()
    if 'svc.unik.test' not in queries:
        fail('dnsmasq saw no query for svc.unik.test: the answer did not come from DNS',
             queries[-2000:])


@accels
def test_names_resolve_after_a_dhcp_lease(accel):
    """No address on the boot line: once the guest has leased one from dnsmasq (DHCP and DNS
    on the bridge), /etc/hosts maps its hostname to the lease and musl's resolver asks the
    name server the lease gave."""
    require_lwip()
    require_host_net('dnsmasq')
    accel = resolve_accel(accel)
    d = out_dir()
    with HostNet() as hn:
        br, net = hn.bridge(0)
        tap = hn.tap(0, br)
        lease, dns, svc = str(net[77]), str(net[1]), str(net[201])
        dm, log = start_dnsmasq(d, [
            '--interface=' + br, '--bind-interfaces', '--except-interface=lo', '--port=53',
            '--no-resolv', '--no-hosts', '--local=/unik.test/',
            '--address=/svc.unik.test/' + svc, '--log-queries',
            '--dhcp-range=%s,%s,255.255.255.0,5m' % (lease, lease),
            '--dhcp-option=option:router,%s' % dns,
            '--dhcp-option=option:dns-server,%s' % dns,
            '--dhcp-leasefile=' + os.path.join(d, 'dnsmasq.leases')])
        try:
            cmdline = ('unik.dev.net0=net,mac=%s unik.hostname=leased '
                       'resolve -wait hostname svc.unik.test' % mac(0))
            r = boot(app('resolve'), cmdline, accel=accel, timeout=180,
                     extra=nic(0, tap, mac(0)))
        finally:
            stop_dnsmasq(dm, log)
    expect_up(r, 'net0', lease + '/24')
    r.expect_status(0).expect_app(
        'uname -n: leased\n'
        'getaddrinfo leased: %s\n'
        'gethostbyname leased: %s\n'
        'getaddrinfo svc.unik.test: %s\n'
        'gethostbyname svc.unik.test: %s\n'
        'sethostname 80 bytes: refused\n' % (lease, lease, svc, svc))
