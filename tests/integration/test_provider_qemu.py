"""The qemu provider end to end, through tests/tools/provider_driver (a command-line door onto the
provider interface, one process per call, as a daemon and its restarts would make them): real
boots under KVM and TCG, exit codes, crashes, stop, SIGKILL, surviving the starter's death, and no
QEMU left behind."""

import functools
import os
import re
import signal
import subprocess
import sys
import time

from harness import Failure, accels, fail, out_dir, build_dir, bin_dir
from qemu import resolve_accel
from apps import app, build, make_cpio
from confined import check_confined, check_hidden, open_paths

_counter = [0]


def driver():
    p = os.path.join(build_dir(), 'tests', 'tools', 'provider_driver')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make test-tools)' % p)
    return p


def driver_env(accel):
    shim = os.path.join(bin_dir(), 'unik-shim')
    if not os.access(shim, os.X_OK):
        raise Failure('%s is missing (run make)' % shim)
    env = dict(os.environ, UNIK_SHIM=shim)
    if accel == 'tcg':
        env['UNIK_ACCEL'] = 'tcg'
    else:
        env.pop('UNIK_ACCEL', None)
    return env


def call(accel, *args, ok=True, env=None):
    """Runs the driver once; returns its key=value output as a dict."""
    cmd = [driver()] + [str(a) for a in args]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=dict(driver_env(accel), **(env or {})),
                       timeout=60)
    with open(os.path.join(out_dir(), 'driver.log'), 'a') as f:
        f.write('$ %s\n%s%s[exit %d]\n' % (' '.join(cmd), p.stdout, p.stderr, p.returncode))
    res = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition('=')
        res[k] = v
    if ok and p.returncode != 0:
        fail('provider_driver %s failed (exit %d): %s' % (args[0], p.returncode,
                                                         res.get('error', p.stderr.strip())))
    res['_rc'] = p.returncode
    return res


def new_dir(tag):
    _counter[0] += 1
    d = os.path.join(out_dir(), 'inst-%d-%s' % (_counter[0], tag))
    os.makedirs(d)
    return d


def console(d):
    try:
        with open(os.path.join(d, 'console.log'), 'rb') as f:
            return f.read().decode('utf-8', 'replace').replace('\r\n', '\n')
    except FileNotFoundError:
        return ''


def context(d):
    parts = ['instance dir %s' % d]
    for name in ('console.log', 'qemu.err', 'shim.log', 'exit', 'qemu.cmd'):
        p = os.path.join(d, name)
        if os.path.exists(p):
            with open(p, 'rb') as f:
                data = f.read()[-3000:].decode('utf-8', 'replace')
            parts.append('--- %s ---\n%s' % (name, data))
    return '\n'.join(parts)


def wait_console(d, needle, limit=30):
    deadline = time.monotonic() + limit
    while needle not in console(d):
        if time.monotonic() > deadline:
            raise Failure('console never showed %r' % needle, context(d))
        time.sleep(0.01)


def run(accel, d, kernel, cmdline, mem=64, initrd=None):
    args = ['run', d, kernel, cmdline, mem] + ([initrd] if initrd else [])
    r = call(accel, *args)
    if r.get('state') != 'running' or int(r.get('pid', 0)) <= 0:
        raise Failure('run did not report a running VM: %r' % r, context(d))
    return r


def status(accel, d):
    return call(accel, 'status', d)


def wait_ended(accel, d, limit=60):
    """Polls status until the instance has left pending/running."""
    deadline = time.monotonic() + limit
    while True:
        st = status(accel, d)
        if st['state'] not in ('pending', 'running'):
            return st
        if time.monotonic() > deadline:
            raise Failure('instance still %s after %ds' % (st['state'], limit), context(d))
        time.sleep(0.02)


def expect(st, state, code, d):
    if st['state'] != state or int(st['exit_code']) != code:
        raise Failure('expected %s(%d), got %s(%s) detail=%r' % (
            state, code, st['state'], st['exit_code'], st.get('detail')), context(d))


