"""unik's SigV4 signer (providers/aws/sigv4.c) against botocore's, byte for byte: the same
requests (EC2 Query API forms, S3 PUTs with hashed and unsigned payloads, multipart parts,
query strings full of reserved characters, session tokens, awkward headers) signed at the same
fixed time with the same keys must give the same X-Amz-Date, X-Amz-Content-SHA256,
X-Amz-Security-Token and Authorization headers, canonical request and string to sign.
tests/tools/aws_sign is the door onto the C signer; botocore runs in every Python here that
has it (Debian's python3-botocore and any other)."""

import json
import os
import shutil
import subprocess
import sys

from harness import Skip, Failure, fail, build_dir, out_dir

AKID = 'AKIDEXAMPLE'
SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
TOKEN = ('IQoJb3JpZ2luX2VjEHMaCXVzLWVhc3QtMSJHMEUCIQD6+/token/with+slashes==')

# botocore's side: signs each case exactly as botocore would for a real call, at a fixed time.
BOTOCORE_SIGNER = r'''
import datetime, json, sys
from unittest import mock
import botocore.auth as A
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

out = []
for c in json.load(sys.stdin):
    fixed = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=c['time'])

    class Fixed(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

        @classmethod
        def now(cls, tz=None):
            return fixed.replace(tzinfo=tz) if tz else fixed

    url = '%s://%s%s%s' % (c.get('scheme', 'https'), c['host'], c['path'],
                           '?' + c['query'] if c['query'] else '')
    body = None if c.get('no_body') else c.get('body', '').encode('utf-8')
    req = AWSRequest(method=c['method'], url=url, data=body)
    for name, value in c['headers']:
        req.headers[name] = value  # appends: repeated names stay repeated
    creds = Credentials(c['access_key'], c['secret_key'], c.get('token'))
    if c['service'] == 's3':
        auth = A.S3SigV4Auth(creds, 's3', c['region'])
        if c.get('unsigned'):
            req.context['client_config'] = Config(s3={'payload_signing_enabled': False})
    else:
        auth = A.SigV4Auth(creds, c['service'], c['region'])
    seen = {}
    cr, sts = auth.canonical_request, auth.string_to_sign

    def canonical_request(r):
        seen['canonical_request'] = cr(r)
        return seen['canonical_request']

    def string_to_sign(r, creq):
        seen['string_to_sign'] = sts(r, creq)
        return seen['string_to_sign']

    auth.canonical_request, auth.string_to_sign = canonical_request, string_to_sign
    with mock.patch.object(A.datetime, 'datetime', Fixed):
        auth.add_auth(req)
    added = {}
    for name in ('X-Amz-Date', 'X-Amz-Security-Token', 'X-Amz-Content-SHA256', 'Authorization'):
        if name in req.headers:
            added[name.lower()] = req.headers[name]
    seen['headers'] = added
    out.append(seen)
json.dump(out, sys.stdout)
'''

T0 = 1700000000           # 2023-11-14T22:13:20Z
T1 = 1719791999           # 2024-06-30T23:59:59Z, the last second of a day
EC2_FORM = 'application/x-www-form-urlencoded; charset=utf-8'


