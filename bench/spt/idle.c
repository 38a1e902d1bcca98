/* An idle mirage-style application for bench_spt.py's memory figure: it says it is up, then
 * yields forever. */
#include <unik/devices-app.h>

int unik_app_main(const struct unik_app_info *info)
{
	(void)info;
	unik_console_write("idle\n", 5);
	for (;;)
		unik_yield(unik_clock_monotonic() + 1000000000ull, 0);
}
