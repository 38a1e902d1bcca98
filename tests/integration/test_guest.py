"""Guest ABI v1 end to end: real boots of the programs in tests/apps/ under microvm (PVH), each
under KVM and TCG, asserting on the console output and the exit status."""

import math
import os
import re
import subprocess
import time

from harness import Failure, Skip, accels, timeout, fail, check_equal, out_dir, REPO
from qemu import boot, resolve_accel
from apps import app, build, run_native, run_native_rss, make_cpio, APPS_SRC


def native_agrees(name, args, expected_app, expected_status, env=None, argv0=None):
    """Run the musl-gcc build under a pty and check it agrees with what the test expects of
    the guest, so that the expectation itself is Linux's behaviour.  Silently nothing when no
    native build exists (the guest assertions still run)."""
    path = os.path.join(os.path.dirname(app(name)), name + '.native')
    if not os.path.exists(path):
        return
    got, status = run_native(path, args, env=env or {}, argv0=argv0)
    if got != expected_app or status != expected_status:
        fail('the native run of %s disagrees with the expectation (status %d, want %d)'
             % (name, status, expected_status), 'native output:\n%s\nexpected:\n%s'
             % (got, expected_app))


def app_text(r):
    """The application output with the single newline the runtime may add before its exit line
    after an unterminated line taken into account: returns it as written."""
    return r.app


def args_expectation(argv, env):
    out = 'argc=%d\n' % len(argv)
    out += ''.join('argv[%d]=<%s>\n' % (i, a) for i, a in enumerate(argv))
    out += ''.join('env <%s>\n' % e for e in sorted(env))
    home = [e.split('=', 1)[1] for e in env if e.startswith('HOME=')]
    out += 'getenv(HOME)=<%s>\n' % (home[0] if home else '(null)')
    return out


# ---------------------------------------------------------------------------------------------
# Command line


@accels
def test_hello(accel):
    r = boot(app('hello'), 'hello world', accel=accel)
    r.expect_status(0).expect_app('hello from unik\nargv[0]=<hello>\nargv[1]=<world>\n')
    native_agrees('hello', ['world'], r.app, 0, argv0='hello')


@accels
def test_argv_quoting(accel):
    cmdline = ('args  plain   \'single quoted\' "double quoted" "esc \\"q\\" \\\\ back" \'\' "" '
               '"it\'s" \'say "hi"\' con\'cat\'"enated" \'  lead trail  \' last')
    argv = ['args', 'plain', 'single quoted', 'double quoted', 'esc "q" \\ back', '', '',
            "it's", 'say "hi"', 'concatenated', '  lead trail  ', 'last']
    r = boot(app('args'), cmdline, accel=accel)
    want = args_expectation(argv, [])
    r.expect_status(0).expect_app(want)
    native_agrees('args', argv[1:], want, 0, argv0='args')


@accels
def test_env_from_boot_line(accel):
    cmdline = 'FOO=bar EMPTY= GREETING="hello world" HOME=/root args x Y=1'
    env = ['FOO=bar', 'EMPTY=', 'GREETING=hello world', 'HOME=/root']
    r = boot(app('args'), cmdline, accel=accel)
    want = args_expectation(['args', 'x', 'Y=1'], env)
    r.expect_status(0).expect_app(want)
    native_agrees('args', ['x', 'Y=1'], want, 0, env=dict(e.split('=', 1) for e in env),
                  argv0='args')


@accels
def test_baked_defaults(accel):
    kernel = app('baked')
    baked_argv = ['baked-args', 'one', 'two words', 'three']
    baked_env = ['BAKED_ENV=from-build', 'SHARED=baked']

    # Empty boot line: the whole baked command line, plus the baked environment.
    r = boot(kernel, '', accel=accel, tag='empty')
    r.expect_status(0).expect_app(
        args_expectation(baked_argv, baked_env + ['BAKED_CMDLINE_ENV=1']))

    # Only environment words: they add to and override the baked environment; baked argv.
    r = boot(kernel, 'SHARED=boot NEW="n 1"', accel=accel, tag='envonly')
    r.expect_status(0)
    lines = r.app.split('\n')
    got_argv = [l for l in lines if l.startswith('argv[') or l.startswith('argc=')]
    check_equal('argv with an env-only boot line',
                '\n'.join(got_argv) + '\n',
                ''.join(l for l in args_expectation(baked_argv, []).splitlines(True)
                        if l.startswith('arg')))
    for e in ['BAKED_ENV=from-build', 'SHARED=boot', 'NEW=n 1']:
        if 'env <%s>' % e not in lines:
            r.fail('env %s missing with an env-only boot line' % e)
    if 'env <SHARED=baked>' in lines:
        r.fail('the boot line did not override the baked SHARED')

    # A full boot line: its argv replaces the baked one; baked env still applies.
    r = boot(kernel, 'SHARED=boot prog "a b"', accel=accel, tag='full')
    r.expect_status(0)
    lines = r.app.split('\n')
    check_equal('argv with a full boot line', [l for l in lines if l.startswith('arg')],
                ['argc=2', 'argv[0]=<prog>', 'argv[1]=<a b>'])
    for e in ['BAKED_ENV=from-build', 'SHARED=boot']:
        if 'env <%s>' % e not in lines:
            r.fail('env %s missing with a full boot line' % e)


# ---------------------------------------------------------------------------------------------
# stdio and exit


@accels
def test_stdio_is_a_tty(accel):
    r = boot(app('stdio'), 'stdio isatty', accel=accel)
    r.expect_status(0)
    if not re.fullmatch(r'isatty\(0\)=\d isatty\(1\)=1 isatty\(2\)=1\n', r.app):
        r.fail('stdout and stderr should be terminals: %r' % r.app)


@accels
def test_stdio_flush_at_exit(accel):
    r = boot(app('stdio'), 'stdio nonl', accel=accel, tag='return')
    r.expect_status(0)
    # The runtime may end the unterminated line before its exit line.
    if r.app not in ('first line\nno newline at the end', 'first line\nno newline at the end\n'):
        r.fail('unterminated output not flushed at return from main: %r' % r.app)
    native_agrees('stdio', ['nonl'], 'first line\nno newline at the end', 0)

    r = boot(app('stdio'), 'stdio exit', accel=accel, tag='exit')
    r.expect_status(4)
    if r.app.rstrip('\n') != 'flushed by exit':
        r.fail('unterminated output not flushed by exit(): %r' % r.app)


