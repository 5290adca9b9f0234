/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker: its settings, its registration, its main loop
 *	  and the health it reports in sqsn.worker_status.
 *
 * One worker per cluster, started when the library is in
 * shared_preload_libraries, works in the database named by
 * sqsn.database_name. Every sqsn.poll_interval it runs a round: list the
 * queues in one short transaction, then sweep each queue (maintenance.c)
 * in transactions of one batch each, at most MAX_BATCHES_PER_QUEUE per
 * queue per round, so no transaction is long and no queue starves the
 * others. A queue whose sweep fails is rolled back to a subtransaction,
 * its error recorded, and the round goes on with the next queue.
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

#include "sqsn.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

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

/* settings */
static char *sqsn_database_name = NULL;
static int   sqsn_poll_interval = 1000;
int          sqsn_retention_batch_size = 1000;
static bool  sqsn_worker_enabled = true;

static WorkerShared           *worker_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void  worker_shmem_request(void);
static void  worker_shmem_startup(void);
static void  worker_exit(int code, Datum arg);
static void  set_state(const char *state);
static void  run_round(void);
static List *list_queues(bool *installed);
static void  sweep_one_batch(const char *queue_name, bool first, bool *more,
							 SqsnSweepCounts *counts);

/*
 * Settings, shared memory and the worker itself; called from _PG_init.
 * The settings exist whether or not the library is preloaded, so that
 * SHOW and postgresql.conf work the same either way.
 */
void
WorkerInit(void)
{
	BackgroundWorker worker;

	DefineCustomStringVariable(
		"sqsn.database_name", "Database the sqsn background worker works in.",
		NULL, &sqsn_database_name, "postgres", PGC_POSTMASTER,
		GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"sqsn.poll_interval",
		"Time between two rounds of the sqsn background worker.", NULL,
		&sqsn_poll_interval, 1000, 10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS,
		NULL, NULL, NULL);
	DefineCustomIntVariable("sqsn.retention_batch_size",
							"Messages deleted or moved per queue in one batch "
							"of a maintenance sweep.",
							NULL, &sqsn_retention_batch_size, 1000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable(
		"sqsn.worker_enabled",
		"Whether the sqsn background worker does its sweeps.", NULL,
		&sqsn_worker_enabled, true, PGC_SIGHUP, 0, NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = worker_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = worker_shmem_startup;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags =
		BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = WORKER_RESTART_SECONDS;
	strlcpy(worker.bgw_library_name, "sqsn", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "sqsn_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "sqsn worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "sqsn worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* The database both workers work in. */
char *
sqsn_worker_database_name(void)
{
	return sqsn_database_name;
}

/* Time between two rounds, in milliseconds. */
int
sqsn_worker_poll_interval(void)
{
	return sqsn_poll_interval;
}

static void
worker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(WorkerShared)));
}

static void
worker_shmem_startup(void)
{
	bool found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	worker_shared =
		ShmemInitStruct("sqsn worker", sizeof(WorkerShared), &found);
	if (!found)
	{
		memset(worker_shared, 0, sizeof(WorkerShared));
		SpinLockInit(&worker_shared->mutex);
		strlcpy(worker_shared->state, "stopped", WORKER_STATE_LEN);
	}
	LWLockRelease(AddinShmemInitLock);
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
list_queues(bool *installed)
{
	MemoryContext roundcxt = CurrentMemoryContext;
	List         *names = NIL;
	Oid           schema;
	Oid           catalog = InvalidOid;

	*installed = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "sqsn worker: listing queues");

	/*
	 * The catalog table is locked conditionally: a session dropping the
	 * extension holds it exclusively, and the worker does not wait for it.
	 */
	if (OidIsValid(get_extension_oid("sqsn", true)))
	{
		schema = get_namespace_oid(SQSN_SCHEMA, true);
		if (OidIsValid(schema))
			catalog = get_relname_relid("queue", schema);
	}
	if (OidIsValid(catalog) &&
		ConditionalLockRelationOid(catalog, AccessShareLock))
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(roundcxt);

		/* gone between the look-up and the lock: try next round */
		if (get_rel_name(catalog) != NULL)
		{
			names = sqsn_list_queue_names();
			*installed = true;
		}
		MemoryContextSwitchTo(oldcxt);
	}

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return names;
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
	MemoryContext   oldcxt;
	ResourceOwner   oldowner;
	SqsnSweepCounts batch = {0, 0};

	*more = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	oldcxt = CurrentMemoryContext;
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "sqsn worker: sweeping a queue");

	oldowner = CurrentResourceOwner;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);

	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (queue_name != NULL)
		{
			/*
			 * Once a round: move the queue's low-water marks on, before the
			 * sweep writes anything (lowwater.c walks only then).
			 */
			if (first)
				sqsn_lowwater_step(
					sqsn_open_queue(queue_name, AccessShareLock), true);
			*more = sqsn_sweep_queue(queue_name, sqsn_retention_batch_size,
									 &batch);
		}
		else
			*more = sqsn_sweep_topic_deduplication(sqsn_retention_batch_size);
		SPI_finish();

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

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
		batch.messages_expired = batch.messages_moved_to_dlq = 0;
		*more = false;
	}
	PG_END_TRY();

	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);

	counts->messages_expired += batch.messages_expired;
	counts->messages_moved_to_dlq += batch.messages_moved_to_dlq;
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

	names = list_queues(&installed);
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
