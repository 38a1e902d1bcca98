"""The unik CLI and image formats: `unik build --format`, the FORMATS column of `unik images`
and describe-image, `unik export` to a file (atomically) or stdout, booting what it wrote,
on-demand formats, a damaged disk file, an unknown format, and rmi removing every file."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import fail, out_dir, timeout
from test_cli import Home, need_core, project, unik_bin
from test_disk import boot, need_pack_tools

GREET_C = '#include <stdio.h>\nint main(int c, char **v)\n{\n\tprintf("hi from %s\\n", v[0]);' \
          '\n\treturn c > 1 ? 3 : 0;\n}\n'


def built(h, formats=('raw', 'qcow2')):
    src = project('greet', {'greet.c': GREET_C})
    args = ['build', '--name', 'greet', '--args', 'greet x', src]
    if formats:
        args[1:1] = ['--format', ','.join(formats)]
    p = h.ok(args)
    for f in formats:
        if 'unik: packing %s' % f not in p.stdout:
            fail('`unik build` does not show %s being packed' % f, p.stdout)
    return h.json(['describe-image', 'greet'])


def image_dir(h, im):
    return os.path.join(h.path, 'images', im['id'])


@timeout(600)
def test_build_format_list_export_boot():
    need_core()
    need_pack_tools()
    with Home() as h:
        im = built(h)
        if list(im['formats']) != ['elf', 'raw', 'qcow2']:
            fail('formats %s' % list(im['formats']))
        [row] = [i for i in h.json(['images']) if i['name'] == 'greet']
        for f, v in row['formats'].items():
            path = os.path.join(image_dir(h, im), 'kernel.elf' if f == 'elf' else 'disk.' + f)
            if v['size_bytes'] != os.path.getsize(path):
                fail('images -o json: formats.%s.size_bytes %d, the file has %d bytes'
                     % (f, v['size_bytes'], os.path.getsize(path)))
        p = h.ok(['images', '--no-trunc'])
        if 'FORMATS' not in p.stdout or 'raw 1.0M, qcow2 1.0M' not in p.stdout or \
                'elf ' not in p.stdout:
            fail('`unik images` does not show the formats and their sizes', p.stdout)
        p = h.ok(['describe-image', 'greet'])
        if 'formats.raw.size_bytes:' not in p.stdout:
            fail('describe-image does not show the raw size', p.stdout)
        # Export each built format and boot it.
        for f in ('raw', 'qcow2'):
            dest = os.path.join(out_dir(), 'greet-cli.' + f)
            p = h.ok(['export', 'greet', '--format', f, '-o', dest])
            if 'exported greet (%s, ' % f not in p.stdout:
                fail('no "exported" line', p.stdout)
            if [n for n in os.listdir(out_dir()) if n.startswith('.greet-cli')]:
                fail('export left a temporary file', str(os.listdir(out_dir())))
            boot(dest, ('bios', f), 'tcg', tag=f).expect(3, 'hi from greet\n')
        # -o -: the bytes go to stdout, nothing else does.
        p = subprocess.run([unik_bin(), 'export', 'greet', '--format', 'raw', '-o', '-'],
                           env=h.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        with open(os.path.join(image_dir(h, im), 'disk.raw'), 'rb') as fh:
            if p.returncode != 0 or p.stdout != fh.read():
                fail('export -o - did not write disk.raw to stdout (exit %d)' % p.returncode,
                     p.stderr.decode(errors='replace'))
        # A format not built is made on demand; the default file is NAME.FORMAT.
        sub = os.path.join(out_dir(), 'cwd')
        os.makedirs(sub, exist_ok=True)
        p = subprocess.run([unik_bin(), 'export', 'greet', '--format', 'vhd'], env=h.env,
                           cwd=sub, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120)
        if p.returncode != 0 or not os.path.exists(os.path.join(sub, 'greet.vhd')):
            fail('export --format vhd (not built) failed: exit %d' % p.returncode, p.stderr)
        boot(os.path.join(sub, 'greet.vhd'), ('bios', 'vpc'), 'tcg', tag='vhd').expect(3)
        if 'vhd' not in h.json(['describe-image', 'greet'])['formats']:
            fail('the vhd made on demand is not in the image\'s formats')
        # rmi removes every file.
        d = image_dir(h, im)
        h.ok(['rmi', 'greet'])
        if os.path.exists(d):
            fail('rmi left %s: %s' % (d, os.listdir(d)))


def test_export_damaged_and_unknown():
    need_core()
    need_pack_tools()
    with Home() as h:
        im = built(h, ('raw',))
        raw = os.path.join(image_dir(h, im), 'disk.raw')
        os.truncate(raw, 200 * 1024)
        dest = os.path.join(out_dir(), 'bad.raw')
        p = h.ok(['export', 'greet', '--format', 'raw', '-o', dest], code=1)
        if 'damaged' not in p.stderr or 'truncated' not in p.stderr or \
                '--remake' not in p.stderr:
            fail('no clear error for a truncated disk.raw', p.stderr)
        if os.path.exists(dest) or [n for n in os.listdir(out_dir()) if n.startswith('.bad')]:
            fail('a failed export left a file')
        h.ok(['export', 'greet', '--format', 'raw', '--remake', '-o', dest])
        boot(dest, ('bios', 'raw'), 'tcg').expect(3, 'hi from greet\n')
        p = h.ok(['export', 'greet', '--format', 'floppy', '-o', dest], code=1)
        if 'unknown image format "floppy"' not in p.stderr:
            fail('no clear error for an unknown format', p.stderr)
        src = project('other', {'other.c': GREET_C})
        p = h.ok(['build', '--name', 'other', '--format', 'raw,floppy', src], code=1)
        if '"floppy"' not in p.stderr:
            fail('build --format floppy: no error naming it', p.stderr)
        p = h.ok(['export', 'greet', '-o', dest], code=2)
        if 'which format' not in p.stderr:
            fail('export without --format', p.stderr)
