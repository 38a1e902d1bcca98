"""The mirage backend's unix target (issue 16): `unik-cc --unik-target unix` makes a static Linux
executable and bin/unik-spt runs it as a seccomp-confined process with the devices it declares
bound by name (net to a tap, block to a file).  Checked here with unik-cc and unik-spt
directly: the same source gives the same output on unix and virtio, a forbidden system call
kills the application with the reason, bad bindings are refused before anything runs,
examples/mirage/ping answers ping through a tap in a network namespace of the test's own, and
examples/mirage/kv keeps its data across two runs on one block file."""

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, Skip, bin_dir, check_equal, fail, out_dir, timeout
from qemu import boot

APPS = os.path.join(REPO, 'tests', 'apps', 'spt')
PING = os.path.join(REPO, 'examples', 'mirage', 'ping')
KV = os.path.join(REPO, 'examples', 'mirage', 'kv')
# Not the subnets of test_net_host.py (10.86.x) nor test_backend_mirage.py (10.87.x).
SUBNET = '10.88.%d'


def spt():
    return os.path.join(bin_dir(), 'unik-spt')


def unik_cc(src, out, target, devices=()):
    """Builds the .c files of src (a file or a folder) for target."""
    files = [src] if src.endswith('.c') else sorted(
        os.path.join(src, f) for f in os.listdir(src) if f.endswith('.c'))
    cmd = [os.path.join(bin_dir(), 'unik-cc'), '-O2', '-I', os.path.join(REPO, 'include'),
           '--unik-target', target]
    for dev in devices:
        cmd += ['--unik-device', dev]
    r = subprocess.run(cmd + ['-o', out] + files, capture_output=True, text=True)
    if r.returncode != 0:
        fail('unik-cc --unik-target %s of %s failed' % (target, src), r.stderr)
    return out


def run_spt(args, timeout_s=60, ns=None):
    cmd = ([] if ns is None else ['ip', 'netns', 'exec', ns]) + [spt()] + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                          stdin=subprocess.DEVNULL)


@timeout(240)
def test_spt_same_output_as_virtio():
    """tests/apps/spt/hello.c built for unix (under unik-spt) and for virtio (under QEMU)
    prints the same lines and ends with the same status."""
    tmp = tempfile.mkdtemp(dir=out_dir())
    src = os.path.join(APPS, 'hello', 'hello.c')
    unix = unik_cc(src, os.path.join(tmp, 'hello'), 'unix')
    virtio = unik_cc(src, os.path.join(tmp, 'hello.elf'), 'virtio')
    if subprocess.run(['file', unix], capture_output=True, text=True).stdout.find(
            'statically linked') < 0:
        fail('the unix build is not a static executable')
    r = run_spt([unix, 'a', 'b c'])
    check_equal('unik-spt exit status', r.returncode, 3)
    if 'hello: yield slept to its deadline' not in r.stdout:
        fail('the unix build did not run as expected', r.stdout + r.stderr)
    b = boot(virtio, 'hello a "b c"', accel='tcg', timeout=180)
    b.expect_status(3)
    check_equal('the unix and virtio builds print the same', r.stdout, b.app)


@timeout(120)
def test_spt_forbidden_call_killed_with_reason():
    """An application that calls open(2) is killed by the filter; unik-spt names the call and
    exits 128 + SIGSYS."""
    tmp = tempfile.mkdtemp(dir=out_dir())
    app = unik_cc(os.path.join(APPS, 'forbidden', 'forbidden.c'), os.path.join(tmp, 'forbidden'), 'unix')
    r = run_spt([app])
    if 'forbidden: opening a file' not in r.stdout:
        fail('the application did not start', r.stdout + r.stderr)
    if 'opened it' in r.stdout or 'open failed' in r.stdout:
        fail('open(2) returned to the application', r.stdout)
    if 'killed by seccomp: system call 2 (open)' not in r.stderr:
        fail('unik-spt did not report the forbidden call', r.stderr)
    check_equal('exit status', r.returncode, 128 + 31)
    # Outside unik-spt the same executable is a plain process: its open works.
    p = subprocess.run([app], capture_output=True, text=True, timeout=30)
    if 'forbidden: opened it' not in p.stdout:
        fail('the executable does not run as a plain process', p.stdout + p.stderr)


