"""Volumes in the guest: virtio-blk disks holding ext2, made on the host with mke2fs -d, mounted
at boot where the manifest says (`unik.dev.NAME=blk[,ro],at=/path`), read and written by
tests/apps/vol.c, then checked on the host with e2fsck -fn and debugfs.  The guest's listing of a
tree (vol tree) is compared with the same program's native build listing the host's copy."""

import hashlib
import os
import shutil
import re
import signal
import subprocess
import time

from harness import Skip, fail, check_equal, out_dir, variants
from qemu import boot, qemu_command
from apps import app

MOUNT_MSG = ('unik: data: the file system was not unmounted cleanly: run e2fsck -p on the '
             'volume (unik does before each attach)')
blocks = variants(('1k', {'bs': 1024}), ('4k', {'bs': 4096}))


def tool(name):
    for d in ('/usr/sbin', '/sbin', '/usr/bin'):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    raise Skip('%s is not installed (e2fsprogs)' % name)


def run(args, check=True):
    p = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check and p.returncode != 0:
        fail('%s failed (%d)' % (' '.join(args), p.returncode), p.stdout + p.stderr)
    return p


def mkfs(name, bs, size, src=None, index=False):
    img = os.path.join(out_dir(), name)
    if os.path.exists(img):
        os.unlink(img)
    run([tool('mke2fs'), '-q', '-t', 'ext2', '-b', str(bs)] + (['-d', src] if src else []) +
        [img, size])
    if index:
        # mke2fs -d writes directories unindexed; e2fsck -D gives the big ones an htree, as
        # Linux would have grown them.
        p = run([tool('e2fsck'), '-fyD', img], check=False)
        if p.returncode not in (0, 1):
            fail('e2fsck -fyD %s: %d' % (img, p.returncode), p.stdout + p.stderr)
    return img


def e2fsck_clean(img):
    p = run([tool('e2fsck'), '-fn', img], check=False)
    if p.returncode != 0:
        fail('e2fsck -fn finds %s not clean (status %d)' % (img, p.returncode),
             p.stdout + p.stderr)


def disk(img, serial, machine='microvm', readonly=False):
    dev = 'virtio-blk-device' if machine.startswith('microvm') else 'virtio-blk-pci'
    return ['-drive', 'if=none,id=%s,file=%s,format=raw%s' % (serial, img,
                                                              ',readonly=on' if readonly else ''),
            '-device', '%s,drive=%s,serial=%s' % (dev, serial, serial)]


def native_tree(d):
    """The listing vol's native build makes of a host directory, without its "tree ok"."""
    out = run([app('vol', 'native'), 'tree', d]).stdout
    if not out.endswith('tree ok\n'):
        fail('vol tree %s on the host failed' % d, out)
    return out[:-len('tree ok\n')]


