"""Guest test programs: where apps.mk put them, building more with unik-cc on the fly, running
the native musl build under a pseudo-terminal, and making newc cpio archives."""

import os
import pty
import select
import shutil
import subprocess
import time

from harness import Skip, Failure, build_dir, bin_dir, out_dir, tail, REPO

APPS_SRC = os.path.join(REPO, 'tests', 'apps')


def app(name, variant='elf'):
    """Path of a prebuilt guest app: variant 'elf' (PVH), 'mb1.elf' (multiboot v1) or
    'native' (musl-gcc -static)."""
    p = os.path.join(build_dir(), 'tests', 'apps', '%s.%s' % (name, variant))
    if not os.path.exists(p):
        raise Failure('%s was not built (run make test-apps)' % p)
    return p


def unik_cc():
    p = os.path.join(bin_dir(), 'unik-cc')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make)' % p)
    return p


def run_unik_cc(args, cwd=None, timeout=120):
    """Run unik-cc with an argument vector; returns the CompletedProcess (text output)."""
    cmd = [unik_cc()] + list(args)
    env = dict(os.environ)
    rt = os.path.join(build_dir(), 'runtime')
    if 'UNIK_RUNTIME_DIR' not in env and os.path.exists(os.path.join(rt, 'unikrt.o')):
        env['UNIK_RUNTIME_DIR'] = rt
    p = subprocess.run(cmd, cwd=cwd or out_dir(), stdin=subprocess.DEVNULL, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    with open(os.path.join(out_dir(), 'unik-cc.log'), 'a') as f:
        f.write('$ %s\n%s%s[exit %d]\n' % (' '.join(cmd), p.stdout, p.stderr, p.returncode))
    return p


def build(sources, output, flags=()):
    """Build a guest app into this test's output directory; fails the test on error."""
    if isinstance(sources, str):
        sources = [sources]
    srcs = [s if os.path.isabs(s) else os.path.join(APPS_SRC, s) for s in sources]
    out = os.path.join(out_dir(), output)
    p = run_unik_cc(['-O2'] + list(flags) + ['-o', out] + srcs)
    if p.returncode != 0 or not os.path.exists(out):
        raise Failure('unik-cc failed (exit %d) building %s' % (p.returncode, output),
                      tail(p.stdout + p.stderr))
    return out


def run_native(path, args=(), env=None, timeout=60, argv0=None):
    """Run a native build with stdout and stderr on a pseudo-terminal, so stdio buffers as it
    does on the unik console.  Returns (output with \\r\\n folded, exit status)."""
    if not os.path.exists(path):
        raise Skip('native build %s is missing (musl-gcc not installed?)' % path)
    master, slave = pty.openpty()
    argv = [argv0 or path] + list(args)
    p = subprocess.Popen(argv, executable=path, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                         env=env if env is not None else {}, cwd=out_dir(), close_fds=True)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        r, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            p.kill()
            raise Failure('native %s timed out' % path)
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    status = p.wait()
    return b''.join(chunks).decode('utf-8', 'replace').replace('\r\n', '\n'), status


def make_cpio(entries, path):
    """Write a newc cpio archive.  entries: list of (name, content) where content is bytes for a
    regular file or None for a directory."""
    ino = 1
    out = bytearray()

    def pad4():
        while len(out) % 4:
            out.append(0)

    def add(name, mode, data):
        nonlocal ino
        nb = name.encode() + b'\0'
        hdr = '070701' + ''.join('%08X' % v for v in (
            ino, mode, 0, 0, 1 if not (mode & 0o040000) else 2, 0, len(data), 0, 0, 0, 0,
            len(nb), 0))
        ino += 1
        out.extend(hdr.encode())
        out.extend(nb)
        pad4()
        out.extend(data)
        pad4()

    for name, content in entries:
        if content is None:
            add(name, 0o040755, b'')
        else:
            add(name, 0o100644, content)
    add('TRAILER!!!', 0, b'')
    with open(path, 'wb') as f:
        f.write(out)
    return path


def run_native_rss(path, args=(), timeout=300):
    """Run a native program with its output captured; returns (stdout text, exit status, peak
    RSS in bytes from wait4's ru_maxrss).  Fails the test if it outlives `timeout`."""
    import signal
    import tempfile
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen([path] + list(args), stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(p.pid, signal.SIGKILL)
                os.wait4(p.pid, 0)
                raise Failure('%s still running after %ds: killed' % (path, timeout))
            time.sleep(0.05)
        out.seek(0)
        text = out.read().decode('utf-8', 'replace')
    return text, os.waitstatus_to_exitcode(status), ru.ru_maxrss * 1024