@accels
def test_stdio_line_buffering_order(accel):
    want = '[stderr]\nab\ne1e2\no1o2\n'
    r = boot(app('stdio'), 'stdio order', accel=accel)
    r.expect_status(0).expect_app(want)
    native_agrees('stdio', ['order'], want, 0)

    want = 'partial direct\nputs line\n'
    r = boot(app('stdio'), 'stdio fflush', accel=accel, tag='fflush')
    r.expect_status(0).expect_app(want)
    native_agrees('stdio', ['fflush'], want, 0)


@accels
def test_stdio_underscore_exit_loses_unterminated(accel):
    r = boot(app('stdio'), 'stdio _exit', accel=accel)
    r.expect_status(3)
    if r.app.rstrip('\n') != 'kept line':
        r.fail('_exit: want only "kept line", got %r' % r.app)
    native_agrees('stdio', ['_exit'], 'kept line\n', 3)


@accels
def test_exit_codes(accel):
    for how, n in [('return', 0), ('return', 1), ('return', 42), ('exit', 255), ('exit', 42),
                   ('return', 200), ('exit', 0)]:
        r = boot(app('exitcode'), 'exitcode %s %d' % (how, n), accel=accel,
                 tag='%s-%d' % (how, n))
        want = '%s %d\n' % ('returning' if how == 'return' else 'exiting', n)
        r.expect_status(n).expect_app(want)
    native_agrees('exitcode', ['return', '42'], 'returning 42\n', 42)


@accels
def test_atexit_order(accel):
    want = 'main done\natexit handler 3\natexit handler 2\natexit handler 1\n'
    r = boot(app('exitcode'), 'exitcode atexit', accel=accel)
    r.expect_status(7).expect_app(want)
    native_agrees('exitcode', ['atexit'], want, 7)


@accels
def test_setjmp_longjmp(accel):
    want = ('setjmp returned 0 (depth 0)\nsetjmp returned 50 (depth 5)\n'
            'setjmp returned 50 (depth 5)\nrounds 3\n')
    r = boot(app('exitcode'), 'exitcode setjmp', accel=accel)
    r.expect_status(0).expect_app(want)
    native_agrees('exitcode', ['setjmp'], want, 0)


# ---------------------------------------------------------------------------------------------
# Memory, libm, formatting


@accels
@timeout(600)
def test_malloc_stress(accel):
    r = boot(app('malloc'), 'malloc', accel=accel, mem='256M', timeout=400)
    want = ('small blocks ok\nrealloc growth ok (reached 17176631 bytes)\nbig blocks ok\n'
            'malloc: 0 failures\n')
    r.expect_status(0).expect_app(want)


def memstress_native():
    """The native run of tests/apps/memstress: (output, peak RSS in bytes)."""
    path = os.path.join(os.path.dirname(app('memstress')), 'memstress.native')
    if not os.path.exists(path):
        raise Skip('no native build of memstress (musl-gcc is not installed): the guest memory '
                   'bound is relative to the native peak RSS')
    out, status, rss = run_native_rss(path)
    if status != 0 or 'memstress: ok' not in out:
        fail('the native memstress run failed (status %d)' % status, out[-3000:])
    return out, rss


@accels
@timeout(600)
def test_memstress_in_native_rss_bound(accel):
    """A program whose native peak RSS is R runs in a guest of R x 1.25 + 8 MiB, with the same
    output: the runtime loses no memory to fragmentation, copies or untouched pages."""
    resolve_accel(accel, direct=True)
    want, rss = memstress_native()
    mib = math.ceil((rss * 1.25 + (8 << 20)) / (1 << 20))
    r = boot(app('memstress'), 'memstress', accel=accel, mem='%dM' % mib, timeout=400)
    if r.status != 0 or r.app != want:
        r.fail('memstress (native peak RSS %.1f MiB) did not run alike in a %d MiB guest'
               % (rss / (1 << 20), mib))
    r.expect_status(0).expect_app(want)


@accels
def test_too_little_memory_says_so(accel):
    """With less RAM than the kernel and the runtime need, the guest says how much it got and
    how much it needs, and ends with status 255 at once; with that much, hello runs."""
    need_re = re.compile(r'unik: out of memory: the guest has (\d+) KiB of RAM, the kernel '
                         r'needs at least (\d+) KiB \(give it more memory\)')
    need = None
    for mem in ('1104K', '1200K', '1280K'):  # QEMU rounds to 8 KiB
        r = boot(app('hello'), 'hello', accel=accel, mem=mem, timeout=30, tag=mem)
        r.expect_status(255)
        m = [need_re.fullmatch(l) for l in r.runtime_lines]
        m = [x for x in m if x]
        if not m or r.app:
            r.fail('-m %s: no "unik: out of memory" line saying what the guest has and needs'
                   % mem)
        if int(m[0].group(1)) != int(mem[:-1]):
            r.fail('-m %s: the guest reports %s KiB' % (mem, m[0].group(1)))
        need = int(m[0].group(2))
    r = boot(app('hello'), 'hello', accel=accel, mem='%dK' % need, tag='enough')
    r.expect_status(0).expect_app('hello from unik\nargv[0]=<hello>\n')


