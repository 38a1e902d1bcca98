"""The includeos and mirage backends through every door (issue 16): the devices a mirage
instance was bound with, by name, in its REST JSON and in `unik describe-instance`; `unik export`
of an includeos and a mirage image to every disk format (each read back by qemu-img, one of each
booted from its disk), and the base in the labels of the image `unik export --format
docker-archive` writes."""

import json
import os
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REPO, check_equal, fail, out_dir, timeout
from test_backend_mirage import build
from test_cli import Home, need_core, project
from test_daemon_fixture import cli, provider_ready
from test_disk import boot, need_pack_tools
from test_net_host import NetDaemon, need_root

# A service and an application that print a line and end with a status of their own, so that a
# boot from a disk shows the base's code ran: no network needed.
SERVICE_C = r'''#include <unik/service.h>
static void bye(struct service_timer *t, void *arg)
{
	(void)t, (void)arg;
	service_exit(3);
}
void service_start(void)
{
	service_log("svc: started from a disk\n");
	service_timer_once(10, bye, 0);
}
'''
APP_C = r'''#include <unik/devices-app.h>
int unik_app_main(const struct unik_app_info *info)
{
	static const char line[] = "app: started from a disk\n";
	(void)info;
	unik_console_write(line, sizeof(line) - 1);
	return 4;
}
'''
BASES = {
    'includeos': ('svcdisk', {'svc.c': SERVICE_C, 'Unikfile': 'name: svcdisk\nbase: includeos\n'},
                  3, 'svc: started from a disk\n', 'raw'),
    'mirage': ('appdisk', {'app.c': APP_C, 'Unikfile': 'name: appdisk\nbase: mirage\n'},
               4, 'app: started from a disk\n', 'qcow2'),
}
# unik's format, qemu-img's name for what it wrote (an ISO is read as raw).
DISK_FORMATS = {'raw': 'raw', 'qcow2': 'qcow2', 'vmdk': 'vmdk', 'vhd': 'vpc', 'iso': 'raw'}

# Not the subnets of the other mirage tests (10.87.1-2, 10.87.9).
SUBNET = '10.87.11.0/24'
KV = os.path.join(REPO, 'examples', 'mirage', 'kv')


@timeout(240)
def test_mirage_binds_in_json_and_describe():
    """kv run with --net service=NETWORK --block storage=VOLUME: the instance's JSON lists the
    bindings in declaration order, its NIC is named as declared, and describe-instance shows
    both; a listing carries the same."""
    need_root()
    with NetDaemon('doors1') as d:
        provider_ready(d)
        build(d, KV, 'kv')
        cli(d, 'network', 'create', '--subnet', SUBNET, 'dlan')
        cli(d, 'volume', 'create', '--size', '8', 'ddata')
        cli(d, 'run', '-d', '--name', 'k1', '--net', 'service=dlan', '--block', 'storage=ddata',
            'kv')
        inst = d.ok('GET', '/v1/instances/k1')
        check_equal('binds', inst.get('binds'), ['net:service=dlan', 'blk:storage=ddata'])
        check_equal('the NIC carries the declared name',
                    [(n['name'], n['device']) for n in inst['networks']], [('dlan', 'service')])
        listed = [i for i in d.ok('GET', '/v1/instances') if i['name'] == 'k1']
        check_equal('binds in the listing', listed[0].get('binds'),
                    ['net:service=dlan', 'blk:storage=ddata'])
        out = cli(d, 'describe-instance', 'k1').stdout
        for want in ('net:service=dlan', 'blk:storage=ddata'):
            if want not in out:
                fail('describe-instance does not show %s' % want, out)
        cli(d, 'rm', '-f', 'k1')
        cli(d, 'network', 'rm', 'dlan')


