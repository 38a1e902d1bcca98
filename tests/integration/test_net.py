"""Network devices end to end: virtio-net over virtio-mmio under microvm and over virtio-pci
under pc and q35, driven through AF_PACKET
sockets (tests/apps/rawnet.c), against QEMU's user-mode network, whose DHCP server answers a
DISCOVER with an OFFER of 10.0.2.15 from 10.0.2.2.  Guest only: a native run would need
CAP_NET_RAW and a DHCP server of its own."""

from harness import accels
from qemu import boot
from apps import app

MAC0 = '52:54:00:12:34:56'
MAC1 = '52:54:00:ab:cd:ef'
OFFER = 'offer 10.0.2.15 from 10.0.2.2\n'


def nic(name, mac, pci=False):
    device = ('virtio-net-pci,netdev=%s,mac=%s,romfile=' if pci
              else 'virtio-net-device,netdev=%s,mac=%s')
    return ['-netdev', 'user,id=%s' % name, '-device', device % (name, mac)]


def manifest(name, mac):
    return 'unik.dev.%s=net,mac=%s' % (name, mac)


def rawnet_want(index, name, mac):
    return ('unknown family: EAFNOSUPPORT\ninterface %d %s %s\n' % (index, name, mac)
            + 'quiet recv: EAGAIN\nbind to index 99: ENODEV\nSIOCGIFINDEX nope0: ENODEV\n'
            + OFFER)


@accels
def test_rawnet_dhcp_offer(accel):
    """One NIC named by the manifest: its name, index and MAC through the SIOCGIF ioctls, and a
    DHCP exchange through a bound AF_PACKET socket (received by interrupt: microvm with ACPI,
    the transport on the second IOAPIC; QEMU's default legacy virtio-mmio)."""
    r = boot(app('rawnet'), manifest('net0', MAC0) + ' rawnet', accel=accel,
             extra=nic('n0', MAC0))
    r.expect_status(0).expect_app(rawnet_want(1, 'net0', MAC0))


@accels
def test_rawnet_noacpi_virtio1(accel):
    """The same without ACPI (one IOAPIC, the transport's line on GSI 5 + slot) and with a
    virtio 1.x (version 2) transport."""
    extra = nic('n0', MAC0) + ['-M', 'auto-kernel-cmdline=off',
                               '-global', 'virtio-mmio.force-legacy=false']
    r = boot(app('rawnet'), manifest('net0', MAC0) + ' rawnet', accel=accel,
             machine='microvm-noacpi', extra=extra)
    r.expect_status(0).expect_app(rawnet_want(1, 'net0', MAC0))


@accels
def test_rawnet_two_nics_second(accel):
    """Two NICs, attached in the other order than the manifest lists them: interfaces are
    numbered and named as the manifest says (matched by MAC), and the exchange runs on the
    second."""
    extra = nic('n1', MAC1) + nic('n0', MAC0)
    cmdline = '%s %s rawnet 2' % (manifest('net0', MAC0), manifest('lan', MAC1))
    r = boot(app('rawnet'), cmdline, accel=accel, extra=extra)
    r.expect_status(0).expect_app(rawnet_want(2, 'lan', MAC1))


@accels
def test_rawnet_unnamed_nic_is_eth0(accel):
    """A NIC the manifest does not name is eth0."""
    r = boot(app('rawnet'), 'rawnet', accel=accel, extra=nic('n0', MAC0))
    r.expect_status(0).expect_app(rawnet_want(1, 'eth0', MAC0))


@accels
def test_rawnet_pci_pc(accel):
    """virtio-pci on -M pc: a modern device found on PCI bus 0, interrupts by MSI-X."""
    r = boot(app('rawnet'), manifest('net0', MAC0) + ' rawnet', accel=accel, machine='pc',
             extra=nic('n0', MAC0, pci=True))
    r.expect_status(0).expect_app(rawnet_want(1, 'net0', MAC0))


@accels
def test_rawnet_pci_q35_two_nics(accel):
    """virtio-pci on -M q35 with two NICs: the exchange on the second, named by the manifest."""
    extra = nic('n1', MAC1, pci=True) + nic('n0', MAC0, pci=True)
    cmdline = '%s %s rawnet 2' % (manifest('net0', MAC0), manifest('lan', MAC1))
    r = boot(app('rawnet'), cmdline, accel=accel, machine='q35', extra=extra)
    r.expect_status(0).expect_app(rawnet_want(2, 'lan', MAC1))


@accels
def test_hello_with_unused_nic(accel):
    """A program that never opens a socket boots and exits as usual with a NIC attached: the
    device is not even probed."""
    r = boot(app('hello'), manifest('net0', MAC0) + ' hello world', accel=accel,
             extra=nic('n0', MAC0))
    r.expect_status(0).expect_app('hello from unik\nargv[0]=<hello>\nargv[1]=<world>\n')
