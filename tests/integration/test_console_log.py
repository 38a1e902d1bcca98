"""The console log's cap through the daemon (issue #11): daemon-config.yaml's
providers.qemu[].console_max caps console.log, which rotates to console.log.1; `unik logs` shows
the newest output and `logs -f` follows across rotations to the exit line."""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import fail, out_dir
from test_daemon_fixture import Daemon, provider_ready, write_tree

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_cap_rotation_logs_and_follow():
    cap, lines = 32 * 1024, 3000
    config = 'providers:\n  qemu:\n    - name: local\n      console_max: 32K\n'
    with open(os.path.join(REPO, 'tests', 'apps', 'bigout.c')) as f:
        bigout_c = f.read()
    src = write_tree(os.path.join(out_dir(), 'bigout'),
                     {'Makefile': 'bigout: bigout.c\n\t$(CC) -O2 -o bigout bigout.c\n',
                      'bigout.c': bigout_c})
    with Daemon(config=config) as d:
        b = d.build(src, {'name': 'bigout'})
        if b['state'] != 'succeeded':
            fail('build %s: %s' % (b['state'], b['error']), b['log'])
        provider_ready(d)
        i = d.ok('POST', '/v1/instances', {'image': 'bigout', 'name': 'big',
                                          'args': 'bigout %d' % lines}, status=201)
        followed = {}

        def follow():
            followed['text'] = d.get('/v1/instances/big/logs?follow=true', timeout=600).text

        t = threading.Thread(target=follow)
        t.start()
        w = d.ok('GET', '/v1/instances/big/wait', timeout=600)
        t.join(600)
        if w['state'] != 'exited' or w['exit_code'] != 0:
            fail('bigout ended %s(%s)' % (w['state'], w['exit_code']), d.log())
        idir = os.path.join(d.home, 'instances', i['id'])
        for name in ('console.log', 'console.log.1'):
            p = os.path.join(idir, name)
            if not os.path.exists(p):
                fail('%s is missing after ~%d KiB of output' % (name, lines * 73 // 1024),
                     ' '.join(sorted(os.listdir(idir))))
            if os.path.getsize(p) > cap:
                fail('%s holds %d bytes, over the 32K cap' % (name, os.path.getsize(p)))
        end = 'bigout done lines=%d bytes=%d' % (lines, lines * 73)
        log = d.get('/v1/instances/big/logs').text
        if end not in log or not log.endswith('unik: exit status 0\n'):
            fail('unik logs does not end with the last line and the exit line', log[-2000:])
        text = followed.get('text', '')
        if end not in text or not text.endswith('unik: exit status 0\n') or len(text) <= cap:
            fail('logs -f (%d bytes) did not follow the log across its rotations to the end'
                 % len(text), text[-2000:])


def test_bad_cap_in_config_names_the_line():
    config = 'providers:\n  qemu:\n    - name: local\n      console_max: 1K\n'
    d = Daemon(config=config)
    p = d.spawn()
    rc = p.wait(timeout=20)
    if rc != 1 or 'daemon-config.yaml line 4: console_max "1K": give a size of at least 4K' \
            not in d.log():
        fail('a console_max under 4K was accepted (exit %s)' % rc, d.log())
