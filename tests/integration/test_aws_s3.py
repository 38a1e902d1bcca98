"""The aws provider's S3 and request layers (providers/aws/s3.c, request.c) against s3rver,
through tests/tools/aws_s3: multipart uploads that come back byte for byte, resuming after an
injected failure, a killed uploader, a lost part (ListParts) and a changed file, bucket
creation in and outside us-east-1, deletes, throttling retries, expired credentials and AWS's
own error codes.  A proxy in front of s3rver (tests/lib/s3rver.py) counts the requests and
checks every signature with botocore."""

import os
import signal
import subprocess
import threading
import time

from harness import Failure, fail, build_dir, out_dir, timeout
from s3rver import S3rver, S3Proxy, s3_error, free_port, ACCESS_KEY, SECRET_KEY

MIB = 1024 * 1024


def tool():
    p = os.path.join(build_dir(), 'tests', 'tools', 'aws_s3')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make test-tools)' % p)
    return p


def tool_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('AWS_') and not k.startswith('UNIK_AWS_')}
    env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               HOME=out_dir(), UNIK_AWS_PART_SIZE='5M', UNIK_AWS_RETRY_BASE_MS='5')
    env.update({k: str(v) for k, v in extra.items()})
    return env


def aws(endpoint, *args, env=None, ok=True, opts=(), background=False):
    cmd = [tool(), '-o', 'endpoint_url=' + endpoint]
    for o in opts:
        cmd += ['-o', o]
    cmd += [str(a) for a in args]
    env = env or tool_env()
    if background:
        return subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    with open(os.path.join(out_dir(), 'aws_s3.log'), 'a') as f:
        f.write('$ %s\n%s%s[exit %d]\n' % (' '.join(cmd), p.stdout, p.stderr, p.returncode))
    res = {'_rc': p.returncode, '_out': p.stdout, 'progress': []}
    for line in p.stdout.splitlines():
        k, _, v = line.partition('=')
        if k == 'progress':
            res['progress'].append(v)
        else:
            res.setdefault(k, v)
    if ok and p.returncode != 0:
        fail('aws_s3 %s failed (exit %d): %s' % (args[0], p.returncode,
                                                 res.get('error', p.stderr.strip())))
    if not ok and p.returncode == 0:
        fail('aws_s3 %s succeeded where it should have failed' % args[0], p.stdout)
    return res


def random_file(name, size):
    path = os.path.join(out_dir(), name)
    with open(path, 'wb') as f:
        f.write(os.urandom(size))
    return path


def check_signatures(proxy):
    if not proxy.verifying:
        return
    bad = proxy.bad_signatures()
    if bad:
        fail('%d requests had signatures botocore disagrees with' % len(bad),
             '\n'.join('%r: %s' % (r, r.signature_error) for r in bad[:5]))


def part_numbers(proxy, upload_id=None):
    q = {'partNumber': None}
    if upload_id:
        q['uploadId'] = upload_id
    return sorted(int(r.query['partNumber']) for r in proxy.matching('PUT', **q)
                  if r.status == 200)


@timeout(180)
def test_s3_multipart_upload_roundtrip():
    data_path = random_file('disk.raw', 20 * MIB + 12345)
    state = os.path.join(out_dir(), 'disk.state')
    with S3rver() as s3, S3Proxy(s3.url) as proxy:
        res = aws(proxy.url, 'upload', 'unik-images', 'images/disk.raw', data_path, state)
        got = s3.get('unik-images', 'images/disk.raw')
        with open(data_path, 'rb') as f:
            if got != f.read():
                fail('the object differs from the file (%d bytes back)' % len(got))
        # 5 MiB parts: 5 of them, the last one small.
        if part_numbers(proxy) != [1, 2, 3, 4, 5]:
            fail('parts sent: %r' % part_numbers(proxy))
        creates = proxy.matching('POST', uploads=None)
        completes = proxy.matching('POST', uploadId=None)
        if len(creates) != 2 or creates[0].status != 404 or creates[1].status != 200:
            fail('expected CreateMultipartUpload to meet NoSuchBucket, then succeed: %r'
                 % creates)
        buckets = [r for r in proxy.matching('PUT') if r.path == '/unik-images']
        if len(buckets) != 1 or buckets[0].body != b'':
            fail('us-east-1: expected one CreateBucket without a body: %r' % buckets)
        if len(completes) != 1 or b'<PartNumber>5</PartNumber>' not in completes[0].body:
            fail('CompleteMultipartUpload: %r' % completes)
        want = 'uploading disk.raw: part 3/5, 15 MiB of 20 MiB'
        if want not in res['progress']:
            fail('no progress line %r' % want, '\n'.join(res['progress']))
        if os.path.exists(state):
            fail('the state file is left after a finished upload')
        # Content-MD5 on every part lets S3 check the bytes.
        for r in proxy.matching('PUT', partNumber=None):
            if not r.headers.get('Content-MD5'):
                fail('part without Content-MD5: %r' % r)

        small = random_file('small.bin', 3000)
        res = aws(proxy.url, 'upload', 'unik-images', 'small.bin', small, state + '2')
        with open(small, 'rb') as f:
            if s3.get('unik-images', 'small.bin') != f.read():
                fail('small object differs')
        aws(proxy.url, 'delete', 'unik-images', 'images/disk.raw')
        aws(proxy.url, 'delete', 'unik-images', 'images/disk.raw')  # gone already: fine
        try:
            s3.get('unik-images', 'images/disk.raw')
            fail('the object is still there after delete')
        except Failure as e:
            if 'HTTP 404' not in e.reason:
                raise
        check_signatures(proxy)


