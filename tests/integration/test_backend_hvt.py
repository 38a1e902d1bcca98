"""The mirage backend's hvt target (issue 16): device applications built with
`unik-cc --unik-target hvt` and run under bin/unik-hvt, unik's own KVM monitor.  A hello's
console output, arguments and exit status; examples/mirage/ping answering through a tap in a
network namespace the test makes; examples/mirage/kv keeping its log on a block file across two
runs; guests that fault reported with the exception or the KVM exit and the instruction pointer.
The builds and the checks unik-hvt makes before it opens /dev/kvm run everywhere; the boots are
skipped, saying why, where /dev/kvm does not open read-write."""

import os
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, Skip, bin_dir, check_equal, fail, out_dir, tail, timeout
from apps import run_unik_cc

TESTS = os.path.join(REPO, 'tests')

HELLO = r'''
#include <stdio.h>
#include <string.h>
#include <unik/devices-app.h>

int unik_app_main(const struct unik_app_info *info)
{
	char line[64];
	unik_time_t t0 = unik_clock_monotonic(), wall = unik_clock_wall();

	printf("hello from hvt: argc %d\n", info->argc);
	for (int i = 0; i < info->argc; i++)
		printf("argv[%d]=%s\n", i, info->argv[i]);
	fflush(stdout);
	snprintf(line, sizeof(line), "console: %s\n", "direct");
	unik_console_write(line, strlen(line));
	unik_yield(t0 + 20000000ull, NULL); /* 20 ms, no devices: only the deadline ends it */
	unik_time_t t1 = unik_clock_monotonic();
	printf("slept %s, wall clock %s\n", t1 - t0 >= 20000000ull ? "enough" : "too little",
	       wall > 1500000000ull * 1000000000ull ? "sane" : "wrong");
	return info->argc > 1 ? 42 : 7;
}
'''

FAULT = r'''
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unik/devices-app.h>

int unik_app_main(const struct unik_app_info *info)
{
	const char *how = info->argc > 1 ? info->argv[1] : "null";

	printf("faulting by %s\n", how);
	fflush(stdout);
	if (!strcmp(how, "null"))
		return *(volatile int *)0;
	if (!strcmp(how, "abort"))
		abort();
	return 0;
}
'''


def unik_hvt():
    p = os.path.join(bin_dir(), 'unik-hvt')
    if not os.access(p, os.X_OK):
        fail('%s is missing (run make)' % p)
    return p


def kvm_reason():
    """None when unik-hvt can use KVM here, else why not."""
    if os.environ.get('UNIK_ACCEL', '') == 'tcg':
        return 'UNIK_ACCEL=tcg forces TCG, and unik-hvt needs KVM'
    try:
        fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return '/dev/kvm cannot be opened read-write (%s): unik-hvt needs KVM' % e.strerror
    os.close(fd)
    return None


def need_kvm():
    reason = kvm_reason()
    if reason:
        raise Skip(reason)


def build(name, sources, devices=(), extra=()):
    """unik-cc --unik-target hvt; returns the kernel's path."""
    out = os.path.join(out_dir(), name)
    args = ['-O2', '-I', os.path.join(REPO, 'include'), '--unik-target', 'hvt']
    for d in devices:
        args += ['--unik-device', d]
    p = run_unik_cc(args + list(extra) + ['-o', out] + list(sources))
    if p.returncode != 0:
        fail('unik-cc --unik-target hvt of %s failed (exit %d)' % (name, p.returncode),
             tail(p.stdout + p.stderr))
    return out


def build_source(name, text, devices=()):
    src = os.path.join(out_dir(), name + '.c')
    with open(src, 'w') as f:
        f.write(text)
    return build(name, [src], devices)


def run_hvt(args, timeout_s=60, prefix=()):
    p = subprocess.run(list(prefix) + [unik_hvt()] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout_s)
    with open(os.path.join(out_dir(), 'unik-hvt.log'), 'a') as f:
        f.write('$ unik-hvt %s\n[exit %d]\n%s%s\n' % (' '.join(args), p.returncode, p.stdout,
                                                      p.stderr))
    return p


