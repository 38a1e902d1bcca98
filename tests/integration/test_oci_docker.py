"""docker run --runtime=unik against a dockerd the test starts (DESIGN.md): images from a plain
Dockerfile and from a hand-written docker-archive, output, exit codes, environment, arguments,
memory, detached runs with logs -f, stop, kill, rm -f, --rm, -it, and a non-unikernel image that
goes to runc."""

import os
import pty
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import fail, out_dir, tail, timeout  # noqa: E402
import test_oci_common as c  # noqa: E402

RUN = ['run', '--pull', 'never', '--network', 'none', '--runtime=unik']


def build_image(d, kind, tag):
    p = d.docker('build', '-q', '-t', tag, c.dockerfile_context(kind), timeout=300)
    if p.returncode:
        fail('docker build of %s failed' % tag, p.out + p.err)


@timeout(900)
def test_docker_run():
    with c.Dockerd() as d:
        build_image(d, 'unik', 'unik-ociapp')
        p = d.docker(*RUN, '--rm', 'unik-ociapp')
        if p.returncode or 'hello from ociapp\n' not in p.out:
            fail('hello: exit %d' % p.returncode, p.out + p.err)
        for code in (0, 3, 200):
            p = d.docker(*RUN, '--rm', 'unik-ociapp', 'exit', str(code))
            if p.returncode != code or 'exiting with %d' % code not in p.out:
                fail('exit %d: docker run exited with %d' % (code, p.returncode), p.out + p.err)
        p = d.docker(*RUN, '--rm', '-e', 'K=V', '-e', 'SPACED=a b  c', 'unik-ociapp', 'args',
                     'one', 'two words', '')
        for want in ('argv[0]=<ociapp>', 'argv[1]=<args>', 'argv[2]=<one>',
                     'argv[3]=<two words>', 'argv[4]=<>', 'env <K=V>', 'env <SPACED=a b  c>'):
            if want not in p.out:
                fail('args/env: output lacks %r' % want, p.out + p.err)
        for mem, lo, hi in ((None, 48, 64), ('128m', 100, 128), ('256m', 220, 256)):
            args = ['--memory', mem] if mem else []
            p = d.docker(*RUN, '--rm', *args, 'unik-ociapp', 'mem')
            try:
                mib = int(p.out.split('totalram_mib=')[1].split()[0])
            except (IndexError, ValueError):
                fail('mem: no totalram line', p.out + p.err)
            if not lo <= mib <= hi:
                fail('--memory %s gave the guest %d MiB' % (mem, mib), p.out)
        # --rm leaves nothing: no container, no VM.
        if d.docker('ps', '-aq').out.strip():
            fail('--rm left containers: %r' % d.docker('ps', '-a').out)
        c.wait_no_qemu(d.dir)


@timeout(900)
def test_docker_detached():
    with c.Dockerd() as d:
        build_image(d, 'unik', 'unik-ociapp')
        # -d, then logs -f streams until the guest ends; the exit code is the guest's.
        cid = d.docker(*RUN, '-d', 'unik-ociapp', 'sleep', '3').out.strip()
        p = d.docker('logs', '-f', cid, timeout=120)
        if 'tick 0\ntick 1\ntick 2\nslept\n' not in p.out:
            fail('logs -f', p.out + p.err)
        if d.docker('wait', cid).out.strip() != '0':
            fail('wait after logs -f')
        d.docker('rm', cid)
        for how, want in (('stop', '143'), ('kill', '137'), ('rm -f', None)):
            cid = d.docker(*RUN, '-d', 'unik-ociapp', 'sleep', '300').out.strip()
            end = time.monotonic() + 60
            while 'tick 0' not in d.docker('logs', cid).out and time.monotonic() < end:
                time.sleep(0.2)
            if not c.qemu_under(d.dir):
                fail('no QEMU for a running container')
            p = d.docker(*how.split(), cid, timeout=120)
            if p.returncode:
                fail('docker %s failed' % how, p.out + p.err)
            if want:
                code = d.docker('inspect', '-f', '{{.State.ExitCode}}', cid).out.strip()
                if code != want:
                    fail('docker %s: exit code %s, wanted %s' % (how, code, want))
            c.wait_no_qemu(d.dir)
            if want:
                d.docker('rm', cid)
        if d.docker('ps', '-aq').out.strip():
            fail('containers left: %r' % d.docker('ps', '-a').out)


@timeout(600)
def test_docker_interactive():
    with c.Dockerd() as d:
        build_image(d, 'unik', 'unik-ociapp')
        pid, fd = pty.fork()
        if pid == 0:
            os.environ.update(d.env)
            os.execvp('docker', ['docker'] + RUN + ['--rm', '-it', 'unik-ociapp', 'echo'])
        buf = b''

        def read_until(s, secs=90):
            nonlocal buf
            end = time.monotonic() + secs
            while s not in buf and time.monotonic() < end:
                r, _, _ = select.select([fd], [], [], 0.5)
                if r:
                    try:
                        data = os.read(fd, 4096)
                    except OSError:
                        break
                    if not data:
                        break
                    buf += data
            return s in buf

        try:
            if not read_until(b'ready>'):
                fail('no prompt through docker run -it', buf)
            os.write(fd, b'hi there\r')
            if not read_until(b'got <hi there>'):
                fail('typed input did not reach the guest', buf)
            os.write(fd, b'quit\r')
            read_until(b'unik: exit status 7')
            end = time.monotonic() + 60
            while time.monotonic() < end:
                got, st = os.waitpid(pid, os.WNOHANG)
                if got == pid:
                    break
                time.sleep(0.1)
            else:
                fail('docker run -it did not end', buf)
            if os.waitstatus_to_exitcode(st) != 7:
                fail('docker run -it exited with %d' % os.waitstatus_to_exitcode(st), buf)
        finally:
            os.close(fd)
        c.wait_no_qemu(d.dir)


@timeout(900)
def test_docker_runc_and_load():
    with c.Dockerd() as d:
        # An ordinary static binary in a FROM scratch image: unik-oci hands it to runc.
        build_image(d, 'native', 'native-ociapp')
        p = d.docker(*RUN, '--rm', 'native-ociapp', 'exit', '5')
        if p.returncode != 5 or 'exiting with 5' not in p.out or 'unik:' in p.out:
            fail('native image under --runtime=unik: exit %d' % p.returncode, p.out + p.err)
        if c.qemu_under(d.dir):
            fail('a native image started QEMU')
        p = d.docker('run', '--pull', 'never', '--network', 'none', '--runtime=unik', '-d',
                     'native-ociapp', 'sleep', '300')
        cid = p.out.strip()
        p = d.docker('stop', '-t', '2', cid, timeout=120)
        if p.returncode:
            fail('docker stop of a runc container under unik-oci', p.err)
        d.docker('rm', cid)
        # An image written by hand in docker-archive format, loaded with docker load.
        p = d.docker('load', '-i', c.unik_image_tar('unik-loaded:1'))
        if p.returncode:
            fail('docker load', p.out + p.err)
        p = d.docker(*RUN, '--rm', 'unik-loaded:1', 'exit', '9')
        if p.returncode != 9 or 'exiting with 9' not in p.out:
            fail('loaded image: exit %d' % p.returncode, p.out + p.err)
        c.wait_no_qemu(d.dir)
