"""The provider contract: what every provider must do, checked the same way for each of them
(the tests' fake, qemu and kvm) through tests/tools/provider_contract, a door that drives a
provider only through core/vm.h, one process per call as a daemon and its restarts would make
them: a guest runs and exits with its status; status is cheap and repeatable; a graceful stop
gives STOPPED and is idempotent; a second run appends to the console; remove frees what the
provider held; a later process adopts what an earlier one started; and a device kind the provider
lacks is refused before anything starts.

The real providers boot tests/apps programs on microvm under TCG; the fake simulates a guest whose
run time and exit status come from its options (tests/lib/fake_provider.h)."""

import functools
import os
import random
import signal
import string
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Skip, Failure, fail, out_dir, build_dir, bin_dir, variants, timeout
from apps import app
import test_provider_kvm as kvm_tests
import test_provider_qemu as qemu_tests

PROVIDERS = variants(('fake', {'provider': 'fake'}), ('qemu', {'provider': 'qemu'}),
                     ('kvm', {'provider': 'kvm'}))
KINDS = ('net', 'blk', 'fs')
ENDED = ('exited', 'crashed', 'stopped')

_counter = [0]
_made = []  # this test's instances, for the clean-up


def tool():
    p = os.path.join(build_dir(), 'tests', 'tools', 'provider_contract')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make test-tools)' % p)
    return p


def tool_env():
    env = dict(os.environ, UNIK_ACCEL='tcg', UNIK_FAKE_LOG=fake_log())
    shim = os.path.join(bin_dir(), 'unik-shim')
    if os.access(shim, os.X_OK):
        env['UNIK_SHIM'] = shim
    return env


def fake_log():
    return os.path.join(out_dir(), 'fake-calls.log')


def call(provider, *args, ok=True, inst=None, opts=(), devices=(), caps=None, limit=60):
    """Runs the tool once; returns its key=value output as a dict, with '_rc'."""
    cmd = [tool(), '-p', provider]
    for o in opts:
        cmd += ['-o', o]
    for d in devices:
        cmd += ['-d', d]
    if caps is not None:
        cmd += ['-c', caps]
    if inst:
        cmd += ['-i', inst['id'], '-n', inst['name']]
    cmd += [str(a) for a in args]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, env=tool_env(), timeout=limit)
    with open(os.path.join(out_dir(), 'contract.log'), 'a') as f:
        f.write('$ %s\n%s%s[exit %d]\n' % (' '.join(cmd), p.stdout, p.stderr, p.returncode))
    res = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition('=')
        res[k] = v
    if ok and p.returncode != 0:
        fail('provider_contract -p %s %s failed (exit %d): %s' % (
            provider, args[0], p.returncode, res.get('error', p.stderr.strip())))
    res['_rc'] = p.returncode
    return res


# ---- the providers --------------------------------------------------------------------------


def need(provider):
    """Makes the provider usable here, or raises Skip saying what is missing."""
    if provider == 'kvm':
        kvm_tests.need('tcg')  # starts virtlogd and libvirtd as its own tests do
    r = call(provider, 'available', ok=False)
    if r.get('available') != 'yes':
        raise Skip('provider %s cannot run here: %s' % (provider, r.get('reason') or
                                                        r.get('error', '?')))
    r = call(provider, 'caps')
    return {'caps': set(c.strip() for c in r['caps'].split(',') if c.strip()),
            'start': r['start'] == 'yes', 'events': r['events'] == 'yes'}


def new_inst(provider, tag):
    _counter[0] += 1
    d = os.path.join(out_dir(), 'i%d' % _counter[0])  # short: QMP sockets live in here
    os.makedirs(d)
    iid = ''.join(random.choice(string.ascii_lowercase + string.digits) for _ in range(12))
    inst = {'provider': provider, 'dir': d, 'id': iid, 'name': 'contract-' + tag}
    _made.append(inst)
    return inst


