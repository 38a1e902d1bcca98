"""unik daemon over its REST API (docs/api/rest.md): every /v1 route with its error paths, builds
(upload and git), bad and hostile input, parallel builds and runs, and adoption after kill -9."""

import concurrent.futures
import io
import json
import os
import re
import signal
import socket
import stat
import subprocess
import tarfile
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Failure, Skip, fail, out_dir, timeout
from test_daemon_fixture import (Daemon, TICK_C, multipart, provider_ready, tar_dir,
                                 tar_entries, write_tree)

HELLO_C = '#include <stdio.h>\nint main(int c, char **v)\n{\n\tprintf("hi from %s\\n", v[0]);' \
          '\n\treturn c > 1 ? 3 : 0;\n}\n'


def src(name, files):
    return write_tree(os.path.join(out_dir(), name), files)


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def expect_error(r, status, code=None, needle=None):
    if r.status != status:
        fail('status %d, wanted %d' % (r.status, status), r.text[:2000])
    e = r.error()
    if code and e['code'] != code:
        fail('error code %r, wanted %r' % (e['code'], code), r.text)
    if needle and needle not in e['message']:
        fail('message %r lacks %r' % (e['message'], needle))
    return e


# ---------------------------------------------------------------------------------------------
# The daemon itself


def test_discovery_routes():
    with Daemon() as d:
        v = d.ok('GET', '/v1/version')
        assert v['api'] == 'v1' and v['guest_abi'] == 1 and v['version'], v
        ps = d.ok('GET', '/v1/providers')
        assert any(p['name'] == 'qemu' and p['default'] for p in ps), ps
        cs = d.ok('GET', '/v1/compilers')
        assert cs[0]['name'] == 'rump' and 'c' in cs[0]['languages'], cs
        c = d.ok('GET', '/v1/compilers/rump?language=c&provider=qemu')
        assert 'Makefile' in c['usage'], c
        expect_error(d.get('/v1/compilers/nope'), 404, 'not_found')
        expect_error(d.get('/v1/compilers/rump?language=cobol'), 404)
        expect_error(d.get('/v1/nothing/here'), 404, 'not_found')
        expect_error(d.request('PUT', '/v1/images'), 405)
        expect_error(d.get('/v1/builds/0123456789ab'), 404)
        expect_error(d.get('/v1/builds/0123456789ab/log'), 404)


def test_home_socket_and_pid_file():
    d = Daemon()
    with d:
        st = os.stat(d.sock)
        assert stat.S_ISSOCK(st.st_mode)
        if stat.S_IMODE(st.st_mode) != 0o600:
            fail('daemon.sock has mode %o, not 600' % stat.S_IMODE(st.st_mode))
        if stat.S_IMODE(os.stat(d.home).st_mode) != 0o700:
            fail('UNIK_HOME has mode %o, not 700' % stat.S_IMODE(os.stat(d.home).st_mode))
        with open(os.path.join(d.home, 'daemon.pid')) as f:
            assert int(f.read()) == d.proc.pid
        # A second daemon on the same home refuses to start.
        p = d.spawn()
        rc = p.wait(timeout=20)
        if rc != 1 or 'already running' not in d.log():
            fail('a second daemon on the same home: exit %s' % rc, d.log())
        con = sqlite_journal_mode(os.path.join(d.home, 'unik.db'))
        assert con == 'wal', con
    assert d.proc.returncode == 0, 'SIGTERM: exit status %s' % d.proc.returncode
    assert not os.path.exists(d.sock), 'the socket outlived the daemon'
    # A stale socket (daemon killed) is replaced.
    d2 = Daemon(home=d.home)
    d2.start()
    d2.kill9()
    assert os.path.exists(d2.sock)
    with Daemon(home=d.home) as d3:
        d3.ok('GET', '/v1/version')


def sqlite_journal_mode(path):
    import sqlite3
    c = sqlite3.connect(path)
    try:
        return c.execute('PRAGMA journal_mode').fetchone()[0]
    finally:
        c.close()


def test_config_typo_names_the_line():
    home = os.path.join(out_dir(), 'home')
    os.makedirs(home, mode=0o700)
    with open(os.path.join(home, 'daemon-config.yaml'), 'w') as f:
        f.write('listen: []\nbuild:\n  max_parallel: 2\n  max_uplaod_mb: 10\n')
    d = Daemon(home=home)
    p = d.spawn()
    rc = p.wait(timeout=20)
    log = d.log()
    if rc != 1 or 'daemon-config.yaml line 4: unknown key "max_uplaod_mb" (did you mean ' \
                   '"max_upload_mb"?)' not in log:
        fail('a config typo: exit %s' % rc, log)
    with open(os.path.join(home, 'daemon-config.yaml'), 'w') as f:
        f.write('build:\n  max_parallel: lots\n')
    p = d.spawn()
    if p.wait(timeout=20) != 1 or 'line 2' not in d.log():
        fail('a mistyped value was accepted', d.log())
    with open(os.path.join(home, 'daemon-config.yaml'), 'w') as f:
        f.write('# UniK\'s shape\nproviders:\n  qemu:\n    - name: my-qemu\n      no_graphic: true\n'
                'build: {max_parallel: 3, max_upload_mb: 64, max_files: 100}\n')
    with Daemon(home=home) as d2:
        d2.ok('GET', '/v1/version')