def raw_kernel(path, code):
    """An x86-64 ELF64 executable loaded at 1 MiB whose entry runs `code` (bytes), with an
    empty device note so that unik-hvt takes it for a device application: none of the hvt
    platform, so no exception handlers."""
    note = struct.pack('<III', 5, 0, 3) + b'unik\0\0\0\0'
    ehsize, phsize, base = 64, 56, 0x100000
    note_off = ehsize + 2 * phsize
    code_off = note_off + len(note)
    size = code_off + len(code)
    eh = struct.pack('<16sHHIQQQIHHHHHH', b'\x7fELF\x02\x01\x01' + b'\0' * 9, 2, 62, 1,
                     base + code_off, ehsize, 0, 0, ehsize, phsize, 2, 64, 0, 0)
    load = struct.pack('<IIQQQQQQ', 1, 7, 0, base, base, size, size, 4096)
    pnote = struct.pack('<IIQQQQQQ', 4, 4, note_off, base + note_off, base + note_off,
                        len(note), len(note), 4)
    with open(path, 'wb') as f:
        f.write(eh + load + pnote + note + code)
    return path


class Netns:
    """A network namespace with one tap, hvtap0, at 10.89.0.1/24 on the host side."""

    def __init__(self):
        if os.geteuid() != 0:
            raise Skip('a network namespace and a tap need root')
        if not shutil.which('ip'):
            raise Skip('ip (iproute2) is not installed')
        self.name = 'uhvt%d' % os.getpid()

    def ip(self, *args):
        p = subprocess.run(['ip'] + list(args), capture_output=True, text=True)
        if p.returncode != 0:
            fail('ip %s failed' % ' '.join(args), p.stderr)

    def __enter__(self):
        self.ip('netns', 'add', self.name)
        try:
            self.ip('-n', self.name, 'link', 'set', 'lo', 'up')
            self.ip('-n', self.name, 'tuntap', 'add', 'hvtap0', 'mode', 'tap')
            self.ip('-n', self.name, 'addr', 'add', '10.89.0.1/24', 'dev', 'hvtap0')
            self.ip('-n', self.name, 'link', 'set', 'hvtap0', 'up')
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        subprocess.run(['ip', 'netns', 'delete', self.name], capture_output=True)

    def python(self, code, timeout_s=120):
        """Runs Python code inside the namespace, with the tests' helpers importable."""
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join([os.path.join(TESTS, 'lib'),
                                             os.path.join(TESTS, 'integration')])
        p = subprocess.run(['ip', 'netns', 'exec', self.name, sys.executable, '-c', code],
                           capture_output=True, text=True, timeout=timeout_s, env=env)
        if p.returncode != 0:
            fail('in the namespace: %s' % code.strip().splitlines()[-1],
                 tail(p.stdout + p.stderr))
        return p.stdout

    def start(self, args, log, pass_fds=()):
        """unik-hvt in the namespace, in the background, its output into log."""
        f = open(log, 'w')
        try:
            return subprocess.Popen(['ip', 'netns', 'exec', self.name, unik_hvt()] + args,
                                    stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                    pass_fds=pass_fds)
        finally:
            f.close()


