/*-------------------------------------------------------------------------
 *
 * function_worker.c
 *	  The function workers: dynamic background workers that the launcher
 *	  (launcher.c) starts and hands tasks.
 *
 * A worker waits on its latch for a task, runs it for a time slice at
 * most (TASK_SLICE_MS), reports to the launcher and waits again; after
 * FUNCTION_WORKER_IDLE_SECONDS without a task it leaves. Its tasks:
 *
 *	- a mapping: first, in a short transaction, read the mapping and check
 *	  its owner's rights (mapping.c), pausing or resuming it; then batch
 *	  after batch (batch.c), until the queue has
 *	  nothing visible -- then it tells the launcher when the queue's next
 *	  message becomes visible by itself -- or the slice is over. With a
 *	  batching window, before a receive that would not fill a batch the
 *	  worker waits, outside any transaction, for a fuller batch: on the
 *	  queue's long-poll condition variable (woken by commits that send to
 *	  it), up to the window. A full batch tells the launcher at once, which
 *	  may send another worker, up to the mapping's maximum_concurrency.
 *	  Each batch runs in a transaction of its own, or, while batches come
 *	  back full, in the transaction of the batches before it for up to
 *	  sqsn.function_group_commit (run_batches).
 *	- the deliveries of function subscriptions: one per transaction
 *	  (delivery.c) until none is due, or the slice is over.
 *
 * An error outside the function (the function's own errors are caught in
 * its subtransaction, invoke.c) is logged and rolled back; the worker
 * reports and the launcher tries again a sqsn.poll_interval later. After
 * each transaction the worker releases any session-level advisory lock a
 * function took, so the next owner's function finds none.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "function/function.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#define TASK_SLICE_MS                1000
#define FUNCTION_WORKER_IDLE_SECONDS 60
#define PAUSED_RECHECK_FACTOR        10

static int             my_slot = -1;
static uint32          my_generation = 0;
static SqsnWorkerSlot *slot = NULL;
static MemoryContext   taskcxt = NULL;
static MemoryContext   batchcxt = NULL;

static void worker_exit(int code, Datum arg);

/*
 * Leaving (normally, or on FATAL): the slot is free again, and a task left
 * unfinished goes back to the launcher.
 */
static void
worker_exit(int code, Datum arg)
{
	Latch *launcher;

	SpinLockAcquire(&sqsn_function_shared->mutex);
	if (slot->generation == my_generation)
	{
		if (slot->task_state == SQSN_TASK_ASSIGNED ||
			slot->task_state == SQSN_TASK_RUNNING)
		{
			slot->task_state = SQSN_TASK_DONE;
			slot->more = true;
			slot->stop = false;
			slot->next_look = 0;
		}
		slot->in_use = false;
		slot->exiting = false;
		slot->pid = 0;
		slot->latch = NULL;
		slot->state[0] = '\0';
	}
	launcher = sqsn_function_shared->launcher_latch;
	SpinLockRelease(&sqsn_function_shared->mutex);
	if (launcher)
		SetLatch(launcher);
}

/*
 * Tells the launcher how a task ended: more to do now (more), nothing to
 * do until next_look (0: until something is sent), or the mapping cannot
 * run (stop: gone, disabled, or paused until next_look).
 */
static void
report(bool more, bool stop, TimestampTz next_look)
{
	Latch *launcher;

	SpinLockAcquire(&sqsn_function_shared->mutex);
	slot->more = more;
	slot->stop = stop;
	slot->next_look = next_look;
	slot->task_state = SQSN_TASK_DONE;
	strlcpy(slot->state, "idle", SQSN_FUNCTION_STATE_LEN);
	launcher = sqsn_function_shared->launcher_latch;
	SpinLockRelease(&sqsn_function_shared->mutex);
	if (launcher)
		SetLatch(launcher);
}