def test_tcp_listener_and_token():
    port = free_port()
    d = Daemon(args=['--listen', '127.0.0.1:%d' % port, '--token', 'sekrit-token-1'])
    with d:
        d.tcp = ('127.0.0.1', port)
        r = d.get('/v1/version')
        e = expect_error(r, 401, 'unauthorized')
        assert 'Bearer' in e['message']
        expect_error(d.get('/v1/version', headers={'Authorization': 'Bearer wrong'}), 401)
        d.ok('GET', '/v1/version', headers={'Authorization': 'Bearer sekrit-token-1'})
        d.tcp = None
        d.ok('GET', '/v1/version')  # the socket (mode 0600) needs no token
    # Loopback without a token: open.
    port = free_port()
    with Daemon(name='h2', args=['--listen', '127.0.0.1:%d' % port]) as d:
        d.tcp = ('127.0.0.1', port)
        d.ok('GET', '/v1/version')
    # Anything else without a token: refused.
    d = Daemon(name='h3', args=['--listen', '0.0.0.0:%d' % free_port()])
    p = d.spawn()
    if p.wait(timeout=20) != 1 or 'needs a token' not in d.log():
        fail('a non-loopback listener without a token was accepted', d.log())


# ---------------------------------------------------------------------------------------------
# Builds


def test_build_run_logs_stop_start_delete():
    with Daemon() as d:
        s = src('hello', {'Makefile': 'hello: hello.c\n\t$(CC) -O2 -o hello hello.c\n',
                          'hello.c': HELLO_C})
        b = d.build(s, {'name': 'hello'})
        if b['state'] != 'succeeded':
            fail('build %s: %s' % (b['state'], b['error']), b['log'])
        assert 'make -C' in b['log'] and 'unik-cc' in b['log'], b['log']
        assert b['finished'] and b['image_id']
        im = d.ok('GET', '/v1/images/hello')
        assert im['formats']['elf']['size_bytes'] > 0 and im['compiler'] == 'rump', im
        assert os.path.exists(os.path.join(d.home, 'images', im['id'], 'kernel.elf'))
        assert os.path.exists(os.path.join(d.home, 'images', im['id'], 'image.json'))
        assert d.ok('GET', '/v1/images/' + im['id'][:5])['id'] == im['id']
        assert [x['name'] for x in d.ok('GET', '/v1/images')] == ['hello']
        assert d.ok('GET', '/v1/builds')[0]['id'] == b['id']
        assert not os.path.exists(os.path.join(d.home, 'builds', b['id'], 'src')), \
            'the build left its source behind'
        # A second build of the same name: 409 unless force.
        r = d.upload('/v1/builds', [('source', 's.tgz', None, tar_dir(s)),
                                    ('options', None, None, b'{"name": "hello"}')])
        expect_error(r, 409, 'exists')
        b2 = d.build(s, {'name': 'hello', 'force': True})
        assert b2['state'] == 'succeeded', b2
        im2 = d.ok('GET', '/v1/images/hello')
        assert im2['id'] != im['id']
        # The replaced image's files go right after the build is reported (outside the lock).
        old_dir = os.path.join(d.home, 'images', im['id'])
        end = time.monotonic() + 10
        while os.path.exists(old_dir) and time.monotonic() < end:
            time.sleep(0.05)
        assert not os.path.exists(old_dir), 'old image kept'

        provider_ready(d)
        i = d.ok('POST', '/v1/instances', {'image': 'hello', 'name': 'h1', 'args': 'app x'},
                 status=201)
        assert i['state'] in ('running', 'exited') and i['name'] == 'h1', i
        w = d.ok('GET', '/v1/instances/h1/wait')
        assert w['state'] == 'exited' and w['exit_code'] == 3, w
        log = d.get('/v1/instances/h1/logs').text
        assert 'hi from app' in log and 'unik: exit status 3' in log, log
        assert d.get('/v1/instances/h1/logs?follow=true').text == log
        st = d.ok('POST', '/v1/instances/h1/stop')
        assert st['state'] == 'exited', st
        st = d.ok('POST', '/v1/instances/h1/start')
        w = d.ok('GET', '/v1/instances/h1/wait')
        assert w['state'] == 'exited' and w['exit_code'] == 3, w
        log2 = d.get('/v1/instances/h1/logs').text
        if log2.count('hi from app') != 2:
            fail('start did not append to console.log (the API promises it): the qemu provider '
                 'opens it truncating (-chardev file without append=on)', log2)
        # No name: one is made up.
        i2 = d.ok('POST', '/v1/instances', {'image': 'hello'}, status=201)
        assert re.fullmatch(r'hello-[0-9a-f]{4}', i2['name']), i2
        expect_error(d.request('DELETE', '/v1/images/hello'), 409, 'state')
        d.ok('GET', '/v1/instances/%s/wait' % i2['id'])
        assert d.request('DELETE', '/v1/instances/h1').status == 204
        assert not os.path.exists(os.path.join(d.home, 'instances', i['id']))
        expect_error(d.get('/v1/instances/h1'), 404)
        assert d.request('DELETE', '/v1/images/hello?force=true').status == 204
        assert d.ok('GET', '/v1/images') == [] and d.ok('GET', '/v1/instances') == []
        assert os.listdir(os.path.join(d.home, 'images')) == []


