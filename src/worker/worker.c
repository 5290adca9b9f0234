/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The maintenance background worker: its registration, its main loop
 *	  and the health it reports in sqsn.worker_status.
 *
 * One worker per cluster, started when the library is in
 * shared_preload_libraries, works in the database named by
 * sqsn.database_name. Every sqsn.poll_interval it runs a round: list the
 * queues in one short transaction, then sweep each queue
 * (queue/maintenance.c)
 * in transactions of one batch each, at most MAX_BATCHES_PER_QUEUE per
 * queue per round, so no transaction is long and no queue starves the
 * others. A queue whose sweep fails is rolled back to a subtransaction,
 * its error recorded, and the round goes on with the next queue.
 *
 * On a standby the worker does not run: the postmaster starts it when the
 * standby is promoted (common/shmem.c), and until then sqsn.worker_status
 * says "waiting for promotion".
 *
 * The worker does not need the extension to exist: while sqsn is not
 * installed in its database (not yet created, or dropped) it idles and
 * looks again next round.
 *
 * Its health lives in a small shared-memory struct under a spinlock:
 * what it is doing, when it last finished a round, how many messages it
 * expired and moved since the server started, and its last error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "worker/worker.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(sq_worker_status_rows);

PGDLLEXPORT void sqsn_worker_main(Datum main_arg);

/* A queue gets at most this many batches per round. */
#define MAX_BATCHES_PER_QUEUE 10

/* Seconds before the postmaster restarts a worker that died. */
#define WORKER_RESTART_SECONDS 5

#define WORKER_STATE_LEN 32
#define WORKER_ERROR_LEN 256

typedef struct WorkerShared
{
	slock_t     mutex;
	pid_t       pid; /* 0: not running */
	char        state[WORKER_STATE_LEN];
	TimestampTz last_sweep_at; /* 0: never */
	int64       messages_expired;
	int64       messages_moved_to_dlq;
	char        last_error[WORKER_ERROR_LEN]; /* "": none */
} WorkerShared;

static bool          sqsn_worker_enabled = true;
static WorkerShared *worker_shared = NULL;

static void  worker_shmem_init(void *ptr);
static void  worker_exit(int code, Datum arg);
static void  set_state(const char *state);
static void  run_round(void);
static List *read_queue_names(bool *installed);
static void  sweep_one_batch(const char *queue_name, bool first, bool *more,
							 SqsnSweepCounts *counts);

/*
 * Its setting, shared memory and the worker itself; called from _PG_init.
 * The setting exists whether or not the library is preloaded, so that
 * SHOW and postgresql.conf work the same either way. (sqsn.database_name,
 * sqsn.poll_interval and sqsn.retention_batch_size are common/settings.c's:
 * the other workers read them too.)
 */
