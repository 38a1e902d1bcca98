"""`unik network create --dhcp` (issue 14: "starts no DHCP server unless asked"): the daemon runs
Debian's dnsmasq on the network's bridge, DHCP only, leasing the upper half of the subnet; a guest
run with `--network NAME:dhcp` (examples/http, built by the daemon) leases an address there, ps
and /v1/instances show it, and curl reaches the guest at it.  dnsmasq goes with `network rm`,
is kept (not doubled) across a daemon restart and brought back when it died, and a dnsmasq that
cannot start fails the create with nothing left behind.  Through the daemon and the real CLI;
skipped without root, ip or dnsmasq."""

import ipaddress
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, Skip, check_equal, fail, timeout
from test_daemon_fixture import cli, cli_error, curl, provider_ready, wait_console
from test_net_host import NetDaemon, link_exists, need_root

# Subnets of these tests alone (test_net_host.py keeps to 10.86.0.0/16).
SUBNET = '10.84.%d.0/24'


def need_dnsmasq():
    need_root()
    if not shutil.which('dnsmasq') and not os.path.exists('/usr/sbin/dnsmasq'):
        raise Skip('dnsmasq is not installed (Debian: dnsmasq-base)')


def dnsmasqs(home):
    """The pids of the dnsmasq processes whose command line names a file under home."""
    found = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as f:
                words = f.read().split(b'\0')
        except OSError:
            continue
        if words and os.path.basename(words[0]) == b'dnsmasq' and \
                any(home.encode() + b'/' in w for w in words):
            found.append(int(p))
    return sorted(found)


def kill_dnsmasqs(home):
    for pid in dnsmasqs(home):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def pid_file(d, net):
    return os.path.join(d.home, 'networks', net['id'], 'dnsmasq.pid')


@timeout(240)
def test_dhcp_network_lifecycle_and_restart():
    need_dnsmasq()
    d = NetDaemon('dhcphome')
    try:
        with d:
            check_equal('create', cli(d, 'network', 'create', '--dhcp', '--subnet',
                                      SUBNET % 1, 'lan').stdout, 'lan\n')
            cli(d, 'network', 'create', '--subnet', SUBNET % 2, 'plain')
            lan = d.ok('GET', '/v1/networks/lan')
            check_equal('dhcp', (lan['dhcp'], d.ok('GET', '/v1/networks/plain')['dhcp']),
                        (True, False))
            running = dnsmasqs(d.home)
            check_equal('one dnsmasq for the one network with --dhcp', len(running), 1)
            with open(pid_file(d, lan)) as f:
                check_equal('its pid file', int(f.read()), running[0])
            with open('/proc/%d/cmdline' % running[0], 'rb') as f:
                words = f.read().decode().split('\0')
            for want in ('--interface=' + lan['bridge'], '--port=0', '--bind-interfaces',
                         '--conf-file=/dev/null', '--except-interface=lo',
                         '--dhcp-range=10.84.1.128,10.84.1.254,255.255.255.0,1h',
                         '--dhcp-option=option:router,10.84.1.1'):
                if want not in words:
                    fail('dnsmasq was not given %s' % want, words)
            listing = cli(d, 'networks').stdout
            if 'DHCP' not in listing.split('\n')[0]:
                fail('unik networks has no DHCP column', listing)
            # A daemon restart with dnsmasq alive keeps it: never two.
            d.stop()
            d.start()
            check_equal('dnsmasq after a restart', dnsmasqs(d.home), running)
            # One that died while the daemon was down (a reboot) comes back, once.
            d.stop()
            os.kill(running[0], signal.SIGKILL)
            deadline = time.time() + 10
            while dnsmasqs(d.home) and time.time() < deadline:
                time.sleep(0.1)
            d.start()
            again = dnsmasqs(d.home)
            check_equal('dnsmasqs after the restart that brought it back', len(again), 1)
            if again == running:
                fail('the killed dnsmasq is still listed', again)
            d.stop()
            d.start()
            check_equal('dnsmasq after one more restart', dnsmasqs(d.home), again)
            # rm stops it and removes its files.
            check_equal('rm', cli(d, 'network', 'rm', 'lan', 'plain').stdout, 'lan\nplain\n')
            check_equal('dnsmasq after network rm', dnsmasqs(d.home), [])
            if os.path.exists(os.path.dirname(pid_file(d, lan))):
                fail('the network\'s dnsmasq files outlived network rm')
            if link_exists(lan['bridge']):
                fail('bridge %s outlived network rm' % lan['bridge'])
    finally:
        kill_dnsmasqs(d.home)


