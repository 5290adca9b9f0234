/*-------------------------------------------------------------------------
 *
 * due.c
 *	  When each queue next needs the maintenance worker: a shared-memory
 *	  map from (database, queue) to the time its next sweep is due, so that
 *	  a round touches only the queues with something due, however many idle
 *	  queues there are.
 *
 * What the worker does to a queue (queue/maintenance.c) becomes due when a
 * message expires (retention), when a FIFO queue's deduplication records
 * pass their five minutes, and when a changed redrive policy leaves
 * visible messages over the new receive limit. A queue in the map has
 * next_due no later than the earliest of these; a queue not in the map has
 * nothing to do.
 *
 * Who moves next_due earlier: a transaction that inserts messages (send,
 * publish, dead-letter move, redrive) or changes the retention or redrive
 * policy notes the queue and the earliest time it made due, and applies
 * its notes at commit, once its rows are visible to everyone (a rolled
 * back transaction notes nothing). Who moves it later: the worker, after a
 * sweep, sets it to what the table says is due next.
 *
 * Why no note is lost between the two: when the worker takes a queue for a
 * sweep it resets the entry's noted_since, then sweeps and reads the next
 * due time in later transactions, with later snapshots. A commit that
 * noted before the reset has its rows in those snapshots; one after the
 * reset lowers noted_since, and the worker's new next_due is the earlier
 * of the two. A queue whose table turns out empty with nothing noted since
 * leaves the map.
 *
 * The map is a fixed-size shared hash table (sqsn.max_active_queues
 * entries). When it is full, or a transaction notes more queues than it
 * can remember, a flag asks the worker for a full round over every queue,
 * as it also makes when it starts (the map does not survive a restart) and
 * while a prepared transaction exists (its notes would apply only when it
 * commits, in some other session). Without the library preloaded there is
 * no map, and sqsn.run_maintenance() sweeps every queue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/guc.h"

#define DUE_PARTITIONS 16 /* a power of 2 */
#define MAX_NOTES      32 /* queues one transaction remembers */

typedef struct DueKey
{
	Oid   dbid;
	int64 queue_id;
} DueKey;

typedef struct DueEntry
{
	DueKey      key;
	TimestampTz next_due;    /* the worker's next sweep; DT_NOEND: none */
	TimestampTz noted_since; /* earliest noted since the worker's look */
	uint32      flags;       /* DUE_* */
	uint32      noted_flags; /* DUE_* noted since the worker's look */
} DueEntry;

typedef struct DueShared
{
	pg_atomic_uint32 full_round_wanted;
} DueShared;

/* One note of this transaction. */
typedef struct DueNote
{
	int64       queue_id;
	TimestampTz at;
	uint32      flags;
} DueNote;

static int           max_active_queues = 100000;
static HTAB         *due_map = NULL;
static LWLockPadded *due_locks = NULL;
static DueShared    *due_shared = NULL;

static DueNote notes[MAX_NOTES];
static int     nnotes = 0;
static bool    notes_overflowed = false;

static void due_shared_init(void *ptr);
static void due_xact_callback(XactEvent event, void *arg);

/*
 * The setting, the map and the commit callback; called from QueueInit.
 */
void
DueInit(void)
{
	DefineCustomIntVariable(
		"sqsn.max_active_queues",
		"Queues with messages the maintenance worker tracks in shared memory.",
		"With more, its rounds look at every queue.", &max_active_queues,
		100000, 1000, 100000000, PGC_POSTMASTER, 0, NULL, NULL, NULL);
	RegisterXactCallback(due_xact_callback, NULL);
	sqsn_shmem_add("sqsn due queues", sizeof(DueShared), 0, NULL,
				   due_shared_init, (void **) &due_shared);
	sqsn_shmem_add_hash("sqsn due queues map", sizeof(DueKey),
						sizeof(DueEntry), &max_active_queues, DUE_PARTITIONS,
						&due_map, &due_locks);
}

