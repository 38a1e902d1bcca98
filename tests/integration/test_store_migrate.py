"""The store's migrations: a unik.db written by the daemon before the typed store (tables
images/builds/instances holding REST JSON, no schema version; tests/data/store/v0, made by that
daemon with a build, a qcow2 pack, a run to exit and a failed build) is upgraded in place, reads
back exactly as it did, is not migrated twice, and a database newer than the code is refused."""

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Skip, bin_dir, check_equal, fail, out_dir, timeout
from test_daemon_fixture import Daemon

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'data',
                       'store', 'v0')
# The newest schema this code writes (core/store.c, STORE_SCHEMA_VERSION).
NEWEST = 3
IMAGE_ID = 'd102dba2b81e'


def make_home(name):
    """A home holding the v0 database and the files the fixture's records point at; the image's
    kernel and disk are placeholders of the recorded sizes (nothing here boots them)."""
    home = os.path.join(out_dir(), name)
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(os.path.join(FIXTURE, 'home'), home)
    os.chmod(home, 0o700)
    db = sqlite3.connect(os.path.join(home, 'unik.db'))
    with open(os.path.join(FIXTURE, 'unik.sql')) as f:
        db.executescript(f.read())
    db.close()
    img = os.path.join(home, 'images', IMAGE_ID)
    with open(os.path.join(img, 'kernel.elf'), 'wb') as f:
        f.truncate(99800)
    with open(os.path.join(img, 'disk.qcow2'), 'wb') as f:
        f.truncate(1048576)
    return home


def user_version(home):
    db = sqlite3.connect(os.path.join(home, 'unik.db'))
    try:
        return db.execute('PRAGMA user_version').fetchone()[0]
    finally:
        db.close()


def without_age(text):
    """CLI tables end each row with a relative age ("59 seconds ago") that moves with the clock."""
    return re.sub(r'\s+\S+ \S+ ago$', '', text, flags=re.M)


def read_back(d):
    out = {}
    expected = json.load(open(os.path.join(FIXTURE, 'expected.json')))
    env = dict(os.environ, UNIK_HOST='unix:' + d.sock)
    for key in sorted(expected):
        if key.startswith('GET '):
            r = d.get(key[4:])
            out[key] = [r.status, r.text]
        else:
            argv = key.split()[1:]
            r = subprocess.run([os.path.join(bin_dir(), 'unik')] + argv, env=env,
                               capture_output=True, text=True, timeout=60)
            out[key] = [r.returncode, r.stdout, r.stderr]
    for key in sorted(expected):
        want, got = expected[key], out[key]
        if key in ('unik images', 'unik ps -a'):
            want = [want[0], without_age(want[1]), want[2]]
            got = [got[0], without_age(got[1]), got[2]]
        check_equal(key, got, want)


@timeout(120)
def test_v0_database_reads_back_as_before():
    home = make_home('v0')
    check_equal('the fixture\'s schema version', user_version(home), 0)
    d = Daemon(home=home)
    d.start()
    try:
        read_back(d)
    finally:
        d.stop()
    check_equal('schema version after the upgrade', user_version(home), NEWEST)
    with open(d.log_path) as f:
        log = f.read()
    if log.count('upgraded') != 1:
        fail('the daemon log should name the upgrade once', log)
    # The second start finds the newest schema: no migration, same answers.
    d = Daemon(home=home)
    d.start()
    try:
        read_back(d)
    finally:
        d.stop()
    with open(d.log_path) as f:
        log = f.read()
    if log.count('upgraded') != 1:
        fail('the second start migrated again', log)
    check_equal('schema version after the second start', user_version(home), NEWEST)


@timeout(120)
def test_v1_database_gains_networks():
    """Schema 1 (the typed store before networks) is schema 3 without the networks,
    instance_nics, instance_ports and instance_mounts tables: a v0 database upgraded, then set back to 1 by
    dropping them, upgrades again (through 2 to 3), reads back the same, and then takes a
    network."""
    home = make_home('v1')
    d = Daemon(home=home)
    d.start()
    d.stop()
    db = sqlite3.connect(os.path.join(home, 'unik.db'))
    db.executescript('DROP TABLE networks; DROP TABLE instance_nics; DROP TABLE instance_ports;'
                     'DROP TABLE instance_mounts;'
                     'PRAGMA user_version = 1;')
    db.close()
    d = Daemon(home=home)
    d.start()
    try:
        read_back(d)
        d.ok('POST', '/v1/networks', {'name': 'n1', 'subnet': '10.87.250.0/24'}, status=201)
        check_equal('networks', [n['name'] for n in d.ok('GET', '/v1/networks')], ['n1'])
        d.ok('DELETE', '/v1/networks/n1', status=204)
    finally:
        d.stop()
    with open(d.log_path) as f:
        log = f.read()
    if 'from schema version 1 to %d' % NEWEST not in log:
        fail('the daemon log should name the upgrade from version 1', log)
    check_equal('schema version after the upgrade', user_version(home), NEWEST)


@timeout(120)
def test_v2_database_gains_dhcp():
    """Schema 2 is schema 3 without networks.dhcp: a network written at version 2 reads back
    after the upgrade as one without a DHCP server, and a network with one can then be made."""
    if os.geteuid() != 0:
        raise Skip('networks need root (CAP_NET_ADMIN) to make bridges')
    home = make_home('v2')
    d = Daemon(home=home)
    d.start()
    d.stop()
    db = sqlite3.connect(os.path.join(home, 'unik.db'))
    db.executescript("ALTER TABLE networks DROP COLUMN dhcp;"
                     "INSERT INTO networks VALUES('0a0b0c0d0e0f', 'old', 100,"
                     " '2026-01-01T00:00:00.000Z', '10.87.251.0/24', '10.87.251.1',"
                     " 'ukbr-0a0b0c0d0e');"
                     "PRAGMA user_version = 2;")
    db.close()
    d = Daemon(home=home)
    d.start()
    try:
        read_back(d)
        old = d.ok('GET', '/v1/networks/old')
        check_equal('the old network', (old['subnet'], old['dhcp']), ('10.87.251.0/24', False))
        d.ok('DELETE', '/v1/networks/old', status=204)
    finally:
        d.stop()
    with open(d.log_path) as f:
        log = f.read()
    if 'from schema version 2 to %d' % NEWEST not in log:
        fail('the daemon log should name the upgrade from version 2', log)
    check_equal('schema version after the upgrade', user_version(home), NEWEST)


@timeout(60)
def test_newer_database_is_refused():
    home = make_home('newer')
    db = sqlite3.connect(os.path.join(home, 'unik.db'))
    db.execute('PRAGMA user_version = %d' % (NEWEST + 5))
    db.commit()
    db.close()
    d = Daemon(home=home)
    p = d.spawn()
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        fail('the daemon started on a database newer than it knows')
    with open(d.log_path) as f:
        log = f.read()
    check_equal('exit status', rc, 1)
    if 'schema version %d' % (NEWEST + 5) not in log or 'newer' not in log:
        fail('the refusal does not say the database is newer', log)
    check_equal('schema version left alone', user_version(home), NEWEST + 5)
