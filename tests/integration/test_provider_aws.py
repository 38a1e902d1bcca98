"""The aws provider end to end against emulators: s3rver (npm) for S3 and tests/tools/fake_ec2.py
for EC2, which checks every request's SigV4 signature with botocore, really reads the uploaded
disk from s3rver on ImportSnapshot and really boots it (QEMU, -M pc, BIOS, GRUB) on RunInstances.
Staging goes through tests/tools/aws_stage (stage/unstage), instances through
tests/tools/provider_driver, one process per call as a daemon and its restarts would make them."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

from harness import Skip, Failure, fail, out_dir, build_dir, bin_dir, tail, timeout, REPO
from apps import app

AKID = 'S3RVER'
SECRET = 'S3RVER'
TOKEN = 'unik-test-session-token'
REGION = 'us-east-1'
BUCKET = 'unik-test-bucket'
FAKE = os.path.join(REPO, 'tests', 'tools', 'fake_ec2.py')

_counter = [0]


def botocore_python():
    """An interpreter that imports botocore (Debian's python3-botocore is for /usr/bin/python3;
    the python3 in PATH may be another)."""
    for py in ('/usr/bin/python3', sys.executable, shutil.which('python3')):
        if py and os.access(py, os.X_OK) and subprocess.run(
                [py, '-c', 'import botocore.auth'], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL).returncode == 0:
            return py
    raise Skip('no Python here imports botocore (apt-get install python3-botocore)')


def tool(name):
    p = os.path.join(build_dir(), 'tests', 'tools', name)
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make test-tools)' % p)
    return p


def need_tools():
    for t in ('grub-mkimage', 'mkfs.fat', 'mcopy', 'qemu-system-x86_64'):
        if not shutil.which(t, path=os.environ.get('PATH', '') + ':/usr/sbin:/sbin'):
            raise Skip('%s is not installed' % t)
    if not os.path.isdir('/usr/lib/grub/i386-pc'):
        raise Skip('/usr/lib/grub/i386-pc is missing (grub-pc-bin)')


def pack_raw(kernel, cmdline, name):
    out = os.path.join(out_dir(), name + '.raw')
    cmd = [os.path.join(bin_dir(), 'unik-pack'), '--kernel', app(kernel), '--format', 'raw',
           '--cmdline', cmdline, '-o', out]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    if p.returncode != 0:
        fail('unik-pack failed', p.stdout)
    return out


class Env:
    """s3rver and the fake EC2, with the environment and options that point unik at them."""

    def __init__(self):
        from s3rver import S3rver
        self.py = botocore_python()
        self.s3 = S3rver()
        self.fake = None

    def __enter__(self):
        self.s3.__enter__()
        d = out_dir()
        self.fake_log = open(os.path.join(d, 'fake_ec2.log'), 'ab')
        self.fake = subprocess.Popen(
            [self.py, FAKE, '--access-key', AKID, '--secret-key', SECRET, '--session-token',
             TOKEN, '--region', REGION, '--s3-endpoint', self.s3.url, '--data-dir',
             os.path.join(d, 'fake-ec2-data'), '--import-delay', '0.3'],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.fake_log,
            start_new_session=True)
        line = self.fake.stdout.readline().decode()
        if not line.startswith('listening on '):
            self.__exit__(None, None, None)
            fail('fake_ec2.py did not start: %r' % line, self.fake_logs())
        self.ec2_url = 'http://127.0.0.1:%d' % int(line.split()[2])
        home = os.path.join(d, 'home')
        os.makedirs(home, exist_ok=True)
        self.env = dict(os.environ, HOME=home, AWS_ACCESS_KEY_ID=AKID,
                        AWS_SECRET_ACCESS_KEY=SECRET, AWS_SESSION_TOKEN=TOKEN,
                        AWS_CONFIG_FILE=os.path.join(home, 'none'),
                        AWS_SHARED_CREDENTIALS_FILE=os.path.join(home, 'none'))
        for k in ('AWS_PROFILE', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL',
                  'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL_EC2'):
            self.env.pop(k, None)
        self.opts = ['region=' + REGION, 's3_endpoint_url=' + self.s3.url,
                     'ec2_endpoint_url=' + self.ec2_url, 'bucket=' + BUCKET]
        return self

    def __exit__(self, *exc):
        if self.fake and self.fake.poll() is None:
            self.fake.terminate()
            try:
                self.fake.wait(15)
            except subprocess.TimeoutExpired:
                self.fake.kill()
                self.fake.wait()
        self.fake_log.close()
        self.s3.__exit__(*exc)
        return False

    def fake_logs(self):
        with open(os.path.join(out_dir(), 'fake_ec2.log'), 'rb') as f:
            return tail(f.read(), 40)

    def control(self, path, method='POST'):
        req = urllib.request.Request(self.ec2_url + path, data=b'' if method == 'POST' else None,
                                     method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read().decode())

    def stats(self):
        return self.control('/_fake/stats', 'GET')

    def check_signatures(self):
        bad = self.stats()['signature_failures']
        if bad:
            fail('%d EC2 requests failed botocore\'s signature check' % len(bad), bad[0])

    def call(self, exe, *args, ok=True, opts=None, env=None):
        cmd = [tool(exe)]
        for o in (self.opts if opts is None else opts):
            cmd += ['-o', o]
        cmd += [str(a) for a in args]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env or self.env, timeout=600)
        with open(os.path.join(out_dir(), 'driver.log'), 'a') as f:
            f.write('$ %s\n%s%s[exit %d]\n' % (' '.join(cmd), p.stdout, p.stderr, p.returncode))
        res = {'_progress': []}
        for line in p.stdout.splitlines():
            k, _, v = line.partition('=')
            if k == 'progress':
                res['_progress'].append(v)
            else:
                res[k] = v
        res['_rc'] = p.returncode
        if ok and p.returncode != 0:
            verb = [a for a in args if a in ('run', 'status', 'stop', 'start', 'remove',
                                             'available', 'stage', 'unstage')][:1]
            fail('%s %s failed (exit %d): %s' % (exe, ''.join(verb), p.returncode,
                                                 res.get('error', p.stderr.strip())),
                 self.fake_logs())
        return res

    def driver(self, *args, **kw):
        return self.call('provider_driver', '-p', 'aws', *args, **kw)

    def stage(self, image, image_id, name, cmdline, **kw):
        image_dir = os.path.dirname(image)
        return self.call('aws_stage', 'stage', image_dir, image, image_id, name, cmdline, **kw)


def image_dir_for(tag):
    d = os.path.join(out_dir(), 'image-' + tag)
    os.makedirs(d, exist_ok=True)
    return d


def staged_image(env, kernel, cmdline, tag, image_id):
    """Packs the app's raw disk into an image directory laid out as the image store's
    (disk.raw next to kernel.elf, which variants are packed from) and stages it."""
    d = image_dir_for(tag)
    raw = pack_raw(kernel, cmdline, tag)
    image = os.path.join(d, 'disk.raw')
    shutil.move(raw, image)
    shutil.copyfile(app(kernel), os.path.join(d, 'kernel.elf'))
    r = env.stage(image, image_id, tag, cmdline)
    return image, r


def read_state(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.rstrip('\n').partition('=')
            out[k] = v
    return out


def new_dir(tag):
    _counter[0] += 1
    d = os.path.join(out_dir(), 'inst-%d-%s' % (_counter[0], tag))
    os.makedirs(d)
    return d


def console(d):
    try:
        with open(os.path.join(d, 'console.log'), 'rb') as f:
            return f.read().decode('utf-8', 'replace').replace('\r\n', '\n')
    except FileNotFoundError:
        return ''


def wait_state(env, d, states, limit=180):
    deadline = time.monotonic() + limit
    while True:
        st = env.driver('status', d)
        if st['state'] in states:
            return st
        if time.monotonic() > deadline:
            fail('instance still %s after %ds, wanted %s' % (st['state'], limit, states),
                 'console:\n%s\n%s' % (tail(console(d)), env.fake_logs()))
        time.sleep(0.5)


def wait_console(env, d, needle, limit=180):
    deadline = time.monotonic() + limit
    while needle not in console(d):
        env.driver('status', d)
        if time.monotonic() > deadline:
            fail('console never showed %r' % needle, tail(console(d)) + '\n' + env.fake_logs())
        time.sleep(0.5)


def s3_has(env, key):
    try:
        env.s3.get(BUCKET, key)
        return True
    except Failure:
        return False


# ---------------------------------------------------------------------------------------------

@timeout(600)
def test_lifecycle():
    """stage (upload, import, register, S3 clean-up), run to exit 0 with hello's output,
    start in place, a second image stopped and started, remove (terminate), unstage."""
    need_tools()
    with Env() as env:
        image, r = staged_image(env, 'hello', 'hello', 'hello', 'aaaaaaaaaaa1')
        with open(image, 'rb') as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        steps = ' | '.join(r['_progress'])
        for want in ('uploading', 'importing snapshot', 'registered', 'staged as'):
            if want not in steps:
                fail('stage progress never said %r' % want, steps)
        st = read_state(os.path.join(os.path.dirname(image), 'aws.state'))
        ami, snap = st.get(REGION + '.ami'), st.get(REGION + '.snapshot')
        if st.get(REGION + '.done') != '1' or not ami or not snap or st.get('cmdline') != 'hello':
            fail('aws.state does not record a finished stage: %r' % st)
        s = env.stats()
        if s['snapshots'][snap]['sha256'] != digest:
            fail('the fake imported %s, not the disk (%s)' % (s['snapshots'][snap]['sha256'],
                                                               digest))
        if s['images'][ami]['snapshot'] != snap:
            fail('the AMI is not registered on the imported snapshot: %r' % s['images'])
        if s3_has(env, 'unik/aaaaaaaaaaa1/disk.raw'):
            fail('the temporary S3 object was not deleted after the stage')
        if os.path.exists(os.path.join(os.path.dirname(image), 'aws-upload.state')):
            fail('aws-upload.state was left behind')
        # Idempotent: a finished stage asks AWS nothing.
        before = sum(s['calls'].values())
        env.stage(image, 'aaaaaaaaaaa1', 'hello', 'hello')
        if sum(env.stats()['calls'].values()) != before:
            fail('a second stage of a staged image called EC2')

        # run: the instance boots the AMI and ends with the guest's exit status.
        d = new_dir('hello')
        r = env.driver('-i', 'hello0000001', '-n', 'greeter', 'run', d, image, '', 256)
        if r['state'] not in ('pending', 'running') or not r['handle'].startswith('i-') or \
                r['handle_id'] != ami:
            fail('run did not report the EC2 instance: %r' % r)
        iid = r['handle']
        inst = env.stats()['instances'][iid]
        want_tags = {'unik:instance': 'hello0000001', 'unik:name': 'greeter',
                     'Name': 'unik-greeter'}
        if inst['tags'] != want_tags or inst['type'] != 't3.nano' or inst['image'] != ami:
            fail('RunInstances got %r' % inst)
        st = wait_state(env, d, ('exited', 'crashed'))
        if st['state'] != 'exited' or st['exit_code'] != '0':
            fail('expected exited(0), got %r' % st, console(d))
        text = console(d)
        if 'hello from unik\nargv[0]=<hello>\n' not in text or \
                text.count('unik: exit status 0') != 1:
            fail('console.log does not hold hello\'s output once', text)
        rec = read_state(os.path.join(d, 'provider.state'))
        if rec.get('ec2_instance') != iid or rec.get('region') != REGION:
            fail('provider.state: %r' % rec)

        # The baked command line itself boots the image's own AMI: nothing is staged.
        # (Other command lines get variants: test_cmdline_variants.)
        before = env.stats()['calls']
        d2 = new_dir('baked')
        r = env.driver('run', d2, image, 'hello', 64)
        if r['handle_id'] != ami:
            fail('a run with the baked command line did not boot the image\'s AMI: %r' % r)
        after = env.stats()['calls']
        for action in ('ImportSnapshot', 'RegisterImage'):
            if after.get(action) != before.get(action):
                fail('a run with the baked command line called %s' % action)
        wait_state(env, d2, ('exited',))

        # start: the same instance boots again; console.log gets a second run.
        r = env.driver('start', d)
        if r['handle'] != iid:
            fail('start answered for another instance: %r' % r)
        st = wait_state(env, d, ('exited', 'crashed'))
        if st['state'] != 'exited' or st['exit_code'] != '0':
            fail('after start: expected exited(0), got %r' % st, console(d))
        if console(d).count('unik: exit status 0') != 2:
            fail('console.log should hold two runs', console(d))
        if env.stats()['instances'][iid]['boots'] != 2:
            fail('start did not boot the same instance again')

        # remove: terminate.
        env.driver('remove', d)
        deadline = time.monotonic() + 30
        while env.stats()['instances'][iid]['state'] != 'terminated':
            if time.monotonic() > deadline:
                fail('remove did not terminate %s' % iid)
            time.sleep(0.2)

        # A long-running guest: stop (graceful), start again, stop --force.
        image2, _ = staged_image(env, 'clock', 'clock 600000', 'clock', 'aaaaaaaaaaa2')
        d3 = new_dir('clock')
        r = env.driver('run', d3, image2, '', 512)
        iid2 = r['handle']
        wait_console(env, d3, 'wall_start')
        st = env.driver('status', d3)
        if st['state'] != 'running':
            fail('a sleeping guest is %r' % st)
        env.driver('stop', d3, '--timeout', '5000')
        st = env.driver('status', d3)
        if st['state'] != 'stopped':
            fail('after stop: %r' % st)
        env.driver('start', d3)
        wait_state(env, d3, ('running',))
        wait_console(env, d3, 'wall_start', 120)
        env.driver('stop', d3, '--force')
        st = wait_state(env, d3, ('stopped', 'crashed', 'exited'))
        if st['state'] != 'stopped':
            fail('after stop --force: %r' % st)
        deadline = time.monotonic() + 30
        while env.stats()['instances'][iid2]['state'] != 'stopped':
            if time.monotonic() > deadline:
                fail('EC2 does not have %s stopped' % iid2)
            time.sleep(0.2)
        env.driver('remove', d3)

        # unstage: deregister and delete the snapshot; twice is fine.
        for img in (image, image2):
            env.call('aws_stage', 'unstage', os.path.dirname(img))
            env.call('aws_stage', 'unstage', os.path.dirname(img))
        s = env.stats()
        if s['images'] or s['snapshots']:
            fail('unstage left images %r and snapshots %r' % (list(s['images']),
                                                              list(s['snapshots'])))
        env.check_signatures()


def counts(env):
    c = env.stats()['calls']
    return c.get('ImportSnapshot', 0), c.get('RegisterImage', 0)


def variant_lines(state_path):
    return {k: v for k, v in read_state(state_path).items() if '.variant.' in k}


def run_to_exit(env, d):
    st = wait_state(env, d, ('exited', 'crashed'))
    if st['state'] != 'exited' or st['exit_code'] != '0':
        fail('expected exited(0), got %r' % st, console(d))
    return console(d)


def guest_output(d):
    """This run's part of console.log (from console.start), as the exit-status parser reads
    it."""
    with open(os.path.join(d, 'console.start')) as f:
        start = int(f.read().strip() or 0)
    with open(os.path.join(d, 'console.log'), 'rb') as f:
        return f.read()[start:].decode('utf-8', 'replace').replace('\r\n', '\n')


@timeout(600)
def test_cmdline_variants():
    """A command line other than the baked one gets a variant AMI that bakes it, staged once
    and then reused; concurrent runs that want the same new variant stage it once; a command
    line GRUB cannot carry is refused with images/disk's message; unstage removes every
    variant."""
    need_tools()
    with Env() as env:
        image, _ = staged_image(env, 'args', 'args baked', 'args', 'ddddddddddd1')
        image_dir = os.path.dirname(image)
        state_path = os.path.join(image_dir, 'aws.state')
        base_ami = read_state(state_path)[REGION + '.ami']
        base = counts(env)

        # The image's own command line, for contrast.
        d = new_dir('vbase')
        r = env.driver('run', d, image, '', 128)
        if r['handle_id'] != base_ami:
            fail('an empty command line did not boot the image\'s AMI: %r' % r)
        text = run_to_exit(env, d)
        if 'argv[1]=<baked>' not in text:
            fail('the baked command line did not reach the guest', text)

        # A new command line: one variant (one import, one AMI), which the guest proves.
        cmd1 = 'GREETING=hi args one "two words"'
        d = new_dir('v1')
        r = env.driver('run', d, image, cmd1, 128)
        v1 = r['handle_id']
        if v1 == base_ami or not v1.startswith('ami-'):
            fail('a new command line ran on %r, not a variant' % v1)
        if counts(env) != (base[0] + 1, base[1] + 1):
            fail('the first variant made %r imports/registrations' % (counts(env),))
        run_to_exit(env, d)
        out = guest_output(d)
        for want in ('argc=3\n', 'argv[0]=<args>', 'argv[1]=<one>', 'argv[2]=<two words>',
                     'env <GREETING=hi>'):
            if want not in out:
                fail('the variant did not bring %r to the guest' % want, console(d))
        if 'argv[1]=<baked>' in out:
            fail('the variant booted the baked command line', console(d))
        notes = console(d)[:len(console(d)) - len(out)]
        if 'unik: the command line' not in notes or 'unik: staged as ' + v1 not in notes:
            fail('the variant\'s staging notes are not in console.log before this run',
                 console(d))
        key = hashlib.sha256(cmd1.encode()).hexdigest()[:16]
        vs = variant_lines(state_path)
        pre = '%s.variant.%s.' % (REGION, key)
        if vs.get(pre + 'ami') != v1 or vs.get(pre + 'cmdline') != cmd1 or \
                vs.get(pre + 'done') != '1' or not vs.get(pre + 'snapshot'):
            fail('aws.state does not record the variant under %s: %r' % (pre, vs))
        img = env.stats()['images'][v1]
        if key[:8] not in img['name'] or 'ddddddddddd1' not in img['name']:
            fail('the variant AMI is named %r' % img['name'])
        if s3_has(env, 'unik/ddddddddddd1/disk-%s.raw' % key):
            fail('the variant\'s S3 object was not deleted')
        left = [f for f in os.listdir(image_dir) if f.startswith('aws-variant-') or
                f.startswith('aws-upload')]
        if left:
            fail('staging the variant left %r behind' % left)
        if read_state(os.path.join(d, 'provider.state')).get('variant') != key:
            fail('provider.state does not name the variant')

        # The same command line again: the variant is reused, nothing is staged.
        d = new_dir('v1again')
        r = env.driver('run', d, image, cmd1, 128)
        if r['handle_id'] != v1 or counts(env) != (base[0] + 1, base[1] + 1):
            fail('a second run with the same command line staged again: %r, %r' %
                 (r, counts(env)))
        run_to_exit(env, d)
        if 'argv[2]=<two words>' not in guest_output(d):
            fail('the reused variant did not bring the arguments', console(d))

        # Two runs at once with a third command line: one variant between them.
        cmd2 = 'args three'
        ds = [new_dir('v2a'), new_dir('v2b')]
        procs = []
        for dd in ds:
            cmd = [tool('provider_driver'), '-p', 'aws']
            for o in env.opts:
                cmd += ['-o', o]
            cmd += ['run', dd, image, cmd2, '128']
            procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True, env=env.env))
        outs = [p.communicate(timeout=300)[0] for p in procs]
        amis = set()
        for p, o in zip(procs, outs):
            if p.returncode != 0:
                fail('a concurrent run failed (exit %d)' % p.returncode, o + env.fake_logs())
            amis |= {ln.split('=', 1)[1] for ln in o.splitlines()
                     if ln.startswith('handle_id=')}
        if len(amis) != 1 or v1 in amis or base_ami in amis:
            fail('two concurrent runs of one new command line ran on %r' % amis)
        if counts(env) != (base[0] + 2, base[1] + 2):
            fail('two concurrent runs of one new command line made %r imports/registrations '
                 '(wanted one more)' % (counts(env),))
        for dd in ds:
            run_to_exit(env, dd)
            if 'argv[1]=<three>' not in guest_output(dd):
                fail('the second variant did not bring its argument', console(dd))
        key2 = hashlib.sha256(cmd2.encode()).hexdigest()[:16]
        if {k.split('.')[2] for k in variant_lines(state_path)} != {key, key2}:
            fail('aws.state does not hold exactly the two variants: %r' %
                 variant_lines(state_path))

        # A word GRUB cannot carry: images/disk's refusal, before anything reaches AWS.
        d = new_dir('vbad')
        r = env.driver('run', d, image, "args 'a\tb'", 128, ok=False)
        if r['_rc'] == 0 or r.get('code') != 'invalid' or 'GRUB' not in r.get('error', ''):
            fail('a command line GRUB cannot carry was not refused with images/disk\'s '
                 'message: %r' % r)
        if counts(env) != (base[0] + 2, base[1] + 2):
            fail('a refused command line reached EC2')
        if [f for f in os.listdir(image_dir) if f.startswith('aws-variant-')]:
            fail('a refused variant left its disk behind')

        # unstage: the image's AMI and both variants, with their snapshots; twice is fine.
        s = env.stats()
        if len(s['images']) != 3 or len(s['snapshots']) != 3:
            fail('expected three AMIs before unstage: %r' % list(s['images']))
        env.call('aws_stage', 'unstage', image_dir)
        env.call('aws_stage', 'unstage', image_dir)
        s = env.stats()
        if s['images'] or s['snapshots']:
            fail('unstage left images %r and snapshots %r' % (list(s['images']),
                                                              list(s['snapshots'])))
        st = read_state(state_path)
        if any('.variant.' in k or k.endswith('.ami') for k in st):
            fail('aws.state still records AMIs after unstage: %r' % st)
        env.check_signatures()


@timeout(300)
def test_throttling_retried():
    """RequestLimitExceeded is retried with backoff in stage and run; past the retries the
    user gets AWS's own code."""
    need_tools()
    with Env() as env:
        env.control('/_fake/throttle?action=ImportSnapshot&count=2')
        env.control('/_fake/throttle?action=DescribeImportSnapshotTasks&count=2')
        env.control('/_fake/throttle?action=RegisterImage&count=3')
        image, _ = staged_image(env, 'hello', 'hello', 'thr', 'bbbbbbbbbbb1')
        s = env.stats()
        want = {'ImportSnapshot': 2, 'DescribeImportSnapshotTasks': 2, 'RegisterImage': 3}
        if s['throttled'] != want:
            fail('throttled calls: %r, wanted %r' % (s['throttled'], want))
        if s['calls']['ImportSnapshot'] != 3 or s['calls']['RegisterImage'] != 4:
            fail('throttled calls were not retried: %r' % s['calls'])
        # Backoff: the four RegisterImage tries are spread out (full jitter over 0.5, 1 and
        # 2 s windows), not fired back to back.
        t = s['call_times']['RegisterImage']
        if t[-1] - t[0] < 0.1:
            fail('four RegisterImage tries within %.3fs: no backoff' % (t[-1] - t[0]))
        env.control('/_fake/throttle?action=RunInstances&count=1')
        d = new_dir('thr')
        r = env.driver('run', d, image, '', 128)
        wait_state(env, d, ('exited',))
        d2 = new_dir('thr2')
        env.control('/_fake/throttle?action=RunInstances&count=50')
        r = env.driver('run', d2, image, '', 128, ok=False)
        env.control('/_fake/throttle?action=RunInstances&count=0')
        if r['_rc'] == 0 or 'RequestLimitExceeded' not in r.get('error', ''):
            fail('a run throttled past its retries did not report RequestLimitExceeded: %r' % r)
        env.check_signatures()


