/* Jobs: the core's long work (build, pack, stage, run, stop) as records with an id, a
 * kind and a state, that emit progress events to whoever subscribed.  Queued jobs run on a
 * bounded set of workers (builds: max_parallel); a door that answers only when the work is
 * done runs its job inline, in its own thread, and still gets an id and events.
 *
 * Ownership: the queue owns its jobs; an event's strings are valid during the callback. */
#ifndef UNIK_CORE_JOBS_H
#define UNIK_CORE_JOBS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/model.h"
#include "lib/error.h"

enum unik_job_kind {
	UNIK_JOB_BUILD,
	UNIK_JOB_PACK,
	UNIK_JOB_STAGE,
	UNIK_JOB_RUN,
	UNIK_JOB_STOP,
	/* Attaching an instance's volumes before it runs: e2fsck on each writable one, a repair
	 * reported as progress (core/volumes.c). */
	UNIK_JOB_ATTACH,
};
enum unik_job_state { UNIK_JOB_QUEUED, UNIK_JOB_RUNNING, UNIK_JOB_SUCCEEDED, UNIK_JOB_FAILED };

const char *unik_job_kind_name(enum unik_job_kind k);
const char *unik_job_state_name(enum unik_job_state s);

struct unik_job;
struct unik_jobs;

/* What a subscriber sees: a job changed state (line NULL), or reported progress (a line). */
struct unik_job_event {
	const char *id;      /* the job's id: the build's, the instance's ... */
	const char *subject; /* what it works on: an image or instance name */
	enum unik_job_kind kind;
	enum unik_job_state state;
	const char *line;  /* a progress line, or NULL on a state change */
	const char *error; /* the failure's message when state is FAILED */
};
typedef void (*unik_job_listener)(void *ctx, const struct unik_job_event *ev);

/* The work: returns 0 (succeeded) or -1 with err (failed). */
typedef int (*unik_job_fn)(void *arg, struct unik_job *job, struct unik_error *err);

/* A queue with max_parallel workers for queued jobs. */
int unik_jobs_new(size_t max_parallel, struct unik_jobs **out, struct unik_error *err);
/* Stops taking queued jobs, waits for running ones, and frees everything.  Jobs still queued
 * are dropped with their free_arg (the caller's records say what became of them). */
void unik_jobs_free(struct unik_jobs *q);

/* Listeners are called from the job's thread, in the order of the events; one at most per
 * queue slot (returns a handle for unsubscribing, or -1 when all are taken). */
int unik_jobs_subscribe(struct unik_jobs *q, unik_job_listener fn, void *ctx);
void unik_jobs_unsubscribe(struct unik_jobs *q, int handle);

/* Queues fn(arg) as job id of kind; free_arg(arg) (may be NULL) runs once it is done. */
int unik_jobs_submit(struct unik_jobs *q, enum unik_job_kind kind, const char *id,
                     const char *subject, unik_job_fn fn, void *arg, void (*free_arg)(void *),
                     struct unik_error *err);
/* Runs fn(arg) now, in this thread, as job id of kind (it does not take a worker). */
int unik_jobs_run(struct unik_jobs *q, enum unik_job_kind kind, const char *id, const char *subject,
                  unik_job_fn fn, void *arg, struct unik_error *err);
/* Reports a progress line of a running job (to the listeners). */
void unik_job_progress(struct unik_job *job, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *unik_job_id(const struct unik_job *job);

/* The state of the newest job with id, and whether there is one. */
bool unik_jobs_state(struct unik_jobs *q, const char *id, enum unik_job_state *state);
/* Blocks until the newest job with id has ended; returns its state (FAILED when unknown). */
enum unik_job_state unik_jobs_wait(struct unik_jobs *q, const char *id);
/* Jobs queued and running now. */
size_t unik_jobs_active(struct unik_jobs *q);

#endif
