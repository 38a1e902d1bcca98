"""unik installed as its users install it: `make install PREFIX=... DESTDIR=...` lays out the FHS
tree of docs/install.md, and with PATH holding only that tree's bin (and /usr/bin for QEMU and
the toolchain) the CLI starts the installed daemon, which finds unik-cc, unik-shim and the
runtime from its own place (lib/selfpath.h), builds examples/hello and runs it; `make uninstall`
leaves no file behind; systemd accepts the units; every man page renders without a groff warning;
bash completes verbs, flags and the daemon's instance names.  Guests run under TCG unless
UNIK_ACCEL says otherwise: the installation, not the accelerator, is what is tested here."""

import json
import os
import shutil
import subprocess

from harness import REPO, Skip, bin_dir, build_dir, fail, out_dir, tail, timeout

UNITS = ('unik.service', 'unik.socket')


def make(*args, timeout=1800):
    # O and BIN as `make test` gave them (relative to the tree when they are in it), so that
    # nothing is rebuilt under other names.
    def rel(p):
        r = os.path.relpath(p, REPO)
        return p if r.startswith('..') else r

    r = subprocess.run(['make', '-C', REPO, 'O=' + rel(build_dir()), 'BIN=' + rel(bin_dir())] +
                       list(args),
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        fail('make %s: exit %d' % (' '.join(args), r.returncode), tail(r.stdout + r.stderr))
    return r


def files_under(root):
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.relpath(os.path.join(d, n), root) for n in names]
    return sorted(out)


