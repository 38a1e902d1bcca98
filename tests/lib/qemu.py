"""Boot a unik kernel under QEMU and read back what the guest ABI promises: the console text and
the exit status from the last console line, cross-checked with QEMU's own exit code."""

import itertools
import os
import re
import signal
import subprocess
import time

from harness import Skip, Failure, out_dir, tail

QEMU = os.environ.get('UNIK_QEMU', 'qemu-system-x86_64')

# Machine types and the options each needs.  microvm boots PVH kernels directly (no firmware
# work to speak of); pc goes through SeaBIOS and QEMU's multiboot loader.
MACHINES = {
    'microvm': ['-M', 'microvm'],
    'microvm-noacpi': ['-M', 'microvm,acpi=off'],
    'pc': ['-M', 'pc'],
    'q35': ['-M', 'q35'],
}

EXIT_RE = re.compile(r'^unik: exit status (\d+)$')
CRASH_PREFIX = 'unik: crash: '
RUNTIME_PREFIX = 'unik: '

_boot_counter = itertools.count(1)


def kvm_usable(direct=False):
    """None when KVM can be used, else the reason it cannot.  direct: the test boots QEMU
    itself, as the harness's user; UNIK_TEST_KVM_AS_ROOT=1 then lets root use a /dev/kvm that
    only root can open (unik's confined QEMU user cannot, so tests through unik still skip)."""
    if os.environ.get('UNIK_ACCEL', '') == 'tcg':
        return 'UNIK_ACCEL=tcg forces TCG'
    try:
        fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return '/dev/kvm cannot be opened read-write: %s' % e.strerror
    os.close(fd)
    # unik's QEMU runs as an unprivileged user that keeps /dev/kvm's group when it is not
    # root's (lib/vmm_confine.c), so root opening it is not enough.
    if direct and os.geteuid() == 0 and os.environ.get('UNIK_TEST_KVM_AS_ROOT') == '1':
        return None
    st = os.stat('/dev/kvm')
    if os.geteuid() == 0 and not (st.st_gid != 0 and st.st_mode & 0o060 == 0o060) and \
            st.st_mode & 0o006 != 0o006:
        return ('/dev/kvm is mode %o, group %d: QEMU\'s unprivileged user cannot open it '
                '(chgrp kvm /dev/kvm && chmod 0660 /dev/kvm opens it to that user)' % (st.st_mode & 0o777, st.st_gid))
    return None


def resolve_accel(accel, direct=False):
    if accel == 'kvm':
        why = kvm_usable(direct)
        if why:
            raise Skip(why)
    elif accel != 'tcg':
        raise ValueError('accel must be kvm or tcg, not %r' % accel)
    return accel


def qemu_cpu(accel):
    """-cpu's value: the host's CPU under KVM, without IA32_ARCH_CAPABILITIES, which a nested KVM
    may refuse (QEMU 7.2 then aborts); TCG's most capable model."""
    return 'host,-arch-capabilities' if accel == 'kvm' else 'max'


def qemu_command(kernel, cmdline='', accel='tcg', machine='microvm', mem='128M', initrd=None,
                 console='/dev/null', extra=()):
    """The QEMU argument vector for one boot (also used by bench/run.py)."""
    cmd = [QEMU] + MACHINES[machine]
    cmd += ['-accel', accel, '-cpu', qemu_cpu(accel)]
    cmd += ['-m', str(mem), '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
            '-serial', 'file:' + console,
            '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
            '-kernel', kernel, '-append', cmdline]
    if initrd:
        cmd += ['-initrd', initrd]
    cmd += list(extra)
    return cmd


def _strip_firmware(text):
    """SeaBIOS (-M pc) writes its banner to COM1 before the kernel starts."""
    mark = 'Booting from ROM..'
    i = text.rfind(mark)
    if i < 0:
        return text
    # Under load it sometimes writes one more progress dot, a control byte or a line break
    # after the mark: a -M pc guest's output is compared from its first printable byte.
    rest = text[i + len(mark):]
    j = 0
    while j < len(rest) and (rest[j] == '.' or rest[j] < ' '):
        j += 1
    return rest[j:]


