"""Networks and NICs seen from the host (issue 14): `unik network create/ls/inspect/rm` make and
remove real Linux bridges, bad input gets a clear error and leaves no bridge behind, a network in
use cannot be removed, a bridge lost (a reboot) comes back when the daemon starts, and instances
of examples/http get a NIC whose address `unik ps`, describe-instance, /v1/instances and UniK's
/instances show.  Through the daemon and the real CLI; the guest is the example server, built by
the daemon."""

import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, Skip, bin_dir, check_equal, fail, out_dir, timeout
from test_daemon_fixture import (Daemon, cli, cli_error, curl, free_port, provider_ready,
                                 wait_console, write_tree)

# A subnet no test machine uses (RFC 5737's TEST-NET-1 is documentation; the tests stay off
# 192.0.2.0/24, which some of these machines have on eth0).
SUBNET = '10.86.%d.0/24'


def need_root():
    if os.geteuid() != 0:
        raise Skip('networks need root (CAP_NET_ADMIN) to make bridges')
    if not shutil.which('ip'):
        raise Skip('ip (iproute2) is not installed')


def link_exists(name):
    return subprocess.run(['ip', 'link', 'show', 'dev', name], capture_output=True).returncode == 0




class NetDaemon(Daemon):
    """A daemon whose networks (and their bridges) go with it, also when a test fails."""

    def __exit__(self, *exc):
        try:
            if self.proc and self.proc.poll() is None:
                for i in self.get('/v1/instances').json():
                    self.request('DELETE', '/v1/instances/%s?force=true' % i['id'])
                for n in self.get('/v1/networks').json():
                    self.request('DELETE', '/v1/networks/%s' % n['id'])
        except Exception:
            pass
        return Daemon.__exit__(self, *exc)


def bridges():
    """unik's bridges that are this test's to watch: those holding an address of 10.86.0.0/16
    other than 10.86.3.0/24 to 10.86.6.0/24, which the other tests of this file hold as they
    run alongside, and those with no address at all, as a refused create might leave behind.
    Other daemons on the machine have bridges of their own, and one being made has no address
    for a moment, so a bridge is counted only when two looks a moment apart agree."""
    def once():
        r = subprocess.run(['ip', '-4', '-o', 'addr', 'show', 'type', 'bridge'],
                           capture_output=True, text=True)
        addressed, mine = set(), set()
        for l in r.stdout.splitlines():
            name = l.split()[1]
            addressed.add(name)
            if ' 10.86.' in l and not any(' 10.86.%d.' % n in l for n in range(3, 7)):
                mine.add(name)
        r = subprocess.run(['ip', '-o', 'link', 'show', 'type', 'bridge'], capture_output=True,
                           text=True)
        for l in r.stdout.splitlines():
            name = l.split(':')[1].strip().split('@')[0]
            if name not in addressed:
                mine.add(name)
        return set(n for n in mine if n.startswith('ukbr-'))
    first = once()
    time.sleep(0.3)
    return sorted(first & once())


@timeout(120)
def test_network_lifecycle_and_bad_input():
    need_root()
    with NetDaemon('nethome') as d:
        before = bridges()
        check_equal('create', cli(d, 'network', 'create', '--subnet', SUBNET % 1, 'n1').stdout,
                    'n1\n')
        n1 = d.ok('GET', '/v1/networks/n1')
        check_equal('subnet', n1['subnet'], SUBNET % 1)
        check_equal('gateway', n1['gateway'], '10.86.1.1')
        if not link_exists(n1['bridge']):
            fail('no bridge %s after network create' % n1['bridge'])
        addr = subprocess.run(['ip', '-4', '-o', 'addr', 'show', 'dev', n1['bridge']],
                              capture_output=True, text=True).stdout
        if '10.86.1.1/24' not in addr:
            fail('the bridge does not hold the gateway address', addr)
        listing = cli(d, 'networks').stdout
        if 'n1' not in listing or SUBNET % 1 not in listing or n1['bridge'] not in listing:
            fail('unik networks does not show n1', listing)
        check_equal('network ls = networks', cli(d, 'network', 'ls').stdout.split('\n')[1][:40],
                    listing.split('\n')[1][:40])
        if '"bridge"' not in cli(d, 'network', 'inspect', 'n1', '-o', 'json').stdout:
            fail('network inspect -o json shows no bridge')
        # Bad input: each refused with a clear message, and no bridge left behind.
        cli_error(d, 'exists', 'network', 'create', 'n1')
        cli_error(d, 'overlaps network "n1"', 'network', 'create', '--subnet', '10.86.0.0/16',
                  'n2')
        cli_error(d, 'not an IPv4 address with a prefix', 'network', 'create', '--subnet',
                  '10.86.2.0/33', 'n2')
        cli_error(d, 'not an IPv4 address with a prefix', 'network', 'create', '--subnet',
                  'banana', 'n2')
        cli_error(d, 'did you mean 10.86.2.0/24', 'network', 'create', '--subnet',
                  '10.86.2.9/24', 'n2')
        cli_error(d, 'loopback', 'network', 'create', '--subnet', '127.0.0.0/8', 'n2')
        # A subnet the host already has on an interface (a bridge of the test's own).
        subprocess.run(['ip', 'link', 'add', 'ukhost7', 'type', 'bridge'], check=True)
        try:
            subprocess.run(['ip', 'addr', 'add', '10.86.7.1/24', 'dev', 'ukhost7'], check=True)
            cli_error(d, 'overlaps 10.86.7.0/24, which this host already has', 'network',
                      'create', '--subnet', '10.86.7.128/25', 'n2')
        finally:
            subprocess.run(['ip', 'link', 'del', 'ukhost7'])
        cli_error(d, 'means no NIC', 'network', 'create', 'none')
        cli_error(d, 'did you mean `create`', 'network', 'craete', 'n2')
        r = d.request('POST', '/v1/networks', {'name': 'n2', 'subnet': 5})
        check_equal('a subnet that is no string', r.status, 400)
        r = d.request('POST', '/v1/networks', {'name': 'n2', 'vlan': 5})
        check_equal('an unknown key', r.status, 400)
        check_equal('bridges after the refusals', bridges(), sorted(before + [n1['bridge']]))
        # The first free subnet by default.
        cli(d, 'network', 'create', 'n3')
        n3 = d.ok('GET', '/v1/networks/n3')
        if not n3['subnet'].startswith('10.88.') or not n3['subnet'].endswith('.0/24'):
            fail('the default subnet is not a free 10.88.N.0/24: %s' % n3['subnet'])
        check_equal('rm', cli(d, 'network', 'rm', 'n1', 'n3').stdout, 'n1\nn3\n')
        check_equal('bridges after rm', bridges(), before)
        cli_error(d, 'no network', 'network', 'rm', 'n1')


