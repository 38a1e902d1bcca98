"""The kvm provider end to end against a real libvirtd (started here, as root and without systemd,
when it is not already running), through tests/tools/provider_driver, one process per call as a
daemon and its restarts would make them: real boots under KVM and TCG, console and exit status,
stop and start, removal, adoption, domains unik did not create, and libvirtd going away."""

import fcntl
import grp
import json
import pwd
import importlib.util
import os
import random
import re
import shutil
import signal
import string
import subprocess
import time
from xml.etree import ElementTree

from harness import REPO, Skip, Failure, accels, fail, out_dir, build_dir, timeout, bin_dir
from qemu import resolve_accel
from apps import app, run_unik_cc
import libvirt_service
from confined import check_confined

URI = 'qemu:///system'
SOCK = '/run/libvirt/libvirt-sock'
PIDFILE = '/run/libvirtd.pid'
VIRTLOGD_PIDFILE = '/run/virtlogd.pid'

_counter = [0]
# Tests run in parallel: every test here holds a shared lock on this file, and the one that
# stops libvirtd an exclusive one, so it never pulls libvirtd from under another.
LOCK = os.path.join(build_dir(), 'test-output', '.libvirtd.lock')
_lock_fd = [None]


# ---- libvirtd --------------------------------------------------------------------------------


