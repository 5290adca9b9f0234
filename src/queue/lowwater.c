/*-------------------------------------------------------------------------
 *
 * lowwater.c
 *	  Per-queue low-water marks: where a receive on a standard queue starts
 *	  its walk along the primary key.
 *
 * A receive walks a queue's msg_seq index from the lowest key up. Deleted
 * rows stay in the index and the heap until vacuum removes them, and vacuum
 * cannot while anything holds the xmin horizon back (a long transaction, a
 * session idle in transaction, a lagging replication slot): without help,
 * every receive would walk over every message deleted since. Messages
 * delayed for minutes, and messages in flight, at the head of a queue are
 * walked over the same way by every receive.
 *
 * So each queue has two marks in shared memory:
 *
 *	 hard_after: every row with msg_seq <= hard_after is deleted;
 *	 soft_after: every row with msg_seq <= soft_after is deleted or cannot
 *				 be visible before soft_until (delayed, leased, or expired).
 *
 * A receive at time now starts after soft_after while now < soft_until,
 * else after hard_after, else (no marks) at the beginning.
 *
 * The marks are moved on by the receives themselves: at most every
 * sqsn.low_water_interval per queue, one receive (whichever comes first)
 * takes the next step, so the marks follow the head of a busy queue in
 * every database; the background worker and sqsn.run_maintenance() take a
 * step on every queue they sweep.
 *
 * Why no message is skipped: msg_seq comes from the sequence when
 * a send's INSERT runs, but the row only counts once its transaction
 * commits, so a late commit can add a row below rows already seen. Moving
 * the marks therefore takes two steps. (1) Read the sequence's last value
 * L, then take the virtual transaction ids of every transaction holding a
 * lock on the message table that conflicts with ShareLock: every sender of
 * a value <= L took RowExclusiveLock before its INSERT drew the value and
 * keeps it until it ends, so it is on that list or already finished.
 * (2) Once all of them have ended (checked without waiting, on a later
 * step if need be, and never in a transaction that has written: the rows
 * it deleted would look gone), no row <= L can appear any more, and a walk from
 * hard_after up to L with a dirty snapshot (which also sees rows whose
 * insert, update or delete is still in progress) gives exact marks. A row
 * being updated or deleted ends the walk (it may be a lease or a
 * visibility change in progress).
 *
 * sq_change_visibility can make a leased row below soft_after visible
 * earlier than soft_until: after its update it lowers soft_until and bumps
 * the slot's generation, and the worker publishes a soft mark only when
 * the generation did not move while it walked.
 *
 * The marks and the step in progress live in a fixed array of slots, one
 * per (database, message table) by hash; two queues that share a slot take
 * turns, and a receive whose queue does not own its slot starts at the
 * beginning, as without marks. Nothing is kept across a restart; without
 * the library in shared_preload_libraries there are no marks. Queues
 * whose table is distributed by Citus are not marked (their rows are on
 * another node, out of this walk's reach; citus.c). FIFO queues
 * are not marked:
 * their receives walk the (message_group_id, msg_seq) index (fifo.c).
 *
 * Many receivers at once. A row a receive has leased stays locked until
 * its transaction ends, and a consumer that receives and deletes in one
 * transaction holds it through its commit (the WAL flush). Every receive
 * that starts at the marks walks over all of these rows, trying a tuple
 * lock and the locker's transaction lock on each (two trips to the lock
 * manager per row): with N receivers in flight that is N rows per receive,
 * N^2 lock-manager calls in all, on the same few lock partitions, and
 * throughput falls as consumers are added. So each slot also counts the
 * transactions that leased rows and are still open (receivers; a receive
 * that found nothing, such as a long poll waiting, does not count), and
 * remembers the highest msg_seq leased lately (lease_hint). While more
 * than LOWWATER_SPREAD_RECEIVERS others are in flight, or they hold more
 * than LOWWATER_SPREAD_ROWS leased rows (a few receivers of large batches,
 * or the function workers' group commit), one receive at a
 * time (the one holding head_until), at most every LOWWATER_HEAD_PAUSE_MS,
 * still walks from the marks, and takes whatever is visible there (a lease
 * that ran out, a receive rolled back, a send that committed late); the
 * others start after lease_hint, past
 * the rows in flight, and walk from the marks only when they found too
 * few there, so a receive never comes back empty while a message is
 * visible. With few receivers every receive starts at the marks, as
 * before, and order is the same as without this. Which rows may be leased
 * does not change: the same statement leases them, under the same lock.
 *
 * Several receives in one transaction. A transaction that leased rows
 * and receives again from the same queue (the function workers' group
 * commit runs many batches in one transaction) starts past the highest row
 * it leased: the rows below it that it leased, and deleted, stay locked
 * until it ends, and walking over them again on every receive cost more
 * than the receive itself. It looks from the marks when it finds too few
 * there, as above, and after a visibility change of its own.
 *
 * A standby takes no step: its rows change by replay, which takes none of
 * the locks step 1 counts on (and nothing that would take a step runs
 * there: receives are refused, the worker starts at the promotion). So a
 * promoted standby starts with no marks, as after a restart, and its first
 * receives and sweeps build them from its own sequence and rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#define LOWWATER_SLOTS 1024

/* A step 1 that finds more lockers than this is tried again later. */
#define LOWWATER_MAX_LOCKERS 64