@timeout(120)
def test_s3_bucket_created_in_region():
    data_path = random_file('disk.raw', 11 * MIB)
    with S3rver() as s3, S3Proxy(s3.url) as proxy:
        aws(proxy.url, 'upload', 'unik-eu', 'disk.raw', data_path,
            os.path.join(out_dir(), 'state'), opts=['region=eu-west-1'])
        buckets = [r for r in proxy.matching('PUT') if r.path == '/unik-eu']
        if len(buckets) != 1 or \
                b'<LocationConstraint>eu-west-1</LocationConstraint>' not in buckets[0].body:
            fail('CreateBucket outside us-east-1 needs a LocationConstraint: %r'
                 % [b.body for b in buckets])
        if '/eu-west-1/s3/' not in buckets[0].headers['Authorization']:
            fail('not signed for eu-west-1: %s' % buckets[0].headers['Authorization'])
        with open(data_path, 'rb') as f:
            if s3.get('unik-eu', 'disk.raw') != f.read():
                fail('object differs')
        check_signatures(proxy)


@timeout(180)
def test_s3_resume_after_failure_sends_only_missing_parts():
    data_path = random_file('disk.raw', 20 * MIB)
    state = os.path.join(out_dir(), 'disk.state')
    with S3rver() as s3, S3Proxy(s3.url) as proxy:
        res = aws(proxy.url, 'upload', 'unik-b', 'disk.raw', data_path, state,
                  env=tool_env(UNIK_AWS_FAIL_AFTER_PARTS=2), ok=False)
        if 'UNIK_AWS_FAIL_AFTER_PARTS' not in res.get('error', ''):
            fail('unexpected failure: %s' % res.get('error'))
        if not os.path.exists(state):
            fail('no state file after an interrupted upload')
        if part_numbers(proxy) != [1, 2]:
            fail('first run sent parts %r' % part_numbers(proxy))
        upload_id = proxy.matching('PUT', partNumber=None)[0].query['uploadId']
        n_before = len(proxy.requests)

        res = aws(proxy.url, 'upload', 'unik-b', 'disk.raw', data_path, state)
        later = proxy.requests[n_before:]
        parts = sorted(int(r.query['partNumber']) for r in later
                       if r.method == 'PUT' and 'partNumber' in r.query)
        if parts != [3, 4]:
            fail('the resumed upload sent parts %r, not [3, 4]' % parts)
        if any('uploads' in r.query for r in later):
            fail('the resumed upload started a new multipart upload')
        if any(r.query.get('uploadId') not in (None, upload_id) for r in later):
            fail('the resumed upload used another upload id')
        if not any(line.startswith('resuming the upload of disk.raw: 2 of 4 parts')
                   for line in res['progress']):
            fail('no resume line', '\n'.join(res['progress']))
        with open(data_path, 'rb') as f:
            if s3.get('unik-b', 'disk.raw') != f.read():
                fail('the resumed object differs from the file')
        if os.path.exists(state):
            fail('state file left behind')
        check_signatures(proxy)


