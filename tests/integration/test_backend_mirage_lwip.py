"""A mirage application that links lwIP as a library over its declared net device
(include/unik/lwip-netif.h, issue 16): examples/mirage/echo is built by the daemon (the backend
adds unik-cc --unik-lwip because the source includes the header), bound by name to a network the
test makes, and answers a real TCP client on the host at the address that network gave it;
"quit" ends it with status 0.  Also: the header without --unik-lwip is a clear compile error."""

import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, bin_dir, check_equal, fail, out_dir, timeout
from test_backend_mirage import build
from test_daemon_fixture import cli, provider_ready, wait_console
from test_net_host import NetDaemon, need_root

# Not the subnets of test_backend_mirage.py (10.87.1-2) or test_net_host.py (10.86.x).
SUBNET = '10.87.9.0/24'
ECHO = os.path.join(REPO, 'examples', 'mirage', 'echo')


def echo_once(ip, data, seconds=120):
    """One TCP connection to port 7 that sends data and reads back as many bytes; retried
    until the guest (booting under TCG) answers."""
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((ip, 7), timeout=2) as s:
                s.settimeout(10)
                s.sendall(data)
                got = b''
                while len(got) < len(data):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                return got
        except OSError as e:
            last = e
            time.sleep(0.5)
    fail('the echo server at %s:7 never answered: %s' % (ip, last))


def test_mirage_lwip_header_needs_the_flag():
    """unik/lwip-netif.h without --unik-lwip says which option it needs."""
    with tempfile.TemporaryDirectory(dir=out_dir()) as tmp:
        r = subprocess.run([os.path.join(bin_dir(), 'unik-cc'), '-I', os.path.join(REPO, 'include'),
                            '--unik-app', '-c', '-o', os.path.join(tmp, 'echo.o'),
                            os.path.join(ECHO, 'echo.c')], capture_output=True, text=True)
        if r.returncode == 0 or '--unik-lwip' not in r.stderr:
            fail('compiling unik/lwip-netif.h without --unik-lwip: wanted an error naming it',
                 r.stderr[-2000:])


@timeout(300)
def test_mirage_lwip_echo_on_a_network():
    """examples/mirage/echo bound to a network echoes a host client's bytes over TCP, a small
    write and one larger than a window (back-pressure), then quits with status 0."""
    need_root()
    with NetDaemon('mlwip') as d:
        provider_ready(d)
        b = build(d, ECHO, 'echo')
        if 'with lwIP' not in b.get('log', ''):
            fail('the build did not link lwIP (unik-cc --unik-lwip)', b.get('log', '')[-2000:])
        cli(d, 'network', 'create', '--subnet', SUBNET, 'elan')
        cli(d, 'run', '-d', '--name', 'e1', '--net', 'service=elan', 'echo')
        ip = d.ok('GET', '/v1/instances/e1')['ip']
        if not ip.startswith('10.87.9.'):
            fail('the instance got no address on elan', ip)
        # The library configured lwIP from unik_net_info: the network's address.
        wait_console(d, 'e1', 'echo: service %s/24, port 7' % ip)
        check_equal('a short echo', echo_once(ip, b'hello over lwIP\n'), b'hello over lwIP\n')
        wait_console(d, 'e1', 'echo: first connection')
        big = bytes((i * 7 + 3) % 251 for i in range(200000))
        check_equal('a 200000-byte echo (more than one window)', echo_once(ip, big) == big, True)
        check_equal('quit is echoed', echo_once(ip, b'quit\n'), b'quit\n')
        wait_console(d, 'e1', 'unik: exit status 0', seconds=120)
        wait_console(d, 'e1', 'echo: bye after 3 connections')
        cli(d, 'rm', '-f', 'e1')
        cli(d, 'network', 'rm', 'elan')
