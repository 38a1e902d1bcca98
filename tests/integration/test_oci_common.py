"""Helpers of the unik-oci tests (no tests here): the guest program built as a unik kernel and as
a static Linux binary, image tarballs in docker-archive format written by hand, and engines
(dockerd, podman, containerd) started and torn down by the test itself."""

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'lib'))

from harness import Skip, Failure, REPO, bin_dir, build_dir, out_dir, tail  # noqa: E402

OCIAPP_SRC = os.path.join(REPO, 'tests', 'data', 'oci', 'ociapp.c')


def unik_oci():
    p = os.path.join(bin_dir(), 'unik-oci')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make)' % p)
    return p


def need(*programs):
    """Skip unless every program is installed (name or absolute path)."""
    for prog in programs:
        if not (shutil.which(prog) or os.access(prog, os.X_OK)):
            raise Skip('%s is not installed (scripts/install-deps installs it)' % prog)


def need_kvm_or_tcg():
    need('qemu-system-x86_64')


def _cached(name, build):
    """Build once per build directory: the kernel and the native binary are shared by tests."""
    d = os.path.join(build_dir(), 'tests', 'oci')
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    if (os.path.exists(path)
            and os.path.getmtime(path) >= os.path.getmtime(OCIAPP_SRC)):
        return path
    tmp = '%s.tmp%d' % (path, os.getpid())
    build(tmp)
    os.replace(tmp, path)
    return path


def ociapp_kernel():
    """tests/data/oci/ociapp.c built with unik-cc: a unik kernel."""

    def build(out):
        env = dict(os.environ)
        rt = os.path.join(build_dir(), 'runtime')
        if os.path.exists(os.path.join(rt, 'unikrt.o')):
            env['UNIK_RUNTIME_DIR'] = rt
        p = subprocess.run([os.path.join(bin_dir(), 'unik-cc'), '-O2', '-o', out, OCIAPP_SRC],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=180)
        if p.returncode:
            raise Failure('unik-cc failed building ociapp', tail(p.stdout))
    return _cached('ociapp.elf', build)


def ociapp_native():
    """The same program as an ordinary static Linux binary (runc's side)."""
    cc = shutil.which('musl-gcc') or shutil.which('gcc')
    if not cc:
        raise Skip('no C compiler for the native build')

    def build(out):
        p = subprocess.run([cc, '-static', '-O2', '-o', out, OCIAPP_SRC],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=180)
        if p.returncode:
            raise Skip('static native build failed: %s' % tail(p.stdout, 5))
    return _cached('ociapp.native', build)


# ---------------------------------------------------------------------------------------------
# Images