def test_build_failure_shows_compiler_errors():
    with Daemon() as d:
        s = src('broken', {'Makefile': 'app: app.c\n\t$(CC) -o app app.c\n',
                           'app.c': 'int main(void) { return nope; }\n'})
        b = d.build(s, {'name': 'broken'})
        assert b['state'] == 'failed', b
        assert b['error'] == 'make exited with status 2', b['error']
        if not re.search(r"app\.c:1:\d+: error: .nope. undeclared", b['log']):
            fail("gcc's error is not in the build log", b['log'])
        expect_error(d.get('/v1/images/broken'), 404)
        # Without a Makefile, unik-cc's own failure is reported.
        s = src('broken2', {'main.c': 'int main(void) { return nope; }\n'})
        b = d.build(s, {'name': 'broken2'})
        assert b['state'] == 'failed' and 'unik-cc exited with status 1' == b['error'], b


def test_unikfile_sources_files_args_env_memory():
    with Daemon() as d:
        s = src('uf', {
            'Unikfile': 'name: tick\nargs: "tick 2 0"\nenv:\n  GREETING: hi there\n'
                        'memory: 96M\nfiles: root\n',
            'tick.c': TICK_C,
            'util.c': 'int unused_helper(void) { return 1; }\n',
            'root/etc/motd': 'from the root fs\n'})
        b = d.build(s, {})
        assert b['state'] == 'succeeded', b
        im = d.ok('GET', '/v1/images/tick')
        assert im['args'] == 'tick 2 0' and im['env'] == {'GREETING': 'hi there'}, im
        assert im['memory_mb'] == 96 and im['rootfs_bytes'] > 0, im
        assert os.path.exists(os.path.join(d.home, 'images', im['id'], 'rootfs.cpio'))
        provider_ready(d)
        i = d.ok('POST', '/v1/instances', {'image': 'tick'}, status=201)
        assert i['memory_mb'] == 96
        w = d.ok('GET', '/v1/instances/%s/wait' % i['id'])
        log = d.get('/v1/instances/%s/logs' % i['id']).text
        assert w['exit_code'] == 0 and 'tick start hi there' in log and 'tick 1' in log, log
        # The request's env and args replace the image's.
        i = d.ok('POST', '/v1/instances', {'image': 'tick', 'args': "tick 1 7",
                                           'env': {'GREETING': "it's"}, 'memory_mb': 80},
                 status=201)
        w = d.ok('GET', '/v1/instances/%s/wait' % i['id'])
        log = d.get('/v1/instances/%s/logs' % i['id']).text
        assert w['exit_code'] == 7 and "tick start it's" in log and w['memory_mb'] == 80, log


def test_unikfile_errors_name_the_line():
    with Daemon() as d:
        cases = [
            ('name: x\nmemroy: 64\n', 'Unikfile line 2: unknown key "memroy" (did you mean "memory"?)'),
            ('name: x\nmemory: lots\n', 'Unikfile line 2: "memory"'),
            ('name: "a;rm -rf /"\n', 'is not valid'),
            ('env: [1, 2]\n', 'Unikfile line 1: "env" must be a mapping'),
            ('files: ../../etc\n', '"files" must be a directory inside the source'),
            ('name: x\n  bad: indent\n', 'Unikfile line 2'),
            ('args: "x \'oops"\n', 'unterminated'),
            ('name: x\n  bad: indent\n', 'Unikfile line 2'),
        ]
        for text, needle in cases:
            s = src('uf%d' % len(needle), {'Unikfile': text, 'a.c': 'int main(void){return 0;}\n'})
            r = d.upload('/v1/builds', [('source', 's.tgz', None, tar_dir(s))])
            expect_error(r, 400, 'invalid', needle)
        assert os.listdir(os.path.join(d.home, 'builds')) == [], 'rejected builds left files'


