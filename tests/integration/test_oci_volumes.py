"""Volumes under unik-oci (docs/oci.md "Volumes"): the bind mounts of config.json, `docker run
-v HOSTDIR:/data[:ro]` and named Docker volumes, reach the guest as 9p shares mounted where the
container has them.  Two variants:
- direct: a bundle whose config.json has Docker's own mounts plus a read-write and a read-only
  directory and a bound file, driven with unik-oci run;
- docker: a private dockerd, `docker run --runtime=unik -v DIR:/data -v DIR2:/ro:ro -v VOL:/vol`
  with a named volume that Docker fills from the image;
- podman: `podman run -v DIR:/data -v DIR2:/ro:ro`, whose own mounts (/dev/shm, /run/.containerenv,
  /etc/hosts, ...) must stay out.
Each checks the host side (QEMU's -fsdev, the guest's manifest words, the note for a bound file)
and then, when the guest runtime has a 9P client, the files: the guest reads what the test put
there and writes what the test then finds on the host; on the read-only share its write fails."""

import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Skip, fail, out_dir, tail, timeout  # noqa: E402
import test_oci_common as c  # noqa: E402
from apps import app  # noqa: E402

GUEST_TEXT = 'written by the guest'


def shareio_tar(tag, owner):
    """An image of the shareio kernel with /vol (and /vol/in.txt) owned by QEMU's user."""
    with open(app('shareio'), 'rb') as f:
        data = f.read()
    labels = dict(c.UNIK_LABELS, **{'org.unik.kernel': '/shareio'})
    files = {'shareio': (data, 0o755), 'vol': (None, 0o755, owner),
             'vol/in.txt': (b'hello vol', 0o644, owner)}
    return c.write_docker_archive(os.path.join(out_dir(), 'unik-shareio.tar'), tag, files,
                                  ['/shareio'], labels=labels)


def running_qemu(under, secs=90):
    """QEMU's command lines under a directory, once there is one (the guest holds a while)."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        cmds = [cmd for _, cmd in c.qemu_under(under)]
        if cmds:
            return cmds
        time.sleep(0.1)
    return []


def qemu_owner():
    """QEMU's user and group (lib/vmm_confine.c), which must own a share the guest writes."""
    spec = os.environ.get('UNIK_QEMU_USER', '64122:64122')
    try:
        uid, gid = spec.split(':')
        return int(uid), int(gid)
    except ValueError:
        import pwd
        pw = pwd.getpwnam(spec)
        return pw.pw_uid, pw.pw_gid


def guest_has_9p():
    """Whether the guest runtime has a 9P2000.L client (issue 15; until then only the host side
    can be checked)."""
    for top, _, files in os.walk(os.path.join(c.REPO, 'runtime')):
        for f in files:
            if f.endswith('.c'):
                with open(os.path.join(top, f), 'rb') as fh:
                    if b'9P2000.L' in fh.read():
                        return True
    return False


def make_dir(path, text, owner=None):
    os.makedirs(path)
    with open(os.path.join(path, 'in.txt'), 'w') as f:
        f.write(text)
    os.chmod(path, 0o755)
    if owner:
        os.chown(path, *owner)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def check_qemu_cmd(cmd, shares):
    """shares: {mount: readonly}; cmd: QEMU's command line.  Engines list mounts in their own
    order, so the share names (share0, share1, ...) are matched through the manifest words."""
    words = re.findall(r'unik\.dev\.(share\d+)=fs(,ro)?,at=(\S+)', cmd)
    got = {mount: bool(ro) for _, ro, mount in words}
    if got != shares:
        fail('the guest\'s manifest gives shares %r, wanted %r' % (got, shares), cmd)
    if sorted(n for n, _, _ in words) != ['share%d' % i for i in range(len(shares))]:
        fail('shares are not named share0..share%d' % (len(shares) - 1), cmd)
    for name, ro, mount in words:
        fsdev = 'local,id=fs-%s,path=/proc/self/fd/' % name
        if fsdev not in cmd or 'mount_tag=%s' % name not in cmd:
            fail('QEMU has no 9p device for %s (%s)' % (name, mount), cmd)
        opts = cmd.split(fsdev, 1)[1].split()[0]
        if ('readonly=on' in opts) != bool(ro):
            fail('share %s (%s): readonly=on %s' % (name, mount, 'missing' if ro else
                                                     'on a writable one'), cmd)