def qemu_processes(under):
    """PIDs of live processes whose command line mentions `under` (zombies excluded)."""
    pids = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                cmd = f.read()
            with open('/proc/%s/stat' % name) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except OSError:
            continue
        # A whole path component: tcg/stop must not match tcg/stop_graceful_right_after_run,
        # a test that may be running at the same time.
        u = under.rstrip('/').encode()
        if state != 'Z' and (u + b'/' in cmd or u + b'\0' in cmd):
            pids.append(int(name))
    return pids


def no_strays(fn):
    """Fails the test if any process started for it (QEMU or unik-shim) is still alive at the
    end, and kills those."""

    def wrapper(**kwargs):
        try:
            fn(**kwargs)
        finally:
            # A shim exits just after it records the end: give it a moment.
            deadline = time.monotonic() + 2
            while qemu_processes(out_dir()) and time.monotonic() < deadline:
                time.sleep(0.01)
            left = qemu_processes(out_dir())
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if left:
            fail('processes left behind: %s' % left)

    return functools.wraps(fn)(wrapper)


# ---------------------------------------------------------------------------------------------


def test_available():
    r = call('tcg', 'available', ok=False)
    if r['available'] != 'yes':
        fail('qemu provider not available: %s' % r.get('reason'))
    if r['image_format'] != 'elf':
        fail('image format %r' % r['image_format'])


@accels
@no_strays
def test_hello(accel):
    resolve_accel(accel)
    d = new_dir('hello')
    r = run(accel, d, app('hello'), 'hello world')
    for name in ('qemu.pid', 'shim.pid'):
        with open(os.path.join(d, name)) as f:
            if not re.fullmatch(r'\d+ \d+\n', f.read()):
                fail('%s is not "PID START"' % name, context(d))
    st = wait_ended(accel, d)
    expect(st, 'exited', 0, d)
    text = console(d)
    if text != 'hello from unik\nargv[0]=<hello>\nargv[1]=<world>\nunik: exit status 0\n':
        fail('console.log differs', context(d))
    with open(os.path.join(d, 'exit')) as f:
        rec = f.read()
    if 'exit_code=1\n' not in rec:
        fail('exit record lacks QEMU exit code 1 (guest status 0)', rec)
    with open(os.path.join(out_dir(), 'run-elapsed.txt'), 'a') as f:
        f.write('run() %s us\n' % r['elapsed_us'])


@accels
@no_strays
def test_exit_codes(accel):
    resolve_accel(accel)
    dirs = {}
    for code in (0, 3, 200):
        d = new_dir('exit%d' % code)
        run(accel, d, app('exitcode'), 'exitcode exit %d' % code)
        dirs[code] = d
    for code, d in dirs.items():
        st = wait_ended(accel, d)
        expect(st, 'exited', code, d)
        if 'exiting %d\n' % code not in console(d):
            fail('console lacks the app output', context(d))
        if st['pid'] != '0':
            fail('an ended instance reports pid %s' % st['pid'])


@accels
@no_strays
def test_crash(accel):
    resolve_accel(accel)
    d = new_dir('crash')
    run(accel, d, app('crash'), 'crash null')
    st = wait_ended(accel, d)
    expect(st, 'crashed', 255, d)
    if not st['detail'].startswith('unik: crash: '):
        fail('crash detail is %r' % st['detail'], context(d))


@accels
@no_strays
def test_stop(accel):
    resolve_accel(accel)
    d = new_dir('stop')
    r = run(accel, d, app('clock'), 'clock 600000')
    pid = int(r['pid'])
    # Let QEMU come up far enough to answer QMP (stop also copes with earlier).
    wait_console(d, 'wall_start')
    if status(accel, d)['state'] != 'running':
        fail('not running before stop', context(d))
    call(accel, 'stop', d, '--timeout', 10000)
    st = status(accel, d)
    expect(st, 'stopped', -1, d)
    if os.path.exists('/proc/%d' % pid) and qemu_processes(d):
        fail('QEMU still alive after stop', context(d))
    with open(os.path.join(d, 'qemu.err')) as f:
        if 'terminating on signal' in f.read():
            fail('stop used SIGTERM, not QMP quit', context(d))
    # Idempotent, also forced.
    call(accel, 'stop', d)
    call(accel, 'stop', d, '--force')
    expect(status(accel, d), 'stopped', -1, d)
    call(accel, 'remove', d)
    left = sorted(os.listdir(d))
    for gone in ('qmp.sock', 'qemu.pid', 'shim.pid'):
        if gone in left:
            fail('remove left %s' % gone, ' '.join(left))
    if 'console.log' not in left:
        fail('remove deleted console.log')


