"""The mirage backend (issue 16): applications over explicit devices, declared by name in the
Unikfile and bound by name at run time.  examples/mirage/ping is built by the daemon, run with
`unik run --net service=NETWORK` on a network the test makes, and pinged from the host at the
address the network gave it; a run that binds a device the image does not declare, or leaves a
declared one unbound, is refused before boot.  Also: the compiler is listed, the ELF note holds
the declaration, and a Unikfile's bad `devices:` or a rump-shaped source is refused."""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, Skip, bin_dir, check_equal, fail, out_dir, timeout
from test_daemon_fixture import provider_ready, tar_dir
from test_daemon_fixture import cli, cli_error, wait_console
from test_net_host import NetDaemon, need_root

# Not the subnets of test_net_host.py (10.86.x), so both may run at once.
SUBNET = '10.87.%d.0/24'
PING = os.path.join(REPO, 'examples', 'mirage', 'ping')


def build(d, src, name, ok=True):
    b = d.build(src, {'name': name})
    if ok and b['state'] != 'succeeded':
        fail('building %s failed' % src, b.get('log', '')[-3000:])
    return b


def checksum(data):
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ping(ip, count=3, seconds=90):
    """ICMP echo to ip from the host, as ping(8) does (a raw socket: this host has no ping),
    until `count` requests in a row are answered once each; returns the replies' sequence
    numbers.  The guest boots under TCG, so early requests may go unanswered."""
    ident = os.getpid() & 0xffff
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(1.0)
    deadline = time.monotonic() + seconds
    seq, streak, replies = 0, 0, []
    try:
        while time.monotonic() < deadline and streak < count:
            seq += 1
            payload = b'unik-mirage-%d' % seq
            hdr = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
            pkt = struct.pack('!BBHHH', 8, 0, checksum(hdr + payload), ident, seq) + payload
            s.sendto(pkt, (ip, 0))
            got = 0
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                try:
                    data, addr = s.recvfrom(2048)
                except socket.timeout:
                    break
                hl = (data[0] & 15) * 4
                icmp = data[hl:]
                if addr[0] != ip or len(icmp) < 8 or icmp[0] != 0:
                    continue
                _, _, _, rid, rseq = struct.unpack('!BBHHH', icmp[:8])
                if rid != ident or rseq != seq:
                    continue
                if icmp[8:] != payload or checksum(icmp) != 0:
                    fail('a bad echo reply from %s' % ip, repr(data))
                got += 1
                replies.append(rseq)
            if got > 1:
                fail('echo request %d was answered %d times' % (seq, got))
            streak = streak + 1 if got else 0
    finally:
        s.close()
    if streak < count:
        fail('%s never answered %d echo requests in a row (%d sent)' % (ip, count, seq))
    return replies


def build_refused(d, src, name, want):
    """A build that fails, at upload (400) or while it runs, saying want."""
    r = d.upload('/v1/builds', [('source', 'src.tgz', 'application/gzip', tar_dir(src)),
                                ('options', None, 'application/json',
                                 json.dumps({'name': name}).encode())])
    if r.status == 201:
        b = d.wait_build(r.json()['id'])
        text = b.get('log', '') + str(b.get('error', ''))
        ok = b['state'] != 'succeeded' and want in text
    else:
        text = r.text
        ok = r.status == 400 and want in r.json()['error']['message']
    if not ok:
        fail('build of %s: wanted a failure saying %r' % (src, want), text[-2000:])