@timeout(180)
def test_s3_resume_after_kill():
    """SIGKILL while part 3 is in flight: the next run sends parts 3 and 4 only."""
    data_path = random_file('disk.raw', 20 * MIB)
    state = os.path.join(out_dir(), 'disk.state')
    in_part3 = threading.Event()
    release = threading.Event()

    def hook(req):
        if req.method == 'PUT' and req.query.get('partNumber') == '3' and not release.is_set():
            in_part3.set()
            release.wait(60)
            return s3_error(500, 'InternalError', 'the client is gone')
        return None

    with S3rver() as s3, S3Proxy(s3.url, hook=hook) as proxy:
        p = aws(proxy.url, 'upload', 'unik-b', 'disk.raw', data_path, state, background=True)
        try:
            if not in_part3.wait(60):
                fail('the uploader never reached part 3')
            p.send_signal(signal.SIGKILL)
            p.wait(10)
        finally:
            release.set()
            if p.poll() is None:
                p.kill()
                p.wait()
        if part_numbers(proxy) != [1, 2]:
            fail('before the kill: parts %r' % part_numbers(proxy))
        n_before = len(proxy.requests)
        aws(proxy.url, 'upload', 'unik-b', 'disk.raw', data_path, state)
        parts = sorted(int(r.query['partNumber']) for r in proxy.requests[n_before:]
                       if r.method == 'PUT' and 'partNumber' in r.query)
        if parts != [3, 4]:
            fail('after the kill the upload sent parts %r, not [3, 4]' % parts)
        with open(data_path, 'rb') as f:
            if s3.get('unik-b', 'disk.raw') != f.read():
                fail('object differs')
        check_signatures(proxy)


@timeout(180)
def test_s3_resume_checks_listparts():
    """Where the server answers ListParts, a part it no longer has is sent again."""
    data_path = random_file('disk.raw', 20 * MIB)
    state = os.path.join(out_dir(), 'disk.state')
    etags = {}

    def hook(req):
        if req.method == 'GET' and 'uploadId' in req.query:
            # S3's ListParts, minus part 1, which "S3 lost".
            parts = ''.join('<Part><PartNumber>%d</PartNumber><ETag>%s</ETag><Size>1</Size>'
                            '</Part>' % (n, e) for n, e in sorted(etags.items()) if n != 1)
            body = ('<?xml version="1.0" encoding="UTF-8"?><ListPartsResult><UploadId>%s'
                    '</UploadId>%s<IsTruncated>false</IsTruncated></ListPartsResult>'
                    % (req.query['uploadId'], parts))
            return 200, {'Content-Type': 'application/xml'}, body.encode()
        return None

    with S3rver() as s3, S3Proxy(s3.url, hook=hook) as proxy:
        aws(proxy.url, 'upload', 'unik-b', 'disk.raw', data_path, state,
            env=tool_env(UNIK_AWS_FAIL_AFTER_PARTS=3), ok=False)
        import json
        with open(state) as f:
            for n, e in json.load(f)['parts'].items():
                etags[int(n)] = e
        if sorted(etags) != [1, 2, 3]:
            fail('state after 3 parts: %r' % etags)
        n_before = len(proxy.requests)
        aws(proxy.url, 'upload', 'unik-b', 'disk.raw', data_path, state)
        later = proxy.requests[n_before:]
        if not any(r.method == 'GET' and 'uploadId' in r.query for r in later):
            fail('the resumed upload did not list the parts')
        parts = sorted(int(r.query['partNumber']) for r in later
                       if r.method == 'PUT' and 'partNumber' in r.query)
        if parts != [1, 4]:
            fail('expected parts [1, 4] (1 lost, 4 never sent), got %r' % parts)
        with open(data_path, 'rb') as f:
            if s3.get('unik-b', 'disk.raw') != f.read():
                fail('object differs')
        check_signatures(proxy)


@timeout(180)
def test_s3_changed_file_starts_over():
    data_path = random_file('disk.raw', 16 * MIB)
    state = os.path.join(out_dir(), 'disk.state')
    with S3rver() as s3, S3Proxy(s3.url) as proxy:
        aws(proxy.url, 'upload', 'unik-b', 'disk.raw', data_path, state,
            env=tool_env(UNIK_AWS_FAIL_AFTER_PARTS=1), ok=False)
        old_id = proxy.matching('PUT', partNumber=None)[0].query['uploadId']
        with open(data_path, 'r+b') as f:
            f.seek(MIB)
            f.write(os.urandom(100))
        os.utime(data_path, (time.time() + 5, time.time() + 5))
        n_before = len(proxy.requests)
        aws(proxy.url, 'upload', 'unik-b', 'disk.raw', data_path, state)
        later = proxy.requests[n_before:]
        if not any(r.method == 'DELETE' and r.query.get('uploadId') == old_id for r in later):
            fail('the stale upload was not aborted')
        if not any(r.method == 'POST' and 'uploads' in r.query for r in later):
            fail('no new multipart upload for the changed file')
        parts = sorted(int(r.query['partNumber']) for r in later
                       if r.method == 'PUT' and 'partNumber' in r.query)
        if parts != [1, 2, 3, 4]:
            fail('the changed file was sent as parts %r' % parts)
        with open(data_path, 'rb') as f:
            if s3.get('unik-b', 'disk.raw') != f.read():
                fail('object differs from the changed file')
        check_signatures(proxy)


