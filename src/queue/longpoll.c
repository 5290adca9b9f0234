/*-------------------------------------------------------------------------
 *
 * longpoll.c
 *	  Long polling: a receive that finds nothing sleeps until a sender's
 *	  transaction commits new messages, a delay or lease ends, or its wait
 *	  time is up.
 *
 * Shared memory holds LONGPOLL_SLOTS slots, each a ConditionVariable and a
 * count of the receivers sleeping on it; a queue maps to slot
 * queue_id % LONGPOLL_SLOTS (queues sharing a slot only cost a spurious
 * wake-up, after which the receiver simply looks again).
 *
 * A sender notes the slot of each queue it inserts into in a backend-local
 * bitmap. At XACT_EVENT_COMMIT -- after the commit is visible to other
 * snapshots -- a transaction callback broadcasts each noted slot that has a
 * waiter; a rolled-back transaction wakes nobody. A receiver registers as a
 * waiter (an atomic increment, a full barrier) and prepares to sleep before
 * it looks at the queue, so a commit either happened before its look (and
 * it sees the rows) or the committer sees the waiter count and broadcasts.
 *
 * Messages that become visible without a commit (a delay or lease running
 * out) wake nobody, so the receiver also bounds each sleep by the earliest
 * future visible_at of the queue. Each look is a new SPI statement, which in
 * READ COMMITTED takes a fresh snapshot. The sleep is
 * ConditionVariableTimedSleep, which checks for interrupts: a waiting
 * receive can be cancelled (statement_timeout, pg_cancel_backend) at once.
 *
 * Without the preload there is no shared memory; a waiting receive then
 * looks at the queue every LONGPOLL_FALLBACK_MS instead.
 *
 * The endpoint's workers (api/server.c) hold many long polls at once, on
 * different queues, in one process, so they cannot sleep on one condition
 * variable; nor can the function launcher (function/), which watches the
 * queue of every event source mapping. Each has a watcher entry instead: a bitmap of the slots it
 * watches and one of the slots fired since it last looked. A committing
 * sender sets the fired bit of each watcher watching a slot it noted and
 * sets that watcher's latch. The same ordering argument holds: a watcher
 * sets its watched bit (a full barrier) before it looks at the queue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "port/pg_bitutils.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/wait_event.h"

#define LONGPOLL_SLOTS       SQSN_LONGPOLL_SLOTS
#define LONGPOLL_FALLBACK_MS 200

typedef struct LongPollSlot
{
	ConditionVariable cv;
	pg_atomic_uint32  waiters;
} LongPollSlot;

#define SLOT_WORDS (LONGPOLL_SLOTS / 64)

typedef struct LongPollWatcher
{
	PGPROC          *proc; /* NULL: no process */
	pg_atomic_uint64 watched[SLOT_WORDS];
	pg_atomic_uint64 fired[SLOT_WORDS];
} LongPollWatcher;

typedef struct LongPollWatchers
{
	pg_atomic_uint32 active; /* watchers with a process */
	int              count;
	LongPollWatcher  watchers[FLEXIBLE_ARRAY_MEMBER];
} LongPollWatchers;

static LongPollSlot     *longpoll_slots = NULL;
static LongPollWatchers *longpoll_watchers = NULL;
static int watcher_count = 0; /* sqsn_longpoll_reserve_watchers */

/* this process's watcher, and how many of its waits use each slot */
static LongPollWatcher *my_watcher = NULL;
static int              my_watch_counts[LONGPOLL_SLOTS];

/* slots this transaction inserted into; broadcast at commit */
static uint64 pending_slots[LONGPOLL_SLOTS / 64];
static bool   any_pending = false;

/* the slot this backend is registered on as a waiter, or -1 */
static int  waiting_slot = -1;
static bool exit_callback_registered = false;

static void longpoll_slots_init(void *ptr);
static void watchers_init(void *ptr);
static void longpoll_xact_callback(XactEvent event, void *arg);
static void longpoll_exit(int code, Datum arg);
static void watcher_exit(int code, Datum arg);

static inline int
slot_of(int64 queue_id)
{
	return (int) ((uint64) queue_id % LONGPOLL_SLOTS);
}

/*
 * Hooks and the commit callback; called from _PG_init.
 */
