/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The maintenance background worker: its registration, its main loop
 *	  and the health it reports in sqsn.worker_status.
 *
 * One worker per cluster, started when the library is in
 * shared_preload_libraries, works in the database named by
 * sqsn.database_name. Every sqsn.poll_interval it runs a round over the
 * queues that have something due (queue/due.c keeps when each queue is
 * next due; a round over every queue happens when the worker starts and
 * when that map asks for one), sweeping each (queue/maintenance.c) in
 * transactions of one batch each, at most MAX_BATCHES_PER_QUEUE per queue
 * per round, so no transaction is long and no queue starves the others.
 * An idle queue costs nothing: the worker neither opens nor reads it. A
 * queue whose sweep fails is rolled back to a subtransaction, its error
 * recorded, and the round goes on with the next queue.
 *
 * Each round also steps the active message move tasks (queue/move_task.c),
 * one transaction a step; while one is active the worker waits at most
 * MOVE_TASK_STEP_MS between rounds, so a task keeps its velocity. A step
 * that fails marks its task FAILED.
 *
 * Each round also deletes the FIFO topics' archived messages past their
 * retention, in batches, and replays archived messages to the
 * subscriptions that asked for it (ReplayPolicy), one batch a transaction:
 * both live in topic/archive.c, above the worker's layers, and are called
 * through their SQL functions (sqsn.run_archive_maintenance,
 * sqsn.run_topic_replays), as a server without the preload would
 * schedule them. While a replay is under way the worker comes back after
 * MOVE_TASK_STEP_MS, as for a move task.
 *
 * Memory: per-round data lives in a context deleted after the round, and
 * every QUEUES_BETWEEN_TRIMS queues opened the worker drops what the queue
 * cache and PostgreSQL's relation and catalog caches hold for them, so its
 * memory stays flat however many queues it has swept.
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
 * expired and moved since the server started, its last error, how many
 * queues its map tracks, how many the last round swept, and how many
 * rounds went over every queue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "worker/worker.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
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
	int64       queues_tracked;               /* with something due later */
	int64       queues_swept_last_round;      /* that were due */
	int64       full_rounds;                  /* rounds over every queue */
} WorkerShared;

static bool          sqsn_worker_enabled = true;
static WorkerShared *worker_shared = NULL;

static void worker_shmem_init(void *ptr);
static void worker_exit(int code, Datum arg);
static void set_state(const char *state);
static void run_round(void);

/* While a message move task runs, the worker steps it this often. */
#define MOVE_TASK_STEP_MS 100
/* Steps of one task per round when no velocity holds it back. */
#define MOVE_TASK_STEPS_PER_ROUND 10

