/* Fixture: tests/ may use anything. */
#include "images/img.h"
#include "runtime/rt.c"
int main(void)
{
	return img_pack(0) + rt_main();
}
