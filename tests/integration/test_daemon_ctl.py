"""`unik daemon start|stop|status` and socket activation: the daemon serves the listening sockets a
service manager passes (LISTEN_PID, LISTEN_FDS from fd 3, as systemd's unik.socket does) instead
of binding its own, and the CLI starts a daemon in the background, tells whether one runs (exit
0, or 3 as systemctl does) and stops it, waiting until the process is gone.  No systemd needed:
the test passes the sockets itself."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import bin_dir, fail, out_dir, tail  # noqa: E402
from test_daemon_fixture import UnixHTTPConnection, free_port  # noqa: E402

# Moves the two sockets to fds 3 and 4, sets LISTEN_PID to its own pid (which exec keeps) and
# execs the daemon: what systemd does for a socket-activated service.
WRAPPER = r'''
import fcntl, os, sys
fds = [fcntl.fcntl(int(a), fcntl.F_DUPFD, 10) for a in sys.argv[1:3]]
for i, fd in enumerate(fds):
    os.dup2(fd, 3 + i, inheritable=True)
for fd in fds:
    os.close(fd)
os.environ['LISTEN_PID'] = str(os.getpid())
os.environ['LISTEN_FDS'] = '2'
os.execv(sys.argv[3], sys.argv[3:])
'''


def unik(args, home, code=0, timeout=120, env=None):
    e = {k: v for k, v in os.environ.items() if k not in ('UNIK_HOST', 'UNIK_TOKEN')}
    e['UNIK_HOME'] = home
    e.update(env or {})
    r = subprocess.run([os.path.join(bin_dir(), 'unik')] + list(args), env=e,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    with open(os.path.join(out_dir(), 'unik.log'), 'a') as f:
        f.write('$ unik %s\n%s%s[exit %d]\n' % (' '.join(args), r.stdout, r.stderr,
                                                 r.returncode))
    if code is not None and r.returncode != code:
        fail('unik %s: exit %d, wanted %d' % (' '.join(args), r.returncode, code),
             tail(r.stdout + r.stderr))
    return r


def get(sock_path, path):
    c = UnixHTTPConnection(sock_path, timeout=30)
    try:
        c.request('GET', path)
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def test_socket_activation():
    home = os.path.join(out_dir(), 'home')
    run_dir = os.path.join(out_dir(), 'run')
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, 'daemon.sock')
    us = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    us.bind(path)
    us.listen(16)
    ts = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ts.bind(('127.0.0.1', 0))
    ts.listen(16)
    port = ts.getsockname()[1]
    log = open(os.path.join(out_dir(), 'daemon.log'), 'ab')
    env = {k: v for k, v in os.environ.items() if k not in ('UNIK_HOST', 'UNIK_TOKEN')}
    proc = subprocess.Popen([sys.executable, '-c', WRAPPER, str(us.fileno()), str(ts.fileno()),
                             os.path.join(bin_dir(), 'unik'), 'daemon', '--home', home],
                            pass_fds=(us.fileno(), ts.fileno()), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, env=env, start_new_session=True)
    # The sockets are the daemon's now; connections wait in their backlog until it serves.
    us.close()
    ts.close()
    try:
        status, d = get(path, '/v1/daemon')
        if status != 200 or not d.get('socket_activated'):
            fail('GET /v1/daemon on the passed socket: %d' % status, json.dumps(d))
        want = [path, '127.0.0.1:%d' % port]
        if d['sockets'] != want or d['pid'] != proc.pid or d['home'] != home:
            fail('the daemon reports sockets %r pid %r, wanted %r pid %d' %
                 (d['sockets'], d['pid'], want, proc.pid), json.dumps(d))
        if os.path.exists(os.path.join(home, 'daemon.sock')):
            fail('a socket-activated daemon made its own socket in its home too')
        tcp = socket.create_connection(('127.0.0.1', port), timeout=30)
        tcp.sendall(b'GET /v1/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        answer = b''
        while True:
            chunk = tcp.recv(4096)
            if not chunk:
                break
            answer += chunk
        tcp.close()
        if b' 200 ' not in answer.split(b'\r\n')[0] or b'"version"' not in answer:
            fail('the passed TCP socket does not serve the API', answer.decode('replace'))
        st = unik(['daemon', 'status', '--host', 'unix://' + path], home)
        if 'pid: %d' % proc.pid not in st.stdout or 'socket activated: yes' not in st.stdout:
            fail('unik daemon status does not show the activated daemon', st.stdout)
        # The pid file is in its home: `unik daemon stop --home` ends it.
        unik(['daemon', 'stop', '--home', home], home)
        if proc.poll() is None:
            proc.wait(timeout=10)
        if proc.returncode != 0:
            fail('the daemon exited with status %d after SIGTERM' % proc.returncode)
        # The socket file belongs to the service manager: the daemon leaves it.
        if not os.path.exists(path):
            fail('the daemon removed the socket file the service manager made')
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)


def test_listen_fds_for_another_pid_are_ignored():
    """LISTEN_PID names some other process (an inherited environment): the daemon binds its
    own socket and leaves fd 3 alone."""
    home = os.path.join(out_dir(), 'home')
    unik(['daemon', 'start'], home, env={'LISTEN_PID': '1', 'LISTEN_FDS': '1'})
    try:
        st = unik(['daemon', 'status', '-o', 'json'], home)
        d = json.loads(st.stdout)
        if d['sockets'] != [os.path.join(home, 'daemon.sock')] or d['socket_activated']:
            fail('a daemon given another process\'s LISTEN_PID took fd 3', st.stdout)
    finally:
        unik(['daemon', 'stop'], home)


def test_start_status_stop():
    home = os.path.join(out_dir(), 'home')
    r = unik(['daemon', 'status'], home, code=3)
    if 'running: no' not in r.stdout:
        fail('status without a daemon', r.stdout)
    r = unik(['daemon', 'stop'], home)
    if 'no daemon runs' not in r.stdout:
        fail('stop without a daemon', r.stdout)
    addr = '127.0.0.1:%d' % free_port()
    r = unik(['daemon', 'start', '--listen', addr], home)
    with open(os.path.join(home, 'daemon.pid')) as f:
        pid = int(f.read())
    if 'pid %d' % pid not in r.stdout:
        fail('daemon start does not name the pid of daemon.pid (%d)' % pid, r.stdout)
    try:
        st = unik(['daemon', 'status'], home)
        for want in ('running: yes', 'pid: %d' % pid, 'home: %s' % home,
                     os.path.join(home, 'daemon.sock'), addr, 'version: '):
            if want not in st.stdout:
                fail('daemon status does not say %r' % want, st.stdout)
        d = json.loads(unik(['daemon', 'status', '-o', 'json'], home).stdout)
        if not d['running'] or d['pid'] != pid:
            fail('daemon status -o json', json.dumps(d))
        again = unik(['daemon', 'start'], home)
        if 'already runs' not in again.stdout or 'pid %d' % pid not in again.stdout:
            fail('a second daemon start', again.stdout + again.stderr)
        stop = unik(['daemon', 'stop'], home)
        if 'stopped (pid %d)' % pid not in stop.stdout:
            fail('daemon stop', stop.stdout)
        # It returns once the process is gone (the daemon is not our child: no zombie).
        if alive(pid):
            fail('daemon stop returned while pid %d still runs' % pid)
        r = unik(['daemon', 'status'], home, code=3)
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_stale_pid_file_is_not_killed():
    """A daemon.pid left by a daemon that died names some other process by now: stop leaves it
    alone, status says no daemon runs."""
    home = os.path.join(out_dir(), 'home')
    os.makedirs(home, mode=0o700, exist_ok=True)
    other = subprocess.Popen(['sleep', '300'])
    try:
        with open(os.path.join(home, 'daemon.pid'), 'w') as f:
            f.write('%d\n' % other.pid)
        unik(['daemon', 'status'], home, code=3)
        r = unik(['daemon', 'stop'], home)
        if 'no daemon runs' not in r.stdout:
            fail('stop with a stale pid file', r.stdout)
        time.sleep(0.2)
        if other.poll() is not None:
            fail('daemon stop killed the process a stale pid file named')
    finally:
        other.kill()
        other.wait()


def test_stop_usage_errors():
    home = os.path.join(out_dir(), 'home')
    r = unik(['daemon', 'stop', '--time', 'soon'], home, code=2)
    if '--time' not in r.stderr:
        fail('a bad --time', r.stderr)
    r = unik(['daemon', 'status', 'extra'], home, code=2)
    if 'no arguments' not in r.stderr:
        fail('status with an argument', r.stderr)
