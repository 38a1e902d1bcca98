"""unik-cc under what real build systems do: partial links (kbuild's built-in.o), the -nostdlib
family, -shared and -fPIC, Debian's busybox built with its own kbuild and booted, its applets'
output compared byte for byte with the same objects linked natively against musl, and Debian's
zstd built with its own Makefile, compressing with two worker threads."""

import fcntl
import glob
import os
import random
import re
import shlex
import shutil
import subprocess

from harness import Failure, Skip, build_dir, fail, out_dir, tail, timeout
from qemu import boot
from apps import make_cpio, run_native, run_unik_cc, unik_cc


def _write(name, text):
    p = os.path.join(out_dir(), name)
    with open(p, 'w') as f:
        f.write(text)
    return p


def _cc(args, what):
    p = run_unik_cc(args)
    if p.returncode != 0:
        fail('unik-cc %s failed (exit %d)' % (what, p.returncode), tail(p.stdout + p.stderr))
    return p


_GREET = '#include <stdio.h>\nvoid greet(const char *who)\n{\n\tprintf("hello, %s\\n", who);\n}\n'
_MAIN = ('void greet(const char *who);\nint main(int argc, char **argv)\n{\n'
         '\tgreet(argc > 1 ? argv[1] : "nobody");\n\treturn 7;\n}\n')


def _objects():
    d = out_dir()
    objs = []
    for name, text in (('greet', _GREET), ('main', _MAIN)):
        src = _write(name + '.c', text)
        obj = os.path.join(d, name + '.o')
        _cc(['-O2', '-c', '-o', obj, src], '-c %s.c' % name)
        objs.append(obj)
    return objs


def test_partial_link_then_final_link():
    """kbuild links each directory's objects into built-in.o with `$(CC) -nostdlib -r`, then
    links those into the program: the runtime, crt files and libc must come in once, at the
    end, or every runtime symbol is defined twice."""
    d = out_dir()
    objs = _objects()
    for i, flags in enumerate((['-nostdlib', '-r'], ['-nostdlib', '-Wl,-r'],
                               ['-Wl,--relocatable'])):
        part = os.path.join(d, 'built-in-%d.o' % i)
        _cc(flags + ['-o', part] + objs, 'partial link %s' % ' '.join(flags))
        syms = subprocess.run(['nm', '-g', '--defined-only', part], stdout=subprocess.PIPE,
                              text=True).stdout
        defined = [l.split()[-1] for l in syms.splitlines() if len(l.split()) == 3]
        extra = sorted(s for s in defined if s not in ('greet', 'main'))
        if extra:
            fail('partial link %s added definitions beyond the inputs\' (runtime, crt or '
                 'libc): %s' % (' '.join(flags), ', '.join(extra[:10])))
        out = os.path.join(d, 'partial-%d.elf' % i)
        _cc(['-o', out, part], 'final link of a partial link')
        boot(out, 'partial-%d.elf world' % i, accel='tcg').expect_status(7).expect_app(
            'hello, world\n')


def test_nostdlib_family():
    """gcc's manual: -nostartfiles drops the crt files, -nodefaultlibs libc (and libgcc),
    -nostdlib both.  The unik runtime is the kernel and stays; it calls _start."""
    d = out_dir()
    raw = _write('raw.c', (
        'static long sys(long n, long a, long b, long c)\n{\n\tlong r;\n'
        '\t__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c)\n'
        '\t                 : "rcx", "r11", "memory");\n\treturn r;\n}\n'
        'void _start(void)\n{\n\tsys(1, 1, (long)"raw start\\n", 10);\n'
        '\tsys(231, 5, 0, 0);\n\tfor (;;)\n\t\t;\n}\n'))
    for flag in ('-nostdlib', '-nostartfiles'):
        out = os.path.join(d, 'raw%s.elf' % flag)
        _cc(['-O2', '-fno-stack-protector', flag, '-o', out, raw], flag)
        boot(out, 'raw', accel='tcg').expect_status(5).expect_app('raw start\n')

    # Without -nostartfiles, crt1.o's _start would clash with the program's.
    p = run_unik_cc(['-O2', '-o', os.path.join(d, 'clash.elf'), raw])
    if p.returncode == 0 or '_start' not in p.stdout + p.stderr:
        fail('a program with its own _start linked with the crt files too: crt1.o was not '
             'linked', tail(p.stdout + p.stderr))

    hello = _write('hello.c', '#include <stdio.h>\nint main(void)\n{\n'
                   '\tputs("with libc");\n\treturn 0;\n}\n')
    p = run_unik_cc(['-nodefaultlibs', '-o', os.path.join(d, 'nolibc.elf'), hello])
    if p.returncode == 0 or 'puts' not in p.stdout + p.stderr:
        fail('-nodefaultlibs still linked libc (puts resolved)', tail(p.stdout + p.stderr))
    out = os.path.join(d, 'withlibc.elf')
    _cc(['-nodefaultlibs', '-o', out, hello, '-lc'], '-nodefaultlibs ... -lc')
    boot(out, 'withlibc', accel='tcg').expect_status(0).expect_app('with libc\n')


