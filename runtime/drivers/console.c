/* The console: a 16550 UART at COM1.  Output waits for the transmit FIFO to drain and then
 * sends up to 16 bytes with one string instruction, which costs one VM exit per burst under
 * KVM instead of one per byte, and never drops a byte on a slow host.  Under Xen the PV console
 * ring (xen.c) takes the same bytes, and the UART too where one is emulated (HVM). */
#include "kernel/kernel.h"
#include "kernel/sched.h"
#include "platform/xen/xen.h"

#define COM1       UNIK_COM1_PORT
#define UART_RBR   0
#define UART_THR   0
#define UART_IER   1
#define UART_FCR   2
#define UART_LCR   3
#define UART_MCR   4
#define UART_LSR   5
#define LSR_DR     0x01
#define LSR_THRE   0x20
#define FIFO_DEPTH 16

static bool present, xen;
static char last = '\n'; /* the last byte sent: runtime lines must start on a line of their own */

/* What the UART held before its FIFO was turned on, which empties the receiver: the host may
 * have sent input before the guest was up (unik run -i), and QEMU holds one byte until then. */
static char early[256];
static size_t early_len, early_off;

void console_init(void)
{
	xen = xen_console_init();
	/* Without its FIFO the UART holds one byte, and QEMU hands it the next one from the
	 * host's side a moment after each read.  Turning the FIFO on below empties it, so input
	 * is taken until the line has been quiet for a while (some thousand polls, each an exit
	 * to QEMU), not only while a byte happens to be there. */
	if (inb(COM1 + UART_LSR) != 0xff) {
		for (unsigned quiet = 0; early_len < sizeof(early) && quiet < 20000; quiet++) {
			if (inb(COM1 + UART_LSR) & LSR_DR) {
				early[early_len++] = (char)inb(COM1 + UART_RBR);
				quiet = 0;
			} else if (!early_len) {
				break; /* nothing was sent before boot: no wait */
			}
		}
	}
	outb(COM1 + UART_IER, 0x00);
	outb(COM1 + UART_LCR, 0x80); /* divisor latch: 115200 baud */
	outb(COM1 + 0, 0x01);
	outb(COM1 + 1, 0x00);
	outb(COM1 + UART_LCR, 0x03); /* 8N1 */
	outb(COM1 + UART_FCR, 0x07); /* FIFO on, both cleared */
	outb(COM1 + UART_MCR, 0x03);
	/* A missing UART reads as all ones; writing then would only waste time. */
	present = inb(COM1 + UART_LSR) != 0xff;
}
UNIK_INIT(INIT_CONSOLE, console_init);

static uint64_t console_write_r0(uint64_t b, uint64_t l, uint64_t unused)
{
	const char *buf = (const char *)b;
	size_t len = l;
	(void)unused;
	while (len) {
		size_t n = MIN(len, (size_t)FIFO_DEPTH);
		while (!(inb(COM1 + UART_LSR) & LSR_THRE))
			cpu_relax();
		const char *p = buf;
		size_t c = n;
		__asm__ volatile("rep outsb"
		                 : "+S"(p), "+c"(c)
		                 : "d"((uint16_t)(COM1 + UART_THR))
		                 : "memory");
		buf += n;
		len -= n;
	}
	return 0;
}

void console_write(const char *buf, size_t len)
{
	if (!(present || xen) || !len)
		return;
	last = buf[len - 1];
	if (xen)
		xen_console_write(buf, len);
	if (present)
		ring0(console_write_r0, (uint64_t)buf, len, 0);
}

void console_start_line(void)
{
	if (last != '\n')
		console_write("\n", 1);
}

static uint64_t lsr_r0(uint64_t u0, uint64_t u1, uint64_t u2)
{
	(void)u0, (void)u1, (void)u2;
	return inb(COM1 + UART_LSR);
}

bool console_readable(void)
{
	if (xen)
		return xen_console_readable();
	return early_off < early_len || (present && (ring0(lsr_r0, 0, 0, 0) & LSR_DR));
}

static uint64_t console_read_r0(uint64_t b, uint64_t len, uint64_t unused)
{
	char *buf = (char *)b;
	size_t n = 0;
	(void)unused;
	while (n < len && (inb(COM1 + UART_LSR) & LSR_DR))
		buf[n++] = (char)inb(COM1 + UART_RBR);
	return n;
}

static struct waitq console_waitq = {NULL, "read from the console", true};

/* Reads what has arrived; when blocking, waits (halting between checks) for the first byte. */
long console_read(char *buf, size_t len, bool block)
{
	if (!(present || xen) || !len)
		return 0;
	if (early_off < early_len) {
		size_t n = MIN(len, early_len - early_off);

		k_memcpy(buf, early + early_off, n);
		early_off += n;
		return (long)n;
	}
	for (;;) {
		size_t n = xen ? xen_console_read(buf, len)
		               : ring0(console_read_r0, (uint64_t)buf, len, 0);
		if (n || !block)
			return (long)n;
		/* The UART raises no interrupt here: look again in a millisecond, letting other
		 * threads run meanwhile.  Input may always come, so this wait is never a deadlock.
		 */
		int r = thread_wait(&console_waitq, clock_monotonic_ns() + 1000000);
		if (r == -EINTR)
			return r;
	}
}