def test_manifest_yaml_binary_name():
    with Daemon() as d:
        s = src('two', {'Makefile': 'all: one two\none: a.c\n\t$(CC) -o one a.c\n'
                                    'two: a.c\n\t$(CC) -DTWO -o two a.c\n',
                        'a.c': '#include <stdio.h>\nint main(void)\n{\n#ifdef TWO\n'
                               '\tputs("two");\n#else\n\tputs("one");\n#endif\n\treturn 0;\n}\n'})
        b = d.build(s, {'name': 'two'})
        assert b['state'] == 'failed' and 'produced 2 kernels' in b['error'], b
        with open(os.path.join(s, 'manifest.yaml'), 'w') as f:
            f.write('binary_name: two\n')
        b = d.build(s, {'name': 'two'})
        assert b['state'] == 'succeeded', b
        provider_ready(d)
        i = d.ok('POST', '/v1/instances', {'image': 'two'}, status=201)
        d.ok('GET', '/v1/instances/%s/wait' % i['id'])
        assert 'two\n' in d.get('/v1/instances/%s/logs' % i['id']).text


def test_build_from_git():
    if subprocess.run(['git', '--version'], capture_output=True).returncode != 0:
        raise Skip('git is not installed')
    repo = src('repo', {'Makefile': 'app: app.c\n\t$(CC) -o app app.c\n',
                        'app.c': HELLO_C.replace('hi from', 'v1 from')})
    env = dict(os.environ, GIT_AUTHOR_NAME='t', GIT_AUTHOR_EMAIL='t@e', GIT_COMMITTER_NAME='t',
               GIT_COMMITTER_EMAIL='t@e')

    def git(*a):
        subprocess.run(['git', '-C', repo] + list(a), check=True, env=env, capture_output=True)
    git('init', '-q', '-b', 'main')
    git('add', '.')
    git('commit', '-q', '-m', 'v1')
    git('tag', 'v1')
    with open(os.path.join(repo, 'app.c'), 'w') as f:
        f.write(HELLO_C.replace('hi from', 'v2 from'))
    git('commit', '-q', '-am', 'v2')
    # Repositories on the daemon's host need build.allow_local_git (test_build_sandbox.py).
    home = os.path.join(out_dir(), 'home')
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, 'daemon-config.yaml'), 'w') as f:
        f.write('build:\n  allow_local_git: true\n')
    with Daemon(home=home) as d:
        b = d.ok('POST', '/v1/builds', {'name': 'g1', 'git': 'file://' + repo + '#v1'},
                 status=201)
        b = d.wait_build(b['id'])
        assert b['state'] == 'succeeded', b
        b = d.ok('POST', '/v1/builds', {'name': 'g2', 'git': repo}, status=201)
        assert d.wait_build(b['id'])['state'] == 'succeeded'
        expect_error(d.request('POST', '/v1/builds', {'name': 'g3', 'git': repo + '#nope'}),
                     400, 'invalid', 'nope')
        expect_error(d.request('POST', '/v1/builds', {'name': 'g4', 'git': '/no/such/repo'}),
                     400, 'invalid', 'git clone')
        provider_ready(d)
        for name, word in (('g1', 'v1 from'), ('g2', 'v2 from')):
            i = d.ok('POST', '/v1/instances', {'image': name}, status=201)
            d.ok('GET', '/v1/instances/%s/wait' % i['id'])
            assert word in d.get('/v1/instances/%s/logs' % i['id']).text


# ---------------------------------------------------------------------------------------------
# Hostile input


def ti(name, type_=tarfile.REGTYPE, mode=0o644, linkname=''):
    t = tarfile.TarInfo(name)
    t.type = type_
    t.mode = mode
    t.linkname = linkname
    return t