@accels
def test_boot_script_refuses_too_little_memory(accel):
    """scripts/boot refuses 1 MiB or less (the kernel would not even be in RAM and could not
    say so), and passes a little more on to the guest, which says so itself."""
    resolve_accel(accel, direct=True)
    script = os.path.join(REPO, 'scripts', 'boot')
    env = dict(os.environ, UNIK_ACCEL=accel, UNIK_MEM='1')
    p = subprocess.run([script, app('hello')], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 2 or 'UNIK_MEM=1 is too little' not in p.stderr:
        fail('scripts/boot with UNIK_MEM=1: exit %d' % p.returncode, p.stdout + p.stderr)
    env['UNIK_MEM'] = '1200K'
    p = subprocess.run([script, app('hello')], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=60)
    if 'unik: out of memory: the guest has 1200 KiB of RAM' not in p.stdout \
            or not p.stdout.endswith('unik: exit status 255\n'):
        fail('scripts/boot with UNIK_MEM=1200K: exit %d' % p.returncode, p.stdout + p.stderr)


@accels
def test_libm_and_printf(accel):
    with open(os.path.join(APPS_SRC, 'mathfmt.expected')) as f:
        want = f.read()
    r = boot(app('mathfmt'), 'mathfmt', accel=accel)
    r.expect_status(0).expect_app(want)
    native_agrees('mathfmt', [], want, 0)


# ---------------------------------------------------------------------------------------------
# Clocks


@accels
def test_clock_across_sleeps(accel):
    host_before = time.time()
    r = boot(app('clock'), 'clock 500', accel=accel, timeout=120)
    host_after = time.time()
    r.expect_status(0)
    vals = {}
    for line in r.app.split('\n'):
        if not line:
            continue
        head, *kvs = line.split(' ')
        for kv in kvs:
            k, _, v = kv.partition('=')
            vals['%s.%s' % (head, k)] = int(v)
    needed = ['nanosleep.elapsed_ns', 'usleep.elapsed_ns', 'clock_nanosleep.elapsed_ns',
              'clock_nanosleep_abs.elapsed_ns', 'monotonic.backwards', 'total.monotonic_ns',
              'wall_start.time', 'wall_end.time', 'wall_start.realtime_ns',
              'wall_end.realtime_ns', 'wall_start.gettimeofday_us', 'wall_end.gettimeofday_us']
    missing = [k for k in needed if k not in vals]
    if missing:
        r.fail('clock output lacks %s' % ', '.join(missing))
    slack = 2 * 10**9
    for what, req in [('nanosleep', 500 * 10**6), ('usleep', 500 * 10**6),
                      ('clock_nanosleep', 500 * 10**6), ('clock_nanosleep_abs', 100 * 10**6)]:
        got = vals[what + '.elapsed_ns']
        if got < req:
            r.fail('%s of %d ns took only %d ns by CLOCK_MONOTONIC' % (what, req, got))
        if got > req + slack:
            r.fail('%s of %d ns took %d ns by CLOCK_MONOTONIC (more than 2 s late)'
                   % (what, req, got))
    if vals.get('clock_nanosleep.rc') or vals.get('clock_nanosleep_abs.rc'):
        r.fail('clock_nanosleep returned an error')
    if vals['monotonic.backwards']:
        r.fail('CLOCK_MONOTONIC went backwards %d times' % vals['monotonic.backwards'])
    total = vals['total.monotonic_ns']
    if total > r.duration * 1e9:
        r.fail('the guest measured %.3f s but QEMU ran only %.3f s by the host clock'
               % (total / 1e9, r.duration))
    # Wall clock: after 2024, within a day of the host, and advancing across the sleeps.
    for k in ['wall_start.time', 'wall_end.time']:
        v = vals[k]
        if v < 1704067200 or abs(v - host_before) > 86400:
            r.fail('%s=%d is not plausible (host time %d)' % (k, v, host_before))
    rt0, rt1 = vals['wall_start.realtime_ns'], vals['wall_end.realtime_ns']
    if abs(rt0 / 1e9 - vals['wall_start.time']) > 2:
        r.fail('CLOCK_REALTIME (%d ns) and time() (%d) disagree' % (rt0, vals['wall_start.time']))
    if abs(vals['wall_start.gettimeofday_us'] / 1e6 - rt0 / 1e9) > 2:
        r.fail('gettimeofday and CLOCK_REALTIME disagree')
    adv = (rt1 - rt0) / 1e9
    if adv < 1.6 - 0.05 or adv > (host_after - host_before) + 1:
        r.fail('CLOCK_REALTIME advanced %.3f s across 1.6 s of sleeps (host saw %.3f s)'
               % (adv, host_after - host_before))
    if vals['wall_end.time'] < vals['wall_start.time'] + 1:
        r.fail('time() did not advance across 1.6 s of sleeps')
    if vals['wall_end.gettimeofday_us'] <= vals['wall_start.gettimeofday_us']:
        r.fail('gettimeofday did not advance')


# ---------------------------------------------------------------------------------------------
# Files


def _files_ok(r, where):
    r.expect_status(0)
    fails = [l for l in r.app.split('\n') if l.startswith('FAIL')]
    if fails:
        r.fail('%d file system checks failed in %s: %s' % (len(fails), where, '; '.join(fails)[:800]))
    m = re.search(r'^files: (\d+) checks, 0 failed$', r.app, re.M)
    if not m or int(m.group(1)) < 100:
        r.fail('file system check summary missing or short')


@accels
def test_files_tmp(accel):
    _files_ok(boot(app('files'), 'files /tmp', accel=accel), '/tmp')


@accels
def test_files_root(accel):
    _files_ok(boot(app('files'), 'files /', accel=accel), '/')


PIPE_WANT = ('poll empty: 1 in=0 out=4\nwrite: 10\npoll: 1 in=1\nfifo: 1\n'
             'lseek: -1 ESPIPE\nread 5: hello\nread 5:  pipe\n'
             'write to the read end: -1 Bad file descriptor\nread empty, non-blocking: -1 EAGAIN\n'
             'read 4: tail\nread at EOF: 0\npoll at EOF: 1 hup=1\ncloexec: 1 nonblock: 1\n'
             'big write: 65536\nwrite to a full pipe: -1 EAGAIN\n'
             'empty write with no reader: 0\nwrite with no reader: -1 EPIPE\n'
             'captured 17: through the pipe\n')


@accels
def test_pipes(accel):
    """pipe and pipe2: data in order, poll readiness and POLLHUP, EOF once every writer (dups
    included) is closed, EAGAIN when non-blocking, a 64 KiB capacity, EPIPE with no reader, a
    pipe end dup2'd onto stdout."""
    r = boot(app('pipe'), 'pipe', accel=accel)
    r.expect_status(0).expect_app(PIPE_WANT)
    native_agrees('pipe', [], r.app, 0, argv0='pipe')


@accels
def test_pipe_deadlock_reported(accel):
    """A blocking read of an empty pipe whose writer is this very thread, with no other thread
    to write: the runtime says so and exits 255 instead of hanging."""
    r = boot(app('pipe'), 'pipe deadlock', accel=accel)
    r.expect_status(255).expect_app('reading an empty pipe\n')
    if not any(l.startswith('unik: deadlock: read') for l in r.runtime_lines):
        r.fail('no "unik: deadlock: read ..." line')


@accels
def test_sigpipe_default_action(accel):
    r = boot(app('pipe'), 'pipe sigpipe', accel=accel)
    r.expect_status(141).expect_app('writing with no reader\n')
    if 'unik: killed by signal 13' not in r.runtime_lines:
        r.fail('no "unik: killed by signal 13" line')


EVENTFD_WANT = ('eventfd: 0\n'
                'cloexec: 1 nonblock: 1\n'
                'poll initial: 1 in=1 out=1\n'
                'write 4: 8\n'
                'read: 8\n'
                'value: 7\n'
                'poll drained: 1 in=0 out=1\n'
                'read empty, non-blocking: -1 EAGAIN\n'
                'read 4 bytes: -1 EINVAL\n'
                'write 4 bytes: -1 EINVAL\n'
                'write 2^64-1: -1 EINVAL\n'
                'write 2^64-2: 8\n'
                'poll full: 1 in=1 out=0\n'
                'write 1 more: -1 EAGAIN\n'
                'semaphore read: 8\n'
                'value: 1\n'
                'semaphore read: 8\n'
                'value: 1\n'
                'semaphore read: -1 EAGAIN\n'
                'value: 0\n'
                'bad flags: -1 EINVAL\n')


@accels
def test_eventfd(accel):
    """eventfd and eventfd2: a counter summed by writes and drained by reads, EFD_SEMAPHORE,
    EAGAIN when non-blocking and zero, EINVAL for short buffers and 2^64-1, poll readiness."""
    r = boot(app('eventfd'), 'eventfd', accel=accel)
    r.expect_status(0).expect_app(EVENTFD_WANT)
    native_agrees('eventfd', [], r.app, 0, argv0='eventfd')


@accels
def test_eventfd_deadlock_reported(accel):
    """A blocking read of a zero eventfd with no other thread to write it can never end."""
    r = boot(app('eventfd'), 'eventfd deadlock', accel=accel)
    r.expect_status(255).expect_app('reading a zero eventfd\n')
    if not any(l.startswith('unik: deadlock: read') for l in r.runtime_lines):
        r.fail('no "unik: deadlock: read ..." line')

MMAP_WANT = ('mprotect read-only: 0\n'
               'read after mprotect: anon middle\n'
               'mprotect the middle writable: 0\n'
               'wrote the middle: Middle\n'
               'mprotect PROT_NONE: 0\n'
               'munmap: 0\n'
               'mprotect unmapped: -1 ENOMEM\n'
               'mprotect bad prot: -1 EINVAL\n'
               'PROT_READ reads zero: 1\n'
               'rwx page runs: 42\n'
               'mprotect read-exec: 0\n'
               'rx page runs: 42\n'
               'madvise DONTNEED: 0\n'
               'after DONTNEED: x 0 0 x\n'
               'pread into a read-only page: -1 EFAULT\n'
               'shared reads the file: a b tail 0\n'
               'msync: 0\n'
               'pread after msync: 6\n'
               'file bytes: SHARED\n'
               'file tail: TAIL\n'
               'file size: 8196\n'
               'munmap shared: 0\n'
               'written back by munmap: UNMAP\n'
               'private reads the file: SHARED\n'
               'msync private: 0\n'
               'file after a private write: SHARED, mapping: PRIVAT\n'
               'read-only shared: SHARED\n'
               'mprotect it writable: 0\n'
               'shared writable map of a read-only fd: -1 EACCES\n'
               'then writable: -1 EACCES\n'
               'msync bad flags: -1 EINVAL\n')


@accels
def test_mmap(accel):
    """mprotect and PROT_READ pages (read works, a write through read(2) fails with EFAULT), W^X
    (code runs only where PROT_EXEC was asked for), MADV_DONTNEED zeroing private pages, and a
    file in /tmp mapped MAP_SHARED (msync and munmap write it back, never past its end) and
    MAP_PRIVATE (writes stay in the mapping), with Linux's EACCES and ENOMEM rules."""
    r = boot(app('mmap'), 'mmap', accel=accel)
    r.expect_status(0).expect_app(MMAP_WANT)
    native_agrees('mmap', [], r.app, 0, argv0='mmap')


def _mmap_fault(accel, mode, what):
    """A bad access to a mapping faults as on Linux: the crash report naming it and status 255
    (SIGSEGV natively)."""
    r = boot(app('mmap'), 'mmap ' + mode, accel=accel)
    _crashed(r)
    if not any(what + ', protection violation' in l for l in r.runtime_lines):
        r.fail('no "%s, protection violation" in the crash report' % what)
    native_agrees('mmap', [mode], 'before the crash\n', -11, argv0='mmap')


@accels
def test_mmap_write_to_read_only(accel):
    """A write to a page mprotect made read-only."""
    _mmap_fault(accel, 'ro', 'write')


@accels
def test_mmap_write_to_read_only_file_mapping(accel):
    """A write to a PROT_READ MAP_SHARED file mapping."""
    _mmap_fault(accel, 'rofile', 'write')


@accels
def test_mmap_no_exec(accel):
    """W^X: a jump into a page mapped PROT_READ|PROT_WRITE."""
    _mmap_fault(accel, 'exec', 'instruction fetch')


@accels
def test_image_text_read_only(accel):
    """W^X for the image: a write to the program's own code."""
    _mmap_fault(accel, 'text', 'write')


@accels
def test_image_rodata_read_only(accel):
    """A write to the program's constants."""
    _mmap_fault(accel, 'rodata', 'write')


@accels
def test_image_data_no_exec(accel):
    """W^X for the image: a jump into .data."""
    _mmap_fault(accel, 'dataexec', 'instruction fetch')


@accels
def test_stack_no_exec(accel):
    """The stack is not executable."""
    _mmap_fault(accel, 'stackexec', 'instruction fetch')


EPOLL_WANT = ('epoll cloexec: 1 flags: 0x2\n'
              'epoll_create(0): -1 EINVAL\n'
              'epoll_create1(bad flags): -1 EINVAL\n'
              'add pipe: 0\n'
              'add again: -1 EEXIST\n'
              'mod unwatched: -1 ENOENT\n'
              'del unwatched: -1 ENOENT\n'
              'add itself: -1 EINVAL\n'
              'add bad fd: -1 EBADF\n'
              'bad op: -1 EINVAL\n'
              'add a regular file: -1 EPERM\n'
              'ctl on a non-epoll fd: -1 EINVAL\n'
              'wait maxevents 0: -1 EINVAL\n'
              'wait on a non-epoll fd: -1 EINVAL\n'
              'wait bad fd: -1 EBADF\n'
              'level, empty: 0\n'
              'level, data: 1 [0x1122334455667788 0x1]\n'
              'level, again: 1 [0x1122334455667788 0x1]\n'
              'level, drained: 0\n'
              'add eventfd edge: 0\n'
              'edge, empty: 0\n'
              'edge, counter 1: 1 [0x2 0x1]\n'
              'edge, again: 0\n'
              'edge, drained: 0\n'
              'both ready: 2 [0x2 0x1] [0x1122334455667788 0x1]\n'
              'maxevents 1: 1 [0x1122334455667788 0x1]\n'
              'mod eventfd in, oneshot: 0\n'
              'oneshot: 1 [0x3 0x1]\n'
              'oneshot, disabled: 0\n'
              'rearm: 0\n'
              'oneshot, rearmed: 1 [0x4 0x1]\n'
              'del eventfd: 0\n'
              'del again: -1 ENOENT\n'
              'timeout 50 ms: 0\n'
              'waited at least 50 ms: yes\n'
              'wait -1 for a thread: 1 [0x1122334455667788 0x1]\n'
              'read: from a thread\n'
              'add ep2 to ep: 0\n'
              'add ep to ep2 (loop): -1 ELOOP\n'
              'poll ep2: 1 revents 0x1\n'
              'ep sees ep2: 1 [0x6 0x1]\n'
              'poll ep2 drained: 0\n'
              'ep, drained: 0\n'
              'closed, dup open: 1 [0x7 0x1]\n'
              'closed, dup closed: 0\n'
              'writer closed: 1 [0x1122334455667788 0x10]\n'
              'select empty pipe: 1 r0=0 r1=0 w1=1\n'
              'select with data: 2 r0=1 w1=1\n'
              'select a closed fd: -1 EBADF\n'
              'select nfds -1: -1 EINVAL\n'
              'select timeout: 0 r0=0 at least 30 ms: yes\n'
              'pselect: 1 w1=1\n'
              'select at EOF: 1 r0=1\n'
              'timerfd cloexec: 1 nonblock: 1\n'
              'timerfd bad clock: -1 EINVAL\n'
              'timerfd bad flags: -1 EINVAL\n'
              'read disarmed: -1 EAGAIN\n'
              'disarmed: 0.000000000\n'
              'settime: 0\n'
              'interval 0.020000000, value at most 20 ms: yes\n'
              'read 4 bytes: -1 EINVAL\n'
              'poll expired: 1 revents 0x1\n'
              'read: 8\n'
              'at least 5 expirations: yes\n'
              'settime bad nsec: -1 EINVAL\n'
              'settime not a timerfd: -1 EINVAL\n'
              'disarm: 0\n'
              'old interval 0.020000000\n'
              'blocking read: 8\n'
              'count 1 after at least 30 ms: yes\n'
              'expired one-shot: 0.000000000\n'
              'settime absolute: 0\n'
              'epoll on a timerfd: 1 [0x9 0x1]\n'
              'read: 8\n'
              'count 1\n'
              'realtime read: 8\n'
              'count 1\n'
              'dup3 same fd: -1 EINVAL\n'
              'dup3 same closed fd: -1 EINVAL\n'
              'dup3 bad flags: -1 EINVAL\n'
              'dup3 closed fd: -1 EBADF\n'
              'dup3 cloexec: 20\n'
              'cloexec: 1\n'
              'dup2 same fd: 3\n'
              'shared nonblock: 1\n'
              'read non-blocking: -1 EAGAIN\n')


@accels
def test_epoll_select_timerfd(accel):
    """epoll (errors as Linux, level, EPOLLET, EPOLLONESHOT, EPOLLHUP, a watch ending with its
    file, nesting and ELOOP, a thread waking epoll_wait), select and pselect, timerfd counts,
    blocking and absolute timers, and dup3's checks."""
    r = boot(app('epoll'), 'epoll', accel=accel)
    r.expect_status(0).expect_app(EPOLL_WANT)
    native_agrees('epoll', [], r.app, 0, argv0='epoll')


THREADS_WANT = ('producer/consumer: 64 threads, items 3200 (joined 3200), sum 5118400 '
                '(want 5118400)\n'
                'tls: 8 of 8 threads saw their own copy, main\'s is still 1\n'
                'join: sum of squares 0..15 = 1240\n'
                'pipe: the blocked reader got 7 bytes: wake up\n'
                'timedwait: ETIMEDOUT after at least 20 ms: yes\n'
                'create+join: 300 of 300\n'
                'preemption: both spinners finished\n'
                'sleepers: 100 ms slept in all, in parallel\n')


@accels
def test_threads(accel):
    """pthreads on one vCPU: a 64-thread producer/consumer on a mutex and condition variables,
    thread-local storage, join results, a reader blocked in read on a pipe woken by another
    thread, a timed wait timing out, 300 create+join pairs, preemption of a thread that never
    yields, and threads sleeping at once."""
    r = boot(app('threads'), 'threads', accel=accel)
    r.expect_status(0).expect_app(THREADS_WANT)
    native_agrees('threads', [], r.app, 0, argv0='threads')


@accels
def test_threads_deadlock_reported(accel):
    """Every thread waits on a futex nobody will wake, and no timer is armed: the runtime says
    so and exits 255 (natively the program hangs)."""
    r = boot(app('threads'), 'threads deadlock', accel=accel)
    r.expect_status(255).expect_app('joining a thread that waits for a lock this thread holds\n')
    if not any(l.startswith('unik: deadlock: futex wait, and all 2 threads wait')
               for l in r.runtime_lines):
        r.fail('no "unik: deadlock: futex wait, and all 2 threads wait ..." line')


def fnv1a64(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xffffffffffffffff
    return h


def tree_expectation(entries, roots):
    """What tree.c prints for the given {path: bytes or None (directory)} under roots."""
    out = []

    def walk(p):
        c = entries[p]
        if c is None:
            out.append('d %s' % p)
            kids = sorted(k[len(p) + 1:] for k in entries
                          if k.startswith(p.rstrip('/') + '/') and '/' not in k[len(p) + 1:]
                          and k != p)
            for k in kids:
                walk(p.rstrip('/') + '/' + k)
        else:
            out.append('f %s %d %016x' % (p, len(c), fnv1a64(c)))

    for r in roots:
        walk(r)
    return '\n'.join(out) + '\ntree: 0 errors\n'


ETC_HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'


def with_etc_defaults(ents):
    """The tree the guest shows: what the image holds, plus the /etc files the runtime adds
    where the image has none."""
    ents = dict(ents)
    for name, content in (('passwd', 'root:x:0:0:root:/root:/bin/sh\n'),
                          ('group', 'root:x:0:\n'), ('hosts', ETC_HOSTS)):
        ents.setdefault('/etc/' + name, content.encode())
    return ents


def initrd_entries():
    blob = bytes((i * 131 + 7) & 0xff for i in range(70000))
    return [
        ('init-data', None),
        ('init-data/readme.txt', b'seeded from an initrd\n'),
        ('init-data/empty', b''),
        ('init-data/blob.bin', blob),
        ('init-data/dir', None),
        ('init-data/dir/deeper', None),
        ('init-data/dir/deeper/leaf.txt', b'leaf\n' * 100),
    ]


@accels
def test_initrd_files(accel):
    ents = initrd_entries()
    cpio = make_cpio(ents, os.path.join(out_dir(), 'root.cpio'))
    r = boot(app('tree'), 'tree /init-data', accel=accel, initrd=cpio)
    want = tree_expectation({'/' + n: c for n, c in ents}, ['/init-data'])
    r.expect_status(0).expect_app(want)
    # The seeded tree is writable like the rest.
    r = boot(app('files'), 'files /init-data/dir', accel=accel, initrd=cpio, tag='files')
    _files_ok(r, '/init-data/dir')


@accels
def test_initrd_with_cpio_tool(accel):
    """An archive made by cpio(1) -H newc, as users would."""
    import shutil
    import subprocess
    if not shutil.which('cpio'):
        raise Skip('cpio(1) is not installed')
    src = os.path.join(out_dir(), 'tree')
    os.makedirs(os.path.join(src, 'etc', 'conf.d'))
    files = {'etc/hosts': b'127.0.0.1 localhost\n', 'etc/conf.d/app.conf': b'key = value\n' * 3}
    for n, c in files.items():
        with open(os.path.join(src, n), 'wb') as f:
            f.write(c)
    names = ['etc', 'etc/conf.d', 'etc/conf.d/app.conf', 'etc/hosts']
    archive = os.path.join(out_dir(), 'tool.cpio')
    with open(archive, 'wb') as f:
        subprocess.run(['cpio', '-o', '-H', 'newc', '--quiet'], cwd=src, check=True,
                       input=('\n'.join(names) + '\n').encode(), stdout=f)
    r = boot(app('tree'), 'tree /etc', accel=accel, initrd=archive)
    ents = {'/etc': None, '/etc/conf.d': None}
    ents.update({'/' + n: c for n, c in files.items()})
    # Its own /etc/hosts wins, byte for byte; passwd and group are added.
    r.expect_status(0).expect_app(tree_expectation(with_etc_defaults(ents), ['/etc']))


@accels
def test_etc_passwd_group_hosts(accel):
    """getpwuid(getuid()) and getgrgid(getgid()) find root, and /etc/hosts names localhost,
    as on a Linux root file system (Debian's dc crashed on a NULL getpwuid)."""
    r = boot(app('etc'), 'etc /etc/hosts /etc/passwd /etc/group', accel=accel)
    r.expect_status(0).expect_app(
        'passwd: root uid=0 gid=0 home=/root shell=/bin/sh\ngroup: root gid=0\n'
        '== /etc/hosts\n' + ETC_HOSTS + '== end\n'
        '== /etc/passwd\nroot:x:0:0:root:/root:/bin/sh\n== end\n'
        '== /etc/group\nroot:x:0:\n== end\n')


@accels
def test_etc_from_the_image_wins(accel):
    """A root file system that brings its own /etc/passwd keeps it byte for byte; what it
    lacks (/etc/group, /etc/hosts) is still added."""
    root = os.path.join(out_dir(), 'rootfs')
    os.makedirs(os.path.join(root, 'etc'), exist_ok=True)
    passwd = 'admin:x:0:0:The Admin:/home/admin:/bin/ash\nnobody:x:65534:65534::/:/bin/false'
    with open(os.path.join(root, 'etc', 'passwd'), 'w') as f:
        f.write(passwd)  # no final newline: byte for byte
    kernel = build('etc.c', 'etc-own.elf', ['--unik-rootfs', root])
    r = boot(kernel, 'etc /etc/passwd /etc/hosts', accel=accel)
    r.expect_status(0).expect_app(
        'passwd: admin uid=0 gid=0 home=/home/admin shell=/bin/ash\ngroup: root gid=0\n'
        '== /etc/passwd\n' + passwd + '== end\n== /etc/hosts\n' + ETC_HOSTS + '== end\n')


def rootfs_data_entries():
    base = os.path.join(APPS_SRC, 'rootfs-data')
    ents = {}
    for root, dirs, files in os.walk(base):
        rel = '/' + os.path.relpath(root, base) if root != base else '/'
        if rel != '/':
            ents[rel] = None
        for fn in files:
            with open(os.path.join(root, fn), 'rb') as f:
                ents[(rel.rstrip('/')) + '/' + fn] = f.read()
    return ents


@accels
def test_embedded_rootfs(accel):
    ents = rootfs_data_entries()
    r = boot(app('rootfs'), '', accel=accel)
    r.expect_status(0).expect_app(tree_expectation(with_etc_defaults(ents), ['/data', '/etc']))
    # The boot line replaces the baked arguments; /tmp exists next to the embedded tree.
    r = boot(app('rootfs'), 'tree /data/sub /tmp', accel=accel, tag='override')
    ents['/tmp'] = None
    r.expect_status(0).expect_app(tree_expectation(ents, ['/data/sub', '/tmp']))


# ---------------------------------------------------------------------------------------------
# Lots of output


def bigout_expectation(lines):
    alnum = b'abcdefghijklmnopqrstuvwxyz0123456789'
    s = 1
    out = bytearray()
    for i in range(lines):
        out += b'%07u ' % i
        for _ in range(64):
            s = (s * 1664525 + 1013904223) & 0xffffffff
            out.append(alnum[(s >> 24) % 36])
        out.append(10)
    return bytes(out)


@accels
@timeout(900)
def test_bulk_output_intact(accel):
    lines = 57456  # about 4 MiB
    r = boot(app('bigout'), 'bigout %d' % lines, accel=accel, timeout=800)
    r.expect_status(0)
    want = bigout_expectation(lines)
    summary = 'bigout done lines=%d bytes=%d fnv=%016x\n' % (lines, len(want), fnv1a64(want))
    got = r.app.encode()
    if got == want + summary.encode():
        return
    # Say where it first went wrong.
    n = min(len(got), len(want))
    i = next((k for k in range(n) if got[k] != want[k]), n)
    line = want[:i].count(b'\n')
    r.fail('%d MB of output not intact: got %d bytes, want %d; first difference at byte %d '
           '(line %d): got %r, want %r' % (len(want) >> 20, len(got), len(want) + len(summary), i,
                                           line, got[i:i + 40], want[i:i + 40]))


# ---------------------------------------------------------------------------------------------
# Crashes and unsupported system calls


def _crashed(r):
    r.expect_status(255)
    if not r.crash:
        r.fail('no "unik: crash: " report')
    before = r.console.find('before the crash\n')
    if before < 0 or before > r.console.find('unik: crash: '):
        r.fail('the output before the crash is missing or after the report')
    if 'still alive' in r.console:
        r.fail('the program went on after the crash')


@accels
def test_crash_null_dereference(accel):
    _crashed(boot(app('crash'), 'crash null', accel=accel))


@accels
def test_crash_abort(accel):
    _crashed(boot(app('crash'), 'crash abort', accel=accel))


@accels
def test_unsupported_syscall_reported_once(accel):
    r = boot(app('unsupported'), 'unsupported', accel=accel)
    r.expect_status(0)
    r.expect_app('call 1: r=-1 errno=ENOSYS\ncall 2: r=-1 errno=ENOSYS\ncarried on\n')
    reports = [l for l in r.runtime_lines if l.startswith('unik: unsupported syscall ')]
    fork = [l for l in reports if re.fullmatch(r'unik: unsupported syscall ptrace \(101\)', l)]
    if len(fork) != 1:
        r.fail('want exactly one "unik: unsupported syscall ptrace (101)" line, got %d: %r'
               % (len(fork), reports))
    if r.console.index(fork[0]) > r.console.index('call 1:'):
        r.fail('the unsupported report comes after the first call returned')


@accels
def test_no_other_process(accel):
    """fork, vfork and execve fail with ENOSYS and wait4 with ECHILD, as under a process limit,
    so system() and posix_spawn report an error; none of them is an "unsupported" call."""
    r = boot(app('spawn'), 'spawn', accel=accel)
    r.expect_status(0)
    r.expect_app('system: -1 ENOSYS\nposix_spawn: ENOSYS\nfork: -1 ENOSYS\nvfork: -1 ENOSYS\n'
                 'execve: -1 ENOSYS\nwaitpid: -1 ECHILD\ncarried on\n')
    names = ('clone', 'fork', 'vfork', 'execve', 'wait4')
    bad = [l for l in r.runtime_lines if l.startswith('unik: unsupported syscall ')
           and l.split()[3] in names]
    if bad:
        r.fail('process calls reported as unsupported: %r' % bad)


# ---------------------------------------------------------------------------------------------
# The process: signals, bad pointers, the stack, identity


@accels
def test_signal_handlers(accel):
    """raise() blocks signals around tkill, so delivery must wait for the unblocking call;
    handlers return through sa_restorer; SA_SIGINFO, SA_RESETHAND, SIG_IGN and a blocked signal
    behave as on Linux."""
    r = boot(app('process'), 'process signals', accel=accel)
    r.expect_status(0).expect_app(
        'handler: signal 10\nafter raise: got=10\nhandler: signal 10\n'
        'double survives: 3.00 got=20\nsiginfo: signo=12 code_is_tkill=1 got=32\n'
        'reset to default: 1\nignored: got=32\nblocked: got=32\n')
    native_agrees('process', ['signals'], r.app, 0, argv0='process')


SIGNALS_WANT = ('SIGSEGV: sig=11 maperr=1 addr=24 blocked in handler=1 after=0\n'
                'SIGSEGV ucontext: trapno=14 err=6 cr2=24\n'
                'SIGSEGV again: sig=11 addr=32\n'
                'read-only write: sig=11 accerr=1 addr ok=1 err=7, then writable: 1 42\n'
                'SIGFPE: sig=8 intdiv=1 addr_is_rip=1\n'
                'SIGFPE (x87): sig=8 fltdiv=1 addr_is_rip=1 masked after=1\n'
                'SIGILL: sig=4 illopn=1 addr_is_rip=1 rax=42 rcx=7 r11=9 r8=5\n'
                'SIGTRAP: sig=5 code=128\n'
                'sigaltstack too small: -1 ENOMEM\n'
                'sigaltstack bad flags: -1 EINVAL\n'
                'sigaltstack at first: disabled=1\n'
                'sigaltstack set: 0\n'
                'sigaltstack now: flags=0 size_ok=1 sp_ok=1\n'
                'stack overflow: sig=11 on altstack=1 reported onstack=1 EPERM while on=1\n'
                'after: flags=0\n'
                'disabled: 1\n'
                'kill: sig=10 si_user=1 pid_ok=1 blocked in handler=1 after=0\n'
                'raise: sig=10 si_tkill=1\n'
                'blocked: delivered=0 pending=1\n'
                'unblocked: delivered=10 pending=0\n'
                'ignored while pending: pending=0\n'
                'sigtimedwait, nothing sent: -1 EAGAIN waited=1\n'
                'sigtimedwait, pending: 12 signo=12 si_tkill=1\n'
                'sigtimedwait, polling: -1 EAGAIN\n'
                'sigsuspend: -1 EINTR sig=10 still blocked=1\n'
                'sigwaitinfo: 12\n'
                'spinning thread: handled=1 xmm7=7.0\n'
                'done\n')


@accels
def test_signals_from_faults(accel):
    """The program's own faults reach its handlers as on Linux (siginfo, a ucontext whose
    registers rt_sigreturn takes back, siglongjmp out), stack overflow is caught on a
    sigaltstack, and kill, raise, masks, sigtimedwait, sigsuspend and a signal to a thread
    that never enters the kernel behave as natively."""
    r = boot(app('signals'), 'signals', accel=accel, mem='64M')
    r.expect_status(0).expect_app(SIGNALS_WANT)
    native_agrees('signals', [], r.app, 0, argv0='signals')


@accels
def test_signal_from_sse_exception(accel):
    """An unmasked SSE exception is SIGFPE with the FPE_FLT* code from MXCSR, and the handler
    starts with the default MXCSR.  QEMU's TCG raises no SIMD floating-point exceptions."""
    if resolve_accel(accel, direct=True) == 'tcg':
        raise Skip('TCG does not raise SIMD floating-point exceptions (#XM)')
    want = 'SIGFPE (SSE): sig=8 fltdiv=1 addr_is_rip=1 masked after=1 c=0.0\n'
    r = boot(app('signals'), 'signals sse', accel=accel)
    r.expect_status(0).expect_app(want)
    native_agrees('signals', ['sse'], r.app, 0, argv0='signals')


@accels
def test_unhandled_faults_crash(accel):
    """A fault whose signal is ignored or blocked, or whose handler has no stack left for its
    frame, ends the program with the crash report, as Linux kills it."""
    for how in ('ignored', 'blocked', 'nostack'):
        _crashed(boot(app('signals'), 'signals ' + how, accel=accel, mem='64M', tag=how))


@accels
def test_sigterm_default_action(accel):
    r = boot(app('process'), 'process sigterm', accel=accel)
    r.expect_status(143).expect_app('sending SIGTERM to myself\n')
    if 'unik: killed by signal 15' not in r.runtime_lines:
        r.fail('no "unik: killed by signal 15" line')


@accels
def test_bad_pointer_is_efault(accel):
    r = boot(app('process'), 'process efault', accel=accel)
    r.expect_status(0).expect_app('write(bad pointer) = -1 errno=EFAULT\n'
                                  'open(bad pointer) = -1 errno=EFAULT\n')
    native_agrees('process', ['efault'], r.app, 0, argv0='process')


@accels
def test_stack_grows_to_megabytes(accel):
    r = boot(app('process'), 'process stack', accel=accel, mem='64M')
    r.expect_status(0).expect_app('deep recursion: 5165\n')
    native_agrees('process', ['stack'], r.app, 0, argv0='process')


@accels
def test_stack_overflow_is_a_crash(accel):
    r = boot(app('process'), 'process overflow', accel=accel, mem='64M')
    r.expect_status(255)
    if 'unik: crash: stack overflow: the 8 MiB stack is used up' not in r.runtime_lines:
        r.fail('no stack overflow line in the crash report')


@accels
def test_identity_and_devices(accel):
    r = boot(app('process'), 'process identity', accel=accel)
    r.expect_status(0).expect_app(
        'uname: Linux x86_64\npid=1 ppid=0 uid=0 gid=0\nisatty: stdin=1 stdout=1 stderr=1\n'
        'cpus=1 pagesize=4096\nstack limit=8388608\ngetrandom: 16 16 differ=1\n'
        '/dev/zero read=8 zero=1 /dev/null write=3\n')


# ---------------------------------------------------------------------------------------------
# Other ways in


def test_multiboot_pc_hello():
    """The multiboot v1 variant through SeaBIOS and QEMU's multiboot loader on -M pc."""
    r = boot(app('hello', 'mb1.elf'), 'hello first "second arg"', accel='tcg', machine='pc',
             timeout=120)
    r.expect_status(0).expect_app(
        'hello from unik\nargv[0]=<hello>\nargv[1]=<first>\nargv[2]=<second arg>\n')


def test_multiboot_pc_env():
    r = boot(app('args', 'mb1.elf'), 'A=1 B="x y" args z', accel='tcg', machine='pc',
             timeout=120)
    r.expect_status(0).expect_app(args_expectation(['args', 'z'], ['A=1', 'B=x y']))


def test_multiboot_pc_empty_cmdline():
    """With no -append, multiboot still passes the kernel path; the runtime must drop it and
    fall back to the baked argv[0] (the output's basename)."""
    r = boot(app('hello', 'mb1.elf'), '', accel='tcg', machine='pc', timeout=120)
    r.expect_status(0).expect_app('hello from unik\nargv[0]=<hello.mb1.elf>\n')


@accels
def test_multifile_makefile_app(accel):
    r = boot(app('multifile'), 'multifile alpha beta gamma12', accel=accel)
    r.expect_status(3).expect_app(
        'multifile: words=3 letters=14 mean=4.667 sqrt(letters)=3.7417\n')
