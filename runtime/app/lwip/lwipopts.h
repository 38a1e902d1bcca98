/* lwIP's configuration for mirage applications that link it (liblwip-app.a,
 * include/unik/lwip-netif.h): the raw API (NO_SYS) driven by the application's own loop over
 * unik_yield, IPv4 with ARP, ICMP, UDP, TCP and DHCP, memory from musl's malloc. */
#ifndef UNIK_APP_LWIPOPTS_H
#define UNIK_APP_LWIPOPTS_H

/* One thread: the application calls lwIP, and lwIP calls it back, from the same loop. */
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

/* musl's malloc for everything, pools included: an idle stack holds nothing. */
#define MEM_LIBC_MALLOC         1
#define MEMP_MEM_MALLOC         1
#define MEM_ALIGNMENT           8
#define MEMP_NUM_TCP_PCB        64
#define MEMP_NUM_TCP_PCB_LISTEN 16
#define MEMP_NUM_UDP_PCB        32
#define MEMP_NUM_RAW_PCB        8
#define MEMP_NUM_TCP_SEG        512
#define MEMP_NUM_PBUF           64
#define PBUF_POOL_SIZE          64

/* The runtime's TCP settings (runtime/net/lwip/lwipopts.h), for the same reasons: a window of
 * about 64 KiB, and a short TIME_WAIT for a server. */
#define TCP_MSS             1460
#define TCP_WND             (44 * TCP_MSS)
#define TCP_SND_BUF         (44 * TCP_MSS)
#define TCP_SND_QUEUELEN    (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_LISTEN_BACKLOG  1
#define LWIP_TCP_KEEPALIVE  1
#define TCP_QUEUE_OOSEQ     1
#define LWIP_TCP_TIMESTAMPS 0
#define TCP_MSL             1000

#define LWIP_NETIF_TX_SINGLE_PBUF  1
#define ETH_PAD_SIZE               0
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK   0
#define LWIP_NETIF_HOSTNAME        0
#define LWIP_NETIF_LOOPBACK        0
#define LWIP_HAVE_LOOPIF           0
#define SO_REUSE                   1
#define LWIP_NUM_NETIF_CLIENT_DATA 0

/* The device variant's virtio-net negotiates the same checksum offloads as the runtime's own
 * stack: frames it hands over were checked by the device or need no check, and a partial
 * checksum (a frame from the same host) would fail lwIP's check.  lwip-netif.c turns off the
 * TCP and UDP checks per interface; the IP header's is still checked. */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1

#define LWIP_STATS         0
#define LWIP_STATS_DISPLAY 0
#define LWIP_PERF          0

#define LWIP_RAND() unik_lwip_app_rand()

#endif