def test_shared_refused_pic_works():
    d = out_dir()
    objs = []
    for name, text in (('greet', _GREET), ('main', _MAIN)):
        src = _write(name + '.c', text)
        obj = os.path.join(d, name + '.pic.o')
        _cc(['-O2', '-fPIC', '-c', '-o', obj, src], '-fPIC -c %s.c' % name)
        objs.append(obj)
    p = run_unik_cc(['-shared', '-fPIC', '-o', os.path.join(d, 'libgreet.so'), objs[0]])
    msg = p.stdout + p.stderr
    if p.returncode == 0 or '`-shared` cannot be used' not in msg or 'static' not in msg:
        fail('-shared was not refused with a message saying why', tail(msg))
    if os.path.exists(os.path.join(d, 'libgreet.so')):
        fail('a refused -shared link left libgreet.so behind')
    out = os.path.join(d, 'pic.elf')
    _cc(['-o', out] + objs, 'link of -fPIC objects')
    boot(out, 'pic pic', accel='tcg').expect_status(7).expect_app('hello, pic\n')
    out = os.path.join(d, 'fpic.elf')
    _cc(['-fpic', '-O2', '-o', out, os.path.join(d, 'greet.c'), os.path.join(d, 'main.c')],
        '-fpic in one step')
    boot(out, 'fpic x', accel='tcg').expect_status(7).expect_app('hello, x\n')


# Options turned off in busybox's defconfig: they include Linux kernel headers (linux/*.h,
# asm/*.h, mtd/*.h), which musl does not ship (docs/unik-cc.md says more).
BUSYBOX_TRIM = '''
    KBD_MODE LOADFONT SETFONT OPENVT SHOWKEY INIT LINUXRC RUN_INIT SWITCH_ROOT
    FEATURE_SETPRIV_CAPABILITIES SETPRIV LOSETUP FEATURE_MOUNT_LOOP VLOCK BEEP CONSPY FBSPLASH
    HDPARM I2CGET I2CSET I2CDUMP I2CDETECT I2CTRANSFER NANDWRITE NANDDUMP PARTPROBE RAIDAUTORUN
    UBIATTACH UBIDETACH UBIMKVOL UBIRMVOL UBIRSVOL UBIUPDATEVOL UBIRENAME WATCHDOG
    BRCTL ETHER_WAKE IFCONFIG IFENSLAVE IFPLUGD IP IPADDR IPLINK IPROUTE IPTUNNEL IPRULE IPNEIGH
    NAMEIF NBDCLIENT SLATTACH TC TUNCTL UDHCPC6 UDHCPC ZCIP
    ACPID BLKDISCARD BLOCKDEV EJECT FSFREEZE FSTRIM IONICE MDEV FEATURE_MDEV_DAEMON UEVENT
    MKE2FS MKFS_EXT2 MKDOSFS MKFS_VFAT
'''.split()


