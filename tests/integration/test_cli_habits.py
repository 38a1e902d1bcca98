"""Docker's habits in the unik CLI against the real daemon and the qemu provider (issue 17):
ps -a/-q, build replacing a name unless --no-replace, rm/rmi refusals that name -f, logs --tail,
--since and -t, inspect of any kind of object, and the small defects (a Unikfile's name:, a
$(CXX) Makefile's hint printed once).  Each test has its own UNIK_HOME."""

import datetime
import json
import os
import re
import sys
import time

from harness import fail

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cli import Home, need_core, project, TICKER, HELLO  # noqa: E402


def wait_state(h, name, states, seconds=120):
    deadline = time.monotonic() + seconds
    while True:
        inst = h.json(['describe-instance', name])
        if inst.get('state') in states:
            return inst
        if time.monotonic() > deadline:
            fail('%s is still %s after %d s' % (name, inst.get('state'), seconds))
        time.sleep(0.2)


def test_ps_all_quiet_and_images_quiet():
    need_core()
    src = project('ticker', {'ticker.c': TICKER})
    with Home() as h:
        h.ok(['build', '--name', 'ticker', src])
        h.ok(['run', '-d', '--name', 'short', 'ticker'])
        h.ok(['run', '-d', '--name', 'long', 'ticker', 'forever'])
        wait_state(h, 'short', ('exited',))
        names = [l.split()[0] for l in h.ok(['ps']).stdout.splitlines()[1:]]
        if names != ['long']:
            fail('ps without -a must list the running instance only', str(names))
        p = h.ok(['ps', '-a'])
        if 'short' not in p.stdout or 'exited (0)' not in p.stdout:
            fail('ps -a does not list the ended instance', p.stdout)
        ids = {i['name']: i['id'] for i in h.json(['ps', '-a'])}
        if h.ok(['ps', '-q']).stdout.split() != [ids['long']]:
            fail('ps -q', h.ok(['ps', '-q']).stdout)
        if sorted(h.ok(['ps', '-aq']).stdout.split()) != sorted(ids.values()):
            fail('ps -aq', h.ok(['ps', '-aq']).stdout)
        img = h.json(['describe-image', 'ticker'])
        if h.ok(['images', '-q']).stdout.split() != [img['id']]:
            fail('images -q', h.ok(['images', '-q']).stdout)
        # The messages that refuse name the flag.
        p = h.run(['rm', 'long'])
        if p.returncode != 1 or 'unik rm -f' not in p.stderr:
            fail('rm of a running instance must name -f', p.stderr)
        p = h.run(['rmi', 'ticker'])
        if p.returncode != 1 or 'unik rmi -f' not in p.stderr:
            fail('rmi of an image in use must name -f', p.stderr)
        h.ok(['rm', '-f', 'long'], timeout=60)
        h.ok(['rmi', '-f', 'ticker'], timeout=60)
        if h.json(['ps', '-a']):
            fail('rmi -f left instances', json.dumps(h.json(['ps', '-a'])))


def test_build_replaces_unless_no_replace_and_unikfile_name_wins():
    need_core()
    src = project('dirname', {'hello.c': open(os.path.join(HELLO, 'hello.c')).read(),
                              'Unikfile': 'name: fromfile\n'})
    with Home() as h:
        p = h.ok(['build', src])
        if 'built image fromfile' not in p.stdout:
            fail("the Unikfile's name: did not name the image", p.stdout)
        first = h.json(['describe-image', 'fromfile'])['id']
        if any(i['name'] == 'dirname' for i in h.json(['images'])):
            fail("the directory's name won over the Unikfile's")
        h.ok(['build', src])
        second = h.json(['describe-image', 'fromfile'])['id']
        if second == first:
            fail('a second build of the same name did not replace the image')
        p = h.run(['build', '--no-replace', src])
        if p.returncode != 1 or '--no-replace' not in p.stderr + p.stdout:
            fail('build --no-replace of an existing name must fail naming the flag',
                 p.stdout + p.stderr)
        # --name beats the Unikfile; without a Unikfile name, the directory's name.
        h.ok(['build', '--name', 'given', src])
        plain = project('plaindir', {'hello.c': open(os.path.join(HELLO, 'hello.c')).read()})
        h.ok(['build', plain])
        names = sorted(i['name'] for i in h.json(['images']))
        if names != ['fromfile', 'given', 'plaindir']:
            fail('image names', str(names))


