"""The xen provider on this host, and the `xl` export format.  This machine has no Xen hypervisor,
so: the provider must say so at once, in libxl's own words (through provider_driver and through
`unik providers`), `run` must fail fast with that reason and leave nothing behind, and the xl.cfg
that `unik export --format xl` writes is read back with libxlutil itself (ctypes), the parser
`xl create` uses.  A real boot needs a Xen dom0 (docs/providers/xen.md)."""

import ctypes
import ctypes.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Failure, Skip, fail, out_dir, build_dir, tail  # noqa: E402
from apps import app  # noqa: E402
from test_cli import HELLO, Home, need_core  # noqa: E402

XEN_CAPS = '/proc/xen/capabilities'
# The image's baked command line: quotes and a backslash, which xl.cfg must carry intact.
ARGS = 'hello "from xl" \'back\\slash\' \'a"b\''
ARGV = ['hello', 'from xl', 'back\\slash', 'a"b']


def need_no_xen():
    if os.path.exists(XEN_CAPS):
        raise Skip('this host runs Xen (%s exists): the "unavailable" checks do not apply'
                   % XEN_CAPS)


def driver():
    p = os.path.join(build_dir(), 'tests', 'tools', 'provider_driver')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make test-tools)' % p)
    return p


def call(*args):
    cmd = [driver(), '-p', 'xen'] + [str(a) for a in args]
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    dt = time.monotonic() - t0
    with open(os.path.join(out_dir(), 'driver.log'), 'a') as f:
        f.write('$ %s   (%.3fs)\n%s%s[exit %d]\n' % (' '.join(cmd), dt, p.stdout, p.stderr,
                                                      p.returncode))
    res = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition('=')
        res[k] = v
    return p.returncode, res, dt


def check_reason(reason):
    # libxl's own words (its context "libxl: ...") and what they mean here.
    for needle in ('libxl cannot open a context', 'libxl: ',
                   'this host is not running the Xen hypervisor'):
        if needle not in reason:
            fail('the reason lacks %r' % needle, reason)


def test_xen_unavailable_in_libxl_words():
    need_no_xen()
    rc, res, dt = call('available')
    if rc != 1 or res.get('available') != 'no':
        fail('xen says it is available on a host without Xen (exit %d)' % rc, str(res))
    check_reason(res.get('reason', ''))
    if res.get('image_format') != 'elf':
        fail('image_format %r, wanted elf' % res.get('image_format'))
    # `unik providers` asks every provider: a refusal costs milliseconds (process start
    # included), never seconds.
    if dt > 2.0:
        fail('available took %.2f s' % dt)


def test_xen_run_fails_fast_and_leaves_nothing():
    need_no_xen()
    _, avail, _ = call('available')
    d = os.path.join(out_dir(), 'inst')
    os.makedirs(d)
    kernel = app('hello')
    rc, res, dt = call('-i', 'abcdefabcdef', '-n', 'fails', 'run', d, kernel, 'hello x', 64)
    if rc != 1 or res.get('code') != 'unsupported':
        fail('run on a host without Xen: exit %d, code %r' % (rc, res.get('code')), str(res))
    if avail['reason'] not in res.get('error', ''):
        fail('run gives another reason than available', '%s\nvs\n%s' % (res.get('error'),
                                                                        avail['reason']))
    if dt > 2.0:
        fail('run took %.2f s to fail' % dt)
    left = os.listdir(d)
    if left:
        fail('run left files behind: %s' % left)


def test_cli_providers_run_and_export_xl():
    need_core()
    need_no_xen()
    with Home() as h:
        h.ok(['build', '--name', 'hello', '--args', ARGS, HELLO])
        p = h.ok(['providers'])
        line = [ln for ln in p.stdout.splitlines() if ln.startswith('xen: ')]
        if not line or not line[0].startswith('xen: unavailable (libxl cannot open a context'):
            fail('`unik providers` does not show xen as unavailable with libxl\'s reason',
                 p.stdout)
        provs = {x['name']: x for x in h.json(['providers'])}
        check_reason(provs['xen']['reason'])

        t0 = time.monotonic()
        p = h.run(['run', '--provider', 'xen', 'hello'], timeout=60)
        dt = time.monotonic() - t0
        if p.returncode == 0:
            fail('`unik run --provider xen` succeeded without Xen', p.stdout + p.stderr)
        if 'libxl cannot open a context' not in p.stderr:
            fail('`unik run --provider xen` does not give libxl\'s reason', tail(p.stderr))
        if dt > 10:
            fail('`unik run --provider xen` took %.1f s to fail' % dt)
        running = [i for i in h.json(['ps']) if i.get('state') in ('running', 'pending')]
        if running:
            fail('a failed xen run left instances', json.dumps(running))

        cfg = os.path.join(out_dir(), 'hello.cfg')
        h.ok(['export', 'hello', '--format', 'xl', '-o', cfg])
        img = h.json(['describe-image', 'hello'])
        s = read_xl_cfg(cfg)
        image_dir = os.path.join(h.path, 'images', img['id'])
        # The export is self-contained: the kernel and root fs beside the config, named by
        # relative path (run `xl create hello.cfg` from that directory), never the store's.
        want = {
            'type': 'pvh', 'name': 'hello',
            'kernel': 'hello.elf',
            'on_poweroff': 'destroy', 'on_reboot': 'destroy', 'on_crash': 'destroy',
            'memory': img.get('memory_mb') or 64, 'vcpus': 1,
        }
        rootfs = os.path.join(image_dir, 'rootfs.cpio')
        if os.path.exists(rootfs):
            want['ramdisk'] = 'hello.rootfs.cpio'
        for k, v in want.items():
            if s.get(k) != v:
                fail('xl.cfg %s is %r, wanted %r' % (k, s.get(k), v), open(cfg).read())
        if 'ramdisk' not in want and s.get('ramdisk') is not None:
            fail('xl.cfg names a ramdisk the image does not have', open(cfg).read())
        # The daemon may requote the words; they must arrive as they were meant.
        if shlex.split(s.get('cmdline', '')) != ARGV:
            fail('xl.cfg cmdline %r is not the words %r' % (s.get('cmdline'), ARGV),
                 open(cfg).read())
        beside = os.path.join(os.path.dirname(cfg), s['kernel'])
        if not os.path.exists(beside):
            fail('the kernel the xl.cfg names is not beside it: %s' % beside)
        with open(beside, 'rb') as a, open(os.path.join(image_dir, 'kernel.elf'), 'rb') as b:
            if a.read() != b.read():
                fail('the kernel beside the xl.cfg is not the image kernel')
        if h.path in open(cfg).read():
            fail("the exported xl.cfg names the daemon's store", open(cfg).read())