/* A walk examines at most this many live rows (delayed or in flight). */
#define LOWWATER_MAX_SKIPPED 1000000

/* A step not finished by then (its backend failed) may be taken over. */
#define LOWWATER_STEP_TIMEOUT_MS 10000

/*
 * Other receives in flight, or rows they leased, above which receives start
 * past the newest lease
 */
#define LOWWATER_SPREAD_RECEIVERS 8
#define LOWWATER_SPREAD_ROWS      32

/* A walk from the marks not reported by then (its backend failed) ends. */
#define LOWWATER_HEAD_TIMEOUT_MS 100

/* While receives are spread, one walks from the marks at most this often. */
#define LOWWATER_HEAD_PAUSE_MS 50

/* Slots counted as having a receive in flight, per transaction */
#define LOWWATER_MAX_COUNTED 8

typedef struct LowWaterSlot
{
	slock_t     mutex;
	Oid         dbid; /* owner of the slot; InvalidOid: free */
	Oid         relid;
	int64       queue_id;
	int64       hard_after;
	int64       soft_after;
	TimestampTz soft_until;
	uint64      generation; /* bumped by sq_change_visibility */

	/* the next step */
	TimestampTz busy_until; /* a backend is taking a step until then */
	TimestampTz next_step;  /* receives take no step before then */
	int         idle_steps; /* walks in a row that changed nothing */
	bool        pending;    /* step 1 done, waiting for the lockers */
	int64       upto;       /* the sequence's last value at step 1 */
	int64       last_upto;  /* upto of the walk before */
	int         nlockers;
	VirtualTransactionId lockers[LOWWATER_MAX_LOCKERS];

	/* spreading concurrent receives (sqsn_lowwater_receive_start) */
	pg_atomic_uint32 receivers;  /* open transactions that leased rows */
	pg_atomic_uint32 leased;     /* the rows they leased */
	int64            lease_hint; /* the highest msg_seq leased lately */
	TimestampTz      head_until; /* a receive walks from the marks till then */
} LowWaterSlot;

/* settings */
static int sqsn_low_water_interval = 100;

static LowWaterSlot *lowwater_slots = NULL;

/* slots this transaction counts as a receive in flight on (it leased rows) */
static LowWaterSlot *counted[LOWWATER_MAX_COUNTED];
static uint32        counted_rows[LOWWATER_MAX_COUNTED];
static int           ncounted = 0;

/*
 * The highest msg_seq this transaction leased, per message table: its next
 * receive there starts past it (see "Several receives in one transaction").
 */
typedef struct OwnLeases
{
	Oid   relid;
	int64 last_leased;
} OwnLeases;

static OwnLeases own_leases[LOWWATER_MAX_COUNTED];
static int       nown = 0;

PG_FUNCTION_INFO_V1(sq_queue_low_water_rows);