@accels
@no_strays
def test_stop_force_right_after_run(accel):
    resolve_accel(accel)
    d = new_dir('force')
    run(accel, d, app('clock'), 'clock 600000')
    call(accel, 'stop', d, '--force')
    expect(status(accel, d), 'stopped', -1, d)


@accels
@no_strays
def test_stop_graceful_right_after_run(accel):
    """stop() before QEMU has its monitor up: falls back to SIGTERM, still ends as stopped."""
    resolve_accel(accel)
    d = new_dir('early')
    run(accel, d, app('clock'), 'clock 600000')
    call(accel, 'stop', d, '--timeout', 10000)
    expect(status(accel, d), 'stopped', -1, d)


@accels
@no_strays
def test_sigkill(accel):
    resolve_accel(accel)
    d = new_dir('kill')
    r = run(accel, d, app('clock'), 'clock 600000')
    os.kill(int(r['pid']), signal.SIGKILL)
    st = wait_ended(accel, d)
    expect(st, 'crashed', -1, d)
    if st['detail'] != 'qemu killed by signal 9':
        fail('detail is %r' % st['detail'], context(d))


@accels
@no_strays
def test_sigterm_to_shim_is_forwarded(accel):
    resolve_accel(accel)
    d = new_dir('term')
    run(accel, d, app('clock'), 'clock 600000')
    wait_console(d, 'wall_start')
    with open(os.path.join(d, 'shim.pid')) as f:
        shim = int(f.read().split()[0])
    os.kill(shim, signal.SIGTERM)
    st = wait_ended(accel, d)
    expect(st, 'crashed', -1, d)
    # QEMU, up and running, says "terminating on signal 15" on its stderr and exits 0.
    if 'terminating on signal 15' not in st['detail']:
        fail('detail is %r' % st['detail'], context(d))


@accels
@no_strays
def test_remove_running_refused(accel):
    resolve_accel(accel)
    d = new_dir('rmrun')
    run(accel, d, app('clock'), 'clock 600000')
    r = call(accel, 'remove', d, ok=False)
    if r['_rc'] == 0 or r.get('code') != 'state' and 'running' not in r.get('error', ''):
        fail('remove of a running instance: %r' % r)
    call(accel, 'stop', d, '--force')
    call(accel, 'remove', d)


@accels
@no_strays
def test_survives_starter(accel):
    """The process that calls run() (a daemon) is SIGKILLed with its whole process group; the VM
    runs on, a fresh process sees it running, and its end is recorded."""
    resolve_accel(accel)
    d = new_dir('orphan')
    script = ('import subprocess, sys, time\n'
              'subprocess.run(sys.argv[1:], check=True)\n'
              'print("started", flush=True)\n'
              'time.sleep(600)\n')
    argv = [sys.executable, '-c', script, driver(), 'run', d, app('clock'), 'clock 500', '64']
    daemon = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=driver_env(accel), text=True,
                              start_new_session=True)
    # The driver's own key=value lines come first on the same pipe.
    line = ''
    while True:
        line = daemon.stdout.readline()
        if not line or 'started' in line:
            break
    if 'started' not in line:
        daemon.kill()
        fail('the starter did not start the instance', context(d))
    os.killpg(daemon.pid, signal.SIGKILL)
    daemon.wait()
    st = status(accel, d)
    if st['state'] != 'running':
        fail('after the starter died: %r' % st, context(d))
    st = wait_ended(accel, d)
    expect(st, 'exited', 0, d)
    if not os.path.exists(os.path.join(d, 'exit')):
        fail('the shim did not record the end', context(d))


@accels
@no_strays
def test_env_and_args(accel):
    resolve_accel(accel)
    d = new_dir('args')
    run(accel, d, app('args'), 'FOO=bar GREETING="hello world" args one \'two words\'')
    expect(wait_ended(accel, d), 'exited', 0, d)
    text = console(d)
    for want in ('argc=3\n', 'argv[0]=<args>\n', 'argv[2]=<two words>\n', 'env <FOO=bar>\n',
                 'env <GREETING=hello world>\n'):
        if want not in text:
            fail('console lacks %r' % want, context(d))