def test_cxx_makefile_gets_a_cxx_hint_once():
    need_core()
    src = project('cxx', {'app.cpp': '#include <cstdio>\nint main(){std::puts("hi");}\n',
                          'Makefile': 'app: app.cpp\n\t$(CXX) -o app app.cpp\n'})
    with Home() as h:
        p = h.run(['build', src])
        out = p.stdout + p.stderr
        if p.returncode != 1:
            fail('a C++ build must fail', out)
        if '$(CC)?' in out or '$(CXX)' not in out or 'C only' not in out:
            fail('the hint must be about $(CXX) and C++, not $(CC)', out)
        if out.count('unik builds C only') != 1:
            fail('the failure is printed %d times' % out.count('unik builds C only'), out)
        # A Makefile that links C objects with $(CXX) builds: CXX is unik-cc too.
        src = project('cxxlink', {'app.c': 'int main(void){return 0;}\n',
                                  'Makefile': 'app: app.o\n\t$(CXX) -o app app.o\n'})
        h.ok(['build', src])


def test_logs_tail_since_and_timestamps():
    need_core()
    src = project('ticker', {'ticker.c': TICKER})
    with Home() as h:
        h.ok(['build', '--name', 'ticker', src])
        before = datetime.datetime.now(datetime.timezone.utc)
        h.ok(['run', '-d', '--name', 't', 'ticker'])
        wait_state(h, 't', ('exited',))
        after = datetime.datetime.now(datetime.timezone.utc)
        whole = h.ok(['logs', 't']).stdout
        if 'tick 4' not in whole:
            fail('the console', whole)
        lines = whole.splitlines(True)
        p = h.ok(['logs', '--tail', '2', 't'])
        if p.stdout != ''.join(lines[-2:]):
            fail('--tail 2', p.stdout)
        if h.ok(['logs', '--tail', '0', 't']).stdout != '':
            fail('--tail 0 prints nothing')
        p = h.ok(['logs', '-t', 't'])
        stamped = p.stdout.splitlines()
        if len(stamped) != len(lines):
            fail('-t changed the number of lines', p.stdout)
        for line, raw in zip(stamped, lines):
            m = re.match(r'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z (.*)$', line)
            if not m or m.group(2) != raw.rstrip('\n'):
                fail('-t line %r for %r' % (line, raw), p.stdout)
            t = datetime.datetime.strptime(m.group(1), '%Y-%m-%dT%H:%M:%S.%f').replace(
                tzinfo=datetime.timezone.utc)
            if not before - datetime.timedelta(seconds=2) <= t <= after + \
                    datetime.timedelta(seconds=2):
                fail('the time %s is not within the run (%s .. %s)' % (t, before, after))
        # --since: from the time of tick 2 on, by an RFC 3339 time.
        t2 = [l for l in stamped if l.endswith(' tick 2')][0].split()[0]
        p = h.ok(['logs', '--since', t2, 't'])
        if not p.stdout.startswith('tick 2\n') or 'tick 1' in p.stdout:
            fail('--since %s' % t2, p.stdout)
        if h.ok(['logs', '--since', '1h', 't']).stdout != whole:
            fail('--since 1h must print everything')
        time.sleep(1.5)
        if h.ok(['logs', '--since', '1s', 't']).stdout != '':
            fail('--since 1s after the run printed lines')
        p = h.run(['logs', '--since', 'yesterday', 't'])
        if p.returncode != 2 or 'RFC 3339' not in p.stderr:
            fail('a bad --since is a usage error', p.stderr)


