"""The `docker-archive` image format end to end: `unik build --format docker-archive`,
`unik export --format docker-archive`, then `docker load` and `podman load` accept the tarball and `--runtime=unik` runs it with the
image's default arguments and environment, its root fs and the engine's overrides."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import fail, out_dir, timeout  # noqa: E402
from test_cli import Home, need_core  # noqa: E402
from test_oci_podman import Podman  # noqa: E402
import test_oci_common as c  # noqa: E402

APP_C = r'''#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv)
{
	printf("argv0=%s argc=%d", argv[0], argc);
	for (int i = 1; i < argc; i++)
		printf(" [%s]", argv[i]);
	printf(" GREETING=%s\n", getenv("GREETING") ? getenv("GREETING") : "(none)");
	FILE *f = fopen("/etc/motd", "r");
	char line[64] = "(no motd)";
	if (f && fgets(line, sizeof(line), f))
		fclose(f);
	printf("motd: %s", line);
	return argc > 2 ? 7 : 0;
}
'''
UNIKFILE = 'name: ocihello\nargs: "ocihello default-arg"\nenv:\n  GREETING: hello\nfiles: rootfs\n'


def build_and_export(h):
    src = os.path.join(out_dir(), 'ocihello')
    for rel, text in {'app.c': APP_C, 'Unikfile': UNIKFILE,
                      'rootfs/etc/motd': 'from the image root fs\n'}.items():
        os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
        with open(os.path.join(src, rel), 'w') as f:
            f.write(text)
    h.ok(['build', '--format', 'docker-archive', '--name', 'ocihello', src])
    im = h.json(['describe-image', 'ocihello'])
    if 'docker-archive' not in im.get('formats', {}):
        fail('the image has no docker-archive format after --format docker-archive', str(im))
    tar = os.path.join(out_dir(), 'ocihello.tar')
    h.ok(['export', 'ocihello', '--format', 'docker-archive', '-o', tar])
    return tar


@timeout(900)
def test_docker_load_and_run_oci_format():
    need_core()
    c.need('dockerd', 'docker')
    c.need_kvm_or_tcg()
    with Home() as h:
        tar = build_and_export(h)
    with c.Dockerd() as d:
        p = d.docker('load', '-i', tar)
        if p.returncode or 'ocihello:latest' not in p.out:
            fail('docker load of the exported oci image', p.out + p.err)
        run = ['run', '--pull', 'never', '--network', 'none', '--runtime=unik', '--rm']
        p = d.docker(*run, 'ocihello')
        want = 'argv0=ocihello argc=2 [default-arg] GREETING=hello\nmotd: from the image root fs\n'
        if p.returncode != 0 or want not in p.out:
            fail('docker run of the oci image with its defaults: exit %d' % p.returncode,
                 p.out + p.err)
        p = d.docker(*run, '-e', 'GREETING=overridden', 'ocihello', 'a', 'b c')
        want = 'argv0=ocihello argc=3 [a] [b c] GREETING=overridden\n'
        if p.returncode != 7 or want not in p.out:
            fail('docker run with arguments and -e: exit %d' % p.returncode, p.out + p.err)
        c.wait_no_qemu(d.dir)


@timeout(600)
def test_podman_load_oci_format():
    need_core()
    c.need_kvm_or_tcg()
    with Home() as h:
        tar = build_and_export(h)
    pm = Podman()
    try:
        p = pm('load', '-i', tar)
        if p.returncode:
            fail('podman load of the exported oci image', p.out + p.err)
        p = pm('run', '--rm', '--network', 'none', 'localhost/ocihello:latest', 'x', 'y')
        want = 'argv0=ocihello argc=3 [x] [y] GREETING=hello\n'
        if p.returncode != 7 or want not in p.out:
            fail('podman run of the oci image: exit %d' % p.returncode, p.out + p.err)
    finally:
        pm.close()
