"""The unik CLI end to end against the real daemon and the qemu provider: a newcomer's first
`unik build` starts the daemon, `unik run` shows the guest's output and exits with its status,
arguments and environment reach the guest, compiler errors reach the terminal, the detached
life cycle (ps, logs -f, stop, rm, rmi), -o json, UniK's spellings, and `unik target`/--host over
TCP.  Each test has its own UNIK_HOME and stops the daemon it caused to start."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time

from harness import Failure, Skip, fail, out_dir, tail, bin_dir, build_dir, REPO

APPS = os.path.join(REPO, 'tests', 'apps')
HELLO = os.path.join(REPO, 'examples', 'hello')


def need_core():
    for f in ('daemon/daemon.h', 'providers/registry.c'):
        if not os.path.exists(os.path.join(REPO, f)):
            raise Skip('%s does not exist yet (the daemon or the provider registry is missing)'
                       % f)
    if not shutil.which(os.environ.get('UNIK_QEMU', 'qemu-system-x86_64')):
        raise Skip('qemu-system-x86_64 is not installed')


def unik_bin():
    p = os.path.join(bin_dir(), 'unik')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make)' % p)
    return p


class Home:
    """A private UNIK_HOME; stop() ends the instances and the daemon that ran there."""

    def __init__(self, name='home'):
        self.path = os.path.join(out_dir(), name)
        # A unix socket path holds at most 107 bytes.
        if len(os.path.join(self.path, 'instances', 'x' * 12, 'qmp.sock')) > 100:
            self.path = os.path.join('/tmp', 'unik-cli-%d-%s' % (os.getpid(), name))
        shutil.rmtree(self.path, ignore_errors=True)
        os.makedirs(self.path)
        self.env = {k: v for k, v in os.environ.items() if k not in ('UNIK_HOST', 'UNIK_TOKEN')}
        self.env['UNIK_HOME'] = self.path
        self.env['PATH'] = bin_dir() + os.pathsep + self.env.get('PATH', '')
        # The daemon it starts inherits this; unik-cc then finds this build's runtime (make asan
        # builds into build/asan, next to no bin/).
        rt = os.path.join(build_dir(), 'runtime')
        if 'UNIK_RUNTIME_DIR' not in self.env and os.path.exists(os.path.join(rt, 'unikrt.o')):
            self.env['UNIK_RUNTIME_DIR'] = rt

    def run(self, args, timeout=180, env=None):
        e = dict(self.env, **(env or {}))
        t0 = time.monotonic()
        p = subprocess.run([unik_bin()] + list(args), env=e, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           errors='replace', timeout=timeout)
        with open(os.path.join(out_dir(), 'unik.log'), 'a') as f:
            f.write('$ unik %s   (%.2fs)\n%s%s[exit %d]\n' % (
                ' '.join(args), time.monotonic() - t0, p.stdout, p.stderr, p.returncode))
        return p

    def ok(self, args, code=0, **kw):
        p = self.run(args, **kw)
        if p.returncode != code:
            log = os.path.join(self.path, 'daemon.log')
            extra = ''
            if os.path.exists(log):
                with open(log, 'rb') as f:
                    extra = '\ndaemon.log:\n' + tail(f.read(), 15)
            fail('unik %s: exit %d, wanted %d' % (' '.join(args), p.returncode, code),
                 tail('stdout:\n' + p.stdout + '\nstderr:\n' + p.stderr) + extra)
        return p

    def json(self, args):
        p = self.ok(list(args) + ['-o', 'json'])
        try:
            return json.loads(p.stdout)
        except ValueError:
            fail('unik %s -o json printed no JSON' % ' '.join(args), tail(p.stdout))

    def daemon_pid(self):
        try:
            with open(os.path.join(self.path, 'daemon.pid')) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def daemon_pids(self):
        """daemon.pid, and any `unik daemon` whose UNIK_HOME is ours (one that died before
        writing its pid file, or never got that far, must not outlive the test)."""
        pids = {self.daemon_pid()} - {None}
        for d in os.listdir('/proc'):
            if not d.isdigit():
                continue
            try:
                with open('/proc/%s/cmdline' % d, 'rb') as f:
                    argv = f.read().split(b'\0')
                with open('/proc/%s/environ' % d, 'rb') as f:
                    env = f.read().split(b'\0')
            except OSError:
                continue
            if argv[1:2] == [b'daemon'] and ('UNIK_HOME=' + self.path).encode() in env:
                pids.add(int(d))
        return pids

    def stop(self):
        sock = os.path.join(self.path, 'daemon.sock')
        pid = self.daemon_pid()
        if pid and os.path.exists(sock):
            try:
                p = self.run(['ps', '-a', '-o', 'json'], timeout=20)
                for inst in json.loads(p.stdout) if p.returncode == 0 else []:
                    if inst.get('state') in ('running', 'pending'):
                        self.run(['rm', '-f', inst['id']], timeout=30)
            except (ValueError, subprocess.TimeoutExpired):
                pass
        for pid in self.daemon_pids():
            try:
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    os.kill(pid, 0)
                    time.sleep(0.05)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def project(name, files):
    d = os.path.join(out_dir(), name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for fn, text in files.items():
        with open(os.path.join(d, fn), 'w') as f:
            f.write(text)
    return d


def read_app(name):
    with open(os.path.join(APPS, name)) as f:
        return f.read()


TICKER = r'''
#include <stdio.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv)
{
	int n = argc > 1 && strcmp(argv[1], "forever") == 0 ? 1000000 : 5;
	struct timespec ts = {0, 100 * 1000 * 1000};

	for (int i = 0; i < n; i++) {
		printf("tick %d\n", i);
		fflush(stdout);
		nanosleep(&ts, NULL);
	}
	return 0;
}
'''


# ---------------------------------------------------------------------------------------------


def test_newcomer_build_autostarts_daemon_then_run():
    need_core()
    with Home() as h:
        if os.path.exists(os.path.join(h.path, 'daemon.sock')):
            fail('a daemon socket exists before the first command')
        p = h.ok(['build', '--name', 'hello', '--path', HELLO])
        if 'unik: started the daemon (log: %s)' % os.path.join(h.path, 'daemon.log') \
                not in p.stderr:
            fail('the first build did not say it started the daemon', p.stderr)
        if 'built image hello' not in p.stdout:
            fail('no "built image hello" line', p.stdout)
        p = h.ok(['run', 'hello'])
        if 'Hello from a unikernel!' not in p.stdout:
            fail("the guest's greeting is not on the CLI's output", p.stdout)
        if 'started the daemon' in p.stderr:
            fail('a second daemon was started', p.stderr)
        if not h.daemon_pid():
            fail('no daemon.pid in UNIK_HOME')


def test_args_and_env_reach_the_guest():
    need_core()
    src = project('args', {'args.c': read_app('args.c')})
    with Home() as h:
        h.ok(['build', '--name', 'args', '--path', src])
        p = h.ok(['run', '-e', 'FOO=bar baz', '--env', 'HOME=/root', 'args', 'one',
                  'two words', "it's", '-d'])
        for want in ('argv[1]=<one>', 'argv[2]=<two words>', "argv[3]=<it's>", 'argv[4]=<-d>',
                     'env <FOO=bar baz>', 'getenv(HOME)=</root>'):
            if want not in p.stdout:
                fail('%s is not in the guest output' % want, p.stdout)


def test_failing_build_shows_gcc_errors():
    need_core()
    src = project('broken', {'broken.c': 'int main(void)\n{\n\treturn undeclared_thing;\n}\n'})
    with Home() as h:
        p = h.run(['build', '--name', 'broken', '--path', src])
        if p.returncode == 0:
            fail('a failing build exited 0', p.stdout + p.stderr)
        if 'undeclared_thing' not in p.stdout + p.stderr or 'error' not in p.stdout:
            fail("gcc's error is not on the CLI's output", tail(p.stdout + p.stderr))
        if 'broken' not in p.stderr:
            fail('the failure does not name the image', p.stderr)
        if any(i.get('name') == 'broken' for i in h.json(['images'])):
            fail('a failed build left an image')


def test_detached_lifecycle():
    need_core()
    src = project('ticker', {'ticker.c': TICKER})
    with Home() as h:
        h.ok(['build', '--name', 'ticker', '--path', src])
        # A short run: logs -f returns everything once it ends.
        p = h.ok(['run', '-d', '--name', 'short', 'ticker'])
        if p.stdout.strip() != 'short':
            fail('run -d must print the instance name', p.stdout)
        p = h.ok(['logs', '-f', 'short'], timeout=60)
        for i in range(5):
            if 'tick %d' % i not in p.stdout:
                fail('logs -f is missing tick %d' % i, p.stdout)
        inst = h.json(['describe-instance', 'short'])
        if inst.get('state') != 'exited' or inst.get('exit_code') != 0:
            fail('the instance did not end as exited (0)', json.dumps(inst))
        # A long one: ps shows it running, stop ends it.
        h.ok(['run', '-d', '--name', 'long', 'ticker', 'forever'])
        p = h.ok(['ps'])
        rows = [l for l in p.stdout.splitlines() if l.startswith('long ')]
        if not rows or 'running' not in rows[0]:
            fail('ps does not show `long` running', p.stdout)
        if not p.stdout.startswith('NAME'):
            fail('ps has no heading', p.stdout)
        deadline = time.monotonic() + 30
        while 'tick 1' not in h.ok(['logs', 'long']).stdout:
            if time.monotonic() > deadline:
                fail('`long` printed nothing in 30 s')
            time.sleep(0.05)
        h.ok(['stop', 'long'], timeout=60)
        states = {i['name']: i['state'] for i in h.json(['ps', '-a'])}
        if states.get('long') != 'stopped':
            fail('after stop, long is %s' % states.get('long'), json.dumps(states))
        p = h.ok(['logs', 'long'])
        if 'tick 0' not in p.stdout:
            fail('logs of a stopped instance', p.stdout)
        h.ok(['rm', 'long'])
        h.ok(['rm', 'short'])
        if h.json(['ps', '-a']):
            fail('instances remain after rm')
        p = h.run(['rm', 'long'])
        if p.returncode != 1 or 'long' not in p.stderr:
            fail('rm of a deleted instance: exit %d' % p.returncode, p.stderr)
        h.ok(['rmi', 'ticker'])
        if any(i.get('name') == 'ticker' for i in h.json(['images'])):
            fail('rmi left the image')


def test_json_output_and_discovery():
    need_core()
    with Home() as h:
        h.ok(['build', '--name', 'hello', HELLO])
        imgs = h.json(['images'])
        if not isinstance(imgs, list) or not any(i.get('name') == 'hello' for i in imgs):
            fail('images -o json', json.dumps(imgs))
        img = h.json(['describe-image', 'hello'])
        if img.get('name') != 'hello':
            fail('describe-image -o json', json.dumps(img))
        provs = h.json(['providers'])
        if not any(p.get('name') == 'qemu' for p in provs):
            fail('providers -o json has no qemu', json.dumps(provs))
        comps = h.json(['compilers'])
        if not any(c.get('name') == 'rump' for c in comps):
            fail('compilers -o json has no rump', json.dumps(comps))
        h.ok(['describe-compiler', 'rump'])
        v = h.json(['version'])
        if not v.get('daemon') or v['daemon'].get('api') != 'v1':
            fail('version -o json', json.dumps(v))
        p = h.ok(['run', '-d', '-o', 'json', 'hello'])
        inst = json.loads(p.stdout)
        if inst.get('image') != 'hello' or not inst.get('id'):
            fail('run -d -o json', p.stdout)


def test_unik_spellings():
    need_core()
    src = project('args', {'args.c': read_app('args.c')})
    with Home() as h:
        h.ok(['build', '--name', 'uargs', '--path', src, '--base', 'rump', '--language', 'c',
              '--provider', 'qemu'])
        p = h.ok(['run', '--instanceName', 'u1', '--imageName', 'uargs', '--env', 'K=V',
                  '--instanceMemory', '96'])
        if 'env <K=V>' not in p.stdout:
            fail('--env did not reach the guest', p.stdout)
        inst = h.json(['describe-instance', '--instance', 'u1'])
        if inst.get('memory_mb') != 96:
            fail('--instanceMemory', json.dumps(inst))
        h.ok(['logs', '--instance', 'u1'])
        h.ok(['delete-instance', '--instance', 'u1'])
        h.ok(['delete-image', '--image', 'uargs'])


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_target_and_host_over_tcp():
    need_core()
    port = free_port()
    with Home('server') as server, Home('client') as client:
        log = open(os.path.join(out_dir(), 'tcp-daemon.log'), 'w')
        d = subprocess.Popen([unik_bin(), 'daemon', '--listen', '127.0.0.1:%d' % port],
                             env=server.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=1).close()
                    break
                except OSError:
                    if d.poll() is not None or time.monotonic() > deadline:
                        fail('the daemon did not listen on 127.0.0.1:%d' % port)
                    time.sleep(0.02)
            server.ok(['build', '--name', 'hello', HELLO])
            client.ok(['target', '--host', '127.0.0.1', '--port', str(port)])
            with open(os.path.join(client.path, 'client-config.yaml')) as f:
                if f.read() != 'host: "127.0.0.1:%d"\n' % port:
                    fail('client-config.yaml is not UniK\'s format')
            names = [i['name'] for i in client.json(['images'])]
            if 'hello' not in names:
                fail('the target daemon was not reached', str(names))
            other = Home('other')
            names = [i['name'] for i in other.json(['--host', '127.0.0.1:%d' % port,
                                                     'images'])]
            if 'hello' not in names:
                fail('--host did not reach the daemon', str(names))
            if os.path.exists(os.path.join(other.path, 'daemon.sock')):
                fail('--host started a local daemon')
            p = client.ok(['run', 'hello', 'over', 'tcp'])
            if 'Hello from a unikernel!' not in p.stdout:
                fail('run over TCP', p.stdout)
        finally:
            d.send_signal(signal.SIGTERM)
            try:
                d.wait(timeout=10)
            except subprocess.TimeoutExpired:
                d.kill()
            log.close()


def test_build_from_a_local_git_repository():
    need_core()
    if not shutil.which('git'):
        raise Skip('git is not installed')
    repo = project('gitrepo', {'hello.c': read_app('args.c')})
    genv = dict(os.environ, GIT_AUTHOR_NAME='t', GIT_AUTHOR_EMAIL='t@t', GIT_COMMITTER_NAME='t',
                GIT_COMMITTER_EMAIL='t@t', GIT_CONFIG_NOSYSTEM='1', HOME=out_dir())
    for cmd in (['init', '-q', '-b', 'main'], ['add', '.'], ['commit', '-q', '-m', 'one'],
                ['tag', 'v1']):
        subprocess.run(['git'] + cmd, cwd=repo, env=genv, check=True,
                       stdout=subprocess.DEVNULL)
    with Home('nolocal') as h:
        p = h.ok(['build', '--name', 'fromgit', '--git', 'file://%s#v1' % repo], code=1)
        if 'allow_local_git' not in p.stderr:
            fail('a local repository is not refused with the key that allows it', p.stderr)
    with Home() as h:
        # The daemon this home starts reads it: local repositories need it.
        with open(os.path.join(h.path, 'daemon-config.yaml'), 'w') as f:
            f.write('build:\n  allow_local_git: true\n')
        p = h.ok(['build', '--name', 'fromgit', '--git', 'file://%s#v1' % repo])
        if 'built image fromgit' not in p.stdout:
            fail('no "built image" line', p.stdout)
        p = h.ok(['run', 'fromgit', 'x'])
        if 'argv[1]=<x>' not in p.stdout:
            fail('the image built from git does not run', p.stdout)
        # Without --name the repository's Unikfile names the image; this one has none.
        p = h.run(['build', '--git', 'file://%s' % repo])
        if p.returncode != 1 or 'needs a name' not in p.stderr:
            fail('--git without --name, and no Unikfile name:, must fail asking for one',
                 p.stderr)