def test_hostile_archives_are_refused():
    canary = os.path.join(out_dir(), 'canary')
    os.makedirs(canary)
    with open(os.path.join(canary, 'keep'), 'w') as f:
        f.write('untouched\n')
    ok_c = (ti('a.c'), b'int main(void){return 0;}\n')
    rel = os.path.relpath(canary, '/')
    bomb = io.BytesIO()
    with tarfile.open(fileobj=bomb, mode='w:gz') as t:
        info = ti('zeros')
        info.size = 300 << 20

        class Zeros(io.RawIOBase):
            left = 300 << 20

            def readinto(self, b):
                n = min(len(b), self.left)
                b[:n] = bytes(n)
                self.left -= n
                return n
        t.addfile(info, Zeros())
    cases = [
        ('absolute', tar_entries([ok_c, (ti('/' + rel + '/evil'), b'x')]), 'absolute'),
        ('dotdot', tar_entries([ok_c, (ti('../../' + rel + '/evil'), b'x')]), '".."'),
        ('dotdot-inner', tar_entries([ok_c, (ti('a/../../evil'), b'x')]), '".."'),
        ('symlink-abs', tar_entries([ok_c, (ti('l', tarfile.SYMTYPE, linkname=canary), None)]),
         'leaves the source tree'),
        ('symlink-up', tar_entries([ok_c, (ti('d/l', tarfile.SYMTYPE, linkname='../../x'),
                                           None)]), 'leaves the source tree'),
        ('symlink-chain', tar_entries([ok_c, (ti('a', tarfile.SYMTYPE, linkname='.'), None),
                                       (ti('b', tarfile.SYMTYPE, linkname='a/..'), None)]),
         'leaves the source tree'),
        ('symlink-then-write', tar_entries([ok_c, (ti('d', tarfile.SYMTYPE, linkname='.'), None),
                                            (ti('d/../x'), b'x')]), '".."'),
        ('hardlink', tar_entries([ok_c, (ti('h', tarfile.LNKTYPE,
                                            linkname='../../' + rel + '/keep'), None)]), '".."'),
        ('hardlink-abs', tar_entries([ok_c, (ti('h', tarfile.LNKTYPE,
                                                linkname=os.path.join(canary, 'keep')), None)]),
         'absolute'),
        ('device', tar_entries([ok_c, (ti('dev', tarfile.CHRTYPE), None)]), 'device'),
        ('fifo', tar_entries([ok_c, (ti('fifo', tarfile.FIFOTYPE), None)]), 'fifo'),
        ('setuid', tar_entries([ok_c, (ti('su', mode=0o4755), b'x')]), 'setuid'),
        ('setgid', tar_entries([ok_c, (ti('sg', tarfile.DIRTYPE, mode=0o2755), None)]), 'setgid'),
        ('bomb', bomb.getvalue(), 'too large'),
        ('many-files', tar_entries([(ti('f%d' % i), b'') for i in range(150)]), 'more than 100'),
        ('not-a-tar', b'this is not an archive at all' * 10, 'not a readable tar'),
        ('truncated', tar_entries([ok_c, (ti('big'), os.urandom(100000))])[:20000], 'truncated'),
        ('empty', b'', 'not a readable tar'),
    ]
    home = os.path.join(out_dir(), 'home')
    os.makedirs(home, mode=0o700)
    with open(os.path.join(home, 'daemon-config.yaml'), 'w') as f:
        f.write('build:\n  max_files: 100\n  max_upload_mb: 256\n')
    with Daemon(home=home) as d:
        for name, data, needle in cases:
            r = d.upload('/v1/builds', [('source', 'x.tgz', None, data),
                                        ('options', None, None, b'{"name": "evil"}')])
            if r.status != 400:
                fail('%s: status %d, wanted 400' % (name, r.status), r.text[:1000])
            msg = r.error()['message']
            if needle not in msg:
                fail('%s: message %r lacks %r' % (name, msg, needle))
            if name in ('absolute', 'dotdot', 'device', 'fifo', 'setuid'):
                entry = {'absolute': 'evil', 'dotdot': 'evil', 'device': 'dev',
                         'fifo': 'fifo', 'setuid': 'su'}[name]
                assert entry in msg, 'the message does not name the entry: %r' % msg
        assert os.listdir(os.path.join(d.home, 'builds')) == [], \
            'rejected uploads left files: %s' % os.listdir(os.path.join(d.home, 'builds'))
        assert os.listdir(os.path.join(d.home, 'tmp')) == [], 'uploads left temp files'
        assert d.ok('GET', '/v1/builds') == []
    assert sorted(os.listdir(canary)) == ['keep'], os.listdir(canary)
    with open(os.path.join(canary, 'keep')) as f:
        assert f.read() == 'untouched\n'
    assert not os.path.exists('/evil') and not os.path.exists(os.path.join(out_dir(), 'evil'))