def test_inspect_any_kind_of_object():
    need_core()
    with Home() as h:
        h.ok(['build', '--name', 'hello', HELLO])
        h.ok(['run', '-d', '--name', 'inst', 'hello'])
        [img] = h.json(['inspect', 'hello'])
        if img.get('name') != 'hello' or 'formats' not in img:
            fail('inspect of an image', json.dumps(img))
        [inst] = json.loads(h.ok(['inspect', 'inst']).stdout)
        if inst.get('name') != 'inst' or inst.get('image') != 'hello':
            fail('inspect of an instance', json.dumps(inst))
        both = json.loads(h.ok(['inspect', 'hello', inst['id']]).stdout)
        if [o['name'] for o in both] != ['hello', 'inst']:
            fail('inspect of two names (one by id)', json.dumps(both))
        p = h.run(['volume', 'create', '--size', '8', 'hello'], timeout=120)
        if p.returncode == 0:
            p = h.run(['inspect', 'hello'])
            if p.returncode != 1 or 'image, volume' not in p.stderr or '--type' not in p.stderr:
                fail('an ambiguous name must be an error listing the kinds', p.stderr)
            [vol] = json.loads(h.ok(['inspect', '--type', 'volume', 'hello']).stdout)
            if 'size_bytes' not in json.dumps(vol) and vol.get('name') != 'hello':
                fail('inspect --type volume', json.dumps(vol))
        p = h.run(['inspect', 'nothing-here'])
        if p.returncode != 1 or 'no image, instance, volume or network named' not in p.stderr:
            fail('inspect of an unknown name', p.stderr)
        h.ok(['rm', '-f', 'inst'], timeout=60)


def test_init_writes_a_starter_that_builds_and_runs_for_each_base():
    need_core()
    from harness import out_dir
    root = os.path.join(out_dir(), 'init')
    with Home() as h:
        for base, want, files in (
                ('rump', 'Hello from p-rump!', ['Makefile', 'README.md', 'Unikfile', 'main.c']),
                ('includeos', 'p-includeos: tick 3', ['README.md', 'Unikfile', 'service.c']),
                ('mirage', 'Hello from p-mirage!', ['README.md', 'Unikfile', 'app.c'])):
            d = os.path.join(root, 'p-' + base)
            h.ok(['init', '--base', base, d])
            if sorted(os.listdir(d)) != files:
                fail('unik init --base %s wrote %s' % (base, sorted(os.listdir(d))))
            p = h.ok(['build', d], timeout=600)
            if 'built image p-%s' % base not in p.stdout:
                fail('the %s starter did not build as p-%s' % (base, base), p.stdout)
            p = h.ok(['run', 'p-' + base], timeout=300)
            if want not in p.stdout:
                fail('the %s starter did not print %r' % (base, want), p.stdout)
        # An existing project is left alone.
        d = os.path.join(root, 'p-rump')
        with open(os.path.join(d, 'main.c')) as f:
            before = f.read()
        p = h.run(['init', d])
        if p.returncode != 2 or '--force' not in p.stderr:
            fail('init over an existing project must refuse, naming --force', p.stderr)
        with open(os.path.join(d, 'main.c')) as f:
            if f.read() != before:
                fail('init changed an existing file')
        p = h.run(['init', '--base', 'unikraft', os.path.join(root, 'x')])
        if p.returncode != 2 or 'rump, includeos or mirage' not in p.stderr:
            fail('an unknown base', p.stderr)


def test_build_steps_and_a_progress_bar_on_a_terminal():
    need_core()
    from test_disk import need_pack_tools
    from test_cli import unik_bin
    import pty
    need_pack_tools()
    with Home() as h:
        p = h.ok(['build', '--name', 'hello', '--format', 'raw,qcow2', HELLO])
        steps = [l for l in p.stdout.splitlines() if re.match(r'\[\d+/\d+\] ', l)]
        if steps != ['[1/4] compiling with rump', '[2/4] storing the image',
                     '[3/4] packing raw', '[4/4] packing qcow2']:
            fail('the step lines of a build with two formats', p.stdout)
        if '\033' in p.stdout or '█' in p.stdout:
            fail('a bar or an escape on a pipe', repr(p.stdout))
        pid, fd = pty.fork()
        if pid == 0:
            os.environ.update(h.env, TERM='xterm')
            os.execv(unik_bin(), [unik_bin(), 'build', '--name', 'hello', '--format', 'raw',
                                  HELLO])
        out = b''
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        text = out.decode('utf-8', 'replace')
        if os.waitstatus_to_exitcode(status) != 0 or 'built image hello' not in text:
            fail('the build on a terminal', text[-2000:])
        if not re.search(r'\[3/3\] packing raw █+░+ 66%', text) or '\r\033[K' not in text:
            fail('no progress bar for the packing step on a terminal', repr(text[-2000:]))
        last = text.rstrip('\r\n').rsplit('\n', 1)[-1]
        if '█' in last.split('\033[K')[-1]:
            fail('the bar is left on the last line', repr(last))


