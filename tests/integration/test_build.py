"""unik-cc as a compiler driver: errors come through as gcc's, on-the-fly builds boot, and the
output carries the notes the guest ABI promises."""

import os
import re
import shutil
import struct
import subprocess

from harness import Failure, Skip, accels, fail, out_dir, tail, REPO
from qemu import boot
from apps import run_unik_cc, build, APPS_SRC


def test_compile_error_shows_gcc_message():
    src = os.path.join(out_dir(), 'broken.c')
    with open(src, 'w') as f:
        f.write('int main(void)\n{\n\treturn undeclared_thing + 1;\n}\n')
    out = os.path.join(out_dir(), 'broken.elf')
    p = run_unik_cc(['-O2', '-o', out, src])
    if p.returncode == 0:
        fail('unik-cc exited 0 on a compile error')
    msg = p.stdout + p.stderr
    if not re.search(r"broken\.c:3:\d+: error: .undeclared_thing. undeclared", msg):
        fail("gcc's diagnostic (broken.c:3: error: 'undeclared_thing' undeclared) not shown",
             tail(msg))
    if os.path.exists(out):
        fail('unik-cc left an output file behind after a failed compile')


def test_link_error_is_reported():
    src = os.path.join(out_dir(), 'unresolved.c')
    with open(src, 'w') as f:
        f.write('void nowhere(void);\nint main(void)\n{\n\tnowhere();\n\treturn 0;\n}\n')
    p = run_unik_cc(['-o', os.path.join(out_dir(), 'unresolved.elf'), src])
    if p.returncode == 0:
        fail('unik-cc exited 0 on an undefined reference')
    if 'nowhere' not in p.stdout + p.stderr:
        fail('the undefined symbol is not named', tail(p.stdout + p.stderr))


def _parse_notes(data, off, end, notes):
    while off + 12 <= end:
        namesz, descsz, ntype = struct.unpack_from('<III', data, off)
        off += 12
        name = data[off:off + namesz].rstrip(b'\0').decode('latin-1')
        off += (namesz + 3) & ~3
        desc = data[off:off + descsz]
        off += (descsz + 3) & ~3
        notes.append((name, ntype, desc))


def _section_notes(path):
    """(name, type, desc) of every note in SHT_NOTE sections."""
    with open(path, 'rb') as f:
        data = f.read()
    shoff, = struct.unpack_from('<Q', data, 0x28)
    shentsize, shnum = struct.unpack_from('<HH', data, 0x3a)
    notes = []
    for i in range(shnum):
        _, sh_type, _, _, sh_offset, sh_size = struct.unpack_from('<IIQQQQ', data,
                                                                   shoff + i * shentsize)
        if sh_type == 7:  # SHT_NOTE
            _parse_notes(data, sh_offset, sh_offset + sh_size, notes)
    return notes


def _notes(path):
    """(name, type, desc) of every ELF note in the program headers of a 64-bit ELF."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:4] != b'\x7fELF':
        fail('%s is not an ELF file' % path)
    if data[4] != 2:
        fail('%s is not a 64-bit ELF' % path)
    phoff, = struct.unpack_from('<Q', data, 0x20)
    phentsize, phnum = struct.unpack_from('<HH', data, 0x36)
    notes = []
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from('<IIQQQQ', data,
                                                                  phoff + i * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        _parse_notes(data, p_offset, p_offset + p_filesz, notes)
    return notes


def abi_version():
    """UNIK_ABI_VERSION, as include/unik/abi.h says."""
    with open(os.path.join(REPO, 'include', 'unik', 'abi.h')) as f:
        m = re.search(r'^#define UNIK_ABI_VERSION\s+(\d+)', f.read(), re.M)
    return int(m.group(1))


def test_elf_has_pvh_and_unik_notes():
    out = build('hello.c', 'hello.elf')
    notes = _notes(out)
    if not any(n == 'Xen' and t == 18 for n, t, _ in notes):
        fail('no Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY) in a PT_NOTE segment: %r' % notes)
    abi = [d for n, t, d in notes + _section_notes(out) if n == 'unik' and t == 1]
    want = abi_version()
    if not abi or struct.unpack('<I', abi[0][:4])[0] != want:
        fail('no "unik" ABI note with version %d: %r' % (want, notes))


@accels
def test_on_the_fly_build_with_baked_options(accel):
    out = build('args.c', 'custom.elf',
                ['--unik-cmdline', "GREETING='hi there' custom -v 'x y'",
                 '--unik-env', 'ALWAYS=1'])
    r = boot(out, '', accel=accel)
    r.expect_status(0).expect_app(
        'argc=3\nargv[0]=<custom>\nargv[1]=<-v>\nargv[2]=<x y>\n'
        'env <ALWAYS=1>\nenv <GREETING=hi there>\ngetenv(HOME)=<(null)>\n')


@accels
def test_default_argv0_is_output_basename(accel):
    out = build('hello.c', 'greeter')
    r = boot(out, '', accel=accel)
    r.expect_status(0).expect_app('hello from unik\nargv[0]=<greeter>\n')


def test_separate_compile_and_link():
    """-c objects, then a link of objects and -lm, as a Makefile does."""
    d = out_dir()
    mf = os.path.join(APPS_SRC, 'multifile')
    objs = []
    for n in ['main', 'wordstat', 'fmt']:
        o = os.path.join(d, n + '.o')
        p = run_unik_cc(['-O2', '-c', '-o', o, os.path.join(mf, n + '.c')])
        if p.returncode != 0 or not os.path.exists(o):
            fail('unik-cc -c %s.c failed' % n, tail(p.stdout + p.stderr))
        objs.append(o)
    out = os.path.join(d, 'mf.elf')
    p = run_unik_cc(['-o', out] + objs + ['-lm'])
    if p.returncode != 0:
        fail('linking objects failed', tail(p.stdout + p.stderr))
    r = boot(out, 'mf one two', accel='tcg')
    r.expect_status(2).expect_app(
        'multifile: words=2 letters=6 mean=3.000 sqrt(letters)=2.4495\n')