@timeout(120)
def test_spt_refuses_bad_bindings():
    """Undeclared, unbound, doubly bound and wrongly kinded devices, a virtio kernel and a
    program that is no device application are refused before anything runs."""
    tmp = tempfile.mkdtemp(dir=out_dir())
    kv = unik_cc(KV, os.path.join(tmp, 'kv'), 'unix', ['net:service', 'block:storage'])
    disk = os.path.join(tmp, 'disk')
    with open(disk, 'wb') as f:
        f.truncate(1 << 20)
    cases = [
        ([kv], 'declares net device `service`, which is not bound: add --net service=TAP'),
        (['--net', 'service=none0', kv], 'declares block device `storage`, which is not bound'),
        (['--net', 'service=none0', '--block', 'storage=' + disk, '--block', 'extra=' + disk,
          kv], 'declares no device `extra` (it declares: net:service, block:storage)'),
        (['--net', 'service=none0', '--net', 'service=none1', kv], 'bound twice'),
        (['--block', 'service=' + disk, '--block', 'storage=' + disk, kv],
         '`service` is a net device: bind it with --net'),
        (['--net', 'service=none0,mac=01:00:00:00:00:01', kv], 'bad option'),
        (['/bin/true'], 'not a static non-PIE executable'),
    ]
    virtio = unik_cc(os.path.join(APPS, 'hello', 'hello.c'), os.path.join(tmp, 'hello.elf'), 'virtio')
    cases.append(([virtio], 'build the application with --target unix'))
    for args, want in cases:
        r = run_spt(args)
        if r.returncode != 125 or want not in r.stderr:
            fail('unik-spt %s: wanted status 125 and %r' % (' '.join(args), want),
                 'status %d\n%s' % (r.returncode, r.stderr))
        if r.stdout:
            fail('unik-spt %s ran something' % ' '.join(args), r.stdout)


def need_netns():
    if os.geteuid() != 0:
        raise Skip('a network namespace and a tap need root')
    if not shutil.which('ip'):
        raise Skip('ip (iproute2) is not installed')
    if not os.path.exists('/dev/net/tun'):
        raise Skip('/dev/net/tun does not exist')