/*
 * A running task found a full batch: the launcher may send help. (Also
 * how a new worker says it is there: "more" means nothing to the launcher
 * while the slot has no task.)
 */
static void
ask_for_help(void)
{
	Latch *launcher;

	SpinLockAcquire(&sqsn_function_shared->mutex);
	slot->more = true;
	launcher = sqsn_function_shared->launcher_latch;
	SpinLockRelease(&sqsn_function_shared->mutex);
	if (launcher)
		SetLatch(launcher);
}

/*
 * After an error outside a function: logged, rolled back, kept as the
 * worker's last error.
 */
static void
recover(MemoryContext cxt, const char *what)
{
	ErrorData *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	FlushErrorState();
	AbortCurrentTransaction();
	pgstat_report_activity(STATE_IDLE, NULL);
	ereport(WARNING, (errmsg("sqsn function worker: %s failed: %s", what,
							 edata->message)));
	SpinLockAcquire(&sqsn_function_shared->mutex);
	snprintf(slot->last_error, SQSN_FUNCTION_ERROR_LEN, "%s: %s", what,
			 edata->message);
	SpinLockRelease(&sqsn_function_shared->mutex);
	FreeErrorData(edata);
}

static TimestampTz
later(int ms)
{
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
}

/*
 * Reads mapping id and checks it, in its own transaction: pauses it when
 * its owner lacks a right, resumes it when the rights are back. Returns
 * true when it may run (m filled in, in taskcxt); else false with what to
 * report in *stop and *next_look.
 */
static bool
open_mapping(const pg_uuid_t *id, SqsnMapping *m, bool *stop,
			 TimestampTz *next_look)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool          ok = false;

	*stop = true;
	*next_look = 0;
	PG_TRY();
	{
		sqsn_xact_begin("sqsn function worker: checking a mapping");
		if (sqsn_extension_ready("event_source_mapping", AccessShareLock))
		{
			MemoryContext old = MemoryContextSwitchTo(taskcxt);
			char         *problem = NULL;
			bool          found = sqsn_read_mapping(id, m);

			if (found && m->enabled)
				problem = sqsn_mapping_problem(m);
			MemoryContextSwitchTo(old);
			if (found && m->enabled)
			{
				sqsn_set_mapping_paused(m, problem);
				if (problem != NULL)
					*next_look =
						later(sqsn_poll_interval * PAUSED_RECHECK_FACTOR);
				else
					ok = true;
			}
		}
		sqsn_xact_commit();
	}
	PG_CATCH();
	{
		recover(cxt, "checking an event source mapping");
		ok = false;
		*stop = false;
		*next_look = later(sqsn_poll_interval);
	}
	PG_END_TRY();
	return ok;
}

/* How many messages of the mapping's queue are visible, and its id. */
static int
count_visible(SqsnMapping *m, int64 *queue_id)
{
	int n;

	sqsn_xact_begin("sqsn function worker: waiting for a batch");
	*queue_id = sqsn_open_queue(m->queue_name, AccessShareLock)->queue_id;
	n = sqsn_count_visible(m->queue_name, m->batch_size);
	sqsn_xact_commit();
	return n;
}

/*
 * The batching window: waits, outside any transaction, until a full batch
 * is visible or the window has passed (or the queue is empty). Sleeps on
 * the queue's long-poll condition variable, which commits that send to it
 * broadcast. Returns the number of visible messages it saw last: 0 says
 * not to receive, since a message sent after that look would otherwise be
 * invoked alone, without its window.
 */
static int
wait_for_batch(SqsnMapping *m)
{
	TimestampTz end = later(m->window * 1000);
	int64       queue_id = 0;
	bool        waiting = false;
	int         n;

	PG_TRY();
	{
		for (;;)
		{
			TimestampTz now;

			n = count_visible(m, &queue_id);
			now = GetCurrentTimestamp();

			if (n == 0 || n >= m->batch_size || now >= end)
				break;
			if (!waiting)
			{
				/* registered before the next look: no commit is missed */
				sqsn_longpoll_begin(queue_id);
				waiting = true;
				continue;
			}
			sqsn_longpoll_sleep(TimestampDifferenceMilliseconds(now, end) + 1);
		}
	}
	PG_FINALLY();
	{
		if (waiting)
			sqsn_longpoll_end();
	}
	PG_END_TRY();
	return n;
}

