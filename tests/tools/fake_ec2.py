#!/usr/bin/python3
"""A small fake of the EC2 Query API for the aws provider's tests.

Every request's SigV4 signature is checked with botocore against the known test credentials
(a mismatch answers 403 SignatureDoesNotMatch and is counted).  State lives in memory:
ImportSnapshot really reads the object from S3 (s3rver, through its HTTP API, with a signed
GET), RegisterImage/DescribeImages/DeregisterImage/DeleteSnapshot keep images and snapshots,
and RunInstances really boots the snapshot's raw disk with qemu-system-x86_64 (-M pc, TCG,
BIOS through GRUB), whose serial output GetConsoleOutput serves base64-encoded.  Security groups
(any sg-... id) keep the ingress rules of AuthorizeSecurityGroupIngress and
RevokeSecurityGroupIngress, one rule per call, with EC2's Duplicate and NotFound errors.

EBS volumes: CreateVolume (from a snapshot, in the region's zones a to f), DescribeVolumes,
AttachVolume (to a running or stopped instance in the volume's zone, as /dev/sd[f-p] or
/dev/xvd[f-p]), DetachVolume and DeleteVolume, with EC2's states (creating -> available ->
in-use, attachments attaching -> attached -> detaching) settling after --settle-delay, and its
errors (InvalidVolume.NotFound, IncorrectState, VolumeInUse, InvalidVolume.ZoneMismatch, ...).
A terminated instance's volumes are detached.  The volumes are bookkeeping only: QEMU boots
without them (the guest has no NVMe or blkfront driver).

Control endpoints (unsigned), for tests:
  POST /_fake/throttle?action=NAME&count=N   the next N calls of NAME answer RequestLimitExceeded
  POST /_fake/fail?action=NAME&code=C&message=M[&skip=K][&count=N]
                                             after K calls, the next N calls of NAME answer
                                             error C (HTTP 400) with message M
  POST /_fake/expire?on=1|0                  reject the session token as expired (RequestExpired)
  GET  /_fake/stats                          JSON: calls, throttled, signature failures, imports
Prints "listening on PORT" once it accepts requests.
"""

import argparse
import base64
import datetime
import hashlib
import ipaddress
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

NS = 'http://ec2.amazonaws.com/doc/2016-11-15/'
SIGV4_TIMESTAMP = '%Y%m%dT%H%M%SZ'

# Instance types the fake knows, with their memory in MiB (QEMU gets at most --max-mem).
INSTANCE_TYPES = {
    't3.nano': 512, 't3.micro': 1024, 't3.small': 2048, 't3.medium': 4096, 't3.large': 8192,
    't3.xlarge': 16384, 't3.2xlarge': 32768, 'm5.large': 8192, 'm5.xlarge': 16384,
    'm5.2xlarge': 32768, 'm5.4xlarge': 65536, 'm5.8xlarge': 131072, 'm5.12xlarge': 196608,
    'm5.16xlarge': 262144, 'm5.24xlarge': 393216,
}

CONSOLE_MAX = 64 * 1024


def esc(s):
    return (str(s).replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
            .replace('"', '&quot;'))


def xml_of(obj, indent='  '):
    """Serialises nested (tag, value) lists: value is a str, a list of pairs, or None."""
    out = []
    for tag, val in obj:
        if val is None:
            continue
        if isinstance(val, list):
            out.append('%s<%s>\n%s%s</%s>' % (indent, tag, xml_of(val, indent + '  '), indent,
                                              tag))
        else:
            out.append('%s<%s>%s</%s>' % (indent, tag, esc(val), tag))
    return ''.join(o + '\n' for o in out)


class ApiError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(kind, what):
    return ApiError(400, 'Invalid%s.NotFound' % kind, "The %s '%s' does not exist" % (
        {'AMIID': 'image id', 'InstanceID': 'instance ID', 'Snapshot': 'snapshot',
         'ImportTaskId': 'import task', 'Volume': 'volume'}.get(kind, kind), what))


class StampedSigV4(SigV4Auth):
    """botocore's SigV4 with the signing time taken from the request rather than the clock."""

    def sign_at(self, request, timestamp):
        request.context['timestamp'] = timestamp
        self._modify_request_before_signing(request)
        canonical = self.canonical_request(request)
        sts = self.string_to_sign(request, canonical)
        self._inject_signature_to_request(request, self.signature(sts, request))
        return canonical