# What the guest does, for each provider: a real program for qemu and kvm; for the fake, its
# options say how long it runs and how it ends.
def guest(inst, kind):
    real = {
        'exit3': (app('exitcode'), 'exitcode exit 3', []),
        'long': (app('clock'), 'clock 600000', []),
        'medium': (app('clock'), 'clock 2000', []),  # three sleeps: about 6 s
    }
    fake = {'exit3': ['run_ms=200', 'exit_code=3'], 'long': ['run_ms=-1'],
            'medium': ['run_ms=3000']}
    kernel, cmdline, opts = real[kind]
    if inst['provider'] == 'fake':
        opts = fake[kind]
    return kernel, cmdline, opts


def console(inst):
    try:
        with open(os.path.join(inst['dir'], 'console.log'), 'rb') as f:
            return f.read().decode('utf-8', 'replace').replace('\r\n', '\n')
    except FileNotFoundError:
        return ''


def context(inst):
    parts = ['%s instance in %s' % (inst['provider'], inst['dir'])]
    for name in sorted(os.listdir(inst['dir'])) if os.path.isdir(inst['dir']) else []:
        p = os.path.join(inst['dir'], name)
        if os.path.isfile(p) and (name.endswith(('.log', '.state', '.err', '.cmd')) or
                                  name == 'exit'):
            with open(p, 'rb') as f:
                parts.append('--- %s ---\n%s' % (name, f.read()[-2000:].decode('utf-8',
                                                                             'replace')))
    return '\n'.join(parts)


def run(inst, kind, devices=()):
    kernel, cmdline, opts = guest(inst, kind)
    r = call(inst['provider'], 'run', inst['dir'], kernel, cmdline, 64, inst=inst, opts=opts,
             devices=devices)
    # A guest that ends within libvirt's start-up may be reported as ended already.
    if r.get('state') not in ('running',) + ENDED:
        raise Failure('run reported %r' % r, context(inst))
    if r['state'] == 'running' and inst['provider'] == 'qemu' and int(r.get('pid', 0)) <= 0:
        raise Failure('qemu reported a running VM without its process: %r' % r, context(inst))
    return r


def status(inst, verb='status'):
    return call(inst['provider'], verb, inst['dir'], inst=inst)


def wait_ended(inst, verb='status', limit=60):
    deadline = time.monotonic() + limit
    while True:
        st = status(inst, verb)
        if st['state'] not in ('pending', 'running'):
            return st
        if time.monotonic() > deadline:
            raise Failure('instance still %s after %ds' % (st['state'], limit), context(inst))
        time.sleep(0.05)


def wait_console(inst, needle, limit=30):
    deadline = time.monotonic() + limit
    while needle not in console(inst):
        if time.monotonic() > deadline:
            raise Failure('console never showed %r' % needle, context(inst))
        time.sleep(0.02)


def expect(st, state, code, inst):
    if st['state'] != state or (code is not None and int(st['exit_code']) != code):
        raise Failure('expected %s(%s), got %s(%s) detail=%r' % (
            state, code, st['state'], st['exit_code'], st.get('detail')), context(inst))


def started_anything(inst):
    """What a run would have left behind, by provider; empty when nothing started."""
    left = [n for n in ('console.log', 'fake.state', 'fake.sock', 'qemu.pid', 'shim.pid',
                        'qmp.sock', 'provider.state', 'domain.xml')
            if os.path.exists(os.path.join(inst['dir'], n))]
    if inst['provider'] == 'kvm' and kvm_tests.domain_of(inst) in kvm_tests.domains():
        left.append('domain ' + kvm_tests.domain_of(inst))
    return left


def held(inst):
    """What the provider still holds for an instance: files that stand for live resources, the
    domain, the processes."""
    names = {'fake': ('fake.sock', 'fake.state'), 'qemu': ('qmp.sock', 'qemu.pid', 'shim.pid'),
             'kvm': ()}[inst['provider']]
    left = [n for n in names if os.path.exists(os.path.join(inst['dir'], n))]
    if inst['provider'] == 'kvm' and kvm_tests.domain_of(inst) in kvm_tests.domains():
        left.append('domain ' + kvm_tests.domain_of(inst))
    left += ['process %d' % pid for pid in qemu_tests.qemu_processes(inst['dir'])]
    return left


