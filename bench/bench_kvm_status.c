/* The status() cost of many instances from one process, as the daemon's monitor pays it:
 *   bench_kvm_status PROVIDER ROUNDS DIR...
 * Prints one line per round: "round=N us=MICROSECONDS running=N other=N errors=N". */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "providers/provider.h"

int main(int argc, char **argv)
{
	const struct unik_provider *p = argc > 3 ? unik_provider_find(argv[1]) : NULL;
	int rounds = argc > 3 ? atoi(argv[2]) : 0;

	if (!p || rounds <= 0) {
		fputs("usage: bench_kvm_status PROVIDER ROUNDS DIR...\n", stderr);
		return 2;
	}
	for (int r = 0; r < rounds; r++) {
		int running = 0, other = 0, errors = 0;
		long long t0 = unik_now_us();

		for (int i = 3; i < argc; i++) {
			struct unik_instance_status st;
			struct unik_error err;

			if (p->status(NULL, argv[i], &st, &err) < 0)
				errors++;
			else if (st.state == UNIK_STATE_RUNNING)
				running++;
			else
				other++;
		}
		printf("round=%d us=%lld running=%d other=%d errors=%d\n", r, unik_now_us() - t0,
		       running, other, errors);
		fflush(stdout);
	}
	return 0;
}