static void lowwater_shmem_init(void *ptr);
static void lowwater_xact_callback(XactEvent event, void *arg);

void
LowWaterInit(void)
{
	DefineCustomIntVariable(
		"sqsn.low_water_interval",
		"Time between two steps of a queue's low-water marks taken by its "
		"receives.",
		"0: receives take no step (the background worker and "
		"sqsn.run_maintenance() still do).",
		&sqsn_low_water_interval, 100, 0, 3600 * 1000, PGC_SUSET, GUC_UNIT_MS,
		NULL, NULL, NULL);

	sqsn_shmem_add("sqsn low-water marks",
				   sizeof(LowWaterSlot) * LOWWATER_SLOTS, 0, NULL,
				   lowwater_shmem_init, (void **) &lowwater_slots);
	RegisterXactCallback(lowwater_xact_callback, NULL);
}

static void
lowwater_shmem_init(void *ptr)
{
	LowWaterSlot *slots = (LowWaterSlot *) ptr;

	memset(slots, 0, sizeof(LowWaterSlot) * LOWWATER_SLOTS);
	for (int i = 0; i < LOWWATER_SLOTS; i++)
	{
		SpinLockInit(&slots[i].mutex);
		pg_atomic_init_u32(&slots[i].receivers, 0);
		pg_atomic_init_u32(&slots[i].leased, 0);
	}
}

/* At the end of a transaction its receives are no longer in flight. */
static void
lowwater_xact_callback(XactEvent event, void *arg)
{
	if (ncounted == 0 && nown == 0)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			for (int i = 0; i < ncounted; i++)
			{
				pg_atomic_fetch_sub_u32(&counted[i]->receivers, 1);
				pg_atomic_fetch_sub_u32(&counted[i]->leased, counted_rows[i]);
			}
			ncounted = 0;
			nown = 0;
			break;
		default:
			break;
	}
}

static LowWaterSlot *
slot_for(Oid relid)
{
	uint32 h;

	if (lowwater_slots == NULL)
		return NULL;
	h = hash_combine(murmurhash32((uint32) MyDatabaseId),
					 murmurhash32((uint32) relid));
	return &lowwater_slots[h % LOWWATER_SLOTS];
}

/* Whether the slot holds the marks of this queue (spinlock held). */
static inline bool
owns_table(LowWaterSlot *slot, Oid relid, int64 queue_id)
{
	return slot->dbid == MyDatabaseId && slot->relid == relid &&
		   slot->queue_id == queue_id;
}

#define owns(slot, queue) owns_table(slot, (queue)->relid, (queue)->queue_id)

/*
 * The msg_seq a receive at time now starts after: every row at or below it
 * is deleted or not visible at now. With now DT_NOEND: the hard mark, at
 * or below which every row is deleted. 0 when nothing is known.
 */
int64
sqsn_lowwater_start(SqsnQueue *queue, TimestampTz now)
{
	LowWaterSlot *slot = slot_for(queue->relid);
	int64         after = 0;

	if (slot == NULL || queue->fifo || queue->distributed)
		return 0;
	SpinLockAcquire(&slot->mutex);
	if (owns(slot, queue))
		after = now < slot->soft_until ? slot->soft_after : slot->hard_after;
	SpinLockRelease(&slot->mutex);
	return after;
}

/*
 * Where a receive on a standard queue at time now starts (see "Many
 * receivers at once" at the top of the file). *head_after is where the
 * marks say (sqsn_lowwater_start). The result is *head_after when this
 * receive walks from the marks (*head true: it holds the walk from the
 * marks until sqsn_lowwater_received), or a msg_seq past the rows other
 * receives have leased lately; a receive that starts there and finds too
 * few messages looks again from *head_after.
 */