def source_tree(bs):
    """Regular files, a sparse file, fast and slow symlinks, a directory of 2000 entries."""
    src = os.path.join(out_dir(), 'src')
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(os.path.join(src, 'big'))
    os.makedirs(os.path.join(src, 'a', 'b', 'c'))
    with open(os.path.join(src, 'small'), 'w') as f:
        f.write('hello, volume\n')
    with open(os.path.join(src, 'a', 'b', 'c', 'deep'), 'wb') as f:
        f.write(bytes(range(256)) * 1000 + b'tail')
    with open(os.path.join(src, 'sparse'), 'wb') as f:
        f.write(b'start')
        f.seek(3 * 1024 * 1024 + 17)
        f.write(b'middle' * 1000)
        f.seek(9 * 1024 * 1024 + bs // 2)
        f.write(b'end')
    os.chmod(os.path.join(src, 'sparse'), 0o600)
    for i in range(2000):
        with open(os.path.join(src, 'big', 'entry-%04d' % i), 'w') as f:
            f.write('%d\n' % i)
    os.symlink('small', os.path.join(src, 'src-fast-link'))
    os.symlink('a/' + 'x' * 150 + '/slow', os.path.join(src, 'src-slow-link'))
    return src


def listing(console, cmd):
    """The lines vol printed for its command `cmd` (from the command's first line up to its
    "cmd ok" line, excluded)."""
    lines = console.splitlines(True)
    end = lines.index('%s ok\n' % cmd)
    start = end
    while start > 0 and not lines[start - 1].endswith(' ok\n') and \
            not lines[start - 1].startswith('unik: '):
        start -= 1
    return ''.join(lines[start:end])


def sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


@blocks
def test_read_tree(bs):
    """A tree made by mke2fs -d reads back byte for byte, its big directory indexed."""
    src = source_tree(bs)
    img = mkfs('read.img', bs, '32M', src, index=True)
    r = boot(app('vol'), 'unik.dev.data=blk,at=/data vol tree /data', accel='tcg',
             extra=disk(img, 'data'))
    r.expect_status(0)
    check_equal('the guest listing of the volume', r.app, native_tree(src) + 'tree ok\n')
    e2fsck_clean(img)


@blocks
def test_write_then_read(bs):
    """The guest writes (a 50 MB sparse file, renames, unlinks, directories, symlinks, 2000
    files in one directory, an indexed directory changed); the disk is clean, the host reads
    the same bytes, and a second boot reads them back."""
    src = source_tree(bs)
    img = mkfs('write.img', bs, '160M', src, index=True)
    r = boot(app('vol'), 'unik.dev.data=blk,at=/data vol write /data', accel='tcg',
             extra=disk(img, 'data'), timeout=120)
    r.expect_status(0)
    written = listing(r.app, 'write')
    e2fsck_clean(img)
    dump = os.path.join(out_dir(), 'dump')
    shutil.rmtree(dump, ignore_errors=True)
    os.makedirs(dump)
    run([tool('debugfs'), '-R', 'rdump / %s' % dump, img])
    check_equal('the host listing of what the guest wrote', native_tree(dump), written)
    got = run([tool('debugfs'), '-R', 'cat /sub/moved/inside', img]).stdout
    check_equal('debugfs cat', got, 'inside a moved directory\n')
    # The 50 MB file holds about 1.1 MB of data: its holes have no blocks.
    stat = run([tool('debugfs'), '-R', 'stat /sparse', img]).stdout
    count = int(stat.split('Blockcount:')[1].split()[0])
    if count * 512 > 2 * 1024 * 1024:
        fail('the sparse file has %d sectors allocated: holes were filled' % count, stat)
    if 'Flags: 0x1000' in run([tool('debugfs'), '-R', 'stat /big', img]).stdout:
        fail('the indexed directory the guest changed kept its htree flag')
    r = boot(app('vol'), 'unik.dev.data=blk,at=/data vol tree /data', accel='tcg',
             extra=disk(img, 'data'), timeout=120)
    r.expect_status(0)
    check_equal('the second boot listing', r.app, written + 'tree ok\n')
    e2fsck_clean(img)


def test_read_only():
    """Read-only as asked (`,ro`) and read-only as the device says: every change is EROFS and
    the image is not touched."""
    src = source_tree(1024)
    img = mkfs('ro.img', 1024, '16M', src)
    before = sha(img)
    r = boot(app('vol'), 'unik.dev.data=blk,ro,at=/data vol ro /data', accel='tcg',
             extra=disk(img, 'data'))
    r.expect_status(0).expect_app('ro ok\n')
    r = boot(app('vol'), 'unik.dev.data=blk,at=/data vol ro /data', accel='tcg',
             extra=disk(img, 'data', readonly=True))
    r.expect_status(0).expect_app('ro ok\n')
    if sha(img) != before:
        fail('a read-only mount changed the image')


def test_dirty_disk():
    """A disk not unmounted cleanly is refused with the fix named, or mounted read-only when
    asked."""
    src = source_tree(1024)
    img = mkfs('dirty.img', 1024, '16M', src)
    run([tool('debugfs'), '-w', '-R', 'ssv state 0', img])
    r = boot(app('vol'), 'unik.dev.data=blk,at=/data vol tree /data', accel='tcg',
             extra=disk(img, 'data'))
    r.expect_status(1).expect_in(MOUNT_MSG)
    r = boot(app('vol'), 'unik.dev.data=blk,ro,at=/data vol tree /data', accel='tcg',
             extra=disk(img, 'data'))
    r.expect_status(0).expect_in('mounted read-only')
    check_equal('the read-only listing', r.app, native_tree(src) + 'tree ok\n')


def test_two_disks_pci():
    """Two disks at once, on virtio-pci (q35), told apart by their serials."""
    src = source_tree(4096)
    a = mkfs('a.img', 4096, '32M', src)
    b = mkfs('b.img', 1024, '100M')
    r = boot(app('vol', 'mb1.elf'),
             'unik.dev.b=blk,at=/mnt/b unik.dev.a=blk,ro,at=/mnt/a vol tree /mnt/a write /mnt/b',
             accel='tcg', machine='q35', extra=disk(b, 'b', 'q35') + disk(a, 'a', 'q35'),
             timeout=120)
    r.expect_status(0)
    check_equal('the first disk', listing(r.app, 'tree'), native_tree(src))
    e2fsck_clean(a)
    e2fsck_clean(b)


def test_unknown_features_refused():
    """An ext4 disk (extents, 64-bit, ...) is refused with a line naming the fix."""
    img = os.path.join(out_dir(), 'ext4.img')
    if os.path.exists(img):
        os.unlink(img)
    run([tool('mke2fs'), '-q', '-t', 'ext4', img, '16M'])
    r = boot(app('vol'), 'unik.dev.data=blk,at=/data vol tree /data', accel='tcg',
             extra=disk(img, 'data'))
    r.expect_status(1).expect_in('unik: data: the file system has features unik\'s ext2 does '
                                 'not know')


def test_umount():
    """umount2 writes the volume back and leaves it clean; the mount point is empty after."""
    img = mkfs('umount.img', 4096, '16M')
    r = boot(app('vol'), 'unik.dev.data=blk,at=/data vol umount /data', accel='tcg',
             extra=disk(img, 'data'))
    r.expect_status(0).expect_app('umount ok\n')
    e2fsck_clean(img)
    check_equal('debugfs cat', run([tool('debugfs'), '-R', 'cat /u', img]).stdout,
                'unmounted\n')


def pattern(n, seed):
    """The bytes vol's put() writes at offset 0 of a file made with seed."""
    return bytes((o * 31 + seed * 7 + (o >> 9)) & 0xff for o in range(n))


def test_fsync_churn_clean():
    """The workload test_killed_mid_write kills, run to its end: the disk is clean."""
    img = mkfs('churn.img', 1024, '64M')
    r = boot(app('vol'), 'unik.dev.data=blk,at=/data CHURN_MAX=30 vol churn /data', accel='tcg',
             extra=disk(img, 'data'))
    r.expect_status(0).expect_in('churn ok')
    e2fsck_clean(img)


def test_killed_mid_write():
    """A guest killed while it writes leaves a disk e2fsck -p repairs, and every file it
    fsynced is intact."""
    img = mkfs('killed.img', 1024, '64M')
    console = os.path.join(out_dir(), 'killed-console.log')
    if os.path.exists(console):
        os.unlink(console)
    cmd = qemu_command(app('vol'), 'unik.dev.data=blk,at=/data vol churn /data', 'tcg',
                       console=console, extra=disk(img, 'data'))
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)

    def read_console():
        try:
            with open(console, errors='replace') as f:
                return f.read()
        except FileNotFoundError:  # QEMU has not made it yet
            return ''

    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.2)
            if 'synced 40\n' in read_console():
                break
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    text = read_console()
    synced = [int(n) for n in re.findall(r'^synced (\d+)$', text, re.M)]
    if len(synced) < 10:
        fail('the guest synced only %d files before it was killed' % len(synced), text[-2000:])
    r = run([tool('e2fsck'), '-p', img], check=False)
    with open(os.path.join(out_dir(), 'e2fsck-p.log'), 'w') as f:
        f.write(r.stdout + r.stderr)
    if r.returncode not in (0, 1):
        fail('e2fsck -p could not repair the disk (status %d)' % r.returncode,
             r.stdout + r.stderr)
    e2fsck_clean(img)
    for i in synced:
        if i % 5 == 2:
            continue  # renamed later, and renamed over, with or without a sync after
        got = subprocess.run([tool('debugfs'), '-R', 'cat /f%05d' % i, img],
                             stdin=subprocess.DEVNULL, capture_output=True).stdout
        if got != pattern(20000, i):
            fail('fsynced file f%05d lost or changed: %d bytes' % (i, len(got)))


