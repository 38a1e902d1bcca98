"""No data lost (issue 15), through the daemon and the CLI: an instance writes 10,000 files and a
50 MB file on a volume and exits; e2fsck -fn finds the disk clean; a second instance on the same
volume checks every byte.  A guest killed with SIGKILL in the middle of writes leaves a disk that
the next attach repairs (e2fsck -p, noted on the console), with every file it fsynced intact.
And a host directory shared with -v: the guest reads what the host put there and writes back."""

import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Skip, bin_dir, check_equal, fail, out_dir, timeout
from test_daemon_fixture import Daemon, cli, provider_ready, write_tree

# The guest program: `volapp write DIR` writes the tree, `volapp check DIR` reads it back,
# `volapp fsync DIR` writes numbered files forever, fsyncing each and printing its number,
# `volapp share DIR` checks the host's file and writes one back.
VOLAPP_C = r'''
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NFILES 10000
#define BIG (50u << 20)

static unsigned char pat(unsigned long i) { return (unsigned char)(i * 2654435761u >> 13); }

static int write_tree(const char *dir)
{
	char p[256];
	static unsigned char buf[1 << 16];
	for (int d = 0; d < 10; d++) {
		snprintf(p, sizeof(p), "%s/d%d", dir, d);
		if (mkdir(p, 0755) && access(p, F_OK))
			return perror(p), 1;
	}
	for (int i = 0; i < NFILES; i++) {
		snprintf(p, sizeof(p), "%s/d%d/f%d", dir, i % 10, i);
		FILE *f = fopen(p, "w");
		if (!f || fprintf(f, "file %d %d\n", i, i * 7) < 0 || fclose(f))
			return perror(p), 1;
	}
	snprintf(p, sizeof(p), "%s/big", dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return perror(p), 1;
	for (unsigned long off = 0; off < BIG; off += sizeof(buf)) {
		for (unsigned long k = 0; k < sizeof(buf); k++)
			buf[k] = pat(off + k);
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			return perror("write big"), 1;
	}
	close(fd);
	printf("wrote %d files and %u bytes\n", NFILES, BIG);
	return 0;
}

static int check_tree(const char *dir)
{
	char p[256], want[64], got[64];
	static unsigned char buf[1 << 16];
	for (int i = 0; i < NFILES; i++) {
		snprintf(p, sizeof(p), "%s/d%d/f%d", dir, i % 10, i);
		FILE *f = fopen(p, "r");
		snprintf(want, sizeof(want), "file %d %d\n", i, i * 7);
		if (!f || !fgets(got, sizeof(got), f) || strcmp(got, want))
			return printf("bad %s\n", p), 1;
		fclose(f);
	}
	snprintf(p, sizeof(p), "%s/big", dir);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return perror(p), 1;
	unsigned long off = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t k = 0; k < n; k++)
			if (buf[k] != pat(off + (unsigned long)k))
				return printf("big differs at %lu\n", off + (unsigned long)k), 1;
		off += (unsigned long)n;
	}
	close(fd);
	if (off != BIG)
		return printf("big has %lu bytes\n", off), 1;
	printf("checked %d files and %lu bytes\n", NFILES, off);
	return 0;
}

static int fsync_forever(const char *dir)
{
	char p[256], text[64];
	for (int i = 0;; i++) {
		snprintf(p, sizeof(p), "%s/s%d", dir, i);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int len = snprintf(text, sizeof(text), "synced %d\n", i);
		if (fd < 0 || write(fd, text, (size_t)len) != len || fsync(fd) || close(fd))
			return perror(p), 1;
		/* Unsynced noise between the synced files. */
		snprintf(p, sizeof(p), "%s/n%d", dir, i);
		FILE *f = fopen(p, "w");
		if (f) {
			for (int k = 0; k < 200; k++)
				fprintf(f, "noise %d %d\n", i, k);
			fclose(f);
		}
		printf("fsynced %d\n", i);
		fflush(stdout);
	}
}

static int check_synced(const char *dir, int upto)
{
	char p[256], want[64], got[64];
	for (int i = 0; i <= upto; i++) {
		snprintf(p, sizeof(p), "%s/s%d", dir, i);
		FILE *f = fopen(p, "r");
		snprintf(want, sizeof(want), "synced %d\n", i);
		if (!f || !fgets(got, sizeof(got), f) || strcmp(got, want))
			return printf("lost %s\n", p), 1;
		fclose(f);
	}
	printf("all %d synced files intact\n", upto + 1);
	return 0;
}

static int share(const char *dir)
{
	char p[256], got[64] = "";
	snprintf(p, sizeof(p), "%s/from-host.txt", dir);
	FILE *f = fopen(p, "r");
	if (!f || !fgets(got, sizeof(got), f))
		return perror(p), 1;
	fclose(f);
	printf("host says: %s", got);
	snprintf(p, sizeof(p), "%s/from-guest.txt", dir);
	f = fopen(p, "w");
	if (!f || fprintf(f, "guest read: %s", got) < 0 || fclose(f))
		return perror(p), 1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	if (!strcmp(argv[1], "write"))
		return write_tree(argv[2]);
	if (!strcmp(argv[1], "check"))
		return check_tree(argv[2]);
	if (!strcmp(argv[1], "fsync"))
		return fsync_forever(argv[2]);
	if (!strcmp(argv[1], "synced") && argc > 3)
		return check_synced(argv[2], atoi(argv[3]));
	if (!strcmp(argv[1], "share"))
		return share(argv[2]);
	return 2;
}
'''


def need_tools():
    for tool in ('mke2fs', 'e2fsck'):
        if not (shutil.which(tool) or os.path.exists('/sbin/' + tool)):
            raise Skip('%s is not installed (Debian: e2fsprogs)' % tool)



