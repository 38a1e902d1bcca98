"""The includeos and mirage backends through every door (issue 16): the devices a mirage
instance was bound with, by name, in its REST JSON and in `unik describe-instance`."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, check_equal, fail, timeout
from test_backend_mirage import build
from test_daemon_fixture import cli, provider_ready
from test_net_host import NetDaemon, need_root

# Not the subnets of the other mirage tests (10.87.1-2, 10.87.9).
SUBNET = '10.87.11.0/24'
KV = os.path.join(REPO, 'examples', 'mirage', 'kv')


@timeout(240)
def test_mirage_binds_in_json_and_describe():
    """kv run with --net service=NETWORK --block storage=VOLUME: the instance's JSON lists the
    bindings in declaration order, its NIC is named as declared, and describe-instance shows
    both; a listing carries the same."""
    need_root()
    with NetDaemon('doors1') as d:
        provider_ready(d)
        build(d, KV, 'kv')
        cli(d, 'network', 'create', '--subnet', SUBNET, 'dlan')
        cli(d, 'volume', 'create', '--size', '8', 'ddata')
        cli(d, 'run', '-d', '--name', 'k1', '--net', 'service=dlan', '--block', 'storage=ddata',
            'kv')
        inst = d.ok('GET', '/v1/instances/k1')
        check_equal('binds', inst.get('binds'), ['net:service=dlan', 'blk:storage=ddata'])
        check_equal('the NIC carries the declared name',
                    [(n['name'], n['device']) for n in inst['networks']], [('dlan', 'service')])
        listed = [i for i in d.ok('GET', '/v1/instances') if i['name'] == 'k1']
        check_equal('binds in the listing', listed[0].get('binds'),
                    ['net:service=dlan', 'blk:storage=ddata'])
        out = cli(d, 'describe-instance', 'k1').stdout
        for want in ('net:service=dlan', 'blk:storage=ddata'):
            if want not in out:
                fail('describe-instance does not show %s' % want, out)
        cli(d, 'rm', '-f', 'k1')
        cli(d, 'network', 'rm', 'dlan')
