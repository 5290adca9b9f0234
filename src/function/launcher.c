/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The function launcher: the settings and shared memory of function
 *	  consumers, and the background worker that starts the function workers
 *	  (function_worker.c) and hands them work. Also the rows of the views
 *	  sqsn.function_invocations and (for the function workers)
 *	  sqsn.worker_status.
 *
 * One launcher per cluster, started with the library when
 * sqsn.max_function_workers is above 0, works in sqsn.database_name. It
 * keeps the enabled event source mappings in memory and watches their
 * queues with a long-poll watcher (queue/longpoll.c): a transaction that
 * sends to one of them sets the launcher's latch when it commits, as it
 * wakes a waiting receive. A committed publish to a function subscription
 * rings it the same way (push/outbox.c), and so does a committed change of
 * a mapping (mapping.c). Between those it sleeps, without a timeout unless
 * something is due: idle mappings cost neither CPU nor queries.
 *
 * Work is handed out as tasks: "a mapping" (run its batches), or "the
 * function subscriptions' deliveries". A mapping that has work -- its queue
 * was written to, a worker left messages behind, or the time it asked to
 * be looked at again has come -- gets an idle worker, up to its
 * maximum_concurrency at once. When every worker is busy and fewer than
 * sqsn.max_function_workers run, the launcher starts one more (a dynamic
 * background worker, so it needs a free max_worker_processes slot); a
 * worker idle for FUNCTION_WORKER_IDLE_SECONDS leaves. A worker runs its
 * task for a time slice at most, then reports (more to do, or when its
 * queue will next have a visible message by itself: a delay or a lease
 * running out wakes nobody) and sets the launcher's latch; so mappings take
 * turns when there are more of them than workers.
 *
 * Mappings are served round robin. A paused mapping (its owner lost a
 * right, see mapping.c) is looked at again when the worker that paused it
 * says (every 10 sqsn.poll_intervals).
 *
 * The invocation log behind sqsn.function_invocations is a ring of the
 * last sqsn.function_invocation_history invocations in shared memory, so
 * keeping it costs no writes; it starts empty when the server starts.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "function/function.h"

#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(sq_function_worker_rows);
PG_FUNCTION_INFO_V1(sq_function_invocation_rows);

PGDLLEXPORT void sqsn_function_launcher_main(Datum main_arg);

#define LAUNCHER_RESTART_SECONDS 5
#define MAX_FUNCTION_WORKERS     100

/* One entry of the invocation log. */
typedef struct LoggedInvocation
{
	char        kind; /* 'm' mapping, 's' subscription, 0: empty */
	pg_uuid_t   id;
	int32       batch_size;
	TimestampTz started;
	double      duration_ms;
	SqsnOutcome outcome;
	pid_t       pid;
	char        error[SQSN_FUNCTION_ERROR_LEN];
} LoggedInvocation;

typedef struct InvocationLog
{
	slock_t          mutex;
	uint64           next; /* entries written so far */
	int              size;
	LoggedInvocation entries[FLEXIBLE_ARRAY_MEMBER];
} InvocationLog;

/* A mapping as the launcher keeps it. */
typedef struct LauncherMapping
{
	pg_uuid_t   id;
	int64       queue_id;
	int         concurrency;
	int         active;    /* tasks handed out and not yet reported */
	bool        pending;   /* it has work: hand it out */
	bool        stopped;   /* paused or gone: wait for next_look */
	bool        removed;   /* no longer enabled: forget it when inactive */
	TimestampTz next_look; /* 0: none */
	bool        seen;      /* in the last read of the catalog */
} LauncherMapping;

int                 sqsn_function_worker_slot = -1;
int                 sqsn_max_function_workers = 4;
int                 sqsn_function_retry_delay = 60;
int                 sqsn_function_group_commit = 10;
SqsnFunctionShared *sqsn_function_shared = NULL;

static int            invocation_history = 1000;
static int            nslots = 0; /* sized at _PG_init */
static InvocationLog *invocation_log = NULL;

