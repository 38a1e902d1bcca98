"""The container's network for a unikernel under unik-oci (docs/oci.md "Networking"): the guest
takes over the interface of the container's network namespace (address, gateway, DNS, MAC)
through a tap and tc redirects.  Two variants, each saying which ran:
- direct: a namespace made with `ip netns add` and a veth pair, named by path in config.json,
  driven with unik-oci create/start, and curl from the host to the guest's address;
- docker: a private dockerd on a user-defined bridge network, `docker run --runtime=unik -p`,
  and curl to the published port on 127.0.0.1 (docker-proxy, as dockerd runs here with
  --iptables=false so that the host's firewall is left alone);
- podman: podman with private storage and a private CNI configuration directory, a bridge
  network of its own, `podman run --runtime unik-oci -p`, and curl to the published port (CNI's
  portmap plugin: iptables DNAT rules, which podman removes with the container)."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Skip, fail, out_dir, tail, timeout  # noqa: E402
import test_oci_common as c  # noqa: E402
from apps import run_unik_cc  # noqa: E402
from s3rver import free_port  # noqa: E402


def http_kernel():
    out = os.path.join(out_dir(), 'http.elf')
    src = os.path.join(c.REPO, 'examples', 'http', 'http.c')
    p = run_unik_cc(['-O2', '-Wall', '-pthread', '-o', out, src])
    if p.returncode != 0:
        fail('unik-cc examples/http/http.c failed (exit %d)' % p.returncode, p.stderr[-2000:])
    return out


def need_net_admin():
    c.need('ip', 'tc', 'curl')
    if not os.path.exists('/dev/net/tun'):
        raise Skip('/dev/net/tun is missing')
    if os.geteuid() != 0:
        raise Skip('network namespaces and taps need root (CAP_NET_ADMIN, CAP_SYS_ADMIN)')


def sh(*cmd, check=True):
    return c.run(list(cmd), timeout=60, check=check)


def subnet_index():
    """A /24 of 10.92.0.0/16 for this run that no host interface is on."""
    used = sh('ip', '-4', '-o', 'addr', 'show').out
    for i in range(os.getpid() % 200 + 20, 256):
        if '10.92.%d.' % i not in used:
            return i
    raise Skip('no free /24 in 10.92.0.0/16')


def curl(url, tries=60):
    """curl url until it answers (the guest boots under TCG in a few seconds)."""
    last = None
    for _ in range(tries):
        last = c.run(['curl', '-sS', '--max-time', '5', url], timeout=30)
        if last.returncode == 0:
            return last.out
        time.sleep(1)
    fail('curl %s never answered' % url, last.out + last.err)


def read(path):
    try:
        with open(path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')
    except OSError:
        return ''


def wait_for(path, text, secs=90):
    end = time.monotonic() + secs
    while time.monotonic() < end:
        if text in read(path):
            return
        time.sleep(0.2)
    fail('%r never appeared on the console' % text, tail(read(path)))


@timeout(300)
def test_oci_netns_direct():
    """Variant 2: a namespace of our own, named by path in config.json."""
    need_net_admin()
    c.need_kvm_or_tcg()
    kernel = http_kernel()
    n = subnet_index()
    tag = '%d' % (os.getpid() % 100000)
    ns, host_if = 'ukoci' + tag, 'ukh' + tag
    guest_ip, gw = '10.92.%d.2' % n, '10.92.%d.1' % n
    root = c.tmpdir('netroot')
    cid = 'net' + tag
    rt = [c.unik_oci(), '--root', root]
    print('variant: ip netns namespace %s, veth %s, %s/24 via %s (direct unik-oci)' %
          (ns, host_if, guest_ip, gw))
    try:
        sh('ip', 'netns', 'add', ns)
        sh('ip', 'link', 'add', host_if, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
        sh('ip', 'addr', 'add', gw + '/24', 'dev', host_if)
        sh('ip', 'link', 'set', host_if, 'up')
        for cmd in (['ip', 'link', 'set', 'lo', 'up'],
                    ['ip', 'addr', 'add', guest_ip + '/24', 'dev', 'eth0'],
                    ['ip', 'link', 'set', 'eth0', 'up'],
                    ['ip', 'route', 'add', 'default', 'via', gw]):
            sh('ip', 'netns', 'exec', ns, *cmd)
        mac = sh('ip', 'netns', 'exec', ns, 'cat', '/sys/class/net/eth0/address').out.strip()

        b = os.path.join(out_dir(), 'bundle-net')
        rootfs = os.path.join(b, 'rootfs')
        os.makedirs(os.path.join(rootfs, 'etc'), exist_ok=True)
        with open(kernel, 'rb') as f, open(os.path.join(rootfs, 'http'), 'wb') as g:
            g.write(f.read())
        os.chmod(os.path.join(rootfs, 'http'), 0o755)
        with open(os.path.join(rootfs, 'etc', 'resolv.conf'), 'w') as f:
            f.write('nameserver 127.0.0.11\nnameserver %s\n' % gw)
        hook_out = os.path.join(out_dir(), 'hook-state.json')
        cfg = {'ociVersion': '1.0.2', 'hostname': 'web-oci',
               'process': {'args': ['/http'], 'env': ['PATH=/bin'], 'cwd': '/'},
               'root': {'path': 'rootfs'},
               'hooks': {'prestart': [{'path': '/bin/sh',
                                       'args': ['sh', '-c', 'cat > "$0"', hook_out]}]},
               'linux': {'namespaces': [{'type': 'pid'},
                                        {'type': 'network', 'path': '/run/netns/' + ns}]}}
        with open(os.path.join(b, 'config.json'), 'w') as f:
            json.dump(cfg, f, indent=1)

        console = os.path.join(out_dir(), 'net-console.log')
        with open(console, 'wb') as out:
            p = subprocess.run(rt + ['--debug', 'create', '--bundle', b, cid],
                               stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=120)
        if p.returncode:
            fail('create exited with %d' % p.returncode, tail(read(console)))
        state = json.loads(read(hook_out) or '{}')
        if state.get('id') != cid or state.get('status') != 'creating' or not state.get('pid'):
            fail('the prestart hook got no proper state: %r' % state)
        addrs = sh('ip', 'netns', 'exec', ns, 'ip', '-4', '-o', 'addr', 'show', 'dev',
                   'eth0').out
        if guest_ip in addrs:
            fail('eth0 kept %s in the namespace: the kernel would answer for it' % guest_ip,
                 addrs)
        tc = sh('ip', 'netns', 'exec', ns, 'tc', 'filter', 'show', 'dev', 'eth0',
                'ingress').out
        if 'uktap0' not in tc:
            fail('no redirect from eth0 to the tap', tc)
        p = c.run(rt + ['start', cid])
        if p.returncode:
            fail('start exited with %d' % p.returncode, p.err)
        wait_for(console, 'unik: net0 up %s/24' % guest_ip)
        body = curl('http://%s:8080/' % guest_ip)
        if not body:
            fail('the guest answered with an empty body')
        qemu = [cmd for _, cmd in c.qemu_under(root)]
        if not any(mac in cmd for cmd in qemu):
            fail('the guest NIC does not have eth0\'s MAC %s' % mac, repr(qemu))
        if ('dns=%s' % gw) not in ' '.join(qemu):
            fail('the guest was not given the name server %s (the loopback one skipped)' % gw,
                 repr(qemu))
        # config.json's hostname names the guest (docs/oci.md), as uname -n reports it.
        if 'unik.hostname=web-oci' not in ' '.join(qemu):
            fail('the guest was not given config.json\'s hostname', repr(qemu))
        print('guest at %s (mac %s) answered: %r' % (guest_ip, mac, body[:60]))
        c.run(rt + ['kill', cid, 'KILL'])
    finally:
        c.run(rt + ['delete', '--force', cid], timeout=60)
        for pid, _ in c.qemu_under(root):
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        c.remove_tree(root)
        sh('ip', 'netns', 'del', ns, check=False)
        sh('ip', 'link', 'del', host_if, check=False)


@timeout(600)
def test_docker_publish():
    """Variant 1: docker run --runtime=unik -p on a user-defined bridge network."""
    need_net_admin()
    c.need_kvm_or_tcg()
    c.need('docker-proxy')
    kernel = http_kernel()
    n = subnet_index()
    tag = '%d' % (os.getpid() % 100000)
    net, bridge = 'uknet' + tag, 'ukbrd' + tag
    port = free_port()
    runtime = c.unik_oci
    print('variant: dockerd (--iptables=false, docker-proxy) on bridge network %s 10.92.%d.0/24,'
          ' docker run --runtime=unik -p 127.0.0.1:%d:8080' % (net, n, port))
    with open(kernel, 'rb') as f:
        data = f.read()
    labels = dict(c.UNIK_LABELS, **{'org.unik.kernel': '/http'})
    tar = c.write_docker_archive(os.path.join(out_dir(), 'unik-http.tar'), 'unik-http:test',
                                 {'http': (data, 0o755)}, ['/http'], labels=labels)
    try:
        d = c.Dockerd().__enter__()
    finally:
        c.unik_oci = runtime
    try:
        try:
            p = d.docker('load', '-i', tar)
            if p.returncode:
                fail('docker load failed', p.out + p.err)
            p = d.docker('network', 'create', '--driver', 'bridge', '--subnet',
                         '10.92.%d.0/24' % n, '-o',
                         'com.docker.network.bridge.name=' + bridge, net)
            if p.returncode:
                raise Skip('docker network create failed here: %s' % tail(p.err, 3))
            p = d.docker('run', '-d', '--pull', 'never', '--runtime=unik', '--network', net,
                         '-p', '127.0.0.1:%d:8080' % port, '--name', 'ukhttp' + tag,
                         'unik-http:test')
            if p.returncode:
                fail('docker run -p failed', p.out + p.err)
            body = curl('http://127.0.0.1:%d/' % port)
            logs = d.docker('logs', 'ukhttp' + tag).out
            if 'unik: net0 up 10.92.%d.' % n not in logs:
                fail('the guest did not take the container\'s address', logs)
            print('published port answered: %r' % body[:60])
        finally:
            d.docker('rm', '-f', 'ukhttp' + tag, timeout=120)
            d.docker('network', 'rm', net, timeout=60)
    finally:
        d.__exit__(None, None, None)


@timeout(600)
def test_podman_publish():
    """Variant 3: podman run --runtime unik-oci -p on a podman bridge network (CNI)."""
    need_net_admin()
    c.need_kvm_or_tcg()
    c.need('iptables')
    from test_oci_podman import Podman
    pm = Podman()
    if c.run(['iptables', '-t', 'nat', '-S'], timeout=30).returncode:
        raise Skip('iptables cannot list the nat table here; CNI\'s portmap needs it')
    kernel = http_kernel()
    n = subnet_index()
    tag = '%d' % (os.getpid() % 100000)
    net, bridge = 'ukpnet' + tag, None
    port = free_port()
    confdir = os.path.join(pm.dir, 'cni')
    os.makedirs(confdir)
    pm.pre[1:1] = ['--network-config-dir', confdir]
    print('variant: podman (a CNI bridge network on 10.92.%d.0/24, portmap), podman run '
          '--runtime unik-oci -p 127.0.0.1:%d:8080' % (n, port))
    with open(kernel, 'rb') as f:
        data = f.read()
    labels = dict(c.UNIK_LABELS, **{'org.unik.kernel': '/http'})
    tar = c.write_docker_archive(os.path.join(out_dir(), 'unik-http-podman.tar'),
                                 'localhost/unik-http:test', {'http': (data, 0o755)}, ['/http'],
                                 labels=labels)
    made = False
    try:
        p = pm('load', '-i', tar)
        if p.returncode:
            fail('podman load failed', p.out + p.err)
        p = pm('network', 'create', '--disable-dns', '--subnet', '10.92.%d.0/24' % n, net)
        if p.returncode:
            raise Skip('podman network create failed here: %s' % tail(p.err, 3))
        made = True
        p = pm('network', 'inspect', net)
        bridge = json.loads(p.out)[0].get('network_interface') or bridge
        p = pm('run', '-d', '--network', net, '-p', '127.0.0.1:%d:8080' % port, '--name',
               'ukphttp' + tag, 'localhost/unik-http:test')
        if p.returncode:
            fail('podman run -p failed', p.out + p.err)
        body = curl('http://127.0.0.1:%d/' % port)
        logs = pm('logs', 'ukphttp' + tag).out
        if 'unik: net0 up 10.92.%d.' % n not in logs:
            fail('the guest did not take the container\'s address', logs)
        print('published port answered: %r' % body[:60])
        pm('rm', '-f', 'ukphttp' + tag, timeout=120)
        left = [r for r in sh('iptables-save', '-t', 'nat').out.splitlines()
                if ':%d' % port in r or ('--dport %d ' % port) in r]
        if left:
            fail('podman rm left DNAT rules for port %d' % port, '\n'.join(left))
    finally:
        if made:
            pm('rm', '-f', 'ukphttp' + tag, timeout=120)
            pm('network', 'rm', '-f', net, timeout=60)
        pm.close()
        if bridge:
            sh('ip', 'link', 'del', bridge, check=False)
