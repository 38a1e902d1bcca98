"""Starts virtlogd and libvirtd as root without systemd, as ../shared/DESIGN.md says, for the kvm
tests and the kvm benchmark.

A socket file is not a running daemon: a daemon that was killed leaves its socket behind, and a
connection to it is refused.  So each daemon is asked, by connecting to its socket, and started
when nothing answers, whether or not the other one runs (libvirtd needs virtlogd for every
domain's console and log)."""

import errno
import os
import shutil
import socket
import subprocess
import time

LIBVIRTD_SOCK = '/run/libvirt/libvirt-sock'
VIRTLOGD_SOCK = '/run/libvirt/virtlogd-sock'


class Unavailable(Exception):
    """libvirtd cannot be started here; the message says why."""


def which(prog):
    return shutil.which(prog) or shutil.which(prog, path='/usr/sbin:/usr/bin:/sbin:/bin')


def _connect(path):
    """None when something accepts a connection on the unix socket at path, else the errno."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        return None
    except OSError as e:
        return e.errno or errno.ETIMEDOUT
    finally:
        s.close()


def answers(path):
    """True when something accepts a connection on the unix socket at path."""
    return _connect(path) is None


def _start(prog, sock, log, deadline):
    e = _connect(sock)
    if e is None:
        return
    if e == errno.ECONNREFUSED:
        # Left by a daemon that is gone: nothing would ever answer on it.
        os.unlink(sock)
    with open(log, 'a') as f:
        f.write('$ %s -d\n' % prog)
        f.flush()
        subprocess.run([which(prog), '-d'], stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                       timeout=30)
    while not answers(sock):
        if time.monotonic() > deadline:
            with open(log) as f:
                tail = f.read().strip()[-300:]
            raise Unavailable('%s could not be started: %s' % (prog,
                                                               tail or 'no answer on ' + sock))
        time.sleep(0.05)


def ensure(log):
    """Makes sure virtlogd and libvirtd both answer; raises Unavailable when they cannot.
    Output of the daemons' start goes to log."""
    if answers(VIRTLOGD_SOCK) and answers(LIBVIRTD_SOCK):
        return
    if os.geteuid() != 0:
        raise Unavailable('libvirtd or virtlogd is not running and starting them needs root')
    for prog in ('virtlogd', 'libvirtd', 'virsh'):
        if not which(prog):
            raise Unavailable('%s is not installed (apt-get install libvirt-daemon-system '
                              'libvirt-clients)' % prog)
    deadline = time.monotonic() + 20
    _start('virtlogd', VIRTLOGD_SOCK, log, deadline)
    _start('libvirtd', LIBVIRTD_SOCK, log, deadline)