def clean_env(home, path_bin):
    """The environment of a user with only the installed unik: no variable that points unik at
    the build tree."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith('UNIK_') or k in ('UNIK_QEMU',)}
    e['PATH'] = path_bin + ':/usr/bin:/bin:/usr/sbin:/sbin'
    e['UNIK_HOME'] = home
    e['UNIK_ACCEL'] = os.environ.get('UNIK_ACCEL', 'tcg')
    return e


def run(argv, env, timeout=600, code=0, cwd=None):
    r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout, cwd=cwd)
    with open(os.path.join(out_dir(), 'commands.log'), 'a') as f:
        f.write('$ %s\n%s%s[exit %d]\n' % (' '.join(argv), r.stdout, r.stderr, r.returncode))
    if code is not None and r.returncode != code:
        fail('%s: exit %d, wanted %d' % (' '.join(argv), r.returncode, code),
             tail(r.stdout + r.stderr))
    return r


def bash_complete(script, words, env):
    """The words bash's completion function offers for COMP_WORDS=words (the last one being
    completed)."""
    prog = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
            '_unik; printf "%s\\n" "${COMPREPLY[@]}"')
    r = subprocess.run(['bash', '-c', prog, 'complete', script] + list(words), env=env,
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or r.stderr.strip():
        fail('bash completion of %r: exit %d' % (words, r.returncode), r.stdout + r.stderr)
    return sorted(w for w in r.stdout.split('\n') if w)


def need_qemu():
    if not shutil.which(os.environ.get('UNIK_QEMU', 'qemu-system-x86_64')):
        raise Skip('qemu-system-x86_64 is not installed')


@timeout(1800)
def test_install_runs_hello_and_uninstall_leaves_nothing():
    need_qemu()
    dest = os.path.join(out_dir(), 'dest')
    prefix = '/usr/local'
    shutil.rmtree(dest, ignore_errors=True)
    make('install', 'DESTDIR=' + dest, 'PREFIX=' + prefix)
    root = dest + prefix
    want = ['bin/unik', 'bin/unik-cc', 'bin/unik-oci', 'libexec/unik/unik-daemon',
            'libexec/unik/unik-shim', 'libexec/unik/unik-pack', 'lib/unik/unikrt.o',
            'lib/unik/unikrt-net.o', 'lib/unik/mb1.o', 'lib/unik/unik.ld',
            'lib/unik/libunikapp.a', 'include/unik/abi.h', 'share/man/man1/unik.1',
            'share/man/man1/unik-run.1', 'share/man/man1/unik-cc.1', 'share/man/man5/unikfile.5',
            'share/man/man8/unik-daemon.8', 'share/man/man8/unik-oci.8',
            'share/bash-completion/completions/unik', 'share/zsh/site-functions/_unik',
            'lib/systemd/system/unik.service', 'lib/systemd/system/unik.socket',
            'share/doc/unik/README.md', 'share/doc/unik/cli.md']
    missing = [w for w in want if not os.path.exists(os.path.join(root, w))]
    if missing:
        fail('make install did not write %s' % ', '.join(missing),
             '\n'.join(files_under(dest)))
    service = open(os.path.join(root, 'lib/systemd/system/unik.service')).read()
    if 'ExecStart=%s/libexec/unik/unik-daemon' % prefix not in service:
        fail('unik.service does not run PREFIX/libexec/unik/unik-daemon', service)

    home = os.path.join(out_dir(), 'home')
    env = clean_env(home, os.path.join(root, 'bin'))
    src = os.path.join(out_dir(), 'hello')
    shutil.rmtree(src, ignore_errors=True)
    shutil.copytree(os.path.join(REPO, 'examples', 'hello'), src)
    unik = os.path.join(root, 'bin', 'unik')
    try:
        run(['unik', 'daemon', 'start'], env, timeout=120)
        st = run(['unik', 'daemon', 'status', '-o', 'json'], env, timeout=60)
        pid = json.loads(st.stdout)['pid']
        exe = os.readlink('/proc/%d/exe' % pid)
        if exe != os.path.join(root, 'libexec/unik/unik-daemon'):
            fail('the daemon that runs is %s, not the installed one' % exe, st.stdout)
        b = run(['unik', 'build', '--name', 'hello', '--path', src], env, timeout=900)
        if os.path.join(root, 'bin', 'unik-cc') not in b.stdout + b.stderr:
            fail('the build did not compile with the installed unik-cc', tail(b.stdout + b.stderr))
        r = run(['unik', 'run', '--name', 'hello-run', 'hello', 'from the install'], env,
                timeout=600)
        if 'from the install' not in r.stdout:
            fail('the installed unik did not run hello', tail(r.stdout + r.stderr))

        # Completion from the installed script, with the installed unik asking the daemon.
        script = os.path.join(root, 'share/bash-completion/completions/unik')
        got = bash_complete(script, ['unik', 'rm', ''], env)
        if got != ['hello-run']:
            fail('`unik rm <TAB>` offers %r, wanted the instance hello-run' % got)
        got = bash_complete(script, ['unik', 'rmi', 'he'], env)
        if got != ['hello']:
            fail('`unik rmi he<TAB>` offers %r, wanted the image hello' % got)
        run(['unik', 'rm', 'hello-run'], env, timeout=120)
        run(['unik', 'daemon', 'stop'], env, timeout=120)
        run(['unik', 'daemon', 'status'], env, timeout=60, code=3)
    finally:
        subprocess.run([unik, 'daemon', 'stop'], env=env, capture_output=True, timeout=120)

    make('uninstall', 'DESTDIR=' + dest, 'PREFIX=' + prefix)
    left = files_under(dest)
    if left:
        fail('make uninstall left %d files' % len(left), '\n'.join(left[:50]))


@timeout(900)
def test_systemd_units_verify():
    analyze = shutil.which('systemd-analyze')
    if not analyze:
        raise Skip('systemd-analyze is not installed (Debian: apt-get install systemd)')
    # No DESTDIR: the units name the prefix's daemon, which must exist for verify.
    prefix = os.path.join(out_dir(), 'prefix')
    shutil.rmtree(prefix, ignore_errors=True)
    make('install', 'PREFIX=' + prefix)
    units = [os.path.join(prefix, 'lib/systemd/system', u) for u in UNITS]
    r = subprocess.run([analyze, 'verify'] + units, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, SYSTEMD_LOG_LEVEL='notice',
                                # Documentation=man:... is checked with man: the prefix's pages.
                                MANPATH=os.path.join(prefix, 'share/man') + ':'))
    # verify prints problems of the units it is given; others (the host's) are not ours.
    ours = [l for l in (r.stdout + r.stderr).splitlines()
            if 'unik.' in l or prefix in l]
    if r.returncode != 0 or ours:
        fail('systemd-analyze verify: exit %d' % r.returncode, r.stdout + r.stderr)
    make('uninstall', 'PREFIX=' + prefix)
    left = files_under(prefix)
    if left:
        fail('make uninstall left %d files' % len(left), '\n'.join(left[:50]))


def man_pages():
    root = os.path.join(build_dir(), 'man')
    pages = [os.path.join(root, p) for p in files_under(root) if not p.startswith('.')]
    if not pages:
        fail('no man pages under %s (make man)' % root)
    return pages


def test_man_pages_render_without_warnings():
    if not shutil.which('man') or not shutil.which('groff'):
        raise Skip('man or groff is missing (Debian: apt-get install man-db groff-base)')
    pages = man_pages()
    names = {os.path.basename(p) for p in pages}
    verbs = json.loads(subprocess.run([os.path.join(bin_dir(), 'unik'), 'help'],
                                      env=dict(os.environ, UNIK_HELP_FORMAT='json'),
                                      capture_output=True, text=True, check=True).stdout)
    want = {'unik.1', 'unik-cc.1', 'unikfile.5', 'unik-daemon.8', 'unik-oci.8'}
    want |= {'unik-%s.1' % v['name'] for v in verbs}
    if want - names:
        fail('missing man pages: %s' % ', '.join(sorted(want - names)))
    for p in pages:
        r = subprocess.run(['man', '--warnings', '-E', 'UTF-8', '-l', p], capture_output=True,
                           text=True, timeout=120, env=dict(os.environ, MANWIDTH='80'))
        if r.returncode != 0 or r.stderr.strip():
            fail('man -l %s: exit %d' % (p, r.returncode), r.stderr)
        if len(r.stdout) < 200:
            fail('man -l %s rendered almost nothing' % p, r.stdout)


def test_man_page_matches_help():
    """A verb's page holds every option its --help lists: both come from one table."""
    unik = os.path.join(bin_dir(), 'unik')
    for verb in ('run', 'build', 'rm'):
        h = json.loads(subprocess.run([unik, verb, '--help'],
                                      env=dict(os.environ, UNIK_HELP_FORMAT='json'),
                                      capture_output=True, text=True, check=True).stdout)
        text = subprocess.run(['man', '-l', os.path.join(build_dir(), 'man/man1/unik-%s.1'
                                                         % verb)],
                              env=dict(os.environ, MANWIDTH='200', MAN_KEEP_FORMATTING=''),
                              capture_output=True, text=True, timeout=60).stdout
        plain = text.replace('\u2010', '-')
        plain = ''.join(c for i, c in enumerate(plain)
                        if not (c == '\b' or (i + 1 < len(plain) and plain[i + 1] == '\b')))
        helptext = subprocess.run([unik, verb, '--help'], capture_output=True,
                                  text=True).stdout
        for o in h['options']:
            flag = '--' + o['names'][0]
            if flag not in plain or flag not in helptext:
                fail('unik %s: option %s is in the table but not in both the man page and '
                     '--help' % (verb, flag), plain[:3000])