def wait_log(proc, log, text, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with open(log) as f:
            got = f.read()
        if text in got:
            return got
        if proc.poll() is not None:
            fail('unik-hvt ended (status %d) before printing %r' % (proc.returncode, text), got)
        time.sleep(0.1)
    fail('unik-hvt did not print %r in %d s' % (text, seconds), open(log).read())


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


NET = 'service=hvtap0,ip=10.89.0.2/24,gw=10.89.0.1'


@timeout(180)
def test_hvt_hello():
    """A hello built for hvt prints, reads its arguments and the clocks, sleeps in unik_yield
    and ends with its status; arguments after the kernel replace the baked ones."""
    kernel = build_source('hello', HELLO)
    need_kvm()
    p = run_hvt([kernel])
    check_equal('hello exit status', p.returncode, 7)
    want = ('hello from hvt: argc 1\nargv[0]=hello\nconsole: direct\n'
            'slept enough, wall clock sane\nunik: exit status 7\n')
    check_equal('hello console output', p.stdout, want)
    p = run_hvt([kernel, 'one', 'two words'])
    check_equal('hello exit status with arguments', p.returncode, 42)
    if 'argc 3\nargv[0]=hello\nargv[1]=one\nargv[2]=two words\n' not in p.stdout:
        fail('the arguments did not reach the application', p.stdout + p.stderr)


@timeout(180)
def test_hvt_checks_before_boot():
    """unik-hvt refuses, before the VM exists, a declared device left unbound, a binding of a
    device the image does not declare or of the wrong kind, one bound twice, a tap that does
    not exist, a block file that is not whole sectors, a virtio-target image and bad options;
    and unik-cc refuses --unik-target with what hvt cannot have."""
    ping = build('ping', [os.path.join(REPO, 'examples', 'mirage', 'ping', 'ping.c')],
                 ['net:service'])
    odd = os.path.join(out_dir(), 'odd.img')
    with open(odd, 'wb') as f:
        f.write(b'\0' * 1000)
    cases = [
        ([ping], 'declares the net device `service`: bind it with --net service=TAP'),
        (['--net', 'service=t0', '--net', 'other=t1', ping],
         'declares no net device `other` (it declares net:service)'),
        (['--block', 'service=' + odd, ping], 'declares no block device `service`'),
        (['--net', 'service=t0', '--net', 'service=t1', ping], 'is bound twice'),
        (['--net', 'service=nosuchtap9', ping], 'there is no interface `nosuchtap9`'),
        (['--net', 'Service=t0', ping], 'expected NAME=TAP'),
        (['--net', 'service=t0,mac=01:00:00:00:00:01', ping], 'is not mac='),
        (['--mem', '2', ping], '--mem `2`'),
        ([os.path.join(out_dir(), 'missing.elf')], 'missing.elf'),
    ]
    for args, want in cases:
        p = run_hvt(args)
        if p.returncode != 1 or want not in p.stderr:
            fail('unik-hvt %s: wanted status 1 saying %r' % (' '.join(args), want),
                 'status %d\n%s' % (p.returncode, p.stderr))
    blk = build_source('blk', HELLO, ['block:storage'])
    p = run_hvt(['--block', 'storage=' + odd, blk])
    if p.returncode != 1 or 'multiple of 512' not in p.stderr:
        fail('a block file of 1000 bytes was not refused', p.stderr)
    # An image of the virtio target (PVH entry) is sent back to `unik run`.
    virtio = os.path.join(out_dir(), 'ping-virtio')
    r = run_unik_cc(['-O2', '-I', os.path.join(REPO, 'include'), '--unik-device', 'net:service',
                     '-o', virtio, os.path.join(REPO, 'examples', 'mirage', 'ping', 'ping.c')])
    if r.returncode != 0:
        fail('unik-cc of the virtio ping failed', tail(r.stderr))
    p = run_hvt(['--net', 'service=lo', virtio])
    if p.returncode != 1 or 'built for the virtio target' not in p.stderr:
        fail('a virtio image was not refused', p.stderr)
    for extra, want in [(['--unik-service'], '--unik-service'),
                        (['--unik-target', 'xen'], 'unknown target (targets: virtio, unix, hvt)')]:
        r = run_unik_cc(['--unik-target', 'hvt'] + extra +
                        ['-o', os.path.join(out_dir(), 'x'), os.path.join(out_dir(), 'blk.c')])
        if r.returncode == 0 or want not in r.stderr:
            fail('unik-cc --unik-target hvt %s: wanted a refusal saying %r' % (extra, want),
                 r.stderr)


@timeout(300)
def test_hvt_ping():
    """examples/mirage/ping, unchanged, built for hvt and bound to a tap in a namespace,
    answers ICMP echo from the namespace's side of the tap (test_backend_mirage's ping), with
    unik-hvt under its seccomp filter."""
    kernel = build('ping', [os.path.join(REPO, 'examples', 'mirage', 'ping', 'ping.c')],
                   ['net:service'])
    need_kvm()
    with Netns() as ns:
        log = os.path.join(out_dir(), 'ping.console')
        proc = ns.start(['--net', NET, kernel], log)
        try:
            got = wait_log(proc, log, 'ping: service 10.89.0.2/24')
            # While the guest runs, the monitor is under its seccomp filter (mode 2).
            with open('/proc/%d/status' % proc.pid) as f:
                status = f.read()
            if 'Seccomp:\t2' not in status:
                fail('unik-hvt runs its guest without a seccomp filter', status)
            out = ns.python('from test_backend_mirage import ping\n'
                            'print(ping("10.89.0.2", count=3, seconds=60))\n')
            if 'ping: answered the first echo request' not in open(log).read():
                fail('the guest did not say it answered', got)
            print('replies: %s' % out.strip())
        finally:
            stop(proc)


KV_CLIENT = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for m in sys.argv[1:]:
    for attempt in range(10):
        s.sendto(m.encode(), ('10.89.0.2', 5000))
        try:
            print('%s => %s' % (m, s.recvfrom(2048)[0].decode()))
            break
        except socket.timeout:
            pass
    else:
        raise SystemExit('no answer to %r' % m)
'''


@timeout(300)
def test_hvt_kv_persists():
    """examples/mirage/kv, unchanged, built for hvt: puts over UDP land in its log on a block
    file, and a second run on the same file gets them back."""
    kernel = build('kv', [os.path.join(REPO, 'examples', 'mirage', 'kv', 'kv.c')],
                   ['net:service', 'block:storage'])
    need_kvm()
    disk = os.path.join(out_dir(), 'kv.img')
    with open(disk, 'wb') as f:
        f.truncate(1 << 20)
    with Netns() as ns:
        def session(n, msgs, want_log):
            log = os.path.join(out_dir(), 'kv%d.console' % n)
            proc = ns.start(['--net', NET, '--block', 'storage=' + disk, kernel], log)
            try:
                wait_log(proc, log, 'kv: listening on 10.89.0.2:5000')
                code = KV_CLIENT.replace('sys.argv[1:]', repr(msgs))
                out = ns.python(code)
            finally:
                stop(proc)
            text = open(log).read()
            if want_log not in text:
                fail('run %d of kv did not say %r' % (n, want_log), text)
            return out

        out = session(1, ['put colour blue', 'put shape round', 'get colour', 'get size'],
                      'kv: a new log')
        check_equal('first run', out, 'put colour blue => ok\nput shape round => ok\n'
                    'get colour => blue\nget size => missing\n')
        out = session(2, ['get colour', 'get shape'], 'kv: replayed 2 records, 2 keys')
        check_equal('second run', out, 'get colour => blue\nget shape => round\n')


@timeout(180)
def test_hvt_faults_reported():
    """A guest that faults ends unik-hvt with status 255 and a report: a NULL dereference
    (page 0 is unmapped) through the platform's exception handlers, abort(), and kernels with
    no handlers at all: a triple fault (KVM_EXIT_SHUTDOWN), an I/O port that is no hypercall,
    a hlt with nothing to wake it."""
    kernel = build_source('fault', FAULT)
    triple = raw_kernel(os.path.join(out_dir(), 'triple.elf'), b'\x0f\x0b')  # ud2
    port = raw_kernel(os.path.join(out_dir(), 'port.elf'), b'\xe6\x80')  # out %al, $0x80
    halt = raw_kernel(os.path.join(out_dir(), 'halt.elf'), b'\xf4')  # hlt
    need_kvm()
    cases = [
        ([kernel, 'null'], 'unik: crash: vector 14', 'CPU exception 14 (#PF) at rip 0x',
         'address 0x0'),
        ([kernel, 'abort'], 'unik: crash: signal 6', '', ''),
        ([triple], '', 'triple fault (KVM_EXIT_SHUTDOWN) at rip 0x1000c4', ''),
        ([port], '', 'I/O port 0x80 (out, 1 bytes) at rip 0x1000c6', ''),
        ([halt], '', 'KVM_EXIT_HLT) at rip 0x1000c5', ''),
    ]
    for args, console, report, detail in cases:
        p = run_hvt(args)
        if p.returncode != 255 or console not in p.stdout or report not in p.stderr or \
                detail not in p.stderr:
            fail('unik-hvt %s: wanted status 255, %r on the console and %r %r reported'
                 % (' '.join(os.path.basename(a) for a in args), console, report, detail),
                 'status %d\nstdout:\n%s\nstderr:\n%s' % (p.returncode, p.stdout, p.stderr))


@timeout(300)
def test_hvt_provider_options():
    """What the hvt provider gives unik-hvt: --argv0 replaces the image's argv[0];
    --console-abi ends the console with `unik: crash: ...` and `unik: exit status 255` when the
    monitor ends the guest (and the status alone after the guest's own crash line); a device
    bound to fd:N uses that descriptor, and one that is not open is refused before boot."""
    kernel = build_source('hello', HELLO)
    fault = build_source('fault', FAULT)
    halt = raw_kernel(os.path.join(out_dir(), 'halt.elf'), b'\xf4')  # hlt
    kv = build('kv', [os.path.join(REPO, 'examples', 'mirage', 'kv', 'kv.c')],
               ['net:service', 'block:storage'])
    p = run_hvt(['--net', 'service=fd:98', '--block', 'storage=fd:99', kv])
    if p.returncode != 1 or '--net service=fd:98: `fd:98` is not an open descriptor' \
            not in p.stderr:
        fail('unik-hvt took a net device on a descriptor that is not open',
             'status %d\n%s' % (p.returncode, p.stderr))
    need_kvm()
    p = run_hvt(['--argv0', 'other', kernel, 'x'])
    check_equal('status with --argv0', p.returncode, 42)
    if 'argc 2\nargv[0]=other\nargv[1]=x\n' not in p.stdout:
        fail('--argv0 did not reach the application', p.stdout + p.stderr)
    p = run_hvt(['--argv0', 'other', kernel])
    if 'argc 1\nargv[0]=other\n' not in p.stdout:
        fail('--argv0 without arguments did not reach the application', p.stdout + p.stderr)
    p = run_hvt(['--console-abi', halt])
    check_equal('a monitor-seen fault with --console-abi', (p.returncode, p.stdout),
                (255, 'unik: crash: the guest halted with interrupts off (KVM_EXIT_HLT) at '
                 'rip 0x1000c5\nunik: exit status 255\n'))
    p = run_hvt(['--console-abi', fault, 'null'])
    if p.returncode != 255 or not p.stdout.endswith('\nunik: exit status 255\n') or \
            'unik: crash: vector 14' not in p.stdout:
        fail('a guest fault with --console-abi', 'status %d\n%s' % (p.returncode, p.stdout))
    p = run_hvt(['--console-abi', kernel])
    if p.stdout.count('unik: exit status') != 1:
        fail('--console-abi repeated the guest\'s exit status', p.stdout)
    disk = os.path.join(out_dir(), 'kvfd.img')
    with open(disk, 'wb') as f:
        f.truncate(1 << 20)
    with Netns() as ns:
        fd = os.open(disk, os.O_RDWR)
        log = os.path.join(out_dir(), 'kvfd.console')
        try:
            proc = ns.start(['--net', NET, '--block', 'storage=fd:%d' % fd, kv], log,
                            pass_fds=(fd,))
        finally:
            os.close(fd)
        try:
            wait_log(proc, log, 'kv: listening on 10.89.0.2:5000')
            out = ns.python(KV_CLIENT.replace('sys.argv[1:]', repr(['put fdkey fdvalue', 'get fdkey'])))
        finally:
            stop(proc)
        check_equal('kv on a block descriptor', out,
                    'put fdkey fdvalue => ok\nget fdkey => fdvalue\n')
    with open(disk, 'rb') as f:
        if b'fdvalue' not in f.read():
            fail('kv wrote nothing to the file behind the descriptor')


SPT_APPS = os.path.join(REPO, 'tests', 'apps', 'spt')


def hvt_provider(d):
    """The hvt provider's entry in /v1/providers."""
    for p in d.ok('GET', '/v1/providers'):
        if p['name'] == 'hvt':
            return p
    fail('the hvt provider is not listed by /v1/providers')


@timeout(400)
def test_hvt_provider_builds_and_refuses():
    """`unik build --target hvt` makes an image that records target hvt and defaults to the
    hvt provider; an hvt image refuses qemu and spt, and the hvt provider refuses virtio and
    unix images, each naming the right provider; `unik providers` lists hvt, and where the
    confined user cannot open /dev/kvm says so as the reason."""
    from test_daemon_fixture import Daemon, cli, cli_error
    import json
    import stat
    with Daemon('hvt1', env={'UNIK_HVT': unik_hvt()}) as d:
        p = hvt_provider(d)
        listing = cli(d, 'providers').stdout
        if 'hvt' not in listing:
            fail('unik providers does not list hvt', listing)
        st = os.stat('/dev/kvm') if os.path.exists('/dev/kvm') else None
        if not p['available']:
            if '/dev/kvm' not in p['reason']:
                fail('the hvt provider is unavailable without saying it is /dev/kvm', p)
            whole = cli(d, 'providers', '--no-trunc').stdout
            if p['reason'] not in whole:
                fail('unik providers --no-trunc does not give the hvt reason', whole)
            if st and stat.S_IMODE(st.st_mode) & 0o006 == 0o006:
                fail('/dev/kvm is open to everyone, yet hvt says it cannot be opened', p)
        elif st is None:
            fail('the hvt provider is available on a host without /dev/kvm', p)
        hello = os.path.join(SPT_APPS, 'hello')
        cli(d, 'build', '--target', 'hvt', '--name', 'hh', hello)
        cli(d, 'build', '--name', 'hv', hello)
        cli(d, 'build', '--target', 'unix', '--name', 'hu', hello)
        img = json.loads(cli(d, 'describe-image', 'hh', '-o', 'json').stdout)
        check_equal('the hvt image target', img.get('target'), 'hvt')
        check_equal('the hvt image provider', img.get('provider'), 'hvt')
        check_equal('the unix image target',
                    json.loads(cli(d, 'describe-image', 'hu', '-o', 'json').stdout).get('target'),
                    'unix')
        if 'hvt' not in cli(d, 'describe-image', 'hh').stdout:
            fail('describe-image does not show the target')
        cli_error(d, 'runs on the hvt provider (--provider hvt), not on qemu', 'run', '-d',
                  '--provider', 'qemu', 'hh')
        cli_error(d, 'runs on the hvt provider (--provider hvt), not on spt', 'run', '-d',
                  '--provider', 'spt', 'hh')
        cli_error(d, 'provider hvt runs only mirage applications built for the hvt target',
                  'run', '-d', '--provider', 'hvt', 'hv')
        cli_error(d, 'runs on the spt provider (--provider spt), not on hvt', 'run', '-d',
                  '--provider', 'hvt', 'hu')


@timeout(400)
def test_hvt_provider_runs_hvt_images():
    """Where the hvt provider is available, an hvt image run by the daemon (its default
    provider) prints its console, gets its arguments and ends with its exit status; skipped,
    with the provider's reason, where it is not."""
    from test_daemon_fixture import Daemon, cli, wait_console
    from test_backend_spt import wait_state
    with Daemon('hvt2', env={'UNIK_HVT': unik_hvt()}) as d:
        p = hvt_provider(d)
        if not p['available']:
            raise Skip('the hvt provider is unavailable: %s' % p['reason'])
        cli(d, 'build', '--target', 'hvt', '--name', 'hh', os.path.join(SPT_APPS, 'hello'))
        cli(d, 'run', '-d', '--name', 'h1', 'hh', 'one', 'two')
        inst = wait_state(d, 'h1', ('exited', 'crashed'))
        check_equal('the instance provider', inst['provider'], 'hvt')
        check_equal('exit code', (inst['state'], inst['exit_code']), ('exited', 3))
        wait_console(d, 'h1', 'hello: 2 arguments: one two')
        cli(d, 'rm', '-f', 'h1')