def live(inst, grace=5):
    """What still runs for an instance: its processes, its running domain.  A VM's processes
    exit, and libvirt tears its domain down, a moment after the end is recorded (kvm reports the
    end once QEMU has gone): they get that moment."""

    def now():
        left = ['process %d' % pid for pid in qemu_tests.qemu_processes(inst['dir'])]
        if inst['provider'] == 'kvm' and kvm_tests.domain_of(inst) in kvm_tests.domains(False):
            left.append('running domain ' + kvm_tests.domain_of(inst))
        return left

    deadline = time.monotonic() + grace
    while now() and time.monotonic() < deadline:
        time.sleep(0.1)
    return now()


def contract(fn):
    """Every test: no instance left running or held at the end (stopped and removed through the
    provider first; whatever is left then is killed, and the test fails)."""

    @functools.wraps(fn)
    def wrapper(**kwargs):
        del _made[:]
        try:
            fn(**kwargs)
        finally:
            left = []
            for inst in _made:
                try:
                    call(inst['provider'], 'stop', inst['dir'], '--force', ok=False, inst=inst)
                    call(inst['provider'], 'remove', inst['dir'], ok=False, inst=inst)
                except (OSError, subprocess.SubprocessError):
                    pass
                try:
                    gone = held(inst)
                except Exception:  # libvirtd went away: nothing more to ask
                    gone = []
                left += ['%s: %s' % (inst['dir'], g) for g in gone if not g.endswith('.state')]
                for pid in qemu_tests.qemu_processes(inst['dir']):
                    os.kill(pid, signal.SIGKILL)
                if inst['provider'] == 'kvm' and any(g.startswith('domain') for g in gone):
                    kvm_tests._virsh('destroy', kvm_tests.domain_of(inst))
                    kvm_tests._virsh('undefine', kvm_tests.domain_of(inst))
        if left:
            fail('left behind after stop and remove: %s' % left)

    return wrapper


# ---- the contract ---------------------------------------------------------------------------


@PROVIDERS
@contract
def test_run_to_exit(provider):
    """A guest runs, then exits with its status, and the console shows it."""
    need(provider)
    inst = new_inst(provider, 'exit')
    run(inst, 'exit3')
    st = wait_ended(inst)
    expect(st, 'exited', 3, inst)
    text = console(inst)
    if not text.rstrip('\n').endswith('unik: exit status 3'):
        fail('the console does not end with the exit status', context(inst))
    if provider != 'fake' and 'exiting 3' not in text:
        fail('the guest\'s own output is missing from the console', context(inst))


@PROVIDERS
@contract
def test_status_stop(provider):
    """status is repeatable and changes nothing; a graceful stop gives STOPPED; stop again is a
    no-op that keeps STOPPED."""
    need(provider)
    inst = new_inst(provider, 'stop')
    run(inst, 'long')
    if provider != 'fake':
        wait_console(inst, 'wall_start')
    seen = [status(inst) for _ in range(5)]
    keys = ('state', 'exit_code', 'pid', 'handle', 'handle_id')
    first = {k: seen[0][k] for k in keys}
    if first['state'] != 'running':
        fail('a guest that runs for ten minutes is %s' % first['state'], context(inst))
    for s in seen[1:]:
        if {k: s[k] for k in keys} != first:
            fail('status changed between calls: %r then %r' % (first, s), context(inst))
    r = call(provider, 'stop', inst['dir'], '--timeout', 10000, inst=inst)
    if r.get('stopped') != 'yes':
        fail('stop: %r' % r)
    expect(status(inst), 'stopped', None, inst)
    call(provider, 'stop', inst['dir'], '--timeout', 10000, inst=inst)
    call(provider, 'stop', inst['dir'], '--force', inst=inst)
    expect(status(inst), 'stopped', None, inst)
    left = live(inst)
    if left:
        fail('still running after stop: %s' % left, context(inst))


