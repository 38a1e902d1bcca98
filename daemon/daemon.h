/* unik's daemon: the REST server that builds images and runs instances (docs/daemon.md).
 * The `unik daemon` verb calls unik_daemon_main; everything else reaches the daemon over HTTP
 * (docs/api/rest.md), never through this header. */
#ifndef UNIK_DAEMON_H
#define UNIK_DAEMON_H

/* argv[0] is "daemon".  Options: --listen ADDR:PORT, --token T, --home DIR, --foreground (the
 * default), --help.  Returns the process exit status: 0 after SIGTERM/SIGINT, 1 on a start-up
 * error (message on stderr), 2 on a usage error. */
int unik_daemon_main(int argc, char **argv);

#endif