def _tar_bytes(files):
    """A tar archive (bytes) of {name: (data, mode)}, deterministic.  data None is a directory;
    a third item (uid, gid) gives the entry an owner (root otherwise)."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode='w', format=tarfile.USTAR_FORMAT) as t:
        for name in sorted(files):
            data, mode = files[name][:2]
            ti = tarfile.TarInfo(name)
            if data is None:
                ti.type = tarfile.DIRTYPE
                data = b''
            ti.size = len(data)
            ti.mode = mode
            ti.mtime = 0
            if len(files[name]) > 2:
                ti.uid, ti.gid = files[name][2]
            t.addfile(ti, io.BytesIO(data))
    return bio.getvalue()


def write_docker_archive(path, tag, files, entrypoint, cmd=None, labels=None, env=None):
    """Write an image as `docker save` does (docker-archive: manifest.json, the config, one
    layer), which docker load, podman load and ctr images import all read."""
    layer = _tar_bytes(files)
    diff_id = 'sha256:' + hashlib.sha256(layer).hexdigest()
    config = {
        'architecture': 'amd64',
        'os': 'linux',
        'created': '2024-01-01T00:00:00Z',
        'config': {
            'Entrypoint': entrypoint,
            'Cmd': cmd,
            'Env': env or ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
            'Labels': labels or {},
            'WorkingDir': '/',
        },
        'rootfs': {'type': 'layers', 'diff_ids': [diff_id]},
        'history': [{'created': '2024-01-01T00:00:00Z', 'created_by': 'unik-oci tests'}],
    }
    cfg = json.dumps(config, sort_keys=True).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + '.json'
    layer_name = hashlib.sha256(layer).hexdigest() + '/layer.tar'
    manifest = json.dumps([{'Config': cfg_name, 'RepoTags': [tag],
                            'Layers': [layer_name]}]).encode()
    with open(path, 'wb') as f:
        f.write(_tar_bytes({'manifest.json': (manifest, 0o644), cfg_name: (cfg, 0o644),
                            layer_name: (layer, 0o644)}))
    return path


UNIK_LABELS = {
    'org.unik.kernel': '/ociapp',
    'org.unik.cmdline': '',
    'org.unik.memory': '64',
    'org.unik.monitor': 'qemu',
}


def unik_image_tar(tag='unik-ociapp:test'):
    p = os.path.join(out_dir(), 'unik-ociapp.tar')
    with open(ociapp_kernel(), 'rb') as f:
        data = f.read()
    return write_docker_archive(p, tag, {'ociapp': (data, 0o755)}, ['/ociapp'],
                                labels=UNIK_LABELS)


def native_image_tar(tag='native-ociapp:test'):
    p = os.path.join(out_dir(), 'native-ociapp.tar')
    with open(ociapp_native(), 'rb') as f:
        data = f.read()
    return write_docker_archive(p, tag, {'ociapp': (data, 0o755)}, ['/ociapp'])


def dockerfile_context(kind):
    """A build context with a plain Dockerfile: FROM scratch, COPY the program, the labels."""
    d = os.path.join(out_dir(), 'ctx-' + kind)
    os.makedirs(d, exist_ok=True)
    src = ociapp_kernel() if kind == 'unik' else ociapp_native()
    shutil.copy(src, os.path.join(d, 'ociapp'))
    lines = ['FROM scratch', 'COPY ociapp /ociapp']
    if kind == 'unik':
        lines += ['LABEL %s="%s"' % kv for kv in sorted(UNIK_LABELS.items())]
    lines += ['ENTRYPOINT ["/ociapp"]', '']
    with open(os.path.join(d, 'Dockerfile'), 'w') as f:
        f.write('\n'.join(lines))
    return d


# ---------------------------------------------------------------------------------------------
# Processes


def qemu_pids():
    """PIDs of every QEMU process on the machine whose command line names `marker`."""
    out = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                cmd = f.read().split(b'\0')
            with open('/proc/%s/stat' % pid) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except OSError:
            continue
        if cmd and cmd[0].endswith(b'qemu-system-x86_64') and state != 'Z':
            out.append((int(pid), b' '.join(cmd).decode('utf-8', 'replace')))
    return out


def _parent_cmdline(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        with open('/proc/%d/cmdline' % ppid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode('utf-8', 'replace')
    except (OSError, ValueError, IndexError):
        return ''


def qemu_under(path):
    """QEMU processes whose command line, or whose parent's (unik-shim, the container's
    process, started with the container's state directory and the kernel's path in the
    bundle), mentions path (a state root or data dir).  QEMU itself is handed its kernel as a
    descriptor and is named after unik-oci's state directory, which a containerd shim keeps in
    its own root: there the kernel's path on unik-shim's command line names the bundle."""
    return [p for p in qemu_pids() if path in p[1] or path in _parent_cmdline(p[0])]


def wait_no_qemu(path, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not qemu_under(path):
            return
        time.sleep(0.2)
    raise Failure('QEMU processes outlived their container', repr(qemu_under(path)))


def run(cmd, timeout=120, env=None, input=None, check=False):
    """Run an argument vector; log it into the test's output; return CompletedProcess."""
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL if input is None else None, input=input,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=timeout)
    so = p.stdout.decode('utf-8', 'replace')
    se = p.stderr.decode('utf-8', 'replace')
    with open(os.path.join(out_dir(), 'commands.log'), 'a') as f:
        f.write('$ %s\n%s%s[exit %d]\n' % (' '.join(cmd), so, se and '--- stderr\n' + se,
                                           p.returncode))
    p.out = so
    p.err = se
    if check and p.returncode != 0:
        raise Failure('%s exited with %d' % (' '.join(cmd[:3]), p.returncode),
                      tail(so + '\n' + se))
    return p