@PROVIDERS
@contract
def test_run_again(provider):
    """An ended instance runs again (start(), or remove() and run() where the provider has no
    start, as the daemon does), with its console appended to."""
    caps = need(provider)
    inst = new_inst(provider, 'again')
    run(inst, 'exit3')
    expect(wait_ended(inst), 'exited', 3, inst)
    if caps['start']:
        r = call(provider, 'start', inst['dir'], inst=inst)
        if r['state'] not in ('running',) + ENDED:
            fail('start reported %r' % r, context(inst))
    else:
        r = call(provider, 'start', inst['dir'], ok=False, inst=inst)
        if r['_rc'] != 1 or r.get('code') != 'unsupported':
            fail('start without a start(): want code unsupported, got %r' % r)
        call(provider, 'remove', inst['dir'], inst=inst)
        run(inst, 'exit3')
    expect(wait_ended(inst), 'exited', 3, inst)
    n = console(inst).count('unik: exit status 3')
    if n != 2:
        fail('the console shows %d exits, not 2: was it appended to?' % n, context(inst))


@PROVIDERS
@contract
def test_remove(provider):
    """remove frees what the provider held and leaves the console; a running instance is not
    removed from under its guest."""
    need(provider)
    inst = new_inst(provider, 'rm')
    run(inst, 'long')
    r = call(provider, 'remove', inst['dir'], ok=False, inst=inst)
    if r['_rc'] != 0:
        # Refused (qemu, the fake): the guest runs on, untouched.
        if r.get('code') != 'state':
            fail('remove of a running instance: want code state, got %r' % r)
        expect(status(inst), 'running', None, inst)
    else:
        # Or done (kvm destroys the domain first): then nothing may be left running or held.
        left = held(inst) + live(inst)
        if left:
            fail('remove of a running instance succeeded but left %s' % left, context(inst))
        return
    call(provider, 'stop', inst['dir'], '--force', inst=inst)
    expect(wait_ended(inst), 'stopped', None, inst)
    call(provider, 'remove', inst['dir'], inst=inst)
    left = held(inst)
    if left:
        fail('remove left %s' % left, context(inst))
    if not os.path.exists(os.path.join(inst['dir'], 'console.log')):
        fail('remove took console.log with it')
    call(provider, 'remove', inst['dir'], inst=inst)  # again: nothing left to free


@PROVIDERS
@contract
@timeout(180)
def test_adopt(provider):
    """A later process (a restarted daemon) reconciles an instance an earlier one started: it sees
    it running, then ended, and frees what it held; where the provider has events, its
    descriptor fires when the guest ends."""
    caps = need(provider)
    inst = new_inst(provider, 'adopt')
    run(inst, 'medium')
    st = status(inst, 'reconcile')
    expect(st, 'running', None, inst)
    if caps['events']:
        r = call(provider, 'events', inst['dir'], 60000, inst=inst, limit=90)
        if r.get('event') != 'yes':
            fail('the event descriptor did not fire when the guest ended: %r' % r,
                 context(inst))
    st = wait_ended(inst, 'reconcile')
    expect(st, 'exited', 0, inst)
    # No VM runs on; what start() needs (qemu's files, kvm's defined domain) may stay until
    # remove, but the fake, which keeps nothing for start(), frees its "socket" here.
    left = live(inst)
    if provider == 'fake' and os.path.exists(os.path.join(inst['dir'], 'fake.sock')):
        left.append('fake.sock')
    if left:
        fail('reconcile of an ended instance left %s' % left, context(inst))


def _backing(kind):
    """A device of this kind with the backing it needs, so only its kind can be refused."""
    if kind == 'net':
        return 'net:n0:tap=unikct0'
    if kind == 'blk':
        disk = os.path.join(out_dir(), 'disk.img')
        with open(disk, 'wb') as f:
            f.truncate(1 << 20)
        return 'blk:d0:path=%s:format=raw' % disk
    return 'fs:s0:path=%s:mount=/mnt' % out_dir()