void
LongPollInit(void)
{
	RegisterXactCallback(longpoll_xact_callback, NULL);
	sqsn_shmem_add("sqsn long polling", sizeof(LongPollSlot) * LONGPOLL_SLOTS,
				   0, NULL, longpoll_slots_init, (void **) &longpoll_slots);
	/*
	 * one watcher for each endpoint worker and for the function launcher
	 * (sqsn_longpoll_reserve_watchers)
	 */
	sqsn_shmem_add("sqsn long polling watchers",
				   offsetof(LongPollWatchers, watchers),
				   sizeof(LongPollWatcher), &watcher_count, watchers_init,
				   (void **) &longpoll_watchers);
}

/*
 * Reserves n watchers for processes that watch many queues at once (the
 * endpoint's workers, the function launcher); returns the index of the
 * first. Called from _PG_init, before shared memory is sized; each caller
 * gets watchers of its own.
 */
int
sqsn_longpoll_reserve_watchers(int n)
{
	int first = watcher_count;

	watcher_count += Max(n, 0);
	return first;
}

static void
longpoll_slots_init(void *ptr)
{
	LongPollSlot *slots = (LongPollSlot *) ptr;

	for (int i = 0; i < LONGPOLL_SLOTS; i++)
	{
		ConditionVariableInit(&slots[i].cv);
		pg_atomic_init_u32(&slots[i].waiters, 0);
	}
}

static void
watchers_init(void *ptr)
{
	LongPollWatchers *watchers = (LongPollWatchers *) ptr;

	pg_atomic_init_u32(&watchers->active, 0);
	watchers->count = watcher_count;
	for (int i = 0; i < watchers->count; i++)
	{
		LongPollWatcher *w = &watchers->watchers[i];

		w->proc = NULL;
		for (int j = 0; j < SLOT_WORDS; j++)
		{
			pg_atomic_init_u64(&w->watched[j], 0);
			pg_atomic_init_u64(&w->fired[j], 0);
		}
	}
}

/*
 * A message was made visible (or will be at commit) in this queue: wake its
 * waiting receivers when this transaction commits.
 */
void
sqsn_longpoll_note_send(int64 queue_id)
{
	int slot = slot_of(queue_id);

	if (longpoll_slots == NULL)
		return;
	pending_slots[slot / 64] |= UINT64CONST(1) << (slot % 64);
	any_pending = true;
}

/* sets the fired bits and latches of the watchers of the noted slots */
static void
wake_watchers(void)
{
	for (int i = 0; i < longpoll_watchers->count; i++)
	{
		LongPollWatcher *w = &longpoll_watchers->watchers[i];
		PGPROC          *proc = w->proc;
		bool             wake = false;

		if (proc == NULL)
			continue;
		for (int j = 0; j < SLOT_WORDS; j++)
		{
			uint64 hit = pending_slots[j] & pg_atomic_read_u64(&w->watched[j]);

			if (hit != 0)
			{
				(void) pg_atomic_fetch_or_u64(&w->fired[j], hit);
				wake = true;
			}
		}
		if (wake)
			SetLatch(&proc->procLatch);
	}
}

static void
longpoll_xact_callback(XactEvent event, void *arg)
{
	if (!any_pending)
		return;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			/* the commit is visible; now read the waiter counts */
			pg_memory_barrier();
			for (int w = 0; w < lengthof(pending_slots); w++)
			{
				uint64 bits = pending_slots[w];

				while (bits != 0)
				{
					int           bit = pg_rightmost_one_pos64(bits);
					LongPollSlot *slot = &longpoll_slots[w * 64 + bit];

					bits &= bits - 1;
					if (pg_atomic_read_u32(&slot->waiters) > 0)
						ConditionVariableBroadcast(&slot->cv);
				}
			}
			if (pg_atomic_read_u32(&longpoll_watchers->active) > 0)
				wake_watchers();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			break;
		default:
			return; /* pre-commit events: keep the marks */
	}
	memset(pending_slots, 0, sizeof(pending_slots));
	any_pending = false;
}

/*
 * Can a receive in this transaction wait for new messages? Not in
 * REPEATABLE READ or SERIALIZABLE, whose one snapshot never sees them.
 */
