"""Image formats through the daemon's REST API: builds that pack disk formats (and log it),
their sizes in the image's JSON, exports over GET /v1/images/{ref}/formats/{format} that boot,
formats made on demand, unknown formats (400), damaged files (a clear error, not a bad boot) and
rmi removing every file."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import fail, out_dir, timeout
from test_daemon_fixture import Daemon, write_tree
from test_disk import boot, need_pack_tools

GREET_C = '#include <stdio.h>\nint main(int c, char **v)\n{\n\tprintf("hi from %s\\n", v[0]);' \
          '\n\treturn c > 1 ? 3 : 0;\n}\n'
DISK_FORMATS = ('raw', 'qcow2', 'vmdk', 'vhd', 'iso')
FILES = {'elf': 'kernel.elf', 'raw': 'disk.raw', 'qcow2': 'disk.qcow2', 'vmdk': 'disk.vmdk',
         'vhd': 'disk.vhd', 'iso': 'disk.iso'}


def greet_src():
    return write_tree(os.path.join(out_dir(), 'greet'), {'greet.c': GREET_C})


def build(d, name, formats=None, args='greet x'):
    opts = {'name': name, 'args': args}
    if formats is not None:
        opts['formats'] = formats
    b = d.build(greet_src(), opts)
    if b['state'] != 'succeeded':
        fail('the build of %s failed: %s' % (name, b['error']), b['log'])
    return b, d.ok('GET', '/v1/images/%s' % name)


def image_dir(d, im):
    return os.path.join(d.home, 'images', im['id'])


def expect_error(r, status, *needles):
    if r.status != status:
        fail('status %d, wanted %d' % (r.status, status), r.text[:2000])
    msg = r.error()['message']
    for n in needles:
        if n not in msg:
            fail('the message lacks %r' % n, msg)
    return msg


def download(d, name, fmt, dest=None, ref=None):
    r = d.get('/v1/images/%s/formats/%s' % (ref or name, fmt))
    if r.status != 200:
        fail('GET /v1/images/%s/formats/%s: status %d' % (name, fmt, r.status), r.text[:2000])
    if r.headers.get('Content-Type') != 'application/octet-stream':
        fail('content type %r' % r.headers.get('Content-Type'))
    if 'filename="%s.%s"' % (name, fmt) not in r.headers.get('Content-Disposition', ''):
        fail('Content-Disposition %r' % r.headers.get('Content-Disposition'))
    path = dest or os.path.join(out_dir(), '%s.%s' % (name, fmt))
    with open(path, 'wb') as f:
        f.write(r.body)
    return path, r.body


@timeout(600)
def test_build_with_formats_and_boot_exports():
    need_pack_tools()
    with Daemon() as d:
        b, im = build(d, 'greet', ['raw', 'qcow2', 'raw', 'elf'])
        for f in ('raw', 'qcow2'):
            if 'unik: packing %s (disk.%s)' % (f, f) not in b['log'] or \
                    'unik: packed %s: ' % f not in b['log']:
                fail('the build log does not show %s being packed' % f, b['log'])
        if sorted(im['formats']) != ['elf', 'qcow2', 'raw']:
            fail('formats %s, wanted elf, qcow2, raw' % sorted(im['formats']), str(im))
        dirp = image_dir(d, im)
        for f, v in im['formats'].items():
            got = os.path.getsize(os.path.join(dirp, FILES[f]))
            if v != {'size_bytes': got}:
                fail('formats.%s is %s, the file has %d bytes' % (f, v, got))
        listed = [i for i in d.ok('GET', '/v1/images') if i['name'] == 'greet'][0]
        assert listed['formats'] == im['formats'], listed
        with open(os.path.join(dirp, 'image.json')) as fh:
            import json
            meta = json.load(fh)
        assert meta['formats'] == im['formats'], meta
        # Each export is the store's file, byte for byte, and boots with the baked arguments.
        for f in ('raw', 'qcow2'):
            path, body = download(d, 'greet', f)
            with open(os.path.join(dirp, FILES[f]), 'rb') as fh:
                if fh.read() != body:
                    fail('GET .../formats/%s differs from %s' % (f, FILES[f]))
            boot(path, ('bios', f), 'tcg', tag=f).expect(3, 'hi from greet\n')
        _, body = download(d, 'greet', 'elf')
        with open(os.path.join(dirp, 'kernel.elf'), 'rb') as fh:
            assert fh.read() == body


@timeout(600)
def test_formats_made_on_demand():
    need_pack_tools()
    with Daemon() as d:
        _, im = build(d, 'lazy', args='lazy')
        assert list(im['formats']) == ['elf'], im['formats']
        dirp = image_dir(d, im)
        # POST makes it without sending it; a second POST finds it.
        j = d.ok('POST', '/v1/images/lazy/formats/iso')
        if 'iso' not in j['formats'] or not os.path.exists(os.path.join(dirp, 'disk.iso')):
            fail('POST .../formats/iso did not make disk.iso', str(j))
        mtime = os.stat(os.path.join(dirp, 'disk.iso')).st_mtime_ns
        d.ok('POST', '/v1/images/lazy/formats/iso')
        assert os.stat(os.path.join(dirp, 'disk.iso')).st_mtime_ns == mtime, 'made twice'
        # GET of a format never built makes it first.
        for f in ('vmdk', 'vhd', 'raw'):
            path, body = download(d, 'lazy', f, ref=im['id'][:6])
            if os.path.getsize(os.path.join(dirp, FILES[f])) != len(body):
                fail('%s: the export and the stored file differ in size' % f)
        im = d.ok('GET', '/v1/images/lazy')
        if list(im['formats']) != ['elf', 'raw', 'vmdk', 'vhd', 'iso']:
            fail('formats after the exports: %s' % list(im['formats']))
        for f, v in im['formats'].items():
            assert v['size_bytes'] == os.path.getsize(os.path.join(dirp, FILES[f])), (f, v)
        boot(os.path.join(out_dir(), 'lazy.vmdk'), ('bios', 'vmdk'), 'tcg').expect(0)
        # The index survives a restart.
    with Daemon(home=d.home) as d2:
        assert list(d2.ok('GET', '/v1/images/lazy')['formats']) == list(im['formats'])


def test_unknown_format_is_400():
    with Daemon() as d:
        r = d.upload('/v1/builds', [('source', 's.tgz', 'application/gzip', b'x'),
                                    ('options', None, 'application/json',
                                     b'{"name": "x", "formats": ["raw", "floppy"]}')])
        expect_error(r, 400, '"floppy"', 'raw, qcow2')
        r = d.upload('/v1/builds', [('source', 's.tgz', 'application/gzip', b'x'),
                                    ('options', None, 'application/json',
                                     b'{"name": "x", "formats": "raw"}')])
        expect_error(r, 400, 'formats')
        _, im = build(d, 'greet', args='greet')
        expect_error(d.get('/v1/images/greet/formats/floppy'), 400, '"floppy"')
        expect_error(d.request('POST', '/v1/images/greet/formats/floppy'), 400, '"floppy"')
        expect_error(d.get('/v1/images/nosuch/formats/raw'), 404, 'nosuch')


@timeout(600)
def test_damaged_files_give_clear_errors():
    need_pack_tools()
    with Daemon() as d:
        _, im = build(d, 'greet', ['raw'])
        dirp = image_dir(d, im)
        raw = os.path.join(dirp, 'disk.raw')
        os.truncate(raw, 300 * 1024)
        for method in ('GET', 'POST'):
            expect_error(d.request(method, '/v1/images/greet/formats/raw'), 409, 'damaged',
                         'truncated', '--remake')
        # Made again on request, it is whole.
        d.ok('POST', '/v1/images/greet/formats/raw?force=true')
        path, _ = download(d, 'greet', 'raw')
        assert os.path.getsize(path) == d.ok('GET', '/v1/images/greet')['formats']['raw'][
            'size_bytes']
        # A truncated kernel: no run, no export, and no disk packed from it.
        elf = os.path.join(dirp, 'kernel.elf')
        os.truncate(elf, os.path.getsize(elf) // 2)
        r = d.request('POST', '/v1/instances', {'image': 'greet'})
        expect_error(r, 409, 'kernel', 'truncated', 'build the image again')
        expect_error(d.get('/v1/images/greet/formats/elf'), 409, 'truncated')
        expect_error(d.get('/v1/images/greet/formats/qcow2'), 409, 'kernel', 'truncated')
        assert not os.path.exists(os.path.join(dirp, 'disk.qcow2')), 'packed from a bad kernel'

        assert d.ok('GET', '/v1/instances') == [], 'a failed run left an instance'
        # A kernel whose header is garbage.
        with open(elf, 'r+b') as f:
            f.write(b'\0' * 64)
        expect_error(d.request('POST', '/v1/instances', {'image': 'greet'}), 409,
                     'not an ELF file')


def test_rmi_removes_every_file():
    need_pack_tools()
    with Daemon() as d:
        _, im = build(d, 'greet', list(DISK_FORMATS))
        dirp = image_dir(d, im)
        have = sorted(os.listdir(dirp))
        want = sorted(['image.json'] + list(FILES.values()))
        if have != want:
            fail('the image directory holds %s, wanted %s' % (have, want))
        d.ok('DELETE', '/v1/images/greet', status=204)
        if os.path.exists(dirp):
            fail('rmi left %s: %s' % (dirp, os.listdir(dirp)))
        assert os.listdir(os.path.join(d.home, 'images')) == [], \
            os.listdir(os.path.join(d.home, 'images'))
        expect_error(d.get('/v1/images/greet/formats/raw'), 404)