int64
sqsn_lowwater_receive_start(SqsnQueue *queue, TimestampTz now,
							int64 *head_after, bool *head)
{
	LowWaterSlot *slot = slot_for(queue->relid);
	int64         others;
	int64         others_rows;
	int64         start;

	*head = false;
	*head_after = 0;
	if (slot == NULL || queue->fifo || queue->distributed)
		return 0;

	others = (int64) pg_atomic_read_u32(&slot->receivers);
	others_rows = (int64) pg_atomic_read_u32(&slot->leased);
	for (int i = 0; i < ncounted; i++)
		if (counted[i] == slot)
		{
			/* this transaction's own */
			others--;
			others_rows -= counted_rows[i];
		}

	SpinLockAcquire(&slot->mutex);
	if (owns(slot, queue))
		*head_after =
			now < slot->soft_until ? slot->soft_after : slot->hard_after;
	start = *head_after;
	if ((others <= LOWWATER_SPREAD_RECEIVERS &&
		 others_rows <= LOWWATER_SPREAD_ROWS) ||
		!owns(slot, queue))
		*head = true; /* few in flight: no need to claim the head */
	else if (now >= slot->head_until)
	{
		slot->head_until =
			TimestampTzPlusMilliseconds(now, LOWWATER_HEAD_TIMEOUT_MS);
		*head = true;
	}
	else if (slot->lease_hint > start)
		start = slot->lease_hint;
	SpinLockRelease(&slot->mutex);

	/* past what this transaction leased already */
	for (int i = 0; i < nown; i++)
		if (own_leases[i].relid == queue->relid &&
			own_leases[i].last_leased > start)
			start = own_leases[i].last_leased;
	return start;
}

/* Remembers that this transaction leased rows of relid up to last_leased. */
static void
note_own_leases(Oid relid, int64 last_leased)
{
	for (int i = 0; i < nown; i++)
		if (own_leases[i].relid == relid)
		{
			own_leases[i].last_leased =
				Max(own_leases[i].last_leased, last_leased);
			return;
		}
	if (nown < LOWWATER_MAX_COUNTED)
	{
		own_leases[nown].relid = relid;
		own_leases[nown].last_leased = last_leased;
		nown++;
	}
}

/*
 * A receive that started at sqsn_lowwater_receive_start has leased its
 * nleased rows, the highest being last_leased (0: none): the next receives
 * may start past it, the walk from the marks is free again, and this
 * transaction counts as a receive in flight, with its rows, until it ends.
 */
void
sqsn_lowwater_received(SqsnQueue *queue, int64 last_leased, int nleased,
					   bool head)
{
	LowWaterSlot *slot = slot_for(queue->relid);
	bool          counted_here = false;

	if (slot == NULL || queue->fifo || queue->distributed)
		return;
	SpinLockAcquire(&slot->mutex);
	if (owns(slot, queue))
	{
		if (last_leased > slot->lease_hint)
			slot->lease_hint = last_leased;
		if (head)
			slot->head_until = TimestampTzPlusMilliseconds(
				GetCurrentTimestamp(), LOWWATER_HEAD_PAUSE_MS);
	}
	SpinLockRelease(&slot->mutex);

	if (last_leased == 0)
		return;
	note_own_leases(queue->relid, last_leased);
	for (int i = 0; i < ncounted; i++)
		if (counted[i] == slot)
		{
			counted_here = true;
			counted_rows[i] += nleased;
			pg_atomic_fetch_add_u32(&slot->leased, nleased);
		}
	if (!counted_here && ncounted < LOWWATER_MAX_COUNTED)
	{
		counted_rows[ncounted] = nleased;
		counted[ncounted++] = slot;
		pg_atomic_fetch_add_u32(&slot->receivers, 1);
		pg_atomic_fetch_add_u32(&slot->leased, nleased);
	}
}

/*
 * A message's visibility was changed (sq_change_visibility, after its
 * update): a row below the soft mark may be visible before soft_until.
 */
void
sqsn_lowwater_visibility_changed(SqsnQueue *queue, int64 msg_seq,
								 TimestampTz visible_at)
{
	LowWaterSlot *slot = slot_for(queue->relid);

	/* this transaction's next receive looks from the marks again */
	for (int i = 0; i < nown; i++)
		if (own_leases[i].relid == queue->relid)
			own_leases[i].last_leased = 0;
	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	/* whoever owns the slot: a walk in progress must not publish */
	slot->generation++;
	if (owns(slot, queue) && msg_seq <= slot->soft_after &&
		visible_at < slot->soft_until)
		slot->soft_until = visible_at;
	SpinLockRelease(&slot->mutex);
}