class TapNamespace:
    """A network namespace of the test's own with a tap `spt0` at SUBNET.1/24."""

    def __init__(self, index):
        self.ns = 'unikspt%d-%d' % (index, os.getpid())
        self.host_ip = (SUBNET % index) + '.1'
        self.guest_ip = (SUBNET % index) + '.2'

    def ip(self, *args):
        r = subprocess.run(['ip', 'netns', 'exec', self.ns, 'ip'] + list(args),
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail('ip %s in %s failed' % (' '.join(args), self.ns), r.stderr)

    def __enter__(self):
        r = subprocess.run(['ip', 'netns', 'add', self.ns], capture_output=True, text=True)
        if r.returncode != 0:
            raise Skip('cannot make a network namespace: %s' % r.stderr.strip())
        self.ip('link', 'set', 'lo', 'up')
        self.ip('tuntap', 'add', 'dev', 'spt0', 'mode', 'tap')
        self.ip('addr', 'add', self.host_ip + '/24', 'dev', 'spt0')
        self.ip('link', 'set', 'spt0', 'up')
        return self

    def __exit__(self, *exc):
        subprocess.run(['ip', 'netns', 'del', self.ns], capture_output=True)

    def start(self, args, log):
        return subprocess.Popen(['ip', 'netns', 'exec', self.ns, spt()] + args,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def python(self, code, timeout_s=120):
        """Runs code in the namespace, with test_backend_mirage's helpers imported."""
        here = os.path.dirname(os.path.abspath(__file__))
        prog = ('import sys; sys.path[:0] = [%r, %r]\n' % (here, os.path.join(REPO, 'tests',
                                                                               'lib')) +
                'from test_backend_mirage import ping, kv_ask\n' + code)
        r = subprocess.run(['ip', 'netns', 'exec', self.ns, sys.executable, '-c', prog],
                           capture_output=True, text=True, timeout=timeout_s)
        if r.returncode != 0:
            fail('in the namespace: %s' % code, r.stdout + r.stderr)
        return r.stdout


def wait_log(path, needle, proc, seconds=60):
    import time
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with open(path) as f:
            text = f.read()
        if needle in text:
            return text
        if proc.poll() is not None:
            fail('unik-spt ended (status %s) before printing %r' % (proc.returncode, needle),
                 text)
        time.sleep(0.1)
    fail('unik-spt never printed %r' % needle, text)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@timeout(240)
def test_spt_ping_through_a_tap():
    """examples/mirage/ping on unix, its net device bound to a tap: it answers ping from the
    tap's namespace at the address unik-spt gave it."""
    need_netns()
    tmp = tempfile.mkdtemp(dir=out_dir())
    app = unik_cc(PING, os.path.join(tmp, 'ping'), 'unix', ['net:service'])
    with TapNamespace(1) as ns:
        log = os.path.join(tmp, 'console.log')
        with open(log, 'w') as lf:
            p = ns.start(['--net', 'service=spt0,mac=02:00:00:00:88:02,ip=%s/24,gw=%s'
                          % (ns.guest_ip, ns.host_ip), app], lf)
        try:
            wait_log(log, 'ping: service %s/24 02:00:00:00:88:02 mtu 1500' % ns.guest_ip, p)
            ns.python('ping(%r)' % ns.guest_ip)
            wait_log(log, 'ping: answered the first echo request', p)
        finally:
            stop(p)
        # SIGTERM reaches the application through unik-spt; it reports the signal.
        check_equal('status after SIGTERM', p.returncode, 128 + 15)


@timeout(300)
def test_spt_kv_keeps_its_data_on_a_block_file():
    """examples/mirage/kv on unix, bound to a tap and a file: puts and gets over UDP, and what
    was put is there in a second run on the same file."""
    need_netns()
    tmp = tempfile.mkdtemp(dir=out_dir())
    app = unik_cc(KV, os.path.join(tmp, 'kv'), 'unix', ['net:service', 'block:storage'])
    disk = os.path.join(tmp, 'kvdata')
    with open(disk, 'wb') as f:
        f.truncate(8 << 20)
    with TapNamespace(2) as ns:
        args = ['--net', 'service=spt0,ip=%s/24' % ns.guest_ip, '--block', 'storage=' + disk, app]
        for run, code in ((1, "print(kv_ask(%r, 'put colour blue')); "
                              "print(kv_ask(%r, 'put shape round')); "
                              "print(kv_ask(%r, 'get colour')); print(kv_ask(%r, 'get size'))"),
                          (2, "print(kv_ask(%r, 'get shape')); print(kv_ask(%r, 'get colour'))")):
            log = os.path.join(tmp, 'console-%d.log' % run)
            with open(log, 'w') as lf:
                p = ns.start(args, lf)
            try:
                wait_log(log, 'kv: listening on %s:5000' % ns.guest_ip, p)
                if run == 2:
                    wait_log(log, 'kv: replayed 2 records, 2 keys', p)
                out = ns.python(code % ((ns.guest_ip,) * code.count('%r')))
            finally:
                stop(p)
            want = 'ok\nok\nblue\nmissing\n' if run == 1 else 'round\nblue\n'
            check_equal('kv answers in run %d' % run, out, want)


# -- the spt provider, through the daemon ---------------------------------------------------


def spt_ready(d):
    for p in d.ok('GET', '/v1/providers'):
        if p['name'] == 'spt':
            if not p['available']:
                fail('the spt provider is not available: %s' % p['reason'])
            return
    fail('the spt provider is not listed by /v1/providers')


def wait_state(d, name, states, seconds=60):
    import time
    deadline = time.monotonic() + seconds
    inst = None
    while time.monotonic() < deadline:
        inst = d.ok('GET', '/v1/instances/%s' % name)
        if inst['state'] in states:
            return inst
        time.sleep(0.2)
    fail('instance %s never reached %s' % (name, states), inst)


@timeout(400)
def test_spt_provider_runs_unix_images():
    """`unik build --target unix` makes an image that records its target and runs on the spt
    provider by default; a unix image refuses qemu and a virtio image refuses spt; the console,
    the exit status and a seccomp kill are reported as for a guest."""
    from test_daemon_fixture import Daemon, cli, cli_error, wait_console
    import json
    with Daemon('spt1', env={'UNIK_SPT': spt()}) as d:
        spt_ready(d)
        if 'spt' not in cli(d, 'providers').stdout:
            fail('unik providers does not list spt')
        hello = os.path.join(APPS, 'hello')
        cli_error(d, 'no target "arm" (targets: virtio, unix, hvt)', 'build', '--target', 'arm',
                  '--name', 'bad', hello)
        cli_error(d, 'the rump backend has no targets', 'build', '--target', 'unix', '--name',
                  'r', os.path.join(REPO, 'examples', 'hello'))
        cli(d, 'build', '--target', 'unix', '--name', 'hu', hello)
        cli(d, 'build', '--name', 'hv', hello)
        img = json.loads(cli(d, 'describe-image', 'hu', '-o', 'json').stdout)
        check_equal('the unix image target', img.get('target'), 'unix')
        check_equal('the unix image provider', img.get('provider'), 'spt')
        check_equal('the virtio image target',
                    json.loads(cli(d, 'describe-image', 'hv', '-o', 'json').stdout).get('target'),
                    'virtio')
        if 'unix' not in cli(d, 'describe-image', 'hu').stdout:
            fail('describe-image does not show the target')
        cli_error(d, 'runs on the spt provider (--provider spt), not on qemu', 'run', '-d',
                  '--provider', 'qemu', 'hu')
        cli_error(d, 'built for the virtio target: run it on qemu', 'run', '-d', '--provider',
                  'spt', 'hv')
        cli(d, 'run', '-d', '--name', 'h1', 'hu', 'one', 'two')
        inst = wait_state(d, 'h1', ('exited', 'crashed'))
        check_equal('the instance provider', inst['provider'], 'spt')
        check_equal('exit code', (inst['state'], inst['exit_code']), ('exited', 3))
        log = wait_console(d, 'h1', 'hello: 2 arguments: one two')
        if 'hello: stdio reaches the console' not in log:
            fail('the console lacks the application output', log)
        # A forbidden call: the instance crashes, saying which call.
        cli(d, 'build', '--name', 'fb', os.path.join(APPS, 'forbidden'))
        cli(d, 'run', '-d', '--name', 'f1', 'fb')
        inst = wait_state(d, 'f1', ('exited', 'crashed'))
        check_equal('a forbidden call', (inst['state'], inst['exit_code']), ('crashed', 255))
        wait_console(d, 'f1', 'unik: crash: killed by seccomp: system call 2 (open)')
        cli(d, 'rm', '-f', 'h1', 'f1')


@timeout(500)
def test_spt_provider_kv_on_a_network_and_volume():
    """examples/mirage/kv built for unix and run by the daemon on spt with --net service=NETWORK
    and --block storage=VOLUME: it answers on the network's address and a second instance on
    the same volume has the data."""
    from test_net_host import NetDaemon, need_root
    from test_daemon_fixture import cli, wait_console
    from test_backend_mirage import kv_ask
    need_root()
    with NetDaemon('spt2', env={'UNIK_SPT': spt()}) as d:
        spt_ready(d)
        cli(d, 'build', '--target', 'unix', '--name', 'kvu', KV)
        cli(d, 'network', 'create', '--subnet', (SUBNET % 4) + '.0/24', 'sptlan')
        cli(d, 'volume', 'create', '--size', '8', 'sptdata')
        cli(d, 'run', '-d', '--name', 'k1', '--net', 'service=sptlan', '--block',
            'storage=sptdata', 'kvu')
        ip = d.ok('GET', '/v1/instances/k1')['ip']
        if not ip.startswith((SUBNET % 4) + '.'):
            fail('the instance got no address on sptlan', d.ok('GET', '/v1/instances/k1'))
        wait_console(d, 'k1', 'kv: listening on %s:5000' % ip)
        check_equal('put', kv_ask(ip, 'put colour blue'), 'ok')
        check_equal('get', kv_ask(ip, 'get colour'), 'blue')
        cli(d, 'stop', 'k1')
        check_equal('state after stop', d.ok('GET', '/v1/instances/k1')['state'], 'stopped')
        cli(d, 'rm', '-f', 'k1')
        cli(d, 'run', '-d', '--name', 'k2', '--net', 'service=sptlan', '--block',
            'storage=sptdata', 'kvu')
        ip = d.ok('GET', '/v1/instances/k2')['ip']
        wait_console(d, 'k2', 'kv: replayed 1 records, 1 keys')
        check_equal('get after a restart', kv_ask(ip, 'get colour'), 'blue')
        cli(d, 'rm', '-f', 'k2')
        cli(d, 'network', 'rm', 'sptlan')