def test_bash_completes_verbs_and_flags_without_a_daemon():
    if not shutil.which('bash'):
        raise Skip('bash is missing')
    script = os.path.join(build_dir(), 'completion', 'unik.bash')
    home = os.path.join(out_dir(), 'nodaemon')
    env = clean_env(home, bin_dir())
    got = bash_complete(script, ['unik', 'r'], env)
    if got != ['rm', 'rmi', 'run']:
        fail('`unik r<TAB>` offers %r, wanted rm, rmi and run' % got)
    got = bash_complete(script, ['unik', 'rm', '--fo'], env)
    if got != ['--force']:
        fail('`unik rm --fo<TAB>` offers %r, wanted --force' % got)
    got = bash_complete(script, ['unik', 'network', ''], env)
    if 'create' not in got or 'rm' not in got:
        fail('`unik network <TAB>` offers %r, wanted its commands' % got)
    got = bash_complete(script, ['unik', 'daemon', 'st'], env)
    if got != ['start', 'status', 'stop']:
        fail('`unik daemon st<TAB>` offers %r' % got)
    # No daemon answers: quietly nothing, and none is started.
    got = bash_complete(script, ['unik', 'rm', ''], env)
    if got:
        fail('`unik rm <TAB>` with no daemon offers %r' % got)
    if os.path.exists(os.path.join(home, 'daemon.sock')):
        fail('completion started a daemon')