/*
 * A message table was created or dropped: whatever a slot says about a
 * table of that oid is about another table.
 */
void
sqsn_lowwater_forget(Oid relid)
{
	LowWaterSlot *slot = slot_for(relid);

	if (slot == NULL)
		return;
	SpinLockAcquire(&slot->mutex);
	if (slot->dbid == MyDatabaseId && slot->relid == relid)
	{
		slot->dbid = InvalidOid;
		slot->relid = InvalidOid;
		slot->queue_id = 0;
		slot->generation++;
	}
	SpinLockRelease(&slot->mutex);
}

/*
 * The highest msg_seq the table's sequence has handed out (0: none), or
 * -1 when the sequence caches values per session, which would let a value
 * at or below it be drawn later. The sequence is sqsn.message_seq, shared
 * by the queues created since 0.5, or the table's own identity sequence.
 */
static int64
last_drawn_seq(Oid relid)
{
	Relation rel = table_open(relid, AccessShareLock);
	Oid      seqoid = getIdentitySequence(rel, 1, true);
	char    *sql;
	int64    last;
	bool     called;
	int64    cache;

	table_close(rel, AccessShareLock);
	if (!OidIsValid(seqoid))
		seqoid = get_relname_relid("message_seq", sqsn_schema_oid());
	if (!OidIsValid(seqoid))
		return -1;
	sql = psprintf("SELECT s.last_value, s.is_called, p.seqcache"
				   " FROM %s s, pg_catalog.pg_sequence p"
				   " WHERE p.seqrelid OPERATOR(pg_catalog.=) %u",
				   quote_qualified_identifier(
					   get_namespace_name(get_rel_namespace(seqoid)),
					   get_rel_name(seqoid)),
				   seqoid);
	sqsn_spi_check(SPI_execute(sql, true, 1), SPI_OK_SELECT,
				   "reading a message table's sequence");
	if (SPI_processed != 1)
		return -1;
	last = sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	called = sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	cache = sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	if (cache != 1)
		return -1;
	return called ? last : last - 1;
}

/* Whether every transaction on the list has ended (without waiting). */
static bool
lockers_gone(VirtualTransactionId *lockers, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (!VirtualXactLock(lockers[i], false))
			return false;
	}
	return true;
}

/*
 * Walks the primary key after hard_from up to upto with a dirty snapshot
 * and returns the marks it found. soft_from/soft_until_from: a soft mark
 * that still holds, to go on from once the walk is past the deleted rows.
 */
static void
walk(SqsnQueue *queue, int64 hard_from, int64 upto, int64 soft_from,
	 TimestampTz soft_until_from, TimestampTz now, int64 *hard_after,
	 int64 *soft_after, TimestampTz *soft_until)
{
	Relation heap = table_open(queue->relid, AccessShareLock);
	Relation index =
		index_open(RelationGetPrimaryKeyIndex(heap, false), AccessShareLock);
	AttrNumber      visible_att = get_attnum(queue->relid, "visible_at");
	AttrNumber      expires_att = get_attnum(queue->relid, "expires_at");
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	SnapshotData    dirty;
	ScanKeyData     key;
	IndexScanDesc   scan;
	bool            in_hard = true;
	int64           skipped = 0;

	*hard_after = *soft_after = upto;
	*soft_until = DT_NOEND;

	InitDirtySnapshot(dirty);
	ScanKeyInit(&key, 1, BTGreaterStrategyNumber, F_INT8GT,
				Int64GetDatum(hard_from));
	scan = index_beginscan(heap, index, &dirty, NULL, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);

	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool        isnull;
		int64       seq = DatumGetInt64(slot_getattr(slot, 1, &isnull));
		TimestampTz visible_at;
		TimestampTz expires_at;

		CHECK_FOR_INTERRUPTS();
		if (seq > upto)
			break;
		if (in_hard)
		{
			/* the first row not deleted: the hard mark is just below it */
			*hard_after = seq - 1;
			in_hard = false;
			if (soft_from > seq)
			{
				/* the soft mark holds up to soft_from: go on from there */
				*soft_until = soft_until_from;
				ScanKeyInit(&key, 1, BTGreaterStrategyNumber, F_INT8GT,
							Int64GetDatum(soft_from));
				index_rescan(scan, &key, 1, NULL, 0);
				continue;
			}
		}
		/* being inserted, updated or deleted: may be visible at once */
		if (TransactionIdIsValid(dirty.xmin) ||
			TransactionIdIsValid(dirty.xmax))
		{
			*soft_after = seq - 1;
			break;
		}
		visible_at =
			DatumGetTimestampTz(slot_getattr(slot, visible_att, &isnull));
		expires_at =
			DatumGetTimestampTz(slot_getattr(slot, expires_att, &isnull));
		if (expires_at > now && visible_at <= now)
		{
			*soft_after = seq - 1;
			break;
		}
		/* invisible until visible_at, or never again (expired) */
		if (expires_at > now && visible_at < *soft_until)
			*soft_until = visible_at;
		if (++skipped >= LOWWATER_MAX_SKIPPED)
		{
			*soft_after = seq;
			break;
		}
	}

	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, AccessShareLock);
	table_close(heap, AccessShareLock);

	if (*soft_after < *hard_after)
		*soft_after = *hard_after;
}

