/* The includeos backend: event-driven C services in the style of IncludeOS's Service::start(),
 * written against include/unik/service.h and linked by unik-cc --unik-service with the
 * runtime's event loop (unikrt-service.o) instead of a C start-up and main(). */
#include "compilers/compiler.h"

extern const struct unik_compiler unik_compiler_includeos;

static int includeos_build(const char *src_dir, const struct unik_manifest *m, const char *out_dir,
                           const struct unik_sandbox *sandbox, int log_fd,
                           struct unik_artifacts *out, struct unik_error *err)
{
	return unik_compiler_build_c(&unik_compiler_includeos, "--unik-service", src_dir, m,
	                             out_dir, sandbox, log_fd, out, err);
}

static const char *const includeos_languages[] = {"c", NULL};

const struct unik_compiler unik_compiler_includeos = {
    .name = "includeos",
    .base = "includeos",
    .languages = includeos_languages,
    .description = "event-driven C services (service_start, timers, TCP and UDP callbacks; no "
                   "main, no threads)",
    .usage = "C files that include <unik/service.h> and define void service_start(void)\n"
             "instead of main(): it sets up listeners and timers, and the runtime's event loop\n"
             "calls them back (docs/backends/includeos.md).  Without a Makefile every .c file\n"
             "at the top of the directory is compiled with\n"
             "`unik-cc --unik-service -O2 -o NAME *.c -lm`; a Makefile is run with\n"
             "CC=\"unik-cc --unik-service\" and must compile and link with $(CC).  The image\n"
             "always has a NIC.  A Unikfile names the base (base: includeos) and can set name,\n"
             "memory and files (docs/unikfile.md).\n",
    .build = includeos_build,
};
