"""Builds run in a sandbox (docs/daemon.md, "Build sandbox"): real builds through the daemon whose
Makefiles try to leave it (write outside their directory, read /root, connect to the host), see
their user id, and hit the time, log and output limits; and "git" sources on the daemon's own
disk are refused unless daemon-config.yaml allows them."""

import os
import socket
import subprocess
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Skip, fail, out_dir, timeout
from test_daemon_fixture import Daemon, write_tree

HELLO_C = '#include <stdio.h>\nint main(void)\n{\n\tprintf("hello\\n");\n\treturn 0;\n}\n'
LINK = '\t$(CC) -o app app.c\n'


def src(name, makefile_lines):
    """A source tree whose Makefile runs makefile_lines (shell lines) then links app."""
    body = ''.join('\t%s\n' % line for line in makefile_lines)
    return write_tree(os.path.join(out_dir(), 'src-' + name),
                      {'Makefile': 'app: app.c\n' + body + LINK, 'app.c': HELLO_C})


def sandboxed_daemon(config='', name='home'):
    if not os.access('/usr/bin/bwrap', os.X_OK):
        raise Skip('bubblewrap is not installed (/usr/bin/bwrap; scripts/install-deps)')
    return Daemon(name=name, config=config or None)


def build_dir_processes(home):
    """PIDs of processes whose working directory is under home/builds."""
    found = []
    prefix = os.path.join(os.path.realpath(home), 'builds') + '/'
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            cwd = os.readlink('/proc/%s/cwd' % p)
        except OSError:
            continue
        if cwd.startswith(prefix):
            found.append(int(p))
    return found


def expect_failed(b, needle):
    if b['state'] != 'failed':
        fail('the build %s, wanted it to fail (%s)' % (b['state'], needle), b['log'])
    if needle not in (b['error'] or '') + b['log']:
        fail('the build failed, but not with "%s": %s' % (needle, b['error']), b['log'])


def test_escapes_fail_and_host_is_untouched():
    tag = uuid.uuid4().hex[:8]
    tmp_marker = '/tmp/unik-escape-marker-' + tag
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    accepted = []

    def accept():
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return
            accepted.append(c)
    threading.Thread(target=accept, daemon=True).start()
    try:
        with sandboxed_daemon() as d:
            home_marker = os.path.join(d.home, 'escape-marker-' + tag)
            # The marker in the sandbox's /tmp is private: the build sees it, the host not.
            b = d.build(src('tmp', ['echo x > %s' % tmp_marker, 'test -e %s' % tmp_marker]),
                        {'name': 'tmp'})
            if b['state'] != 'succeeded':
                fail('a build that writes its private /tmp failed: %s' % b['error'], b['log'])
            cases = [
                ('home', ['echo x > %s' % home_marker], 'exited with status'),
                ('var', ['mkdir -p /var/tmp/unik-escape-%s' % tag], 'exited with status'),
                ('root', ['ls /root'], 'exited with status'),
                # build.log, beside src/, is the daemon's: a link there would serve the
                # host's file as the log.
                ('log', ['ln -sf /etc/passwd ../build.log'], 'exited with status'),
                ('etc', ['cat /etc/hostname'], 'exited with status'),
                ('connect', ['python3 -c "import socket; '
                             'socket.create_connection((\'127.0.0.1\', %d), 3)"' % port],
                 'exited with status'),
            ]
            for name, lines, needle in cases:
                b = d.build(src(name, lines), {'name': name})
                expect_failed(b, needle)
                if 'root:x:0:0' in b['log']:
                    fail('the build replaced its log with a link to /etc/passwd', b['log'])
            assert not os.path.exists(home_marker), 'the build wrote into the daemon home'
            assert not os.path.exists('/var/tmp/unik-escape-' + tag), 'the build wrote /var/tmp'
        assert not os.path.exists(tmp_marker), 'the build wrote the host /tmp'
        time.sleep(0.5)
        assert not accepted, 'the listener on 127.0.0.1:%d saw %d connection(s) from a build' % (
            port, len(accepted))
    finally:
        listener.close()
        for c in accepted:
            c.close()


def test_build_runs_as_unprivileged_user():
    with sandboxed_daemon() as d:
        lines = ['echo "build uid $$(id -u) gid $$(id -g) host $$(hostname)"',
                 'test "$$(id -u)" != 0',
                 'for n in ipc mnt net pid uts user; do '
                 'echo "ns $$n $$(readlink /proc/self/ns/$$n)"; done',
                 'echo "netdevs $$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d \' \\n\')"']
        b = d.build(src('who', lines), {'name': 'who'})
        if b['state'] != 'succeeded':
            fail('build failed: %s' % b['error'], b['log'])
        if 'build uid 65534 gid 65534 host unik-build' not in b['log']:
            fail('the build does not run as 65534:65534 on host unik-build (the defaults)',
                 b['log'])
        if '\nnetdevs lo\n' not in b['log']:
            fail('the build sees network interfaces besides lo', b['log'])
        for ns in ('ipc', 'mnt', 'net', 'pid', 'uts', 'user'):
            line = 'ns %s %s' % (ns, os.readlink('/proc/self/ns/' + ns))
            if line in b['log'] or 'ns %s %s:[' % (ns, ns) not in b['log']:
                fail('the build does not run in a %s namespace of its own' % ns, b['log'])
    with sandboxed_daemon('build:\n  uid: 64123\n  gid: 64124\n', name='home2') as d:
        b = d.build(src('who', ['echo "build uid $$(id -u) gid $$(id -g)"']), {'name': 'who'})
        if b['state'] != 'succeeded' or 'build uid 64123 gid 64124' not in b['log']:
            fail('build.uid / build.gid are not used: %s' % b['error'], b['log'])


