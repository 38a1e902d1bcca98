"""BSD sockets in the guest (issue 14): AF_INET over lwIP on the loopback interface (no NIC),
and socketpair(AF_UNIX).  tests/apps/sockets.c runs a TCP echo server thread and a client on
127.0.0.1 and goes through the calls' behaviour; its output is cross-checked against the same
program run natively on the host's loopback, so that the expectation is Linux's.  Skipped when
the build had no lwIP source."""

import os

from harness import Skip, accels, build_dir, fail
from qemu import boot
from apps import app, run_native


def require_lwip():
    with open(os.path.join(build_dir(), 'runtime', 'net', 'lwip_config.h')) as f:
        if f.read().split() != ['#define', 'UNIK_LWIP', '1']:
            raise Skip('the runtime was built without lwIP (no lwip source in build/src)')


def native_agrees(name, args, expected_app, expected_status):
    """The musl-gcc build, run on the host's own loopback, prints the same (test_guest.py)."""
    path = os.path.join(os.path.dirname(app(name)), name + '.native')
    if not os.path.exists(path):
        return
    got, status = run_native(path, args, argv0=name)
    if got != expected_app or status != expected_status:
        fail('the native run of %s disagrees with the expectation (status %d, want %d)'
             % (name, status, expected_status), 'native output:\n%s\nexpected:\n%s'
             % (got, expected_app))

SOCKETS_WANT = (
             'listen on 127.0.0.1 port 0: ok, port assigned: yes\n'
             'connect: ok\n'
             'getpeername: 127.0.0.1:the port\n'
             'echo: 1048576 bytes, checksum ok (0af27718)\n'
             'shutdown SHUT_WR: 0\n'
             'read after shutdown (EOF from the server): 0\n'
             'send after SHUT_WR: -1 EPIPE\n'
             'server echoed 1048576 bytes\n'
             'accept, nothing pending, non-blocking: -1 EAGAIN\n'
             'non-blocking connect: -1 EINPROGRESS\n'
             'poll: 1 out=1 err=0\n'
             'SO_ERROR after connect: 0\n'
             'poll listener: 1 in=1\n'
             'accept4: ok from 127.0.0.1, nonblock 1 cloexec 1\n'
             'recv, nothing there, non-blocking: -1 EAGAIN\n'
             'recv MSG_DONTWAIT on a blocking socket: -1 EAGAIN\n'
             'send: 3\n'
             'recv MSG_PEEK: 2\n'
             'recv: 3\n'
             'got: abc\n'
             'bind to a port in use: -1 EADDRINUSE\n'
             'bind to an address not this machine\'s: -1 EADDRNOTAVAIL\n'
             'connect to a closed port: -1 ECONNREFUSED\n'
             'getpeername unconnected: -1 ENOTCONN\n'
             'setsockopt TCP_NODELAY: 0\n'
             'TCP_NODELAY: 1\n'
             'setsockopt SO_REUSEADDR: 0\n'
             'SO_REUSEADDR: 1\n'
             'setsockopt SO_KEEPALIVE: 0\n'
             'SO_KEEPALIVE: 1\n'
             'SO_TYPE: 1\n'
             'SO_ERROR: 0\n'
             'setsockopt unknown option: -1 Protocol not available\n'
             'SO_TYPE udp: 2\n'
             'shutdown of the listening socket: 0\n'
             'accept ended by shutdown: -1 EINVAL\n'
             'epoll, nothing pending: 0\n'
             'epoll, a connection pending: 1 id=1 in=1\n'
             'epoll, accepted and idle: 0\n'
             'epoll, data on the connection: 1 id=2 in=1\n'
             'read data then EOF: 4 0\n'
             'epoll at EOF: 1 in=1\n'
             'recvfrom empty, MSG_DONTWAIT: -1 EAGAIN\n'
             'sendto: 4\n'
             'recvfrom: 4 "ping" from 127.0.0.1 the sender\'s port\n'
             'sendto back: 11\n'
             'recvmsg: 11 "hello" " world" flags 0\n'
             'recvmsg short: 4 "trun" MSG_TRUNC 1\n'
             'connect udp: 0\n'
             'send connected: 1\n'
             'recv: 1 c\n'
             'socketpair stream: 0\n'
             'write 0->1: 4\n'
             'write 1->0: 5\n'
             'read 1: 4 left\n'
             'read 0: 5 right\n'
             'read empty, non-blocking: -1 EAGAIN\n'
             'poll: 1 in=0 out=1\n'
             'read after the peer closed: 0\n'
             'send to a closed peer: -1 EPIPE\n'
             'socketpair dgram: 0\n'
             'cloexec: 1\n'
             'dgram 1: 3 one\n'
             'dgram 2: 4 two!\n'
             'dgram short read: 2 ba\n'
             'dgram empty, MSG_DONTWAIT: -1 EAGAIN\n'
             'SO_TYPE: 2\n'
             'done\n'
             )


@accels
def test_sockets_loopback(accel):
    """TCP (1 MiB echo with a checksum, EOF after SHUT_WR, non-blocking connect and accept4,
    EAGAIN, ECONNREFUSED, EADDRINUSE, EPIPE, options, epoll), UDP (sendto, recvfrom, recvmsg
    with iovecs, MSG_TRUNC) and socketpair of both kinds."""
    require_lwip()
    r = boot(app('sockets'), 'sockets', accel=accel, mem='256M', timeout=120)
    r.expect_status(0).expect_app(SOCKETS_WANT)
    native_agrees('sockets', [], r.app, 0)


@accels
def test_af_unix_socket_unsupported(accel):
    """socket(AF_UNIX) is not there yet (socketpair is): EAFNOSUPPORT, as documented."""
    require_lwip()
    r = boot(app('net_stack'), 'net_stack unix', accel=accel)
    r.expect_status(0).expect_app('socket(AF_UNIX): -1 EAFNOSUPPORT\nnet stack program ran\n')


@accels
def test_sigpipe_on_a_shut_down_connection(accel):
    require_lwip()
    r = boot(app('sockets'), 'sockets sigpipe', accel=accel)
    r.expect_status(141).expect_app('writing after shutdown\n')
    if 'unik: killed by signal 13' not in r.runtime_lines:
        r.fail('no "unik: killed by signal 13" line')
    native_agrees('sockets', ['sigpipe'], r.app, -13)  # run_native: -signal


@accels
def test_socketpair_deadlock_reported(accel):
    """socketpair's queues are not external: a read nothing can satisfy is a deadlock."""
    require_lwip()
    r = boot(app('sockets'), 'sockets deadlock', accel=accel)
    r.expect_status(255).expect_app('reading an empty socketpair\n')
    if not any(l.startswith('unik: deadlock: ') for l in r.runtime_lines):
        r.fail('no "unik: deadlock: ..." line')


STRESS_WANT = ('duplex: sent 4194304, got 4194304 back, 0 wrong, last read 0\n'
               'short connections: 50 of 50\n'
               'read after the peer reset: -1 ECONNRESET\n'
               'poll after the reset: 1 in=1 out=1 hup=1\n'
               'read again: 0\n')


@accels
def test_sockets_duplex_and_many_connections(accel):
    """4 MiB each way at once on one connection (both lwIP windows close: lwIP alone would
    acknowledge the other end's acknowledgements forever), 50 short connections (TIME_WAIT),
    and a close with unread data resetting the connection."""
    require_lwip()
    r = boot(app('sockets'), 'sockets stress', accel=accel, mem='256M', timeout=300)
    r.expect_status(0).expect_app(STRESS_WANT)
    native_agrees('sockets', ['stress'], r.app, 0)
