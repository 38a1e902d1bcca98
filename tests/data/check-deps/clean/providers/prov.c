/* Fixture: providers/ use lib/ and images/. */
#include "images/img.h"
#include "lib/util.h"
int prov_run(int n);
int prov_run(int n)
{
	return img_pack(util_add(n, 2));
}