/* Whether the last round left a message move task active. */
static bool move_tasks_active = false;

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

		(void) WaitLatch(
			MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
			move_tasks_active ? Min(sqsn_poll_interval, MOVE_TASK_STEP_MS)
							  : sqsn_poll_interval,
			PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* Queue ids a full round reads from the catalog at a time. */
#define FULL_ROUND_BATCH 1000

/*
 * After this many queues opened, the worker forgets what it cached about
 * them (queue cache, relation and catalog caches), so that its memory does
 * not grow with the number of queues.
 */
#define QUEUES_BETWEEN_TRIMS 500

/* how long making a queue's group index waits for the queue, in ms */
#define GROUP_INDEX_LOCK_TIMEOUT 1000

/* What one sweep transaction works on and what it did. */
typedef struct SweepStep
{
	int64           queue_id;
	bool            first;         /* the queue's first step this round */
	bool            check_overdue; /* messages over the receive limit too */
	bool            gone;          /* out: the queue no longer exists */
	bool            more;          /* out: more to do */
	TimestampTz     next_due;      /* out: when last, the next due time */
	bool            overdue_left;  /* out: over-limit messages in flight */
	SqsnSweepCounts counts;        /* out */
} SweepStep;

static int queues_since_trim = 0;

/*
 * Whether sqsn is installed in this database, and whether a prepared
 * transaction exists (whose notes only apply when it commits elsewhere, so
 * the round must look at every queue); one short transaction.
 */
static bool
extension_installed(bool *prepared)
{
	bool installed;

	sqsn_xact_begin("sqsn worker: starting a round");
	installed = sqsn_extension_ready("queue", AccessShareLock);
	*prepared = installed && sqsn_prepared_transactions_exist();
	sqsn_xact_commit();
	return installed;
}

static void
sweep_step(void *arg)
{
	SweepStep  *st = (SweepStep *) arg;
	const char *name = sqsn_queue_name_of(st->queue_id);

	if (name == NULL)
	{
		st->gone = true;
		return;
	}
	/*
	 * Once a round: move the queue's low-water marks on, before the sweep
	 * writes anything (queue/lowwater.c walks only then).
	 */
	if (st->first)
		sqsn_lowwater_step(sqsn_open_queue(name, AccessShareLock), true);
	st->more = sqsn_sweep_queue(name, sqsn_retention_batch_size,
								st->check_overdue, &st->counts);
	if (!st->more)
		st->next_due =
			sqsn_queue_next_due(name, st->check_overdue, &st->overdue_left);
}

/* Records a sweep's error; the worker goes on. */
static void
record_error(const char *what, ErrorData *edata)
{
	ereport(WARNING, (errmsg("sqsn worker could not sweep %s: %s", what,
							 edata->message)));
	SpinLockAcquire(&worker_shared->mutex);
	snprintf(worker_shared->last_error, WORKER_ERROR_LEN, "%s: %s", what,
			 edata->message);
	SpinLockRelease(&worker_shared->mutex);
}

/*
 * Makes the index fair receives need on a standard queue that was sent its
 * first message with a group id (DUE_GROUP_INDEX, queue/message.c). The
 * build holds the queue's sends and receives back, so it waits at most
 * GROUP_INDEX_LOCK_TIMEOUT for the transactions using the queue.
 */
static void
group_index_step(void *arg)
{
	const char *name = sqsn_queue_name_of(*(int64 *) arg);

	if (name == NULL)
		return;
	sqsn_spi_check(SPI_execute("SET LOCAL lock_timeout = " CppAsString2(
								   GROUP_INDEX_LOCK_TIMEOUT),
							   false, 0),
				   SPI_OK_UTILITY, "setting lock_timeout");
	sqsn_create_group_index(sqsn_open_queue(name, AccessShareLock));
}

/* Whether the index was made (or was not needed); else to try again. */
static bool
index_groups(int64 queue_id)
{
	ErrorData *edata;
	bool       done = true;

	sqsn_xact_begin("sqsn worker: indexing a queue's message groups");
	if (sqsn_extension_lock() &&
		!sqsn_subxact_try(group_index_step, &queue_id, &edata))
	{
		record_error(psprintf("queue " INT64_FORMAT, queue_id), edata);
		FreeErrorData(edata);
		done = false;
	}
	sqsn_xact_commit();
	return done;
}

/*
 * Sweeps one queue: at most MAX_BATCHES_PER_QUEUE batches, each in its own
 * transaction, the last one also reading when the queue is next due; then
 * tells the map (queue/due.c). An error rolls back to a subtransaction and
 * is recorded, and the queue is looked at again a while later.
 */
static void
sweep_queue(int64 queue_id, bool full, SqsnSweepCounts *counts)
{
	Oid       dbid = MyDatabaseId;
	uint32    flags = sqsn_due_flags(dbid, queue_id);
	SweepStep st;
	bool      index_left = false;

	if (flags & DUE_GROUP_INDEX)
		index_left = !index_groups(queue_id);
	memset(&st, 0, sizeof(st));
	st.queue_id = queue_id;
	st.check_overdue = full || (flags & DUE_CHECK_OVERDUE) != 0;
	st.more = true;
	for (int i = 0; i < MAX_BATCHES_PER_QUEUE && st.more && !st.gone; i++)
	{
		ErrorData *edata;

		CHECK_FOR_INTERRUPTS();
		st.first = (i == 0);
		st.more = false;
		st.next_due = DT_NOEND;
		st.overdue_left = false;
		sqsn_xact_begin("sqsn worker: sweeping a queue");
		if (!sqsn_extension_lock())
		{
			/* being dropped: look again soon, in case the drop rolls back */
			sqsn_xact_commit();
			st.more = false;
			st.next_due = sqsn_add_seconds(GetCurrentTimestamp(), 1);
			st.overdue_left = st.check_overdue;
			break;
		}
		if (!sqsn_subxact_try(sweep_step, &st, &edata))
		{
			record_error(psprintf("queue " INT64_FORMAT, queue_id), edata);
			FreeErrorData(edata);
			st.more = false;
			st.next_due = sqsn_add_seconds(GetCurrentTimestamp(), 60);
			st.overdue_left = st.check_overdue;
		}
		sqsn_xact_commit();
	}
	if (st.more) /* not finished: next round */
		st.next_due = GetCurrentTimestamp();
	if (index_left)
		st.next_due =
			Min(st.next_due, sqsn_add_seconds(GetCurrentTimestamp(), 1));
	sqsn_due_reschedule(dbid, queue_id, st.next_due,
						(st.overdue_left ? DUE_CHECK_OVERDUE : 0) |
							(index_left ? DUE_GROUP_INDEX : 0),
						st.gone);
	counts->messages_expired += st.counts.messages_expired;
	counts->messages_moved_to_dlq += st.counts.messages_moved_to_dlq;

	if (++queues_since_trim >= QUEUES_BETWEEN_TRIMS)
	{
		sqsn_xact_begin("sqsn worker: trimming caches");
		sqsn_queue_cache_trim();
		sqsn_xact_commit();
		queues_since_trim = 0;
	}
}

static void
topic_dedup_step(void *arg)
{
	*(bool *) arg = sqsn_sweep_topic_deduplication(sqsn_retention_batch_size);
}

/* The FIFO topics' deduplication records: one table for every topic. */
static void
sweep_topic_deduplication(void)
{
	bool more = true;

	for (int i = 0; i < MAX_BATCHES_PER_QUEUE && more; i++)
	{
		ErrorData *edata;

		CHECK_FOR_INTERRUPTS();
		sqsn_xact_begin("sqsn worker: sweeping deduplication records");
		if (!sqsn_extension_lock())
		{
			sqsn_xact_commit();
			break;
		}
		if (!sqsn_subxact_try(topic_dedup_step, &more, &edata))
		{
			record_error("the topics' deduplication records", edata);
			FreeErrorData(edata);
			more = false;
		}
		sqsn_xact_commit();
	}
}

/* A SQL function of the topic archive, and what it did last. */
typedef struct ArchiveStep
{
	const char *sql; /* takes $1, the batch size; returns a bigint */
	int64       done;
} ArchiveStep;

static void
archive_step(void *arg)
{
	ArchiveStep *st = arg;
	Datum        value = Int32GetDatum(sqsn_retention_batch_size);
	bool         isnull;

	sqsn_spi_check(SPI_execute_with_args(st->sql, 1, (Oid[]){INT4OID}, &value,
										 NULL, false, 1),
				   SPI_OK_SELECT, st->sql);
	st->done = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Runs a SQL function of the topic archive (see the file's comment) in
 * transactions of one batch each, while it returns at least more_from (the
 * batch size: a full batch; 1: replays still active), at most
 * MAX_BATCHES_PER_QUEUE times. Returns whether the last call asked for
 * more. Does nothing before the catalog has the archive.
 */
static bool
run_archive_function(const char *sql, int64 more_from, const char *what)
{
	ArchiveStep st = {sql, more_from};

	for (int i = 0; i < MAX_BATCHES_PER_QUEUE && st.done >= more_from; i++)
	{
		ErrorData *edata;

		CHECK_FOR_INTERRUPTS();
		sqsn_xact_begin(what);
		if (!sqsn_extension_lock() || !sqsn_catalog_has(SQSN_CATALOG_ARCHIVE))
			st.done = 0;
		else if (!sqsn_subxact_try(archive_step, &st, &edata))
		{
			record_error(what, edata);
			FreeErrorData(edata);
			st.done = 0;
		}
		sqsn_xact_commit();
	}
	return st.done >= more_from;
}

typedef struct MoveTaskStep
{
	pg_uuid_t *handle;
	bool       more;
} MoveTaskStep;

static void
move_task_step(void *arg)
{
	MoveTaskStep *st = arg;

	st->more = sqsn_move_task_step(st->handle);
}

/*
 * A step of each active message move task (queue/move_task.c), each in its
 * own transaction; a step that fails marks its task FAILED. Returns
 * whether any task is still active.
 */
static bool
run_move_tasks(MemoryContext roundcxt)
{
	pg_uuid_t *tasks;
	int        ntasks;

	sqsn_xact_begin("sqsn worker: reading message move tasks");
	ntasks =
		sqsn_extension_lock() ? sqsn_active_move_tasks(roundcxt, &tasks) : 0;
	sqsn_xact_commit();

	for (int i = 0; i < ntasks; i++)
	{
		MoveTaskStep st = {&tasks[i], true};

		for (int s = 0; s < MOVE_TASK_STEPS_PER_ROUND && st.more; s++)
		{
			ErrorData *edata;

			CHECK_FOR_INTERRUPTS();
			sqsn_xact_begin("sqsn worker: moving messages");
			if (!sqsn_extension_lock()) /* being dropped */
				st.more = false;
			else if (!sqsn_subxact_try(move_task_step, &st, &edata))
			{
				record_error("a message move task", edata);
				sqsn_fail_move_task(&tasks[i], edata->message);
				FreeErrorData(edata);
				st.more = false;
			}
			sqsn_xact_commit();
		}
	}
	if (ntasks == 0)
		return false;

	/* still active after this round's steps? */
	sqsn_xact_begin("sqsn worker: reading message move tasks");
	ntasks =
		sqsn_extension_lock() ? sqsn_active_move_tasks(roundcxt, &tasks) : 0;
	sqsn_xact_commit();
	return ntasks > 0;
}

/*
 * A full round: every queue of the database, read from the catalog
 * FULL_ROUND_BATCH at a time, taken into the map and swept.
 */
static int64
full_round(SqsnSweepCounts *counts, MemoryContext roundcxt)
{
	int64 after = 0;
	int64 swept = 0;

	for (;;)
	{
		int64        *ids;
		int           n;
		MemoryContext oldcxt;

		sqsn_xact_begin("sqsn worker: listing queues");
		oldcxt = MemoryContextSwitchTo(roundcxt);
		n = sqsn_extension_lock()
				? sqsn_list_queue_ids(after, FULL_ROUND_BATCH, &ids)
				: 0;
		MemoryContextSwitchTo(oldcxt);
		sqsn_xact_commit();
		if (n == 0)
			break;
		for (int i = 0; i < n; i++)
		{
			(void) sqsn_due_take_one(MyDatabaseId, ids[i]);
			sweep_queue(ids[i], true, counts);
		}
		swept += n;
		after = ids[n - 1];
		pfree(ids);
	}
	return swept;
}

/*
 * A round: every queue with something due (queue/due.c), or every queue
 * when the map asks for a full round (at start, when it overflowed, while
 * a prepared transaction exists), then the topics' deduplication records.
 */
static void
run_round(void)
{
	MemoryContext roundcxt = AllocSetContextCreate(
		TopMemoryContext, "sqsn worker round", ALLOCSET_DEFAULT_SIZES);
	MemoryContext   oldcxt = MemoryContextSwitchTo(roundcxt);
	SqsnSweepCounts counts = {0, 0};
	bool            prepared;
	bool            installed = extension_installed(&prepared);
	bool            full = false;
	int64           swept = 0;
	int             tracked = 0;

	set_state(installed ? "sweeping" : "waiting for extension");
	if (installed)
	{
		full = sqsn_due_full_round_wanted() || prepared;
		if (full)
			swept = full_round(&counts, roundcxt);
		else
		{
			int64 *ids;
			int    n = sqsn_due_take(MyDatabaseId, GetCurrentTimestamp(), &ids,
									 &tracked);

			for (int i = 0; i < n; i++)
				sweep_queue(ids[i], false, &counts);
			swept = n;
		}
		sweep_topic_deduplication();
		(void) run_archive_function(
			"SELECT sqsn.run_archive_maintenance($1)",
			sqsn_retention_batch_size,
			"sqsn worker: deleting expired archived messages");
		move_tasks_active = run_move_tasks(roundcxt);
		if (run_archive_function("SELECT sqsn.run_topic_replays($1)", 1,
								 "sqsn worker: replaying archived messages"))
			move_tasks_active = true;
	}
	else
		move_tasks_active = false;

	SpinLockAcquire(&worker_shared->mutex);
	worker_shared->messages_expired += counts.messages_expired;
	worker_shared->messages_moved_to_dlq += counts.messages_moved_to_dlq;
	if (installed)
	{
		worker_shared->last_sweep_at = GetCurrentTimestamp();
		worker_shared->queues_swept_last_round = swept;
		if (full)
			worker_shared->full_rounds++;
		else
			worker_shared->queues_tracked = tracked;
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
	Datum          values[9];
	bool           nulls[9] = {false};

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
	values[6] = Int64GetDatum(copy.queues_tracked);
	values[7] = Int64GetDatum(copy.queues_swept_last_round);
	values[8] = Int64GetDatum(copy.full_rounds);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
