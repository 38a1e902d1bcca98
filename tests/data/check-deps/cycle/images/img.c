/* Fixture: images/ calls back into providers/ through a declaration of its own. */
#include "img.h"
int prov_run(int n);
int img_pack(int n)
{
	return n > 0 ? prov_run(n - 1) : 0;
}