def test_provider_options_are_checked():
    """Provider options: daemon-config.yaml's are checked against the provider's keys at start,
    and a request's are checked (shape, then key) before anything is created."""
    home = os.path.join(out_dir(), 'home')
    os.makedirs(home, mode=0o700)
    with open(os.path.join(home, 'daemon-config.yaml'), 'w') as f:
        f.write('providers:\n  kvm:\n    - name: local\n      urii: qemu:///system\n')
    d = Daemon(home=home)
    p = d.spawn()
    if p.wait(timeout=20) != 1 or \
            'daemon-config.yaml line 4: provider kvm has no option "urii"' not in d.log():
        fail('an unknown provider option in the config was accepted', d.log())
    with open(os.path.join(home, 'daemon-config.yaml'), 'w') as f:
        f.write('providers:\n  kvm:\n    - machine: "pc\\nuri=x"\n')
    p = d.spawn()
    if p.wait(timeout=20) != 1 or 'line 3: option machine of provider kvm holds a control' \
            not in d.log():
        fail('a control character in a provider option in the config was accepted', d.log())
    with open(os.path.join(home, 'daemon-config.yaml'), 'w') as f:
        f.write('providers:\n  vbox:\n    - {x: 1}\n')
    p = d.spawn()
    if p.wait(timeout=20) != 1 or 'unknown provider "vbox"' not in d.log():
        fail('an unknown provider in the config was accepted', d.log())
    with open(os.path.join(home, 'daemon-config.yaml'), 'w') as f:
        f.write('providers:\n  kvm:\n    - uri: "qemu:///session"\n')
    with Daemon(home=home) as d2:
        kvm = [x for x in d2.ok('GET', '/v1/providers') if x['name'] == 'kvm'][0]
        assert set(kvm['options']) >= {'uri', 'boot'}, kvm
        s = src('hello', {'hello.c': HELLO_C})
        b = d2.build(s, {'name': 'hello'})
        assert b['state'] == 'succeeded', b
        cases = [({'provider_opts': {'uri': 1}}, 'must be a string'),
                 ({'provider_opts': ['uri=x']}, 'object of strings'),
                 ({'provider_opts': {'URI': 'x'}}, 'bad key'),
                 ({'provider': 'kvm', 'provider_opts': {'machine': 'pc\nuri=x'}},
                  'control character'),
                 ({'provider': 'kvm', 'provider_opts': {'urii': 'x'}},
                  'unknown option of provider kvm "urii" (known: uri, machine, boot, connect_timeout)'),
                 ({'provider_opts': {'uri': 'x'}},
                  'unknown option of provider qemu "uri" (known: console_max, machine)')]
        for extra, needle in cases:
            body = dict({'image': 'hello', 'name': 'o1'}, **extra)
            expect_error(d2.request('POST', '/v1/instances', body), 400, 'invalid', needle)
        assert d2.ok('GET', '/v1/instances') == [], 'a refused run left an instance'
        assert os.listdir(os.path.join(d2.home, 'instances')) == []
        r = d2.upload('/v1/builds', [('source', 's.tgz', None, tar_dir(s)),
                                     ('options', None, None,
                                      b'{"name": "h2", "provider_opts": {"bogus": "1"}}')])
        expect_error(r, 400, 'invalid',
                     'unknown option of provider qemu "bogus" (known: console_max, machine)')


def test_run_with_too_little_memory_is_refused():
    """A run request for less memory than any guest boots in is refused before QEMU starts."""
    with Daemon() as d:
        for mb in (0, 1):
            expect_error(d.request('POST', '/v1/instances', {'image': 'nope', 'memory_mb': mb}),
                         400, 'invalid', 'at least 2 MiB')
        assert d.ok('GET', '/v1/instances') == [], 'a refused run left an instance'