/* the launcher's state */
static BackgroundWorkerHandle *handles[MAX_FUNCTION_WORKERS];
static LauncherMapping        *mappings = NULL;
static int                     nmappings = 0;
static int                     next_mapping = 0; /* round robin */
static bool                    deliveries_pending = true;
static int                     deliveries_active = 0;
static TimestampTz             deliveries_next = 0;
static TimestampTz             start_retry_at = 0;
static bool                    start_failed_logged = false;

static Size shared_size(void);
static void function_shmem_init(void *ptr);
static void launcher_exit(int code, Datum arg);
static bool read_mappings(void);
static void collect_reports(void);
static void hand_out(void);
static long sleep_ms(void);
static void set_launcher_state(const char *state);

/*
 * The settings, shared memory and the launcher; called from _PG_init.
 */
void
FunctionInit(void)
{
	int first_watcher;

	DefineCustomIntVariable(
		"sqsn.max_function_workers",
		"Function workers (event source mappings and function "
		"subscriptions) that may run at once.",
		"Each needs a slot of max_worker_processes; 0 runs no function "
		"consumer.",
		&sqsn_max_function_workers, 4, 0, MAX_FUNCTION_WORKERS, PGC_POSTMASTER,
		0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"sqsn.function_retry_delay",
		"Time before the first retry of a failed invocation of a function "
		"subscription; the second waits twice as long.",
		NULL, &sqsn_function_retry_delay, 60, 1, 3600, PGC_SIGHUP, GUC_UNIT_S,
		NULL, NULL, NULL);
	DefineCustomIntVariable(
		"sqsn.function_group_commit",
		"Time for which a function worker may run further full batches of "
		"a mapping in the transaction of the first before committing.",
		"Each batch keeps its own subtransaction; 0 commits every batch "
		"on its own.",
		&sqsn_function_group_commit, 10, 0, 1000, PGC_SIGHUP, GUC_UNIT_MS,
		NULL, NULL, NULL);
	DefineCustomIntVariable(
		"sqsn.function_invocation_history",
		"Invocations of consumer functions sqsn.function_invocations keeps.",
		NULL, &invocation_history, 1000, 0, 100000, PGC_POSTMASTER, 0, NULL,
		NULL, NULL);
	FunctionMetricsInit();

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;
	nslots = sqsn_max_function_workers;
	sqsn_shmem_add("sqsn function workers", shared_size(), 0, NULL,
				   function_shmem_init, (void **) &sqsn_function_shared);
	first_watcher = sqsn_longpoll_reserve_watchers(1);
	if (sqsn_max_function_workers > 0)
		sqsn_register_worker(
			"sqsn_function_launcher_main", "sqsn function launcher",
			"sqsn function launcher", LAUNCHER_RESTART_SECONDS, false,
			Int32GetDatum(first_watcher));
}

/* The slots, then the invocation log. */
static Size
slots_size(void)
{
	return MAXALIGN(add_size(offsetof(SqsnFunctionShared, slots),
							 mul_size(sizeof(SqsnWorkerSlot), nslots)));
}

static Size
shared_size(void)
{
	return add_size(slots_size(), add_size(offsetof(InvocationLog, entries),
										   mul_size(sizeof(LoggedInvocation),
													invocation_history)));
}

static InvocationLog *
get_invocation_log(void)
{
	if (invocation_log == NULL && sqsn_function_shared != NULL)
		invocation_log =
			(InvocationLog *) ((char *) sqsn_function_shared + slots_size());
	return invocation_log;
}

static void
function_shmem_init(void *ptr)
{
	SqsnFunctionShared *shared = (SqsnFunctionShared *) ptr;
	InvocationLog      *log;

	memset(shared, 0, shared_size());
	SpinLockInit(&shared->mutex);
	pg_atomic_init_u64(&shared->catalog_seq, 0);
	strlcpy(shared->launcher_state, "stopped", SQSN_FUNCTION_STATE_LEN);
	shared->nslots = nslots;
	log = (InvocationLog *) ((char *) shared + slots_size());
	SpinLockInit(&log->mutex);
	log->size = invocation_history;
}

const char *
sqsn_outcome_name(SqsnOutcome outcome)
{
	switch (outcome)
	{
		case SQSN_SUCCEEDED:
			return "succeeded";
		case SQSN_PARTIALLY_FAILED:
			return "partially failed";
		case SQSN_FAILED:
			return "failed";
		case SQSN_TIMED_OUT:
			return "timed out";
		case SQSN_EXPIRED:
			return "expired";
	}
	return "?";
}