class XLU:
    """libxlutil through ctypes: the parser xl(1) reads xl.cfg files with."""

    def __init__(self):
        name = ctypes.util.find_library('xlutil')
        if not name:
            raise Skip('libxlutil is not installed (Debian: libxen-dev)')
        self.lib = ctypes.CDLL(name)
        self.libc = ctypes.CDLL(ctypes.util.find_library('c'))
        self.libc.fopen.restype = ctypes.c_void_p
        self.libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        self.libc.fclose.argtypes = [ctypes.c_void_p]
        L = self.lib
        L.xlu_cfg_init.restype = ctypes.c_void_p
        L.xlu_cfg_init.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        L.xlu_cfg_readfile.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        L.xlu_cfg_destroy.argtypes = [ctypes.c_void_p]
        L.xlu_cfg_get_string.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                         ctypes.POINTER(ctypes.c_char_p), ctypes.c_int]
        L.xlu_cfg_get_long.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                       ctypes.POINTER(ctypes.c_long), ctypes.c_int]


def read_xl_cfg(path):
    """The settings of an xl.cfg as libxlutil reads them: strings and numbers by key."""
    x = XLU()
    report_path = path + '.report'
    report = x.libc.fopen(report_path.encode(), b'w')
    cfg = x.lib.xlu_cfg_init(report, path.encode())
    try:
        rc = x.lib.xlu_cfg_readfile(cfg, path.encode())
        x.libc.fflush(None)
        if rc != 0:
            with open(report_path) as f:
                fail('libxlutil cannot read %s (error %d)' % (path, rc), f.read())
        out = {}
        for k in ('type', 'name', 'kernel', 'ramdisk', 'cmdline', 'on_poweroff', 'on_reboot',
                  'on_crash'):
            v = ctypes.c_char_p()
            if x.lib.xlu_cfg_get_string(cfg, k.encode(), ctypes.byref(v), 1) == 0:
                out[k] = v.value.decode()
        for k in ('memory', 'maxmem', 'vcpus', 'maxvcpus'):
            v = ctypes.c_long()
            if x.lib.xlu_cfg_get_long(cfg, k.encode(), ctypes.byref(v), 1) == 0:
                out[k] = v.value
        return out
    finally:
        x.lib.xlu_cfg_destroy(cfg)
        x.libc.fclose(report)


def test_xl_dry_run():
    """`xl -N create` (a dry run: parse and build the config, create nothing) where a working
    xl exists.  Debian's /usr/sbin/xl is a wrapper that needs a running hypervisor."""
    xl = shutil.which('xl') or ('/usr/sbin/xl' if os.access('/usr/sbin/xl', os.X_OK) else None)
    if not xl:
        raise Skip('xl is not installed (Debian: xen-utils)')
    probe = subprocess.run([xl, 'help'], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
    if probe.returncode != 0:
        raise Skip('xl cannot run on this host: %s' % (probe.stderr.strip() or
                                                       probe.stdout.strip())[:200])
    need_core()
    with Home() as h:
        h.ok(['build', '--name', 'hello', HELLO])
        cfg = os.path.join(out_dir(), 'dry.cfg')
        h.ok(['export', 'hello', '--format', 'xl', '-o', cfg])
    p = subprocess.run([xl, '-N', 'create', cfg], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    if p.returncode != 0:
        fail('xl -N create refused the exported config', p.stdout + p.stderr)
    if '"pvh"' not in p.stdout or 'kernel.elf' not in p.stdout:
        fail('xl -N create printed another config', p.stdout)