def test_bad_requests_are_clear_4xx():
    with Daemon() as d:
        good = tar_dir(src('ok', {'a.c': 'int main(void){return 0;}\n'}))

        def build(parts, ctype=None):
            body, ct = multipart(parts)
            return d.request('POST', '/v1/builds', body, {'Content-Type': ctype or ct})
        expect_error(build([('options', None, None, b'{"name":"x"}')]), 400, 'invalid',
                     '"source"')
        expect_error(build([('source', 'a', None, good), ('options', None, None, b'{"name":')]),
                     400, 'invalid', 'bad JSON')
        expect_error(build([('source', 'a', None, good),
                            ('options', None, None, b'{"name":"x","colour":"red"}')]),
                     400, 'invalid', '"colour"')
        expect_error(build([('source', 'a', None, good), ('options', None, None, b'[1]')]),
                     400, 'invalid', 'JSON object')
        expect_error(build([('source', 'a', None, good),
                            ('options', None, None, b'{"name":"x","memory_mb":"lots"}')]),
                     400, 'invalid', 'memory_mb')
        expect_error(build([('source', 'a', None, good),
                            ('options', None, None, b'{"name":"x","memory_mb":1}')]),
                     400, 'invalid', 'at least 2 MiB')
        expect_error(build([('source', 'a', None, good),
                            ('options', None, None, b'{"name":"x","base":"nope"}')]),
                     400, 'invalid', 'nope')
        expect_error(build([('source', 'a', None, good),
                            ('options', None, None, b'{"name":"x","provider":"vbox"}')]),
                     400, 'invalid', 'vbox')
        expect_error(build([('source', 'a', None, good)]), 400, 'invalid', 'name')
        expect_error(build([('source', 'a', None, good), ('options', None, None, b'{}')],
                           ctype='multipart/form-data'), 400, 'invalid', 'boundary')
        r = d.request('POST', '/v1/builds', b'--xyz\r\ngarbage\r\n\r\n--',
                      {'Content-Type': 'multipart/form-data; boundary=xyz'})
        expect_error(r, 400, 'invalid')
        expect_error(d.request('POST', '/v1/builds', '{"name": "x"'), 400, 'invalid', 'bad JSON')
        expect_error(d.request('POST', '/v1/builds', {'name': 'x'}), 400, 'invalid', 'no source')
        for name in ['a;rm -rf /', '$(reboot)', '`id`', 'a b', '../x', '-rf', 'x' * 10000, '',
                     'é']:
            r = build([('source', 'a', None, good),
                       ('options', None, None, json.dumps({'name': name}).encode())])
            e = expect_error(r, 400, 'invalid')
            assert 'not valid' in e['message'] or 'empty' in e['message'], e
            assert len(e['message']) < 400, 'the message repeats a 10,000-character name'
        r = d.request('POST', '/v1/instances', {'image': 'x' * 10000})
        expect_error(r, 404, 'not_found')
        expect_error(d.request('POST', '/v1/instances', '{'), 400, 'invalid', 'bad JSON')
        expect_error(d.request('POST', '/v1/instances', {'image': 'x', 'colour': 1}), 400,
                     'invalid', 'colour')
        expect_error(d.request('POST', '/v1/instances', {'name': 'x'}), 400, 'invalid', 'image')
        expect_error(d.request('POST', '/v1/instances', {'image': 'x', 'name': 'a;b'}), 400)
        expect_error(d.request('POST', '/v1/instances', {'image': 'x', 'env': {'1X': 'y'}}), 400)
        expect_error(d.request('POST', '/v1/instances', {'image': 'x', 'env': {'X': 1}}), 400)
        expect_error(d.request('POST', '/v1/instances', {'image': 'x', 'memory_mb': -1}), 400)
        expect_error(d.request('POST', '/v1/instances', b'x' * (2 << 20)), 413, 'too_large')
        for path in ['/v1/instances/nope', '/v1/instances/nope/logs', '/v1/instances/nope/wait',
                     '/v1/images/nope']:
            expect_error(d.get(path), 404, 'not_found')
        for path in ['/v1/instances/nope/stop', '/v1/instances/nope/start']:
            expect_error(d.request('POST', path), 404, 'not_found')
        expect_error(d.request('DELETE', '/v1/instances/nope'), 404)
        expect_error(d.request('DELETE', '/v1/images/nope'), 404)
        d.ok('GET', '/v1/version')  # still alive
        assert os.listdir(os.path.join(d.home, 'builds')) == []


def test_refs_prefixes_and_conflicts():
    with Daemon() as d:
        s = src('h', {'a.c': HELLO_C})
        for n in ('app-one', 'app-two'):
            assert d.build(s, {'name': n})['state'] == 'succeeded'
        e = expect_error(d.get('/v1/images/app-'), 409, 'state')
        assert 'app-one' in e['message'] and 'app-two' in e['message'], e
        assert d.ok('GET', '/v1/images/app-o')['name'] == 'app-one'
        provider_ready(d)
        d.ok('POST', '/v1/instances', {'image': 'app-one', 'name': 'i1', 'args': 'x'}, status=201)
        expect_error(d.request('POST', '/v1/instances', {'image': 'app-one', 'name': 'i1'}),
                     409, 'exists')
        d.ok('GET', '/v1/instances/i1/wait')


# ---------------------------------------------------------------------------------------------
# Load and recovery


@timeout(600)
def test_twenty_parallel_builds_and_runs():
    with Daemon() as d:
        s = src('tick', {'tick.c': TICK_C})
        data = tar_dir(s)
        with concurrent.futures.ThreadPoolExecutor(20) as ex:
            builds = list(ex.map(lambda n: d.build(data, {'name': 'p%02d' % n}), range(20)))
        bad = [b for b in builds if b['state'] != 'succeeded']
        if bad:
            fail('%d of 20 builds failed: %s' % (len(bad), bad[0]['error']), bad[0]['log'])
        assert len(d.ok('GET', '/v1/images')) == 20
        provider_ready(d)

        def run(n):
            i = d.ok('POST', '/v1/instances', {'image': 'p%02d' % n, 'name': 'r%02d' % n,
                                               'args': 'tick 2 %d' % n}, status=201)
            return d.ok('GET', '/v1/instances/%s/wait' % i['id'], timeout=300)
        with concurrent.futures.ThreadPoolExecutor(20) as ex:
            done = list(ex.map(run, range(20)))
        for n, i in enumerate(done):
            if i['state'] != 'exited' or i['exit_code'] != n:
                fail('instance r%02d: %s %s' % (n, i['state'], i['exit_code']),
                     d.get('/v1/instances/r%02d/logs' % n).text)
            assert 'tick 1' in d.get('/v1/instances/r%02d/logs' % n).text