MEMINFO_C = r'''
#include <stdio.h>
#include <sys/sysinfo.h>
int main(void)
{
	struct sysinfo si;
	if (sysinfo(&si) != 0)
		return 1;
	printf("totalram_mb=%llu\n", (unsigned long long)si.totalram * si.mem_unit >> 20);
	return 0;
}
'''


@accels
@no_strays
def test_memory(accel):
    resolve_accel(accel)
    src = os.path.join(out_dir(), 'meminfo.c')
    with open(src, 'w') as f:
        f.write(MEMINFO_C)
    kernel = build(src, 'meminfo.elf')
    for mem in (64, 300):
        d = new_dir('mem%d' % mem)
        run(accel, d, kernel, 'meminfo', mem=mem)
        expect(wait_ended(accel, d), 'exited', 0, d)
        m = re.search(r'totalram_mb=(\d+)', console(d))
        if not m:
            fail('no totalram line', context(d))
        got = int(m.group(1))
        if not (mem * 3 // 4 <= got <= mem):
            fail('guest sees %d MiB with -m %dM' % (got, mem), context(d))


@accels
@no_strays
def test_initrd(accel):
    resolve_accel(accel)
    cpio = make_cpio([('data', None), ('data/hello.txt', b'hi from the initrd\n')],
                     os.path.join(out_dir(), 'root.cpio'))
    d = new_dir('initrd')
    run(accel, d, app('tree'), 'tree /data', initrd=cpio)
    expect(wait_ended(accel, d), 'exited', 0, d)
    if 'f /data/hello.txt 19 ' not in console(d):
        fail('the initrd file is not listed', context(d))


@accels
@no_strays
def test_confined(accel):
    """A running guest's QEMU: the unprivileged user (64122:64122 by default, UNIK_QEMU_USER
    otherwise), no capabilities, no_new_privs, a seccomp filter, and only its own files open."""
    resolve_accel(accel)
    for env, uid, gid in ((None, 64122, 64122), ({'UNIK_QEMU_USER': '64200:64201'}, 64200, 64201)):
        d = new_dir('confined')
        os.chmod(d, 0o700)  # as the daemon makes it
        r = call(accel, 'run', d, app('clock'), 'clock 600000', 64, env=env)
        wait_console(d, 'wall_start')
        pid = int(r['pid'])
        check_confined(pid, context(d), uid=uid, gid=gid)
        check_hidden(pid, context(d))
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = f.read().split(b'\0')
        if b'-sandbox' not in argv or b'elevateprivileges=deny' not in argv[argv.index(b'-sandbox') + 1]:
            fail('QEMU runs without -sandbox ...elevateprivileges=deny', repr(argv))
        with open('/proc/%d/status' % pid) as f:
            if 'CapBnd:\t0000000000000000' not in f.read():
                fail('QEMU keeps a capability bounding set', context(d))
        # Its descriptors: the kernel, its logs, pipes, sockets and devices; nothing else of
        # the host.
        for path in open_paths(pid):
            if path.startswith('/') and not (path.startswith(d) or path == app('clock') or
                                             path.startswith('/dev/')):
                fail('QEMU holds %s open' % path, '\n'.join(open_paths(pid)))
        call(accel, 'stop', d, '--timeout', 10000)
        expect(status(accel, d), 'stopped', -1, d)
    # Root is refused, with the fix in the message.
    d = new_dir('rootuser')
    r = call(accel, 'run', d, app('hello'), 'hello', 64, ok=False, env={'UNIK_QEMU_USER': '0:0'})
    if r['_rc'] == 0 or 'UNIK_QEMU_USER' not in r.get('error', '') or 'root' not in r['error']:
        fail('UNIK_QEMU_USER=0:0 was not refused: %r' % r)


@accels
@no_strays
def test_private_files(accel):
    """A kernel and initrd only root may read (0600, in a 0700 directory, as under $UNIK_HOME):
    the unprivileged QEMU still boots them, handed over as descriptors (sealed copies)."""
    resolve_accel(accel)
    private = os.path.join(out_dir(), 'private')
    os.makedirs(private, mode=0o700)
    kernel = os.path.join(private, 'tree.elf')
    with open(app('tree'), 'rb') as f, open(kernel, 'wb') as g:
        g.write(f.read())
    cpio = make_cpio([('data', None), ('data/secret.txt', b'only root reads this\n')],
                     os.path.join(private, 'root.cpio'))
    for p in (kernel, cpio):
        os.chmod(p, 0o600)
    d = new_dir('private')
    os.chmod(d, 0o700)
    run(accel, d, kernel, 'tree /data', initrd=cpio)
    expect(wait_ended(accel, d), 'exited', 0, d)
    if 'f /data/secret.txt 21 ' not in console(d):
        fail('the initrd file is not listed', context(d))


def bigout_text(lines):
    """What tests/apps/bigout.c prints for `bigout LINES`."""
    alnum = 'abcdefghijklmnopqrstuvwxyz0123456789'
    s, h, out = 1, 1469598103934665603, []
    for i in range(lines):
        line = '%07u ' % i
        for _ in range(64):
            s = (s * 1664525 + 1013904223) & 0xffffffff
            line += alnum[(s >> 24) % 36]
        line += '\n'
        for c in line.encode():
            h = ((h ^ c) * 1099511628211) & 0xffffffffffffffff
        out.append(line)
    text = ''.join(out)
    return text + 'bigout done lines=%u bytes=%u fnv=%016x\n' % (lines, len(text), h)


@accels
@no_strays
def test_console_cap(accel):
    """A guest printing well past a 32 KiB cap: console.log and console.log.1 both stay within
    it, together they are the newest output without a gap, and the exit status is still read
    from the exit line, also after a restart that appends to the same log."""
    resolve_accel(accel)
    cap, lines = 32 * 1024, 3000
    want = bigout_text(lines) + 'unik: exit status 0\n'
    d = new_dir('cap')
    for attempt in (1, 2):
        call(accel, '-o', 'console_max=32K', 'run', d, app('bigout'), 'bigout %d' % lines, 64)
        st = wait_ended(accel, d, limit=180)
        expect(st, 'exited', 0, d)
        sizes = {}
        for name in ('console.log', 'console.log.1'):
            p = os.path.join(d, name)
            if not os.path.exists(p):
                fail('%s is missing after %d bytes of output' % (name, len(want)), context(d))
            sizes[name] = os.path.getsize(p)
            if sizes[name] > cap:
                fail('%s holds %d bytes, over the %d cap' % (name, sizes[name], cap), context(d))
        with open(os.path.join(d, 'console.log.1'), 'rb') as f:
            both = f.read().decode()
        both += console(d)
        if not want.endswith(both) or len(both) < cap:
            fail('console.log.1 + console.log (%d bytes) is not the tail of the output (run %d)'
                 % (len(both), attempt), context(d))
    r = call(accel, '-o', 'console_max=1K', 'run', new_dir('badcap'), app('hello'), 'hello', 64,
             ok=False)
    if r['_rc'] == 0 or 'console_max' not in r.get('error', ''):
        fail('console_max=1K was not refused: %r' % r)


@no_strays
def test_bad_kernel():
    d = new_dir('badkernel')
    r = call('tcg', 'run', d, os.path.join(out_dir(), 'missing.elf'), '', 64, ok=False)
    if r['_rc'] == 0 or 'missing.elf' not in r.get('error', ''):
        fail('run of a missing kernel: %r' % r)
    # A file QEMU refuses: QEMU's own words end up in the detail.
    junk = os.path.join(out_dir(), 'junk.elf')
    with open(junk, 'w') as f:
        f.write('not a kernel\n')
    d = new_dir('junk')
    call('tcg', 'run', d, junk, '', 64)
    st = wait_ended('tcg', d)
    expect(st, 'crashed', -1, d)
    if 'qemu exited with status 1: ' not in st['detail']:
        fail('detail is %r' % st['detail'], context(d))


@no_strays
def test_status_of_nothing():
    d = new_dir('empty')
    expect(status('tcg', d), 'pending', -1, d)
    call('tcg', 'stop', d)
    r = call('tcg', 'status', os.path.join(d, 'nope'), ok=False)
    if r['_rc'] == 0 or r.get('code') != 'not_found':
        fail('status of a missing directory: %r' % r)
