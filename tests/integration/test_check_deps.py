"""scripts/check-deps, the dependency rule of docs/architecture.md: the repository passes it
(`tree`, what `make check-deps` runs), and the script itself is checked against small fixture
trees under tests/data/check-deps/, each compiled here with the host compiler so that its objects
carry real symbols: a clean tree passes, an upward include or symbol fails, a circle between
folders fails, and a stale allowlist entry fails."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, Skip, build_dir, fail, out_dir  # noqa: E402

SCRIPT = os.path.join(REPO, 'scripts', 'check-deps')
FIXTURES = os.path.join(REPO, 'tests', 'data', 'check-deps')


def run_check(root=None, build=None):
    argv = [sys.executable, SCRIPT]
    if root:
        argv += ['--root', root]
    if build:
        argv += ['--build', build]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def fixture(name):
    """Compile every .c of the fixture tree (as the Makefile compiles host code) into this
    test's own build directory; returns (root, build)."""
    cc = os.environ.get('CC') or shutil.which('cc') or shutil.which('gcc')
    if not cc or not shutil.which('nm'):
        raise Skip('a C compiler and nm (binutils) are needed to build the fixture objects')
    root = os.path.join(FIXTURES, name)
    build = os.path.join(out_dir(), 'build')
    shutil.rmtree(build, ignore_errors=True)
    for d, _, files in os.walk(root):
        for f in sorted(files):
            if not f.endswith('.c'):
                continue
            rel = os.path.relpath(os.path.join(d, f), root)
            obj = os.path.join(build, rel[:-2] + '.o')
            os.makedirs(os.path.dirname(obj), exist_ok=True)
            p = subprocess.run([cc, '-std=c11', '-g', '-O0', '-Iinclude', '-Ilib', '-I.', '-c',
                                '-o', obj, rel], cwd=root, capture_output=True, text=True)
            if p.returncode:
                fail('cannot compile fixture %s/%s' % (name, rel), p.stderr)
    return root, build


def expect(name, rc, out, code, needles):
    if rc != code:
        fail('check-deps on fixture %s exited %d, expected %d' % (name, rc, code), out)
    for n in needles:
        if n not in out:
            fail('check-deps on fixture %s did not say %r' % (name, n), out)


def test_tree():
    """The repository keeps the rule, apart from the allowlisted edges (make check-deps)."""
    build = build_dir()
    if not os.path.isdir(os.path.join(build, 'lib')):
        fail('%s holds no objects: make test builds them first (make all)' % build)
    rc, out = run_check(build=build)
    with open(os.path.join(out_dir(), 'check-deps.txt'), 'w') as f:
        f.write(out)
    if rc != 0:
        fail('make check-deps fails on the repository', out)
    if 'known violations allowed' not in out:
        fail('check-deps printed no summary', out)


def test_clean():
    root, build = fixture('clean')
    rc, out = run_check(root, build)
    expect('clean', rc, out, 0, ['0 errors'])


def test_upward():
    root, build = fixture('upward')
    rc, out = run_check(root, build)
    expect('upward', rc, out, 1, [
        # the include, with its file and line, the rule and the fix
        'lib/util.c:4: #include "images/img.h" (images/img.h) goes up from lib/ to images/',
        'rule: lib/ uses system libraries and include/unik/ only',
        'fix: lib/ is the bottom of the host code',
        # the symbol, with the line of its use from the debug information
        'lib/util.c: uses img_pack (lib/util.c:7) defined in images/img.c: goes up from lib/ '
        'to images/',
        # a host header in the guest
        'runtime/rt.c:2: #include <stdio.h> is a host header in guest code',
        '3 errors',
    ])


def test_cycle():
    root, build = fixture('cycle')
    rc, out = run_check(root, build)
    expect('cycle', rc, out, 1, [
        'the folders images/, providers/ use each other in a circle',
        'images -> providers: images/img.c uses prov_run of providers/prov.c',
        'providers -> images: providers/prov.c:2 includes images/img.h',
        '1 known violations allowed',
        '1 errors',
    ])


def test_stale():
    root, build = fixture('stale')
    rc, out = run_check(root, build)
    expect('stale', rc, out, 1, [
        'scripts/check-deps.allow:2: the allowed include "lib/util.c -> images/img.h" no longer '
        'occurs; delete the entry',
        '1 errors',
    ])


def test_allowlist_entry_needs_reason():
    """An allowed edge with no comment, or one that names no issue to remove it, is refused;
    so is a line that is no entry at all."""
    root, build = fixture('cycle')
    allow = os.path.join(out_dir(), 'check-deps.allow')
    with open(allow, 'w') as f:
        f.write('# A reason, but no issue that removes it.\n'
                'symbol images/img.c -> providers/prov.c\n'
                '\n'
                'cycle images providers\n'
                '# Issue 12 removes it.\n'
                'include lib/util.c images/img.h\n')
    p = subprocess.run([sys.executable, SCRIPT, '--root', root, '--build', build,
                        '--allow', allow], capture_output=True, text=True, timeout=120)
    out = p.stdout + p.stderr
    expect('cycle (with a bad allowlist)', p.returncode, out, 1, [
        allow + ':2: entry "symbol images/img.c -> providers/prov.c" needs a comment right '
        'above it that says why the edge exists and which issue removes it',
        allow + ':4: entry "cycle images providers" needs a comment',
        allow + ':6: cannot read "include lib/util.c images/img.h"',
        '3 errors',
    ])
