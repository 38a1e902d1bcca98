/* Fixture: providers/ use images/, which is allowed. */
#include "images/img.h"
int prov_run(int n);
int prov_run(int n)
{
	return img_pack(n);
}