/*
 * Adds an invocation to the log (kind 'm': of an event source mapping,
 * 's': of a function subscription). In a function worker, also its
 * counters in sqsn.worker_status.
 */
void
sqsn_log_invocation(char kind, const pg_uuid_t *id, int batch_size,
					TimestampTz started, double duration_ms,
					SqsnOutcome outcome, const char *error)
{
	InvocationLog    *log = get_invocation_log();
	LoggedInvocation *e;

	if (sqsn_function_worker_slot >= 0)
	{
		SqsnWorkerSlot *s =
			&sqsn_function_shared->slots[sqsn_function_worker_slot];

		SpinLockAcquire(&sqsn_function_shared->mutex);
		s->invocations++;
		s->last_invocation_at = started;
		if (error)
			strlcpy(s->last_error, error, SQSN_FUNCTION_ERROR_LEN);
		SpinLockRelease(&sqsn_function_shared->mutex);
	}
	if (log == NULL || log->size == 0)
		return;
	SpinLockAcquire(&log->mutex);
	e = &log->entries[log->next % log->size];
	log->next++;
	e->kind = kind;
	memcpy(&e->id, id, sizeof(pg_uuid_t));
	e->batch_size = batch_size;
	e->started = started;
	e->duration_ms = duration_ms;
	e->outcome = outcome;
	e->pid = MyProcPid;
	strlcpy(e->error, error ? error : "", SQSN_FUNCTION_ERROR_LEN);
	SpinLockRelease(&log->mutex);
}

/* Sets a worker's state for sqsn.worker_status. */
void
sqsn_worker_state(int slot, const char *state)
{
	SqsnWorkerSlot *s = &sqsn_function_shared->slots[slot];

	SpinLockAcquire(&sqsn_function_shared->mutex);
	strlcpy(s->state, state, SQSN_FUNCTION_STATE_LEN);
	SpinLockRelease(&sqsn_function_shared->mutex);
}

static void
set_launcher_state(const char *state)
{
	SpinLockAcquire(&sqsn_function_shared->mutex);
	strlcpy(sqsn_function_shared->launcher_state, state,
			SQSN_FUNCTION_STATE_LEN);
	SpinLockRelease(&sqsn_function_shared->mutex);
}

static void
launcher_exit(int code, Datum arg)
{
	(void) sqsn_outbox_attach_functions(NULL);
	SpinLockAcquire(&sqsn_function_shared->mutex);
	sqsn_function_shared->launcher_pid = 0;
	sqsn_function_shared->launcher_latch = NULL;
	strlcpy(sqsn_function_shared->launcher_state, "stopped",
			SQSN_FUNCTION_STATE_LEN);
	SpinLockRelease(&sqsn_function_shared->mutex);
}

/* Launcher: mappings ----------------------------------------------------- */

static LauncherMapping *
find_mapping(const pg_uuid_t *id)
{
	for (int i = 0; i < nmappings; i++)
		if (memcmp(&mappings[i].id, id, sizeof(pg_uuid_t)) == 0)
			return &mappings[i];
	return NULL;
}

/* Drops the mappings that are gone and have no task out. */
static void
forget_removed(void)
{
	int k = 0;

	for (int i = 0; i < nmappings; i++)
	{
		if (mappings[i].removed && mappings[i].active == 0)
			continue;
		mappings[k++] = mappings[i];
	}
	nmappings = k;
	if (next_mapping >= nmappings)
		next_mapping = 0;
}

/*
 * Reads the enabled mappings in a short transaction and watches their
 * queues; new ones get a look at once. False while sqsn is not installed.
 */
