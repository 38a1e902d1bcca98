"""Images through registries and standard layouts: `unik push` to Debian's docker-registry on
loopback and `unik pull` into a fresh UNIK_HOME that runs it; skopeo reads what was pushed;
docker pulls it and runs it under unik-oci; a damaged blob fails the pull with a digest error and
stores nothing; basic auth (htpasswd) through --username/--password-stdin and a Docker
config.json; TLS with a self-signed certificate and --insecure; `unik export --format oci` is an
OCI image layout that skopeo and umoci read."""

import base64
import json
import os
import shutil
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'lib'))
from harness import Skip, fail, out_dir, tail, timeout  # noqa: E402
from test_cli import HELLO, Home, need_core  # noqa: E402
from registry import Registry, need_registry  # noqa: E402

GREETING = 'Hello from a unikernel!'


def with_stdin(h, args, text, code=0):
    """unik ARGS with text on its stdin (Home.run gives it none)."""
    from test_cli import unik_bin
    p = subprocess.run([unik_bin()] + list(args), env=h.env, input=text, capture_output=True,
                       text=True, timeout=300)
    if p.returncode != code:
        fail('unik %s: exit %d, wanted %d' % (' '.join(args), p.returncode, code),
             tail(p.stdout + p.stderr))
    return p


def build_hello(h, name='hello'):
    h.ok(['build', '--name', name, '--path', HELLO])


def pushed_manifest(reg, repo, tag='latest'):
    """The manifest the registry serves for repo:tag, fetched with skopeo."""
    if not shutil.which('skopeo'):
        raise Skip('skopeo is not installed (apt-get install skopeo)')
    p = subprocess.run(['skopeo', 'inspect', '--raw', '--tls-verify=false',
                        'docker://%s/%s:%s' % (reg.host, repo, tag)],
                       capture_output=True, text=True, timeout=120)
    if p.returncode:
        fail('skopeo inspect --raw of the pushed image', p.stderr)
    return json.loads(p.stdout)


@timeout(900)
def test_push_then_pull_into_a_fresh_home_runs():
    need_core()
    with Registry() as reg:
        ref = '%s/team/hello:1' % reg.host
        with Home('pusher') as h:
            build_hello(h)
            p = h.ok(['push', 'hello', ref, '--insecure'])
            if 'pushed hello to %s' % ref not in p.stdout or 'sha256:' not in p.stdout:
                fail('push did not say what it pushed', p.stdout)
            # Again: the blobs are there already, and the manifest's digest is the same.
            p2 = h.ok(['push', 'hello', ref, '--insecure'])
            if p2.stdout.split()[-1] != p.stdout.split()[-1]:
                fail('pushing the same image twice gave two digests', p.stdout + p2.stdout)
        m = pushed_manifest(reg, 'team/hello', '1')
        if m.get('mediaType') != 'application/vnd.oci.image.manifest.v1+json':
            fail('the pushed manifest is not an OCI image manifest', json.dumps(m))
        ann = m.get('annotations', {})
        if ann.get('org.unik.kernel') != '/hello' or ann.get('org.unik.base') != 'rump':
            fail('the manifest lacks the unikernel annotations', json.dumps(m))
        with Home('puller') as h2:
            p = h2.ok(['pull', ref, '--insecure'])
            if 'pulled %s as hello' % ref not in p.stdout:
                fail('pull did not say what it stored', p.stdout)
            im = h2.json(['describe-image', 'hello'])
            if im.get('base') != 'rump' or im.get('memory_mb') != 64:
                fail('the pulled image lost its base or memory', json.dumps(im))
            p = h2.ok(['run', 'hello'])
            if GREETING not in p.stdout:
                fail('the pulled image did not greet', p.stdout + p.stderr)
            h2.ok(['pull', ref, '--name', 'hello-again', '--insecure'])
            p = h2.ok(['run', 'hello-again', 'x'])
            if 'argv[1] = "x"' not in p.stdout:
                fail('the image pulled under another name did not run with an argument',
                     p.stdout)
            # By digest: the same image.
            digest = p2.stdout.split()[-1].strip('()')
            h2.ok(['pull', '%s/team/hello@%s' % (reg.host, digest), '--name', 'bydigest',
                   '--insecure'])


@timeout(600)
def test_skopeo_inspect_of_a_pushed_image():
    need_core()
    if not shutil.which('skopeo'):
        raise Skip('skopeo is not installed (apt-get install skopeo)')
    with Registry() as reg, Home() as h:
        build_hello(h)
        h.ok(['push', 'hello', '%s/hello' % reg.host, '--insecure'])
        p = subprocess.run(['skopeo', 'inspect', '--tls-verify=false',
                            'docker://%s/hello:latest' % reg.host],
                           capture_output=True, text=True, timeout=120)
        if p.returncode:
            fail('skopeo inspect of the pushed image', p.stderr)
        info = json.loads(p.stdout)
        if info.get('Architecture') != 'amd64' or info.get('Os') != 'linux' or \
                info.get('Labels', {}).get('org.unik.kernel') != '/hello':
            fail('skopeo sees the wrong image', p.stdout)