ECHO = r'''
#include <stdio.h>
#include <string.h>

int main(void)
{
	char line[256];

	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		printf("got: %s", line);
		fflush(stdout);
		if (!strncmp(line, "quit", 4))
			return 7;
	}
	return 3;
}
'''


def pty_session(h, argv, script):
    """Runs unik argv on a new terminal; script is a list of (seconds to read, bytes to type
    after).  Returns (output, exit status, the terminal's lflag before and after)."""
    import pty
    import select
    import termios
    from test_cli import unik_bin
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(h.env, TERM='xterm')
        os.execv(unik_bin(), [unik_bin()] + argv)
    before = termios.tcgetattr(fd)[3]
    out = b''
    for secs, keys in script:
        end = time.monotonic() + secs
        while time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.1)
            if not r:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b''
            if not chunk:
                break
            out += chunk
            if isinstance(secs, float) and b'ready' in out and keys is not None:
                break
        if keys:
            os.write(fd, keys)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            fail('unik %s did not end' % ' '.join(argv), out.decode('utf-8', 'replace'))
        try:
            r, _, _ = select.select([fd], [], [], 0.1)
            if r:
                out += os.read(fd, 4096)
        except OSError:
            pass
    after = termios.tcgetattr(fd)[3]
    os.close(fd)
    return out.decode('utf-8', 'replace'), os.waitstatus_to_exitcode(status), before, after


def test_run_interactive_stdin_raw_terminal_and_detach():
    need_core()
    import termios
    src = project('echo', {'echo.c': ECHO})
    with Home() as h:
        h.ok(['build', '--name', 'echo', src])
        # -i from a pipe: the lines reach the guest's stdin.
        p = subprocess_run(h, ['run', '-i', 'echo'], b'hello\nquit\n')
        out = p.stdout.decode('utf-8', 'replace')
        if p.returncode != 7 or 'got: hello' not in out or 'got: quit' not in out:
            fail('run -i: the guest did not read its stdin (exit %d)' % p.returncode,
                 out + p.stderr.decode('utf-8', 'replace'))
        # -it on a terminal: raw keys (Enter becomes a newline), echoed; Ctrl-] detaches and
        # the instance keeps running; the terminal is as it was.
        out, code, before, after = pty_session(
            h, ['run', '-it', '--name', 'tty1', 'echo'],
            [(120.0, b'abc\r'), (5, b'\x1d'), (5, None)])
        if 'got: abc' not in out or 'abc\r\n' not in out:
            fail('-it: the typed line did not reach the guest, or was not echoed', repr(out))
        if code != 0 or 'detached from tty1' not in out:
            fail('Ctrl-] did not detach (exit %d)' % code, repr(out))
        if after != before or not after & termios.ECHO or not after & termios.ICANON:
            fail('the terminal was not restored after detaching')
        if h.json(['describe-instance', 'tty1']).get('state') != 'running':
            fail('the instance did not keep running after Ctrl-]')
        # Back in: quit ends it with its status; the terminal is restored on that path too.
        out, code, before, after = pty_session(
            h, ['run', '-it', '--name', 'tty2', 'echo'], [(120.0, b'quit\r'), (30, None)])
        if code != 7 or 'got: quit' not in out:
            fail('-it: the guest ended by input, exit %d' % code, repr(out))
        if after != before:
            fail('the terminal was not restored after the guest ended')
        p = h.run(['run', '-t', 'echo'])
        if p.returncode != 2 or 'not a terminal' not in p.stderr:
            fail('-t without a terminal', p.stderr)
        h.ok(['rm', '-f', 'tty1'], timeout=60)


def subprocess_run(h, args, data):
    import subprocess
    from test_cli import unik_bin
    return subprocess.run([unik_bin()] + args, env=h.env, input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=180)