static bool
read_mappings(void)
{
	bool ready;

	set_launcher_state("reading mappings");
	sqsn_xact_begin("sqsn function launcher: reading mappings");
	ready = sqsn_extension_ready("event_source_mapping", AccessShareLock);
	for (int i = 0; i < nmappings; i++)
		mappings[i].seen = false;
	if (ready)
	{
		int ret = SPI_execute("SELECT mapping_id, queue_id,"
							  " maximum_concurrency"
							  " FROM sqsn.event_source_mapping"
							  " WHERE enabled",
							  true, 0);

		sqsn_spi_check(ret, SPI_OK_SELECT, "reading event source mappings");
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple  row = SPI_tuptable->vals[r];
			TupleDesc  desc = SPI_tuptable->tupdesc;
			bool       isnull;
			pg_uuid_t *id =
				DatumGetUUIDP(SPI_getbinval(row, desc, 1, &isnull));
			LauncherMapping *m = find_mapping(id);

			if (m == NULL || m->removed)
			{
				MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

				if (m == NULL)
				{
					mappings =
						mappings ? repalloc(mappings, sizeof(LauncherMapping) *
														  (nmappings + 1))
								 : palloc(sizeof(LauncherMapping));
					m = &mappings[nmappings++];
					memset(m, 0, sizeof(LauncherMapping));
					memcpy(&m->id, id, sizeof(pg_uuid_t));
				}
				MemoryContextSwitchTo(old);
				m->queue_id = sqsn_spi_int64(row, desc, 2);
				m->removed = false;
				m->pending = true;
				sqsn_longpoll_watch(m->queue_id, true);
			}
			m->concurrency = sqsn_spi_int32(row, desc, 3);
			m->stopped = false;
			m->pending = true; /* changed mappings get a look too */
			m->seen = true;
		}
	}
	sqsn_xact_commit();

	for (int i = 0; i < nmappings; i++)
	{
		if (!mappings[i].seen && !mappings[i].removed)
		{
			mappings[i].removed = true;
			mappings[i].pending = false;
			sqsn_longpoll_watch(mappings[i].queue_id, false);
		}
	}
	forget_removed();
	return ready;
}

/* The mappings whose queues had a commit get a look. */
static void
note_fired(void)
{
	uint64 fired[SQSN_LONGPOLL_SLOTS / 64];

	sqsn_longpoll_take_fired(fired);
	for (int i = 0; i < nmappings; i++)
	{
		int slot = sqsn_longpoll_slot(mappings[i].queue_id);

		if ((fired[slot / 64] >> (slot % 64)) & 1)
		{
			mappings[i].pending = true;
			mappings[i].stopped = false;
		}
	}
}

/* The mappings whose time to be looked at again has come. */
static void
note_due(TimestampTz now)
{
	for (int i = 0; i < nmappings; i++)
	{
		LauncherMapping *m = &mappings[i];

		if (m->next_look != 0 && m->next_look <= now)
		{
			m->next_look = 0;
			m->pending = true;
			m->stopped = false;
		}
	}
	if (deliveries_next != 0 && deliveries_next <= now)
	{
		deliveries_next = 0;
		deliveries_pending = true;
	}
}

/* Launcher: workers ------------------------------------------------------ */

/*
 * Takes in what workers reported: finished tasks, and running ones that
 * found more work than one worker does.
 */
static void
collect_reports(void)
{
	for (int i = 0; i < nslots; i++)
	{
		SqsnWorkerSlot *s = &sqsn_function_shared->slots[i];
		SqsnTaskState   state;
		SqsnTaskKind    kind;
		pg_uuid_t       id;
		bool            more;
		bool            stop;
		TimestampTz     next_look;

		SpinLockAcquire(&sqsn_function_shared->mutex);
		state = s->task_state;
		kind = s->task_kind;
		id = s->mapping_id;
		more = s->more;
		stop = s->stop;
		next_look = s->next_look;
		if (state == SQSN_TASK_DONE)
			s->task_state = SQSN_TASK_NONE;
		if (state == SQSN_TASK_RUNNING)
			s->more = false;
		SpinLockRelease(&sqsn_function_shared->mutex);

		if (state == SQSN_TASK_RUNNING && more)
		{
			/* a full batch: another worker may help */
			if (kind == SQSN_TASK_DELIVERIES)
				deliveries_pending = true;
			else
			{
				LauncherMapping *m = find_mapping(&id);

				if (m != NULL && !m->removed)
					m->pending = true;
			}
			continue;
		}
		if (state != SQSN_TASK_DONE)
			continue;
		if (kind == SQSN_TASK_DELIVERIES)
		{
			deliveries_active--;
			if (more)
				deliveries_pending = true;
			else if (next_look != 0 &&
					 (deliveries_next == 0 || next_look < deliveries_next))
				deliveries_next = next_look;
		}
		else
		{
			LauncherMapping *m = find_mapping(&id);

			if (m == NULL)
				continue;
			m->active--;
			if (stop)
			{
				m->stopped = true;
				m->pending = false;
			}
			else if (more)
				m->pending = true;
			if (next_look != 0 &&
				(m->next_look == 0 || next_look < m->next_look))
				m->next_look = next_look;
		}
	}
	forget_removed();
}