@timeout(600)
def test_a_damaged_blob_fails_the_pull_and_stores_nothing():
    need_core()
    with Registry() as reg:
        ref = '%s/hello:latest' % reg.host
        with Home('pusher') as h:
            build_hello(h)
            h.ok(['push', 'hello', ref, '--insecure'])
        m = pushed_manifest(reg, 'hello')
        layer = m['layers'][0]['digest']
        path = reg.blob_path(layer)
        with open(path, 'r+b') as f:
            f.seek(600)
            b = f.read(1)
            f.seek(600)
            f.write(bytes([b[0] ^ 0xff]))
        with Home('puller') as h2:
            p = h2.ok(['pull', ref, '--insecure'], code=1)
            if 'digest mismatch' not in p.stderr or layer not in p.stderr:
                fail('the pull did not name the damaged blob', p.stderr)
            imgs = h2.json(['images'])
            if imgs:
                fail('a failed pull left an image', json.dumps(imgs))
            left = [d for d in os.listdir(os.path.join(h2.path, 'images'))] \
                if os.path.isdir(os.path.join(h2.path, 'images')) else []
            if left:
                fail('a failed pull left files in the image store', str(left))
            tmp = os.path.join(h2.path, 'tmp')
            if os.path.isdir(tmp) and [f for f in os.listdir(tmp) if f.startswith('pull-')]:
                fail('a failed pull left its temporary files', str(os.listdir(tmp)))


@timeout(600)
def test_basic_auth_with_password_stdin_and_docker_config():
    need_core()
    with Registry(auth=('alice', 's3cret pass')) as reg:
        ref = '%s/private/hello' % reg.host
        with Home('pusher') as h:
            build_hello(h)
            p = h.ok(['push', 'hello', ref, '--insecure'], code=1)
            if 'unauthorized' not in p.stderr and 'login' not in p.stderr:
                fail('a push without credentials did not say it needs a login', p.stderr)
            p = with_stdin(h, ['push', 'hello', ref, '--insecure', '--username', 'alice',
                               '--password-stdin'], 'wrong\n', code=1)
            if 'unauthorized' not in p.stderr:
                fail('a wrong password was not refused as unauthorized', p.stderr)
            with_stdin(h, ['push', 'hello', ref, '--insecure', '--username', 'alice',
                           '--password-stdin'], 's3cret pass\n')
            # The daemon used the password for that push only: nothing in UNIK_HOME has it.
            for root, _, files in os.walk(h.path):
                for f in files:
                    path = os.path.join(root, f)
                    if not os.path.isfile(path):
                        continue
                    with open(path, 'rb') as fh:
                        if b's3cret' in fh.read():
                            fail('the registry password was stored in %s' % path)
        cfgdir = os.path.join(out_dir(), 'dockercfg')
        os.makedirs(cfgdir, exist_ok=True)
        with open(os.path.join(cfgdir, 'config.json'), 'w') as f:
            json.dump({'auths': {reg.host: {
                'auth': base64.b64encode(b'alice:s3cret pass').decode()}}}, f)
        with Home('puller') as h2:
            h2.ok(['pull', ref, '--insecure'], code=1)
            h2.ok(['pull', ref, '--insecure'], env={'DOCKER_CONFIG': cfgdir})
            p = h2.ok(['run', 'hello'])
            if GREETING not in p.stdout:
                fail('the image pulled with a login did not greet', p.stdout)


@timeout(600)
def test_tls_registry_needs_insecure_for_its_own_certificate():
    need_core()
    with Registry(tls=True) as reg, Home() as h:
        build_hello(h)
        ref = '%s/hello' % reg.host
        p = h.ok(['push', 'hello', ref], code=1)
        if '--insecure' not in p.stderr:
            fail('a certificate that does not verify did not point at --insecure', p.stderr)
        h.ok(['push', 'hello', ref, '--insecure'])
        h.ok(['pull', ref, '--name', 'fromtls', '--insecure'])


@timeout(600)
def test_bad_references_are_refused():
    need_core()
    with Home() as h:
        build_hello(h)
        for ref, want in (('Bad/UPPER', 'repository'), ('127.0.0.1:1/x@sha256:12', 'digest'),
                          ('http://127.0.0.1/x', 'not an image reference')):
            p = h.ok(['push', 'hello', ref], code=1)
            if want not in p.stderr:
                fail('push to %s: wanted %r' % (ref, want), p.stderr)
        p = h.ok(['push', 'hello'], code=2)
        p = h.ok(['pull', 'x', '--username', 'u'], code=2)
        if 'password-stdin' not in p.stderr:
            fail('--username without --password-stdin was not refused', p.stderr)


