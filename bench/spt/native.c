/* The native baseline of bench_spt.py: a static hello, fork+exec'd as the spt one is. */
#include <unistd.h>

int main(void)
{
	return write(1, "hello\n", 6) == 6 ? 0 : 1;
}
