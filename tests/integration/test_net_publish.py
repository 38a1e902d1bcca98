"""The qemu provider's networking (issue 14, host side), through tests/tools/provider_contract:
published ports on QEMU's user-mode network (hostfwd), a port in use refused before anything
starts, and a NIC on a bridge the test makes itself, reached directly and through unik-shim's
forwarder (TCP with curl and wrk, UDP with an echo guest), its tap gone after remove; and the
forwarder alone, unik-shim in front of servers of the test (half-close, resets, UDP clients,
a port in use).  The guests are
examples/http and tests/apps/udpecho.c; every test stops and removes what it started, and
deletes its bridge, even when it fails."""

import os
import random
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Skip, fail, timeout  # noqa: E402
from apps import app  # noqa: E402
from s3rver import free_port  # noqa: E402
import test_provider_contract as pc  # noqa: E402
import test_net_http  # noqa: E402

USER_NIC = 'net:net0:ip=10.0.2.15/24:gw=10.0.2.2:dns=10.0.2.3'


def need_qemu():
    if not shutil.which('curl'):
        raise Skip('curl is not installed (Debian: curl)')
    pc.need('qemu')


def need_bridges():
    if os.geteuid() != 0:
        raise Skip('making a bridge and taps needs root')
    if not os.path.exists('/dev/net/tun'):
        raise Skip('/dev/net/tun is missing')
    if not shutil.which('ip'):
        raise Skip('ip is not installed (Debian: iproute2)')


def sh(*cmd, check=True):
    p = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=30)
    if check and p.returncode != 0:
        fail('%s failed: %s' % (' '.join(cmd), p.stdout))
    return p


def link_exists(name):
    return sh('ip', 'link', 'show', 'dev', name, check=False).returncode == 0


class Bridge:
    """ukbrtN with 10.91.N.1/24, deleted on exit."""

    def __enter__(self):
        used = sh('ip', '-4', '-o', 'addr').stdout
        for _ in range(50):
            n = random.randint(10, 250)
            self.name = 'ukbrt%d' % n
            if '10.91.%d.' % n not in used and not link_exists(self.name):
                break
        else:
            raise Skip('no free 10.91.N.0/24 for a test bridge')
        self.n = n
        p = sh('ip', 'link', 'add', self.name, 'type', 'bridge', check=False)
        if p.returncode != 0:
            raise Skip('cannot make a bridge here: %s' % p.stdout.strip())
        sh('ip', 'addr', 'add', '10.91.%d.1/24' % n, 'dev', self.name)
        sh('ip', 'link', 'set', self.name, 'up')
        return self

    def addr(self, host):
        return '10.91.%d.%d' % (self.n, host)

    def __exit__(self, *exc):
        sh('ip', 'link', 'del', self.name, check=False)


def qemu_running(inst):
    """PIDs of QEMU processes of this instance directory (its -name guest=DIR)."""
    found = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if b'guest=' + inst['dir'].encode() in argv:
            found.append(int(pid))
    return found


def start(inst, kernel, cmdline, devices, mem=64):
    r = pc.call('qemu', 'run', inst['dir'], kernel, cmdline, mem, inst=inst, devices=devices)
    if r.get('state') != 'running':
        fail('run did not report a running VM: %r' % r, pc.context(inst))
    return r


def finish(inst):
    """Stops and removes the instance, whatever state it is in."""
    pc.call('qemu', 'stop', inst['dir'], '--force', inst=inst, ok=False)
    pc.call('qemu', 'remove', inst['dir'], inst=inst, ok=False)