@timeout(300)
def test_time_limit_kills_a_looping_build():
    with sandboxed_daemon('build:\n  timeout_s: 3\n') as d:
        b = d.build(src('loop', ['sh -c "while :; do :; done"']), {'name': 'loop'})
        expect_failed(b, 'build.timeout_s')
        if 'time limit of 3 s' not in b['error']:
            fail('the error does not name the limit: %s' % b['error'])
        left = build_dir_processes(d.home)
        if left:
            fail('processes of the killed build are still running: %s' % left)


@timeout(300)
def test_output_limits_stop_the_build():
    with sandboxed_daemon('build:\n  max_log_mb: 1\n  max_output_mb: 2\n') as d:
        b = d.build(src('chatty', ['yes unik']), {'name': 'chatty'})
        expect_failed(b, 'build.max_log_mb')
        log_size = os.path.getsize(os.path.join(d.home, 'builds', b['id'], 'build.log'))
        if log_size > (1 << 20) + 64 * 1024:
            fail('the build log grew to %d bytes past its 1 MiB limit' % log_size)
        b = d.build(src('big', ['head -c 8M /dev/zero > big.bin']), {'name': 'big'})
        expect_failed(b, 'build.max_output_mb')
        b = d.build(src('many', ['for i in 1 2 3 4 5 6; do head -c 1000K /dev/zero > f$$i; '
                                 'sleep 1; done']), {'name': 'many'})
        expect_failed(b, 'build.max_output_mb')
        assert not build_dir_processes(d.home)


@timeout(300)
def test_memory_limit_names_its_key():
    if os.path.basename(os.environ.get('UNIK_BUILD_DIR', '').rstrip('/')) == 'asan':
        raise Skip('make asan: the sandbox sets no address-space limit, which AddressSanitizer '
                   'builds of unik-cc cannot run under')
    # The host's compiler, inside the sandbox, asks for 256 MiB at once under a 64 MiB limit.
    big = ('#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <errno.h>\n'
           'int main(void) { if (!malloc(256u << 20)) { printf("hog: %s\\n", '
           'strerror(errno)); return 1; } return 0; }\n')
    with sandboxed_daemon('build:\n  memory_mb: 64\n') as d:
        s = src('hog', ['gcc -o /tmp/hog hog.c', '/tmp/hog'])
        with open(os.path.join(s, 'hog.c'), 'w') as f:
            f.write(big)
        b = d.build(s, {'name': 'hog'})
        expect_failed(b, 'build.memory_mb')
        if 'memory limit of 64 MiB' not in b['error']:
            fail('the error does not name the limit: %s' % b['error'], b['log'])


def test_sandbox_none_is_explicit():
    with sandboxed_daemon('build_sandbox: none\n') as d:
        b = d.build(src('none', ['echo "build uid $$(id -u)"']), {'name': 'none'})
        if b['state'] != 'succeeded':
            fail('build failed: %s' % b['error'], b['log'])
        assert 'build_sandbox: none' in b['log'], b['log']
        assert 'build uid %d' % os.geteuid() in b['log'], b['log']
    d = sandboxed_daemon('build_sandbox: off\n', name='bad')
    p = d.spawn()
    rc = p.wait(timeout=20)
    if rc != 1 or 'build_sandbox' not in d.log() or 'none' not in d.log():
        fail('build_sandbox: off was not refused with a message (exit %s)' % rc, d.log())


def test_unstartable_sandbox_fails_build():
    """A daemon in a user namespace where no further one may be made (root and 65534 mapped,
    user.max_user_namespaces 0 inside): bwrap cannot start, and the build says so and names
    build_sandbox: none."""
    home = os.path.join(out_dir(), 'home')
    os.makedirs(home, exist_ok=True)
    d = Daemon(home=home)
    import test_daemon_fixture

    def spawn(extra=()):
        log = open(d.log_path, 'ab')
        # Mapped after sh started, so a second sh, as root of the namespace, has its
        # capabilities.
        script = ('read go && exec sh -c \'echo 0 > /proc/sys/user/max_user_namespaces && '
                  'exec "$@" < /dev/null\' sh "$@"')
        cmd = ['unshare', '--user', '--mount', '--', 'sh', '-c', script, 'sh',
               test_daemon_fixture.daemon_binary(), 'daemon', '--home', d.home] + list(extra)
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=log, env=d.env(),
                             start_new_session=True)
        time.sleep(0.5)
        try:
            for f in ('uid_map', 'gid_map'):
                with open('/proc/%d/%s' % (p.pid, f), 'w') as m:
                    m.write('0 0 1\n65534 65534 1\n')
        except OSError as e:
            p.kill()
            p.wait()
            raise Skip('cannot map users into a new user namespace here: %s' % e)
        p.stdin.write(b'go\n')
        p.stdin.close()
        return p
    d.spawn = spawn
    with d:
        b = d.build(src('any', ['true']), {'name': 'any'})
        expect_failed(b, 'the build sandbox could not start')
        if 'build_sandbox: none' not in b['error']:
            fail('the error does not say how to build without the sandbox', b['error'])


