"""Checks that a running QEMU is confined (issue #11): /proc/PID/status shows an unprivileged
uid/gid, no capabilities, no_new_privs and a seccomp filter."""

import os

from harness import Failure


def proc_status(pid):
    fields = {}
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            k, _, v = line.partition(':')
            fields[k] = v.strip()
    return fields


def check_confined(pid, context='', uid=None, gid=None):
    """Fails unless process pid runs as a non-root uid and gid (uid/gid when given), with no
    effective, permitted or ambient capabilities, NoNewPrivs 1 and Seccomp 2 (filter).  Returns
    the status fields."""
    try:
        st = proc_status(pid)
    except OSError as e:
        raise Failure('cannot read /proc/%d/status: %s' % (pid, e), context)
    shown = '\n'.join('%s: %s' % (k, st.get(k)) for k in (
        'Name', 'Uid', 'Gid', 'Groups', 'CapEff', 'CapPrm', 'CapBnd', 'CapAmb', 'NoNewPrivs',
        'Seccomp'))
    uids = [int(x) for x in st['Uid'].split()]
    gids = [int(x) for x in st['Gid'].split()]
    problems = []
    if 0 in uids:
        problems.append('runs as uid 0')
    if 0 in gids or '0' in st.get('Groups', '').split():
        problems.append('has gid 0')
    if uid is not None and uids != [uid] * 4:
        problems.append('uid is not %d' % uid)
    if gid is not None and gids != [gid] * 4:
        problems.append('gid is not %d' % gid)
    for cap in ('CapEff', 'CapPrm', 'CapAmb'):
        if int(st.get(cap, '0'), 16) != 0:
            problems.append('%s is %s' % (cap, st[cap]))
    if st.get('NoNewPrivs') != '1':
        problems.append('NoNewPrivs is %s' % st.get('NoNewPrivs'))
    if st.get('Seccomp') != '2':
        problems.append('Seccomp is %s (2 is a filter)' % st.get('Seccomp'))
    if problems:
        raise Failure('QEMU (pid %d) is not confined: %s' % (pid, '; '.join(problems)),
                      shown + ('\n' + context if context else ''))
    return st


def open_paths(pid):
    """The files process pid holds open (targets of /proc/PID/fd/*)."""
    out = []
    d = '/proc/%d/fd' % pid
    for name in os.listdir(d):
        try:
            out.append(os.readlink(os.path.join(d, name)))
        except OSError:
            pass
    return out


def check_hidden(pid, context=''):
    """Fails unless process pid sees /tmp, /root and /run empty (its own mount namespace)."""
    for d in ('/tmp', '/root', '/run'):
        try:
            seen = os.listdir('/proc/%d/root%s' % (pid, d))
        except OSError as e:
            raise Failure('cannot list %s as pid %d sees it: %s' % (d, pid, e), context)
        if seen:
            raise Failure('QEMU (pid %d) sees %s of the host: %s' % (pid, d, seen[:10]), context)
