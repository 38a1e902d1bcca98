"""containerd started by the test (own config, root, state and socket), an image imported with
ctr, and `ctr run --runc-binary <abs>/bin/unik-oci`: output, exit code, and a detached task
killed through containerd."""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import fail, out_dir, tail, timeout  # noqa: E402
import test_oci_common as c  # noqa: E402

CONFIG = '''version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{d}/ctd.sock"
[ttrpc]
  address = "{d}/ctd.sock.ttrpc"
[debug]
  address = "{d}/debug.sock"
'''


class Containerd:
    def __init__(self):
        c.need('containerd', 'ctr', 'containerd-shim-runc-v2')
        self.dir = c.tmpdir('ctd')
        self.sock = os.path.join(self.dir, 'ctd.sock')
        cfg = os.path.join(self.dir, 'config.toml')
        with open(cfg, 'w') as f:
            f.write(CONFIG.format(d=self.dir))
        self.logf = open(os.path.join(out_dir(), 'containerd.log'), 'ab')
        self.proc = subprocess.Popen(['containerd', '--config', cfg], stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf)
        end = time.monotonic() + 60
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                self.close()
                fail('containerd exited with %d' % self.proc.returncode)
            if os.path.exists(self.sock) and self.ctr('version', timeout=20).returncode == 0:
                return
            time.sleep(0.2)
        self.close()
        fail('containerd did not answer within 60 s')

    def ctr(self, *args, timeout=180):
        return c.run(['ctr', '-a', self.sock] + list(args), timeout=timeout)

    def close(self):
        if self.proc.poll() is None:
            for t in self.ctr('tasks', 'ls', '-q', timeout=30).out.split():
                self.ctr('tasks', 'kill', '-s', 'SIGKILL', t, timeout=30)
                self.ctr('tasks', 'delete', '-f', t, timeout=30)
            for ct in self.ctr('containers', 'ls', '-q', timeout=30).out.split():
                self.ctr('containers', 'delete', ct, timeout=30)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid, _ in c.qemu_under(self.dir):
            os.kill(pid, signal.SIGKILL)
        c.kill_procs_under(self.dir)
        self.logf.close()
        c.remove_tree(self.dir)


@timeout(900)
def test_ctr_run():
    c.need_kvm_or_tcg()
    cd = Containerd()
    try:
        p = cd.ctr('images', 'import', c.unik_image_tar('localhost/unik-ociapp:test'))
        if p.returncode:
            fail('ctr images import', p.out + p.err)
        run = ['run', '--runc-binary', c.unik_oci(), '--rm']
        p = cd.ctr(*run, 'localhost/unik-ociapp:test', 'c1')
        if p.returncode or 'hello from ociapp\n' not in p.out:
            fail('ctr run: exit %d' % p.returncode, p.out + p.err)
        # ctr's arguments after the id replace the whole process (entrypoint included).
        p = cd.ctr(*run, '--env', 'K=V', 'localhost/unik-ociapp:test', 'c2', '/ociapp', 'args',
                   'a b')
        if p.returncode or 'argv[2]=<a b>' not in p.out or 'env <K=V>' not in p.out:
            fail('ctr run args/env', p.out + p.err)
        p = cd.ctr(*run, 'localhost/unik-ociapp:test', 'c3', '/ociapp', 'exit', '3')
        if p.returncode != 3 or 'exiting with 3' not in p.out:
            fail('ctr run exit 3 gave %d' % p.returncode, p.out + p.err)
        # Detached, then killed through containerd: the VM goes with the task.
        p = cd.ctr('run', '--runc-binary', c.unik_oci(), '-d', 'localhost/unik-ociapp:test',
                   'c4', '/ociapp', 'sleep', '300')
        if p.returncode:
            fail('ctr run -d', p.out + p.err)
        end = time.monotonic() + 60
        while not c.qemu_under(cd.dir) and time.monotonic() < end:
            time.sleep(0.2)
        if not c.qemu_under(cd.dir):
            fail('no QEMU for the detached task', cd.ctr('tasks', 'ls').out)
        p = cd.ctr('tasks', 'kill', 'c4')
        if p.returncode:
            fail('ctr tasks kill', p.out + p.err)
        c.wait_no_qemu(cd.dir)
        end = time.monotonic() + 60
        while 'STOPPED' not in cd.ctr('tasks', 'ls').out and time.monotonic() < end:
            time.sleep(0.2)
        if 'STOPPED' not in cd.ctr('tasks', 'ls').out:
            fail('task not stopped after kill', cd.ctr('tasks', 'ls').out)
        cd.ctr('tasks', 'delete', 'c4')
        cd.ctr('containers', 'delete', 'c4')
    finally:
        cd.close()