def _run_logged(argv, cwd, log, env=None, input_text=None):
    with open(log, 'a') as f:
        f.write('$ %s\n' % ' '.join(shlex.quote(a) for a in argv))
        f.flush()
        p = subprocess.run(argv, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT,
                           input=input_text, text=True)
    if p.returncode != 0:
        with open(log) as f:
            raise Failure('`%s` failed (exit %d); log %s' % (' '.join(argv[:3]), p.returncode,
                                                              log), tail(f.read(), 30))


class _SourceTree:
    """Debian's source package NAME (build/src/SRCNAME_*.dsc), extracted once under
    build/NAME/<version>/src and held under a lock while a test builds in it: `src`, `log` (in
    the test's output), `env` (the runtime directory for unik-cc)."""

    def __init__(self, name, srcname, tools):
        dscs = sorted(glob.glob(os.path.join(build_dir(), 'src', srcname + '_*.dsc')))
        if not dscs:
            raise Skip('%s source package not in build/src: run scripts/install-deps (it turns '
                       'on deb-src and runs apt-get source --download-only %s)' % (name, name))
        for tool in tools:
            if not shutil.which(tool):
                raise Skip('%s is not installed' % tool)
        self.dsc = dscs[-1]
        self.version = os.path.basename(self.dsc)[len(srcname) + 1:-len('.dsc')]
        self.top = os.path.join(build_dir(), name, self.version)
        os.makedirs(self.top, exist_ok=True)
        self.src = os.path.join(self.top, 'src')
        self.log = os.path.join(out_dir(), name + '-build.log')
        self.env = dict(os.environ)
        rt = os.path.join(build_dir(), 'runtime')
        if 'UNIK_RUNTIME_DIR' not in self.env and os.path.exists(os.path.join(rt, 'unikrt.o')):
            self.env['UNIK_RUNTIME_DIR'] = rt

    def __enter__(self):
        self.lock = open(os.path.join(self.top, 'lock'), 'w')
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        stamp = os.path.join(self.src, '.unik-extracted')
        if not os.path.exists(stamp):
            shutil.rmtree(self.src, ignore_errors=True)
            _run_logged(['dpkg-source', '-x', self.dsc, self.src], self.top, self.log)
            open(stamp, 'w').close()
        return self

    def __exit__(self, *exc):
        self.lock.close()


def _busybox():
    """Builds (once per source version, cached under build/busybox/) Debian's busybox with
    CC=unik-cc and HOSTCC=gcc from a trimmed defconfig, relinks it with the current unik-cc and
    runtime, and links the same objects natively with musl-gcc -static.  Returns (unik, native)."""
    tree = _SourceTree('busybox', 'busybox', ('dpkg-source', 'musl-gcc', 'make'))
    src, log, env = tree.src, tree.log, tree.env
    with tree:
        trim_stamp = os.path.join(src, '.unik-trim')
        want = ' '.join(BUSYBOX_TRIM)
        have = open(trim_stamp).read() if os.path.exists(trim_stamp) else None
        if have != want:
            _run_logged(['make', 'defconfig'], src, log)
            cfg = os.path.join(src, '.config')
            with open(cfg) as f:
                lines = f.read().split('\n')
            off = set('CONFIG_%s=y' % c for c in BUSYBOX_TRIM)
            lines = ['# %s is not set' % l[:-2] if l in off else l for l in lines]
            with open(cfg, 'w') as f:
                f.write('\n'.join(lines))
            _run_logged(['make', 'oldconfig'], src, log, input_text='\n' * 2000)
            with open(trim_stamp, 'w') as f:
                f.write(want)
        # Relink every time, so a changed runtime or unik-cc is what the test boots.
        for f in ('busybox', 'busybox_unstripped', 'busybox_native'):
            if os.path.exists(os.path.join(src, f)):
                os.unlink(os.path.join(src, f))
        _run_logged(['make', '-j2', 'CC=' + unik_cc(), 'HOSTCC=gcc', 'busybox'], src, log, env)
        # busybox's own link command (scripts/trylink and its arguments), with musl-gcc -static
        # as the compiler: the same objects, linked for Linux.
        with open(os.path.join(src, '.busybox_unstripped.cmd')) as f:
            argv = shlex.split(f.read().split(':=', 1)[1])
        if '&&' in argv:
            argv = argv[:argv.index('&&')]
        if len(argv) < 8 or not argv[0].endswith('trylink'):
            raise Failure('busybox link command not understood: %r' % argv[:3])
        argv[1], argv[2] = 'busybox_native', 'musl-gcc'
        argv[4] += ' -static'
        argv[7] = ''  # unik-cc's link needed none of crypt m resolv rt; musl has no libcrypt.a
        _run_logged(argv, src, log)
    # `busybox` itself is stripped with --remove-section=.note, which takes the PVH note with it.
    return os.path.join(src, 'busybox_unstripped'), os.path.join(src, 'busybox_native')


