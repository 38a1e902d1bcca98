"""Guest ABI v2, devices (issue 12): real boots through the core (core/vm.c, via
tests/tools/provider_driver -d) with a NIC (user-mode), a disk (a small raw file, read-write and
read-only) and a host share (a directory) on -M microvm (virtio-mmio) and -M pc (virtio-pci) under
the confined QEMU.  No guest driver reads them yet: the guest must boot, take the manifest words
out of its command line and run the program with exactly its own argv and environment.  Also: a
line of only manifest words means the image's defaults, a malformed manifest word is reported
and skipped, a provider refuses a kind it lacks before anything starts, and libvirt's schema
accepts the kvm provider's golden domain XML, and libvirt boots a guest with the same devices."""

import glob
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Skip, check_equal, fail, timeout, variants, REPO  # noqa: E402
from apps import app  # noqa: E402
from confined import check_confined, open_paths  # noqa: E402
import test_provider_qemu as pq  # noqa: E402
import test_provider_kvm as pk  # noqa: E402

ARGS_CMDLINE = 'A=1 B="x y" args z "two words"'
ARGS_OUTPUT = ('argc=3\nargv[0]=<args>\nargv[1]=<z>\nargv[2]=<two words>\n'
               'env <A=1>\nenv <B=x y>\ngetenv(HOME)=<(null)>\nunik: exit status 0\n')


def device_args(d):
    """-d options for one device of each kind (two disks: read-write and read-only), with their
    backing made under the instance's directory."""
    share = os.path.join(d, 'share')
    os.makedirs(share)
    # QEMU reopens the share as its own unprivileged user (docs/providers.md).
    os.chmod(share, 0o755)
    with open(os.path.join(share, 'hello.txt'), 'w') as f:
        f.write('from the host\n')
    disks = []
    for name in ('data.raw', 'seed.raw'):
        p = os.path.join(d, name)
        with open(p, 'wb') as f:
            f.truncate(1 << 20)
        # Closed to everyone but root: QEMU gets the disk as a descriptor, never by path.
        os.chmod(p, 0o600)
        disks.append(p)
    return ['-d', 'net:net0',
            '-d', 'blk:data:path=%s:format=raw:at=/data' % disks[0],
            '-d', 'blk:seed:path=%s:ro' % disks[1],
            '-d', 'fs:share:path=%s:at=/mnt/share' % share]


def boot(machine, kernel, cmdline, devices=True):
    d = pq.new_dir(machine)
    opts = ['-o', 'machine=%s' % machine] + (device_args(d) if devices else [])
    inst = os.path.join(d, 'inst')
    os.makedirs(inst)
    r = pq.call('tcg', *(opts + ['run', inst, kernel, cmdline, 64]))
    if r.get('state') != 'running':
        fail('run did not report a running VM: %r' % r, pq.context(inst))
    st = pq.wait_ended('tcg', inst)
    pq.expect(st, 'exited', 0, inst)
    return inst


def qemu_cmd(inst):
    with open(os.path.join(inst, 'qemu.cmd')) as f:
        return f.read()


@variants(('microvm', {'machine': 'microvm', 'bus': 'device'}),
          ('pc', {'machine': 'pc', 'bus': 'pci'}))
@pq.no_strays
def test_boot_ignores_devices(machine, bus):
    inst = boot(machine, app('args'), ARGS_CMDLINE)
    check_equal('console.log', pq.console(inst).split('Booting from ROM..')[-1], ARGS_OUTPUT)
    cmd = qemu_cmd(inst)
    for want in ('virtio-net-%s,netdev=net-net0,mac=52:54:00:' % bus,
                 'virtio-blk-%s,drive=blk-data,serial=data' % bus,
                 'virtio-blk-%s,drive=blk-seed,serial=seed' % bus,
                 'virtio-9p-%s,fsdev=fs-share,mount_tag=share' % bus,
                 'user,id=net-net0', 'readonly=on', '/dev/fdset/'):
        if want not in cmd:
            fail('qemu.cmd lacks %r' % want, cmd)


@pq.no_strays
def test_confined_with_devices():
    """QEMU with devices is as confined as without: the unprivileged user, no capabilities,
    seccomp; it holds the disks and the share through the descriptors it was handed (the disks
    are closed to its user, and everything sits in a directory it could not reach by path), and
    nothing else of the host."""
    d = pq.new_dir('confined')
    devs = device_args(d)
    os.chmod(d, 0o700)  # as $UNIK_HOME is
    inst = os.path.join(d, 'inst')
    os.makedirs(inst)
    r = pq.call('tcg', *(devs + ['run', inst, app('clock'), 'clock 600000', 64]))
    try:
        pq.wait_console(inst, 'wall_start')
        pid = int(r['pid'])
        check_confined(pid, pq.context(inst), uid=64122, gid=64122)
        held = open_paths(pid)
        for name in ('data.raw', 'seed.raw', 'share'):
            if os.path.join(d, name) not in held:
                fail('QEMU does not hold %s' % name, '\n'.join(held))
        for path in held:
            if path.startswith('/') and not (path.startswith(d + '/') or path == app('clock')
                                             or path.startswith('/dev/')):
                fail('QEMU holds %s open' % path, '\n'.join(held))
    finally:
        pq.call('tcg', 'stop', inst, '--force')


@pq.no_strays
def test_manifest_only_means_defaults():
    """The boot line holds only the manifest words: the image's baked command line runs, exactly
    as with an empty line."""
    plain = boot('microvm', app('baked'), '', devices=False)
    with_devices = boot('microvm', app('baked'), '')
    check_equal('console.log with devices', pq.console(with_devices), pq.console(plain))
    if 'argv[0]=<baked-args>' not in pq.console(plain):
        fail('the baked command line did not run', pq.console(plain))