@timeout(120)
def test_dnsmasq_missing_leaves_nothing():
    need_dnsmasq()
    d = NetDaemon('dhcphome2', env={'UNIK_DNSMASQ': '/nonexistent/dnsmasq'})
    try:
        with d:
            before = subprocess.run(['ip', '-o', 'link', 'show', 'type', 'bridge'],
                                    capture_output=True, text=True).stdout
            cli_error(d, 'dnsmasq (/nonexistent/dnsmasq) is not installed', 'network', 'create',
                      '--dhcp', '--subnet', SUBNET % 3, 'lan')
            check_equal('networks after the refusal', d.ok('GET', '/v1/networks'), [])
            after = subprocess.run(['ip', '-o', 'link', 'show', 'type', 'bridge'],
                                   capture_output=True, text=True).stdout
            if '10.84.3.1' in subprocess.run(['ip', '-4', '-o', 'addr'], capture_output=True,
                                             text=True).stdout:
                fail('the refused network\'s bridge is left', after)
            if os.path.exists(os.path.join(d.home, 'networks')) and \
                    os.listdir(os.path.join(d.home, 'networks')):
                fail('the refused network left files', os.listdir(os.path.join(d.home,
                                                                                 'networks')))
            r = d.request('POST', '/v1/networks', {'name': 'n', 'dhcp': 'yes'})
            check_equal('dhcp that is no boolean', r.status, 400)
    finally:
        kill_dnsmasqs(d.home)


@timeout(400)
def test_guest_leases_an_address_and_is_reached():
    need_dnsmasq()
    if not shutil.which('curl'):
        raise Skip('curl is not installed (Debian: curl)')
    d = NetDaemon('dhcphome3')
    try:
        with d:
            provider_ready(d)
            b = d.build(os.path.join(REPO, 'examples', 'http'), {'name': 'http'})
            if b['state'] != 'succeeded':
                fail('building examples/http failed', b.get('log', '')[-3000:])
            cli(d, 'network', 'create', '--dhcp', '--subnet', SUBNET % 4, 'lan')
            cli(d, 'network', 'create', '--subnet', SUBNET % 5, 'plain')
            # Refusals: dhcp on a network without it; a fixed address in the DHCP range;
            # ports on a NIC whose address unik does not know.
            cli_error(d, 'network "plain" has no DHCP server', 'run', '-d', '--network',
                      'plain:dhcp', 'http')
            cli_error(d, 'is in its DHCP range', 'run', '-d', '--network', 'lan:10.84.4.200',
                      'http')
            cli_error(d, 'gives it no address unik knows', 'run', '-d', '--network',
                      'lan:dhcp', '-p', '18080:8080', 'http')
            # A fixed address on the same network comes from the lower half.
            cli(d, 'run', '-d', '--name', 'fixed', '--network', 'lan', 'http')
            check_equal('the fixed address', d.ok('GET', '/v1/instances/fixed')['ip'],
                        '10.84.4.2')
            cli(d, 'run', '-d', '--name', 'dyn', '--network', 'lan:dhcp', 'http')
            wait_console(d, 'dyn', 'unik: net0 up 10.84.4.', seconds=180)
            ip = ''
            deadline = time.time() + 60
            while time.time() < deadline:
                inst = d.ok('GET', '/v1/instances/dyn')
                ip = inst['ip']
                if ip:
                    break
                time.sleep(0.5)
            if not ip:
                fail('the leased address never showed in /v1/instances', inst)
            if ipaddress.ip_address(ip) not in ipaddress.ip_network('10.84.4.128/25'):
                fail('the lease %s is not in the upper half of the subnet' % ip)
            check_equal('the NIC', [(n['name'], n['ip'], n['dhcp']) for n in inst['networks']],
                        [('lan', ip + '/24', True)])
            if 'unik: net0 up %s/24' % ip not in cli(d, 'logs', 'dyn').stdout:
                fail('the guest did not come up with the leased address %s' % ip)
            if ip not in cli(d, 'ps').stdout:
                fail('unik ps does not show the leased address')
            if not curl('http://%s:8080/' % ip).startswith('hello from unik'):
                fail('the guest did not answer at its leased address')
            cli(d, 'rm', '-f', 'dyn', 'fixed')
            cli(d, 'network', 'rm', 'lan', 'plain')
            check_equal('dnsmasq after network rm', dnsmasqs(d.home), [])
    finally:
        kill_dnsmasqs(d.home)


@timeout(120)
def test_orphan_dnsmasq_is_stopped():
    """What a daemon killed inside `network create --dhcp` leaves (dnsmasq and the bridge made,
    the store row not yet written) is made by removing the row while the daemon is down: the
    next start stops that dnsmasq, removes its files and the bridge."""
    need_dnsmasq()
    d = NetDaemon('dh4')
    try:
        with d:
            cli(d, 'network', 'create', '--dhcp', '--subnet', SUBNET % 6, 'lost')
            net = d.ok('GET', '/v1/networks/lost')
            check_equal('one dnsmasq', len(dnsmasqs(d.home)), 1)
            d.stop()
            db = sqlite3.connect(os.path.join(d.home, 'unik.db'))
            db.execute('DELETE FROM networks WHERE id = ?', (net['id'],))
            db.commit()
            db.close()
            d.start()
            check_equal('networks', d.ok('GET', '/v1/networks'), [])
            check_equal('dnsmasq of the network the store lacks', dnsmasqs(d.home), [])
            if os.path.exists(os.path.dirname(pid_file(d, net))):
                fail('its files are left')
            if link_exists(net['bridge']):
                fail('its bridge %s is left' % net['bridge'])
    finally:
        kill_dnsmasqs(d.home)
