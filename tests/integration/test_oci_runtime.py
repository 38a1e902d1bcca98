"""unik-oci driven directly, as an engine would: hand-made bundles, create/start/state/kill/
delete/run, the console socket, errors that must leave nothing behind, hand-over to runc, and
concurrent calls."""

import array
import ctypes
import json
import os
import signal
import socket
import stat
import subprocess
import threading
import time

import os as _os, sys as _sys
_sys.path.insert(0, _os.path.dirname(_os.path.abspath(__file__)))
from harness import Failure, Skip, fail, out_dir, tail, timeout
import test_oci_common as c
from confined import check_confined, check_hidden

CONTAINER_ENV = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
                 'HOSTNAME=box', 'GREETING=hello world']


def become_subreaper():
    """Be what containerd's shim and conmon are: orphaned init processes come to us."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise Skip('cannot become a child subreaper')


def bundle(name, args, kernel=True, annotations=None, memory=None, terminal=False, raw=None):
    """A bundle directory with rootfs/ociapp (the unik kernel, or the native binary)."""
    d = os.path.join(out_dir(), 'bundle-' + name)
    rootfs = os.path.join(d, 'rootfs')
    os.makedirs(rootfs, exist_ok=True)
    src = c.ociapp_kernel() if kernel else c.ociapp_native()
    dst = os.path.join(rootfs, 'ociapp')
    with open(src, 'rb') as f, open(dst, 'wb') as g:
        g.write(f.read())
    os.chmod(dst, 0o755)
    cfg = {'ociVersion': '1.0.2',
           'process': {'terminal': terminal, 'args': args, 'env': CONTAINER_ENV, 'cwd': '/',
                       'user': {'uid': 0, 'gid': 0}},
           'root': {'path': 'rootfs'}}
    if annotations:
        cfg['annotations'] = annotations
    if memory:
        cfg['linux'] = {'resources': {'memory': {'limit': memory}}}
    with open(os.path.join(d, 'config.json'), 'w') as f:
        f.write(raw if raw is not None else json.dumps(cfg, indent=1))
    return d


class Runtime:
    def __init__(self):
        c.need_kvm_or_tcg()
        self.bin = c.unik_oci()
        self.root = c.tmpdir('root')

    def __call__(self, *args, timeout=120, env=None, log=None):
        pre = [self.bin, '--root', self.root]
        if log:
            pre += ['--log', log, '--log-format', 'json']
        return c.run(pre + list(args), timeout=timeout, env=env)

    def state(self, cid):
        p = self('state', cid)
        if p.returncode:
            fail('state %s failed: %s' % (cid, p.err))
        return json.loads(p.out)

    def entries(self):
        return sorted(os.listdir(self.root)) if os.path.isdir(self.root) else []

    def close(self):
        for pid, _ in c.qemu_under(self.root):
            os.kill(pid, signal.SIGKILL)
        c.remove_tree(self.root)
        # As a shim does: reap what was orphaned to us (QEMU of an init killed by SIGKILL).
        time.sleep(0.2)
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass


def wait_child(pid, timeout_s=60):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        got, st = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            # As the engines report it: a signal N is status 128 + N.
            code = os.waitstatus_to_exitcode(st)
            return 128 - code if code < 0 else code
        time.sleep(0.05)
    fail('init process %d did not end within %ds' % (pid, timeout_s))


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def create(rt, cid, bdir, outfile, extra=()):
    """create with stdout/stderr to outfile (the container's stdio); returns the init PID."""
    pidfile = os.path.join(out_dir(), cid + '.pid')
    with open(outfile, 'wb') as out:
        p = subprocess.run([rt.bin, '--root', rt.root, 'create', '--bundle', bdir, '--pid-file',
                            pidfile] + list(extra) + [cid], stdin=subprocess.DEVNULL,
                           stdout=out, stderr=out, timeout=120)
    if p.returncode:
        fail('create %s exited with %d' % (cid, p.returncode), tail(open(outfile, 'rb').read()))
    with open(pidfile) as f:
        return int(f.read())


@timeout(600)
def test_run_foreground():
    rt = Runtime()
    try:
        b = bundle('run', ['/ociapp', 'args', 'one', 'two words'], memory=96 << 20)
        p = rt('run', '--bundle', b, 'fg1')
        if p.returncode != 0:
            fail('run exited with %d' % p.returncode, p.out + p.err)
        for want in ('argv[0]=<ociapp>', 'argv[2]=<one>', 'argv[3]=<two words>',
                     'env <GREETING=hello world>', 'env <HOSTNAME=box>',
                     'unik: exit status 0'):
            if want not in p.out:
                fail('run output lacks %r' % want, p.out)
        if 'PATH=' in p.out:
            fail('PATH reached the guest', p.out)
        p = rt('run', '--bundle', bundle('exit', ['/ociapp', 'exit', '200']), 'fg2')
        if p.returncode != 200 or 'exiting with 200' not in p.out:
            fail('run of exit 200 gave %d' % p.returncode, p.out + p.err)
        p = rt('run', '--bundle', bundle('mem', ['/ociapp', 'mem'], memory=128 << 20), 'fg3')
        mib = int(p.out.split('totalram_mib=')[1].split()[0])
        if not 100 <= mib <= 128:
            fail('a 128 MiB memory limit gave the guest %d MiB' % mib, p.out)
        if rt.entries():
            fail('run left state behind: %r' % rt.entries())
    finally:
        rt.close()


@timeout(600)
def test_lifecycle():
    become_subreaper()
    rt = Runtime()
    try:
        b = bundle('life', ['/ociapp', 'exit', '3'])
        out = os.path.join(out_dir(), 'life.out')
        pid = create(rt, 'life', b, out)
        st = rt.state('life')
        if st['status'] != 'created' or st['pid'] != pid or st['id'] != 'life':
            fail('state after create: %r (init %d)' % (st, pid))
        if st['bundle'] != b or not st['created'] or st['ociVersion'] != '1.0.2':
            fail('state fields: %r' % st)
        time.sleep(0.5)
        if open(out, 'rb').read():
            fail('the VM ran before start', open(out, 'rb').read())
        if c.qemu_under(rt.root):
            fail('QEMU started before start')
        p = rt('start', 'life')
        if p.returncode:
            fail('start failed', p.err)
        status = wait_child(pid)
        if status != 3:
            fail('init exited with %d, wanted 3' % status, open(out, 'rb').read())
        text = open(out, 'rb').read().decode()
        if 'exiting with 3\n' not in text or not text.endswith('unik: exit status 3\n'):
            fail('console differs', text)
        if rt.state('life')['status'] != 'stopped':
            fail('state after exit: %r' % rt.state('life'))
        p = rt('start', 'life')
        if p.returncode == 0 or 'stopped' not in p.err:
            fail('start of a stopped container: %d %s' % (p.returncode, p.err))
        p = rt('delete', 'life')
        if p.returncode or rt.entries():
            fail('delete failed or left %r' % rt.entries(), p.err)
        p = rt('state', 'life')
        if p.returncode == 0 or 'does not exist' not in p.err:
            fail('state of a deleted container: %d %s' % (p.returncode, p.err))
    finally:
        rt.close()


def check_process_tree(pid, qemu, cdir):
    """The container's process (state's pid, --pid-file) is unik-shim in the foreground, as
    the qemu provider started it on the container's directory, and QEMU is its child."""
    with open('/proc/%d/stat' % qemu) as f:
        ppid = int(f.read().rsplit(')', 1)[1].split()[1])
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        argv = [a.decode() for a in f.read().split(b'\0')]
    if ppid != pid:
        fail('QEMU %d is a child of %d, not of the container\'s process %d' % (qemu, ppid, pid))
    if (os.path.basename(argv[0]) != 'unik-shim' or '--foreground' not in argv
            or argv[argv.index('--dir') + 1] != cdir):
        fail('the container\'s process is not unik-shim --foreground --dir %s' % cdir,
             ' '.join(argv))
    st = json.load(open(os.path.join(cdir, 'unik.json')))
    if st['pid'] != pid:
        fail('unik.json records %r, not %d' % (st['pid'], pid))


@timeout(600)
def test_qemu_confined():
    """The running container's QEMU: unprivileged uid/gid (64122 by default), no capabilities,
    no_new_privs, a seccomp filter; UNIK_QEMU_USER=0:0 is refused at create."""
    become_subreaper()
    rt = Runtime()
    try:
        b = bundle('confined', ['/ociapp', 'sleep', '300'])
        out = os.path.join(out_dir(), 'confined.out')
        pid = create(rt, 'confined', b, out)
        if rt('start', 'confined').returncode:
            fail('start failed')
        end = time.monotonic() + 60
        while b'tick 0' not in open(out, 'rb').read() and time.monotonic() < end:
            time.sleep(0.1)
        qemus = c.qemu_under(os.path.join(rt.root, 'confined'))
        if len(qemus) != 1:
            fail('expected one QEMU for the container, found %r' % qemus,
                 open(out, 'rb').read().decode('utf-8', 'replace'))
        check_confined(qemus[0][0], qemus[0][1], uid=64122, gid=64122)
        check_process_tree(pid, qemus[0][0], os.path.join(rt.root, 'confined'))
        check_hidden(qemus[0][0], qemus[0][1])
        rt('kill', 'confined', 'KILL')
        wait_child(pid)
        rt('delete', 'confined')
        p = rt('create', '--bundle', b, 'rootuser', env=dict(os.environ, UNIK_QEMU_USER='0:0'))
        if p.returncode == 0 or 'UNIK_QEMU_USER' not in p.err or 'root' not in p.err:
            fail('UNIK_QEMU_USER=0:0 was not refused: %d %s' % (p.returncode, p.err))
        if rt.entries():
            fail('a refused create left %r' % rt.entries())
    finally:
        rt.close()


@timeout(600)
def test_kill_and_force_delete():
    become_subreaper()
    rt = Runtime()
    try:
        b = bundle('sleep', ['/ociapp', 'sleep', '300'])
        for sig, want in (('SIGTERM', 143), ('KILL', 137), ('2', 130)):
            cid = 'k' + want.__str__()
            out = os.path.join(out_dir(), cid + '.out')
            pid = create(rt, cid, b, out)
            if rt('start', cid).returncode:
                fail('start %s failed' % cid)
            end = time.monotonic() + 60
            while b'tick 0' not in open(out, 'rb').read() and time.monotonic() < end:
                time.sleep(0.1)
            if rt.state(cid)['status'] != 'running':
                fail('not running: %r' % rt.state(cid))
            p = rt('kill', cid, sig)
            if p.returncode:
                fail('kill %s %s failed' % (cid, sig), p.err)
            status = wait_child(pid)
            if status != want:
                fail('kill %s: init exited with %d, wanted %d' % (sig, status, want))
            c.wait_no_qemu(os.path.join(rt.root, cid))
            p = rt('kill', cid, 'TERM')
            if p.returncode == 0 or 'not running' not in p.err:
                fail('kill of a stopped container: %d %s' % (p.returncode, p.err))
            if rt('delete', cid).returncode:
                fail('delete %s failed' % cid)
        # A running container is not deleted without --force; with it, init and QEMU go.
        out = os.path.join(out_dir(), 'force.out')
        pid = create(rt, 'force', b, out)
        rt('start', 'force')
        end = time.monotonic() + 60
        while not c.qemu_under(os.path.join(rt.root, 'force')) and time.monotonic() < end:
            time.sleep(0.1)
        p = rt('delete', 'force')
        if p.returncode == 0 or 'not stopped' not in p.err:
            fail('delete of a running container: %d %s' % (p.returncode, p.err))
        p = rt('delete', '--force', 'force')
        if p.returncode:
            fail('delete --force failed', p.err)
        wait_child(pid)
        c.wait_no_qemu(rt.root)
        if rt.entries():
            fail('delete --force left %r' % rt.entries())
        # A created (never started) container: delete --force ends its init process.
        pid = create(rt, 'created', b, os.path.join(out_dir(), 'created.out'))
        if rt('delete', '-f', 'created').returncode or alive(pid):
            fail('delete --force of a created container left its init %d' % pid)
        wait_child(pid)
    finally:
        rt.close()


def check_nothing_left(rt, what):
    if rt.entries():
        fail('%s left state behind: %r' % (what, rt.entries()))
    if c.qemu_under(rt.root):
        fail('%s left QEMU running' % what)
    for pid in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                if rt.root.encode() in f.read() and alive(int(pid)):
                    fail('%s left process %s behind' % (what, pid))
        except (OSError, ValueError):
            pass


@timeout(300)
def test_malformed_config():
    rt = Runtime()
    log = os.path.join(out_dir(), 'runtime.log')
    cases = [
        ('syntax', '{"ociVersion": "1.0.2", "process": {', 'line'),
        ('not-object', '[1, 2]', 'JSON object'),
        ('no-process', '{"root": {"path": "rootfs"}}', 'process is missing'),
        ('empty-args', '{"process": {"args": []}, "root": {"path": "rootfs"}}',
         'process.args must be a non-empty array'),
        ('args-type', '{"process": {"args": [1]}, "root": {"path": "rootfs"}}',
         'process.args must be'),
        ('env-type', '{"process": {"args": ["/ociapp"], "env": "A=1"}, "root": {"path": "r"}}',
         'process.env must be'),
        ('no-root', '{"process": {"args": ["/ociapp"]}}', 'root is missing'),
        ('memory', '{"process": {"args": ["/ociapp"]}, "root": {"path": "rootfs"}, '
         '"linux": {"resources": {"memory": {"limit": "lots"}}}}',
         'linux.resources.memory.limit must be an integer'),
        ('annotation', '{"process": {"args": ["/ociapp"]}, "root": {"path": "rootfs"}, '
         '"annotations": {"a": 1}}', 'annotation "a" must be a string'),
    ]
    try:
        for name, raw, want in cases:
            b = bundle('bad-' + name, ['/ociapp'], raw=raw)
            for verb in ('create', 'run'):
                p = rt(verb, '--bundle', b, 'bad-' + name, log=log)
                if p.returncode == 0:
                    fail('%s with config %s succeeded' % (verb, name))
                with open(log) as f:
                    last = json.loads(f.read().strip().split('\n')[-1])
                if last['level'] != 'error' or want not in last['msg'] or \
                        'config.json' not in last['msg'] or not last.get('time'):
                    fail('%s %s: log line %r lacks %r' % (verb, name, last, want))
                check_nothing_left(rt, 'config %s' % name)
        # Without --log the message goes to stderr.
        p = rt('create', '--bundle', bundle('bad-stderr', ['/x'], raw='{'), 'x')
        if p.returncode == 0 or 'config.json line 1' not in p.err:
            fail('error on stderr: %r' % p.err)
        p = rt('create', '--bundle', os.path.join(out_dir(), 'no-such-bundle'), 'x')
        if p.returncode == 0 or 'config.json' not in p.err:
            fail('missing bundle: %r' % p.err)
        check_nothing_left(rt, 'a missing bundle')
    finally:
        rt.close()


@timeout(300)
def test_missing_kernel():
    rt = Runtime()
    try:
        b = bundle('missing', ['/ociapp'], annotations={'org.unik.kernel': '/boot/nope.elf'})
        for verb in ('create', 'run'):
            p = rt(verb, '--bundle', b, 'missing')
            if p.returncode == 0 or 'org.unik.kernel=/boot/nope.elf' not in p.err or \
                    'missing' not in p.err:
                fail('%s with a missing kernel: %d %r' % (verb, p.returncode, p.err))
            check_nothing_left(rt, 'a missing kernel')
        b = bundle('notunik', ['/ociapp'], kernel=False,
                   annotations={'org.unik.kernel': '/ociapp'})
        p = rt('create', '--bundle', b, 'notunik')
        if p.returncode == 0 or 'not a unik kernel' not in p.err:
            fail('a Linux binary named as kernel: %d %r' % (p.returncode, p.err))
        check_nothing_left(rt, 'a kernel that is not one')
        # The annotation may name the kernel when args[0] is something else.
        b = bundle('annotated', ['/app', 'exit', '4'], annotations={'org.unik.kernel': '/ociapp'})
        p = rt('run', '--bundle', b, 'annotated')
        if p.returncode != 4 or 'exiting with 4' not in p.out:
            fail('run through the annotation gave %d' % p.returncode, p.out + p.err)
        # Too little memory for a guest is refused before anything starts.
        p = rt('create', '--bundle', bundle('tiny', ['/ociapp'], memory=1 << 20), 'tiny')
        if p.returncode == 0 or 'too small' not in p.err:
            fail('a 1 MiB limit: %d %r' % (p.returncode, p.err))
        check_nothing_left(rt, 'a tiny memory limit')
    finally:
        rt.close()


@timeout(300)
def test_hands_other_containers_to_runc():
    rt = Runtime()
    record = os.path.join(out_dir(), 'fake-runc.log')
    fake = os.path.join(out_dir(), 'fake-runc')
    with open(fake, 'w') as f:
        f.write('#!/bin/sh\nfor a in "$@"; do printf "%%s|" "$a"; done >> %s\necho >> %s\n'
                'echo fake-runc-ran\nexit 42\n' % (record, record))
    os.chmod(fake, 0o755)
    env = dict(os.environ, UNIK_OCI_RUNC=fake)
    try:
        b = bundle('native', ['/ociapp', 'exit', '5'], kernel=False)
        logf = os.path.join(out_dir(), 'x.json')
        cmds = [
            ['--log', logf, '--log-format', 'json', 'create', '--bundle', b, '--pid-file',
             '/tmp/p', 'lin'],
            ['start', 'lin'], ['state', 'lin'], ['kill', 'lin', '9'], ['exec', 'lin', 'ls'],
            ['delete', '--force', 'lin'],
        ]
        for cmd in cmds:
            p = rt(*cmd, env=env)
            if p.returncode != 42 or 'fake-runc-ran' not in p.out:
                fail('%s was not handed to runc: %d %r' % (cmd, p.returncode, p.out + p.err))
        with open(record) as f:
            got = [l.rstrip('|').split('|') for l in f.read().strip().split('\n')]
        want = [['--root', rt.root] + cmd for cmd in cmds]
        if got != want:
            fail('runc got other arguments', 'got  %r\nwant %r' % (got, want))
        # Missing program and no annotation: also runc's business (it reports the error).
        p = rt('create', '--bundle', bundle('absent', ['/nothing-here']), 'absent', env=env)
        if p.returncode != 42:
            fail('a missing program was not handed to runc: %r' % p.err)
        # Without runc there is a clear error.
        env2 = dict(os.environ, UNIK_OCI_RUNC='/nonexistent/runc')
        p = rt('create', '--bundle', b, 'lin2', env=env2)
        if p.returncode == 0 or 'not a unikernel' not in p.err or 'runc' not in p.err:
            fail('no runc: %d %r' % (p.returncode, p.err))
        if rt.entries():
            fail('hand-over left state: %r' % rt.entries())
    finally:
        rt.close()


@timeout(300)
def test_console_socket():
    become_subreaper()
    rt = Runtime()
    sock_dir = c.tmpdir('con')
    sock_path = os.path.join(sock_dir, 'console.sock')
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    got = {}

    def accept():
        conn, _ = srv.accept()
        fds = array.array('i')
        msg, anc, _, _ = conn.recvmsg(4096, socket.CMSG_SPACE(fds.itemsize))
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                fds.frombytes(data[:fds.itemsize])
        got['name'] = msg.decode()
        got['fd'] = fds[0] if fds else None
        conn.close()

    t = threading.Thread(target=accept)
    t.start()
    try:
        b = bundle('tty', ['/ociapp', 'echo'], terminal=True)
        pid = create(rt, 'tty', b, os.path.join(out_dir(), 'tty.out'),
                     ['--console-socket', sock_path])
        t.join(30)
        if got.get('fd') is None or not got['name'].startswith('/dev/pts/'):
            fail('no pty master came over the console socket: %r' % got)
        master = got['fd']
        rt('start', 'tty')
        buf = b''

        def read_until(s, secs=60):
            nonlocal buf
            end = time.monotonic() + secs
            import select
            while s not in buf and time.monotonic() < end:
                r, _, _ = select.select([master], [], [], 0.5)
                if r:
                    try:
                        d = os.read(master, 4096)
                    except OSError:
                        break
                    if not d:
                        break
                    buf += d
            return s in buf

        if not read_until(b'ready>'):
            fail('no prompt on the terminal', buf)
        os.write(master, b'typed line\r')
        if not read_until(b'got <typed line>'):
            fail('input did not reach the guest', buf)
        if b'typed line\r\n' not in buf:
            fail('the terminal did not echo (cooked mode)', buf)
        os.write(master, b'quit\r')
        status = wait_child(pid)
        if status != 7:
            fail('init exited with %d, wanted 7' % status, buf)
        os.close(master)
        rt('delete', 'tty')
    finally:
        srv.close()
        c.remove_tree(sock_dir)
        rt.close()


@timeout(300)
def test_cli_verbs():
    rt = Runtime()
    try:
        p = rt('--version')
        if p.returncode or 'unik-oci version' not in p.out or 'spec: 1.0.2' not in p.out:
            fail('--version: %r' % p.out)
        for verb in ('create', 'start', 'state', 'kill', 'delete', 'run', 'list', 'features',
                     'spec'):
            p = rt(verb, '--help')
            if p.returncode or 'usage: unik-oci ' + verb not in p.out:
                fail('%s --help: %r' % (verb, p.out))
        p = rt('features')
        feats = json.loads(p.out)
        if feats['ociVersionMin'] != '1.0.0' or 'annotations' not in feats:
            fail('features: %r' % feats)
        d = os.path.join(out_dir(), 'spec')
        os.makedirs(d, exist_ok=True)
        if rt('spec', '--bundle', d).returncode:
            fail('spec failed')
        spec = json.load(open(os.path.join(d, 'config.json')))
        if spec['process']['args'] != ['/kernel'] or spec['root']['path'] != 'rootfs':
            fail('spec: %r' % spec)
        p = rt('spec', '--bundle', d)
        if p.returncode == 0 or 'exists' not in p.err:
            fail('spec over an existing config.json: %r' % p.err)
        p = rt('create', '--bogus', 'x')
        if p.returncode == 0 or 'unknown option --bogus' not in p.err:
            fail('unknown option: %r' % p.err)
        p = rt('create', '--bundle', '/tmp', '../escape')
        if p.returncode == 0:
            fail('a container id with a slash was accepted')
        # list, table and JSON, with one created container.
        b = bundle('list', ['/ociapp', 'sleep', '100'])
        create(rt, 'listed', b, os.path.join(out_dir(), 'listed.out'))
        p = rt('list')
        if 'listed' not in p.out or 'created' not in p.out or not p.out.startswith('ID'):
            fail('list: %r' % p.out)
        items = json.loads(rt('list', '--format', 'json').out)
        if [i['id'] for i in items] != ['listed'] or items[0]['status'] != 'created':
            fail('list --format json: %r' % items)
        if rt('list', '-q').out.split() != ['listed']:
            fail('list -q')
        rt('delete', '--force', 'listed')
        if json.loads(rt('list', '--format', 'json').out) != []:
            fail('list after delete is not empty')
    finally:
        rt.close()


@timeout(600)
def test_concurrent_calls():
    become_subreaper()
    rt = Runtime()
    try:
        b = bundle('conc', ['/ociapp', 'sleep', '100'])
        # The same id created eight times at once: exactly one wins.
        # (stderr goes to files: the winner's init process keeps its stdio, as a container's.)
        errs = [open(os.path.join(out_dir(), 'create-%d.err' % i), 'w+') for i in range(8)]
        procs = [subprocess.Popen([rt.bin, '--root', rt.root, 'create', '--bundle', b,
                                   'same'], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=e) for e in errs]
        results = []
        for p, e in zip(procs, errs):
            p.wait(120)
            e.seek(0)
            results.append((p.returncode, e.read()))
            e.close()
        ok = [r for r in results if r[0] == 0]
        if len(ok) != 1:
            fail('%d of 8 concurrent creates succeeded' % len(ok), repr(results))
        for rc, err in results:
            if rc and 'already exists' not in err:
                fail('a losing create said %r' % err)
        st = rt.state('same')
        rt('start', 'same')
        # state, kill and delete --force at once: it ends, and once.
        procs = []
        for i in range(12):
            verb = (['state', 'same'], ['kill', 'same', 'TERM'],
                    ['delete', '--force', 'same'])[i % 3]
            procs.append(subprocess.Popen([rt.bin, '--root', rt.root] + verb,
                                          stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        for p in procs:
            p.wait(120)
            err = p.stderr.read().decode()
            if p.returncode and not any(w in err for w in ('does not exist', 'not running')):
                fail('a concurrent call failed oddly: %r' % err)
        wait_child(st['pid'])
        c.wait_no_qemu(rt.root)
        if rt.entries():
            fail('state left after concurrent deletes: %r' % rt.entries())
    finally:
        rt.close()
