/* Unit tests for core/jobs: the queue bounds its running jobs, runs every job once, tells its
 * listeners each state change and progress line in order, and lets waiters learn the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>

#include <cmocka.h>

#include "core/jobs.h"
#include "lib/util.h"

struct counter {
	pthread_mutex_t lock;
	int running, max_running, runs;
};

static int slow_job(void *arg, struct unik_job *job, struct unik_error *err)
{
	struct counter *c = arg;
	struct timespec ts = {0, 20 * 1000000L};

	(void)err;
	pthread_mutex_lock(&c->lock);
	c->running++;
	c->runs++;
	if (c->running > c->max_running)
		c->max_running = c->running;
	pthread_mutex_unlock(&c->lock);
	unik_job_progress(job, "working on %s", unik_job_id(job));
	nanosleep(&ts, NULL);
	pthread_mutex_lock(&c->lock);
	c->running--;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static void test_parallelism_is_bounded(void **state)
{
	struct counter c = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};
	struct unik_jobs *q;
	char id[16];

	(void)state;
	assert_int_equal(unik_jobs_new(2, &q, NULL), 0);
	for (int i = 0; i < 8; i++) {
		snprintf(id, sizeof(id), "j%d", i);
		assert_int_equal(
		    unik_jobs_submit(q, UNIK_JOB_BUILD, id, "img", slow_job, &c, NULL, NULL), 0);
	}
	for (int i = 0; i < 8; i++) {
		snprintf(id, sizeof(id), "j%d", i);
		assert_int_equal(unik_jobs_wait(q, id), UNIK_JOB_SUCCEEDED);
	}
	assert_int_equal(c.runs, 8);
	assert_true(c.max_running >= 1 && c.max_running <= 2);
	assert_int_equal(unik_jobs_active(q), 0);
	unik_jobs_free(q);
}

struct log {
	pthread_mutex_t lock;
	char text[4096];
};

static void record(void *ctx, const struct unik_job_event *ev)
{
	struct log *l = ctx;
	size_t n = strlen(l->text);

	snprintf(l->text + n, sizeof(l->text) - n, "%s %s %s%s%s%s\n", ev->id,
	         unik_job_kind_name(ev->kind), unik_job_state_name(ev->state), ev->line ? ": " : "",
	         ev->line ? ev->line : "", ev->error ? ev->error : "");
}

static int failing_job(void *arg, struct unik_job *job, struct unik_error *err)
{
	(void)arg;
	unik_job_progress(job, "step 1");
	unik_error_set(err, UNIK_E_INVALID, " (make exited with status 2)");
	return -1;
}

static int quick_job(void *arg, struct unik_job *job, struct unik_error *err)
{
	(void)arg;
	(void)err;
	unik_job_progress(job, "started");
	return 0;
}

static void test_events_in_order(void **state)
{
	struct log l = {PTHREAD_MUTEX_INITIALIZER, ""};
	struct unik_jobs *q;
	struct unik_error err = {0};
	enum unik_job_state s;
	int h;

	(void)state;
	assert_int_equal(unik_jobs_new(1, &q, NULL), 0);
	h = unik_jobs_subscribe(q, record, &l);
	assert_true(h >= 0);
	assert_int_equal(
	    unik_jobs_submit(q, UNIK_JOB_BUILD, "b1", "img", failing_job, NULL, NULL, NULL), 0);
	assert_int_equal(unik_jobs_wait(q, "b1"), UNIK_JOB_FAILED);
	/* An inline job: the caller's thread, an id and events all the same. */
	assert_int_equal(unik_jobs_run(q, UNIK_JOB_RUN, "i1", "web", quick_job, NULL, &err), 0);
	assert_true(unik_jobs_state(q, "i1", &s));
	assert_int_equal(s, UNIK_JOB_SUCCEEDED);
	assert_false(unik_jobs_state(q, "nope", NULL));
	assert_int_equal(unik_jobs_wait(q, "nope"), UNIK_JOB_FAILED);
	unik_jobs_unsubscribe(q, h);
	assert_string_equal(l.text, "b1 build queued\n"
	                            "b1 build running\n"
	                            "b1 build running: step 1\n"
	                            "b1 build failed (make exited with status 2)\n"
	                            "i1 run running\n"
	                            "i1 run running: started\n"
	                            "i1 run succeeded\n");
	unik_jobs_free(q);
}

static int freed;

static void count_free(void *arg)
{
	(void)arg;
	freed++;
}

static void test_args_are_freed_once(void **state)
{
	struct unik_jobs *q;

	(void)state;
	freed = 0;
	assert_int_equal(unik_jobs_new(1, &q, NULL), 0);
	assert_int_equal(
	    unik_jobs_submit(q, UNIK_JOB_PACK, "p1", "img", quick_job, NULL, count_free, NULL), 0);
	assert_int_equal(unik_jobs_wait(q, "p1"), UNIK_JOB_SUCCEEDED);
	unik_jobs_free(q);
	assert_int_equal(freed, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parallelism_is_bounded),
	    cmocka_unit_test(test_events_in_order),
	    cmocka_unit_test(test_args_are_freed_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