/*
 * Runs batches of mapping m in the current transaction: the first, then
 * more while each comes back full and sqsn.function_group_commit has not
 * passed. Under a backlog one commit -- one WAL flush to wait for --
 * serves several batches; each batch still has its own subtransaction
 * (invoke.c), so its function's effects and its delete stay together,
 * and a queue that runs short commits at once. r describes the last batch.
 */
static void
run_batches(SqsnMapping *m, SqsnBatchResult *r)
{
	TimestampTz group_end = later(sqsn_function_group_commit);

	for (;;)
	{
		sqsn_run_batch(m, my_slot + 1, r);
		if (r->messages < m->batch_size || GetCurrentTimestamp() >= group_end)
			return;
		CHECK_FOR_INTERRUPTS();
	}
}

/* Runs the batches of a mapping for a slice (see the top of this file). */
static void
run_mapping(const pg_uuid_t *id)
{
	TimestampTz slice_end = later(TASK_SLICE_MS);
	SqsnMapping m;
	bool        stop;
	TimestampTz next_look;
	bool        helped = false;
	bool        last_full = false;
	char       *activity;

	MemoryContextReset(taskcxt);
	if (!open_mapping(id, &m, &stop, &next_look))
	{
		report(false, stop, next_look);
		return;
	}
	activity = MemoryContextStrdup(
		taskcxt, psprintf("sqsn function worker: queue %s, function %s",
						  m.queue_name, m.function_name));
	sqsn_worker_state(my_slot, "running an event source mapping");

	for (;;)
	{
		SqsnBatchResult r;
		TimestampTz     next_visible = 0;
		int             visible = -1; /* not looked */

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		MemoryContextReset(batchcxt);
		MemoryContextSwitchTo(batchcxt);
		memset(&r, 0, sizeof(r));
		PG_TRY();
		{
			if (m.window > 0 && !last_full)
				visible = wait_for_batch(&m);
			sqsn_xact_begin(activity);
			if (!sqsn_extension_lock()) /* being dropped */
				next_visible = later(sqsn_poll_interval);
			else
			{
				if (visible != 0)
					run_batches(&m, &r);
				if (r.messages == 0)
					next_visible = sqsn_next_visible_at(m.queue_name,
														GetCurrentTimestamp());
			}
			sqsn_xact_commit();
		}
		PG_CATCH();
		{
			recover(batchcxt, "running an event source mapping");
			LockReleaseSession(USER_LOCKMETHOD);
			report(false, false, later(sqsn_poll_interval));
			return;
		}
		PG_END_TRY();
		LockReleaseSession(USER_LOCKMETHOD);

		if (r.messages == 0)
		{
			report(false, false, next_visible);
			return;
		}
		last_full = r.messages >= m.batch_size;
		if (last_full && !helped)
		{
			ask_for_help();
			helped = true;
		}
		if (GetCurrentTimestamp() >= slice_end)
		{
			report(true, false, 0);
			return;
		}
	}
}

