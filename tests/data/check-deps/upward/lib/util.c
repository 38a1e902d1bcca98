/* Fixture: lib/ must not use images/. */
#include "util.h"

#include "images/img.h"
int util_add(int a, int b)
{
	return img_pack(a) + b;
}