BUSYBOX_FILES = {
    'data/fruits.txt': 'banana\napple\ncherry\napple\n',
    'data/nums.txt': '3 4\n10 20\n1 2\n',
    'data/text.txt': 'the quick brown fox\njumps over the lazy dog\n',
}

# Applets that need neither processes nor pipes (the runtime has no fork, exec or pipe yet).
BUSYBOX_RUNS = [
    "echo hello world",
    "sha256sum data/fruits.txt data/text.txt",
    "sort data/fruits.txt",
    "sort -u -r data/fruits.txt",
    "wc data/text.txt",
    "awk '{ s += $1 * $2 } END { print s, NR }' data/nums.txt",
    "sed -e s/o/0/g -e '2s/^/> /' data/text.txt",
    "grep -n o data/text.txt",
    "md5sum data/text.txt",
    "sha1sum data/text.txt",
    "uniq -c data/fruits.txt",
    "head -n 1 data/fruits.txt",
    "tail -n 2 data/fruits.txt",
    "cut -d ' ' -f 2,4 data/text.txt",
    "od -c data/fruits.txt",
    "hexdump -C data/text.txt",
    "base64 data/text.txt",
    "cksum data/text.txt",
    "tac data/fruits.txt",
    "factor 360 1001",
    "dc -e '2 64 ^ p'",
    "expr 6 '*' 7",
    "printf '%05d|%s|%x\\n' 42 x 255",
    "sh -c 'for w in one two; do echo \"$w\"; done; echo $((6 * 7))'",
    "cmp data/fruits.txt data/text.txt",
    "date -u -d @86400",
    "false",
]


@timeout(3600)
def test_busybox_applets():
    unik, native = _busybox()
    d = out_dir()
    entries = [('data', None)]
    for name, text in sorted(BUSYBOX_FILES.items()):
        entries.append((name, text.encode()))
        os.makedirs(os.path.join(d, os.path.dirname(name)), exist_ok=True)
        with open(os.path.join(d, name), 'w') as f:
            f.write(text)
    cpio = os.path.join(d, 'root.cpio')
    make_cpio(entries, cpio)
    bad = []
    for cmd in BUSYBOX_RUNS:
        words = shlex.split(cmd)
        want, want_status = run_native(native, words, env={}, argv0='busybox')
        r = boot(unik, 'busybox ' + cmd, accel='tcg', initrd=cpio, timeout=120)
        if r.app != want or r.status != want_status:
            bad.append('busybox %s: unik status %s output %r\n  native status %s output %r%s' % (
                cmd, r.status, r.app[-400:], want_status, want[-400:],
                ''.join('\n  ' + l for l in r.runtime_lines[-3:])))
    if bad:
        fail('%d of %d applet runs differ from native' % (len(bad), len(BUSYBOX_RUNS)),
             '\n'.join(bad))