/* Invokes due function subscriptions for a slice. */
static void
run_deliveries(void)
{
	TimestampTz slice_end = later(TASK_SLICE_MS);
	bool        helped = false;

	sqsn_worker_state(my_slot, "invoking function subscriptions");
	for (;;)
	{
		bool        handled = false;
		TimestampTz next_due = 0;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(batchcxt);
		MemoryContextSwitchTo(batchcxt);
		PG_TRY();
		{
			sqsn_xact_begin(
				"sqsn function worker: invoking a function subscription");
			if (sqsn_extension_ready("event_source_mapping", AccessShareLock))
				handled = sqsn_invoke_next_delivery(&next_due);
			sqsn_xact_commit();
		}
		PG_CATCH();
		{
			recover(batchcxt, "invoking a function subscription");
			LockReleaseSession(USER_LOCKMETHOD);
			report(false, false, later(sqsn_poll_interval));
			return;
		}
		PG_END_TRY();
		LockReleaseSession(USER_LOCKMETHOD);

		if (!handled)
		{
			report(false, false, next_due);
			return;
		}
		if (!helped)
		{
			ask_for_help();
			helped = true;
		}
		if (GetCurrentTimestamp() >= slice_end)
		{
			report(true, false, 0);
			return;
		}
	}
}

/*
 * Entry point of a function worker; main_arg is its slot, bgw_extra the
 * generation the launcher registered it with.
 */
void
sqsn_function_worker_main(Datum main_arg)
{
	TimestampTz idle_since;
	bool        mine;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	my_slot = DatumGetInt32(main_arg);
	memcpy(&my_generation, MyBgworkerEntry->bgw_extra, sizeof(my_generation));
	if (sqsn_function_shared == NULL || my_slot < 0 ||
		my_slot >= sqsn_function_shared->nslots)
		proc_exit(0);
	slot = &sqsn_function_shared->slots[my_slot];

	SpinLockAcquire(&sqsn_function_shared->mutex);
	mine = slot->in_use && slot->generation == my_generation;
	if (mine)
	{
		slot->pid = MyProcPid;
		slot->latch = MyLatch;
		strlcpy(slot->state, "starting", SQSN_FUNCTION_STATE_LEN);
	}
	SpinLockRelease(&sqsn_function_shared->mutex);
	if (!mine)
		proc_exit(0); /* registered by a launcher that is gone */
	before_shmem_exit(worker_exit, (Datum) 0);

	BackgroundWorkerInitializeConnection(sqsn_database_name, NULL, 0);
	pgstat_report_appname("sqsn function worker");
	sqsn_function_worker_slot = my_slot;
	taskcxt = AllocSetContextCreate(TopMemoryContext, "sqsn function task",
									ALLOCSET_DEFAULT_SIZES);
	batchcxt = AllocSetContextCreate(TopMemoryContext, "sqsn function batch",
									 ALLOCSET_DEFAULT_SIZES);
	/* ready for tasks: the launcher may have some waiting */
	sqsn_worker_state(my_slot, "idle");
	ask_for_help();

	idle_since = GetCurrentTimestamp();
	for (;;)
	{
		SqsnTaskState state;
		SqsnTaskKind  kind;
		pg_uuid_t     id;
		long          idle_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		SpinLockAcquire(&sqsn_function_shared->mutex);
		state = slot->task_state;
		kind = slot->task_kind;
		id = slot->mapping_id;
		if (state == SQSN_TASK_ASSIGNED)
			slot->task_state = SQSN_TASK_RUNNING;
		SpinLockRelease(&sqsn_function_shared->mutex);

		if (state == SQSN_TASK_ASSIGNED)
		{
			if (kind == SQSN_TASK_MAPPING)
				run_mapping(&id);
			else
				run_deliveries();
			MemoryContextSwitchTo(TopMemoryContext);
			idle_since = GetCurrentTimestamp();
			continue;
		}

		idle_ms =
			FUNCTION_WORKER_IDLE_SECONDS * 1000L -
			TimestampDifferenceMilliseconds(idle_since, GetCurrentTimestamp());
		if (idle_ms <= 0)
		{
			bool leave;

			SpinLockAcquire(&sqsn_function_shared->mutex);
			leave = slot->task_state == SQSN_TASK_NONE;
			if (leave)
				slot->exiting = true;
			SpinLockRelease(&sqsn_function_shared->mutex);
			if (leave)
				proc_exit(0);
			continue;
		}
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 idle_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