def cases():
    def case(**kw):
        c = dict(method='GET', host='example.amazonaws.com', path='/', query='', headers=[],
                 service='s3', region='us-east-1', time=T0, access_key=AKID, secret_key=SECRET)
        c.update(kw)
        return c

    run = ('Action=RunInstances&ImageId=ami-0abcdef1234567890&InstanceType=t3.micro'
           '&MaxCount=1&MinCount=1&TagSpecification.1.ResourceType=instance'
           '&TagSpecification.1.Tag.1.Key=Name&TagSpecification.1.Tag.1.Value=unik%20hello%2Fworld'
           '&UserData=dW5payBjbWRsaW5l%2B%2F%3D&Version=2016-11-15')
    describe = ('Action=DescribeImages&Filter.1.Name=name&Filter.1.Value.1=unik-%2A'
                '&Owner.1=self&Version=2016-11-15')
    upload_id = 'VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA.x_y-z~w%2Bv'
    complete = ('<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>'
                '<ETag>"a54357aff0632cce46d942af68356b38"</ETag></Part></CompleteMultipartUpload>')
    return [
        ('ec2-run-instances',
         case(method='POST', host='ec2.us-east-1.amazonaws.com', service='ec2', body=run,
              headers=[['Content-Type', EC2_FORM]])),
        ('ec2-describe-images-token',
         case(method='POST', host='ec2.eu-west-1.amazonaws.com', service='ec2',
              region='eu-west-1', body=describe, token=TOKEN, time=T1,
              headers=[['Content-Type', EC2_FORM]])),
        ('ec2-local-endpoint',
         case(method='POST', host='127.0.0.1:8788', scheme='http', service='ec2',
              body='Action=DescribeInstances&InstanceId.1=i-0123&Version=2016-11-15',
              headers=[['Content-Type', EC2_FORM]])),
        ('ec2-path-normalized',
         case(method='GET', host='ec2.amazonaws.com', service='ec2',
              path='/a/./b//c/../d%20e/', query='Action=DescribeRegions&Version=2016-11-15',
              no_body=True)),
        ('s3-put-unsigned',
         case(method='PUT', host='unik-images.s3.us-east-1.amazonaws.com',
              path='/images/hello.raw', unsigned=True, body='0123456789' * 100,
              headers=[['Content-Type', 'application/octet-stream'],
                       ['Content-MD5', 'd41d8cd98f00b204e9800998ecf8427e']])),
        ('s3-put-hashed-path-style',
         case(method='PUT', host='127.0.0.1:4568', scheme='http',
              path='/unik-bucket/dir/disk%20image%2B1.raw', body='hello, world\n' * 50)),
        ('s3-create-multipart',
         case(method='POST', host='127.0.0.1:4568', scheme='http', path='/b/disk.raw',
              query='uploads', body='')),
        ('s3-upload-part',
         case(method='PUT', host='unik-images.s3.eu-central-1.amazonaws.com',
              region='eu-central-1', path='/disk.raw',
              query='partNumber=1&uploadId=' + upload_id, body='x' * 4096, token=TOKEN)),
        ('s3-upload-part-unsigned',
         case(method='PUT', host='unik-images.s3.us-east-1.amazonaws.com', path='/disk.raw',
              query='uploadId=' + upload_id + '&partNumber=10', body='y' * 4096,
              unsigned=True)),
        ('s3-complete-multipart',
         case(method='POST', host='127.0.0.1:4568', scheme='http', path='/b/disk.raw',
              query='uploadId=' + upload_id, body=complete,
              headers=[['Content-Type', 'application/xml']])),
        ('s3-list-reserved-query',
         case(method='GET', host='s3.us-west-2.amazonaws.com', region='us-west-2',
              path='/unik-bucket', token=TOKEN,
              query=('prefix=a%20b%2Fc&delimiter=%2F&marker=x%2By%3Dz~&empty=&list-type=2'
                     '&k=2&k=1&k=10&unicode=%C3%A9%E2%82%AC&k-a=0&ka=1&k_a=2&k.a=3&k~=4'),
              no_body=True)),
        ('s3-unicode-key',
         case(method='GET', host='127.0.0.1:4568', scheme='http',
              path='/b/caf%C3%A9/%E2%82%AC%20x~y.txt', no_body=True)),
        ('s3-headers-whitespace-and-repeats',
         case(method='PUT', host='b.s3.amazonaws.com', path='/k', body='data',
              headers=[['X-Amz-Meta-Note', '  spaced    out\tvalue  '],
                       ['x-amz-meta-list', 'one'], ['X-AMZ-META-LIST', 'two'],
                       ['User-Agent', 'unik/0.1.0'], ['Expect', '100-continue'],
                       ['Content-Type', 'text/plain']])),
        ('s3-delete-token',
         case(method='DELETE', host='b.s3.amazonaws.com', path='/a%2Bb~c/%3D', token=TOKEN,
              time=T1, no_body=True)),
        ('s3-create-bucket-region',
         case(method='PUT', host='new-bucket.s3.ap-southeast-2.amazonaws.com',
              region='ap-southeast-2', path='/',
              body=('<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                    '<LocationConstraint>ap-southeast-2</LocationConstraint>'
                    '</CreateBucketConfiguration>'))),
    ]


