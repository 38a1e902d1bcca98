/* Fixture: the guest must not take host headers. */
#include <stdio.h>
int rt_main(void);
int rt_main(void)
{
	return EOF;
}
