/* Fixture: the guest uses include/unik/ and freestanding headers only. */
#include <stdint.h>
#include <unik/abi.h>
int rt_main(void);
int rt_main(void)
{
	return (int)(uint8_t)FIXTURE_EXIT_OK;
}
