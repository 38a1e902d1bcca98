/* Fixture: images/ uses nothing. */
#include "img.h"
int img_pack(int n)
{
	return n + 1;
}
