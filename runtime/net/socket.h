/* Sockets: the system calls (net/socket.c) and the families behind them.  A socket is a file
 * whose priv is a struct sock, the first member of the family's own structure; its ops are the
 * family's answers to the socket calls.  docs/runtime.md "Sockets" says how a family plugs in. */
#ifndef UNIK_RT_NET_SOCKET_H
#define UNIK_RT_NET_SOCKET_H

#include "fs/file.h"

#define AF_UNIX   1
#define AF_INET   2
#define AF_INET6  10
#define AF_PACKET 17

#define SOCK_STREAM    1
#define SOCK_DGRAM     2
#define SOCK_RAW       3
#define SOCK_SEQPACKET 5
#define SOCK_TYPE_MASK 0xf
#define SOCK_NONBLOCK  O_NONBLOCK
#define SOCK_CLOEXEC   O_CLOEXEC

#define MSG_OOB      0x1
#define MSG_PEEK     0x2
#define MSG_TRUNC    0x20
#define MSG_DONTWAIT 0x40
#define MSG_WAITALL  0x100
#define MSG_NOSIGNAL 0x4000

#define SHUT_RD   0
#define SHUT_WR   1
#define SHUT_RDWR 2

#define SOL_SOCKET    1
#define SO_REUSEADDR  2
#define SO_TYPE       3
#define SO_ERROR      4
#define SO_BROADCAST  6
#define SO_SNDBUF     7
#define SO_RCVBUF     8
#define SO_KEEPALIVE  9
#define SO_LINGER     13
#define SO_REUSEPORT  15
#define SO_RCVTIMEO   20
#define SO_SNDTIMEO   21
#define SO_ACCEPTCONN 30
#define SO_PROTOCOL   38
#define SO_DOMAIN     39
#define IPPROTO_IP    0
#define IPPROTO_TCP   6
#define IPPROTO_UDP   17
#define TCP_NODELAY   1
#define TCP_KEEPIDLE  4
#define TCP_KEEPINTVL 5
#define TCP_KEEPCNT   6

#define SIGPIPE 13

#define EDESTADDRREQ    89
#define EPROTOTYPE      91
#define ENOPROTOOPT     92
#define EPROTONOSUPPORT 93
#define EAFNOSUPPORT    97
#define EADDRINUSE      98
#define EADDRNOTAVAIL   99
#define ENETUNREACH     101
#define ECONNABORTED    103
#define ECONNRESET      104
#define EISCONN         106
#define ENOTCONN        107
#define ECONNREFUSED    111
#define EHOSTUNREACH    113
#define EALREADY        114
#define EINPROGRESS     115
#define ENOTSOCK        88
#define EMSGSIZE        90
#define EDOM            33

struct linux_msghdr {
	void *msg_name;
	uint32_t msg_namelen;
	struct linux_iovec *msg_iov;
	uint64_t msg_iovlen;
	void *msg_control;
	uint64_t msg_controllen;
	int msg_flags;
};

struct linux_sockaddr_in {
	uint16_t sin_family;
	uint16_t sin_port; /* network order, as sin_addr */
	uint32_t sin_addr;
	uint8_t sin_zero[8];
};

struct linux_linger {
	int l_onoff, l_linger;
};

struct sock;

/* A family's socket calls.  Addresses are the caller's, with their lengths checked against
 * nothing yet; flags carry MSG_DONTWAIT when the file is non-blocking.  NULL: -EOPNOTSUPP. */
struct sock_ops {
	long (*bind)(struct sock *s, const void *addr, uint32_t len);
	long (*listen)(struct sock *s, int backlog);
	/* *out: the new connection's socket (socket.c gives it a descriptor) */
	long (*accept)(struct sock *s, struct sock **out, int flags);
	long (*connect)(struct sock *s, const void *addr, uint32_t len, int flags);
	/* bytes sent, or -errno; m->msg_name is the destination (NULL: the connected peer) */
	long (*sendmsg)(struct sock *s, const struct linux_msghdr *m, int flags);
	/* bytes received, or -errno; fills m->msg_name/msg_namelen and m->msg_flags */
	long (*recvmsg)(struct sock *s, struct linux_msghdr *m, int flags);
	long (*shutdown)(struct sock *s, int how);
	/* the local (peer false) or remote address into addr of *len bytes; *len set to its size */
	long (*getname)(struct sock *s, void *addr, uint32_t *len, bool peer);
	long (*setsockopt)(struct sock *s, int level, int name, const void *val, uint32_t len);
	/* *len is the room at val on entry and the value's size on return */
	long (*getsockopt)(struct sock *s, int level, int name, void *val, uint32_t *len);
	short (*poll)(struct sock *s);
	long (*ioctl)(struct sock *s, long req, long arg);
	void (*release)(struct sock *s);
};

struct sock {
	const struct sock_ops *ops;
	int family, type, protocol;
	uint64_t rcvtimeo_ns, sndtimeo_ns; /* SO_RCVTIMEO, SO_SNDTIMEO (0: none) */
};

/* A descriptor for s (flags: SOCK_NONBLOCK, SOCK_CLOEXEC), or -errno, s released then. */
long sock_fd(struct sock *s, int flags);
/* The monotonic deadline for a wait of timeout ns from now (0: none). */
uint64_t sock_deadline(uint64_t timeout_ns);
/* Copy out an address of size n into the caller's addr of *len bytes, as Linux truncates. */
void sock_put_addr(void *addr, uint32_t *len, const void *a, uint32_t n);
/* An int option's value, or -EINVAL when len is too short. */
long sock_int_opt(const void *val, uint32_t len, int *out);
/* Copy an int option's value out. */
long sock_put_int(void *val, uint32_t *len, int v);

/* The families: AF_INET over lwIP (net/inet.c), AF_UNIX pairs (net/unix.c), and AF_PACKET
 * (net/packet.c, weak: absent, the family is not supported). */
long inet_socket(int type, int protocol, struct sock **out);
long unix_socketpair(int type, struct sock **a, struct sock **b);
__attribute__((weak)) long packet_socket(int type, int protocol, int flags);

/* net/netif.c: deliver what lwIP queued on its loopback paths (127.0.0.1, the guest's own
 * addresses), after a send from a system call; the poller does the same for the timers. */
void net_loop_poll(void);

#endif