@timeout(120)
def test_bridge_comes_back_after_restart():
    """A bridge gone while the daemon was down (a reboot) is made again when it starts."""
    need_root()
    d = Daemon('nethome2')
    d.start()
    try:
        cli(d, 'network', 'create', '--subnet', SUBNET % 3, 'keep')
        br = d.ok('GET', '/v1/networks/keep')['bridge']
    finally:
        d.stop()
    subprocess.run(['ip', 'link', 'del', br], check=True)
    d.start()
    try:
        if not link_exists(br):
            fail('the daemon did not bring bridge %s back' % br, d.log())
        cli(d, 'network', 'rm', 'keep')
        if link_exists(br):
            fail('bridge %s outlived network rm' % br)
    finally:
        d.stop()


def build_http(d):
    b = d.build(os.path.join(REPO, 'examples', 'http'), {'name': 'http'})
    if b['state'] != 'succeeded':
        fail('building examples/http failed', b.get('log', '')[-3000:])



@timeout(300)
def test_instances_get_a_nic_and_show_its_address():
    need_root()
    with NetDaemon('nethome3') as d:
        provider_ready(d)
        build_http(d)
        cli(d, 'network', 'create', '--subnet', SUBNET % 4, 'back')
        # A socket program gets a NIC on user-mode networking by default, with its address
        # given on the command line (no DHCP).
        cli(d, 'run', '-d', '--name', 'u1', 'http')
        wait_console(d, 'u1', 'unik: net0 up 10.0.2.15/24')
        inst = d.ok('GET', '/v1/instances/u1')
        check_equal('ip', inst['ip'], '10.0.2.15')
        check_equal('networks', [(n['name'], n['device'], n['ip']) for n in inst['networks']],
                    [('user', 'net0', '10.0.2.15/24')])
        if not inst['networks'][0]['mac'].startswith('52:54:00:'):
            fail('no MAC recorded for the NIC', inst)
        ps = cli(d, 'ps').stdout
        if '10.0.2.15' not in ps.split('\n')[1] or 'PORTS' not in ps:
            fail('unik ps does not show the IP', ps)
        u = [i for i in d.ok('GET', '/instances') if i['Name'] == 'u1']
        check_equal("UniK's IpAddress", u[0]['IpAddress'], '10.0.2.15')
        if '10.0.2.15' not in cli(d, 'describe-instance', 'u1').stdout:
            fail('describe-instance does not show the IP')
        # --network none: no NIC.
        cli(d, 'run', '-d', '--name', 'u2', '--network', 'none', 'http')
        check_equal('no NIC', d.ok('GET', '/v1/instances/u2')['networks'], [])
        # Bad input on run: clear errors, no instance left.
        names = sorted(i['name'] for i in d.ok('GET', '/v1/instances'))
        cli_error(d, 'no network "nope"', 'run', '-d', '--network', 'nope', 'http')
        cli_error(d, 'is not one network "back" can give', 'run', '-d', '--network',
                  'back:10.86.9.5', 'http')
        cli_error(d, 'gateway', 'run', '-d', '--network', 'back:10.86.4.1', 'http')
        cli_error(d, 'cannot publish ports', 'run', '-d', '--network', 'none', '-p', '80:80',
                  'http')
        cli_error(d, 'the guest port is not 1 to 65535', 'run', '-d', '-p', '80:0', 'http')
        cli_error(d, 'is given twice', 'run', '-d', '--network', 'back', '--network', 'back',
                  'http')
        r = d.request('POST', '/v1/instances', {'image': 'http', 'ports': '80:80'})
        check_equal('ports that are no array', r.status, 400)
        check_equal('instances after the refusals',
                    sorted(i['name'] for i in d.ok('GET', '/v1/instances')), names)
        # The store keeps NICs and ports across a daemon restart.
        d.stop()
        d.start()
        inst = d.ok('GET', '/v1/instances/u1')
        check_equal('ip after a restart', inst['ip'], '10.0.2.15')
        check_equal('NICs after a restart', len(inst['networks']), 1)
        cli(d, 'rm', '-f', 'u1', 'u2')
        cli(d, 'network', 'rm', 'back')




