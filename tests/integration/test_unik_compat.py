"""The original UniK's REST routes (shared/REFERENCE.md), as its Go client calls them: multipart
`tarfile` builds that answer with the Image, /instances/run, logs, start/stop, deletes,
discovery, plain-text errors and UniK's JSON shapes."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import fail, out_dir  # noqa: E402
from test_daemon_fixture import Daemon, provider_ready, tar_dir, write_tree, TICK_C  # noqa: E402


def test_unik_routes_end_to_end():
    s = write_tree(os.path.join(out_dir(), 'app'), {
        'Makefile': 'hello: tick.c\n\t$(CC) -o hello tick.c\n',
        'manifest.yaml': 'binary_name: hello\n',
        'tick.c': TICK_C})
    with Daemon() as d:
        provs = d.ok('GET', '/available_providers')
        assert 'qemu' in provs, provs
        if not os.path.exists('/proc/xen/capabilities'):
            assert 'xen' not in provs, provs  # only what can run here
        assert 'rump-c-qemu' in d.ok('GET', '/available_compilers')
        r = d.get('/describe_compiler?base=rump&lang=c&provider=qemu')
        assert r.status == 200 and 'Makefile' in r.text, r.text
        r = d.upload('/images/hello/create?base=rump&lang=c&provider=qemu&force=false',
                     [('tarfile', 'hello.tar.gz', 'application/octet-stream', tar_dir(s))])
        if r.status != 201:
            fail('POST /images/hello/create: %d' % r.status, r.text)
        im = r.json()
        for k in ('Id', 'Name', 'SizeMb', 'Infrastructure', 'Created', 'StageSpec', 'RunSpec'):
            assert k in im, (k, im)
        assert im['Name'] == 'hello' and im['Infrastructure'] == 'QEMU', im
        assert im['RunSpec']['Compiler'] == 'rump'
        assert [i['Name'] for i in d.ok('GET', '/images')] == ['hello']
        assert d.ok('GET', '/images/hello')['Id'] == im['Id']
        # A second create without force: plain-text 409.
        r = d.upload('/images/hello/create', [('tarfile', 'h.tgz', None, tar_dir(s))])
        assert r.status == 409 and r.headers['Content-Type'].startswith('text/plain'), r.text
        assert 'exists' in r.text
        # Form values as multipart fields work too, and a failed build is a 500 with the error.
        bad = write_tree(os.path.join(out_dir(), 'bad'), {'a.c': 'int main(void){return x;}\n'})
        r = d.upload('/images/bad/create', [('tarfile', 'b.tgz', None, tar_dir(bad)),
                                            ('base', None, None, b'rump'),
                                            ('lang', None, None, b'c')])
        assert r.status == 500 and 'build failed: unik-cc exited with status 1' in r.text, r.text

        r = d.get('/images/nope')
        assert r.status == 404 and r.headers['Content-Type'].startswith('text/plain'), r.text
        assert 'no image' in r.text
        # UniK's volume routes: make one (?size=), list it in UniK's shape, remove it.
        r = d.request('POST', '/volumes/ukvol?size=8')
        assert r.status == 201, r.text
        r = d.get('/volumes')
        assert r.status == 200, r.text
        vols = [v for v in r.json() if v['Name'] == 'ukvol']
        assert vols and vols[0]['SizeMb'] == 8 and vols[0]['Attachment'] == '', r.text
        r = d.get('/volumes/nope')
        assert r.status == 404 and r.headers['Content-Type'].startswith('text/plain'), r.text
        assert d.request('DELETE', '/volumes/ukvol').status == 204

        provider_ready(d)
        inst = d.ok('POST', '/instances/run', {'InstanceName': 'u1', 'ImageName': 'hello',
                                               'Env': {'GREETING': 'from-unik'},
                                               'MemoryMb': 64, 'Mounts': {}}, status=201)
        for k in ('Id', 'Name', 'State', 'IpAddress', 'ImageId', 'Infrastructure', 'Created'):
            assert k in inst, (k, inst)
        assert inst['ImageId'] == im['Id'] and inst['Name'] == 'u1'
        d.ok('GET', '/v1/instances/u1/wait')
        r = d.get('/instances/u1/logs')
        assert r.status == 200 and 'tick start from-unik' in r.text, r.text
        assert d.ok('GET', '/instances/u1')['State'] == 'terminated'
        assert [i['Name'] for i in d.ok('GET', '/instances')] == ['u1']
        r = d.request('POST', '/instances/u1/stop')
        assert r.status == 200, r.text
        r = d.request('POST', '/instances/u1/start')
        assert r.status == 200, r.text
        d.ok('GET', '/v1/instances/u1/wait')
        r = d.get('/instances/u1/logs?follow=true&delete=true')
        assert 'tick start' in r.text
        r = d.request('POST', '/instances/run', {'InstanceName': 'u1', 'ImageName': 'hello'})
        assert r.status == 409 and 'exists' in r.text, r.text
        r = d.request('POST', '/instances/run', '{"ImageName": ')
        assert r.status == 400 and r.headers['Content-Type'].startswith('text/plain'), r.text
        assert d.request('DELETE', '/instances/u1?force=true').status == 204
        assert d.request('DELETE', '/images/hello?force=true').status == 204
        assert d.ok('GET', '/images') == [] and d.ok('GET', '/instances') == []
        assert json.loads(d.get('/v1/images').body) == []