/* An idle worker's slot, or -1. */
static int
idle_slot(void)
{
	int found = -1;

	SpinLockAcquire(&sqsn_function_shared->mutex);
	for (int i = 0; i < nslots && found < 0; i++)
	{
		SqsnWorkerSlot *s = &sqsn_function_shared->slots[i];

		if (s->in_use && s->pid != 0 && !s->exiting &&
			s->task_state == SQSN_TASK_NONE)
			found = i;
	}
	SpinLockRelease(&sqsn_function_shared->mutex);
	return found;
}

static void
assign(int slot, SqsnTaskKind kind, const pg_uuid_t *id)
{
	SqsnWorkerSlot *s = &sqsn_function_shared->slots[slot];
	Latch          *latch;

	SpinLockAcquire(&sqsn_function_shared->mutex);
	s->task_kind = kind;
	if (id)
		memcpy(&s->mapping_id, id, sizeof(pg_uuid_t));
	s->more = s->stop = false;
	s->next_look = 0;
	s->task_state = SQSN_TASK_ASSIGNED;
	latch = s->latch;
	SpinLockRelease(&sqsn_function_shared->mutex);
	if (latch)
		SetLatch(latch);
}

/*
 * Starts one more worker when a slot is free; false when none could start
 * (every slot taken, or no max_worker_processes slot left: said once in
 * the log, and tried again a while later).
 */
static bool
start_worker(void)
{
	BackgroundWorker worker;
	int              slot = -1;
	int              starting = 0;
	uint32           generation = 0;

	if (GetCurrentTimestamp() < start_retry_at)
		return false;
	SpinLockAcquire(&sqsn_function_shared->mutex);
	for (int i = 0; i < nslots; i++)
	{
		SqsnWorkerSlot *s = &sqsn_function_shared->slots[i];

		if (s->in_use && s->pid == 0)
			starting++;
		else if (!s->in_use && s->task_state == SQSN_TASK_NONE && slot < 0)
			slot = i;
	}
	if (slot >= 0 && starting == 0)
	{
		SqsnWorkerSlot *s = &sqsn_function_shared->slots[slot];

		s->in_use = true;
		s->exiting = false;
		s->pid = 0;
		s->latch = NULL;
		s->generation++;
		generation = s->generation;
		strlcpy(s->state, "starting", SQSN_FUNCTION_STATE_LEN);
	}
	SpinLockRelease(&sqsn_function_shared->mutex);
	if (slot < 0 || starting > 0)
		return false; /* all taken, or one is on its way */

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags =
		BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "sqsn", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "sqsn_function_worker_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "sqsn function worker %d", slot + 1);
	strlcpy(worker.bgw_type, "sqsn function worker", BGW_MAXLEN);
	worker.bgw_main_arg = Int32GetDatum(slot);
	memcpy(worker.bgw_extra, &generation, sizeof(generation));
	worker.bgw_notify_pid = MyProcPid;

	if (handles[slot] != NULL)
		pfree(handles[slot]);
	handles[slot] = NULL;
	if (!RegisterDynamicBackgroundWorker(&worker, &handles[slot]))
	{
		SpinLockAcquire(&sqsn_function_shared->mutex);
		sqsn_function_shared->slots[slot].in_use = false;
		strlcpy(sqsn_function_shared->slots[slot].state, "",
				SQSN_FUNCTION_STATE_LEN);
		SpinLockRelease(&sqsn_function_shared->mutex);
		if (!start_failed_logged)
			ereport(LOG, (errmsg("sqsn function launcher could not start a "
								 "function worker"),
						  errhint("Raise max_worker_processes: every function "
								  "worker needs a slot of it.")));
		start_failed_logged = true;
		start_retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													 sqsn_poll_interval);
		return false;
	}
	start_failed_logged = false;
	return true;
}