def refused(inst, devices, code, words, caps=None):
    kernel, cmdline, opts = guest(inst, 'long')
    r = call(inst['provider'], 'run', inst['dir'], kernel, cmdline, 64, ok=False, inst=inst,
             opts=opts, devices=devices, caps=caps)
    if r['_rc'] != 1 or r.get('code') != code:
        fail('run with %s: want code %s, got %r' % (devices, code, r), context(inst))
    for w in words:
        if w not in r.get('error', ''):
            fail('the refusal does not name %r: %r' % (w, r.get('error')))
    left = started_anything(inst)
    if left:
        fail('a refused run still started something: %s' % left, context(inst))


@PROVIDERS
@contract
def test_refuse_device(provider):
    """A device kind the provider does not attach is refused (unsupported, naming the kind and
    the provider) before anything starts; a provider that attaches every kind refuses an
    invalid device (invalid) before anything starts."""
    caps = need(provider)
    lacking = [k for k in KINDS if k not in caps['caps']]
    for k in lacking:
        refused(new_inst(provider, 'refuse'), [_backing(k)], 'unsupported', [k, provider])
    if not lacking:
        refused(new_inst(provider, 'refuse'), ['net:Bad!Name'], 'invalid', ['Bad!Name'])
        refused(new_inst(provider, 'refuse'), ['blk:d0'], 'invalid', ['d0'])


@contract
def test_fake_limited_caps(provider='fake'):
    """The fake with only net: blk and fs are refused before run() is called, net runs, and its
    device reaches run() with a MAC and the guest's manifest words."""
    need('fake')
    for k in ('blk', 'fs'):
        refused(new_inst('fake', 'caps'), ['net:n0:tap=t0', _backing(k)], 'unsupported',
                [k, 'fake'], caps='net')
    inst = new_inst('fake', 'net')
    kernel, cmdline, opts = guest(inst, 'exit3')
    call('fake', 'run', inst['dir'], kernel, cmdline, 64, inst=inst, opts=opts,
         devices=['net:n0:tap=t0'], caps='net')
    expect(wait_ended(inst), 'exited', 3, inst)
    runs = [l for l in calls() if l[0] == 'run']
    if len(runs) != 1:
        fail('run() was called %d times, not once: refused runs reached the provider' %
             len(runs))
    f = runs[0][1]
    if not f['devices'].startswith('net:n0:tap=t0:mac=52:54:00:'):
        fail('run() got devices %r' % f['devices'])
    if 'n0' not in f['cmdline'] or not f['cmdline'].endswith(cmdline):
        fail('run() got the command line %r: no manifest words in front of %r' %
             (f['cmdline'], cmdline))


def calls():
    """The fake's call log: (operation, {field: value}) per line."""
    out = []
    try:
        with open(fake_log()) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        op, *fields = line.split('\t')
        kv = {}
        for fld in fields:
            k, _, v = fld.partition('=')
            kv[k] = v.replace('\\t', '\t').replace('\\n', '\n').replace('\\\\', '\\')
        out.append((op, kv))
    return out


@contract
def test_fake_records_calls(provider='fake'):
    """Through core/vm.h every call gets the context its process opened, and every process
    closes what it opened."""
    need('fake')
    inst = new_inst('fake', 'log')
    run(inst, 'exit3')
    wait_ended(inst)
    call('fake', 'start', inst['dir'], inst=inst)
    wait_ended(inst, 'reconcile')
    call('fake', 'remove', inst['dir'], inst=inst)
    by_pid = {}
    for op, f in calls():
        by_pid.setdefault(f['pid'], []).append((op, f))
    if len(by_pid) < 5:
        fail('only %d processes logged calls' % len(by_pid))
    ops = set()
    for pid, seq in by_pid.items():
        if seq[0][0] != 'open' or seq[-1][0] != 'close':
            fail('process %s did not open first and close last: %s' % (pid,
                                                                       [s[0] for s in seq]))
        ctx = seq[0][1]['ctx']
        for op, f in seq:
            ops.add(op)
            if f['ctx'] != ctx or ctx == '0':
                fail('%s in process %s got context %s, not %s' % (op, pid, f['ctx'], ctx))
    for op in ('run', 'status', 'start', 'reconcile', 'remove'):
        if op not in ops:
            fail('no %s() in the call log' % op)