def test_local_git_needs_allow_local_git():
    if subprocess.run(['git', '--version'], capture_output=True).returncode != 0:
        raise Skip('git is not installed')
    repo = write_tree(os.path.join(out_dir(), 'repo'), {'Makefile': 'app: app.c\n' + LINK,
                                                        'app.c': HELLO_C})
    env = dict(os.environ, GIT_AUTHOR_NAME='t', GIT_AUTHOR_EMAIL='t@e', GIT_COMMITTER_NAME='t',
               GIT_COMMITTER_EMAIL='t@e')
    for args in (['init', '-q', '-b', 'main'], ['add', '.'], ['commit', '-q', '-m', 'v1']):
        subprocess.run(['git', '-C', repo] + args, check=True, env=env, capture_output=True)
    local = [repo, 'file://' + repo, 'file://' + repo + '#main', os.path.relpath(repo, '/'),
             './repo', '/etc', 'file:///etc/passwd', 'ext::sh -c touch% /tmp/x', 'c:/x']
    with sandboxed_daemon() as d:
        for url in local:
            r = d.request('POST', '/v1/builds', {'name': 'g', 'git': url})
            if r.status != 400 or 'allow_local_git' not in r.text:
                fail('git %s: status %d, wanted a 400 naming build.allow_local_git'
                     % (url, r.status), r.text[:2000])
        assert d.ok('GET', '/v1/builds') == [], 'a refused git build was recorded'
        # Network URLs pass the check and fail only at the clone (nothing listens there).
        for url in ('https://127.0.0.1:1/x.git', 'http://127.0.0.1:1/x.git',
                    'git://127.0.0.1:1/x.git', 'ssh://nobody@127.0.0.1:1/x.git'):
            r = d.request('POST', '/v1/builds', {'name': 'g', 'git': url})
            if r.status != 400 or 'allow_local_git' in r.text or 'git clone' not in r.text:
                fail('git %s: status %d, wanted the clone to be tried' % (url, r.status),
                     r.text[:2000])
    with sandboxed_daemon('build:\n  allow_local_git: true\n', name='home2') as d:
        r = d.ok('POST', '/v1/builds', {'name': 'g', 'git': 'file://' + repo}, status=201)
        b = d.wait_build(r['id'])
        if b['state'] != 'succeeded':
            fail('a local repository with allow_local_git: %s' % b['error'], b['log'])


def test_daemon_that_is_not_root_builds_as_itself():
    """Not root: no user to switch to and no mount namespace to stage in; bwrap binds the
    directories straight from the daemon's home."""
    if os.geteuid() != 0:
        raise Skip('the test switches to another user: run it as root')
    if not os.access('/usr/bin/bwrap', os.X_OK):
        raise Skip('bubblewrap is not installed (/usr/bin/bwrap)')
    uid = 64100
    top = os.path.join('/tmp', 'unik-nonroot-%d' % os.getpid())
    home = os.path.join(top, 'home')
    os.makedirs(top, exist_ok=True)
    os.chown(top, uid, uid)
    d = Daemon(home=home)
    import test_daemon_fixture

    def spawn(extra=()):
        log = open(d.log_path, 'ab')
        cmd = ['setpriv', '--reuid=%d' % uid, '--regid=%d' % uid, '--clear-groups',
               test_daemon_fixture.daemon_binary(), 'daemon', '--home', home] + list(extra)
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=dict(d.env(), HOME=top), start_new_session=True)
    d.spawn = spawn
    try:
        with d:
            # The daemon's user may write there; its builds may not.
            writable = os.path.join(out_dir(), 'writable')
            os.makedirs(writable, exist_ok=True)
            os.chown(writable, uid, uid)
            marker = os.path.join(writable, 'escape-marker')
            b = d.build(src('self', ['touch %s' % marker]), {'name': 'self'})
            expect_failed(b, 'exited with status')
            assert not os.path.exists(marker), 'the build wrote outside its directory'
            b = d.build(src('self2', ['echo "build uid $$(id -u)"']), {'name': 'self2'})
            if b['state'] != 'succeeded' or 'build uid %d' % uid not in b['log']:
                fail('a daemon running as %d does not build as itself: %s'
                     % (uid, b['error']), b['log'])
    finally:
        subprocess.run(['rm', '-rf', top])