def check_guest(out, rw_dirs, ro_dirs):
    """The guest's output, and the host's files after it ended."""
    for mount, host, text in rw_dirs + ro_dirs:
        if '%s: read <%s>' % (mount, text) not in out:
            fail('the guest did not read %s/in.txt' % mount, tail(out))
    for mount, host, _ in rw_dirs:
        if '%s: wrote out.txt' % mount not in out:
            fail('the guest could not write %s' % mount, tail(out))
        got = read(os.path.join(host, 'out.txt'))
        if got != GUEST_TEXT:
            fail('%s/out.txt on the host holds %r after the container ended' % (host, got))
    for mount, host, _ in ro_dirs:
        if '%s: write failed' % mount not in out:
            fail('a write to the read-only %s went through' % mount, tail(out))
        if os.path.exists(os.path.join(host, 'out.txt')):
            fail('the read-only share %s got an out.txt on the host' % host)


@timeout(300)
def test_oci_bind_mounts_direct():
    """A bundle with Docker's mounts, through unik-oci run."""
    c.need_kvm_or_tcg()
    kernel = app('shareio')
    work = c.tmpdir('vol')
    root = os.path.join(work, 'root')
    rw, ro = os.path.join(work, 'rw'), os.path.join(work, 'ro')
    conf = os.path.join(work, 'app.conf')
    make_dir(rw, 'hello rw', qemu_owner())
    make_dir(ro, 'hello ro')
    with open(conf, 'w') as f:
        f.write('k=v\n')
    cid = 'vol%d' % (os.getpid() % 100000)
    rt = [c.unik_oci(), '--root', root]
    try:
        b = os.path.join(work, 'bundle')
        os.makedirs(os.path.join(b, 'rootfs'))
        shutil.copy(kernel, os.path.join(b, 'rootfs', 'shareio'))
        mounts = [
            {'destination': '/proc', 'type': 'proc', 'source': 'proc'},
            {'destination': '/dev', 'type': 'tmpfs', 'source': 'tmpfs',
             'options': ['nosuid', 'mode=755']},
            {'destination': '/dev/shm', 'type': 'bind', 'source': work,
             'options': ['rbind', 'rprivate']},
            {'destination': '/sys', 'type': 'sysfs', 'source': 'sysfs', 'options': ['ro']},
            {'destination': '/data', 'type': 'bind', 'source': rw,
             'options': ['rbind', 'rprivate']},
            {'destination': '/ro', 'type': 'bind', 'source': ro,
             'options': ['rbind', 'ro', 'rprivate']},
            {'destination': '/etc/app.conf', 'type': 'bind', 'source': conf,
             'options': ['rbind', 'rprivate']},
            {'destination': '/etc/hosts', 'type': 'bind', 'source': conf,
             'options': ['rbind', 'rprivate']},
        ]
        cfg = {'ociVersion': '1.0.2',
               'process': {'args': ['/shareio', '/data', '/ro'], 'env': ['PATH=/bin'],
                           'cwd': '/'},
               'root': {'path': 'rootfs'}, 'mounts': mounts}
        with open(os.path.join(b, 'config.json'), 'w') as f:
            json.dump(cfg, f, indent=1)
        p = c.run(rt + ['run', '--keep', '--bundle', b, cid], timeout=180)
        cmd = read(os.path.join(root, cid, 'qemu.cmd')) or ''
        check_qemu_cmd(cmd, {'/data': False, '/ro': True})
        note = '%s is not mounted on /etc/app.conf in the guest' % conf
        if note not in p.err or 'directories only' not in p.err:
            fail('no note on stderr for the bound file', p.err)
        if '/etc/hosts' in p.err:
            fail('the engine\'s /etc/hosts was reported as if it were the user\'s', p.err)
        print('host side: share0 /data, share1 /ro read-only, the bound file noted')
        if not guest_has_9p():
            raise Skip('the guest runtime has no 9P client yet: host side checked only '
                       '(guest said: %s)' % p.out.strip().split('\n')[0])
        check_guest(p.out, [('/data', rw, 'hello rw')], [('/ro', ro, 'hello ro')])
        if p.returncode != 1:
            fail('shareio exited with %d, wanted 1 (the read-only write)' % p.returncode, p.out)
    finally:
        c.run(rt + ['delete', '--force', cid], timeout=60)
        for pid, _ in c.qemu_under(root):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        c.remove_tree(work)