@timeout(600)
def test_export_oci_layout_reads_with_skopeo_and_umoci():
    need_core()
    with Home() as h:
        build_hello(h)
        d = os.path.join(out_dir(), 'hello-layout')
        shutil.rmtree(d, ignore_errors=True)
        h.ok(['export', 'hello', '--format', 'oci', '-o', d])
        for f in ('oci-layout', 'index.json'):
            if not os.path.isfile(os.path.join(d, f)):
                fail('the OCI layout has no %s' % f, str(os.listdir(d)))
        idx = json.load(open(os.path.join(d, 'index.json')))
        man = idx['manifests'][0]
        blob = os.path.join(d, 'blobs', 'sha256', man['digest'].split(':')[1])
        m = json.load(open(blob))
        if m.get('annotations', {}).get('org.unik.kernel') != '/hello':
            fail('the layout manifest lacks the unikernel annotations', json.dumps(m))
        tar = os.path.join(out_dir(), 'hello-layout.tar')
        h.ok(['export', 'hello', '--format', 'oci', '-o', tar])
        with tarfile.open(tar) as t:
            if 'index.json' not in t.getnames():
                fail('the layout tar has no index.json', str(t.getnames()))
        p = h.ok(['export', 'hello', '--format', 'docker-archive', '-o',
                  os.path.join(out_dir(), 'hello.docker.tar')])
        with tarfile.open(os.path.join(out_dir(), 'hello.docker.tar')) as t:
            if 'manifest.json' not in t.getnames():
                fail('the docker-archive has no manifest.json', str(t.getnames()))
    if shutil.which('skopeo'):
        p = subprocess.run(['skopeo', 'inspect', 'oci:%s:latest' % d], capture_output=True,
                           text=True, timeout=120)
        if p.returncode or '/hello' not in p.stdout:
            fail('skopeo inspect oci:DIR', p.stdout + p.stderr)
        cp = os.path.join(out_dir(), 'copied')
        shutil.rmtree(cp, ignore_errors=True)
        p = subprocess.run(['skopeo', 'copy', 'oci:%s:latest' % d, 'oci:%s:copy' % cp],
                           capture_output=True, text=True, timeout=120)
        if p.returncode:
            fail('skopeo copy oci:DIR', p.stderr)
        p = subprocess.run(['skopeo', 'inspect', 'oci-archive:%s' % tar], capture_output=True,
                           text=True, timeout=120)
        if p.returncode:
            fail('skopeo inspect oci-archive:TAR', p.stderr)
    else:
        raise Skip('skopeo is not installed: the layout was only checked by hand')
    if shutil.which('umoci'):
        p = subprocess.run(['umoci', 'ls', '--layout', d], capture_output=True, text=True,
                           timeout=60)
        if p.returncode or 'latest' not in p.stdout:
            fail('umoci ls --layout', p.stdout + p.stderr)
        p = subprocess.run(['umoci', 'stat', '--image', d + ':latest'], capture_output=True,
                           text=True, timeout=60)
        if p.returncode:
            fail('umoci stat', p.stdout + p.stderr)
    else:
        raise Skip('umoci is not installed')


@timeout(900)
def test_docker_pull_of_a_pushed_image_runs_under_unik_oci():
    need_core()
    need_registry()
    import test_oci_common as c
    c.need('dockerd', 'docker')
    c.need_kvm_or_tcg()
    with Registry() as reg:
        ref = '%s/hello:latest' % reg.host
        with Home() as h:
            build_hello(h)
            h.ok(['push', 'hello', ref, '--insecure'])
        with c.Dockerd() as d:
            p = d.docker('pull', ref)
            if p.returncode:
                fail('docker pull of the pushed image', p.out + p.err)
            p = d.docker('run', '--pull', 'never', '--network', 'none', '--runtime=unik',
                         '--rm', ref)
            if p.returncode != 0 or GREETING not in p.out:
                fail('docker run of the pulled image: exit %d' % p.returncode, p.out + p.err)
            c.wait_no_qemu(d.dir)