@timeout(120)
def test_s3_throttling_is_retried():
    data_path = random_file('disk.raw', 12 * MIB)
    seen = {'n': 0}

    def hook(req):
        if req.method == 'PUT' and req.query.get('partNumber') == '2' and seen['n'] < 2:
            seen['n'] += 1
            return s3_error(503, 'SlowDown', 'Please reduce your request rate.')
        return None

    with S3rver() as s3, S3Proxy(s3.url, hook=hook) as proxy:
        aws(proxy.url, 'upload', 'unik-b', 'disk.raw', data_path, os.path.join(out_dir(), 'st'))
        tries = proxy.matching('PUT', partNumber=2)
        if [r.status for r in tries] != [503, 503, 200]:
            fail('part 2: expected 503, 503, 200, got %r' % [r.status for r in tries])
        # Each try is signed afresh (a new X-Amz-Date is allowed, a stale one is not needed).
        with open(data_path, 'rb') as f:
            if s3.get('unik-b', 'disk.raw') != f.read():
                fail('object differs')
        check_signatures(proxy)


@timeout(120)
def test_throttling_gives_up_after_six_tries():
    with S3Proxy(hook=lambda req: s3_error(503, 'SlowDown', 'Please reduce your request rate.'),
                 name='slow') as proxy:
        res = aws(proxy.url, 'call', 's3', 'GET', '/unik-b/k', ok=False)
        if len(proxy.requests) != 6:
            fail('expected 6 tries, saw %d' % len(proxy.requests))
        if 'AWS S3: SlowDown: Please reduce your request rate.' not in res['error']:
            fail('message: %s' % res['error'])
        if res.get('aws_code') != 'SlowDown' or res.get('code') != 'internal':
            fail('codes: %r' % res)


@timeout(120)
def test_ec2_throttling_and_errors():
    n = {'calls': 0}

    def hook(req):
        n['calls'] += 1
        if b'Action=DescribeRegions' in req.body and n['calls'] <= 2:
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                    '<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.'
                    '</Message></Error></Errors><RequestID>r-1</RequestID></Response>')
            return 503, {'Content-Type': 'text/xml'}, body.encode()
        if b'Action=DescribeRegions' in req.body:
            return 200, {'Content-Type': 'text/xml'}, b'<DescribeRegionsResponse/>'
        if b'Action=DescribeImages' in req.body:
            body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                    "<Code>InvalidAMIID.NotFound</Code><Message>The image id '[ami-1]' does "
                    'not exist</Message></Error></Errors><RequestID>r-2</RequestID></Response>')
            return 400, {'Content-Type': 'text/xml'}, body.encode()
        return None

    with S3Proxy(hook=hook, name='ec2') as proxy:
        res = aws(proxy.url, 'call', 'ec2', 'POST', '/', '',
                  'Action=DescribeRegions&Version=2016-11-15')
        if res['status'] != '200' or n['calls'] != 3:
            fail('expected 2 throttled tries then success: %r, %d calls' % (res, n['calls']))
        res = aws(proxy.url, 'call', 'ec2', 'POST', '/', '',
                  'Action=DescribeImages&ImageId.1=ami-1&Version=2016-11-15', ok=False)
        want = "AWS EC2: InvalidAMIID.NotFound: The image id '[ami-1]' does not exist"
        if res['error'] != want or res['code'] != 'not_found':
            fail('EC2 error: %r' % res)
        if n['calls'] != 4:
            fail('a NotFound must not be retried (%d calls)' % n['calls'])
        check_signatures(proxy)