@timeout(600)
def test_docker_volumes():
    """docker run --runtime=unik -v HOSTDIR:/data -v HOSTDIR2:/ro:ro -v NAMED:/vol."""
    c.need_kvm_or_tcg()
    owner = qemu_owner()
    work = c.tmpdir('dvol')
    rw, ro = os.path.join(work, 'rw'), os.path.join(work, 'ro')
    make_dir(rw, 'hello rw', owner)
    make_dir(ro, 'hello ro')
    conf = os.path.join(work, 'app.conf')
    with open(conf, 'w') as f:
        f.write('k=v\n')
    # /vol in the image belongs to QEMU's user: Docker copies it, owner and all, into a new
    # named volume, so the guest may write there (docs/oci.md "Volumes").
    tar = shareio_tar('unik-shareio:test', owner)
    vol = 'ukvol%d' % (os.getpid() % 100000)
    name = 'ukshare%d' % (os.getpid() % 100000)
    try:
        with c.Dockerd() as d:
            p = d.docker('load', '-i', tar)
            if p.returncode:
                fail('docker load failed', p.out + p.err)
            p = d.docker('volume', 'create', vol)
            if p.returncode:
                fail('docker volume create failed', p.out + p.err)
            voldir = d.docker('volume', 'inspect', '-f', '{{.Mountpoint}}', vol).out.strip()
            # The guest stays a few seconds, for QEMU's command line to be read while it
            # runs: the container's state directory goes with the task when it ends.
            p = d.docker('run', '-d', '--pull', 'never', '--network', 'none', '--runtime=unik',
                         '--name', name, '-e', 'SHAREIO_HOLD=4', '-v', rw + ':/data',
                         '-v', ro + ':/ro:ro', '-v', vol + ':/vol', '-v', conf + ':/etc/app.conf:ro',
                         'unik-shareio:test',
                         '/data', '/ro', '/vol')
            if p.returncode:
                fail('docker run -d -v failed', p.out + p.err)
            cmds = running_qemu(d.dir)
            code = d.docker('wait', name, timeout=240).out.strip()
            p = d.docker('logs', name)
            out = p.out + p.err
            if len(cmds) != 1:
                fail('found %d QEMU processes for the container' % len(cmds), out)
            check_qemu_cmd(cmds[0], {'/data': False, '/ro': True, '/vol': False})
            st = os.stat(voldir)
            if (st.st_uid, st.st_gid) != owner or read(os.path.join(voldir, 'in.txt')) != \
                    'hello vol':
                fail('Docker did not fill the named volume from the image (owner %d:%d)' %
                     (st.st_uid, st.st_gid), repr(os.listdir(voldir)))
            if 'is not mounted on /etc/app.conf in the guest' not in out:
                fail('docker logs has no note for the bound file', out)
            print('host side: -v DIR, -v DIR:ro and the named volume %s (%s) are shares' %
                  (vol, voldir))
            if not guest_has_9p():
                raise Skip('the guest runtime has no 9P client yet: host side checked only '
                           '(guest said: %s)' % out.strip().split('\n')[0])
            check_guest(out, [('/data', rw, 'hello rw'), ('/vol', voldir, 'hello vol')],
                        [('/ro', ro, 'hello ro')])
            if code != '1':
                fail('the container exited with %s, wanted 1 (the read-only write)' % code, out)
            d.docker('rm', name)
            d.docker('volume', 'rm', vol)
    finally:
        c.remove_tree(work)


@timeout(600)
def test_podman_volumes():
    """podman run -v DIR:/data -v DIR2:/ro:ro."""
    from test_oci_podman import Podman
    c.need_kvm_or_tcg()
    owner = qemu_owner()
    work = c.tmpdir('pvol')
    rw, ro = os.path.join(work, 'rw'), os.path.join(work, 'ro')
    make_dir(rw, 'hello rw', owner)
    make_dir(ro, 'hello ro')
    pm = Podman()
    try:
        p = pm('load', '-i', shareio_tar('localhost/unik-shareio:test', owner))
        if p.returncode:
            fail('podman load', p.out + p.err)
        p = pm('run', '-d', '--network', 'none', '--name', 'shareio', '-e', 'SHAREIO_HOLD=4',
               '-v', rw + ':/data', '-v', ro + ':/ro:ro', 'localhost/unik-shareio:test',
               '/data', '/ro')
        if p.returncode:
            fail('podman run -d -v failed', p.out + p.err)
        cmds = running_qemu(pm.dir)
        code = pm('wait', 'shareio', timeout=240).out.strip()
        p = pm('logs', 'shareio')
        out = p.out + p.err
        if len(cmds) != 1:
            fail('found %d QEMU processes for the container' % len(cmds), out)
        check_qemu_cmd(cmds[0], {'/data': False, '/ro': True})
        if 'unik-oci: warning' in out:
            fail('podman\'s own mounts were reported as the user\'s', out)
        print('host side: podman -v DIR and -v DIR:ro are shares, podman\'s own mounts left out')
        if not guest_has_9p():
            raise Skip('the guest runtime has no 9P client yet: host side checked only '
                       '(guest said: %s)' % out.strip().split('\n')[0])
        check_guest(out, [('/data', rw, 'hello rw')], [('/ro', ro, 'hello ro')])
        if code != '1':
            fail('the container exited with %s, wanted 1 (the read-only write)' % code, out)
    finally:
        pm.close()
        c.remove_tree(work)
