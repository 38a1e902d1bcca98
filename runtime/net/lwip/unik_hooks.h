/* The functions lwIP's hooks and memory options (lwipopts.h) name, defined in runtime/net/. */
#ifndef UNIK_LWIP_HOOKS_H
#define UNIK_LWIP_HOOKS_H

struct netif;
struct pbuf;

/* netif.c: one DHCP option of a reply (lwIP's parser skips the DNS servers).  Plain C types,
 * as lwIP's own headers may not be included here yet. */
void unik_dhcp_option(struct netif *netif, unsigned char msg_type, unsigned char option,
                      unsigned char len, struct pbuf *p, unsigned short offset);

/* netif.c: adds the DNS server option (6) to the parameter request list of a DHCP message
 * whose options fill the first *len bytes of options (room for cap): lwIP asks for it only when
 * its own resolver is on, and servers such as dnsmasq send only what is asked for. */
void unik_dhcp_ask_dns(unsigned char *options, unsigned short *len, unsigned short cap);

/* inet.c: every TCP segment before its pcb takes it, to make lwIP accept an empty segment at
 * rcv_nxt when its window is zero. */
struct tcp_pcb;
struct tcp_hdr;
signed char unik_tcp_inpacket(struct tcp_pcb *pcb, const struct tcp_hdr *hdr, const struct pbuf *p);

#endif