static void
due_shared_init(void *ptr)
{
	DueShared *shared = (DueShared *) ptr;

	/* the map is empty: the worker starts with a full round */
	pg_atomic_init_u32(&shared->full_round_wanted, 1);
}

/* Whether the map exists (the library is preloaded). */
bool
sqsn_due_tracked(void)
{
	return due_map != NULL;
}

/* A queue's place in the map: its key, the key's hash, its partition. */
typedef struct DueSlot
{
	DueKey  key;
	uint32  hash;
	LWLock *lock;
} DueSlot;

/*
 * Looks up the entry of queue queue_id of database dbid (action HASH_FIND,
 * or HASH_ENTER_NULL to add it) with its partition locked in mode; the
 * caller releases slot->lock. NULL: no entry, or no room for one.
 */
static DueEntry *
lock_entry(DueSlot *slot, Oid dbid, int64 queue_id, LWLockMode mode,
		   HASHACTION action, bool *found)
{
	/* the padding is hashed and compared too */
	memset(&slot->key, 0, sizeof(slot->key));
	slot->key.dbid = dbid;
	slot->key.queue_id = queue_id;
	slot->hash = get_hash_value(due_map, &slot->key);
	slot->lock = &due_locks[slot->hash % DUE_PARTITIONS].lock;
	LWLockAcquire(slot->lock, mode);
	return hash_search_with_hash_value(due_map, &slot->key, slot->hash, action,
									   found);
}

/*
 * This transaction made something of a queue due at time at (flags:
 * DUE_CHECK_OVERDUE when its redrive policy changed); applied at commit.
 */
void
sqsn_due_note(int64 queue_id, TimestampTz at, uint32 flags)
{
	if (due_map == NULL)
		return;
	for (int i = 0; i < nnotes; i++)
	{
		if (notes[i].queue_id == queue_id)
		{
			notes[i].at = Min(notes[i].at, at);
			notes[i].flags |= flags;
			return;
		}
	}
	if (nnotes == MAX_NOTES)
	{
		notes_overflowed = true;
		return;
	}
	notes[nnotes].queue_id = queue_id;
	notes[nnotes].at = at;
	notes[nnotes].flags = flags;
	nnotes++;
}

/*
 * Applies this transaction's notes, after its commit: no error may be
 * thrown here, so a full map only asks for a full round.
 */
static void
apply_notes(void)
{
	bool full = notes_overflowed;

	for (int i = 0; i < nnotes; i++)
	{
		DueSlot   slot;
		bool      found;
		DueEntry *entry = lock_entry(&slot, MyDatabaseId, notes[i].queue_id,
									 LW_EXCLUSIVE, HASH_ENTER_NULL, &found);

		if (entry == NULL)
			full = true;
		else if (!found)
		{
			entry->next_due = entry->noted_since = notes[i].at;
			entry->flags = entry->noted_flags = notes[i].flags;
		}
		else
		{
			entry->next_due = Min(entry->next_due, notes[i].at);
			entry->noted_since = Min(entry->noted_since, notes[i].at);
			entry->flags |= notes[i].flags;
			entry->noted_flags |= notes[i].flags;
		}
		LWLockRelease(slot.lock);
	}
	if (full)
		pg_atomic_write_u32(&due_shared->full_round_wanted, 1);
}

static void
due_xact_callback(XactEvent event, void *arg)
{
	if (nnotes == 0 && !notes_overflowed)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			apply_notes();
			break;
		case XACT_EVENT_PREPARE:
			/* committed later, elsewhere: the worker looks at every queue */
			pg_atomic_write_u32(&due_shared->full_round_wanted, 1);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			break;
		default:
			return; /* before the end: keep the notes */
	}
	nnotes = 0;
	notes_overflowed = false;
}

/*
 * Whether the worker should look at every queue this round; the flag is
 * cleared as it is read, so that what happens during the round asks again.
 */
