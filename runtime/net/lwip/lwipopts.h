/* lwIP's configuration for unik (docs/runtime.md "Network stack"): the raw API only, driven from
 * kernel context (NO_SYS), IPv4 with DHCP, ARP, ICMP, UDP, TCP and raw PCBs.  The socket layer is
 * the runtime's own (runtime/net/), so lwIP's sockets and netconns are off, and so is its DNS
 * client: musl resolves names itself over UDP sockets, from /etc/resolv.conf. */
#ifndef UNIK_LWIPOPTS_H
#define UNIK_LWIPOPTS_H

/* No threads of its own: the scheduler's poller runs the timers and the drivers hand frames in,
 * both in kernel context, which is not preemptible (kernel/sched.h), so nothing needs a lock. */
#define NO_SYS               1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_SOCKET          0
#define LWIP_NETCONN         0
#define LWIP_NETIF_API       0
#define LWIP_TIMERS          1

#define LWIP_IPV4     1
#define LWIP_IPV6     0
#define LWIP_ARP      1
#define LWIP_ETHERNET 1
#define LWIP_ICMP     1
#define LWIP_RAW      1
#define LWIP_UDP      1
#define LWIP_TCP      1
#define LWIP_DHCP     1
#define LWIP_AUTOIP   0
#define LWIP_IGMP     0
#define LWIP_DNS      0
#define LWIP_ALTCP    0
#define IP_FORWARD    0
#define IP_REASSEMBLY 1
#define IP_FRAG       1

/* Memory: the kernel heap for everything (kmalloc, kfree), pools included, so that an idle
 * stack holds nothing and the limits below bound only what lwIP itself checks. */
#define MEM_LIBC_MALLOC         1
#define MEMP_MEM_MALLOC         1
#define MEM_ALIGNMENT           8
#define mem_clib_malloc         unik_lwip_malloc
#define mem_clib_free           unik_lwip_free
#define mem_clib_calloc         unik_lwip_calloc
#define MEMP_NUM_TCP_PCB        64
#define MEMP_NUM_TCP_PCB_LISTEN 16
#define MEMP_NUM_UDP_PCB        32
#define MEMP_NUM_RAW_PCB        8
#define MEMP_NUM_TCP_SEG        512
#define MEMP_NUM_PBUF           64
#define PBUF_POOL_SIZE          64

/* TCP for a server: a full-size segment on Ethernet, and a window of about 64 KiB, the largest
 * without window scaling, so that one connection can fill a virtio link's pipe. */
#define TCP_MSS             1460
#define TCP_WND             (44 * TCP_MSS)
#define TCP_SND_BUF         (44 * TCP_MSS)
#define TCP_SND_QUEUELEN    (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_LISTEN_BACKLOG  1
#define LWIP_TCP_KEEPALIVE  1
#define TCP_QUEUE_OOSEQ     1
#define LWIP_TCP_TIMESTAMPS 0
/* TIME_WAIT lasts 2 * TCP_MSL.  lwIP's default MSL (60 s) keeps every connection a server
 * closed for two minutes, and with pools from the heap nothing bounds them: at a few hundred
 * connections a second, tens of thousands pile up, and lwIP walks that list for every segment
 * that arrives.  Two seconds still outlasts a segment's life on the short paths a unikernel
 * serves (a bridge, a host), as Linux's own RFC 1337 defences assume. */
#define TCP_MSL 1000

/* One frame in one buffer as far as lwIP can arrange it, so that linkoutput rarely copies. */
#define LWIP_NETIF_TX_SINGLE_PBUF 1
#define ETH_PAD_SIZE              0

/* The address is printed and /etc/resolv.conf written when an interface comes up. */
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK   0
#define LWIP_NETIF_HOSTNAME        0

/* 127.0.0.1: lwIP's loopback interface, and a netif sending to its own address, both queue the
 * packet for netif_poll (net/netif.c's net_loop_poll, after each send and from the poller).  The
 * queue is bounded: a packet beyond it is dropped, and TCP sends it again. */
#define LWIP_NETIF_LOOPBACK     1
#define LWIP_HAVE_LOOPIF        1
#define LWIP_LOOPBACK_MAX_PBUFS 256

/* SO_REUSEADDR: a server restarted on its port while old connections are in TIME_WAIT. */
#define SO_REUSE                   1
#define LWIP_NUM_NETIF_CLIENT_DATA 0

/* Checksums are made and checked in software unless the device says it does them
 * (NETDEV_CSUM_TX, NETDEV_CSUM_RX): netif.c sets each interface's flags. */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1

#define LWIP_STATS         0
#define LWIP_STATS_DISPLAY 0
#define LWIP_PERF          0

/* DHCP: lwIP asks for and keeps the DNS servers only for its own resolver, which is off; one hook
 * asks for option 6, the other hands it to netif.c, which writes it to /etc/resolv.conf. */
#define LWIP_HOOK_FILENAME "unik_hooks.h"
#define LWIP_HOOK_DHCP_PARSE_OPTION(netif, dhcp, state, msg, msg_type, option, len, pbuf, off)     \
	do {                                                                                       \
		(void)(msg);                                                                       \
		unik_dhcp_option((netif), (msg_type), (option), (len), (pbuf), (off));             \
	} while (0)

#define LWIP_HOOK_DHCP_APPEND_OPTIONS(netif, dhcp, state, msg, msg_type, options_len_ptr)          \
	unik_dhcp_ask_dns((msg)->options, (options_len_ptr), DHCP_OPTIONS_LEN)

/* Two lwIP ends of one connection (on the loopback) whose windows are both closed would answer
 * each other's acknowledgements forever: lwIP acknowledges an empty segment at rcv_nxt when its
 * window is zero, which RFC 793 accepts.  The hook makes the window one byte for it instead. */
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p)                             \
	unik_tcp_inpacket((pcb), (hdr), (p))

#define LWIP_RAND() unik_lwip_rand()

/* lwIP's names that the kernel uses too (kernel/mem.h), for the files that include both. */
#define mem_init lwip_mem_init

#endif