void
WorkerInit(void)
{
	DefineCustomBoolVariable(
		"sqsn.worker_enabled",
		"Whether the sqsn background worker does its sweeps.", NULL,
		&sqsn_worker_enabled, true, PGC_SIGHUP, 0, NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	sqsn_shmem_add("sqsn worker", sizeof(WorkerShared), 0, NULL,
				   worker_shmem_init, (void **) &worker_shared);
	sqsn_register_worker("sqsn_worker_main", "sqsn worker", "sqsn worker",
						 WORKER_RESTART_SECONDS, false, (Datum) 0);
}

static void
worker_shmem_init(void *ptr)
{
	WorkerShared *shared = (WorkerShared *) ptr;

	memset(shared, 0, sizeof(WorkerShared));
	SpinLockInit(&shared->mutex);
	strlcpy(shared->state, "stopped", WORKER_STATE_LEN);
}

static void
set_state(const char *state)
{
	SpinLockAcquire(&worker_shared->mutex);
	strlcpy(worker_shared->state, state, WORKER_STATE_LEN);
	SpinLockRelease(&worker_shared->mutex);
}

static void
worker_exit(int code, Datum arg)
{
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->pid = 0;
	strlcpy(worker_shared->state, "stopped", WORKER_STATE_LEN);
	SpinLockRelease(&worker_shared->mutex);
}

/*
 * Entry point of the worker process.
 */
void
sqsn_worker_main(Datum main_arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (worker_shared == NULL)
		elog(ERROR, "sqsn worker started without its shared memory");

	before_shmem_exit(worker_exit, (Datum) 0);
	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->pid = MyProcPid;
	strlcpy(worker_shared->state, "starting", WORKER_STATE_LEN);
	SpinLockRelease(&worker_shared->mutex);

	BackgroundWorkerInitializeConnection(sqsn_database_name, NULL, 0);
	ereport(LOG, (errmsg("sqsn worker started in database \"%s\"",
						 sqsn_database_name)));

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (sqsn_worker_enabled)
			run_round();
		else
			set_state("disabled");

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sqsn_poll_interval, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * The names of the queues, or NIL when sqsn is not (or not fully)
 * installed in this database; in its own short transaction.
 */
static List *
read_queue_names(bool *installed)
{
	MemoryContext roundcxt = CurrentMemoryContext;
	List         *names = NIL;

	*installed = false;
	sqsn_xact_begin("sqsn worker: listing queues");
	if (sqsn_extension_ready("queue", AccessShareLock))
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(roundcxt);

		names = sqsn_list_queue_names();
		*installed = true;
		MemoryContextSwitchTo(oldcxt);
	}
	sqsn_xact_commit();
	return names;
}

/* What one batch of sweeping works on and what it did. */
typedef struct SweepBatch
{
	const char     *queue_name; /* NULL: the FIFO topics' records */
	bool            first;      /* the queue's first batch this round */
	bool            more;       /* out: more to do */
	SqsnSweepCounts counts;     /* out */
} SweepBatch;

static void
sweep_step(void *arg)
{
	SweepBatch *b = (SweepBatch *) arg;

	if (b->queue_name == NULL)
	{
		b->more = sqsn_sweep_topic_deduplication(sqsn_retention_batch_size);
		return;
	}

	/*
	 * Once a round: move the queue's low-water marks on, before the sweep
	 * writes anything (queue/lowwater.c walks only then).
	 */
	if (b->first)
		sqsn_lowwater_step(sqsn_open_queue(b->queue_name, AccessShareLock),
						   true);
	b->more =
		sqsn_sweep_queue(b->queue_name, sqsn_retention_batch_size, &b->counts);
}

/*
 * One batch of the sweeps on one queue (queue_name NULL: of the FIFO
 * topics' deduplication records), in its own transaction. An error rolls
 * back to a subtransaction and is recorded; the worker goes on.
 */
static void
sweep_one_batch(const char *queue_name, bool first, bool *more,
				SqsnSweepCounts *counts)
{
	SweepBatch b;
	ErrorData *edata;

	memset(&b, 0, sizeof(b));
	b.queue_name = queue_name;
	b.first = first;

	sqsn_xact_begin("sqsn worker: sweeping a queue");
	if (!sqsn_subxact_try(sweep_step, &b, &edata))
	{
		ereport(
			WARNING,
			(errmsg("sqsn worker could not sweep queue \"%s\": %s",
					queue_name ? queue_name : "(topics)", edata->message)));
		SpinLockAcquire(&worker_shared->mutex);
		snprintf(worker_shared->last_error, WORKER_ERROR_LEN,
				 "queue \"%s\": %s", queue_name ? queue_name : "(topics)",
				 edata->message);
		SpinLockRelease(&worker_shared->mutex);
		FreeErrorData(edata);
		b.counts.messages_expired = b.counts.messages_moved_to_dlq = 0;
		b.more = false;
	}
	sqsn_xact_commit();

	*more = b.more;
	counts->messages_expired += b.counts.messages_expired;
	counts->messages_moved_to_dlq += b.counts.messages_moved_to_dlq;
}

/*
 * A round: every queue, a bounded number of batches each.
 */
static void
run_round(void)
{
	MemoryContext roundcxt = AllocSetContextCreate(
		TopMemoryContext, "sqsn worker round", ALLOCSET_DEFAULT_SIZES);
	MemoryContext   oldcxt = MemoryContextSwitchTo(roundcxt);
	SqsnSweepCounts counts = {0, 0};
	List           *names;
	ListCell       *lc;
	bool            installed;

	names = read_queue_names(&installed);
	set_state(installed ? "sweeping" : "waiting for extension");

	foreach (lc, names)
	{
		const char *name = (const char *) lfirst(lc);
		bool        more = true;

		for (int i = 0; i < MAX_BATCHES_PER_QUEUE && more; i++)
		{
			CHECK_FOR_INTERRUPTS();
			sweep_one_batch(name, i == 0, &more, &counts);
		}
	}
	if (installed)
	{
		bool more = true;

		/* the FIFO topics' deduplication records */
		for (int i = 0; i < MAX_BATCHES_PER_QUEUE && more; i++)
		{
			CHECK_FOR_INTERRUPTS();
			sweep_one_batch(NULL, i == 0, &more, &counts);
		}
	}

	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->messages_expired += counts.messages_expired;
	worker_shared->messages_moved_to_dlq += counts.messages_moved_to_dlq;
	if (installed)
	{
		worker_shared->last_sweep_at = GetCurrentTimestamp();
		strlcpy(worker_shared->state, "idle", WORKER_STATE_LEN);
	}
	SpinLockRelease(&worker_shared->mutex);

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(roundcxt);
}

/*
 * Rows of the sqsn.worker_status view: one row when the library is
 * preloaded (pid NULL while no worker runs), none otherwise.
 */
Datum
sq_worker_status_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WorkerShared   copy;
	Datum          values[6];
	bool           nulls[6] = {false, false, false, false, false, false};

	InitMaterializedSRF(fcinfo, 0);
	if (worker_shared == NULL)
		return (Datum) 0;

	SpinLockAcquire(&worker_shared->mutex);
	memcpy(&copy, worker_shared, sizeof(copy));
	SpinLockRelease(&worker_shared->mutex);
	/* on a standby the postmaster starts the worker at the promotion */
	if (copy.pid == 0 && RecoveryInProgress())
		strlcpy(copy.state, "waiting for promotion", WORKER_STATE_LEN);

	values[0] = Int32GetDatum(copy.pid);
	nulls[0] = (copy.pid == 0);
	values[1] = CStringGetTextDatum(copy.state);
	values[2] = TimestampTzGetDatum(copy.last_sweep_at);
	nulls[2] = (copy.last_sweep_at == 0);
	values[3] = Int64GetDatum(copy.messages_expired);
	values[4] = Int64GetDatum(copy.messages_moved_to_dlq);
	values[5] = CStringGetTextDatum(copy.last_error);
	nulls[5] = (copy.last_error[0] == '\0');
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