class Fake:
    def __init__(self, args):
        self.args = args
        self.lock = threading.RLock()
        self.calls = {}
        self.call_times = {}
        self.throttle = {}
        self.throttled = {}
        self.sig_failures = []
        self.expired = False
        self.tasks = {}
        self.snapshots = {}
        self.images = {}
        self.instances = {}
        self.groups = {}  # security group id -> {(proto, from, to, cidr): description}
        self.volumes = {}
        self.failures = {}  # action -> {skip, count, code, message}
        self.seq = 0
        os.makedirs(args.data_dir, exist_ok=True)

    def new_id(self, prefix):
        return '%s-%s' % (prefix, secrets.token_hex(8) + '0')

    def log(self, msg):
        sys.stderr.write('fake_ec2: %s\n' % msg)
        sys.stderr.flush()

    # ---- signatures ------------------------------------------------------------------------

    def check_signature(self, method, path, headers, body):
        auth = headers.get('Authorization', '')
        if not auth.startswith('AWS4-HMAC-SHA256 '):
            raise ApiError(401, 'AuthFailure', 'AWS was not able to validate the provided '
                           'access credentials')
        fields = {}
        for part in auth[len('AWS4-HMAC-SHA256 '):].split(','):
            k, _, v = part.strip().partition('=')
            fields[k] = v
        cred = fields.get('Credential', '').split('/')
        signed = fields.get('SignedHeaders', '').split(';')
        amz_date = headers.get('X-Amz-Date', '')
        if len(cred) != 5 or cred[0] != self.args.access_key:
            raise ApiError(401, 'AuthFailure', 'AWS was not able to validate the provided '
                           'access credentials')
        if cred[2] != self.args.region or cred[3] != 'ec2' or cred[4] != 'aws4_request' or \
                cred[1] != amz_date[:8]:
            raise ApiError(403, 'SignatureDoesNotMatch', 'Credential should be scoped to a '
                           'valid region, service ec2 and the request date: %s' %
                           fields.get('Credential'))
        try:
            when = datetime.datetime.strptime(amz_date, SIGV4_TIMESTAMP)
        except ValueError:
            raise ApiError(400, 'IncompleteSignature', 'X-Amz-Date is missing or malformed')
        skew = abs((datetime.datetime.utcnow() - when).total_seconds())
        if skew > 300:
            raise ApiError(400, 'RequestExpired', 'Request has expired.')
        for h in ('host', 'x-amz-date'):
            if h not in signed:
                raise ApiError(403, 'SignatureDoesNotMatch', 'SignedHeaders lacks %s' % h)
        token = headers.get('X-Amz-Security-Token')
        if self.args.session_token:
            if token != self.args.session_token:
                raise ApiError(401, 'AuthFailure', 'The security token included in the '
                               'request is invalid')
            if 'x-amz-security-token' not in signed:
                raise ApiError(403, 'SignatureDoesNotMatch', 'the session token is not signed')
        # Rebuild the request from what was received, with only the headers the client signed,
        # and sign it with botocore at the client's own time.
        hdrs = {}
        for name in signed:
            if name == 'x-amz-security-token':
                continue  # botocore adds it from the credentials
            val = headers.get(name)
            if val is None:
                raise ApiError(403, 'SignatureDoesNotMatch', 'signed header %s is missing' %
                               name)
            hdrs[name] = val
        url = 'http://%s%s' % (headers.get('Host', ''), path)
        req = AWSRequest(method=method, url=url, headers=hdrs, data=body)
        creds = Credentials(self.args.access_key, self.args.secret_key,
                            token or None)
        canonical = StampedSigV4(creds, 'ec2', self.args.region).sign_at(req, amz_date)
        want = req.headers['Authorization']
        if want != auth:
            detail = 'got %r, botocore computed %r; canonical request:\n%s' % (
                auth, want, canonical)
            with self.lock:
                self.sig_failures.append(detail)
            self.log('signature mismatch: ' + detail)
            raise ApiError(403, 'SignatureDoesNotMatch', 'The request signature we calculated '
                           'does not match the signature you provided. Check your AWS Secret '
                           'Access Key and signing method.')
        if self.expired:
            raise ApiError(400, 'RequestExpired', 'Request has expired.')

    # ---- S3 -------------------------------------------------------------------------------

    def s3_get(self, bucket, key, dest):
        url = '%s/%s/%s' % (self.args.s3_endpoint.rstrip('/'), urllib.parse.quote(bucket),
                            urllib.parse.quote(key))
        req = AWSRequest(method='GET', url=url, data=b'')
        creds = Credentials(self.args.access_key, self.args.secret_key,
                            self.args.session_token or None)
        S3SigV4Auth(creds, 's3', self.args.region).add_auth(req)
        r = urllib.request.Request(url, headers=dict(req.headers.items()), method='GET')
        h = hashlib.sha256()
        size = 0
        with urllib.request.urlopen(r, timeout=60) as resp, open(dest, 'wb') as f:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
                f.write(chunk)
                size += len(chunk)
        return size, h.hexdigest()

    # ---- import tasks ---------------------------------------------------------------------

    def run_import(self, task):
        d = self.args.import_delay
        try:
            for pct, msg in (('5', 'pending'), ('28', 'downloading/converting')):
                time.sleep(d)
                with self.lock:
                    task['progress'], task['message'] = pct, msg
            snap = self.new_id('snap')
            path = os.path.join(self.args.data_dir, snap + '.raw')
            size, digest = self.s3_get(task['bucket'], task['key'], path)
            if size == 0 or size % 512:
                raise ValueError('the disk image is %d bytes, not a whole number of sectors' %
                                 size)
            with self.lock:
                task['progress'], task['message'] = '77', 'validated'
            time.sleep(d)
            with self.lock:
                self.snapshots[snap] = {'path': path, 'size': size, 'sha256': digest,
                                        'bucket': task['bucket'], 'key': task['key']}
                task.update(status='completed', progress=None, message=None, snapshot=snap,
                            size=str(size))
            self.log('import %s completed: %s (%d bytes, sha256 %s)' % (task['id'], snap,
                                                                         size, digest))
        except Exception as e:  # noqa: the task records any failure, as EC2 does
            with self.lock:
                task.update(status='deleted', progress=None,
                            message='ClientError: Unable to read the disk image from S3: %s' % e)
            self.log('import %s failed: %s' % (task['id'], e))

    # ---- EBS volumes ----------------------------------------------------------------------

    def now_iso(self):
        return datetime.datetime.utcnow().strftime('%Y-%m-%dT%H:%M:%S.000Z')

    def vol_refresh(self, v):
        t = time.monotonic()
        if v['state'] == 'creating' and t >= v['settle_at']:
            v['state'] = 'available'
        a = v['attach']
        if a and a['state'] == 'attaching' and t >= a['settle_at']:
            a['state'] = 'attached'
        if a and a['state'] == 'detaching' and t >= a['settle_at']:
            v['attach'] = None
            v['state'] = 'available'

    def vol(self, vid):
        v = self.volumes.get(vid)
        if not v:
            raise not_found('Volume', vid)
        self.vol_refresh(v)
        return v

    def vol_xml(self, v):
        a = v['attach']
        att = None
        if a:
            att = [('item', [('volumeId', v['id']), ('instanceId', a['instance']),
                             ('device', a['device']), ('status', a['state']),
                             ('attachTime', a['time']), ('deleteOnTermination', 'false')])]
        return [('volumeId', v['id']), ('size', str(v['size'])), ('snapshotId', v['snapshot']),
                ('availabilityZone', v['zone']), ('status', v['state']),
                ('createTime', v['created']), ('attachmentSet', att or ''),
                ('tagSet', [('item', [('key', k), ('value', val)])
                            for k, val in v['tags'].items()] or ''),
                ('volumeType', v['type']), ('encrypted', 'false'),
                ('multiAttachEnabled', 'false')]

    def do_CreateVolume(self, p):
        zone = self.need(p, 'AvailabilityZone')
        snap = p.get('SnapshotId')
        vtype = p.get('VolumeType', 'gp2')
        if vtype not in ('standard', 'io1', 'io2', 'gp2', 'gp3', 'sc1', 'st1'):
            raise ApiError(400, 'InvalidParameterValue', "Value (%s) for parameter volumeType "
                           "is invalid." % vtype)
        if zone not in [self.args.region + z for z in 'abcdef']:
            raise ApiError(400, 'InvalidParameterValue', 'Invalid availability zone: [%s]' %
                           zone)
        tags = {}
        i = 1
        while 'TagSpecification.1.Tag.%d.Key' % i in p:
            tags[p['TagSpecification.1.Tag.%d.Key' % i]] = \
                p.get('TagSpecification.1.Tag.%d.Value' % i, '')
            i += 1
        if tags and p.get('TagSpecification.1.ResourceType') != 'volume':
            raise ApiError(400, 'InvalidParameterValue', "'%s' is not a valid taggable "
                           "resource type for this operation." %
                           p.get('TagSpecification.1.ResourceType'))
        gib = 1 << 30
        with self.lock:
            if snap:
                if snap not in self.snapshots:
                    raise not_found('Snapshot', snap)
                min_size = (self.snapshots[snap]['size'] + gib - 1) // gib
            elif 'Size' not in p:
                raise ApiError(400, 'MissingParameter', 'The request must contain the '
                               'parameter size or snapshotId')
            else:
                min_size = 1
            size = int(p.get('Size', min_size))
            if size < min_size:
                raise ApiError(400, 'InvalidParameterValue', 'The volume size is invalid for '
                               'the given snapshot.')
            vid = self.new_id('vol')
            v = {'id': vid, 'size': size, 'snapshot': snap or '', 'zone': zone,
                 'state': 'creating', 'created': self.now_iso(), 'attach': None,
                 'tags': tags, 'type': vtype,
                 'settle_at': time.monotonic() + self.args.settle_delay}
            self.volumes[vid] = v
            out = self.vol_xml(v)
        return [kv for kv in out if kv[0] not in ('attachmentSet', 'tagSet')]

    def do_DescribeVolumes(self, p):
        ids = self.ids(p, 'VolumeId')
        with self.lock:
            vols = [self.vol(i) for i in ids] if ids else \
                [self.vol(i) for i in list(self.volumes)]
            items = [('item', self.vol_xml(v)) for v in vols]
        return [('volumeSet', items or '')]

    def do_AttachVolume(self, p):
        vid = self.need(p, 'VolumeId')
        iid = self.need(p, 'InstanceId')
        dev = self.need(p, 'Device')
        if not re.fullmatch(r'/dev/(sd|xvd)[f-p]', dev):
            raise ApiError(400, 'InvalidParameterValue', 'Value (%s) for parameter device is '
                           'invalid. %s is not a valid EBS device name.' % (dev, dev))
        with self.lock:
            v = self.vol(vid)
            inst = self.find(iid)
            self.refresh(inst)
            if v['attach']:
                raise ApiError(400, 'VolumeInUse', '%s is already attached to an instance' %
                               vid)
            if v['state'] != 'available':
                raise ApiError(400, 'IncorrectState', "%s is not 'available'." % vid)
            if inst['state'] not in ('running', 'stopped'):
                raise ApiError(400, 'IncorrectState', "Instance '%s' is not 'running'." % iid)
            if v['zone'] != self.args.region + 'a':
                raise ApiError(400, 'InvalidVolume.ZoneMismatch', "The volume '%s' is not in "
                               "the same availability zone as instance '%s'" % (vid, iid))
            for o in self.volumes.values():
                if o['attach'] and o['attach']['instance'] == iid and \
                        o['attach']['device'] == dev:
                    raise ApiError(400, 'InvalidParameterValue', "Invalid value '%s' for "
                                   "unixDevice. Attachment point %s is already in use" %
                                   (dev, dev))
            v['attach'] = {'instance': iid, 'device': dev, 'state': 'attaching',
                           'time': self.now_iso(),
                           'settle_at': time.monotonic() + self.args.settle_delay}
            v['state'] = 'in-use'
            a = v['attach']
        return [('volumeId', vid), ('instanceId', iid), ('device', dev),
                ('status', a['state']), ('attachTime', a['time'])]

    def detach(self, v):
        v['attach']['state'] = 'detaching'
        v['attach']['settle_at'] = time.monotonic() + self.args.settle_delay

    def do_DetachVolume(self, p):
        vid = self.need(p, 'VolumeId')
        with self.lock:
            v = self.vol(vid)
            a = v['attach']
            if not a or a['state'] == 'detaching':
                raise ApiError(400, 'IncorrectState', "Volume '%s' is in the '%s' state." %
                               (vid, v['state']))
            if p.get('InstanceId') and p['InstanceId'] != a['instance']:
                raise ApiError(400, 'InvalidAttachment.NotFound', 'Volume %s can not be '
                               'detached from %s because it is not attached' %
                               (vid, p['InstanceId']))
            self.detach(v)
        return [('volumeId', vid), ('instanceId', a['instance']), ('device', a['device']),
                ('status', 'detaching'), ('attachTime', a['time'])]

    def do_DeleteVolume(self, p):
        vid = self.need(p, 'VolumeId')
        with self.lock:
            v = self.vol(vid)
            if v['attach']:
                raise ApiError(400, 'VolumeInUse', 'Volume %s is currently attached to %s' %
                               (vid, v['attach']['instance']))
            if v['state'] != 'available':
                raise ApiError(400, 'IncorrectState', "The volume '%s' is '%s'." %
                               (vid, v['state']))
            del self.volumes[vid]
        return [('return', 'true')]

    # ---- instances ------------------------------------------------------------------------

    def boot(self, inst):
        """Starts QEMU on the instance's image (its root snapshot, copy-on-write)."""
        img = self.images[inst['image']]
        snap = self.snapshots[img['snapshot']]
        inst['boots'] += 1
        console = os.path.join(self.args.data_dir, '%s-%d.console' % (inst['id'],
                                                                     inst['boots']))
        open(console, 'wb').close()
        mem = min(INSTANCE_TYPES[inst['type']], self.args.max_mem)
        cmd = [self.args.qemu, '-M', 'pc', '-accel', 'tcg', '-cpu', 'max', '-m', '%dM' % mem,
               '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
               '-device', 'isa-debug-exit,iobase=0xf4,iosize=4',
               '-drive', 'file=%s,format=raw,if=ide,snapshot=on' % snap['path'],
               '-serial', 'file:' + console]
        with open(console + '.cmd', 'w') as f:
            f.write(' '.join(cmd) + '\n')
        errf = open(console + '.err', 'wb')
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf,
                             start_new_session=True)
        errf.close()
        inst.update(proc=p, console=console, state='pending', reason=None,
                    pending_until=time.monotonic() + self.args.pending_delay)
        threading.Thread(target=self.watch, args=(inst, p), daemon=True).start()
        self.log('%s: boot %d, qemu pid %d' % (inst['id'], inst['boots'], p.pid))

    def watch(self, inst, p):
        rc = p.wait()
        with self.lock:
            if inst.get('proc') is not p:
                return
            inst['proc'] = None
            self.log('%s: qemu exited with %d' % (inst['id'], rc))
            if inst['state'] in ('pending', 'running'):
                # The guest powered itself off: EC2 stops an instance whose shutdown behaviour
                # is "stop".
                inst['state'] = 'stopped'
                inst['reason'] = ('Client.InstanceInitiatedShutdown',
                                  'Client.InstanceInitiatedShutdown: Instance initiated '
                                  'shutdown')

    def kill(self, inst, force):
        p = inst.get('proc')
        inst['proc'] = None
        if p and p.poll() is None:
            p.send_signal(signal.SIGKILL if force else signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def refresh(self, inst):
        if inst['state'] == 'pending' and time.monotonic() >= inst['pending_until']:
            inst['state'] = 'running'
        if inst['state'] in ('stopping', 'shutting-down') and \
                time.monotonic() >= inst['settle_at']:
            inst['state'] = 'stopped' if inst['state'] == 'stopping' else 'terminated'

    def shutdown(self):
        with self.lock:
            for inst in self.instances.values():
                self.kill(inst, True)

    # ---- actions --------------------------------------------------------------------------

    def handle(self, action, p):
        fn = getattr(self, 'do_' + action, None)
        if not fn:
            raise ApiError(400, 'InvalidAction', 'The action %s is not valid for this web '
                           'service.' % action)
        return fn(p)

    def need(self, p, name):
        v = p.get(name)
        if v is None or v == '':
            raise ApiError(400, 'MissingParameter', 'The request must contain the parameter '
                           '%s' % name)
        return v

    def ids(self, p, prefix):
        out = []
        i = 1
        while '%s.%d' % (prefix, i) in p:
            out.append(p['%s.%d' % (prefix, i)])
            i += 1
        return out

    def do_ImportSnapshot(self, p):
        if self.need(p, 'DiskContainer.Format').upper() != 'RAW':
            raise ApiError(400, 'InvalidParameter', 'this fake imports RAW disks only')
        bucket = self.need(p, 'DiskContainer.UserBucket.S3Bucket')
        key = self.need(p, 'DiskContainer.UserBucket.S3Key')
        tid = self.new_id('import-snap')
        task = {'id': tid, 'bucket': bucket, 'key': key, 'status': 'active', 'progress': '0',
                'message': 'pending', 'description': p.get('Description', ''),
                'snapshot': None, 'size': None}
        with self.lock:
            self.tasks[tid] = task
        threading.Thread(target=self.run_import, args=(task,), daemon=True).start()
        return [('description', task['description']), ('importTaskId', tid),
                ('snapshotTaskDetail', self.task_detail(task))]

    def task_detail(self, t):
        return [('diskImageSize', t['size']), ('format', 'RAW'), ('progress', t['progress']),
                ('snapshotId', t['snapshot']), ('status', t['status']),
                ('statusMessage', t['message']),
                ('userBucket', [('s3Bucket', t['bucket']), ('s3Key', t['key'])])]

    def do_DescribeImportSnapshotTasks(self, p):
        ids = self.ids(p, 'ImportTaskId')
        items = []
        with self.lock:
            for tid in ids or list(self.tasks):
                t = self.tasks.get(tid)
                if not t:
                    raise ApiError(400, 'InvalidConversionTaskId.Malformed',
                                   "The import task ID '%s' is malformed or unknown" % tid)
                items.append(('item', [('description', t['description']),
                                       ('importTaskId', tid),
                                       ('snapshotTaskDetail', self.task_detail(t))]))
        return [('importSnapshotTaskSet', items)]

    def do_RegisterImage(self, p):
        name = self.need(p, 'Name')
        want = {'Architecture': 'x86_64', 'VirtualizationType': 'hvm', 'BootMode': 'legacy-bios',
                'EnaSupport': 'true', 'RootDeviceName': '/dev/xvda',
                'BlockDeviceMapping.1.DeviceName': '/dev/xvda'}
        for k, v in want.items():
            if p.get(k) != v:
                raise ApiError(400, 'InvalidParameterValue', 'Value (%s) for parameter %s is '
                               'not what unik must send (%s)' % (p.get(k), k, v))
        snap = self.need(p, 'BlockDeviceMapping.1.Ebs.SnapshotId')
        with self.lock:
            if snap not in self.snapshots:
                raise not_found('Snapshot', snap)
            if any(i['name'] == name for i in self.images.values()):
                raise ApiError(400, 'InvalidAMIName.Duplicate', 'AMI name %s is already in '
                               'use by an AMI' % name)
            ami = self.new_id('ami')
            self.images[ami] = {'id': ami, 'name': name, 'snapshot': snap,
                                'description': p.get('Description', '')}
        return [('imageId', ami)]

    def do_DescribeImages(self, p):
        ids = self.ids(p, 'ImageId')
        items = []
        with self.lock:
            for ami in ids:
                if ami not in self.images:
                    raise not_found('AMIID', ami)
            for ami in ids or list(self.images):
                img = self.images[ami]
                items.append(('item', [
                    ('imageId', ami), ('imageState', 'available'), ('name', img['name']),
                    ('architecture', 'x86_64'), ('bootMode', 'legacy-bios'),
                    ('rootDeviceName', '/dev/xvda'), ('rootDeviceType', 'ebs'),
                    ('virtualizationType', 'hvm'), ('enaSupport', 'true'),
                    ('blockDeviceMapping', [('item', [
                        ('deviceName', '/dev/xvda'),
                        ('ebs', [('snapshotId', img['snapshot'])])])])]))
        return [('imagesSet', items)]

    def do_DeregisterImage(self, p):
        ami = self.need(p, 'ImageId')
        with self.lock:
            if ami not in self.images:
                raise not_found('AMIID', ami)
            del self.images[ami]
        return [('return', 'true')]

    def do_DeleteSnapshot(self, p):
        snap = self.need(p, 'SnapshotId')
        with self.lock:
            if snap not in self.snapshots:
                raise not_found('Snapshot', snap)
            for img in self.images.values():
                if img['snapshot'] == snap:
                    raise ApiError(400, 'InvalidSnapshot.InUse', 'The snapshot %s is currently '
                                   'in use by %s' % (snap, img['id']))
            s = self.snapshots.pop(snap)
        try:
            os.unlink(s['path'])
        except OSError:
            pass
        return [('return', 'true')]

    def instance_xml(self, inst):
        self.refresh(inst)
        codes = {'pending': 0, 'running': 16, 'shutting-down': 32, 'terminated': 48,
                 'stopping': 64, 'stopped': 80}
        out = [('instanceId', inst['id']), ('imageId', inst['image']),
               ('instanceState', [('code', str(codes[inst['state']])),
                                  ('name', inst['state'])]),
               ('privateDnsName', 'ip-%s.ec2.internal' % inst['ip'].replace('.', '-')),
               ('instanceType', inst['type']),
               ('placement', [('availabilityZone', self.args.region + 'a')]),
               ('privateIpAddress', inst['ip'] if inst['state'] != 'terminated' else None),
               ('tagSet', [('item', [('key', k), ('value', v)])
                           for k, v in inst['tags'].items()])]
        if inst['reason']:
            out.append(('stateReason', [('code', inst['reason'][0]),
                                        ('message', inst['reason'][1])]))
        if inst.get('subnet'):
            out.append(('subnetId', inst['subnet']))
        if inst.get('key_name'):
            out.append(('keyName', inst['key_name']))
        return out

    def do_RunInstances(self, p):
        ami = self.need(p, 'ImageId')
        itype = p.get('InstanceType', 'm1.small')
        if p.get('MinCount') != '1' or p.get('MaxCount') != '1':
            raise ApiError(400, 'InvalidParameterValue', 'unik runs one instance per call')
        if itype not in INSTANCE_TYPES:
            raise ApiError(400, 'InvalidParameterValue', "Invalid value '%s' for "
                           "InstanceType." % itype)
        tags = {}
        i = 1
        while 'TagSpecification.1.Tag.%d.Key' % i in p:
            tags[p['TagSpecification.1.Tag.%d.Key' % i]] = \
                p.get('TagSpecification.1.Tag.%d.Value' % i, '')
            i += 1
        if tags and p.get('TagSpecification.1.ResourceType') != 'instance':
            raise ApiError(400, 'InvalidParameterValue', 'tags must be for instances here')
        with self.lock:
            if ami not in self.images:
                raise not_found('AMIID', ami)
            self.seq += 1
            inst = {'id': self.new_id('i'), 'image': ami, 'type': itype, 'tags': tags,
                    'ip': '10.0.0.%d' % (10 + self.seq), 'state': 'pending', 'reason': None,
                    'boots': 0, 'proc': None, 'subnet': p.get('SubnetId'),
                    'key_name': p.get('KeyName'), 'groups': self.ids(p, 'SecurityGroupId'),
                    'user_data': p.get('UserData'),
                    'shutdown': p.get('InstanceInitiatedShutdownBehavior', 'stop')}
            self.instances[inst['id']] = inst
            self.boot(inst)
            item = self.instance_xml(inst)
        return [('reservationId', self.new_id('r')), ('ownerId', '123456789012'),
                ('instancesSet', [('item', item)])]

    # ---- security groups: any sg-... id exists, with no rules at first ----

    def permission(self, p):
        group = self.need(p, 'GroupId')
        if not group.startswith('sg-'):
            raise ApiError(400, 'InvalidGroupId.Malformed', 'Invalid id: "%s" (expecting '
                           '"sg-...")' % group)
        if 'IpPermissions.2.IpProtocol' in p or 'IpPermissions.1.IpRanges.2.CidrIp' in p:
            raise ApiError(400, 'InvalidParameterValue', 'this fake takes one rule per call')
        proto = self.need(p, 'IpPermissions.1.IpProtocol')
        if proto not in ('tcp', 'udp'):
            raise ApiError(400, 'InvalidParameterValue', 'Invalid value for portRange')
        lo, hi = int(self.need(p, 'IpPermissions.1.FromPort')), \
            int(self.need(p, 'IpPermissions.1.ToPort'))
        if not 0 <= lo <= hi <= 65535:
            raise ApiError(400, 'InvalidParameterValue', 'Invalid value for portRange')
        cidr = self.need(p, 'IpPermissions.1.IpRanges.1.CidrIp')
        try:
            ipaddress.IPv4Network(cidr)
        except ValueError:
            raise ApiError(400, 'InvalidParameterValue', 'CIDR block %s is malformed' % cidr)
        return group, (proto, lo, hi, cidr)

    def do_AuthorizeSecurityGroupIngress(self, p):
        group, rule = self.permission(p)
        with self.lock:
            rules = self.groups.setdefault(group, {})
            if rule in rules:
                raise ApiError(400, 'InvalidPermission.Duplicate', 'the specified rule '
                               '"peer: %s, %s, from port: %d, to port: %d, ALLOW" already '
                               'exists' % (rule[3], rule[0].upper(), rule[1], rule[2]))
            rules[rule] = p.get('IpPermissions.1.IpRanges.1.Description', '')
        return [('return', 'true')]

    def do_RevokeSecurityGroupIngress(self, p):
        group, rule = self.permission(p)
        with self.lock:
            rules = self.groups.get(group, {})
            if rule not in rules:
                raise ApiError(400, 'InvalidPermission.NotFound', 'The specified rule does '
                               'not exist in this security group.')
            del rules[rule]
        return [('return', 'true')]

    def find(self, iid):
        inst = self.instances.get(iid)
        if not inst:
            raise not_found('InstanceID', iid)
        return inst

    def do_DescribeInstances(self, p):
        ids = self.ids(p, 'InstanceId')
        with self.lock:
            insts = [self.find(i) for i in ids] if ids else list(self.instances.values())
            items = [('item', self.instance_xml(i)) for i in insts]
        return [('reservationSet', [('item', [('reservationId', 'r-0'),
                                              ('ownerId', '123456789012'),
                                              ('instancesSet', items)])])]

    def do_GetConsoleOutput(self, p):
        iid = self.need(p, 'InstanceId')
        with self.lock:
            inst = self.find(iid)
            console = inst.get('console')
        data = b''
        if console and os.path.exists(console):
            with open(console, 'rb') as f:
                data = f.read()
        data = data[-CONSOLE_MAX:]
        return [('instanceId', iid),
                ('timestamp', datetime.datetime.utcnow().strftime('%Y-%m-%dT%H:%M:%S.000Z')),
                ('output', base64.b64encode(data).decode() if data else None)]

    def change(self, p, fn):
        ids = self.ids(p, 'InstanceId')
        if not ids:
            raise ApiError(400, 'MissingParameter', 'The request must contain the parameter '
                           'InstanceId')
        items = []
        with self.lock:
            insts = [self.find(i) for i in ids]
            for inst in insts:
                self.refresh(inst)
                prev = inst['state']
                fn(inst)
                items.append(('item', [('instanceId', inst['id']),
                                       ('currentState', [('name', inst['state'])]),
                                       ('previousState', [('name', prev)])]))
        return [('instancesSet', items)]

    def do_StopInstances(self, p):
        force = p.get('Force') == 'true'

        def stop(inst):
            if inst['state'] == 'terminated' or inst['state'] == 'shutting-down':
                raise ApiError(400, 'IncorrectInstanceState', "This instance '%s' is not in a "
                               "state from which it can be stopped." % inst['id'])
            if inst['state'] in ('pending', 'running'):
                self.kill(inst, force)
                inst['state'] = 'stopping'
                inst['settle_at'] = time.monotonic() + self.args.settle_delay
                inst['reason'] = ('Client.UserInitiatedShutdown',
                                  'Client.UserInitiatedShutdown: User initiated shutdown')
        return self.change(p, stop)

    def do_StartInstances(self, p):
        def start(inst):
            if inst['state'] in ('pending', 'running'):
                return
            if inst['state'] != 'stopped':
                raise ApiError(400, 'IncorrectInstanceState', "The instance '%s' is not in a "
                               "state from which it can be started." % inst['id'])
            self.boot(inst)
        return self.change(p, start)

    def do_TerminateInstances(self, p):
        def term(inst):
            if inst['state'] in ('terminated', 'shutting-down'):
                return
            self.kill(inst, True)
            for v in self.volumes.values():
                self.vol_refresh(v)
                if v['attach'] and v['attach']['instance'] == inst['id'] and \
                        v['attach']['state'] != 'detaching':
                    self.detach(v)
            inst['state'] = 'shutting-down'
            inst['settle_at'] = time.monotonic() + self.args.settle_delay
            inst['reason'] = ('Client.UserInitiatedShutdown',
                              'Client.UserInitiatedShutdown: User initiated shutdown')
        return self.change(p, term)

    # ---- control --------------------------------------------------------------------------

    def stats(self):
        with self.lock:
            for inst in self.instances.values():
                self.refresh(inst)
            for v in self.volumes.values():
                self.vol_refresh(v)
            return {'calls': self.calls, 'call_times': self.call_times,
                    'throttled': self.throttled,
                    'signature_failures': self.sig_failures, 'expired': self.expired,
                    'tasks': {k: {kk: vv for kk, vv in v.items()} for k, v in
                              self.tasks.items()},
                    'snapshots': self.snapshots,
                    'images': self.images,
                    'volumes': {k: {'state': v['state'], 'zone': v['zone'],
                                    'snapshot': v['snapshot'], 'size': v['size'],
                                    'tags': v['tags'], 'type': v['type'],
                                    'attach': {kk: vv for kk, vv in v['attach'].items()
                                               if kk != 'settle_at'} if v['attach'] else None}
                                for k, v in self.volumes.items()},
                    'groups': {g: sorted('%s:%d-%d:%s:%s' % (r + (d,)) for r, d in
                                         rules.items())
                               for g, rules in self.groups.items()},
                    'instances': {k: {'state': v['state'], 'type': v['type'],
                                      'tags': v['tags'], 'boots': v['boots'],
                                      'image': v['image'], 'subnet': v['subnet'],
                                      'key_name': v['key_name'], 'groups': v['groups'],
                                      'user_data': v['user_data'], 'shutdown': v['shutdown'],
                                      'console': v.get('console')}
                                  for k, v in self.instances.items()}}


def make_handler(fake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, fmt, *a):
            fake.log('%s %s' % (self.address_string(), fmt % a))

        def reply(self, status, body, ctype='text/xml;charset=UTF-8'):
            data = body.encode()
            self.send_response(status)
            self.send_header('Content-Type', ctype)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def error(self, e):
            rid = secrets.token_hex(16)
            self.reply(e.status, '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors>'
                       '<Error><Code>%s</Code><Message>%s</Message></Error></Errors>'
                       '<RequestID>%s</RequestID></Response>' % (esc(e.code), esc(e.message),
                                                                  rid))

        def body(self):
            n = int(self.headers.get('Content-Length') or 0)
            return self.rfile.read(n) if n else b''

        def control(self, url):
            q = dict(urllib.parse.parse_qsl(url.query))
            if url.path == '/_fake/stats':
                return self.reply(200, json.dumps(fake.stats(), default=str),
                                  'application/json')
            if url.path == '/_fake/throttle':
                with fake.lock:
                    fake.throttle[q['action']] = int(q.get('count', '1'))
                return self.reply(200, '{}', 'application/json')
            if url.path == '/_fake/fail':
                with fake.lock:
                    fake.failures[q['action']] = {
                        'skip': int(q.get('skip', '0')), 'count': int(q.get('count', '1')),
                        'code': q.get('code', 'InternalError'),
                        'message': q.get('message', 'failed on purpose')}
                return self.reply(200, '{}', 'application/json')
            if url.path == '/_fake/expire':
                with fake.lock:
                    fake.expired = q.get('on', '1') == '1'
                return self.reply(200, '{}', 'application/json')
            return self.reply(404, '{"error": "no such control"}', 'application/json')

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path.startswith('/_fake/'):
                return self.control(url)
            self.error(ApiError(400, 'InvalidAction', 'use POST with a form body'))

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            body = self.body()
            if url.path.startswith('/_fake/'):
                return self.control(url)
            try:
                fake.check_signature('POST', self.path, self.headers, body)
                ctype = self.headers.get('Content-Type', '')
                if not ctype.startswith('application/x-www-form-urlencoded'):
                    raise ApiError(400, 'InvalidParameterValue', 'Content-Type %r is not a '
                                   'form' % ctype)
                params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True,
                                                     strict_parsing=bool(body)))
                action = params.pop('Action', None)
                if params.pop('Version', None) != '2016-11-15':
                    raise ApiError(400, 'InvalidParameterValue', 'Version must be 2016-11-15')
                if not action:
                    raise ApiError(400, 'MissingAction', 'The request must contain the '
                                   'parameter Action')
                with fake.lock:
                    fake.calls[action] = fake.calls.get(action, 0) + 1
                    fake.call_times.setdefault(action, []).append(time.monotonic())
                    if fake.throttle.get(action, 0) > 0:
                        fake.throttle[action] -= 1
                        fake.throttled[action] = fake.throttled.get(action, 0) + 1
                        raise ApiError(503, 'RequestLimitExceeded', 'Request limit exceeded.')
                    f = fake.failures.get(action)
                    if f and f['skip'] > 0:
                        f['skip'] -= 1
                    elif f and f['count'] > 0:
                        f['count'] -= 1
                        raise ApiError(400, f['code'], f['message'])
                fake.log('%s %s' % (action, ' '.join('%s=%s' % kv for kv in sorted(
                    params.items()) if kv[0] != 'UserData')))
                result = fake.handle(action, params)
                rid = secrets.token_hex(16)
                self.reply(200, '<?xml version="1.0" encoding="UTF-8"?>\n<%sResponse xmlns="%s">'
                           '\n  <requestId>%s</requestId>\n%s</%sResponse>' % (
                               action, NS, rid, xml_of(result), action))
            except ApiError as e:
                fake.log('%s -> %s %s' % (self.path, e.code, e.message))
                self.error(e)
            except Exception as e:  # noqa: a bug in the fake answers 500 and is logged
                fake.log(traceback.format_exc())
                self.error(ApiError(500, 'InternalError', 'fake_ec2: %s' % e))

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--access-key', required=True)
    ap.add_argument('--secret-key', required=True)
    ap.add_argument('--session-token', default='')
    ap.add_argument('--region', default='us-east-1')
    ap.add_argument('--s3-endpoint', required=True)
    ap.add_argument('--data-dir', required=True)
    ap.add_argument('--qemu', default=os.environ.get('UNIK_QEMU', 'qemu-system-x86_64'))
    ap.add_argument('--max-mem', type=int, default=256, help='MiB of QEMU memory at most')
    ap.add_argument('--import-delay', type=float, default=0.5)
    ap.add_argument('--pending-delay', type=float, default=0.5)
    ap.add_argument('--settle-delay', type=float, default=0.5)
    args = ap.parse_args()
    fake = Fake(args)
    srv = ThreadingHTTPServer(('127.0.0.1', args.port), make_handler(fake))
    srv.daemon_threads = True

    def bye(*_):
        fake.shutdown()
        os._exit(0)

    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    print('listening on %d' % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    finally:
        fake.shutdown()


if __name__ == '__main__':
    main()
