/* A device application with no devices, for tests/integration/test_backend_spt.py: the same
 * source built for the virtio and the unix target must print the same and end the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unik/devices-app.h>

static void say(const char *s)
{
	unik_console_write(s, strlen(s));
}

int unik_app_main(const struct unik_app_info *info)
{
	char line[256];
	unik_handle_t h;
	struct unik_net_info ni;
	unik_time_t t0 = unik_clock_monotonic(), t1;
	char *heap = malloc(1 << 20);

	snprintf(line, sizeof(line), "hello: %d arguments:", info->argc - 1);
	say(line);
	for (int i = 1; i < info->argc; i++) {
		snprintf(line, sizeof(line), " %s", info->argv[i]);
		say(line);
	}
	say("\n");
	unik_yield(t0 + 20000000, NULL);
	t1 = unik_clock_monotonic();
	snprintf(line, sizeof(line), "hello: yield slept %s, wall clock %s, heap %s\n",
	         t1 - t0 >= 20000000 ? "to its deadline" : "too little",
	         unik_clock_wall() > 1600000000ull * 1000000000ull ? "set" : "unset",
	         heap ? "ok" : "missing");
	say(line);
	memset(heap, 1, 1 << 20);
	free(heap);
	snprintf(line, sizeof(line), "hello: undeclared net device: %s\n",
	         unik_net_info("nothere", &h, &ni) == UNIK_R_EINVAL ? "refused" : "given");
	say(line);
	printf("hello: stdio reaches the console\n");
	return 3;
}