@timeout(600)
def test_kill9_daemon_adopts_instances():
    d = Daemon()
    d.start()
    try:
        s = src('tick', {'tick.c': TICK_C})
        assert d.build(s, {'name': 'tick'})['state'] == 'succeeded'
        slow = src('slow', {'Makefile': 'app: a.c\n\tsleep 60\n\t$(CC) -o app a.c\n',
                            'a.c': 'int main(void){return 0;}\n'})
        provider_ready(d)
        d.ok('POST', '/v1/instances', {'image': 'tick', 'name': 'long', 'args': 'tick 600'},
             status=201)
        d.ok('POST', '/v1/instances', {'image': 'tick', 'name': 'short', 'args': 'tick 3 5'},
             status=201)
        b = d.build(slow, {'name': 'slow'}, wait=False)
        deadline = time.time() + 60
        while 'tick 2' not in d.get('/v1/instances/long/logs').text:
            if time.time() > deadline:
                fail('the long instance prints nothing', d.get('/v1/instances/long/logs').text)
            time.sleep(0.2)
    except BaseException:
        d.stop()
        raise
    d.kill9()
    time.sleep(3)  # short ends meanwhile
    with Daemon(home=d.home) as d2:
        short = d2.ok('GET', '/v1/instances/short/wait', timeout=60)
        assert short['state'] == 'exited' and short['exit_code'] == 5, short
        long = d2.ok('GET', '/v1/instances/long')
        assert long['state'] == 'running', long
        bb = d2.ok('GET', '/v1/builds/' + b['id'])
        assert bb['state'] == 'failed' and bb['error'] == 'the daemon stopped during the build', bb
        assert not os.path.exists(os.path.join(d2.home, 'builds', b['id'], 'src'))
        # Following the log of an adopted instance shows new output, and stop works.
        c = d2.conn(60)
        c.request('GET', '/v1/instances/long/logs?follow=true')
        resp = c.getresponse()
        before = d2.get('/v1/instances/long/logs').text.count('tick ')
        got = b''
        deadline = time.time() + 60
        while got.count(b'tick ') < before + 3 and time.time() < deadline:
            got += resp.read1(4096)
        assert got.count(b'tick ') >= before + 3, got[-500:]
        st = d2.ok('POST', '/v1/instances/long/stop', timeout=60)
        assert st['state'] == 'stopped', st
        rest = resp.read()  # the follow ends when the instance does
        c.close()
        assert d2.ok('GET', '/v1/instances/long')['state'] == 'stopped'
        del rest


def test_sigterm_leaves_instances_running():
    d = Daemon()
    d.start()
    try:
        assert d.build(src('tick', {'tick.c': TICK_C}), {'name': 'tick'})['state'] == 'succeeded'
        provider_ready(d)
        i = d.ok('POST', '/v1/instances', {'image': 'tick', 'name': 'bg', 'args': 'tick 300'},
                 status=201)
    finally:
        rc = d.stop()
    assert rc == 0, rc
    assert os.kill(i['pid'], 0) is None  # still there
    with Daemon(home=d.home) as d2:
        assert d2.ok('GET', '/v1/instances/bg')['state'] == 'running'
        assert d2.request('DELETE', '/v1/instances/bg').status == 409
        assert d2.request('DELETE', '/v1/instances/bg?force=true').status == 204


def test_openapi_describes_every_v1_route():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(root, 'daemon', 'routes.c')) as f:
        routes = re.findall(r'\{"(GET|POST|DELETE)", "(/v1[^"]*)"', f.read())
    with open(os.path.join(root, 'docs', 'api', 'openapi.yaml')) as f:
        text = f.read()
    paths = {}
    current = None
    for line in text.split('\n'):
        m = re.match(r'^  (/v1\S*):$', line)
        if m:
            current = m.group(1)
            paths[current] = set()
        elif current and re.match(r'^    (get|post|delete):$', line):
            paths[current].add(line.strip()[:-1].upper())
        elif line and not line.startswith(' '):
            current = None
    missing = []
    for method, pattern in routes:
        parts = pattern.split('/')
        found = False
        for p, methods in paths.items():
            pp = p.split('/')
            if len(pp) == len(parts) and all(a == '*' and b.startswith('{') or a == b
                                             for a, b in zip(parts, pp)) and method in methods:
                found = True
        if not found:
            missing.append('%s %s' % (method, pattern))
    if missing:
        fail('docs/api/openapi.yaml lacks: %s' % ', '.join(missing))
    assert len(routes) >= 19, routes