/*
 * Takes the next step on a queue's marks (see the top of the file): the
 * walk of a step 1 taken earlier if its lockers have ended, then a new
 * step 1. A receive calls it with force false and takes a step only when
 * sqsn.low_water_interval has passed since the last one (longer while the
 * queue is idle) and nobody else is taking one; the worker and
 * sqsn.run_maintenance() call it with force true. Needs a transaction
 * (the walk reads the table) and, for step 1, an SPI connection.
 */
void
sqsn_lowwater_step(SqsnQueue *queue, bool force)
{
	/* the walk may reload the queue's cache entry: keep what it needs */
	SqsnQueue            key = {.relid = queue->relid,
								.queue_id = queue->queue_id,
								.fifo = queue->fifo,
								.distributed = queue->distributed};
	LowWaterSlot        *slot = slot_for(key.relid);
	TimestampTz          now = GetCurrentTimestamp();
	bool                 pending;
	int64                hard_from;
	int64                upto;
	int64                soft_from = 0;
	TimestampTz          soft_until_from = DT_NOEND;
	uint64               generation;
	int                  nlockers;
	VirtualTransactionId lockers[LOWWATER_MAX_LOCKERS];
	int                  idle_steps;

	/* a distributed table's rows are on another node (citus.c) */
	if (slot == NULL || key.fifo || key.distributed ||
		(!force && sqsn_low_water_interval == 0))
		return;
	/* a standby's rows change under replay, not under the locks above */
	if (RecoveryInProgress())
		return;

	SpinLockAcquire(&slot->mutex);
	if (slot->busy_until > now || (!force && now < slot->next_step))
	{
		SpinLockRelease(&slot->mutex);
		return;
	}
	if (!owns(slot, &key))
	{
		/* a free slot, or another queue's: take it over from scratch */
		slot->dbid = MyDatabaseId;
		slot->relid = key.relid;
		slot->queue_id = key.queue_id;
		slot->hard_after = slot->soft_after = 0;
		slot->soft_until = DT_NOEND;
		slot->lease_hint = 0;
		slot->head_until = 0;
		slot->generation++;
		slot->pending = false;
		slot->last_upto = -1;
		slot->idle_steps = 0;
	}
	slot->busy_until =
		TimestampTzPlusMilliseconds(now, LOWWATER_STEP_TIMEOUT_MS);
	pending = slot->pending;
	hard_from = slot->hard_after;
	upto = slot->upto;
	nlockers = slot->nlockers;
	memcpy(lockers, slot->lockers, sizeof(VirtualTransactionId) * nlockers);
	generation = slot->generation;
	if (now < slot->soft_until)
	{
		soft_from = Min(slot->soft_after, upto);
		soft_until_from = slot->soft_until;
	}
	idle_steps = slot->idle_steps;
	SpinLockRelease(&slot->mutex);

	/*
	 * Step 2. Not in a transaction that has written anything: the walk
	 * would take the rows it deleted for gone, and they come back if it
	 * rolls back.
	 */
	if (pending && !TransactionIdIsValid(GetTopTransactionIdIfAny()) &&
		lockers_gone(lockers, nlockers))
	{
		int64       hard_after;
		int64       soft_after;
		TimestampTz soft_until;

		walk(&key, hard_from, upto, soft_from, soft_until_from, now,
			 &hard_after, &soft_after, &soft_until);

		SpinLockAcquire(&slot->mutex);
		if (owns(slot, &key))
		{
			idle_steps =
				(hard_after == slot->hard_after && upto == slot->last_upto)
					? Min(idle_steps + 1, 10)
					: 0;
			slot->idle_steps = idle_steps;
			slot->last_upto = upto;
			slot->hard_after = Max(slot->hard_after, hard_after);
			if (slot->generation == generation)
			{
				slot->soft_after = Max(soft_after, slot->hard_after);
				slot->soft_until = soft_until;
			}
			else if (slot->soft_after < slot->hard_after)
			{
				/* a visibility change came in meanwhile: keep no soft mark */
				slot->soft_after = slot->hard_after;
				slot->soft_until = DT_NOEND;
			}
			slot->pending = false;
		}
		SpinLockRelease(&slot->mutex);
		pending = false;
	}

	/* step 1 */
	if (!pending)
	{
		int64                 last = last_drawn_seq(key.relid);
		LOCKTAG               tag;
		VirtualTransactionId *found = NULL;
		int                   n = 0;

		if (last >= 0)
		{
			SET_LOCKTAG_RELATION(tag, MyDatabaseId, key.relid);
			found = GetLockConflicts(&tag, ShareLock, &n);
		}
		SpinLockAcquire(&slot->mutex);
		if (owns(slot, &key) && last >= 0 && n <= LOWWATER_MAX_LOCKERS)
		{
			slot->upto = last;
			slot->nlockers = n;
			memcpy(slot->lockers, found, sizeof(VirtualTransactionId) * n);
			slot->pending = true;
		}
		SpinLockRelease(&slot->mutex);
	}

	SpinLockAcquire(&slot->mutex);
	slot->busy_until = 0;
	if (owns(slot, &key))
	{
		slot->next_step = TimestampTzPlusMilliseconds(
			now, (int64) sqsn_low_water_interval * (1 + idle_steps));
	}
	SpinLockRelease(&slot->mutex);
}

