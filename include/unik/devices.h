/* Guest ABI v2: the device manifest.  An instance is an image plus named devices; the host tells
 * the guest which devices it has, under which names, through words at the start of the boot
 * command line (docs/guest-abi.md, "Devices").  Shared by runtime/ (which reads the manifest) and
 * host code (which writes it); nothing here depends on either. */
#ifndef UNIK_DEVICES_H
#define UNIK_DEVICES_H

/* The kinds of device.  The numbers are part of the ABI only through their names below: the
 * manifest spells kinds out. */
enum unik_dev_kind {
	UNIK_DEV_CONSOLE = 0, /* the serial console; always there, never listed */
	UNIK_DEV_NET,         /* a NIC: virtio-net; the guest tells NICs apart by their MAC */
	UNIK_DEV_BLK,         /* a volume: virtio-blk; its serial number is the device's name */
	UNIK_DEV_FS,          /* a host share: virtio-9p; its mount tag is the device's name */
	UNIK_DEV_KINDS        /* how many kinds there are */
};

/* The kinds' names, as the manifest, the REST API and the docs spell them. */
#define UNIK_DEV_KIND_NAMES                                                                        \
	{                                                                                          \
		"console", "net", "blk", "fs"                                                      \
	}

/* A bit per kind, for a provider's capabilities and an image's requirements. */
#define UNIK_DEV_BIT(kind) (1u << (kind))

/* At most this many devices besides the console, and names of at most UNIK_DEV_NAME_MAX bytes
 * from [a-z0-9_-], starting with a letter. */
#define UNIK_DEV_MAX      16
#define UNIK_DEV_NAME_MAX 15

/* One manifest word per device, before the environment words of the command line:
 *
 *   unik.dev.NAME=KIND[,ro][,mac=XX:XX:XX:XX:XX:XX][,at=/MOUNT/POINT]
 *
 * "at=" comes last and runs to the end of the word (a mount point may hold commas).  The
 * prefix's dot makes the word impossible as an environment variable, so a v2 runtime takes it
 * out before it parses the rest; a v1 runtime would take it for argv[0], which is why hosts give
 * devices only to images whose ABI note says 2 or more. */
#define UNIK_DEV_WORD_PREFIX "unik.dev."
/* The guest's hostname (uname's nodename, and /etc/hosts once a NIC is up): "unik.hostname=NAME",
 * NAME of 1 to UNIK_HOSTNAME_MAX bytes.  "hostname" is therefore no device name. */
#define UNIK_HOSTNAME_WORD_PREFIX "unik.hostname="
#define UNIK_HOSTNAME_MAX         64

#endif
