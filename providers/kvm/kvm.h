/* The kvm provider's internals, split out so unit tests can reach them: the libvirt domain XML
 * (a pure function, pinned by golden files), domain names, the unik metadata element, and the
 * cached libvirt connections. */
#ifndef UNIK_PROVIDER_KVM_H
#define UNIK_PROVIDER_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"
#include "lib/util.h"
#include "providers/provider.h"

extern const struct unik_provider unik_provider_kvm;

#define KVM_DEFAULT_URI "qemu:///system"
/* How long opening a connection may take (option connect_timeout, in seconds). */
#define KVM_DEFAULT_CONNECT_TIMEOUT 10
#define KVM_MAX_CONNECT_TIMEOUT     600
/* The XML namespace of the <metadata> element that marks a domain as unik's. */
#define KVM_XMLNS        "https://github.com/unik/xmlns/1"
#define KVM_XMLNS_PREFIX "unik"

/* Files in an instance directory (docs/providers/kvm.md). */
#define KVM_STATE_FILE   "provider.state" /* uri, connect_timeout, domain, uuid, instance id */
#define KVM_XML_FILE     "domain.xml"     /* the XML defined, for whoever debugs the instance */
#define KVM_STOPPED_FILE "stopped"        /* stop() was asked for this run */
/* console.log and console.start are shared with the qemu provider's console parser. */

/* ---- domain XML (domxml.c) ------------------------------------------------------------------ */

struct kvm_domain_params {
	const char *name;        /* domain name, "unik-hello-0123456789ab" */
	const char *type;        /* "kvm" or "qemu" (TCG) */
	const char *machine;     /* "microvm", "pc" or "q35" */
	const char *instance_id; /* recorded in the metadata */
	const char *image_id;    /* recorded in the metadata; may be NULL */
	const char *kernel;      /* absolute; NULL when booting disk */
	const char *initrd;      /* absolute, or NULL */
	const char *cmdline;     /* "" for the image's defaults; ignored when booting disk */
	/* Boot this disk (absolute path) through the firmware and GRUB instead of the kernel:
	 * machine pc or q35, the disk read-only on virtio.  disk_format is "raw" or "qcow2". */
	const char *disk;
	const char *disk_format;
	const char *console; /* absolute path of console.log */
	uint64_t memory_mb;
	/* QEMU's user:group as a DAC label ("+64122:+64122", unprivileged), or NULL to leave
	 * libvirt's default (the session daemon, where QEMU runs as the caller anyway). */
	const char *dac_label;
	/* The instance's devices (checked, MACs filled in; paths absolute): <interface>, <disk>
	 * (vda, or vdb on when the boot disk is vda) and <filesystem>, on virtio-mmio for microvm
	 * and virtio-pci otherwise. */
	const struct unik_device *devices;
	size_t ndevices;
};

/* The whole domain XML for p into *out (caller frees).  Every value is XML-escaped.  Fails with
 * UNIK_E_INVALID on a missing field, a zero memory size or an unknown type or machine. */
int kvm_domain_xml(const struct kvm_domain_params *p, char **out, struct unik_error *err);

/* s with &, <, >, ' and " replaced by entities (caller frees).  Control characters other than
 * tab and newline cannot appear in XML 1.0 at all and become U+FFFD's UTF-8 bytes. */
char *kvm_xml_escape(const char *s);

/* The domain name for an instance: "unik-<name>-<id>", the name cut to its first 32 characters
 * of [A-Za-z0-9_.-] (others become '-'), or "unik-<id>" when nothing is left.  Caller frees. */
char *kvm_domain_name(const char *instance_name, const char *instance_id);

/* The value of attribute attr of the first element in xml (as virDomainGetMetadata returns
 * the unik element), entities decoded; NULL if absent.  Caller frees. */
char *kvm_xml_attr(const char *xml, const char *attr);

/* ---- libvirt connections (conn.c) ----------------------------------------------------------- */

/* A reference to a cached libvirt connection and what its capabilities say.  kvm_conn_get
 * takes a reference, kvm_conn_put drops it; a connection that died is replaced in the cache
 * while holders of the old one finish with it. */
struct kvm_conn {
	void *conn;       /* virConnectPtr */
	bool has_kvm;     /* the capabilities list domain type kvm for x86_64 */
	bool has_microvm; /* ... and machine microvm */
	bool system;      /* a privileged (system) daemon: QEMU needs a DAC label */
};

/* Fills *c with the cached connection to uri (opened, or reopened when it died), with libvirt's
 * event loop, lifecycle events and a keepalive set up.  An open that takes longer than
 * timeout_ms fails (and goes on in the background, for a later call to collect).  On failure
 * err carries libvirt's own message and a hint.  Thread safe. */
int kvm_conn_get(const char *uri, int timeout_ms, struct kvm_conn *c, struct unik_error *err);
void kvm_conn_put(struct kvm_conn *c);

/* libvirt's last error message ("unknown error" if none), for messages. Static per thread. */
const char *kvm_last_error(void);

/* Waits up to timeout_ms for a lifecycle event of any domain, or returns at once when one came
 * since *seen (a counter the caller keeps: 0 at first).  Cheap way to sleep until a domain may
 * have changed state; callers recheck the state themselves. */
void kvm_wait_event(unsigned long *seen, int timeout_ms);

/* What the lifecycle events say about a domain UUID: 1 running, 0 not running, -1 unknown (no
 * event since the connection opened, and nothing noted). */
int kvm_event_state(const char *uuid);

/* A counter bumped by every lifecycle event.  Read it before asking libvirt for a domain's
 * state, and give it to kvm_event_note, which then records that state only if no event came
 * in between (an event is newer than the answer). */
unsigned long kvm_event_gen(void);
void kvm_event_note(const char *uuid, int running, unsigned long gen);

#endif
