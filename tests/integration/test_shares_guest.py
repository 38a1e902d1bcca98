"""Host shares from the guest's side (issue 15): a host directory given to QEMU as a virtio-9p
device whose mount tag is the manifest device's name, mounted by the runtime at its `at=`, read
and written by tests/apps/share.c; the host checks what the guest did once it has exited."""

import os
import shutil
import stat
import subprocess

from harness import Skip, accels, fail, check_equal, out_dir
from qemu import boot
from apps import app, run_native

BIG = 3 * 1000 * 1000


def require_root():
    # QEMU's security_model=none reads and writes the directory as the user QEMU runs as, and
    # the guest is root: only a root QEMU gets the guest's view right.
    if os.geteuid() != 0:
        raise Skip('the 9p tests run as root (security_model=none)')


def share_dir(name):
    d = os.path.join(out_dir(), name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def share_args(path, tag='share', machine='microvm', readonly=False):
    dev = 'virtio-9p-pci' if machine in ('pc', 'q35') else 'virtio-9p-device'
    fsdev = 'local,id=fs0,path=%s,security_model=none' % path
    if readonly:
        fsdev += ',readonly=on'
    return ['-fsdev', fsdev, '-device', '%s,fsdev=fs0,mount_tag=%s' % (dev, tag)]


def fnv(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def listing(root, rel=''):
    """What `share list` prints for the tree at root, computed on the host."""
    out = ''
    path = os.path.join(root, rel) if rel else root
    for name in sorted(os.listdir(path), key=lambda n: n.encode()):
        r = rel + '/' + name if rel else name
        p = os.path.join(root, r)
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            out += 'link %s -> %s\n' % (r, os.readlink(p))
        elif stat.S_ISDIR(st.st_mode):
            out += 'dir %s\n' % r
            out += listing(root, r)
        else:
            with open(p, 'rb') as f:
                data = f.read()
            out += 'file %s %d %d %016x\n' % (r, st.st_size, len(data), fnv(data))
    return out


def make_tree(d):
    os.makedirs(os.path.join(d, 'a', 'b', 'c'))
    os.makedirs(os.path.join(d, 'empty'))
    with open(os.path.join(d, 'hello.txt'), 'w') as f:
        f.write('hello from the host\n')
    with open(os.path.join(d, 'a', 'b', 'c', 'deep.txt'), 'w') as f:
        f.write('deep\n' * 1000)
    with open(os.path.join(d, 'a', 'zero'), 'w'):
        pass
    # Not a multiple of anything the client reads in, nor of its message size.
    with open(os.path.join(d, 'a', 'big.bin'), 'wb') as f:
        f.write(bytes((i * 31 + i // 1000) & 0xff for i in range(BIG)))
    os.symlink('hello.txt', os.path.join(d, 'link'))
    os.symlink('a/b/c/deep.txt', os.path.join(d, 'a', 'rel-link'))
    os.symlink('/nowhere/at/all', os.path.join(d, 'dangling'))
    for i in range(40):
        with open(os.path.join(d, 'a', 'b', 'n%02d' % i), 'w') as f:
            f.write('%d\n' % i)


def read_tree(accel, machine):
    require_root()
    d = share_dir('tree-' + machine)
    make_tree(d)
    want = listing(d)
    r = boot(app('share'), 'unik.dev.share=fs,at=/srv/data share list /srv/data', accel=accel,
             machine=machine, extra=share_args(d, machine=machine))
    r.expect_status(0).expect_in('unik: share share mounted on /srv/data')
    r.expect_app(want + 'SUCCESS\n')
    native = os.path.join(os.path.dirname(app('share')), 'share.native')
    if os.path.exists(native):
        got, status = run_native(native, ['list', d])
        check_equal('the native listing', got.replace('\r\n', '\n'), want + 'SUCCESS\n')


@accels
def test_share_read_tree(accel):
    """A tree the host made (nested directories, symlinks, an empty file, 40 names in one
    directory, a 3 MB file) is listed and read byte for byte, on microvm (virtio-mmio)."""
    read_tree(accel, 'microvm')


def test_share_read_tree_pci():
    """The same over virtio-9p-pci on -M pc."""
    read_tree('tcg', 'pc')


@accels
def test_share_writes(accel):
    """The guest makes directories, files, a symlink and a hard link, renames files and a
    directory, unlinks, removes a directory, truncates, appends to a host file, fsyncs; the host
    sees exactly that once the guest has exited."""
    require_root()
    d = share_dir('writes')
    os.makedirs(os.path.join(d, 'empty-dir'))
    for name, text in (('remove-me.txt', 'rm\n'), ('replace-src.txt', 'src\n'),
                       ('replace-dst.txt', 'dst\n'), ('host.txt', 'host\n')):
        with open(os.path.join(d, name), 'w') as f:
            f.write(text)
    r = boot(app('share'), 'unik.dev.share=fs,at=/mnt/w share write /mnt/w', accel=accel,
             extra=share_args(d))
    r.expect_status(0).expect_app('SUCCESS\n')
    got = []
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(root, n)
            st = os.lstat(p)
            kind = 'l' if stat.S_ISLNK(st.st_mode) else 'd' if stat.S_ISDIR(st.st_mode) else 'f'
            got.append('%s %s %s' % (kind, os.path.relpath(p, d),
                                     os.readlink(p) if kind == 'l' else
                                     '' if kind == 'd' else st.st_size))
    want = ['d made ', 'd moved-dir ', 'f big.bin %d' % (2 * (1 << 20) + 12345),
            'f hardlink.txt 8', 'f host.txt 11', 'f made/renamed.txt 8',
            'f moved-dir/note.txt 21', 'f replace-dst.txt 4', 'l link-to-renamed made/renamed.txt']
    check_equal('the host tree after the guest', sorted(got), sorted(want))

    def text(n):
        with open(os.path.join(d, n), 'rb') as f:
            return f.read()
    check_equal('host.txt', text('host.txt'), b'host\nguest\n')
    check_equal('replace-dst.txt', text('replace-dst.txt'), b'src\n')
    check_equal('note.txt', text('moved-dir/note.txt'), b'written by the guest\n')
    check_equal('the hard link', os.stat(os.path.join(d, 'hardlink.txt')).st_ino,
                os.stat(os.path.join(d, 'made', 'renamed.txt')).st_ino)
    big = bytes((i * 7 + i // 4096) & 0xff for i in range(1 << 20))
    check_equal('big.bin byte for byte', text('big.bin') == big + big + big[:12345], True)
    check_equal('the mode mkdir gave', oct(os.stat(os.path.join(d, 'moved-dir')).st_mode & 0o777),
                oct(0o700))


@accels
def test_share_readonly(accel):
    """`ro`: every change fails with EROFS in the guest (which enforces it: QEMU is not told),
    reads work, and the host directory is unchanged."""
    require_root()
    d = share_dir('ro')
    with open(os.path.join(d, 'host.txt'), 'w') as f:
        f.write('host\n')
    before = listing(d)
    r = boot(app('share'), 'unik.dev.share=fs,ro,at=/data share ro /data', accel=accel,
             extra=share_args(d))
    r.expect_status(0).expect_app('SUCCESS\n').expect_in('unik: share share mounted read-only')
    check_equal('the read-only share after the guest', listing(d), before)


def test_share_unknown_tag():
    """A manifest share whose tag no device has: one clear console line, the guest boots on
    (and the device that is there, under another tag, is not mounted)."""
    require_root()
    d = share_dir('unknown')
    r = boot(app('share'), 'unik.dev.other=fs,at=/data share stat /', accel='tcg',
             extra=share_args(d, tag='share'))
    r.expect_status(0).expect_in(
        'unik: share other: no virtio-9p device has the mount tag "other": not mounted')
    if 'mounted on' in r.console:
        fail('a share was mounted though no tag matched')


def test_share_statfs_and_blocks():
    """statfs and fstatfs on a share give the host file system's figures as QEMU passes them
    (its type, inode count and name length; its size in QEMU's block size), and st_blocks is
    the host file's, a sparse file's holes not counted."""
    require_root()
    d = share_dir('statfs')
    with open(os.path.join(d, 'data'), 'wb') as f:
        f.write(bytes(range(256)) * 400)
    with open(os.path.join(d, 'sparse'), 'wb') as f:
        f.write(b'head')
        f.seek(6 * 1024 * 1024)
        f.write(b'tail')
    r = boot(app('share'), 'unik.dev.share=fs,at=/data share statfs /data', accel='tcg',
             extra=share_args(d))
    r.expect_status(0)
    lines = r.app.splitlines()
    fields = lines[0].split()
    if fields[0] != 'statfs' or len(fields) != 19:
        fail('no statfs line', r.app)
    got = dict(zip(fields[1::2], fields[2::2]))
    host = os.statvfs(d)
    host_type = subprocess.run(['stat', '-f', '-c', '%t', d], capture_output=True,
                               text=True).stdout.strip()
    check_equal('f_type', got['type'], host_type)
    check_equal('f_files', int(got['files']), host.f_files)
    check_equal('f_namelen', int(got['namelen']), host.f_namemax)
    check_equal('f_flags read-only', got['ro'], '0')
    size, host_size = int(got['bsize']) * int(got['blocks']), host.f_frsize * host.f_blocks
    if abs(size - host_size) > int(got['bsize']):
        fail('the share is %d bytes in the guest, %d on the host' % (size, host_size), r.app)
    want = ''.join('blocks %s %d\n' % (n, os.stat(os.path.join(d, n)).st_blocks)
                   for n in ('data', 'sparse'))
    check_equal('st_blocks', ''.join(l + '\n' for l in lines[1:3]), want)
    if os.stat(os.path.join(d, 'sparse')).st_blocks * 512 >= 6 * 1024 * 1024:
        raise Skip('the host file system fills holes: st_blocks of a sparse file says nothing')
    check_equal('the end', lines[3], 'SUCCESS')


def test_share_chmod_and_times():
    """chmod, fchmod, utimensat and futimens in the guest change the host file (Tsetattr): the
    host sees the modes and the times to the nanosecond, an omitted time left as it was."""
    require_root()
    d = share_dir('attrs')
    for name in ('m1', 'm2'):
        with open(os.path.join(d, name), 'w') as f:
            f.write(name + '\n')
        os.chmod(os.path.join(d, name), 0o666)
    os.utime(os.path.join(d, 'm2'), ns=(1100000000 * 10**9 + 7, 1100000000 * 10**9 + 7))
    r = boot(app('share'), 'unik.dev.share=fs,at=/data share attrs /data', accel='tcg',
             extra=share_args(d))
    r.expect_status(0).expect_app('SUCCESS\n')
    m1, m2 = os.stat(os.path.join(d, 'm1')), os.stat(os.path.join(d, 'm2'))
    check_equal('m1 mode', oct(m1.st_mode & 0o7777), oct(0o604))
    check_equal('m1 times', (m1.st_atime_ns, m1.st_mtime_ns),
                (1000000000 * 10**9 + 500, 1200000000 * 10**9 + 250000))
    check_equal('m2 mode', oct(m2.st_mode & 0o7777), oct(0o640))
    check_equal('m2 times', (m2.st_atime_ns, m2.st_mtime_ns),
                (1100000000 * 10**9 + 7, 1300000000 * 10**9))