@pq.no_strays
def test_malformed_manifest_word():
    """A manifest word the guest cannot read is reported with a unik: line and skipped."""
    inst = boot('microvm', app('args'), 'unik.dev.Bad=net unik.dev.ok=blk,ro ' + ARGS_CMDLINE,
                devices=False)
    text = pq.console(inst)
    want = 'unik: device manifest: ignoring "unik.dev.Bad=net": '
    if not text.startswith(want):
        fail('no report of the malformed word', text)
    check_equal('console.log after the report', text.split('\n', 1)[1], ARGS_OUTPUT)


def test_refuses_kind_it_lacks():
    """aws attaches NICs and volumes but no host shares: the core refuses an fs device before
    the provider runs (before it even looks for credentials)."""
    d = pq.new_dir('aws')
    r = pq.call('tcg', '-p', 'aws', '-d', 'fs:data:path=/tmp', 'run', d, app('hello'), '',
                64, ok=False)
    if r['_rc'] != 1 or r.get('code') != 'unsupported':
        fail('aws did not refuse an fs device as unsupported: %r' % r)
    if 'cannot attach fs devices ("data")' not in r.get('error', ''):
        fail('the refusal does not say what and why: %r' % r.get('error'))
    if os.listdir(d):
        fail('something was started: %s' % os.listdir(d))


def test_v1_image_gets_no_devices():
    """An image built for guest ABI v1 would take the first manifest word for argv[0]: the core
    refuses to give it devices, saying to rebuild, and starts nothing; without devices it runs."""
    import struct
    d = pq.new_dir('v1')
    v1 = os.path.join(d, 'hello-v1.elf')
    with open(app('hello'), 'rb') as f:
        data = bytearray(f.read())
    # The "unik" note: namesz 5, descsz 4, type 1, "unik" padded to 8, then the version.
    head = struct.pack('<III', 5, 4, 1) + b'unik\0\0\0\0'
    at = data.find(head)
    if at < 0:
        fail('no unik note in %s' % app('hello'))
    check_equal('the note\'s version', struct.unpack_from('<I', data, at + len(head))[0], 2)
    struct.pack_into('<I', data, at + len(head), 1)
    with open(v1, 'wb') as f:
        f.write(data)
    inst = os.path.join(d, 'inst')
    os.makedirs(inst)
    r = pq.call('tcg', '-d', 'net:net0', 'run', inst, v1, '', 64, ok=False)
    if r.get('code') != 'unsupported' or 'guest ABI v1' not in r.get('error', '') or \
            'rebuild' not in r.get('error', ''):
        fail('devices for a v1 image were not refused: %r' % r)
    if os.listdir(inst):
        fail('something was started: %s' % os.listdir(inst))


@pq.no_strays
def test_named_network_without_tap_refused():
    """qemu joins a named network only through a tap (the core will make them): without one it
    says so, and starts nothing."""
    d = pq.new_dir('net')
    r = pq.call('tcg', '-d', 'net:lan:network=backend', 'run', d, app('hello'), '', 64, ok=False)
    if r.get('code') != 'unsupported' or '"backend"' not in r.get('error', ''):
        fail('a named network without a tap was not refused: %r' % r)
    if os.path.exists(os.path.join(d, 'qemu.pid')) or os.path.exists(os.path.join(d, 'shim.pid')):
        fail('QEMU was started', pq.context(d))


@timeout(120)
def test_kvm_domain_xml_validates():
    """libvirt's own schema accepts every golden domain XML of the kvm provider."""
    tool = shutil.which('virt-xml-validate')
    if not tool:
        raise Skip('virt-xml-validate is not installed (Debian: libvirt-clients)')
    files = sorted(glob.glob(os.path.join(REPO, 'tests', 'data', 'kvm', '*.xml')))
    if not any('devices' in os.path.basename(f) for f in files):
        fail('no golden domain XML with devices under tests/data/kvm')
    for f in files:
        p = subprocess.run([tool, f, 'domain'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        if p.returncode != 0:
            fail('%s does not validate' % os.path.basename(f), p.stdout)


@variants(('microvm', {'machine': 'microvm'}), ('pc', {'machine': 'pc'}))
@timeout(240)
def test_kvm_boot_ignores_devices(machine):
    """The same devices through libvirt (qemu:///system, QEMU as libvirt's unprivileged user):
    the domain starts with them and the guest's argv and environment are its own."""
    # The kvm tests' clean-up: every domain defined here is removed, and none may be left.
    pk.cleanup(_kvm_boot)(machine=machine)


def _kvm_boot(machine):
    pk.need('tcg')
    inst = pk.new_inst('devices-' + machine)
    devs = device_args(inst['dir'])
    r = pk.call('tcg', *(devs + ['run', inst['dir'], app('args'), ARGS_CMDLINE, 64]), inst=inst,
                opts=['machine=%s' % machine])
    if r.get('state') not in ('running', 'exited'):
        fail('run did not report a running domain: %r' % r, pk.context(inst))
    st = pk.wait_ended('tcg', inst)
    pk.expect(st, 'exited', 0, inst)
    check_equal('console.log', pk.console(inst).split('Booting from ROM..')[-1], ARGS_OUTPUT)
    with open(os.path.join(inst['dir'], 'domain.xml')) as f:
        xml = f.read()
    for want in ("<serial>data</serial>", "<target dir='share'/>", "<interface type='user'>"):
        if want not in xml:
            fail('domain.xml lacks %s' % want, xml)