class BootResult:
    """One boot: `console` is the whole console text (\\r\\n folded to \\n, firmware noise cut),
    `app` what the application wrote (every line not starting with 'unik: '), `status` the N of
    the exit line or None, `returncode` QEMU's exit code, `duration` host seconds."""

    def __init__(self, console, returncode, duration, console_path, cmd, qemu_stderr):
        self.console = console
        self.returncode = returncode
        self.duration = duration
        self.console_path = console_path
        self.cmd = cmd
        self.qemu_stderr = qemu_stderr
        self.lines = console.split('\n')
        if self.lines and self.lines[-1] == '':
            self.lines.pop()
        self.runtime_lines = [l for l in self.lines if l.startswith(RUNTIME_PREFIX)]
        self.app = ''.join(l for l in console.splitlines(True)
                           if not l.startswith(RUNTIME_PREFIX))
        self.status = None
        self.exit_line_last = False
        for i, l in enumerate(self.lines):
            m = EXIT_RE.match(l)
            if m:
                self.status = int(m.group(1))
                self.exit_line_last = (i == len(self.lines) - 1)
        self.crash = [l for l in self.lines if l.startswith(CRASH_PREFIX)]

    def context(self, lines=25):
        return 'qemu exit code %s after %.2fs; console (%s):\n%s%s' % (
            self.returncode, self.duration, self.console_path, tail(self.console, lines),
            ('\nqemu stderr:\n' + tail(self.qemu_stderr, 10)) if self.qemu_stderr.strip() else '')

    def fail(self, reason):
        raise Failure(reason, self.context())

    def expect_status(self, status):
        """Assert the exit line says `status`, is the last console line, and that QEMU's exit
        code agrees."""
        if self.status is None:
            if re.search(r'.unik: exit status \d+', self.console):
                self.fail('exit line is not at the start of a console line')
            self.fail('no "unik: exit status" line (wanted %d)' % status)
        if not self.exit_line_last:
            self.fail('"unik: exit status %d" is not the last console line' % self.status)
        if self.status != status:
            self.fail('exit status %d, wanted %d' % (self.status, status))
        return self

    def expect_app(self, expected):
        if self.app != expected:
            import difflib
            diff = '\n'.join(difflib.unified_diff(expected.split('\n'), self.app.split('\n'),
                                                  'expected', 'got', lineterm='', n=2))
            raise Failure('application output differs', diff[:6000] + '\n' + self.context(10))
        return self

    def expect_in(self, needle):
        if needle not in self.console:
            self.fail('console lacks %r' % needle)
        return self


def boot(kernel, cmdline='', accel='kvm', machine='microvm', mem='128M', initrd=None,
         timeout=60, tag=None, extra=()):
    """Boot `kernel` once and return a BootResult.  accel='kvm' skips the test when KVM is not
    usable.  A boot that outlives `timeout` is killed and fails the test with the console tail;
    QEMU's exit code must match the exit line when there is one."""
    accel = resolve_accel(accel, direct=True)
    if not os.path.exists(kernel):
        raise Failure('kernel %s does not exist (was it built? run make test-apps)' % kernel)
    d = out_dir()
    n = next(_boot_counter)
    base = os.path.join(d, 'console-%d%s' % (n, '-' + tag if tag else ''))
    console_path = base + '.log'
    if os.path.exists(console_path):
        os.unlink(console_path)
    cmd = qemu_command(kernel, cmdline, accel, machine, mem, initrd, console_path, extra)
    with open(base + '.cmd', 'w') as f:
        f.write(' '.join(_shell_quote(a) for a in cmd) + '\n')
    start = time.monotonic()
    with open(base + '.qemu-stderr', 'w+b') as errf:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
        timed_out = False
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            p.send_signal(signal.SIGKILL)
            p.wait()
        duration = time.monotonic() - start
        errf.seek(0)
        qemu_stderr = errf.read().decode('utf-8', 'replace')
    try:
        with open(console_path, 'rb') as f:
            raw = f.read()
    except FileNotFoundError:
        raw = b''
    text = raw.decode('utf-8', 'replace').replace('\r\n', '\n')
    if machine in ('pc', 'q35'):
        text = _strip_firmware(text)
    r = BootResult(text, p.returncode, duration, console_path, cmd, qemu_stderr)
    if timed_out:
        r.fail('QEMU still running after %ds: killed' % timeout)
    if r.status is not None:
        want = ((r.status << 1) | 1) & 0xff
        if r.returncode != want:
            r.fail('console says exit status %d but QEMU exited with %s, not %d'
                   % (r.status, r.returncode, want))
    return r


def _shell_quote(s):
    if re.fullmatch(r'[A-Za-z0-9_./:=,+-]+', s):
        return s
    return "'" + s.replace("'", "'\\''") + "'"