def signer_tool():
    p = os.path.join(build_dir(), 'tests', 'tools', 'aws_sign')
    if not os.access(p, os.X_OK):
        raise Failure('%s is missing (run make test-tools)' % p)
    return p


def botocore_pythons():
    found, seen = [], set()
    for p in ('/usr/bin/python3', sys.executable, shutil.which('python3')):
        if not p or not os.access(p, os.X_OK):
            continue
        real = os.path.realpath(p)
        if real in seen:
            continue
        seen.add(real)
        r = subprocess.run([p, '-c', 'import botocore; print(botocore.__version__)'],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if r.returncode == 0:
            found.append((p, r.stdout.strip()))
    if not found:
        raise Skip('no Python here imports botocore (apt-get install python3-botocore)')
    return found


def run_json(argv, data):
    p = subprocess.run(argv, input=json.dumps(data), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    if p.returncode != 0:
        fail('%s failed (exit %d)' % (argv[0], p.returncode), p.stderr[-3000:])
    return json.loads(p.stdout)


def test_sigv4_matches_botocore():
    named = cases()
    reqs = [c for _, c in named]
    ours = run_json([signer_tool()], reqs)
    with open(os.path.join(out_dir(), 'unik.json'), 'w') as f:
        json.dump(ours, f, indent=1)
    checked = 0
    for py, version in botocore_pythons():
        theirs = run_json([py, '-c', BOTOCORE_SIGNER], reqs)
        with open(os.path.join(out_dir(), 'botocore-%s.json' % version), 'w') as f:
            json.dump(theirs, f, indent=1)
        for (name, _), u, b in zip(named, ours, theirs):
            where = '%s (botocore %s, %s)' % (name, version, py)
            if 'error' in u:
                fail('%s: unik refused to sign: %s' % (where, u['error']))
            for part in ('canonical_request', 'string_to_sign'):
                if u[part] != b[part]:
                    fail('%s: %s differs' % (where, part),
                         'unik:\n%s\n\nbotocore:\n%s' % (u[part], b[part]))
            uh = {k.lower(): v for k, v in u['headers'].items()}
            if uh != b['headers']:
                fail('%s: signed headers differ' % where,
                     'unik:     %r\nbotocore: %r' % (uh, b['headers']))
            checked += 1
    if checked < len(reqs):
        fail('only %d requests compared' % checked)


def test_sigv4_signature_changes_with_each_input():
    """A signer that ignored an input would still match botocore where that input is fixed:
    changing any one input must change the signature."""
    base = cases()[7][1]
    variants = {
        'secret': dict(secret_key=SECRET + 'x'),
        'time': dict(time=base['time'] + 1),
        'region': dict(region='eu-west-1'),
        'path': dict(path='/disk.raw2'),
        'query': dict(query=base['query'].replace('partNumber=1', 'partNumber=2')),
        'body': dict(body='x' * 4095),
        'token': dict(token=TOKEN + 'x'),
        'method': dict(method='POST'),
        'header': dict(headers=[['Content-Type', 'a/b']]),
    }
    reqs = [base] + [dict(base, **v) for v in variants.values()]
    res = run_json([signer_tool()], reqs)
    sig = [r['headers']['Authorization'].rsplit('Signature=', 1)[1] for r in res]
    for (name, _), s in zip(variants.items(), sig[1:]):
        if s == sig[0]:
            fail('changing the %s left the signature unchanged' % name)