def build_volapp(d):
    src = write_tree(os.path.join(out_dir(), 'volapp'), {'volapp.c': VOLAPP_C})
    b = d.build(src, {'name': 'volapp'})
    if b['state'] != 'succeeded':
        fail('building the volume program failed', b.get('log', '')[-3000:])


def disk_of(d, name):
    return os.path.join(d.home, 'volumes', d.ok('GET', '/v1/volumes/' + name)['id'], 'disk.raw')


def e2fsck(disk, *flags):
    tool = shutil.which('e2fsck') or '/sbin/e2fsck'
    return subprocess.run([tool] + list(flags) + [disk], capture_output=True, text=True,
                          timeout=300)


@timeout(900)
def test_ten_thousand_files_and_50mb_survive():
    need_tools()
    with Daemon('voldata') as d:
        provider_ready(d)
        build_volapp(d)
        cli(d, 'volume', 'create', '--size', '128', 'store')
        r = cli(d, 'run', '--name', 'writer', '--mem', '128', '--network', 'none', '-v',
                'store:/data', 'volapp', 'write', '/data')
        if 'wrote 10000 files and 52428800 bytes' not in r.stdout:
            fail('the writer did not finish', r.stdout[-2000:] + r.stderr[-1000:])
        disk = disk_of(d, 'store')
        fsck = e2fsck(disk, '-fn')
        if fsck.returncode != 0:
            fail('e2fsck -fn after a clean exit: exit %d' % fsck.returncode, fsck.stdout)
        cli(d, 'rm', 'writer')
        check_equal('the volume outlives the instance', d.ok('GET', '/v1/volumes/store')['name'],
                    'store')
        r = cli(d, 'run', '--name', 'checker', '--mem', '128', '--network', 'none', '-v',
                'store:/data:ro', 'volapp', 'check', '/data')
        if 'checked 10000 files and 52428800 bytes' not in r.stdout:
            fail('the second instance did not read everything back',
                 r.stdout[-2000:] + r.stderr[-1000:])
        cli(d, 'rm', 'checker')
        cli(d, 'volume', 'rm', 'store')


@timeout(600)
def test_sigkill_keeps_fsynced_files():
    need_tools()
    with Daemon('volkill') as d:
        provider_ready(d)
        build_volapp(d)
        cli(d, 'volume', 'create', '--size', '32', 'crashy')
        cli(d, 'run', '-d', '--name', 'w', '--mem', '64', '--network', 'none', '-v',
            'crashy:/data', 'volapp', 'fsync', '/data')
        deadline = time.monotonic() + 120
        last = -1
        while time.monotonic() < deadline:
            log = d.get('/v1/instances/w/logs').text
            done = [int(l.split()[1]) for l in log.splitlines() if l.startswith('fsynced ')]
            last = done[-1] if done else -1
            if last >= 40:
                break
            time.sleep(0.2)
        if last < 5:
            fail('the guest fsynced too little before the kill', log[-2000:])
        # The VM itself: the QEMU whose -name names the instance's directory.
        iid = d.ok('GET', '/v1/instances/w')['id']
        qemus = subprocess.run(['pgrep', '-f', 'guest=.*%s' % iid], capture_output=True,
                               text=True).stdout.split()
        if not qemus:
            fail('no QEMU process for the running instance')
        for q in qemus:
            os.kill(int(q), signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if d.ok('GET', '/v1/instances/w')['state'] in ('crashed', 'exited', 'stopped'):
                break
            time.sleep(0.2)
        else:
            fail('the killed instance never ended', d.ok('GET', '/v1/instances/w'))
        log = d.get('/v1/instances/w/logs').text
        done = [int(l.split()[1]) for l in log.splitlines() if l.startswith('fsynced ')]
        upto = done[-1]
        disk = disk_of(d, 'crashy')
        if e2fsck(disk, '-fn').returncode == 0:
            print('the disk happened to be clean at the kill')
        # The next attach repairs it, and every file reported fsynced is there.
        r = cli(d, 'run', '--name', 'c', '--mem', '64', '--network', 'none', '-v',
                'crashy:/data', 'volapp', 'synced', '/data', str(upto))
        if 'all %d synced files intact' % (upto + 1) not in r.stdout:
            fail('files fsynced before the kill were lost', r.stdout[-2000:])
        fsck = e2fsck(disk, '-fn')
        if fsck.returncode != 0:
            fail('e2fsck -fn after the repair and a clean run: exit %d' % fsck.returncode,
                 fsck.stdout)
        cli(d, 'rm', '-f', 'w', 'c')
        cli(d, 'volume', 'rm', 'crashy')


@timeout(300)
def test_host_share_both_ways():
    need_tools()
    with Daemon('volshare') as d:
        provider_ready(d)
        build_volapp(d)
        share = os.path.join(out_dir(), 'hostshare')
        shutil.rmtree(share, ignore_errors=True)
        os.makedirs(share)
        # QEMU runs as an unprivileged user: the share must be open to it.
        os.chmod(share, 0o777)
        with open(os.path.join(share, 'from-host.txt'), 'w') as f:
            f.write('hello from the host\n')
        r = cli(d, 'run', '--name', 's', '--network', 'none', '-v', share + ':/mnt/share',
                'volapp', 'share', '/mnt/share')
        if 'host says: hello from the host' not in r.stdout:
            fail('the guest did not read the host file', r.stdout[-2000:] + r.stderr[-500:])
        with open(os.path.join(share, 'from-guest.txt')) as f:
            check_equal('what the guest wrote', f.read(), 'guest read: hello from the host\n')
        cli(d, 'rm', 's')
