/* Fixture: images/ uses lib/ (quoted, found through -Ilib). */
#include "img.h"
#include "util.h"
int img_pack(int n)
{
	return util_add(n, 1);
}