@timeout(900)
def test_export_every_disk_format_and_boot():
    """An includeos service and a mirage application, each exported to every disk format:
    qemu-img reads each file back as that format; the includeos raw disk and the mirage qcow2
    disk boot under SeaBIOS and run the code of their base to its exit status."""
    need_core()
    need_pack_tools()
    with Home() as h:
        for base, (name, files, status, line, boot_fmt) in sorted(BASES.items()):
            h.ok(['build', '--name', name, project(name, files)])
            check_equal('%s image base' % name, h.json(['describe-image', name]).get('base'),
                        base)
            for f, qfmt in sorted(DISK_FORMATS.items()):
                dest = os.path.join(out_dir(), '%s.%s' % (name, f))
                h.ok(['export', name, '--format', f, '-o', dest])
                # A fixed VHD has its footer at the end, which qemu-img's probe does not
                # look at: each file is read as the format it claims to be.
                p = subprocess.run(['qemu-img', 'info', '-f', qfmt, '--output=json', dest],
                                   capture_output=True, text=True, timeout=60)
                if p.returncode != 0:
                    fail('qemu-img info %s: exit %d' % (dest, p.returncode), p.stderr)
                info = json.loads(p.stdout)
                check_equal('qemu-img format of %s' % dest, info.get('format'), qfmt)
                if info.get('virtual-size', 0) < 1 << 20:
                    fail('%s: virtual size %s' % (dest, info.get('virtual-size')), p.stdout)
                if f == 'vhd':
                    with open(dest, 'rb') as fh:
                        fh.seek(-512, os.SEEK_END)
                        check_equal('%s ends in a VHD footer' % dest, fh.read(8), b'conectix')
                if f == 'iso':
                    with open(dest, 'rb') as fh:
                        fh.seek(0x8001)
                        check_equal('%s is ISO 9660' % dest, fh.read(5), b'CD001')
            dest = os.path.join(out_dir(), '%s.%s' % (name, boot_fmt))
            boot(dest, ('bios', boot_fmt), 'tcg', timeout=240, tag=name).expect(status, line)


def oci_labels(tar):
    """The Labels of a docker-archive's image config."""
    with tarfile.open(tar) as t:
        manifest = json.load(t.extractfile('manifest.json'))
        return json.load(t.extractfile(manifest[0]['Config']))['config']['Labels']


@timeout(600)
def test_oci_labels_name_the_base():
    """`unik export --format docker-archive` of an includeos and a mirage image writes org.unik.base."""
    need_core()
    with Home() as h:
        for base, (name, files, _, _, _) in sorted(BASES.items()):
            h.ok(['build', '--name', name, project(name, files)])
            tar = os.path.join(out_dir(), '%s.oci.tar' % name)
            h.ok(['export', name, '--format', 'docker-archive', '-o', tar])
            labels = oci_labels(tar)
            check_equal('%s: org.unik.base' % name, labels.get('org.unik.base'), base)
            check_equal('%s: org.unik.abi' % name, labels.get('org.unik.abi'), '1')


@timeout(900)
def test_docker_runs_an_includeos_image():
    """An includeos service exported as a docker-archive: docker loads it, its label names the
    base, and `docker run --runtime=unik` boots it to the service's own exit status."""
    import test_oci_common as c  # here: it needs the OCI test machinery only for this test
    need_core()
    c.need('dockerd', 'docker')
    c.need_kvm_or_tcg()
    name, files, status, line, _ = BASES['includeos']
    with Home() as h:
        h.ok(['build', '--name', name, project(name, files)])
        tar = os.path.join(out_dir(), '%s.docker.tar' % name)
        h.ok(['export', name, '--format', 'docker-archive', '-o', tar])
    with c.Dockerd() as d:
        p = d.docker('load', '-i', tar)
        if p.returncode or '%s:latest' % name not in p.out:
            fail('docker load of the includeos image', p.out + p.err)
        p = d.docker('image', 'inspect', '--format', '{{index .Config.Labels "org.unik.base"}}',
                     name)
        check_equal('the label docker sees', p.out.strip(), 'includeos')
        run = ['run', '--pull', 'never', '--network', 'none', '--runtime=unik', '--rm']
        p = d.docker(*run, name)
        if p.returncode != status or line not in p.out:
            fail('docker run --runtime=unik of the includeos image: exit %d' % p.returncode,
                 p.out + p.err)
        c.wait_no_qemu(d.dir)


@timeout(300)
def test_unik_oci_checks_and_records_the_base():
    """unik-oci takes org.unik.base as an annotation (engines do not hand image labels over):
    the right base is recorded in the container's state; a base the kernel contradicts, or a
    word that is no base, is refused before anything is created."""
    from test_oci_runtime import Runtime, become_subreaper, bundle, check_nothing_left, create
    become_subreaper()
    rt = Runtime()
    try:
        b = bundle('base-ok', ['/ociapp'], annotations={'org.unik.base': 'rump'})
        create(rt, 'baseok', b, os.path.join(out_dir(), 'baseok.out'))
        check_equal('the base in the state', rt.state('baseok')['annotations'].get(
            'org.unik.base'), 'rump')
        rt('delete', '--force', 'baseok')
        for word, want in (('mirage', 'disagree'), ('unikraft', 'not a base unik builds')):
            b = bundle('base-' + word, ['/ociapp'], annotations={'org.unik.base': word})
            p = rt('create', '--bundle', b, 'base' + word)
            if p.returncode == 0 or want not in p.err:
                fail('create with org.unik.base=%s: wanted a refusal saying %r' % (word, want),
                     p.err)
            check_nothing_left(rt, 'a refused org.unik.base')
    finally:
        rt.close()