bool
sqsn_due_full_round_wanted(void)
{
	return due_map == NULL ||
		   pg_atomic_exchange_u32(&due_shared->full_round_wanted, 0) != 0;
}

/*
 * The queues of database dbid due at or before now, taken for a sweep:
 * their noted_since is reset (see the top of the file). Returns the number
 * of queue ids in *ids (palloc'd), and in *tracked how many queues of the
 * database the map holds.
 */
int
sqsn_due_take(Oid dbid, TimestampTz now, int64 **ids, int *tracked)
{
	HASH_SEQ_STATUS status;
	DueEntry       *entry;
	int             n = 0;
	int             size = 64;

	*ids = palloc(sizeof(int64) * size);
	*tracked = 0;
	for (int i = 0; i < DUE_PARTITIONS; i++)
		LWLockAcquire(&due_locks[i].lock, LW_EXCLUSIVE);
	hash_seq_init(&status, due_map);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->key.dbid != dbid)
			continue;
		(*tracked)++;
		if (entry->next_due > now)
			continue;
		entry->noted_since = DT_NOEND;
		entry->noted_flags = 0;
		if (n == size)
		{
			size *= 2;
			*ids = repalloc(*ids, sizeof(int64) * size);
		}
		(*ids)[n++] = entry->key.queue_id;
	}
	for (int i = DUE_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&due_locks[i].lock);
	return n;
}

/*
 * A full round takes a queue for a sweep whether or not it is due: the
 * queue gets an entry (or the map is full: false) with nothing noted.
 */
bool
sqsn_due_take_one(Oid dbid, int64 queue_id)
{
	DueSlot   slot;
	DueEntry *entry;
	bool      found;

	if (due_map == NULL)
		return true;
	entry = lock_entry(&slot, dbid, queue_id, LW_EXCLUSIVE, HASH_ENTER_NULL,
					   &found);
	if (entry != NULL)
	{
		if (!found)
		{
			entry->next_due = DT_NOEND;
			entry->flags = 0;
		}
		entry->noted_since = DT_NOEND;
		entry->noted_flags = 0;
	}
	LWLockRelease(slot.lock);
	if (entry == NULL)
		pg_atomic_write_u32(&due_shared->full_round_wanted, 1);
	return entry != NULL;
}

/*
 * The flags (DUE_*) of a queue's entry, for the sweep about to run.
 */
uint32
sqsn_due_flags(Oid dbid, int64 queue_id)
{
	DueSlot   slot;
	DueEntry *entry;
	uint32    flags = 0;

	if (due_map == NULL)
		return 0;
	entry = lock_entry(&slot, dbid, queue_id, LW_SHARED, HASH_FIND, NULL);
	if (entry != NULL)
		flags = entry->flags;
	LWLockRelease(slot.lock);
	return flags;
}

/*
 * After a sweep: the queue is next due at next (DT_NOEND: nothing left)
 * with flags still to act on, or earlier when a commit noted it meanwhile.
 * A queue with nothing due and nothing noted leaves the map; so does a
 * queue that no longer exists (gone true).
 */
void
sqsn_due_reschedule(Oid dbid, int64 queue_id, TimestampTz next, uint32 flags,
					bool gone)
{
	DueSlot   slot;
	DueEntry *entry;

	if (due_map == NULL)
		return;
	entry = lock_entry(&slot, dbid, queue_id, LW_EXCLUSIVE, HASH_FIND, NULL);
	if (entry != NULL)
	{
		entry->next_due = Min(next, entry->noted_since);
		entry->flags = flags | entry->noted_flags;
		if (gone || (entry->next_due == DT_NOEND && entry->flags == 0))
			hash_search_with_hash_value(due_map, &slot.key, slot.hash,
										HASH_REMOVE, NULL);
	}
	LWLockRelease(slot.lock);
}