@timeout(600)
def test_export_xl_writes_kernel_and_rootfs_beside_the_config():
    need_core()
    src = os.path.join(out_dir(), 'withfs')
    for rel, text in {'app.c': '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n',
                      'Unikfile': 'name: withfs\nfiles: rootfs\n',
                      'rootfs/etc/motd': 'motd\n'}.items():
        os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
        with open(os.path.join(src, rel), 'w') as f:
            f.write(text)
    with Home() as h:
        h.ok(['build', '--name', 'withfs', '--path', src])
        xen = os.path.join(out_dir(), 'xen')
        shutil.rmtree(xen, ignore_errors=True)
        os.makedirs(xen)
        h.ok(['export', 'withfs', '--format', 'xl', '-o', os.path.join(xen, 'guest.cfg')])
        cfg = open(os.path.join(xen, 'guest.cfg')).read()
        if 'kernel = "guest.elf"' not in cfg or 'ramdisk = "guest.rootfs.cpio"' not in cfg:
            fail('the exported xl.cfg does not name its files by relative path', cfg)
        if h.path in cfg:
            fail("the exported xl.cfg names the daemon's store", cfg)
        elf = os.path.join(out_dir(), 'withfs.elf')
        h.ok(['export', 'withfs', '--format', 'elf', '-o', elf])
        if open(elf, 'rb').read() != open(os.path.join(xen, 'guest.elf'), 'rb').read():
            fail('the kernel beside the xl.cfg is not the image kernel')
        with open(os.path.join(xen, 'guest.rootfs.cpio'), 'rb') as f:
            if not f.read(6) == b'070701':
                fail('the root fs beside the xl.cfg is not a newc cpio')
        p = h.ok(['export', 'withfs', '--format', 'xl', '-o', '-'], code=2)
        if 'three files' not in p.stderr:
            fail('xl to stdout was not refused with the reason', p.stderr)


def test_export_help_lists_o_once():
    need_core()
    with Home() as h:
        p = h.ok(['export', '--help'])
        lines = [l for l in p.stdout.splitlines() if l.strip().startswith('-o,')]
        if len(lines) != 1 or 'FILE' not in lines[0]:
            fail('export --help lists -o %d times' % len(lines), p.stdout)
        if '--output FORMAT' not in p.stdout:
            fail('export --help no longer shows --output', p.stdout)


def on_a_terminal(h, args):
    """unik ARGS with its stderr on a pseudo-terminal (stdout piped); (exit, stdout, stderr)."""
    import pty
    from test_cli import unik_bin
    master, slave = pty.openpty()
    p = subprocess.Popen([unik_bin()] + list(args), env=h.env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    err = b''
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    out = p.stdout.read()
    p.wait(timeout=300)
    os.close(master)
    return p.returncode, out.decode(errors='replace'), err.decode(errors='replace')


@timeout(600)
def test_progress_on_a_terminal_and_none_when_piped():
    need_core()
    with Registry() as reg, Home() as h:
        build_hello(h)
        ref = '%s/progress/hello' % reg.host
        code, out, err = on_a_terminal(h, ['push', 'hello', ref, '--insecure'])
        if code != 0 or 'pushed hello' not in out:
            fail('push on a terminal: exit %d' % code, out + err)
        if 'pushing sha256:' not in err or '(100%)' not in err:
            fail('no progress line on the terminal during the push', repr(err))
        code, out, err = on_a_terminal(h, ['pull', ref, '--name', 'again', '--insecure'])
        if code != 0 or 'pulling sha256:' not in err or '(100%)' not in err:
            fail('no progress line on the terminal during the pull', repr(out + err))
        code, out, err = on_a_terminal(h, ['pull', ref + 'nothere', '--insecure'])
        if code != 1 or 'nothere' not in err:
            fail('a failed streamed pull did not report the registry error', repr(out + err))
        p = h.ok(['push', 'hello', ref, '--insecure'])
        if '%' in p.stderr or 'sha256:' in p.stderr:
            fail('progress was printed into a pipe', p.stderr)


@timeout(600)
def test_token_auth_as_docker_hub_does_it():
    need_core()
    with Registry(token=('alice', 'tok pass')) as reg:
        ref = '%s/team/hello:1' % reg.host
        with Home('pusher') as h:
            build_hello(h)
            p = h.ok(['push', 'hello', ref, '--insecure'], code=1)
            if 'refused the login' not in p.stderr:
                fail('an anonymous push to a token registry was not refused', p.stderr)
            with_stdin(h, ['push', 'hello', ref, '--insecure', '--username', 'alice',
                           '--password-stdin'], 'tok pass\n')
        asked = reg.token_server.requests
        if not any('repository:team/hello:pull,push' in r['scope'] and
                   r['user'] == 'alice:tok pass' and r['service'] == 'unik-test-registry'
                   for r in asked):
            fail('the token server was never asked for push access as alice', str(asked))
        with Home('puller') as h2:
            h2.ok(['pull', ref, '--insecure'], code=1)
            with_stdin(h2, ['pull', ref, '--insecure', '--username', 'alice',
                            '--password-stdin'], 'tok pass\n')
            p = h2.ok(['run', 'hello'])
            if GREETING not in p.stdout:
                fail('the image pulled through a token login did not greet', p.stdout)