def test_build_outputs_use_the_host_compiler():
    """A code generator a Makefile builds with $(CC) and runs at once must be a host program:
    UNIK_BUILD_OUTPUTS names it, UNIK_BUILD_CC compiles it; everything else is still a unikernel."""
    d = out_dir()
    gen = _write('gen.c', '#include <stdio.h>\nint main(void)\n{\n'
                 '\tprintf("#define GENERATED %d\\n", 6 * 7);\n\treturn 0;\n}\n')
    env = dict(os.environ, UNIK_BUILD_OUTPUTS='mkdefs:gen*', UNIK_BUILD_CC='gcc',
               UNIK_RUNTIME_DIR=os.path.join(build_dir(), 'runtime'))

    def cc(args):
        p = subprocess.run([unik_cc()] + args, cwd=d, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            fail('unik-cc %s failed' % ' '.join(args), tail(p.stdout))

    cc(['-O2', '-o', 'gen', gen])                                   # one step
    cc(['-O2', '-c', '-o', 'gen2.o', gen])                          # two steps
    cc(['-o', os.path.join(d, 'gen2'), os.path.join(d, 'gen2.o')])
    for prog in ('gen', 'gen2'):
        p = subprocess.run([os.path.join(d, prog)], stdout=subprocess.PIPE, text=True)
        if p.returncode != 0 or p.stdout != '#define GENERATED 42\n':
            fail('%s did not run on the host (exit %d, output %r): not built by UNIK_BUILD_CC'
                 % (prog, p.returncode, p.stdout))
    cc(['-O2', '-o', 'app.elf', gen])
    boot(os.path.join(d, 'app.elf'), 'app', accel='tcg').expect_status(0).expect_app(
        '#define GENERATED 42\n')


_SOCKET_USER = ('#include <sys/socket.h>\nint main(void)\n{\n'
                '\treturn socket(AF_INET, SOCK_STREAM, 0) < 0;\n}\n')


def _runtime_objects(verbose_output):
    """The runtime objects named on the link lines unik-cc -v printed, in order."""
    return re.findall(r'\bunikrt(?:-net|-vol)?\.o\b', verbose_output)


def test_network_runtime_only_for_socket_users():
    """The runtime's network variant is linked only into programs that use sockets: hello links
    once with unikrt.o; a program calling socket() is linked again with unikrt-net.o; UNIK_NET
    decides without looking."""
    d = out_dir()
    hello = _write('plain.c', '#include <stdio.h>\nint main(void)\n{\n\tputs("hi");\n}\n')
    sock = _write('sock.c', _SOCKET_USER)
    p = _cc(['-v', '-O2', '-o', os.path.join(d, 'plain.elf'), hello], 'plain.c')
    got = _runtime_objects(p.stdout + p.stderr)
    if got[-1:] != ['unikrt.o'] or 'unikrt-net.o' in got:
        fail('a program without sockets linked %r, want unikrt.o only' % got)
    p = _cc(['-v', '-O2', '-o', os.path.join(d, 'sock.elf'), sock], 'sock.c')
    got = _runtime_objects(p.stdout + p.stderr)
    if got[-1:] != ['unikrt-net.o']:
        fail('a program calling socket() linked %r, want unikrt-net.o last' % got)
    os.environ['UNIK_NET'] = '0'
    try:
        p = _cc(['-v', '-O2', '-o', os.path.join(d, 'sock0.elf'), sock], 'sock.c, UNIK_NET=0')
    finally:
        del os.environ['UNIK_NET']
    got = _runtime_objects(p.stdout + p.stderr)
    if 'unikrt-net.o' in got:
        fail('UNIK_NET=0 still linked the network variant: %r' % got)


def test_volume_runtime_only_for_file_users():
    """The variant with the device file systems (virtio-blk, ext2: volumes mounted at boot) is
    linked into programs that open files, not into hello."""
    d = out_dir()
    files = _write('files.c', '#include <stdio.h>\nint main(void)\n{\n\tFILE *f = '
                   'fopen("/data/x", "w");\n\treturn f == NULL;\n}\n')
    p = _cc(['-v', '-O2', '-o', os.path.join(d, 'files.elf'), files], 'files.c')
    got = _runtime_objects(p.stdout + p.stderr)
    if got[-1:] != ['unikrt-vol.o']:
        fail('a program calling fopen() linked %r, want unikrt-vol.o last' % got)


def _zstd():
    """Builds (once per source version, cached under build/zstd/) Debian's zstd with its own
    Makefile and CC=unik-cc: multi-threaded (ZSTD_MULTITHREAD, -pthread), -O1 and without the
    legacy formats to keep the build short.  The link is redone every time, so that a changed
    runtime or unik-cc is what the test boots."""
    tree = _SourceTree('zstd', 'libzstd', ('dpkg-source', 'make'))
    src, log, env = tree.src, tree.log, tree.env
    with tree:
        # zstd's Makefile keeps its objects under programs/obj/<flags hash>/ and copies the
        # linked program to programs/zstd: remove both links so that only they are redone.
        for f in glob.glob(os.path.join(src, 'programs', 'obj', '*', 'zstd')) + \
                [os.path.join(src, 'programs', 'zstd')]:
            if os.path.exists(f):
                os.unlink(f)
        _run_logged(['make', '-j2', '-C', 'programs', 'zstd', 'CC=' + unik_cc(), 'CFLAGS=-O1',
                     'ZSTD_LEGACY_SUPPORT=0', 'HAVE_ZLIB=0', 'HAVE_LZMA=0', 'HAVE_LZ4=0'],
                    src, log, env)
    return os.path.join(src, 'programs', 'zstd')


def _zstd_input():
    """1.5 MiB of text that compresses about 4:1, the same on every run."""
    r = random.Random(7)
    words = ['alpha', 'beta', 'gamma', 'delta', 'unik', 'kernel', 'thread', 'futex', 'pipe',
             'zstd', 'level', 'block']
    lines, n = [], 0
    while n < 1536 * 1024:
        line = ' '.join(r.choice(words) for _ in range(r.randint(3, 12)))
        line += ' %d\n' % r.randint(0, 99999)
        lines.append(line)
        n += len(line)
    return ''.join(lines)[:1536 * 1024].encode()


_ZSTD_BENCH = re.compile(r'(\d+) -> +(\d+) \(')


@timeout(3600)
def test_zstd_threads():
    """zstd -T2 in the guest: the benchmark mode compresses 1.5 MiB in three 512 KiB jobs on two
    worker threads, decompresses and checks it, and the compressed size is the one the host's
    zstd of the same version makes; a file the host compressed (-T2) tests intact."""
    host = shutil.which('zstd')
    host_version = host and subprocess.run([host, '-V'], stdout=subprocess.PIPE,
                                           text=True).stdout
    zstd = _zstd()
    if not host_version or 'v' + _zstd_upstream(zstd) not in host_version:
        raise Skip('the host has no zstd of the same version to compare with (Debian: zstd)')
    d = out_dir()
    data = _zstd_input()
    inp = os.path.join(d, 'in')
    with open(inp, 'wb') as f:
        f.write(data)
    subprocess.run([host, '-q', '-f', '-T2', '-3', '-B512K', inp, '-o', inp + '.zst'],
                   check=True)
    with open(inp + '.zst', 'rb') as f:
        packed = f.read()
    want = subprocess.run([host, '-b3', '-T2', '-B512K', '-i1', inp], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True).stdout
    cpio = os.path.join(d, 'root.cpio')
    make_cpio([('data', None), ('data/in', data), ('data/in.zst', packed)], cpio)

    r = boot(zstd, 'zstd -b3 -T2 -B512K -i1 /data/in', accel='tcg', initrd=cpio, mem='256M',
             timeout=300)
    r.expect_status(0)
    got, host_sizes = _ZSTD_BENCH.findall(r.app), _ZSTD_BENCH.findall(want)
    if not got or not host_sizes or got[-1] != host_sizes[-1]:
        fail('zstd -b3 -T2 in the guest: sizes %r, the host\'s %r' % (got[-1:], host_sizes[-1:]),
             r.app[-600:])
    if 'corrupt' in r.app.lower() or 'error' in r.app.lower():
        fail('zstd -b3 -T2 reported an error in the guest', r.app[-600:])

    r = boot(zstd, 'zstd -t /data/in.zst', accel='tcg', initrd=cpio, timeout=120)
    r.expect_status(0)
    if '/data/in.zst' not in r.app or ': %d bytes' % len(data) not in r.app:
        fail('zstd -t of the host\'s -T2 file did not report %d bytes' % len(data), r.app[-400:])


def _zstd_upstream(zstd):
    """1.5.4 from .../build/zstd/1.5.4+dfsg2-5/src/programs/zstd."""
    ver = os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(zstd))))
    return ver.split('+')[0].split('-')[0]