def curl(url):
    p = subprocess.run(['curl', '-s', '-m', '20', url], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    return p.stdout


def http_guest():
    return test_net_http.build_example()


def tap_of(inst, index=0):
    return 'uk%s%x' % (inst['id'], index)


@timeout(120)
def test_user_mode_published_port():
    """-p 127.0.0.1:PORT:8080 on user-mode networking: curl on the host reaches the guest, and
    status shows the address the core gave the NIC."""
    need_qemu()
    kernel = http_guest()
    port = free_port()
    inst = pc.new_inst('qemu', 'userfwd')
    try:
        start(inst, kernel, 'http', [USER_NIC + ':port=127.0.0.1+%d+8080' % port])
        pc.wait_console(inst, 'listening on port 8080', limit=60)
        got = curl('http://127.0.0.1:%d/' % port)
        if got != 'hello from unik: request 1\n':
            fail('curl through hostfwd got %r' % got, pc.context(inst))
        st = pc.call('qemu', 'status', inst['dir'], inst=inst)
        if st.get('ip') != '10.0.2.15':
            fail('status ip=%r, want 10.0.2.15' % st.get('ip'))
        with open(os.path.join(inst['dir'], 'qemu.cmd')) as f:
            cmd = f.read()
        if 'hostfwd=tcp:127.0.0.1:%d-10.0.2.15:8080' % port not in cmd:
            fail('qemu.cmd lacks the hostfwd rule', cmd)
    finally:
        finish(inst)
    if qemu_running(inst):
        fail('QEMU still runs after stop')


def expect_in_use(r, port, proto, inst):
    want = 'port %d/%s on 127.0.0.1 is in use (by another instance or program); pick another ' \
           'with -p HOSTPORT:GUESTPORT' % (port, proto)
    if r['_rc'] != 1 or r.get('code') != 'exists' or want not in r.get('error', ''):
        fail('a port in use was not refused clearly: %r' % r, pc.context(inst))
    for name in ('qemu.pid', 'shim.pid'):
        if os.path.exists(os.path.join(inst['dir'], name)):
            fail('%s was left behind' % name, pc.context(inst))
    if qemu_running(inst):
        fail('a QEMU process was left behind')


@timeout(60)
def test_port_in_use_user_mode():
    """A published port some program holds: the run fails saying so, and starts nothing."""
    need_qemu()
    holder = socket.socket()
    holder.bind(('127.0.0.1', 0))
    holder.listen()
    port = holder.getsockname()[1]
    inst = pc.new_inst('qemu', 'inuse')
    try:
        r = pc.call('qemu', 'run', inst['dir'], app('hello'), '', 64, inst=inst, ok=False,
                    devices=[USER_NIC + ':port=127.0.0.1+%d+80' % port])
        expect_in_use(r, port, 'tcp', inst)
    finally:
        holder.close()
        finish(inst)


@timeout(60)
def test_port_in_use_on_bridge():
    """The same on a bridge (UDP here): refused before a tap is made; and a run that fails
    after making its tap deletes it again."""
    need_qemu()
    need_bridges()
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(('127.0.0.1', 0))
    port = holder.getsockname()[1]
    with Bridge() as br:
        inst = pc.new_inst('qemu', 'inusebr')
        try:
            nic = 'net:net0:network=t:bridge=%s:ip=%s/24:gw=%s:port=127.0.0.1+%d+7/udp' % (
                br.name, br.addr(2), br.addr(1), port)
            r = pc.call('qemu', 'run', inst['dir'], app('hello'), '', 64, inst=inst, ok=False,
                        devices=[nic])
            expect_in_use(r, port, 'udp', inst)
            if link_exists(tap_of(inst)):
                fail('tap %s was left behind' % tap_of(inst))
            # A failure after the tap was made (QEMU cannot be started) deletes it too.
            os.environ['UNIK_QEMU'] = '/nonexistent/qemu-system-x86_64'
            try:
                r = pc.call('qemu', 'run', inst['dir'], app('hello'), '', 64, inst=inst,
                            ok=False, devices=[nic.split(':port=')[0]])
            finally:
                del os.environ['UNIK_QEMU']
            if r['_rc'] != 1 or 'nonexistent' not in r.get('error', ''):
                fail('a QEMU that does not exist was not reported: %r' % r, pc.context(inst))
            if link_exists(tap_of(inst)):
                fail('tap %s was left behind by a failed start' % tap_of(inst))
        finally:
            holder.close()
            finish(inst)


def many_connections(port, inst):
    """200 concurrent keep-alive connections from wrk through the forwarder, without an
    error."""
    if not shutil.which('wrk'):
        return  # the rest of the test still says something
    p = subprocess.run(['wrk', '-t', '2', '-c', '200', '-d', '3s', '--timeout', '10s',
                        'http://127.0.0.1:%d/' % port], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    if p.returncode != 0 or 'Socket errors' in p.stdout or 'Non-2xx' in p.stdout or \
            ' 0 requests in' in p.stdout:
        fail('wrk through the forwarder had errors', p.stdout + '\n' + pc.context(inst))


def udp_echo(addr, payload, tries=40):
    """Sends payload until it comes back (the guest may still be starting)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    try:
        for _ in range(tries):
            s.sendto(payload, addr)
            try:
                data, _ = s.recvfrom(2048)
            except socket.timeout:
                continue
            if data == payload:
                return True
        return False
    finally:
        s.close()


@timeout(180)
def test_bridge_direct_and_forwarded():
    """A NIC on a bridge with its own address: curl reaches the guest's HTTP server at that
    address, and at 127.0.0.1:PORT through unik-shim's forwarder; a second guest echoes UDP
    through a published port to two clients, each getting its own replies.  Stop keeps the
    taps (a run again reuses them), remove deletes them."""
    need_qemu()
    need_bridges()
    kernel = http_guest()
    tport, uport = free_port(), free_port()
    with Bridge() as br:
        web = pc.new_inst('qemu', 'brweb')
        echo = pc.new_inst('qemu', 'brecho')
        try:
            nic = 'net:net0:network=t:bridge=%s:ip=%s/24:gw=%s' % (br.name, br.addr(2),
                                                                  br.addr(1))
            # A thread per connection: 200 of them need more than 64 MiB.
            r = start(web, kernel, 'http', [nic + ':port=127.0.0.1+%d+8080' % tport], mem=256)
            if r.get('ip') != br.addr(2):
                fail('run: ip=%r, want %s' % (r.get('ip'), br.addr(2)))
            if not link_exists(tap_of(web)):
                fail('no tap %s' % tap_of(web))
            nic = 'net:net0:network=t:bridge=%s:ip=%s/24:gw=%s' % (br.name, br.addr(3),
                                                                  br.addr(1))
            start(echo, app('udpecho'), 'udpecho 7', [nic + ':port=127.0.0.1+%d+7/udp' % uport])
            pc.wait_console(web, 'listening on port 8080', limit=60)
            got = curl('http://%s:8080/' % br.addr(2))
            if got != 'hello from unik: request 1\n':
                fail('curl to the guest on the bridge got %r' % got, pc.context(web))
            got = curl('http://127.0.0.1:%d/' % tport)
            if got != 'hello from unik: request 2\n':
                fail('curl through the forwarder got %r' % got, pc.context(web))
            st = pc.call('qemu', 'status', web['dir'], inst=web)
            if st.get('ip') != br.addr(2):
                fail('status ip=%r, want %s' % (st.get('ip'), br.addr(2)))
            many_connections(tport, web)

            pc.wait_console(echo, 'udp echo on port 7', limit=60)
            if not udp_echo((br.addr(3), 7), b'direct'):
                fail('no UDP echo from the guest on the bridge', pc.context(echo))
            for payload in (b'first client', b'second client'):
                if not udp_echo(('127.0.0.1', uport), payload):
                    fail('no UDP echo through the forwarder for %r' % payload,
                         pc.context(echo))

            # Stopped and run again, the echo guest gets the same tap back and its port
            # again.
            pc.call('qemu', 'stop', echo['dir'], '--force', inst=echo)
            if not link_exists(tap_of(echo)):
                fail('stop deleted the tap')
            start(echo, app('udpecho'), 'udpecho 7', [nic + ':port=127.0.0.1+%d+7/udp' % uport])
            if not udp_echo(('127.0.0.1', uport), b'again'):
                fail('no UDP echo after a run again', pc.context(echo))

            pc.call('qemu', 'stop', web['dir'], '--force', inst=web)
            if not link_exists(tap_of(web)):
                fail('stop deleted the tap')
            pc.call('qemu', 'remove', web['dir'], inst=web)
            if link_exists(tap_of(web)):
                fail('remove left the tap %s' % tap_of(web))
        finally:
            finish(web)
            finish(echo)
        if link_exists(tap_of(echo)):
            fail('remove left the tap %s' % tap_of(echo))
        for inst in (web, echo):
            if qemu_running(inst):
                fail('QEMU still runs after stop')


def test_hostfwd_failure_reported():
    """A port taken between run()'s check and QEMU's start: QEMU exits with "Could not set up
    host forwarding rule", and status says which port is in use, as run() would have."""
    inst = pc.new_inst('qemu', 'hostfwd')
    d = inst['dir']
    records = {
        'qemu.pid': '999999999 1\n',
        'exit': 'pid=999999999\nwait_status=256\nexit_code=1\nfinished=1.0\n',
        'qemu.err': "qemu-system-x86_64: -netdev user,id=net-net0,hostfwd=tcp:127.0.0.1:8080-"
                    "10.0.2.15:80: Could not set up host forwarding rule "
                    "'tcp:127.0.0.1:8080-10.0.2.15:80'\n",
    }
    for name, text in records.items():
        with open(os.path.join(d, name), 'w') as f:
            f.write(text)
    st = pc.call('qemu', 'status', d, inst=inst)
    want = 'port 8080/tcp on 127.0.0.1 is in use (by another instance or program); pick ' \
           'another with -p HOSTPORT:GUESTPORT'
    if st.get('state') != 'crashed' or st.get('detail') != want:
        fail('status after a hostfwd failure: %r' % st)


class Shim:
    """unik-shim with --forward rules in front of a program that only waits (sleep), the
    "guest" being servers of this test on 127.0.0.1: the forwarder alone, without a VM."""

    def __init__(self, forwards):
        from harness import bin_dir, out_dir
        self.dir = os.path.join(out_dir(), 'shim%d' % random.randint(0, 1 << 30))
        os.makedirs(self.dir)
        r, w = os.pipe()
        cmd = [os.path.join(bin_dir(), 'unik-shim'), '--dir', self.dir, '--ready-fd', str(w)]
        for f in forwards:
            cmd += ['--forward', f]
        cmd += ['--', 'sleep', '60']
        self.proc = subprocess.Popen(cmd, pass_fds=(w,), stdin=subprocess.DEVNULL)
        os.close(w)
        with os.fdopen(r) as f:
            self.report = f.readline()
        self.proc.wait(10)  # the first process exits once the supervisor runs

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # The supervisor ends with its program: end the program by its recorded PID.
        try:
            with open(os.path.join(self.dir, 'qemu.pid')) as f:
                os.kill(int(f.read().split()[0]), 9)
        except (OSError, ValueError):
            pass


def listener(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(('127.0.0.1', 0))
    if kind == socket.SOCK_STREAM:
        s.listen(256)
    return s, s.getsockname()[1]


@timeout(60)
def test_shim_forwarder_alone():
    """The forwarder's TCP half-close (the client's end of file reaches the server, whose answer
    still comes back), a refused connection to the guest reset, many concurrent connections,
    and UDP replies going back to the client that asked, with a port in use refused."""
    import threading
    srv, sport = listener()
    dead, dport = listener()
    dead.close()  # nothing listens there: the guest refuses
    usrv, uport = listener(socket.SOCK_DGRAM)
    tport, rport, uhost = free_port(), free_port(), free_port()

    def serve():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=answer, args=(c,), daemon=True).start()

    def answer(c):
        n = 0
        while True:
            b = c.recv(65536)
            if not b:
                break
            n += len(b)
        c.sendall(b'got %d bytes\n' % n)
        c.close()

    def echo_udp():
        while True:
            try:
                b, a = usrv.recvfrom(2048)
            except OSError:
                return
            usrv.sendto(b'echo ' + b, a)

    threading.Thread(target=serve, daemon=True).start()
    threading.Thread(target=echo_udp, daemon=True).start()
    rules = ['tcp:127.0.0.1:%d:127.0.0.1:%d' % (tport, sport),
             'tcp:127.0.0.1:%d:127.0.0.1:%d' % (rport, dport),
             'udp:127.0.0.1:%d:127.0.0.1:%d' % (uhost, uport)]
    try:
        with Shim(rules) as shim:
            if not shim.report.startswith('ok '):
                fail('unik-shim did not start: %r' % shim.report)
            # Half-close: everything sent, then our end of file, then the answer.
            c = socket.create_connection(('127.0.0.1', tport), timeout=10)
            c.sendall(b'x' * 300000)
            c.shutdown(socket.SHUT_WR)
            got = b''
            while True:
                b = c.recv(4096)
                if not b:
                    break
                got += b
            c.close()
            if got != b'got 300000 bytes\n':
                fail('half-closed exchange through the forwarder got %r' % got)
            # Many at once.
            conns = [socket.create_connection(('127.0.0.1', tport), timeout=10)
                     for _ in range(100)]
            for i, c in enumerate(conns):
                c.sendall(b'y' * i)
                c.shutdown(socket.SHUT_WR)
            for i, c in enumerate(conns):
                got = c.makefile('rb').read()
                if got != b'got %d bytes\n' % i:
                    fail('connection %d got %r' % (i, got))
                c.close()
            # The guest refuses: the client is reset (the reset can beat the end of the
            # client's own connect), or sees its connection end at once.
            try:
                c = socket.create_connection(('127.0.0.1', rport), timeout=10)
                try:
                    if c.recv(10) != b'':
                        fail('a refused connection returned data')
                finally:
                    c.close()
            except ConnectionResetError:
                pass
            # Two UDP clients, each getting its own reply.
            a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for s in (a, b):
                s.settimeout(5)
            a.sendto(b'from a', ('127.0.0.1', uhost))
            b.sendto(b'from b', ('127.0.0.1', uhost))
            if a.recv(100) != b'echo from a' or b.recv(100) != b'echo from b':
                fail('UDP replies went to the wrong client')
            a.close()
            b.close()
            # Its ports are taken: a second shim with the same rule does not start.
            with Shim(rules[:1]) as second:
                if not second.report.startswith('error 17 port %d/tcp on 127.0.0.1 is in use'
                                                % tport):
                    fail('a second shim on the same port reported %r' % second.report)
    finally:
        srv.close()
        usrv.close()
