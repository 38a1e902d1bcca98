/* A device application that makes a system call its interfaces do not need (open), for
 * tests/integration/test_backend_spt.py: unik-spt's filter must kill it and say which call. */
#include <fcntl.h>
#include <string.h>
#include <unik/devices-app.h>

int unik_app_main(const struct unik_app_info *info)
{
	(void)info;
	unik_console_write("forbidden: opening a file\n", 26);
	int fd = open("/etc/passwd", O_RDONLY);
	unik_console_write(fd >= 0 ? "forbidden: opened it\n" : "forbidden: open failed\n",
	                   fd >= 0 ? 21 : 23);
	return 0;
}
