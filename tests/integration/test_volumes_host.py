"""Volumes seen from the host (issue 15), through the daemon and the real CLI: volumes are made
by mke2fs (empty, or from a directory the CLI packs and sends), listed, exported byte for byte and
clean by e2fsck; runs attach them where -v says, at most one running instance read-write; a
volume in use cannot be removed; removing an instance keeps its volumes; e2fsck repairs a volume
before it is attached and the console says so; UniK's spellings and routes work; bad input gets
a clear error and leaves nothing behind."""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, Skip, bin_dir, check_equal, fail, out_dir, timeout
from test_daemon_fixture import Daemon, cli, cli_error, provider_ready


def need_e2fsprogs():
    for tool in ('mke2fs', 'e2fsck', 'debugfs'):
        if not (shutil.which(tool) or os.path.exists('/sbin/' + tool)):
            raise Skip('%s is not installed (Debian: e2fsprogs)' % tool)


def sbin(tool):
    return shutil.which(tool) or '/sbin/' + tool




def data_tree(name):
    root = os.path.join(out_dir(), name)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, 'sub', 'deeper'))
    with open(os.path.join(root, 'hello.txt'), 'w') as f:
        f.write('hello volume\n')
    with open(os.path.join(root, 'sub', 'deeper', 'big.bin'), 'wb') as f:
        f.write(bytes(range(256)) * 4096)  # 1 MiB
    os.symlink('hello.txt', os.path.join(root, 'link'))
    return root


def debugfs_cat(disk, path):
    return subprocess.run([sbin('debugfs'), '-R', 'cat ' + path, disk], capture_output=True,
                          timeout=60).stdout


