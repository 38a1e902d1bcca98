"""The README's quick start and tour, run as written: each command of their code blocks, in
order, on a fresh UNIK_HOME, must succeed.  Commands that need what this machine lacks (the
network, libvirt, AWS credentials, apt) are skipped, each with its reason in the test's log;
the test fails if any other command fails, and is skipped only if nothing could run.

No shell runs them: a line is split into commands at `;` and `&&`, `#` starts a comment, words
are split as a shell would (shlex), `$PWD` is the repository and `$(...)` is the output of that
command, run when its turn comes.  `bin/unik` is this build's unik; the host side of port 8080
becomes a free port (other tests run at the same time), and curl retries while the guest
boots."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

from harness import Failure, Skip, fail, out_dir, tail, timeout, REPO

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cli import Home, need_core, unik_bin  # noqa: E402
from test_daemon_fixture import free_port  # noqa: E402


def code_blocks(section):
    """The ```sh blocks of the README between heading `section` and the next `## `."""
    with open(os.path.join(REPO, 'README.md')) as f:
        text = f.read()
    start = text.index(section)
    end = text.find('\n## ', start + len(section))
    part = text[start:end if end > 0 else len(text)]
    return re.findall(r'```sh\n(.*?)```', part, re.S)


def commands(block):
    """Each command of a block: (the line it came from, its words with $(...) kept as
    ('subst', words))."""
    out = []
    for line in block.splitlines():
        substs = []

        def keep(m):
            substs.append(m.group(1))
            return ' __SUBST%d__ ' % (len(substs) - 1)

        text = re.sub(r'\$\(([^)]*)\)', keep, line)
        lex = shlex.shlex(text, posix=True, punctuation_chars=';&')
        lex.whitespace_split = True
        lex.commenters = '#'
        words = []
        for tok in list(lex) + [';']:
            if tok in (';', '&&'):
                if words:
                    out.append((line.strip(), words))
                words = []
            else:
                m = re.fullmatch(r'__SUBST(\d+)__', tok)
                words.append(('subst', shlex.split(substs[int(m.group(1))])) if m else tok)
    return out