/*
 * A worker whose process is gone without saying so (it never started, or
 * the postmaster could not fork it): its slot is free again.
 */
static void
reap_workers(void)
{
	for (int i = 0; i < nslots; i++)
	{
		pid_t pid;

		if (handles[i] == NULL ||
			GetBackgroundWorkerPid(handles[i], &pid) != BGWH_STOPPED)
			continue;
		pfree(handles[i]);
		handles[i] = NULL;
		SpinLockAcquire(&sqsn_function_shared->mutex);
		if (sqsn_function_shared->slots[i].in_use &&
			sqsn_function_shared->slots[i].pid == 0)
			sqsn_function_shared->slots[i].in_use = false;
		SpinLockRelease(&sqsn_function_shared->mutex);
	}
}

/*
 * Hands out work: mappings round robin, each up to its concurrency, then
 * the deliveries of function subscriptions; starts a worker when work
 * waits for one.
 */
static void
hand_out(void)
{
	bool waiting = false;
	int  first = next_mapping;

	for (int k = 0; k < nmappings; k++)
	{
		LauncherMapping *m = &mappings[(first + k) % nmappings];

		while (m->pending && !m->stopped && !m->removed &&
			   m->active < m->concurrency)
		{
			int slot = idle_slot();

			if (slot < 0)
			{
				waiting = true;
				break;
			}
			assign(slot, SQSN_TASK_MAPPING, &m->id);
			m->active++;
			/* a second worker only when the first finds a full batch */
			m->pending = false;
			next_mapping = ((first + k) % nmappings + 1) % nmappings;
		}
	}
	if (deliveries_pending && deliveries_active < Max(1, nslots / 2))
	{
		int slot = idle_slot();

		if (slot >= 0)
		{
			assign(slot, SQSN_TASK_DELIVERIES, NULL);
			deliveries_active++;
			deliveries_pending = false;
		}
		else
			waiting = true;
	}
	if (waiting)
		(void) start_worker();
}

/* How long the launcher may sleep (ms), or -1: until its latch is set. */
static long
sleep_ms(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = deliveries_next;

	for (int i = 0; i < nmappings; i++)
		if (mappings[i].next_look != 0 &&
			(next == 0 || mappings[i].next_look < next))
			next = mappings[i].next_look;
	if (start_retry_at > now && (next == 0 || start_retry_at < next))
		next = start_retry_at;
	if (next == 0)
		return -1;
	return next <= now ? 0 : (long) ((next - now + 999) / 1000);
}

/*
 * Entry point of the launcher process.
 */