def tmpdir(prefix):
    """A short temporary directory (unix socket paths must stay under 108 bytes)."""
    return tempfile.mkdtemp(prefix='uo-' + prefix + '-', dir='/tmp')


def kill_tree_pidfile(pidfile, sig=signal.SIGTERM):
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        os.kill(pid, sig)
        return pid
    except (OSError, ValueError):
        return None


def wait_pid_gone(pid, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def unmount_below(path):
    """Unmount everything mounted below path (deepest first), so it can be removed."""
    try:
        with open('/proc/self/mountinfo') as f:
            mps = [l.split()[4] for l in f]
    except OSError:
        return
    for mp in sorted((m for m in mps if m.startswith(path.rstrip('/') + '/')), key=len,
                     reverse=True):
        subprocess.run(['umount', '-l', mp], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def remove_tree(path):
    unmount_below(path)
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# dockerd


class Dockerd:
    """A private dockerd (own data root, exec root, socket and containerd), with unik-oci
    registered as runtime `unik`.  Use as a context manager; everything goes on exit."""

    def __init__(self, accel=None):
        need('dockerd', 'docker', 'containerd', 'runc')
        self.dir = tmpdir('docker')
        self.sock = os.path.join(self.dir, 'sock')
        self.host = 'unix://' + self.sock
        self.log = os.path.join(out_dir(), 'dockerd.log')
        self.proc = None
        self.env = dict(os.environ, DOCKER_HOST=self.host, DOCKER_BUILDKIT='0')
        self.daemon_env = dict(os.environ)
        if accel:
            self.daemon_env['UNIK_ACCEL'] = accel

    def __enter__(self):
        cmd = ['/usr/sbin/dockerd' if os.path.exists('/usr/sbin/dockerd') else 'dockerd',
               '--data-root', os.path.join(self.dir, 'data'),
               '--exec-root', os.path.join(self.dir, 'exec'),
               '--pidfile', os.path.join(self.dir, 'docker.pid'),
               '--host', self.host, '--iptables=false', '--ip6tables=false', '--bridge=none',
               '--add-runtime', 'unik=' + unik_oci()]
        self.logf = open(self.log, 'ab')
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=self.logf, env=self.daemon_env)
        end = time.monotonic() + 90
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.__exit__(None, None, None)
                with open(self.log, 'rb') as f:
                    raise Failure('dockerd exited with %d' % self.proc.returncode,
                                  tail(f.read()))
            if os.path.exists(self.sock) and self.docker('version', timeout=30).returncode == 0:
                return self
            time.sleep(0.3)
        self.__exit__(None, None, None)
        raise Failure('dockerd did not answer within 90 s', tail(open(self.log, 'rb').read()))

    def docker(self, *args, timeout=180, input=None):
        return run(['docker'] + list(args), timeout=timeout, env=self.env, input=input)

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            # Containers first, so that their VMs end through the runtime as they should.
            ps = self.docker('ps', '-aq', timeout=60)
            ids = ps.out.split()
            if ids:
                self.docker('rm', '-f', *ids, timeout=120)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # dockerd's containerd and shims end with it; anything left in our exec root goes now.
        for pid, _ in qemu_under(self.dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        kill_procs_under(self.dir)
        if hasattr(self, 'logf'):
            self.logf.close()
        remove_tree(self.dir)
        return False


def kill_procs_under(path):
    """SIGKILL every process whose command line mentions path (shims, containerd)."""
    me = os.getpid()
    for pid in os.listdir('/proc'):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                cmd = f.read()
        except OSError:
            continue
        if path.encode() in cmd:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