def libvirtd_answers():
    try:
        return subprocess.run(['virsh', '-c', 'qemu:///system', 'list'], timeout=10,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


class Tour:
    def __init__(self, h, cwd):
        self.h = h
        self.cwd = cwd
        self.port = free_port()
        self.log = []
        self.skipped_names = set()
        self.ran = 0
        providers = self.run_words(['bin/unik', 'providers', '-o', 'json'])
        self.providers = {p['name']: p.get('available') for p in json.loads(providers.stdout)}

    def argv(self, words):
        argv = []
        for w in words:
            if isinstance(w, tuple):
                p = self.run_words(w[1])
                argv.extend(p.stdout.split())
                continue
            w = w.replace('$PWD', REPO).replace('8080:8080', '%d:8080' % self.port)
            w = w.replace('127.0.0.1:8080', '127.0.0.1:%d' % self.port)
            argv.append(w)
        if argv[0] == 'bin/unik':
            argv[0] = unik_bin()
        elif argv[0] == 'curl':
            # The guest is still booting: retry as a user would.  QEMU's user-mode network
            # accepts the connection and then resets it until the guest listens, so every
            # error is worth another try.
            argv[1:1] = ['-sS', '--fail', '--retry', '60', '--retry-delay', '1',
                         '--retry-all-errors', '--max-time', '10']
        return argv

    def note(self, text):
        # Written as it goes: a command that hangs is the last one in the file.
        self.log.append(text)
        with open(os.path.join(out_dir(), 'readme-tour.log'), 'a') as f:
            f.write(text)

    def run_words(self, words, seconds=240):
        argv = self.argv(words)
        self.note('$ %s\n' % shlex.join(argv))
        try:
            p = subprocess.run(argv, cwd=self.cwd, env=self.h.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               errors='replace', timeout=seconds)
        except subprocess.TimeoutExpired:
            self.note('[no answer in %d s]\n' % seconds)
            fail('the README command `%s` did not end in %d s' % (shlex.join(argv), seconds),
                 tail(''.join(self.log), 40))
        self.note('%s%s[exit %d]\n' % (p.stdout, p.stderr, p.returncode))
        return p

    def why_skip(self, words):
        flat = [w for w in words if isinstance(w, str)]
        text = ' '.join(flat)
        if flat[0] == 'scripts/install-deps':
            return 'installs Debian packages with apt (this machine is set up already)'
        if flat[:2] == ['make', 'test']:
            return 'the whole test suite: this test is part of it'
        if flat[:2] == ['make', 'example']:
            return ('builds this checkout again (the harness has) and runs hello in ~/.unik, '
                    'not in this test\'s UNIK_HOME; the tour below builds and runs it')
        if flat[0] == 'curl' and not shutil.which('curl'):
            return 'curl is not installed'
        if len(flat) > 1 and flat[1] in ('push', 'pull'):
            return ('needs an OCI registry at the reference (test_registry runs Debian\'s '
                    'docker-registry for these)')
        if '--git' in flat and 'example.org' in text:
            return 'example.org/app.git is a placeholder, and this machine has no internet'
        for prov in ('kvm', 'aws', 'xen'):
            if '--provider' in flat and prov in flat and not self.providers.get(prov):
                return 'the %s provider is not available here (unik providers)' % prov
        if '--provider' in flat and 'kvm' in flat and not libvirtd_answers():
            return ('libvirtd does not answer now (a test of a hung libvirtd may hold it '
                    'stopped)')
        if flat[1:3] == ['network', 'create'] and os.geteuid() != 0:
            self.skipped_names.add(flat[-1])
            return 'network create needs root'
        if flat[1:3] == ['volume', 'create'] and not shutil.which('mke2fs'):
            self.skipped_names.add(flat[-1])
            return 'mke2fs (e2fsprogs) is not installed'
        for name in self.skipped_names:
            if any(w == name or w.startswith(name + ':') for w in flat):
                return 'it uses %s, whose creation was skipped' % name
        return None

    def run_block(self, block):
        for line, words in commands(block):
            why = self.why_skip(words)
            if why:
                self.note('# skipped: %s\n#   (%s)\n' % (line, why))
                continue
            p = self.run_words(words)
            self.ran += 1
            if p.returncode != 0:
                fail('the README command `%s` exited %d' % (line, p.returncode),
                     tail(''.join(self.log), 40))


@timeout(1800)
def test_readme_quick_start_and_tour():
    need_core()
    if os.path.exists(os.path.join(out_dir(), 'readme-tour.log')):
        os.remove(os.path.join(out_dir(), 'readme-tour.log'))
    cwd = os.path.join(out_dir(), 'cwd')
    os.makedirs(cwd, exist_ok=True)
    # The tour's paths are the repository's (examples/...); its outputs land here.
    for name in ('examples', 'scripts', 'Makefile'):
        link = os.path.join(cwd, name)
        if not os.path.lexists(link):
            os.symlink(os.path.join(REPO, name), link)
    with Home('readme') as h:
        t = Tour(h, cwd)
        try:
            for block in code_blocks('On a fresh Debian 12 machine'):
                t.run_block(block)
            blocks = code_blocks('## Using unik')
            if not blocks:
                fail('the README has no ```sh block under "## Using unik"')
            t.run_block(blocks[0])
        finally:
            # Instances, and networks (bridges on the host), must not outlive the test.
            try:
                ids = [i['id'] for i in json.loads(t.run_words(
                    ['bin/unik', 'ps', '-a', '-o', 'json'], 60).stdout or '[]')]
                if ids:
                    t.run_words(['bin/unik', 'rm', '-f'] + ids, 120)
                nets = json.loads(t.run_words(['bin/unik', 'network', 'ls', '-o', 'json'],
                                              60).stdout or '[]')
                for n in nets:
                    t.run_words(['bin/unik', 'network', 'rm', n['name']], 60)
            except (Failure, ValueError):
                pass
        if t.ran == 0:
            raise Skip('no README command could run here')
        if not os.path.exists(os.path.join(cwd, 'hello.qcow2')):
            fail('the tour exported no hello.qcow2', tail(''.join(t.log), 30))