void
sqsn_function_launcher_main(Datum main_arg)
{
	uint64 seen_catalog = 0;
	uint64 seen_deliveries = 0;
	bool   ready = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (sqsn_function_shared == NULL)
		elog(ERROR, "sqsn function launcher started without its shared "
					"memory");

	/* workers of an earlier launcher are not ours: let them go */
	SpinLockAcquire(&sqsn_function_shared->mutex);
	for (int i = 0; i < nslots; i++)
	{
		SqsnWorkerSlot *s = &sqsn_function_shared->slots[i];

		if (s->in_use && s->pid != 0)
			kill(s->pid, SIGTERM);
		s->in_use = false;
		s->generation++;
		s->task_state = SQSN_TASK_NONE;
	}
	sqsn_function_shared->launcher_pid = MyProcPid;
	sqsn_function_shared->launcher_latch = MyLatch;
	SpinLockRelease(&sqsn_function_shared->mutex);
	before_shmem_exit(launcher_exit, (Datum) 0);

	BackgroundWorkerInitializeConnection(sqsn_database_name, NULL, 0);
	pgstat_report_appname("sqsn function launcher");
	if (!sqsn_longpoll_attach_watcher(DatumGetInt32(main_arg)) ||
		!sqsn_outbox_attach_functions(MyLatch))
		elog(ERROR, "sqsn function launcher started without its shared "
					"memory");
	ereport(LOG, (errmsg("sqsn function launcher started in database \"%s\"",
						 sqsn_database_name)));

	for (;;)
	{
		uint64 seq;
		long   timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		seq = pg_atomic_read_u64(&sqsn_function_shared->catalog_seq);
		if (!ready || seq != seen_catalog)
		{
			seen_catalog = seq;
			ready = read_mappings();
		}
		seq = sqsn_outbox_function_seq();
		if (seq != seen_deliveries)
		{
			seen_deliveries = seq;
			deliveries_pending = true;
		}
		note_fired();
		reap_workers();
		collect_reports();
		note_due(GetCurrentTimestamp());
		if (ready)
			hand_out();
		set_launcher_state(ready ? "idle" : "waiting for extension");

		timeout = ready ? sleep_ms() : sqsn_poll_interval;
		if (timeout != 0)
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
								 (timeout > 0 ? WL_TIMEOUT : 0),
							 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* Views ------------------------------------------------------------------ */

/*
 * Rows of the function launcher and workers for sqsn.worker_status: none
 * without the preload.
 */
Datum
sq_function_worker_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (sqsn_function_shared == NULL)
		return (Datum) 0;

	for (int i = -1; i < sqsn_function_shared->nslots; i++)
	{
		Datum          values[6];
		bool           nulls[6] = {false, false, false, false, false, false};
		SqsnWorkerSlot s;
		pid_t          pid;
		char           state[SQSN_FUNCTION_STATE_LEN];
		bool           show;

		SpinLockAcquire(&sqsn_function_shared->mutex);
		if (i < 0)
		{
			memset(&s, 0, sizeof(s));
			pid = sqsn_function_shared->launcher_pid;
			strlcpy(state, sqsn_function_shared->launcher_state,
					sizeof(state));
			show = true;
		}
		else
		{
			s = sqsn_function_shared->slots[i];
			pid = s.pid;
			strlcpy(state, s.state, sizeof(state));
			show = s.in_use;
		}
		SpinLockRelease(&sqsn_function_shared->mutex);
		if (!show)
			continue;

		values[0] = CStringGetTextDatum(i < 0 ? "function launcher"
											  : "function worker");
		values[1] = Int32GetDatum(pid);
		nulls[1] = (pid == 0);
		values[2] = CStringGetTextDatum(state);
		values[3] = TimestampTzGetDatum(s.last_invocation_at);
		nulls[3] = (s.last_invocation_at == 0);
		values[4] = Int64GetDatum(s.invocations);
		nulls[4] = (i < 0);
		values[5] = CStringGetTextDatum(s.last_error);
		nulls[5] = (s.last_error[0] == '\0');
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
	return (Datum) 0;
}

/*
 * Rows of sqsn.function_invocations: the logged invocations, newest first.
 */
Datum
sq_function_invocation_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo    *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	InvocationLog    *log = get_invocation_log();
	LoggedInvocation *copy;
	uint64            next;
	int               n;

	InitMaterializedSRF(fcinfo, 0);
	if (log == NULL || log->size == 0)
		return (Datum) 0;

	copy = palloc(sizeof(LoggedInvocation) * log->size);
	SpinLockAcquire(&log->mutex);
	memcpy(copy, log->entries, sizeof(LoggedInvocation) * log->size);
	next = log->next;
	SpinLockRelease(&log->mutex);

	n = (int) Min(next, (uint64) log->size);
	for (int k = 1; k <= n; k++)
	{
		LoggedInvocation *e = &copy[(next - k) % log->size];
		Datum             values[8];
		bool              nulls[8] = {false, false, false, false,
									  false, false, false, false};

		values[0] = CStringGetTextDatum(e->kind == 'm' ? "event_source_mapping"
													   : "subscription");
		values[1] = UUIDPGetDatum(&e->id);
		values[2] = Int32GetDatum(e->batch_size);
		values[3] = TimestampTzGetDatum(e->started);
		values[4] = Float8GetDatum(e->duration_ms);
		values[5] = CStringGetTextDatum(sqsn_outcome_name(e->outcome));
		values[6] = CStringGetTextDatum(e->error);
		nulls[6] = (e->error[0] == '\0');
		values[7] = Int32GetDatum(e->pid);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
	return (Datum) 0;
}
