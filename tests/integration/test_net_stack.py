"""The runtime's network variant with lwIP (issue 14): a program that uses sockets is linked with
unikrt-net.o, which holds lwIP, and boots without a network device exactly as a program without
sockets does; a unik.NAME= network configuration word is kept out of the program's argv, and
without a device of that name the guest says so and carries on; with a virtio-net device on
QEMU's user-mode network, DHCP or a static address brings the interface up.  Skipped when the
build had no lwIP source."""

import os
import subprocess

from harness import Skip, accels, build_dir, check_equal, fail
from qemu import boot
from apps import app, run_native

APP_OUT = 'net stack program ran\n'


def require_lwip():
    with open(os.path.join(build_dir(), 'runtime', 'net', 'lwip_config.h')) as f:
        if f.read().split() != ['#define', 'UNIK_LWIP', '1']:
            raise Skip('the runtime was built without lwIP (no lwip source in build/src)')


def runtime_symbols(name):
    out = subprocess.run(['nm', os.path.join(build_dir(), 'runtime', name)], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines()}


def test_lwip_only_in_the_network_variant():
    require_lwip()
    net, core = runtime_symbols('unikrt-net.o'), runtime_symbols('unikrt.o')
    for sym in ('.Lrt.lwip_init', '.Lrt.tcp_input', '.Lrt.dhcp_start', '.Lrt.etharp_output'):
        if sym not in net:
            fail('unikrt-net.o lacks %s' % sym)
        if sym in core:
            fail('unikrt.o has %s: lwIP belongs to the network variant only' % sym)


@accels
def test_no_device_boots_quietly(accel):
    """No NIC and no configuration: nothing but the program's output and the exit line."""
    require_lwip()
    r = boot(app('net_stack'), 'net_stack', accel=accel)
    r.expect_status(0).expect_app(APP_OUT)
    check_equal('runtime lines', '\n'.join(r.runtime_lines), 'unik: exit status 0')
    native = os.path.join(os.path.dirname(app('net_stack')), 'net_stack.native')
    if os.path.exists(native):
        got, status = run_native(native, [])
        check_equal('native output', '%s status %d' % (got, status), APP_OUT + ' status 0')


@accels
def test_configuration_without_device(accel):
    require_lwip()
    r = boot(app('net_stack'), 'unik.net0=10.0.0.2/24,gw=10.0.0.1 net_stack', accel=accel)
    r.expect_status(0).expect_app(APP_OUT)
    check_equal('runtime lines', '\n'.join(r.runtime_lines),
                'unik: net0: no such network device: its configuration is ignored\n'
                'unik: exit status 0')


@accels
def test_malformed_configuration_reported(accel):
    require_lwip()
    r = boot(app('net_stack'), 'unik.net0=10.0.0.300/24 unik.net1=10.0.0.2/33 net_stack',
             accel=accel)
    r.expect_status(0).expect_app(APP_OUT)
    check_equal('runtime lines', '\n'.join(r.runtime_lines),
                'unik: network configuration: ignoring "unik.net0=10.0.0.300/24": the address '
                'is not IP/PREFIX\n'
                'unik: network configuration: ignoring "unik.net1=10.0.0.2/33": the prefix '
                'length is not 0 to 32\n'
                'unik: exit status 0')


@accels
def test_configuration_word_not_in_argv(accel):
    """The word is taken out of the command line like the manifest's, in either runtime variant
    (this program has no sockets)."""
    r = boot(app('args'), 'unik.dev.net0=net unik.net0=10.0.0.2/24,dns=10.0.0.3 A=1 args z',
             accel=accel)
    r.expect_status(0).expect_app('argc=2\nargv[0]=<args>\nargv[1]=<z>\nenv <A=1>\n'
                                  'getenv(HOME)=<(null)>\n')


NIC_MAC = '52:54:00:12:34:56'


def nic_args():
    return ['-netdev', 'user,id=n0', '-device', 'virtio-net-device,netdev=n0,mac=' + NIC_MAC]


@accels
def test_dhcp_over_virtio_net(accel):
    """A NIC on QEMU's user-mode network and no configuration: lwIP's DHCP client gets the
    address QEMU's server offers, the guest says so, and /etc/resolv.conf names the server."""
    require_lwip()
    r = boot(app('net_stack'), 'unik.dev.net0=net,mac=%s net_stack resolv' % NIC_MAC,
             accel=accel, extra=nic_args())
    r.expect_status(0).expect_app('nameserver 10.0.2.3\n' + APP_OUT)
    if 'unik: net0 up 10.0.2.15/24' not in r.runtime_lines:
        fail('no "unik: net0 up 10.0.2.15/24" line', '\n'.join(r.runtime_lines))


@accels
def test_static_address_over_virtio_net(accel):
    """The same NIC configured by a unik.net0= word: no DHCP, the address and DNS server given."""
    require_lwip()
    r = boot(app('net_stack'), 'unik.dev.net0=net,mac=%s unik.net0=10.0.2.20/24,gw=10.0.2.2,'
             'dns=10.0.2.3 net_stack resolv' % NIC_MAC, accel=accel, extra=nic_args())
    r.expect_status(0).expect_app('nameserver 10.0.2.3\n' + APP_OUT)
    if 'unik: net0 up 10.0.2.20/24' not in r.runtime_lines:
        fail('no "unik: net0 up 10.0.2.20/24" line', '\n'.join(r.runtime_lines))