def dumpe2fs_counts(img):
    out = run([tool('dumpe2fs'), '-h', img]).stdout
    got = {}
    for line in out.splitlines():
        key, _, value = line.partition(':')
        got[key.strip()] = value.strip()
    return got


@blocks
def test_statfs_and_blocks(bs):
    """statfs and fstatfs on a volume give ext2's magic, block size and the superblock's counts
    (the host reads the same with dumpe2fs), and st_blocks is each file's i_blocks (debugfs),
    a sparse file's holes not counted; a read-only mount says so in f_flags."""
    src = os.path.join(out_dir(), 'statfs-src')
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    with open(os.path.join(src, 'data'), 'wb') as f:
        f.write(bytes(range(256)) * 400)
    with open(os.path.join(src, 'small'), 'w') as f:
        f.write('small\n')
    with open(os.path.join(src, 'sparse'), 'wb') as f:
        f.write(b'head')
        f.seek(6 * 1024 * 1024)
        f.write(b'tail')
    img = mkfs('statfs.img', bs, '16M', src)
    sb = dumpe2fs_counts(img)
    blocks = {}
    for name in ('data', 'small', 'sparse'):
        stat = run([tool('debugfs'), '-R', 'stat /%s' % name, img]).stdout
        blocks[name] = int(stat.split('Blockcount:')[1].split()[0])
    free = int(sb['Free blocks'])
    want = ('statfs type ef53 bsize %d blocks %s bfree %d bavail %d files %s ffree %s '
            'namelen 255 ro %%d\n' % (bs, sb['Block count'], free,
                                     max(free - int(sb['Reserved block count']), 0),
                                     sb['Inode count'], sb['Free inodes']))
    want += ''.join('blocks %s %d\n' % (n, blocks[n]) for n in sorted(blocks))
    if blocks['sparse'] * 512 >= 6 * 1024 * 1024:
        fail('mke2fs filled the sparse file: the test checks nothing about holes')
    for ro in (0, 1):
        r = boot(app('vol'), 'unik.dev.data=blk%s,at=/data vol statfs /data'
                 % (',ro' if ro else ''), accel='tcg', extra=disk(img, 'data'))
        r.expect_status(0)
        check_equal('statfs and st_blocks (ro %d)' % ro, listing(r.app, 'statfs'), want % ro)
    e2fsck_clean(img)
