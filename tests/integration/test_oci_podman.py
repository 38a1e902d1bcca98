"""podman --runtime <abs>/bin/unik-oci with private storage (vfs) and run root: output, exit
codes, environment, arguments, and a detached run that podman stops."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import fail, timeout  # noqa: E402
import test_oci_common as c  # noqa: E402


class Podman:
    def __init__(self):
        c.need('podman', 'conmon')
        self.dir = c.tmpdir('podman')
        self.pre = ['podman', '--root', os.path.join(self.dir, 'root'),
                    '--runroot', os.path.join(self.dir, 'run'), '--storage-driver', 'vfs',
                    '--cgroup-manager', 'cgroupfs', '--events-backend', 'none',
                    '--runtime', c.unik_oci()]
        self.env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(self.dir, 'xdg'),
                        XDG_CONFIG_HOME=os.path.join(self.dir, 'config'))
        os.makedirs(self.env['XDG_RUNTIME_DIR'])

    def __call__(self, *args, timeout=180):
        return c.run(self.pre + list(args), timeout=timeout, env=self.env)

    def close(self):
        ids = self('ps', '-aq', timeout=60).out.split()
        if ids:
            self('rm', '-f', *ids, timeout=120)
        for pid, _ in c.qemu_under(self.dir):
            os.kill(pid, 9)
        c.kill_procs_under(self.dir)
        c.remove_tree(self.dir)


@timeout(900)
def test_podman_run():
    c.need_kvm_or_tcg()
    pm = Podman()
    try:
        p = pm('load', '-i', c.unik_image_tar('localhost/unik-ociapp:test'))
        if p.returncode:
            fail('podman load', p.out + p.err)
        run = ['run', '--rm', '--network', 'none', 'localhost/unik-ociapp:test']
        p = pm(*run)
        if p.returncode or 'hello from ociapp\n' not in p.out:
            fail('podman run: exit %d' % p.returncode, p.out + p.err)
        p = pm(*run, 'exit', '3')
        if p.returncode != 3 or 'exiting with 3' not in p.out:
            fail('podman run exit 3 gave %d' % p.returncode, p.out + p.err)
        p = pm('run', '--rm', '--network', 'none', '-e', 'K=V', 'localhost/unik-ociapp:test',
               'args', 'x y')
        if p.returncode or 'argv[2]=<x y>' not in p.out or 'env <K=V>' not in p.out:
            fail('podman run args/env', p.out + p.err)
        p = pm('run', '-d', '--network', 'none', '--name', 'sleeper',
               'localhost/unik-ociapp:test', 'sleep', '300')
        if p.returncode:
            fail('podman run -d', p.out + p.err)
        end = time.monotonic() + 60
        while 'tick 0' not in pm('logs', 'sleeper').out and time.monotonic() < end:
            time.sleep(0.3)
        if 'tick 0' not in pm('logs', 'sleeper').out:
            fail('podman logs of a detached unikernel', pm('logs', 'sleeper').err)
        p = pm('stop', '-t', '10', 'sleeper')
        if p.returncode:
            fail('podman stop', p.out + p.err)
        c.wait_no_qemu(pm.dir)
        code = pm('inspect', '-f', '{{.State.ExitCode}}', 'sleeper').out.strip()
        if code != '143':
            fail('podman stop: exit code %s, wanted 143' % code)
        pm('rm', 'sleeper')
    finally:
        pm.close()