/*
 * Rows of the sqsn.queue_low_water view: the marks of every queue of this
 * database that has them.
 */
Datum
sq_queue_low_water_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid            schema;

	InitMaterializedSRF(fcinfo, 0);
	if (lowwater_slots == NULL)
		return (Datum) 0;
	schema = get_namespace_oid(SQSN_SCHEMA, false);

	sqsn_spi_connect();
	sqsn_spi_check(SPI_execute("SELECT queue_name, queue_id FROM sqsn.queue"
							   " ORDER BY queue_name",
							   true, 0),
				   SPI_OK_SELECT, "listing queues");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		bool      isnull;
		int64     queue_id = sqsn_spi_int64(tuple, SPI_tuptable->tupdesc, 2);
		Oid       relid =
			get_relname_relid(psprintf("q_" INT64_FORMAT, queue_id), schema);
		LowWaterSlot *slot = slot_for(relid);
		LowWaterSlot  copy;
		Datum         values[4];
		bool          nulls[4] = {false, false, false, false};

		if (!OidIsValid(relid))
			continue;
		SpinLockAcquire(&slot->mutex);
		memcpy(&copy, slot, sizeof(copy));
		SpinLockRelease(&slot->mutex);
		if (copy.dbid != MyDatabaseId || copy.relid != relid)
			continue;

		values[0] = SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull);
		values[1] = Int64GetDatum(copy.hard_after);
		values[2] = Int64GetDatum(copy.soft_after);
		values[3] = TimestampTzGetDatum(copy.soft_until);
		nulls[3] = TIMESTAMP_NOT_FINITE(copy.soft_until);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
