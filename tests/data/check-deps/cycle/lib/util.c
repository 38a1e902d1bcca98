/* Fixture: lib/ uses the system and include/unik/. */
#include <stdlib.h>
#include "util.h"
#include "unik/abi.h"
int util_add(int a, int b)
{
	return a + b + FIXTURE_EXIT_OK;
}