def _virsh(*args, check=False, timeout=30):
    p = subprocess.run(['virsh', '-c', URI] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    with open(os.path.join(out_dir(), 'virsh.log'), 'a') as f:
        f.write('$ virsh %s\n%s%s[exit %d]\n' % (' '.join(map(str, args)), p.stdout, p.stderr,
                                                  p.returncode))
    if check and p.returncode != 0:
        fail('virsh %s failed: %s' % (args[0], p.stderr.strip()))
    return p


def _libvirtd_answers():
    if not libvirt_service.answers(SOCK):
        return False
    # capabilities, not version: libvirtd answers version while it is still probing QEMU, and
    # the provider needs the capabilities (a probe that never ends is a machine's problem).
    try:
        return _virsh('capabilities', timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _lock(mode):
    if _lock_fd[0] is None:
        os.makedirs(os.path.dirname(LOCK), exist_ok=True)
        _lock_fd[0] = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(_lock_fd[0], mode)


def _resume_stopped_libvirtd():
    """test_libvirtd_hung stops libvirtd with SIGSTOP and resumes it in a finally block; should
    that test be killed in between, the next test resumes it here."""
    pid = libvirtd_pid()
    try:
        with open('/proc/%d/stat' % pid) as f:
            stopped = f.read().rpartition(')')[2].split()[0] == 'T'
    except (OSError, TypeError, IndexError):
        return
    if stopped:
        os.kill(pid, signal.SIGCONT)


def start_libvirtd():
    """Makes sure virtlogd and libvirtd answer; Skip when they cannot be started."""
    _resume_stopped_libvirtd()
    if libvirt_service.answers(libvirt_service.VIRTLOGD_SOCK) and _libvirtd_answers():
        return
    # One starter at a time.
    fd = os.open(LOCK + '.start', os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        libvirt_service.ensure(os.path.join(out_dir(), 'libvirtd-start.log'))
    except libvirt_service.Unavailable as e:
        raise Skip(str(e))
    finally:
        os.close(fd)
    deadline = time.monotonic() + 20
    while not _libvirtd_answers():
        if time.monotonic() > deadline:
            raise Skip('libvirtd runs but virsh gets no answer (capabilities) from it on ' +
                       SOCK)
        time.sleep(0.1)


def libvirtd_pid():
    try:
        with open(PIDFILE) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def need(accel=None, exclusive=False):
    _lock(fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    start_libvirtd()
    if accel:
        resolve_accel(accel)


# ---- the driver -------------------------------------------------------------------------------


def driver():
    p = os.path.join(build_dir(), 'tests', 'tools', 'provider_driver')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make test-tools)' % p)
    return p


def driver_env(accel):
    env = dict(os.environ)
    if accel == 'tcg':
        env['UNIK_ACCEL'] = 'tcg'
    else:
        env.pop('UNIK_ACCEL', None)
    return env


def call(accel, *args, ok=True, inst=None, opts=(), limit=60, disk=None, baked=None):
    """Runs the driver once (provider kvm, instance id/name from inst); returns its key=value
    output as a dict, with '_rc' and '_elapsed' (seconds, measured here)."""
    cmd = [driver(), '-p', 'kvm']
    for o in opts:
        cmd += ['-o', o]
    if disk:
        cmd += ['-D', disk]
    if baked is not None:
        cmd += ['-C', baked]
    if inst:
        cmd += ['-i', inst['id'], '-n', inst['name']]
    cmd += [str(a) for a in args]
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=driver_env(accel), timeout=limit)
    elapsed = time.monotonic() - t0
    with open(os.path.join(out_dir(), 'driver.log'), 'a') as f:
        f.write('$ %s\n%s%s[exit %d, %.3fs]\n' % (' '.join(cmd), p.stdout, p.stderr,
                                                   p.returncode, elapsed))
    res = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition('=')
        res[k] = v
    if ok and p.returncode != 0:
        fail('provider_driver %s failed (exit %d): %s' % (args[0], p.returncode,
                                                         res.get('error', p.stderr.strip())))
    res['_rc'] = p.returncode
    res['_elapsed'] = elapsed
    return res


_created = []


def new_inst(tag):
    """A fresh instance: directory, unik-style id and name."""
    _counter[0] += 1
    d = os.path.join(out_dir(), 'inst-%d-%s' % (_counter[0], tag))
    os.makedirs(d)
    iid = ''.join(random.choice(string.ascii_lowercase + string.digits) for _ in range(12))
    inst = {'dir': d, 'id': iid, 'name': 'kvmtest-' + tag}
    _created.append(inst)
    return inst


def domain_of(inst):
    return 'unik-%s-%s' % (inst['name'], inst['id'])


def console(inst):
    try:
        with open(os.path.join(inst['dir'], 'console.log'), 'rb') as f:
            return f.read().decode('utf-8', 'replace').replace('\r\n', '\n')
    except FileNotFoundError:
        return ''


def context(inst):
    parts = ['instance dir %s' % inst['dir']]
    for name in ('console.log', 'provider.state', 'domain.xml'):
        p = os.path.join(inst['dir'], name)
        if os.path.exists(p):
            with open(p, 'rb') as f:
                data = f.read()[-3000:].decode('utf-8', 'replace')
            parts.append('--- %s ---\n%s' % (name, data))
    qlog = '/var/log/libvirt/qemu/%s.log' % domain_of(inst)
    if os.path.exists(qlog):
        with open(qlog, 'rb') as f:
            parts.append('--- %s ---\n%s' % (qlog, f.read()[-1500:].decode('utf-8', 'replace')))
    return '\n'.join(parts)


def run(accel, inst, kernel, cmdline, mem=64, opts=()):
    r = call(accel, 'run', inst['dir'], kernel, cmdline, mem, inst=inst, opts=opts)
    # A guest that ends within libvirt's start-up (a few ms under KVM) is reported as ended.
    if r.get('state') not in ('running', 'exited', 'crashed'):
        raise Failure('run did not report a running domain: %r' % r, context(inst))
    if r.get('handle') != domain_of(inst) or not re.fullmatch(r'[0-9a-f-]{36}',
                                                               r.get('handle_id', '')):
        raise Failure('run reported handle %r / %r' % (r.get('handle'), r.get('handle_id')),
                      context(inst))
    return r


def status(accel, inst):
    return call(accel, 'status', inst['dir'])


def wait_ended(accel, inst, limit=60):
    deadline = time.monotonic() + limit
    while True:
        st = status(accel, inst)
        if st['state'] not in ('pending', 'running'):
            return st
        if time.monotonic() > deadline:
            raise Failure('instance still %s after %ds' % (st['state'], limit), context(inst))
        time.sleep(0.05)


def wait_console(inst, needle, limit=30):
    deadline = time.monotonic() + limit
    while needle not in console(inst):
        if time.monotonic() > deadline:
            raise Failure('console never showed %r' % needle, context(inst))
        time.sleep(0.02)


def expect(st, state, code, inst):
    if st['state'] != state or int(st['exit_code']) != code:
        raise Failure('expected %s(%d), got %s(%s) detail=%r' % (
            state, code, st['state'], st['exit_code'], st.get('detail')), context(inst))


def domains(all_=True):
    """Names of the libvirt domains (all, or only the running ones)."""
    p = _virsh('list', '--name', *(['--all'] if all_ else []), check=True)
    return set(l.strip() for l in p.stdout.splitlines() if l.strip())


def domain_type(inst):
    p = _virsh('dumpxml', domain_of(inst), check=True)
    m = re.search(r"<domain type='(\w+)'", p.stdout)
    return m.group(1) if m else None


def cleanup(fn):
    """Removes, at the end of the test, every domain it defined (through the provider, then by
    force with virsh for anything left), and fails the test if the provider left one."""

    def wrapper(**kwargs):
        del _created[:]
        try:
            fn(**kwargs)
        finally:
            left = []
            if libvirt_service.answers(SOCK):
                names = domains() if _libvirtd_answers() else set()
                for inst in list(_created):
                    if domain_of(inst) in names:
                        try:
                            call('tcg', 'remove', inst['dir'], ok=False)
                        except (Failure, OSError, subprocess.SubprocessError):
                            pass  # virsh below cleans up, and the test fails
                names = domains() if _libvirtd_answers() else set()
                for inst in _created:
                    if domain_of(inst) in names:
                        left.append(domain_of(inst))
                        _virsh('destroy', domain_of(inst))
                        _virsh('undefine', domain_of(inst))
        if left:
            fail('domains left behind: %s' % left)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    for attr in ('unik_variants', 'unik_timeout'):
        if hasattr(fn, attr):
            setattr(wrapper, attr, getattr(fn, attr))
    return wrapper


# ---- tests ------------------------------------------------------------------------------------


def test_available():
    need()
    r = call('tcg', 'available', ok=False)
    if r['available'] != 'yes':
        fail('kvm provider not available: %s' % r.get('reason'))
    if r['image_format'] != 'elf':
        fail('image format %r' % r['image_format'])
    r = call('tcg', 'available', ok=False, opts=['machine=virt'])
    if r['available'] != 'no' or 'microvm, pc or q35' not in r['reason']:
        fail('machine=virt: %r' % r)


@accels
@cleanup
def test_hello(accel):
    need(accel)
    inst = new_inst('hello')
    # As under $UNIK_HOME (0700): QEMU must still read the kernel and libvirt write the log.
    private = os.path.join(inst['dir'], 'private')
    os.makedirs(private, mode=0o700)
    os.chmod(inst['dir'], 0o700)
    kernel = os.path.join(private, 'hello.elf')
    shutil.copyfile(app('hello'), kernel)
    r = run(accel, inst, kernel, 'hello world')
    st = wait_ended(accel, inst)
    expect(st, 'exited', 0, inst)
    text = console(inst)
    if text != 'hello from unik\nargv[0]=<hello>\nargv[1]=<world>\nunik: exit status 0\n':
        fail('console.log differs', context(inst))
    if st['handle'] != r['handle'] or st['handle_id'] != r['handle_id']:
        fail('status handle %r/%r differs from run\'s' % (st['handle'], st['handle_id']))
    want = 'kvm' if accel == 'kvm' else 'qemu'
    if domain_type(inst) != want:
        fail('domain type %r under %s' % (domain_type(inst), accel), context(inst))
    uuid = _virsh('domuuid', domain_of(inst), check=True).stdout.strip()
    if uuid != r['handle_id']:
        fail('virsh says UUID %s, the provider %s' % (uuid, r['handle_id']))
    with open(os.path.join(inst['dir'], 'provider.state')) as f:
        rec = f.read()
    for line in ('uri=%s\n' % URI, 'domain=%s\n' % domain_of(inst), 'uuid=%s\n' % uuid,
                 'instance_id=%s\n' % inst['id']):
        if line not in rec:
            fail('provider.state lacks %r' % line, rec)


@accels
@cleanup
def test_confined(accel):
    """The domain's QEMU runs as libvirt's unprivileged user (libvirt-qemu, a <seclabel> DAC
    label) with no capabilities, no_new_privs and libvirt's seccomp sandbox, from a VM directory
    of its own that remove() deletes."""
    need(accel)
    inst = new_inst('confined')
    os.chmod(inst['dir'], 0o700)  # as under $UNIK_HOME
    r = run(accel, inst, app('clock'), 'clock 600000')
    wait_console(inst, 'wall_start')
    pid = int(r['pid'])
    try:
        uid, gid = pwd.getpwnam('libvirt-qemu').pw_uid, grp.getgrnam('libvirt-qemu').gr_gid
    except KeyError:
        raise Skip('no libvirt-qemu user and group (Debian\'s libvirt-daemon-system makes them)')
    check_confined(pid, context(inst), uid=uid, gid=gid)
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        argv = f.read().split(b'\0')
    if b'-sandbox' not in argv:
        fail('libvirt started QEMU without -sandbox (qemu.conf seccomp_sandbox)', repr(argv))
    vmdir = '/var/lib/unik-vm/%s' % inst['id']
    st = os.stat(vmdir)
    if st.st_uid != 0 or st.st_gid != gid or st.st_mode & 0o777 != 0o750:
        fail('%s is %o %d:%d, not 750 root:%d' % (vmdir, st.st_mode & 0o777, st.st_uid,
                                                  st.st_gid, gid))
    xml = _virsh('dumpxml', domain_of(inst), check=True).stdout
    if '<label>+%d:+%d</label>' % (uid, gid) not in xml or vmdir + '/kernel' not in xml:
        fail('the domain does not run as +%d:+%d from its VM directory' % (uid, gid), xml)
    call(accel, 'stop', inst['dir'], '--force')
    call(accel, 'remove', inst['dir'])
    if os.path.exists(vmdir):
        fail('remove left %s behind' % vmdir)


def virtlogd_max_size():
    """virtlogd's max_size from its config file, or its default (2 MiB)."""
    size = 2097152
    try:
        with open('/etc/libvirt/virtlogd.conf') as f:
            for line in f:
                m = re.match(r'\s*max_size\s*=\s*(\d+)', line)
                if m:
                    size = int(m.group(1))
    except OSError:
        pass
    return size


@timeout(600)
@cleanup
def test_console_cap():
    """A guest printing past virtlogd's max_size (the kvm console cap): console.log and
    console.log.0 (virtlogd's name for the older file) both within it, the newest output and the exit line in console.log, and the
    exit status still read from it."""
    need('tcg')
    cap = virtlogd_max_size()
    lines = cap // 73 + 3000
    if lines > 100000:
        raise Skip('virtlogd max_size is %d bytes: too much output to print under TCG' % cap)
    inst = new_inst('cap')
    run('tcg', inst, app('bigout'), 'bigout %d' % lines)
    st = wait_ended('tcg', inst, limit=400)
    expect(st, 'exited', 0, inst)
    for name in ('console.log', 'console.log.0'):
        p = os.path.join(inst['dir'], name)
        if not os.path.exists(p):
            fail('%s is missing after %d bytes of output' % (name, lines * 73),
                 ' '.join(sorted(os.listdir(inst['dir']))))
        if os.path.getsize(p) > cap:
            fail('%s holds %d bytes, over virtlogd\'s max_size %d' % (name, os.path.getsize(p),
                                                                     cap))
    text = console(inst)
    done = 'bigout done lines=%d bytes=%d' % (lines, lines * 73)
    if done not in text[-200:] or not text.endswith('unik: exit status 0\n'):
        fail('console.log does not end with the last line and the exit line', text[-2000:])
    call('tcg', 'remove', inst['dir'])


@accels
@cleanup
def test_exit_codes(accel):
    need(accel)
    insts = {}
    for code in (3, 200):
        inst = new_inst('exit%d' % code)
        run(accel, inst, app('exitcode'), 'exitcode exit %d' % code)
        insts[code] = inst
    crash = new_inst('crash')
    run(accel, crash, app('crash'), 'crash null')
    for code, inst in insts.items():
        st = wait_ended(accel, inst)
        expect(st, 'exited', code, inst)
        if 'exiting %d\n' % code not in console(inst):
            fail('console lacks the app output', context(inst))
        if st['pid'] != '0':
            fail('an ended instance reports pid %s' % st['pid'])
    st = wait_ended(accel, crash)
    expect(st, 'crashed', 255, crash)
    if not st['detail'].startswith('unik: crash: '):
        fail('crash detail is %r' % st['detail'], context(crash))


@accels
@cleanup
def test_stop_start_remove(accel):
    need(accel)
    inst = new_inst('stop')
    r = run(accel, inst, app('clock'), 'clock 600000')
    if int(r['pid']) <= 0 or not os.path.exists('/proc/%s' % r['pid']):
        fail('run reported pid %r' % r['pid'], context(inst))
    wait_console(inst, 'wall_start')
    st = status(accel, inst)
    if st['state'] != 'running' or st['pid'] != r['pid']:
        fail('not running before stop: %r' % st, context(inst))
    if domain_of(inst) not in domains(all_=False):
        fail('virsh list does not show %s running' % domain_of(inst))
    call(accel, 'stop', inst['dir'], '--timeout', 10000)
    expect(status(accel, inst), 'stopped', -1, inst)
    if domain_of(inst) in domains(all_=False):
        fail('the domain still runs after stop')
    # Idempotent, also forced.
    call(accel, 'stop', inst['dir'])
    call(accel, 'stop', inst['dir'], '--force')
    expect(status(accel, inst), 'stopped', -1, inst)
    # start(): the same domain again, the console appended to.
    r2 = call(accel, 'start', inst['dir'])
    if r2['state'] != 'running' or r2['handle_id'] != r['handle_id']:
        fail('start: %r' % r2, context(inst))
    deadline = time.monotonic() + 30
    while console(inst).count('wall_start') < 2:
        if time.monotonic() > deadline:
            fail('the restarted guest did not append to console.log', context(inst))
        time.sleep(0.02)
    r3 = call(accel, 'start', inst['dir'], ok=False)
    if r3['_rc'] == 0 or r3.get('code') != 'state':
        fail('start of a running instance: %r' % r3)
    call(accel, 'stop', inst['dir'], '--force')
    expect(status(accel, inst), 'stopped', -1, inst)
    # A restarted instance that then exits by itself reports its own status, not "stopped".
    call(accel, 'start', inst['dir'])
    call(accel, 'remove', inst['dir'])
    if domain_of(inst) in domains():
        fail('remove left the domain defined', context(inst))
    if 'wall_start' not in console(inst):
        fail('remove deleted console.log')
    expect(status(accel, inst), 'stopped', -1, inst)
    call(accel, 'remove', inst['dir'])  # idempotent


@accels
@cleanup
def test_restart_then_exit(accel):
    """A finished instance started again runs anew: its exit status is this run's."""
    need(accel)
    inst = new_inst('again')
    run(accel, inst, app('exitcode'), 'exitcode exit 5')
    expect(wait_ended(accel, inst), 'exited', 5, inst)
    call(accel, 'start', inst['dir'])
    expect(wait_ended(accel, inst), 'exited', 5, inst)
    if console(inst).count('unik: exit status 5\n') != 2:
        fail('console.log does not hold both runs', context(inst))


@accels
@cleanup
def test_adoption(accel):
    """One process runs the instance and is gone; fresh processes see it running, the domain is
    in virsh list, and its end is seen without any process having watched it."""
    need(accel)
    inst = new_inst('adopt')
    r = run(accel, inst, app('clock'), 'clock 1500')
    st = status(accel, inst)
    if st['state'] != 'running' or st['handle_id'] != r['handle_id']:
        fail('a fresh process sees %r' % st, context(inst))
    if domain_of(inst) not in domains(all_=False):
        fail('virsh list does not show the domain running')
    st = wait_ended(accel, inst)
    expect(st, 'exited', 0, inst)


@cleanup
def test_disk_boot():
    """boot=disk: the image's qcow2 disk through SeaBIOS and GRUB on machine pc, read-only on
    virtio, with the command line baked into the disk.  TCG only: on this machine's nested
    KVM (PVM) the firmware's real mode is emulated instruction by instruction (about 20 s)."""
    need('tcg')
    inst = new_inst('disk')
    disk = os.path.join(inst['dir'], 'hello.qcow2')
    p = subprocess.run([os.path.join(bin_dir(), 'unik-pack'), '--kernel', app('hello'),
                        '--cmdline', 'hello from-disk', '--format', 'qcow2', '-o', disk],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        fail('unik-pack failed: %s' % p.stderr.strip())
    # A command line other than the disk's is refused: the disk's GRUB config bakes it.
    r = call('tcg', 'run', inst['dir'], app('hello'), 'hello other', 64, inst=inst,
             opts=['boot=disk'], disk=disk, baked='hello from-disk', ok=False)
    if r['_rc'] == 0 or 'baked' not in r.get('error', ''):
        fail('a different command line with boot=disk was not refused: %r' % r)
    call('tcg', 'run', inst['dir'], app('hello'), 'hello from-disk', 64, inst=inst,
         opts=['boot=disk'], disk=disk, baked='hello from-disk')
    st = wait_ended('tcg', inst)
    expect(st, 'exited', 0, inst)
    text = console(inst)
    if 'hello from unik\nargv[0]=<hello>\nargv[1]=<from-disk>\nunik: exit status 0\n' \
            not in text:
        fail('the disk boot did not show the baked command line', context(inst))
    with open(os.path.join(inst['dir'], 'domain.xml')) as f:
        xml = f.read()
    for want in ("machine='pc'", "<boot dev='hd'/>", "type='qcow2'", '<readonly/>'):
        if want not in xml or '<kernel>' in xml:
            fail('domain.xml lacks %r (or has a kernel)' % want, xml)
    # Without a disk, boot=disk says how to get one.
    inst2 = new_inst('nodisk')
    r = call('tcg', 'run', inst2['dir'], app('hello'), '', 64, inst=inst2, opts=['boot=disk'],
             ok=False)
    if r['_rc'] == 0 or '--format qcow2' not in r.get('error', ''):
        fail('boot=disk without a disk: %r' % r)


@cleanup
def test_escaped_cmdline():
    """Markup in the command line reaches the guest intact and the XML escaped."""
    need()
    inst = new_inst('escape')
    run('tcg', inst, app('args'), 'args \'<&>\' "it\'s" a&b')
    expect(wait_ended('tcg', inst), 'exited', 0, inst)
    text = console(inst)
    for want in ('argv[1]=<<&>>\n', "argv[2]=<it's>\n", 'argv[3]=<a&b>\n'):
        if want not in text:
            fail('console lacks %r' % want, context(inst))
    xml = _virsh('dumpxml', domain_of(inst), check=True).stdout
    got = ElementTree.fromstring(xml).findtext('os/cmdline')
    if got != 'args \'<&>\' "it\'s" a&b':
        fail('libvirt holds the command line %r' % got, xml)


@cleanup
def test_foreign_domain_untouched():
    """A domain unik did not define is never stopped, removed or reused, even when its name
    looks like unik's or an instance record points at it."""
    need()
    inst = new_inst('foreign')
    name = domain_of(inst)
    kernel = app('clock')
    xml_path = os.path.join(out_dir(), 'foreign.xml')
    with open(xml_path, 'w') as f:
        f.write("""<domain type='qemu'>
  <name>%s</name>
  <memory unit='MiB'>32</memory>
  <os><type arch='x86_64' machine='microvm'>hvm</type><kernel>%s</kernel>
  <cmdline>clock 600000</cmdline></os>
  <devices><controller type='usb' model='none'/><memballoon model='none'/></devices>
</domain>
""" % (name, kernel))
    _virsh('define', xml_path, check=True)
    try:
        _virsh('start', name, check=True)
        uuid = _virsh('domuuid', name, check=True).stdout.strip()
        # run() will not take over the name.
        r = call('tcg', 'run', inst['dir'], kernel, 'clock 1', 64, inst=inst, ok=False)
        if r['_rc'] == 0 or r.get('code') != 'exists' or name not in r.get('error', ''):
            fail('run over a foreign domain: %r' % r)
        # A record that points at it (forged, or left by a bug): stop and remove refuse.
        with open(os.path.join(inst['dir'], 'provider.state'), 'w') as f:
            f.write('provider=kvm\ninstance_id=%s\nuri=%s\ndomain=%s\nuuid=%s\n'
                    % (inst['id'], URI, name, uuid))
        for verb in (['stop', inst['dir'], '--force'], ['remove', inst['dir']],
                     ['start', inst['dir']]):
            r = call('tcg', *verb, ok=False)
            if r['_rc'] == 0 or r.get('code') != 'state' or 'leaving it alone' not in \
                    r.get('error', ''):
                fail('%s of a foreign domain: %r' % (verb[0], r))
        if name not in domains(all_=False):
            fail('the foreign domain no longer runs')
        # With unik's metadata for another instance: still not ours.
        _virsh('metadata', name, 'https://github.com/unik/xmlns/1', '--key', 'unik',
               '--set', "<instance id='zzzzzzzzzzzz'/>", '--live', '--config', check=True)
        r = call('tcg', 'remove', inst['dir'], ok=False)
        if r['_rc'] == 0 or 'names another instance' not in r.get('error', ''):
            fail('remove of another instance\'s domain: %r' % r)
        if name not in domains(all_=False):
            fail('the foreign domain no longer runs')
    finally:
        _created.remove(inst)  # not ours: the cleanup must not go through the provider
        _virsh('destroy', name)
        _virsh('undefine', name)


@timeout(600)
@cleanup
def test_libvirtd_down():
    """With libvirtd gone: available says why at once, run fails fast, and an instance that
    already ended still reports its exit status.  libvirtd is started again afterwards."""
    need(exclusive=True)
    pid = libvirtd_pid()
    if not pid:
        raise Skip('libvirtd runs, but not from %s: not stopping a libvirtd this test did not '
                   'start' % PIDFILE)
    done = new_inst('done')
    run('tcg', done, app('exitcode'), 'exitcode exit 9')
    expect(wait_ended('tcg', done), 'exited', 9, done)
    os.kill(pid, signal.SIGTERM)
    try:
        deadline = time.monotonic() + 20
        while os.path.exists('/proc/%d' % pid) or libvirt_service.answers(SOCK):
            if time.monotonic() > deadline:
                fail('libvirtd did not stop')
            time.sleep(0.05)
        r = call('tcg', 'available', ok=False)
        if r['available'] != 'no' or 'Failed to connect socket' not in r['reason'] or \
                'libvirtd' not in r['reason']:
            fail('available with libvirtd down: %r' % r)
        if r['_elapsed'] > 3:
            fail('available took %.1fs with libvirtd down' % r['_elapsed'])
        t_available = r['_elapsed']
        inst = new_inst('down')
        r = call('tcg', 'run', inst['dir'], app('hello'), '', 64, inst=inst, ok=False)
        if r['_rc'] == 0 or 'Failed to connect socket' not in r.get('error', ''):
            fail('run with libvirtd down: %r' % r)
        if r['_elapsed'] > 3:
            fail('run took %.1fs to fail with libvirtd down' % r['_elapsed'])
        with open(os.path.join(out_dir(), 'down-elapsed.txt'), 'w') as f:
            f.write('available %.3fs, run %.3fs\n' % (t_available, r['_elapsed']))
        expect(status('tcg', done), 'exited', 9, done)
    finally:
        start_libvirtd()
    call('tcg', 'remove', done['dir'])


@timeout(300)
@cleanup
def test_virtlogd_killed():
    """virtlogd killed with SIGKILL (its socket left behind, as CI once found it) while libvirtd
    runs: run fails at once, with libvirt's words and a hint to start virtlogd.  The next
    test's start-up sees the dead socket and starts virtlogd again, and runs work."""
    need(exclusive=True)
    try:
        with open(VIRTLOGD_PIDFILE) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        raise Skip('virtlogd runs, but not from %s: not killing a virtlogd this test did not '
                   'start' % VIRTLOGD_PIDFILE)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists('/proc/%d' % pid):
        if time.monotonic() > deadline:
            fail('virtlogd did not die')
        time.sleep(0.05)
    if not os.path.exists(libvirt_service.VIRTLOGD_SOCK):
        raise Skip('virtlogd left no socket behind: the case under test did not arise')
    try:
        inst = new_inst('nolog')
        r = call('tcg', 'run', inst['dir'], app('hello'), 'hello', 64, inst=inst, ok=False)
        if r['_rc'] == 0 or 'virtlogd-sock' not in r.get('error', '') or \
                'is virtlogd running?' not in r.get('error', ''):
            fail('run with virtlogd dead: %r' % r)
        if r['_elapsed'] > 5:
            fail('run took %.1fs to fail with virtlogd dead' % r['_elapsed'])
    finally:
        start_libvirtd()
    if not libvirt_service.answers(libvirt_service.VIRTLOGD_SOCK):
        fail('virtlogd was not started again')
    inst = new_inst('relog')
    run('tcg', inst, app('hello'), 'hello')
    expect(wait_ended('tcg', inst), 'exited', 0, inst)
    call('tcg', 'remove', inst['dir'])


@timeout(300)
@cleanup
def test_libvirtd_hung():
    """A libvirtd that accepts connections and never answers them (stopped with SIGSTOP):
    available and run give up after connect_timeout with a reason instead of hanging, and a
    bad connect_timeout is refused.  Once libvirtd is resumed, runs work again."""
    need(exclusive=True)
    pid = libvirtd_pid()
    if not pid:
        raise Skip('libvirtd runs, but not from %s: not stopping a libvirtd this test did not '
                   'start' % PIDFILE)
    for bad in ('0', '601', '2s', ''):
        r = call('tcg', 'available', ok=False, opts=['connect_timeout=' + bad])
        if bad and (r['available'] != 'no' or 'connect_timeout=' + bad not in r['reason']):
            fail('connect_timeout=%s was not refused: %r' % (bad, r))
        if not bad and r['available'] != 'yes':
            fail('an empty connect_timeout (the default) was refused: %r' % r)
    os.kill(pid, signal.SIGSTOP)
    try:
        r = call('tcg', 'available', ok=False, opts=['connect_timeout=2'])
        if r['available'] != 'no' or 'no answer within 2 s' not in r['reason']:
            fail('available with libvirtd stopped: %r' % r)
        if not 1.5 <= r['_elapsed'] < 8:
            fail('available took %.1fs to give up, with connect_timeout=2' % r['_elapsed'])
        inst = new_inst('hung')
        r = call('tcg', 'run', inst['dir'], app('hello'), '', 64, inst=inst, ok=False,
                 opts=['connect_timeout=2'])
        if r['_rc'] == 0 or 'no answer within 2 s' not in r.get('error', ''):
            fail('run with libvirtd stopped: %r' % r)
        if r['_elapsed'] > 8:
            fail('run took %.1fs to give up, with connect_timeout=2' % r['_elapsed'])
    finally:
        os.kill(pid, signal.SIGCONT)
    inst = new_inst('resumed')
    run('tcg', inst, app('hello'), 'hello', opts=['connect_timeout=30'])
    expect(wait_ended('tcg', inst), 'exited', 0, inst)
    with open(os.path.join(inst['dir'], 'provider.state')) as f:
        if 'connect_timeout=30\n' not in f.read():
            fail('the record does not keep connect_timeout', context(inst))
    call('tcg', 'remove', inst['dir'])


def _test_cli():
    """tests/integration/test_cli.py's helpers (a private UNIK_HOME and its daemon)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'test_cli.py')
    spec = importlib.util.spec_from_file_location('kvm_test_cli_helpers', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@timeout(400)
def test_cli_run_and_describe():
    """Through the real daemon and CLI: `unik run --provider kvm` shows the guest's output and
    exits with its status, describe-instance names the domain, rm undefines it."""
    need()
    cli = _test_cli()
    cli.need_core()
    with cli.Home('kvmhome') as h:
        h.ok(['build', '--name', 'hello', '--path', cli.HELLO])
        p = h.ok(['run', '--provider', 'kvm', 'hello'])
        if 'Hello from a unikernel!' not in p.stdout:
            fail("the guest's greeting is not on the CLI's output", p.stdout)
        h.ok(['run', '--provider', 'kvm', '--provider-opt', 'uri=' + URI, '-d', '--name',
              'kvmcli', 'hello'])
        deadline = time.monotonic() + 60
        while True:
            j = h.json(['describe-instance', 'kvmcli'])
            if j.get('state') not in ('pending', 'running'):
                break
            if time.monotonic() > deadline:
                fail('instance still %s' % j.get('state'), json.dumps(j, indent=1))
            time.sleep(0.1)
        if j.get('state') != 'exited' or j.get('exit_code') != 0:
            fail('describe-instance: %r' % j)
        name = j.get('provider_handle', '')
        if not name.startswith('unik-kvmcli-') or len(j.get('provider_handle_id', '')) != 36:
            fail('describe-instance handle %r / %r' % (name, j.get('provider_handle_id')),
                 json.dumps(j, indent=1))
        uuid = _virsh('domuuid', name, check=True).stdout.strip()
        if uuid != j['provider_handle_id']:
            fail('virsh says %s has UUID %s' % (name, uuid))
        h.ok(['rm', '-f', 'kvmcli'])
        if name in domains():
            fail('unik rm left the domain %s defined' % name)
        handles = []
        for inst in h.json(['ps', '-a']) or []:
            handles.append(h.json(['describe-instance', inst['id']]).get('provider_handle'))
            h.ok(['rm', '-f', inst['id']])
        left = set(handles) & domains()
        if left:
            fail('unik rm left domains defined: %s' % sorted(left))


@timeout(400)
def test_cli_daemon_restart_adopts():
    """The daemon is killed (-9) while a kvm instance runs: the domain goes on, a new daemon
    adopts it (state, handle, logs), stops it, starts the same domain again in place, and rm
    undefines it."""
    need()
    cli = _test_cli()
    cli.need_core()
    with cli.Home('kvmadopt') as h:
        src = cli.project('ticker', {'ticker.c': cli.TICKER})
        h.ok(['build', '--name', 'ticker', '--path', src])
        h.ok(['run', '--provider', 'kvm', '-d', '--name', 'tick', 'ticker', 'forever'])
        before = h.json(['describe-instance', 'tick'])
        name = before.get('provider_handle', '')
        if not name.startswith('unik-tick-'):
            fail('no domain name in describe-instance', json.dumps(before, indent=1))
        deadline = time.monotonic() + 60
        while 'tick 3' not in h.ok(['logs', 'tick']).stdout:
            if time.monotonic() > deadline:
                fail('the guest printed no ticks', h.ok(['logs', 'tick']).stdout)
            time.sleep(0.2)
        pid = h.daemon_pid()
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if not os.path.exists('/proc/%d' % pid):
                break
            time.sleep(0.05)
        state = _virsh('domstate', name).stdout.strip()
        if state != 'running':
            fail('the domain did not outlive the daemon: %r' % state)
        after = h.json(['describe-instance', 'tick'])  # starts a new daemon
        if h.daemon_pid() == pid:
            fail('the daemon was not restarted')
        if after.get('state') != 'running' or after.get('provider_handle') != name or \
                after.get('provider_handle_id') != before.get('provider_handle_id'):
            fail('the new daemon did not adopt the instance', json.dumps(after, indent=1))
        n = h.ok(['logs', 'tick']).stdout.count('tick ')
        time.sleep(1)
        if h.ok(['logs', 'tick']).stdout.count('tick ') <= n:
            fail('logs do not grow after the restart')
        h.ok(['stop', 'tick'])
        j = h.json(['describe-instance', 'tick'])
        if j.get('state') != 'stopped' or _virsh('domstate', name).stdout.strip() != 'shut off':
            fail('stop after adoption: %s / %s' % (j.get('state'),
                                                   _virsh('domstate', name).stdout.strip()))
        h.ok(['start', 'tick'])
        j = h.json(['describe-instance', 'tick'])
        if j.get('state') != 'running' or j.get('provider_handle_id') != \
                before.get('provider_handle_id'):
            fail('start did not run the same domain again', json.dumps(j, indent=1))
        h.ok(['rm', '-f', 'tick'])
        if name in domains():
            fail('unik rm left the domain %s defined' % name)


@timeout(400)
def test_cli_disk_boot():
    """Through the daemon: an image built with --format qcow2 boots its disk with
    --provider-opt boot=disk (TCG: see test_disk_boot); other arguments are refused, and an
    image without a disk gets the --format to build it with."""
    need('tcg')
    cli = _test_cli()
    cli.need_core()
    with cli.Home('kvmdisk') as h:
        h.env['UNIK_ACCEL'] = 'tcg'
        h.ok(['build', '--name', 'hello', '--format', 'qcow2', '--path', cli.HELLO])
        p = h.ok(['run', '--provider', 'kvm', '--provider-opt', 'boot=disk', '--rm', 'hello'])
        if 'Hello from a unikernel!' not in p.stdout:
            fail("the disk boot's greeting is not on the CLI's output", p.stdout)
        p = h.run(['run', '--provider', 'kvm', '--provider-opt', 'boot=disk', 'hello', 'x'])
        if p.returncode == 0 or 'baked into the image' not in p.stderr:
            fail('boot=disk with other arguments was not refused', p.stdout + p.stderr)
        h.ok(['build', '--name', 'bare', '--path', cli.HELLO])
        p = h.run(['run', '--provider', 'kvm', '--provider-opt', 'boot=disk', 'bare'])
        if p.returncode == 0 or '--format qcow2' not in p.stderr:
            fail('boot=disk on an image without a disk: no hint', p.stdout + p.stderr)
        if any(x['state'] == 'running' for x in h.json(['ps']) or []):
            fail('a refused run left an instance running')


# ---- networking -------------------------------------------------------------------------------


def _contract():
    p = os.path.join(build_dir(), 'tests', 'tools', 'provider_contract')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make test-tools)' % p)
    return p


def contract(accel, *args, inst=None, ok=True, limit=60):
    """Runs tests/tools/provider_contract once with provider kvm (through core/vm.h, so the
    devices are checked and their words reach the guest's command line as the core puts them)."""
    cmd = [_contract(), '-p', 'kvm']
    if inst:
        cmd += ['-i', inst['id'], '-n', inst['name']]
    cmd += [str(a) for a in args]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=driver_env(accel), timeout=limit)
    with open(os.path.join(out_dir(), 'driver.log'), 'a') as f:
        f.write('$ %s\n%s%s[exit %d]\n' % (' '.join(cmd), p.stdout, p.stderr, p.returncode))
    res = dict(l.partition('=')[::2] for l in p.stdout.splitlines())
    if ok and p.returncode != 0:
        fail('provider_contract %s failed (exit %d): %s' % (
            args[-5] if len(args) >= 5 else args[0], p.returncode,
            res.get('error', p.stderr.strip())))
    res['_rc'] = p.returncode
    return res


def _ip(*args, check=True):
    p = subprocess.run(['ip'] + list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    if check and p.returncode != 0:
        fail('ip %s: %s' % (' '.join(args), p.stderr.strip()))
    return p


class Bridge:
    """A Linux bridge ukbrN with 10.93.N.1/24 on the host, for one test; deleted afterwards."""

    def __enter__(self):
        if not shutil.which('ip'):
            raise Skip('ip is not installed (Debian: iproute2)')
        if not os.path.exists('/dev/net/tun'):
            raise Skip('no /dev/net/tun: libvirt cannot make the guest\'s tap')
        start = os.getpid() % 200
        for k in range(200):
            n = 20 + (start + k) % 200
            name = 'ukbr%d' % n
            if _ip('link', 'show', name, check=False).returncode == 0:
                continue
            if _ip('-4', 'route', 'show', '10.93.%d.0/24' % n, check=False).stdout.strip():
                continue
            p = _ip('link', 'add', name, 'type', 'bridge', check=False)
            if p.returncode == 0:
                break
            if 'Operation not permitted' in p.stderr:
                raise Skip('no CAP_NET_ADMIN to make a bridge: ' + p.stderr.strip())
        else:
            raise Skip('no free ukbrN bridge name or 10.93.N.0/24 subnet')
        self.name, self.n = name, n
        self.host, self.guest = '10.93.%d.1' % n, '10.93.%d.2' % n
        try:
            _ip('addr', 'add', self.host + '/24', 'dev', name)
            _ip('link', 'set', name, 'up')
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        _ip('link', 'del', self.name, check=False)
        return False


def build_http():
    out = os.path.join(out_dir(), 'http.elf')
    src = os.path.join(REPO, 'examples', 'http', 'http.c')
    p = run_unik_cc(['-O2', '-Wall', '-pthread', '-o', out, src])
    if p.returncode != 0:
        fail('unik-cc examples/http/http.c failed (exit %d)' % p.returncode, p.stderr[-2000:])
    return out


@timeout(300)
@cleanup
def test_net_bridge_http():
    """examples/http on a bridge the test makes (libvirt makes the tap and adds it): the guest
    takes 10.93.N.2/24 from its command line (unik.net0=, put there by the core), curl on the host
    reaches it there, status reports the address, and the guest exits once it has served the
    requests it was told to."""
    if not shutil.which('curl'):
        raise Skip('curl is not installed (Debian: curl)')
    need('tcg')
    kernel = build_http()
    with Bridge() as br:
        inst = new_inst('nethttp')
        dev = 'net:net0:network=uknet%d:bridge=%s:ip=%s/24:gw=%s' % (br.n, br.name, br.guest,
                                                                     br.host)
        r = contract('tcg', '-d', dev, 'run', inst['dir'], kernel, 'http 2', 64, inst=inst)
        if r.get('state') not in ('running', 'exited'):
            fail('run: %r' % r, context(inst))
        wait_console(inst, 'listening on port', limit=90)
        if 'unik: net0 up %s/24' % br.guest not in console(inst):
            fail('the guest did not take %s/24' % br.guest, context(inst))
        with open(os.path.join(inst['dir'], 'provider.state')) as f:
            if 'ip=%s\n' % br.guest not in f.read():
                fail('provider.state does not record ip=%s' % br.guest, context(inst))
        xml = _virsh('dumpxml', domain_of(inst), check=True).stdout
        if "<source bridge='%s'/>" % br.name not in xml:
            fail('the domain is not on bridge %s' % br.name, xml)
        got = []
        for _ in range(2):
            p = subprocess.run(['curl', '-s', '-m', '20', 'http://%s:8080/' % br.guest],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=30)
            got.append(p.stdout)
        want = ['hello from unik: request 1\n', 'hello from unik: request 2\n']
        if got != want:
            fail('curl got %r, want %r' % (got, want), context(inst))
        st = wait_ended('tcg', inst)
        expect(st, 'exited', 0, inst)
        call('tcg', 'remove', inst['dir'])


@cleanup
def test_net_ports_refused():
    """Published ports are refused before anything is defined, on user-mode networking (no
    passt in this libvirt: the message names --network) and on a bridge (no forwarder)."""
    need()
    for dev, needle in (('net:net0:port=127.0.0.1+18080+80', '--network'),
                        ('net:net0:network=uknet:bridge=ukbr-none:ip=10.93.250.2/24:'
                         'port=18080+80', 'own address on the network (10.93.250.2/24)')):
        inst = new_inst('netport')
        r = contract('tcg', '-d', dev, 'run', inst['dir'], app('hello'), 'hello', 64, inst=inst,
                     ok=False)
        if r['_rc'] == 0 or r.get('code') != 'unsupported' or needle not in r.get('error', ''):
            fail('published port on %s was not refused: %r' % (dev, r))
        if '127.0.0.1:18080->80/tcp' not in r['error'] and '0.0.0.0:18080->80/tcp' not in \
                r['error']:
            fail('the refusal does not name the port: %r' % r)
        if domain_of(inst) in domains():
            fail('a refused run defined its domain')