@timeout(120)
def test_expired_credentials():
    def s3_hook(req):
        return s3_error(400, 'ExpiredToken', 'The provided token has expired.')

    def ec2_hook(req):
        body = ('<Response><Errors><Error><Code>RequestExpired</Code><Message>Request has '
                'expired.</Message></Error></Errors></Response>')
        return 400, {}, body.encode()

    env = tool_env(AWS_SESSION_TOKEN='FwoGZXIvYXdzEXPIRED')
    with S3Proxy(hook=s3_hook, name='s3') as proxy:
        res = aws(proxy.url, 'call', 's3', 'GET', '/unik-b/k', env=env, ok=False)
        if res['code'] != 'forbidden':
            fail('expired token: unik code %r, expected the permission one' % res['code'])
        for want in ('ExpiredToken', 'The provided token has expired.',
                     'the AWS credentials from the environment', 'have expired', 'renew'):
            if want not in res['error']:
                fail('message lacks %r: %s' % (want, res['error']))
        if len(proxy.requests) != 1:
            fail('an expired token must not be retried (%d tries)' % len(proxy.requests))
        if proxy.requests[0].headers.get('X-Amz-Security-Token') != 'FwoGZXIvYXdzEXPIRED':
            fail('the session token was not sent')
        check_signatures(proxy)
    with S3Proxy(hook=ec2_hook, name='ec2') as proxy:
        res = aws(proxy.url, 'call', 'ec2', 'POST', '/', '',
                  'Action=DescribeInstances&Version=2016-11-15', env=env, ok=False)
        if 'RequestExpired' not in res['error'] or 'have expired' not in res['error']:
            fail('EC2 RequestExpired: %s' % res['error'])


@timeout(180)
def test_s3_upload_survives_expired_token():
    """Credentials that expire mid-upload leave it resumable: renewed, it sends the rest."""
    data_path = random_file('disk.raw', 20 * MIB)
    state = os.path.join(out_dir(), 'disk.state')

    def hook(req):
        if req.headers.get('X-Amz-Security-Token') == 'old' and \
                req.query.get('partNumber') == '3':
            return s3_error(400, 'ExpiredToken', 'The provided token has expired.')
        return None

    with S3rver() as s3, S3Proxy(s3.url, hook=hook) as proxy:
        res = aws(proxy.url, 'upload', 'unik-b', 'disk.raw', data_path, state,
                  env=tool_env(AWS_SESSION_TOKEN='old'), ok=False)
        if 'have expired' not in res['error'] or not os.path.exists(state):
            fail('expected a resumable expiry: %s' % res['error'])
        n_before = len(proxy.requests)
        aws(proxy.url, 'upload', 'unik-b', 'disk.raw', data_path, state,
            env=tool_env(AWS_SESSION_TOKEN='new'))
        parts = sorted(int(r.query['partNumber']) for r in proxy.requests[n_before:]
                       if r.method == 'PUT' and 'partNumber' in r.query)
        if parts != [3, 4]:
            fail('after renewal: parts %r' % parts)
        with open(data_path, 'rb') as f:
            if s3.get('unik-b', 'disk.raw') != f.read():
                fail('object differs')


@timeout(120)
def test_s3_rejected_part_aborts_the_upload():
    """A 4xx no retry can cure makes the upload unresumable: it is aborted and forgotten."""
    data_path = random_file('disk.raw', 12 * MIB)
    state = os.path.join(out_dir(), 'disk.state')

    def hook(req):
        if req.method == 'PUT' and req.query.get('partNumber') == '2':
            return s3_error(400, 'InvalidArgument', 'Part number must be an integer.')
        return None

    with S3rver() as s3, S3Proxy(s3.url, hook=hook) as proxy:
        res = aws(proxy.url, 'upload', 'unik-b', 'disk.raw', data_path, state, ok=False)
        if 'InvalidArgument' not in res['error'] or res['code'] != 'invalid':
            fail('error: %r' % res)
        upload_id = proxy.matching('PUT', partNumber=1)[0].query['uploadId']
        if not proxy.matching('DELETE', uploadId=upload_id):
            fail('the upload was not aborted')
        if os.path.exists(state):
            fail('the state of an aborted upload is kept')


@timeout(60)
def test_connection_refused_is_retried_then_reported():
    endpoint = 'http://127.0.0.1:%d' % free_port()
    t0 = time.time()
    res = aws(endpoint, 'call', 's3', 'GET', '/unik-b/k', ok=False,
              env=tool_env(UNIK_AWS_RETRY_BASE_MS='50'))
    if res['code'] != 'internal' or endpoint not in res['error']:
        fail('connection refused: %r' % res)
    # 5 backoffs with a 50 ms base: more than nothing, less than the default's seconds.
    if time.time() - t0 > 30:
        fail('retries took %.1f s' % (time.time() - t0))