@timeout(300)
def test_errors_reach_the_user():
    """AWS's own error code and message (a bad instance type), expired credentials with a
    clear hint, and available() without credentials."""
    need_tools()
    with Env() as env:
        image, _ = staged_image(env, 'hello', 'hello', 'err', 'ccccccccccc1')
        d = new_dir('badtype')
        r = env.driver('-o', 'instance_type=x9.bogus', 'run', d, image, '', 128, ok=False)
        msg = r.get('error', '')
        if r['_rc'] == 0 or 'InvalidParameterValue' not in msg or \
                "Invalid value 'x9.bogus' for InstanceType" not in msg:
            fail('a bad instance type did not bring back AWS\'s code and message: %r' % r)

        d = new_dir('expired')
        r = env.driver('run', d, image, '', 128)
        env.control('/_fake/expire?on=1')
        r = env.driver('status', d, ok=False)
        env.control('/_fake/expire?on=0')
        msg = r.get('error', '')
        if r['_rc'] == 0 or 'RequestExpired' not in msg or 'expired' not in msg.lower() or \
                r.get('code') != 'forbidden':
            fail('expired credentials did not give a clear error: %r' % r)
        wait_state(env, d, ('exited',))

        r = env.driver('available')
        if r.get('available') != 'yes' or r.get('image_format') != 'raw':
            fail('available with credentials: %r' % r)
        bare = {k: v for k, v in env.env.items() if not k.startswith('AWS_ACCESS') and
                not k.startswith('AWS_SECRET') and k != 'AWS_SESSION_TOKEN'}
        r = env.driver('available', ok=False, env=bare)
        if r.get('available') != 'no' or 'AWS_ACCESS_KEY_ID' not in r.get('reason', ''):
            fail('available without credentials: %r' % r)
        env.check_signatures()


