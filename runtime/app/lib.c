/* The application's side of include/unik/devices-app.h (libunikapp.a): main() calls
 * unik_app_main, and each call is one system call of app/appcall.h, or of Linux's for the console
 * and the clocks.  Compiled with unik-cc like an application, but it needs nothing of the C
 * library beyond exit(), so that the API is the application's whole interface to its host. */
#include "app/appcall.h"
#include "app/shared.h"
#include "unik/devices-app.h"

int main(int argc, char **argv)
{
	struct unik_app_info info = {argc, argv};

	return unik_app_main(&info);
}

void unik_exit(int status)
{
	exit(status);
}

void unik_console_write(const char *buf, size_t len)
{
	unikapp_console(buf, len);
}

unik_result_t unik_net_info(const char *name, unik_handle_t *h, struct unik_net_info *info)
{
	struct appcall_info ai;
	long r = unikapp_call(APPCALL_ACQUIRE, APPCALL_KIND_NET, (long)name, (long)&ai, 0);

	if (r < 0)
		return UNIK_R_EINVAL;
	*h = (unik_handle_t)r;
	__builtin_memset(info, 0, sizeof(*info));
	__builtin_memcpy(info->mac, ai.mac, 6);
	info->mtu = ai.mtu;
	ai.config[sizeof(ai.config) - 1] = 0;
	unikapp_parse_config(ai.config, info);
	return UNIK_R_OK;
}

unik_result_t unik_net_write(unik_handle_t h, const uint8_t *buf, size_t size)
{
	return unikapp_result(unikapp_call(APPCALL_NET_WRITE, (long)h, (long)buf, (long)size, 0));
}

unik_result_t unik_net_read(unik_handle_t h, uint8_t *buf, size_t size, size_t *read_size)
{
	long r = unikapp_call(APPCALL_NET_READ, (long)h, (long)buf, (long)size, 0);

	*read_size = r > 0 ? (size_t)r : 0;
	return unikapp_result(r);
}

unik_result_t unik_block_info(const char *name, unik_handle_t *h, struct unik_block_info *info)
{
	struct appcall_info ai;
	long r = unikapp_call(APPCALL_ACQUIRE, APPCALL_KIND_BLK, (long)name, (long)&ai, 0);

	if (r < 0)
		return UNIK_R_EINVAL;
	*h = (unik_handle_t)r;
	info->capacity = ai.sectors * UNIK_SECTOR_SIZE;
	info->block_size = UNIK_SECTOR_SIZE;
	info->readonly = ai.readonly;
	return UNIK_R_OK;
}

unik_result_t unik_block_read(unik_handle_t h, uint64_t sector, void *buf, size_t count)
{
	return unikapp_result(
	    unikapp_call(APPCALL_BLK_READ, (long)h, (long)sector, (long)buf, (long)count));
}

unik_result_t unik_block_write(unik_handle_t h, uint64_t sector, const void *buf, size_t count)
{
	return unikapp_result(
	    unikapp_call(APPCALL_BLK_WRITE, (long)h, (long)sector, (long)buf, (long)count));
}

unik_time_t unik_clock_monotonic(void)
{
	return unikapp_clock(1);
}

unik_time_t unik_clock_wall(void)
{
	return unikapp_clock(0);
}

void unik_yield(unik_time_t deadline, unik_handle_set_t *ready)
{
	long r = unikapp_call(APPCALL_YIELD, (long)deadline, 0, 0, 0);

	if (ready)
		*ready = r > 0 ? (unik_handle_set_t)r : 0;
}