def e2fsck_clean(disk):
    r = subprocess.run([sbin('e2fsck'), '-fn', disk], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        fail('e2fsck -fn %s: exit %d' % (disk, r.returncode), r.stdout + r.stderr)


@timeout(180)
def test_volume_lifecycle_and_export():
    need_e2fsprogs()
    with Daemon('volhome') as d:
        tree = data_tree('voldata')
        check_equal('create empty', cli(d, 'volume', 'create', '--size', '16', 'empty').stdout,
                    'empty\n')
        check_equal('create from a directory',
                    cli(d, 'volume', 'create', '--from', tree, 'filled').stdout, 'filled\n')
        check_equal("UniK's create-volume",
                    cli(d, 'create-volume', '--name', 'old', '--size', '8', '--raw').stdout,
                    'old\n')
        vols = {v['name']: v for v in d.ok('GET', '/v1/volumes')}
        check_equal('volumes', sorted(vols), ['empty', 'filled', 'old'])
        check_equal('the empty one\'s size', vols['empty']['size_mb'], 16)
        if vols['filled']['size_mb'] < 9:
            fail('a volume from 1 MiB of data should be at least 9 MiB', vols['filled'])
        listing = cli(d, 'volumes').stdout
        if 'filled' not in listing or 'ext2' not in listing:
            fail('unik volumes does not list them', listing)
        # The export is the disk: e2fsck finds it clean, and it holds the data.
        disk = os.path.join(out_dir(), 'filled.ext2')
        cli(d, 'volume', 'export', 'filled', '-o', disk)
        check_equal('exported size', os.path.getsize(disk), vols['filled']['size_mb'] << 20)
        e2fsck_clean(disk)
        check_equal('a file', debugfs_cat(disk, '/hello.txt'), b'hello volume\n')
        check_equal('a deeper file', debugfs_cat(disk, '/sub/deeper/big.bin'),
                    bytes(range(256)) * 4096)
        r = subprocess.run([sbin('debugfs'), '-R', 'stat /link', disk], capture_output=True,
                           text=True, timeout=60)
        if 'Fast link dest: "hello.txt"' not in r.stdout:
            fail('the symlink did not survive', r.stdout)
        # Bad input: a clear error, and no volume or directory left behind.
        cli_error(d, 'exists', 'volume', 'create', '--size', '8', 'empty')
        cli_error(d, 'ext2 volumes only', 'volume', 'create', '--type', 'fat', 'v2')
        cli_error(d, 'too small for its data', 'volume', 'create', '--from', tree, '--size',
                  '2', 'v2')
        cli_error(d, 'want a size', 'volume', 'create', '--size', 'lots', 'v2')
        cli_error(d, 'give --data DIR or --size MB', 'create-volume', '--name', 'v2')
        # A --from directory with links out of it.
        for target in ('/etc/passwd', '../../outside'):
            escape = os.path.join(out_dir(), 'escape')
            shutil.rmtree(escape, ignore_errors=True)
            os.makedirs(escape)
            os.symlink(target, os.path.join(escape, 'link'))
            cli_error(d, 'leaves the source tree', 'volume', 'create', '--from', escape, 'v2')
        r = d.request('POST', '/v1/volumes', {'name': 'v2', 'size_mb': 'big'})
        check_equal('a size that is no number', r.status, 400)
        r = d.request('POST', '/v1/volumes', {'name': '../x', 'size_mb': 8})
        check_equal('a bad name', r.status, 400)
        check_equal('volumes after the refusals',
                    sorted(v['name'] for v in d.ok('GET', '/v1/volumes')),
                    ['empty', 'filled', 'old'])
        check_equal('volume directories after the refusals',
                    len(os.listdir(os.path.join(d.home, 'volumes'))), 3)
        # UniK's routes.
        u = d.ok('GET', '/volumes')
        check_equal("UniK's Volume keys", sorted(u[0]),
                    ['Attachment', 'Created', 'Id', 'Infrastructure', 'Name', 'SizeMb'])
        r = d.request('POST', '/volumes/viaunik?size=8')
        check_equal("UniK's POST /volumes/:name?size=", r.status, 201)
        check_equal("UniK's DELETE", d.request('DELETE', '/volumes/viaunik').status, 204)
        check_equal('rm', cli(d, 'volume', 'rm', 'empty', 'old').stdout, 'empty\nold\n')
        cli(d, 'delete-volume', '--volume', 'filled')
        check_equal('nothing left', d.ok('GET', '/v1/volumes'), [])
        check_equal('no directory left', os.listdir(os.path.join(d.home, 'volumes')), [])


def build_http(d):
    b = d.build(os.path.join(REPO, 'examples', 'http'), {'name': 'http'})
    if b['state'] != 'succeeded':
        fail('building examples/http failed', b.get('log', '')[-3000:])


@timeout(300)
def test_attach_rules():
    """At most one running instance mounts a volume read-write; read-only mounts share; a
    volume in use is not removed; removing an instance keeps the volume; attach-volume and
    detach-volume work on stopped instances; e2fsck repairs a volume before it is attached."""
    need_e2fsprogs()
    with Daemon('volhome2') as d:
        provider_ready(d)
        build_http(d)
        cli(d, 'volume', 'create', '--size', '8', 'data')
        share = os.path.join(out_dir(), 'share')
        os.makedirs(share, exist_ok=True)
        cli(d, 'run', '-d', '--name', 'w1', '--network', 'none', '-v', 'data:/data', '-v',
            share + ':/share:ro', 'http')
        inst = d.ok('GET', '/v1/instances/w1')
        check_equal('mounts', [(m['volume'], m['host_path'], m['at'], m['readonly'])
                               for m in inst['mounts']],
                    [('data', None, '/data', False), (None, share, '/share', True)])
        vol = d.ok('GET', '/v1/volumes/data')
        check_equal('attached', [(a['instance'], a['at']) for a in vol['attached']],
                    [('w1', '/data')])
        if 'w1 (/data)' not in cli(d, 'volumes').stdout:
            fail('unik volumes does not show the attachment')
        cli_error(d, 'read-write to one running instance at most', 'run', '-d', '--network',
                  'none', '-v', 'data:/data', 'http')
        cli_error(d, 'read-write to one running instance at most', 'run', '-d', '--network',
                  'none', '-v', 'data:/data:ro', 'http')
        cli_error(d, 'mounted by running instance w1', 'volume', 'rm', 'data')
        cli_error(d, 'mounted by running instance w1', 'volume', 'rm', '-f', 'data')
        cli_error(d, 'mounted read-write by running instance', 'volume', 'export', 'data', '-o',
                  os.path.join(out_dir(), 'x.ext2'))
        cli_error(d, 'no volume "nope"', 'run', '-d', '-v', 'nope:/data', 'http')
        cli_error(d, 'no such directory', 'run', '-d', '-v', '/no/such/dir:/data', 'http')
        cli_error(d, 'must be an absolute path', 'run', '-d', '-v', 'data:rel', 'http')
        cli_error(d, 'an absolute path other than /', 'run', '-d', '-v', 'data:/', 'http')
        cli_error(d, "/proc is the runtime's own file system", 'run', '-d', '-v', 'data:/proc',
                  'http')
        cli_error(d, "/dev is the runtime's own file system", 'run', '-d', '-v',
                  '%s:/dev/x' % out_dir(), 'http')
        cli_error(d, 'two mounts at /d', 'run', '-d', '-v', 'data:/d:ro', '-v',
                  '%s:/d' % out_dir(), 'http')
        cli_error(d, 'the mode after the mount point is ro or rw', 'run', '-d', '-v',
                  'data:/d:rx', 'http')
        cli(d, 'stop', 'w1')
        # Two read-only mounts share it.
        cli(d, 'run', '-d', '--name', 'r1', '--network', 'none', '-v', 'data:/d:ro', 'http')
        cli(d, 'run', '-d', '--name', 'r2', '--network', 'none', '-v', 'data:/d:ro', 'http')
        cli_error(d, 'read-write to one running instance at most', 'start', 'w1')
        cli(d, 'rm', '-f', 'r1', 'r2')
        # Removing an instance keeps its volume; attach and detach for the next start.
        cli(d, 'rm', 'w1')
        check_equal('the volume outlives its instance', d.ok('GET', '/v1/volumes/data')['name'],
                    'data')
        cli(d, 'run', '-d', '--name', 'w2', '--network', 'none', 'http')
        cli_error(d, 'is running: stop it first', 'volume', 'attach', 'data', 'w2', '/data')
        cli(d, 'stop', 'w2')
        cli(d, 'attach-volume', '--volume', 'data', '--instanceId', 'w2', '--mountPoint',
            '/data')
        cli_error(d, 'attached to w2 already', 'volume', 'attach', 'data', 'w2', '/x')
        # A volume that was not unmounted cleanly: e2fsck -p repairs it before the start,
        # and the console says what it did.
        disk = os.path.join(d.home, 'volumes', d.ok('GET', '/v1/volumes/data')['id'],
                            'disk.raw')
        subprocess.run([sbin('debugfs'), '-w', '-R', 'ssv state 0', disk], check=True,
                       capture_output=True, timeout=60)
        cli(d, 'start', 'w2')
        log = d.get('/v1/instances/w2/logs').text
        if 'e2fsck repaired volume data' not in log:
            fail('no note of the repair on the console', log[-2000:])
        e2fsck_clean(disk)
        cli(d, 'stop', 'w2')
        cli(d, 'detach-volume', '--volume', 'data')
        check_equal('detached', d.ok('GET', '/v1/instances/w2')['mounts'], [])
        cli_error(d, 'not attached to any instance', 'volume', 'detach', 'data')
        # rm -f takes a volume out of ended instances.
        cli(d, 'volume', 'attach', 'data', 'w2', '/data')
        cli_error(d, 'attached to instance(s) w2', 'volume', 'rm', 'data')
        cli(d, 'volume', 'rm', '-f', 'data')
        check_equal('w2 without it', d.ok('GET', '/v1/instances/w2')['mounts'], [])
        cli(d, 'rm', '-f', 'w2')
        # A disk e2fsck -p cannot repair (its superblock overwritten) is refused at attach, with
        # the way out, and no instance is made.
        cli(d, 'volume', 'create', '--size', '8', 'broken')
        vid = d.ok('GET', '/v1/volumes/broken')['id']
        with open(os.path.join(d.home, 'volumes', vid, 'disk.raw'), 'r+b') as f:
            f.seek(1024)
            f.write(b'garbage!' * 128)
        names = sorted(i['name'] for i in d.ok('GET', '/v1/instances'))
        cli_error(d, 'cannot repair', 'run', '-d', '--network', 'none', '-v', 'broken:/data',
                  'http')
        check_equal('instances after the refusal',
                    sorted(i['name'] for i in d.ok('GET', '/v1/instances')), names)