@timeout(300)
def test_publish_and_network_through_the_cli():
    """The issue's own example: `unik run -p HOST:GUEST` on user-mode networking and curl on the
    host; a NIC on a network (a bridge) reached at the address ps shows, and a port published on
    it through unik-shim's forwarder; a port in use refused with nothing left behind; the tap
    gone with the instance."""
    need_root()
    if not shutil.which('curl'):
        raise Skip('curl is not installed (Debian: curl)')
    with NetDaemon('nethome4') as d:
        provider_ready(d)
        build_http(d)
        p1, p2 = free_port(), free_port()
        cli(d, 'run', '-d', '--name', 'pub', '-p', '127.0.0.1:%d:8080' % p1, 'http')
        body = curl('http://127.0.0.1:%d/' % p1)
        if not body.startswith('hello from unik'):
            fail('the published port answered %r' % body)
        ps = cli(d, 'ps').stdout
        if '127.0.0.1:%d->8080/tcp' % p1 not in ps:
            fail('unik ps does not show the published port', ps)
        # The same host port again: refused before anything starts.
        before = sorted(i['name'] for i in d.ok('GET', '/v1/instances'))
        cli_error(d, 'is in use', 'run', '-d', '-p', '127.0.0.1:%d:8080' % p1, 'http')
        check_equal('instances after the refusal',
                    sorted(i['name'] for i in d.ok('GET', '/v1/instances')), before)
        # A network: the guest's own address, and a port published on it.
        cli(d, 'network', 'create', '--subnet', SUBNET % 5, 'web')
        cli(d, 'run', '-d', '--name', 'br', '--network', 'web', '-p',
            '127.0.0.1:%d:8080' % p2, 'http')
        inst = d.ok('GET', '/v1/instances/br')
        check_equal('the address handed out', inst['ip'], '10.86.5.2')
        if '10.86.5.2' not in cli(d, 'ps').stdout:
            fail('unik ps does not show the bridge address')
        if not curl('http://10.86.5.2:8080/').startswith('hello from unik'):
            fail('the guest on the bridge did not answer')
        if not curl('http://127.0.0.1:%d/' % p2).startswith('hello from unik'):
            fail('the port published on the bridge did not answer')
        tap = 'uk%s0' % inst['id']
        if not link_exists(tap):
            fail('no tap %s for the NIC on the bridge' % tap)
        cli_error(d, 'used by instance', 'network', 'rm', 'web')
        cli(d, 'rm', '-f', 'br', 'pub')
        if link_exists(tap):
            fail('tap %s outlived its instance' % tap)
        cli(d, 'network', 'rm', 'web')


@timeout(400)
def test_instance_is_named_after_itself():
    """The daemon passes unik.hostname=<instance name> (docs/guest-abi.md "Hostname"): on a
    network, tests/apps/resolve.c prints the instance name as uname -n, and musl's getaddrinfo
    and gethostbyname find it in /etc/hosts at the address the daemon handed out."""
    need_root()
    with open(os.path.join(REPO, 'tests', 'apps', 'resolve.c')) as f:
        resolve_c = f.read()
    src = write_tree(os.path.join(out_dir(), 'resolve'),
                     {'Makefile': 'resolve: resolve.c\n\t$(CC) -O2 -o resolve resolve.c\n',
                      'resolve.c': resolve_c})
    with NetDaemon('nethome6') as d:
        provider_ready(d)
        b = d.build(src, {'name': 'resolve'})
        if b['state'] != 'succeeded':
            fail('build %s: %s' % (b['state'], b.get('error')), b.get('log', '')[-3000:])
        cli(d, 'network', 'create', '--subnet', SUBNET % 6, 'names')
        cli(d, 'run', '-d', '--name', 'box-7', '--network', 'names', 'resolve', 'hostname')
        w = d.ok('GET', '/v1/instances/box-7/wait', timeout=300)
        log = d.get('/v1/instances/box-7/logs').text
        if w['state'] != 'exited' or w['exit_code'] != 0:
            fail('resolve ended %s' % w, log[-2000:])
        ip = d.ok('GET', '/v1/instances/box-7')['ip']
        for line in ('uname -n: box-7', 'getaddrinfo box-7: %s' % ip,
                     'gethostbyname box-7: %s' % ip):
            if line not in log:
                fail('no %r line' % line, log[-2000:])
        cli(d, 'rm', '-f', 'box-7')
        cli(d, 'network', 'rm', 'names')
