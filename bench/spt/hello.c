/* The mirage-style hello of bench_spt.py: one console line, exit 0. */
#include <unik/devices-app.h>

int unik_app_main(const struct unik_app_info *info)
{
	(void)info;
	unik_console_write("hello\n", 6);
	return 0;
}
