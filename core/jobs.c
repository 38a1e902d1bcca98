/* The job queue (core/jobs.h): one mutex, one condition for the workers and one for waiters.
 * Ended jobs are kept (a bounded history) so a late waiter still learns how one ended. */
#include "core/jobs.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#define MAX_LISTENERS 8
#define HISTORY       256 /* ended jobs remembered */

struct unik_job {
	struct unik_jobs *q;
	char *id, *subject, *error;
	enum unik_job_kind kind;
	enum unik_job_state state;
	bool taken; /* a worker (or, for unik_jobs_run, the caller) runs it */
	unik_job_fn fn;
	void *arg;
	void (*free_arg)(void *);
};

struct listener {
	unik_job_listener fn;
	void *ctx;
};

struct unik_jobs {
	pthread_mutex_t lock;
	pthread_cond_t work;    /* a job was queued, or the queue stops */
	pthread_cond_t ended;   /* a job ended */
	struct unik_job **jobs; /* every job known, oldest first */
	size_t njobs;
	pthread_t *workers;
	size_t nworkers;
	bool stopping;
	struct listener listeners[MAX_LISTENERS];
};

const char *unik_job_kind_name(enum unik_job_kind k)
{
	static const char *const names[] = {"build", "pack", "stage", "run", "stop", "attach"};

	return (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

const char *unik_job_state_name(enum unik_job_state s)
{
	static const char *const names[] = {"queued", "running", "succeeded", "failed"};

	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

const char *unik_job_id(const struct unik_job *job)
{
	return job->id;
}

static void job_free(struct unik_job *j)
{
	if (j->free_arg)
		j->free_arg(j->arg);
	free(j->id);
	free(j->subject);
	free(j->error);
	free(j);
}

/* Tells the listeners (lock held: events of one queue reach them in order). */
static void emit(struct unik_job *j, const char *line)
{
	struct unik_job_event ev = {j->id, j->subject, j->kind, j->state, line, j->error};

	for (size_t i = 0; i < MAX_LISTENERS; i++)
		if (j->q->listeners[i].fn)
			j->q->listeners[i].fn(j->q->listeners[i].ctx, &ev);
}

/* Forgets the oldest ended jobs beyond the history (lock held). */
static void trim(struct unik_jobs *q)
{
	size_t ended = 0;

	for (size_t i = 0; i < q->njobs; i++)
		ended += q->jobs[i]->state >= UNIK_JOB_SUCCEEDED;
	for (size_t i = 0; i < q->njobs && ended > HISTORY;) {
		struct unik_job *j = q->jobs[i];

		if (j->state < UNIK_JOB_SUCCEEDED) {
			i++;
			continue;
		}
		memmove(&q->jobs[i], &q->jobs[i + 1], (q->njobs - i - 1) * sizeof(*q->jobs));
		q->njobs--;
		ended--;
		job_free(j);
	}
}

/* Runs j (lock not held) and records how it ended. */
static void execute(struct unik_job *j)
{
	struct unik_jobs *q = j->q;
	struct unik_error err = {0};
	int rc;

	pthread_mutex_lock(&q->lock);
	j->state = UNIK_JOB_RUNNING;
	emit(j, NULL);
	pthread_mutex_unlock(&q->lock);
	rc = j->fn(j->arg, j, &err);
	pthread_mutex_lock(&q->lock);
	j->state = rc < 0 ? UNIK_JOB_FAILED : UNIK_JOB_SUCCEEDED;
	if (rc < 0)
		j->error = xstrdup(err.msg[0] ? err.msg : "failed");
	emit(j, NULL);
	if (j->free_arg) {
		j->free_arg(j->arg);
		j->free_arg = NULL;
	}
	j->arg = NULL;
	trim(q);
	pthread_cond_broadcast(&q->ended);
	pthread_mutex_unlock(&q->lock);
}

static void *worker(void *arg)
{
	struct unik_jobs *q = arg;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct unik_job *next = NULL;

		for (size_t i = 0; i < q->njobs && !next; i++)
			if (!q->jobs[i]->taken)
				next = q->jobs[i];
		if (q->stopping)
			break;
		if (!next) {
			pthread_cond_wait(&q->work, &q->lock);
			continue;
		}
		next->taken = true;
		pthread_mutex_unlock(&q->lock);
		execute(next);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int unik_jobs_new(size_t max_parallel, struct unik_jobs **out, struct unik_error *err)
{
	struct unik_jobs *q = xcalloc(1, sizeof(*q));

	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->work, NULL);
	pthread_cond_init(&q->ended, NULL);
	q->workers = xcalloc(max_parallel ? max_parallel : 1, sizeof(*q->workers));
	for (size_t i = 0; i < (max_parallel ? max_parallel : 1); i++) {
		if (pthread_create(&q->workers[i], NULL, worker, q) != 0) {
			unik_error_set(err, UNIK_E_IO, "cannot start job workers");
			unik_jobs_free(q);
			return -1;
		}
		q->nworkers = i + 1;
	}
	*out = q;
	return 0;
}

void unik_jobs_free(struct unik_jobs *q)
{
	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->work);
	pthread_cond_broadcast(&q->ended);
	pthread_mutex_unlock(&q->lock);
	for (size_t i = 0; i < q->nworkers; i++)
		pthread_join(q->workers[i], NULL);
	for (size_t i = 0; i < q->njobs; i++)
		job_free(q->jobs[i]);
	free(q->jobs);
	free(q->workers);
	pthread_cond_destroy(&q->work);
	pthread_cond_destroy(&q->ended);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int unik_jobs_subscribe(struct unik_jobs *q, unik_job_listener fn, void *ctx)
{
	int h = -1;

	pthread_mutex_lock(&q->lock);
	for (int i = 0; i < MAX_LISTENERS && h < 0; i++)
		if (!q->listeners[i].fn) {
			q->listeners[i].fn = fn;
			q->listeners[i].ctx = ctx;
			h = i;
		}
	pthread_mutex_unlock(&q->lock);
	return h;
}

void unik_jobs_unsubscribe(struct unik_jobs *q, int handle)
{
	if (handle < 0 || handle >= MAX_LISTENERS)
		return;
	pthread_mutex_lock(&q->lock);
	q->listeners[handle].fn = NULL;
	q->listeners[handle].ctx = NULL;
	pthread_mutex_unlock(&q->lock);
}

static struct unik_job *job_new(struct unik_jobs *q, enum unik_job_kind kind, const char *id,
                                const char *subject, unik_job_fn fn, void *arg,
                                void (*free_arg)(void *))
{
	struct unik_job *j = xcalloc(1, sizeof(*j));

	j->q = q;
	j->id = xstrdup(id);
	j->subject = xstrdup(subject ? subject : "");
	j->kind = kind;
	j->state = UNIK_JOB_QUEUED;
	j->fn = fn;
	j->arg = arg;
	j->free_arg = free_arg;
	q->jobs = xrealloc(q->jobs, (q->njobs + 1) * sizeof(*q->jobs));
	q->jobs[q->njobs++] = j;
	return j;
}

int unik_jobs_submit(struct unik_jobs *q, enum unik_job_kind kind, const char *id,
                     const char *subject, unik_job_fn fn, void *arg, void (*free_arg)(void *),
                     struct unik_error *err)
{
	struct unik_job *j;

	pthread_mutex_lock(&q->lock);
	if (q->stopping) {
		pthread_mutex_unlock(&q->lock);
		unik_error_set(err, UNIK_E_STATE, "the job queue is stopping");
		return -1;
	}
	j = job_new(q, kind, id, subject, fn, arg, free_arg);
	emit(j, NULL);
	pthread_cond_signal(&q->work);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

int unik_jobs_run(struct unik_jobs *q, enum unik_job_kind kind, const char *id, const char *subject,
                  unik_job_fn fn, void *arg, struct unik_error *err)
{
	struct unik_job *j;
	int rc;

	pthread_mutex_lock(&q->lock);
	j = job_new(q, kind, id, subject, NULL, arg, NULL);
	j->taken = true;
	j->state = UNIK_JOB_RUNNING;
	emit(j, NULL);
	pthread_mutex_unlock(&q->lock);
	rc = fn(arg, j, err);
	pthread_mutex_lock(&q->lock);
	j->state = rc < 0 ? UNIK_JOB_FAILED : UNIK_JOB_SUCCEEDED;
	if (rc < 0)
		j->error = xstrdup(err && err->msg[0] ? err->msg : "failed");
	emit(j, NULL);
	j->arg = NULL;
	trim(q);
	pthread_cond_broadcast(&q->ended);
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void unik_job_progress(struct unik_job *job, const char *fmt, ...)
{
	_cleanup_free_ char *line = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	if (!line)
		return;
	pthread_mutex_lock(&job->q->lock);
	emit(job, line);
	pthread_mutex_unlock(&job->q->lock);
}

static struct unik_job *newest(struct unik_jobs *q, const char *id)
{
	for (size_t i = q->njobs; i-- > 0;)
		if (strcmp(q->jobs[i]->id, id) == 0)
			return q->jobs[i];
	return NULL;
}

bool unik_jobs_state(struct unik_jobs *q, const char *id, enum unik_job_state *state)
{
	struct unik_job *j;

	pthread_mutex_lock(&q->lock);
	j = newest(q, id);
	if (j && state)
		*state = j->state;
	pthread_mutex_unlock(&q->lock);
	return j != NULL;
}

enum unik_job_state unik_jobs_wait(struct unik_jobs *q, const char *id)
{
	enum unik_job_state s = UNIK_JOB_FAILED;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct unik_job *j = newest(q, id);

		if (!j)
			break;
		s = j->state;
		if (s >= UNIK_JOB_SUCCEEDED || q->stopping)
			break;
		pthread_cond_wait(&q->ended, &q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return s;
}

size_t unik_jobs_active(struct unik_jobs *q)
{
	size_t n = 0;

	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < q->njobs; i++)
		n += q->jobs[i]->state < UNIK_JOB_SUCCEEDED;
	pthread_mutex_unlock(&q->lock);
	return n;
}