def cli_home(name):
    """test_cli.py's Home: a private UNIK_HOME whose daemon the first command starts."""
    import importlib.util
    path = os.path.join(REPO, 'tests', 'integration', 'test_cli.py')
    spec = importlib.util.spec_from_file_location('unik_aws_test_cli', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.need_core()
    return mod.Home(name), mod.HELLO


@timeout(600)
def test_cli_build_run_rm_rmi():
    """Through the daemon and the CLI: `unik build --provider aws` stages the image (an AMI),
    `unik run --provider aws` shows the guest's output and its exit status, a run with other
    arguments boots a variant AMI, `unik rm` terminates the instances and `unik rmi`
    deregisters the AMIs and deletes their snapshots."""
    need_tools()
    with Env() as env:
        h, hello = cli_home('cli-aws')
        with h:
            for k in ('HOME', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN',
                      'AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE'):
                h.env[k] = env.env[k]
            for k in ('AWS_PROFILE', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL'):
                h.env.pop(k, None)
            popts = []
            for o in env.opts:
                popts += ['--provider-opt', o]
            h.ok(['build', '--name', 'hello', '--path', hello, '--provider', 'aws'] + popts,
                 timeout=300)
            s = env.stats()
            if len(s['images']) != 1 or len(s['snapshots']) != 1:
                fail('unik build --provider aws did not make one AMI: %r' % s['images'])
            ami = list(s['images'])[0]
            p = h.ok(['run', '--provider', 'aws'] + popts + ['--name', 'cloudy', 'hello'],
                     timeout=300)
            if 'Hello from a unikernel!' not in p.stdout:
                fail("the guest's greeting is not on the CLI's output", p.stdout + p.stderr)
            insts = env.stats()['instances']
            if len(insts) != 1:
                fail('one run made %d EC2 instances' % len(insts))
            iid, inst = list(insts.items())[0]
            if inst['image'] != ami or inst['tags'].get('unik:name') != 'cloudy':
                fail('RunInstances got %r' % inst)
            d = h.json(['describe-instance', 'cloudy'])
            if iid not in json.dumps(d):
                fail('describe-instance does not show the EC2 instance id %s' % iid,
                     json.dumps(d)[:2000])
            # Arguments the image was not built with: a variant AMI that bakes them.
            p = h.ok(['run', '--provider', 'aws'] + popts +
                     ['--name', 'windy', 'hello', 'over', 'the clouds'], timeout=300)
            for want in ('argv[1] = "over"', 'argv[2] = "the clouds"'):
                if want not in p.stdout:
                    fail('%s is not in the guest output' % want, p.stdout + p.stderr)
            s = env.stats()
            if len(s['images']) != 2 or len(s['snapshots']) != 2:
                fail('a run with new arguments did not make one variant AMI: %r' %
                     list(s['images']))
            h.ok(['rm', 'cloudy'])
            h.ok(['rm', 'windy'])
            deadline = time.monotonic() + 30
            while any(i['state'] != 'terminated' for i in env.stats()['instances'].values()):
                if time.monotonic() > deadline:
                    fail('unik rm did not terminate %r' % env.stats()['instances'])
                time.sleep(0.2)
            h.ok(['rmi', 'hello'])
            s = env.stats()
            if s['images'] or s['snapshots']:
                fail('unik rmi left %r and %r' % (list(s['images']), list(s['snapshots'])))
            env.check_signatures()


@timeout(600)
def test_net_ports_open_ingress():
    """A NIC is the instance's primary network interface: through the core (provider_contract,
    which puts the NIC's manifest and address words in front of the command line), the guest
    boots the image's own AMI (those words are EC2's business, not a variant's), the instance
    is launched into the security group, and each published port becomes one ingress rule there
    (0.0.0.0/0, or the port's host address /32).  A rule the group had already is left to its
    owner; remove takes away only the rules the run added.  What EC2 cannot do is refused before
    any call: a mapped port, ports without a security group, a host network, two NICs."""
    need_tools()
    with Env() as env:
        image, _ = staged_image(env, 'hello', 'hello', 'nethello', 'eeeeeeeeeee1')
        image_dir = os.path.dirname(image)
        ami = read_state(os.path.join(image_dir, 'aws.state'))[REGION + '.ami']
        kernel = os.path.join(image_dir, 'kernel.elf')
        sg = 'sg-0123456789abcdef0'
        opts = env.opts + ['security_group=' + sg]

        def contract(*args, ok=True, o=opts):
            return env.call('provider_contract', '-p', 'aws', *args, ok=ok, opts=o)

        # Refusals, before any call to EC2.
        before = dict(env.stats()['calls'])
        for devs, o, code, needle in (
                (['net:net0:port=8080+80'], opts, 'unsupported', 'publish it as 80:80'),
                (['net:net0:port=80+80'], env.opts, 'invalid', 'security_group=sg-'),
                (['net:net0:network=lan:bridge=ukbr-lan'], opts, 'unsupported',
                 'network "lan" is a thing of this host'),
                (['net:net0', 'net:net1'], opts, 'unsupported', 'its primary one')):
            args = []
            for dev in devs:
                args += ['-d', dev]
            d = new_dir('refused')
            r = contract(*(args + ['run', d, kernel, 'hello', 64]), ok=False, o=o)
            if r['_rc'] == 0 or r.get('code') != code or needle not in r.get('error', ''):
                fail('%s was not refused with %r: %r' % (devs, needle, r))
        if env.stats()['calls'] != before:
            fail('a refused run called EC2: %r -> %r' % (before, env.stats()['calls']))

        # A rule the group has already belongs to someone else: here another instance's.
        other = new_dir('other')
        contract('-i', 'other0000001', '-d', 'net:net0:port=53+53/udp', 'run', other, kernel,
                 'hello', 64)
        d = new_dir('net')
        calls = env.stats()['calls']
        r = contract('-i', 'netinst00001', '-d',
                     'net:net0:port=80+80:port=203.0.113.7+8443+8443:port=53+53/udp',
                     'run', d, kernel, 'hello', 64)
        if r.get('handle_id') != ami:
            fail('the NIC\'s words made a variant AMI (%r), not the image\'s %s' % (r, ami))
        after = env.stats()
        if after['calls'].get('ImportSnapshot') != calls.get('ImportSnapshot'):
            fail('the run staged a variant')
        iid = r['handle']
        if after['instances'][iid]['groups'] != [sg]:
            fail('the instance is not in %s: %r' % (sg, after['instances'][iid]))
        want = ['tcp:80-80:0.0.0.0/0:unik instance netinst00001',
                'tcp:8443-8443:203.0.113.7/32:unik instance netinst00001',
                'udp:53-53:0.0.0.0/0:unik instance other0000001']
        if after['groups'].get(sg) != want:
            fail('security group rules %r, want %r' % (after['groups'].get(sg), want))
        rec = read_state(os.path.join(d, 'provider.state'))
        if rec.get('security_group') != sg or \
                rec.get('ingress') != 'tcp:80:0.0.0.0/0 tcp:8443:203.0.113.7/32':
            fail('provider.state: %r' % rec)
        text = run_to_exit(env, d)
        if 'hello from unik\nargv[0]=<hello>\n' not in text:
            fail('the guest did not boot its own command line', text)
        contract('remove', d)
        left = env.stats()['groups'].get(sg)
        if left != ['udp:53-53:0.0.0.0/0:unik instance other0000001']:
            fail('remove left %r' % left)
        run_to_exit(env, other)
        contract('remove', other)
        if env.stats()['groups'].get(sg):
            fail('the other instance\'s remove left %r' % env.stats()['groups'].get(sg))
        env.check_signatures()


def volume_disk(name, mib, fill):
    """A raw disk for a volume (its content only matters to the snapshot's checksum)."""
    path = os.path.join(out_dir(), name + '.raw')
    with open(path, 'wb') as f:
        f.write(fill * (mib << 20))
    with open(path, 'rb') as f:
        return path, hashlib.sha256(f.read()).hexdigest()


def image_snapshots(env):
    """The snapshots that AMIs stand on (the image's and its variants')."""
    return {i['snapshot'] for i in env.stats()['images'].values()}


@timeout(600)
def test_volumes_become_ebs_volumes():
    """Through the core (provider_contract), two blk devices become EBS volumes: each disk is
    uploaded and imported as a snapshot (the S3 objects deleted after), CreateVolume makes a gp3
    volume from it in the instance's availability zone, and AttachVolume hangs it on the
    instance as /dev/sdf and /dev/sdg in device order, all recorded in provider.state.  The
    guest boots a variant that bakes the volumes' manifest words (,ro included) in front of the
    image's command line.  remove detaches and deletes the volumes and their snapshots, and
    terminates the instance.  A host share is refused before any call."""
    need_tools()
    with Env() as env:
        image, _ = staged_image(env, 'hello', 'hello', 'volhello', 'fffffffffff1')
        image_dir = os.path.dirname(image)
        kernel = os.path.join(image_dir, 'kernel.elf')
        base_ami = read_state(os.path.join(image_dir, 'aws.state'))[REGION + '.ami']

        def contract(*args, ok=True):
            return env.call('provider_contract', '-p', 'aws', *args, ok=ok)

        # A host share: the core refuses the kind (caps say net, blk), before any EC2 call.
        before = dict(env.stats()['calls'])
        d = new_dir('share')
        r = contract('-d', 'fs:share0:path=%s:mount=/srv' % out_dir(), 'run', d, kernel,
                     'hello', 64, ok=False)
        if r['_rc'] == 0 or r.get('code') != 'unsupported' or 'fs' not in r.get('error', ''):
            fail('a host share was not refused as unsupported: %r' % r)
        if env.stats()['calls'] != before:
            fail('a refused share called EC2')

        disk0, sum0 = volume_disk('vol-data', 2, b'\x5a')
        disk1, sum1 = volume_disk('vol-ref', 1, b'\xa5')
        d = new_dir('vols')
        r = contract('-i', 'volinst00001', '-d', 'blk:vol0:path=%s:format=raw:mount=/data' % disk0,
                     '-d', 'blk:vol1:path=%s:format=raw:mount=/ref:ro' % disk1,
                     'run', d, kernel, '', 64)
        iid = r['handle']
        if r['handle_id'] == base_ami or not r['handle_id'].startswith('ami-'):
            fail('a run with volumes did not boot a variant that bakes their words: %r' % r)
        s = env.stats()
        if s['calls'].get('CreateVolume') != 2 or s['calls'].get('AttachVolume') != 2:
            fail('expected two CreateVolume and two AttachVolume calls: %r' % s['calls'])
        rec = read_state(os.path.join(d, 'provider.state'))
        if rec.get('volumes') != 'vol0 vol1' or rec.get('ec2_instance') != iid:
            fail('provider.state does not list the volumes: %r' % rec)
        want = {'vol0': ('/dev/sdf', disk0, sum0, '0', '/data'),
                'vol1': ('/dev/sdg', disk1, sum1, '1', '/ref')}
        vol_ids, snaps = [], set()
        for name, (dev, disk, digest, ro, mount) in want.items():
            pre = 'volume.%s.' % name
            vid, snap = rec.get(pre + 'ebs', ''), rec.get(pre + 'snapshot', '')
            if rec.get(pre + 'device') != dev or rec.get(pre + 'disk') != disk or \
                    rec.get(pre + 'readonly') != ro or rec.get(pre + 'mount') != mount or \
                    not vid.startswith('vol-') or not snap.startswith('snap-') or \
                    not rec.get(pre + 'disk_key'):
                fail('provider.state for %s: %r' % (name, rec))
            v = s['volumes'].get(vid)
            if not v or v['snapshot'] != snap or v['zone'] != REGION + 'a' or \
                    v['type'] != 'gp3' or v['state'] != 'in-use' or \
                    v['attach'] != dict(v['attach'] or {}, instance=iid, device=dev,
                                        state='attached') or \
                    v['tags'] != {'unik:instance': 'volinst00001', 'unik:device': name}:
                fail('EC2 has %s as %r' % (vid, v))
            if s['snapshots'][snap]['sha256'] != digest:
                fail('the snapshot of %s is not its disk' % name)
            if s3_has(env, 'unik/volumes/volinst00001/%s.raw' % name):
                fail('the S3 object of %s was not deleted' % name)
            vol_ids.append(vid)
            snaps.add(snap)
        state = read_state(os.path.join(image_dir, 'aws.state'))
        baked = [v for k, v in state.items() if k.endswith('.cmdline') and '.variant.' in k]
        if baked != ['unik.dev.vol0=blk,at=/data unik.dev.vol1=blk,ro,at=/ref hello']:
            fail('the variant does not bake the volumes\' words before the image\'s line: %r' %
                 baked)
        text = run_to_exit(env, d)
        if 'hello from unik' not in text:
            fail('the guest did not run', text)

        contract('remove', d)
        s = env.stats()
        if s['volumes']:
            fail('remove left EBS volumes %r' % s['volumes'])
        if s['calls'].get('DetachVolume') != 2 or s['calls'].get('DeleteVolume') != 2:
            fail('remove did not detach and delete both volumes: %r' % s['calls'])
        if snaps & set(s['snapshots']) or set(s['snapshots']) != image_snapshots(env):
            fail('remove left the volumes\' snapshots: %r' % list(s['snapshots']))
        deadline = time.monotonic() + 30
        while env.stats()['instances'][iid]['state'] != 'terminated':
            if time.monotonic() > deadline:
                fail('remove did not terminate %s' % iid)
            time.sleep(0.2)
        rec = read_state(os.path.join(d, 'provider.state'))
        if any(k.endswith('.ebs') or k.endswith('.snapshot') for k in rec):
            fail('provider.state still names EBS resources after remove: %r' % rec)
        contract('remove', d)  # twice is fine
        env.check_signatures()


@timeout(600)
def test_volume_create_failure_leaves_nothing():
    """CreateVolume failing for the second volume (EC2's InsufficientVolumeCapacity): the run
    fails with AWS's code, and nothing is left: the first volume deleted, both snapshots
    deleted, the instance terminated, its ingress rule revoked, no S3 object, no
    provider.state."""
    need_tools()
    with Env() as env:
        image, _ = staged_image(env, 'hello', 'hello', 'volfail', 'fffffffffff2')
        kernel = os.path.join(os.path.dirname(image), 'kernel.elf')
        sg = 'sg-0fedcba987654321f'
        disk0, _ = volume_disk('volf-a', 1, b'\x01')
        disk1, _ = volume_disk('volf-b', 1, b'\x02')
        env.control('/_fake/fail?action=CreateVolume&skip=1&count=1&code='
                    'InsufficientVolumeCapacity&message=There%20is%20not%20enough%20capacity'
                    '%20to%20fulfill%20your%20EBS%20volume%20provision%20request.')
        d = new_dir('volfail')
        r = env.call('provider_contract', '-p', 'aws', '-i', 'volfail00001',
                     '-d', 'net:net0:port=80+80',
                     '-d', 'blk:vol0:path=%s:format=raw:mount=/a' % disk0,
                     '-d', 'blk:vol1:path=%s:format=raw:mount=/b' % disk1,
                     'run', d, kernel, '', 64, ok=False, opts=env.opts + ['security_group=' + sg])
        if r['_rc'] == 0 or 'InsufficientVolumeCapacity' not in r.get('error', '') or \
                'vol1' not in r.get('error', ''):
            fail('the failed CreateVolume did not reach the user: %r' % r)
        s = env.stats()
        if s['calls'].get('CreateVolume') != 2 or s['calls'].get('RunInstances') != 1:
            fail('unexpected calls: %r' % s['calls'])
        if s['volumes']:
            fail('a failed run left EBS volumes %r' % s['volumes'])
        if set(s['snapshots']) != image_snapshots(env):
            fail('a failed run left snapshots %r' % list(s['snapshots']))
        if any(i['state'] not in ('shutting-down', 'terminated')
               for i in s['instances'].values()):
            fail('a failed run left its instance %r' % s['instances'])
        if s['groups'].get(sg):
            fail('a failed run left ingress rules %r' % s['groups'][sg])
        for name in ('vol0', 'vol1'):
            if s3_has(env, 'unik/volumes/volfail00001/%s.raw' % name):
                fail('a failed run left the S3 object of %s' % name)
        if os.path.exists(os.path.join(d, 'provider.state')):
            fail('a run that cleaned up after itself kept provider.state: %r' %
                 read_state(os.path.join(d, 'provider.state')))
        env.check_signatures()