@timeout(120)
def test_mirage_compiler_listed_and_note():
    """`unik compilers` and describe-compiler list mirage; unik-cc --unik-device writes the
    declaration into the kernel's UNIK_NOTE_APP_DEVICES note; bad declarations are refused."""
    with NetDaemon('mirage0') as d:
        out = cli(d, 'compilers').stdout
        if 'mirage' not in out:
            fail('unik compilers does not list mirage', out)
        comps = json.loads(cli(d, 'compilers', '-o', 'json').stdout)
        if not any(c.get('name') == 'mirage' for c in comps):
            fail('compilers -o json has no mirage', json.dumps(comps))
        if 'mirage-c-qemu' not in d.ok('GET', '/available_compilers'):
            fail("UniK's /available_compilers has no mirage-c-qemu",
                 d.get('/available_compilers').text)
        r = d.get('/describe_compiler?base=mirage&lang=c&provider=qemu')
        check_equal("UniK's /describe_compiler of mirage", r.status, 200)
        out = cli(d, 'describe-compiler', 'mirage').stdout
        if 'unik_app_main' not in out or 'devices:' not in out:
            fail('describe-compiler mirage does not say how to lay out a project', out)
    tmp = tempfile.mkdtemp(dir=out_dir())
    elf = os.path.join(tmp, 'ping.elf')
    cc = [os.path.join(bin_dir(), 'unik-cc'), '-O2', '-I', os.path.join(REPO, 'include')]
    r = subprocess.run(cc + ['--unik-device', 'net:service', '--unik-device', 'block:disk',
                             '-o', elf, os.path.join(PING, 'ping.c')],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail('unik-cc --unik-device failed', r.stderr)
    notes = subprocess.run(['readelf', '-x', '.note', elf], capture_output=True, text=True).stdout
    text = ''.join(l.split()[-1] for l in notes.splitlines() if l.strip().startswith('0x'))
    if 'net:service.blk:disk.' not in text:
        fail('the kernel does not declare its devices in a note', notes)
    for bad in ('net:Service', 'disk:x', 'net:', 'net:abcdefghijklmnop'):
        r = subprocess.run(cc + ['--unik-device', bad, '-o', elf, os.path.join(PING, 'ping.c')],
                           capture_output=True, text=True)
        if r.returncode == 0 or 'expected net:NAME or block:NAME' not in r.stderr:
            fail('unik-cc accepted --unik-device %s' % bad, r.stderr)


@timeout(240)
def test_mirage_builds_refused_with_reasons():
    """A Unikfile with a bad device declaration, a source shaped for rump and an unknown target
    fail the build with a message that says what is wrong."""
    with NetDaemon('mirage1') as d:
        tmp = tempfile.mkdtemp(dir=out_dir())
        cases = [
            ('devices: [{disk: x}]\n', 'unknown device kind "disk"'),
            ('devices: [{net: a}, {net: a}]\n', 'declared twice'),
            ('devices: [{net: Bad}]\n', 'device name "Bad"'),
            ('devices: [{net: service}]\ntarget: xen\n', 'no target "xen"'),
        ]
        for i, (decl, want) in enumerate(cases):
            src = os.path.join(tmp, 'c%d' % i)
            shutil.copytree(PING, src)
            with open(os.path.join(src, 'Unikfile'), 'w') as f:
                f.write('name: c%d\nbase: mirage\n%s' % (i, decl))
            build_refused(d, src, 'c%d' % i, want)
        src = os.path.join(tmp, 'rumpish')
        os.makedirs(src)
        with open(os.path.join(src, 'main.c'), 'w') as f:
            f.write('int main(void) { return 0; }\n')
        with open(os.path.join(src, 'Unikfile'), 'w') as f:
            f.write('name: rumpish\nbase: mirage\n')
        build_refused(d, src, 'rumpish', 'looks like a rump project')


@timeout(300)
def test_mirage_ping_on_a_network():
    """examples/mirage/ping bound to a network answers the host's ping at the address the
    network gave it; undeclared and unbound devices are refused before boot."""
    need_root()
    with NetDaemon('mirage2') as d:
        provider_ready(d)
        build(d, PING, 'ping')
        cli(d, 'network', 'create', '--subnet', SUBNET % 1, 'mlan')
        names = sorted(i['name'] for i in d.ok('GET', '/v1/instances'))
        cli_error(d, 'declares net device "service", which this run does not bind', 'run',
                  '-d', 'ping')
        cli_error(d, 'declares no net device "other"', 'run', '-d', '--net', 'service=mlan',
                  '--net', 'other=mlan', 'ping')
        cli_error(d, 'declares no block device "disk"', 'run', '-d', '--net', 'service=mlan',
                  '--block', 'disk=v', 'ping')
        cli_error(d, 'instead of --network', 'run', '-d', '--network', 'mlan', 'ping')
        r = d.request('POST', '/v1/instances', {'image': 'ping', 'bind': ['net:service']})
        check_equal('a bind without =NETWORK', r.status, 400)
        check_equal('instances after the refusals',
                    sorted(i['name'] for i in d.ok('GET', '/v1/instances')), names)

        cli(d, 'run', '-d', '--name', 'p1', '--net', 'service=mlan', 'ping')
        inst = d.ok('GET', '/v1/instances/p1')
        check_equal('the NIC is on mlan', [n['name'] for n in inst['networks']], ['mlan'])
        ip = inst['ip']
        if not ip.startswith('10.87.1.'):
            fail('the instance got no address on mlan', inst)
        # The guest finds its NIC by the declared name, with the address the network gave.
        wait_console(d, 'p1', 'ping: service %s/24' % ip)
        ping(ip)
        wait_console(d, 'p1', 'ping: answered the first echo request')
        # The REST spelling of the same binding, on user-mode networking: it boots and takes
        # the user-mode address.
        d.ok('POST', '/v1/instances', {'image': 'ping', 'name': 'p2',
                                       'bind': ['net:service=user']}, status=201)
        wait_console(d, 'p2', 'ping: service 10.0.2.15/24')
        cli(d, 'rm', '-f', 'p1', 'p2')
        cli(d, 'network', 'rm', 'mlan')


KV = os.path.join(REPO, 'examples', 'mirage', 'kv')


def kv_ask(ip, text, seconds=60):
    """One UDP request to the kv example, resent until it answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            s.sendto(text.encode(), (ip, 5000))
            try:
                data, _ = s.recvfrom(2048)
                return data.decode()
            except socket.timeout:
                continue
    finally:
        s.close()
    fail('kv at %s never answered %r' % (ip, text))


@timeout(300)
def test_mirage_kv_keeps_its_log_on_a_volume():
    """examples/mirage/kv bound to a network and a volume: put and get over UDP, and what was
    put is there again in a second instance on the same volume."""
    need_root()
    with NetDaemon('mirage3') as d:
        provider_ready(d)
        build(d, KV, 'kv')
        cli(d, 'network', 'create', '--subnet', SUBNET % 2, 'kvlan')
        cli(d, 'volume', 'create', '--size', '8', 'kvdata')
        cli_error(d, 'declares block device "storage", which this run does not bind', 'run',
                  '-d', '--net', 'service=kvlan', 'kv')
        cli(d, 'run', '-d', '--name', 'k1', '--net', 'service=kvlan', '--block',
            'storage=kvdata', 'kv')
        if not os.path.exists(os.path.join(REPO, 'runtime', 'drivers', 'virtio_blk.c')):
            # The host attaches the volume; the guest has no driver to find it with.
            wait_console(d, 'k1', 'kv: no block device "storage"')
            cli(d, 'rm', '-f', 'k1')
            cli(d, 'network', 'rm', 'kvlan')
            raise Skip('the runtime has no virtio-blk driver (runtime/drivers/virtio_blk.c): '
                       'block devices of mirage applications wait for it')
        ip = d.ok('GET', '/v1/instances/k1')['ip']
        wait_console(d, 'k1', 'kv: listening on %s:5000' % ip)
        check_equal('put', kv_ask(ip, 'put colour blue'), 'ok')
        check_equal('put', kv_ask(ip, 'put shape round'), 'ok')
        check_equal('get', kv_ask(ip, 'get colour'), 'blue')
        check_equal('get of nothing', kv_ask(ip, 'get size'), 'missing')
        cli(d, 'rm', '-f', 'k1')
        cli(d, 'run', '-d', '--name', 'k2', '--net', 'service=kvlan', '--block',
            'storage=kvdata', 'kv')
        ip = d.ok('GET', '/v1/instances/k2')['ip']
        wait_console(d, 'k2', 'kv: replayed 2 records, 2 keys')
        check_equal('get after a restart', kv_ask(ip, 'get shape'), 'round')
        cli(d, 'rm', '-f', 'k2')
        cli(d, 'network', 'rm', 'kvlan')