bool
sqsn_longpoll_can_wait(void)
{
	return !IsolationUsesXactSnapshot();
}

/*
 * Registers this backend as a waiter on the queue's slot; call before the
 * first look at the queue.
 */
void
sqsn_longpoll_begin(int64 queue_id)
{
	int slot = slot_of(queue_id);

	if (longpoll_slots == NULL)
		return;
	if (!exit_callback_registered)
	{
		before_shmem_exit(longpoll_exit, (Datum) 0);
		exit_callback_registered = true;
	}
	Assert(waiting_slot < 0);
	ConditionVariablePrepareToSleep(&longpoll_slots[slot].cv);
	waiting_slot = slot;
	(void) pg_atomic_fetch_add_u32(&longpoll_slots[slot].waiters, 1);
}

/*
 * Sleeps at most timeout_ms or until a commit into the slot's queues.
 * Errors out on a cancel.
 */
void
sqsn_longpoll_sleep(long timeout_ms)
{
	if (timeout_ms <= 0)
		return;

	if (longpoll_slots == NULL || waiting_slot < 0)
	{
		(void) WaitLatch(
			MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
			Min(timeout_ms, LONGPOLL_FALLBACK_MS), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		return;
	}

	(void) ConditionVariableTimedSleep(&longpoll_slots[waiting_slot].cv,
									   timeout_ms, PG_WAIT_EXTENSION);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Unregisters the waiter; also on the error path (PG_FINALLY).
 */
void
sqsn_longpoll_end(void)
{
	if (waiting_slot < 0)
		return;
	(void) pg_atomic_fetch_sub_u32(&longpoll_slots[waiting_slot].waiters, 1);
	waiting_slot = -1;
	ConditionVariableCancelSleep();
}

/* a backend terminated while waiting (FATAL skips PG_FINALLY) */
static void
longpoll_exit(int code, Datum arg)
{
	sqsn_longpoll_end();
}

/*
 * Makes this process watcher number index (an endpoint worker). False
 * without the preload's shared memory.
 */
bool
sqsn_longpoll_attach_watcher(int index)
{
	if (longpoll_watchers == NULL || index < 0 ||
		index >= longpoll_watchers->count)
		return false;
	my_watcher = &longpoll_watchers->watchers[index];
	for (int j = 0; j < SLOT_WORDS; j++)
	{
		pg_atomic_write_u64(&my_watcher->watched[j], 0);
		pg_atomic_write_u64(&my_watcher->fired[j], 0);
	}
	memset(my_watch_counts, 0, sizeof(my_watch_counts));
	my_watcher->proc = MyProc;
	pg_memory_barrier();
	(void) pg_atomic_fetch_add_u32(&longpoll_watchers->active, 1);
	before_shmem_exit(watcher_exit, (Datum) 0);
	return true;
}

static void
watcher_exit(int code, Datum arg)
{
	if (my_watcher == NULL)
		return;
	my_watcher->proc = NULL;
	(void) pg_atomic_fetch_sub_u32(&longpoll_watchers->active, 1);
	my_watcher = NULL;
}

int
sqsn_longpoll_slot(int64 queue_id)
{
	return slot_of(queue_id);
}

/*
 * Starts (or, with watch false, ends) one wait on the queue's slot; call
 * before the first look at the queue.
 */
void
sqsn_longpoll_watch(int64 queue_id, bool watch)
{
	int    slot = slot_of(queue_id);
	uint64 bit = UINT64CONST(1) << (slot % 64);

	if (my_watcher == NULL)
		return;
	if (watch)
	{
		if (my_watch_counts[slot]++ == 0)
			(void) pg_atomic_fetch_or_u64(&my_watcher->watched[slot / 64],
										  bit);
	}
	else if (my_watch_counts[slot] > 0 && --my_watch_counts[slot] == 0)
		(void) pg_atomic_fetch_and_u64(&my_watcher->watched[slot / 64], ~bit);
}

/* Was the slot fired since the last call? Clears what it reports. */
void
sqsn_longpoll_take_fired(uint64 *fired)
{
	for (int j = 0; j < SLOT_WORDS; j++)
		fired[j] =
			my_watcher ? pg_atomic_exchange_u64(&my_watcher->fired[j], 0) : 0;
}
