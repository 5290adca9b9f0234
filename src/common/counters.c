/*-------------------------------------------------------------------------
 *
 * counters.c
 *	  Tables of counters in shared memory, one slot per object (a queue, a
 *	  subscription) of any database, found by key without a lock.
 *
 * A table is a fixed array of slots sized at server start. A slot holds
 * its key (the database and 16 bytes the owner chooses), ncounters 64-bit
 * atomic counters and an area of extra bytes the owner uses as it likes
 * under the slot's spinlock (the queue metrics keep cached depth figures
 * there). Incrementing a counter is one atomic add on the slot: no lock,
 * no table write, nothing a transaction waits for.
 *
 * Slots are found by open addressing: an object's slot is one of the
 * COUNTER_MAX_PROBE slots after its hash. A lookup reads without a lock and
 * stops at a slot never used; claiming a slot (the first time an object is
 * counted after a restart) takes the table's spinlock and probes again.
 * When every slot an object may use is taken, the object is not counted:
 * its increments are dropped and added to the table's overflow counter,
 * which the Prometheus exposition shows, so a full table is seen rather
 * than guessed. A slot whose object was dropped is marked dead and can be
 * claimed again (its counters start from zero).
 *
 * Nothing survives a restart: counters start again from zero, which
 * Prometheus-style consumers take as a counter reset. Without the library
 * in shared_preload_libraries there are no tables and nothing is counted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/common.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/spin.h"

#define COUNTER_MAX_PROBE 32

enum
{
	SLOT_FREE = 0, /* never used: a lookup stops here */
	SLOT_USED,
	SLOT_DEAD, /* its object was dropped: may be claimed again */
};

struct SqsnCounterShared
{
	slock_t          mutex; /* claiming and freeing slots */
	int              nslots;
	int              ncounters;
	Size             slot_size;
	pg_atomic_uint64 overflow; /* increments dropped: no slot */
	pg_atomic_uint32 used;
	/* then nslots slots of slot_size bytes */
};

/* A slot; its counters and extra area follow it. */
struct SqsnCounterSlot
{
	pg_atomic_uint32 state;
	slock_t          mutex; /* for the owner's extra area */
	SqsnCounterKey   key;
};
typedef SqsnCounterSlot CounterSlot;

#define SLOT_HEADER MAXALIGN(sizeof(CounterSlot))

static inline Size
slot_size_of(const SqsnCounterTable *table)
{
	return MAXALIGN(SLOT_HEADER + sizeof(pg_atomic_uint64) * table->ncounters +
					table->extra_size);
}

static inline CounterSlot *
slot_at(SqsnCounterShared *shared, int i)
{
	return (CounterSlot *) ((char *) shared +
							MAXALIGN(sizeof(SqsnCounterShared)) +
							(Size) i * shared->slot_size);
}

static void counter_table_init(void *ptr);

/* The tables, for their init callbacks (one per area). */
#define MAX_TABLES 4
static SqsnCounterTable *tables[MAX_TABLES];
static int               ntables = 0;

/*
 * Declares a table: its shared memory is requested with the other areas
 * (shmem.c). *table must live as long as the process (a static); its
 * nslots is read when shared memory is sized.
 */
void
sqsn_counters_define(SqsnCounterTable *table)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	if (ntables == MAX_TABLES)
		elog(ERROR, "too many sqsn counter tables");
	tables[ntables++] = table;
	table->shared = NULL;
	sqsn_shmem_add(table->name, MAXALIGN(sizeof(SqsnCounterShared)),
				   slot_size_of(table), &table->nslots, counter_table_init,
				   (void **) &table->shared);
}

/* Shared memory of a table (run once, in the postmaster) */
static void
counter_table_init(void *ptr)
{
	SqsnCounterShared *shared = (SqsnCounterShared *) ptr;
	SqsnCounterTable  *table = NULL;

	/* shmem.c has set the table's pointer before calling this */
	for (int i = 0; i < ntables; i++)
		if (tables[i]->shared == ptr)
			table = tables[i];
	if (table == NULL)
		elog(FATAL, "sqsn counter table not found");

	SpinLockInit(&shared->mutex);
	shared->nslots = table->nslots;
	shared->ncounters = table->ncounters;
	shared->slot_size = slot_size_of(table);
	pg_atomic_init_u64(&shared->overflow, 0);
	pg_atomic_init_u32(&shared->used, 0);
	for (int i = 0; i < shared->nslots; i++)
	{
		CounterSlot *slot = slot_at(shared, i);

		memset(slot, 0, shared->slot_size);
		pg_atomic_init_u32(&slot->state, SLOT_FREE);
		SpinLockInit(&slot->mutex);
		for (int c = 0; c < shared->ncounters; c++)
			pg_atomic_init_u64(&sqsn_counters_values(slot)[c], 0);
	}
}

static inline uint32
key_hash(const SqsnCounterKey *key)
{
	return hash_bytes((const unsigned char *) key, sizeof(SqsnCounterKey));
}

static inline bool
key_equal(const SqsnCounterKey *a, const SqsnCounterKey *b)
{
	return a->dbid == b->dbid && a->id1 == b->id1 && a->id2 == b->id2;
}

/*
 * The slot of key, or NULL when it has none; with create, claims one when
 * it has none (NULL and an overflow when the table is full). NULL too
 * without the preload.
 */
SqsnCounterSlot *
sqsn_counters_slot(SqsnCounterTable *table, const SqsnCounterKey *key,
				   bool create)
{
	SqsnCounterShared *shared = table->shared;
	uint32             home;
	CounterSlot       *claim = NULL;
	CounterSlot       *found = NULL;

	if (shared == NULL || shared->nslots == 0)
		return NULL;
	home = key_hash(key) % shared->nslots;
	for (int i = 0; i < COUNTER_MAX_PROBE && i < shared->nslots; i++)
	{
		CounterSlot *slot = slot_at(shared, (home + i) % shared->nslots);
		uint32       state = pg_atomic_read_u32(&slot->state);

		if (state == SLOT_FREE)
			break;
		pg_read_barrier();
		if (state == SLOT_USED && key_equal(&slot->key, key))
			return slot;
	}
	if (!create)
		return NULL;

	SpinLockAcquire(&shared->mutex);
	for (int i = 0; i < COUNTER_MAX_PROBE && i < shared->nslots; i++)
	{
		CounterSlot *slot = slot_at(shared, (home + i) % shared->nslots);
		uint32       state = pg_atomic_read_u32(&slot->state);

		if (state == SLOT_USED && key_equal(&slot->key, key))
		{
			found = slot;
			break;
		}
		if (state != SLOT_USED && claim == NULL)
			claim = slot;
		if (state == SLOT_FREE)
			break;
	}
	if (found == NULL && claim != NULL)
	{
		pg_atomic_uint64 *values = sqsn_counters_values(claim);

		claim->key = *key;
		for (int c = 0; c < shared->ncounters; c++)
			pg_atomic_write_u64(&values[c], 0);
		memset((char *) values + sizeof(pg_atomic_uint64) * shared->ncounters,
			   0, table->extra_size);
		pg_write_barrier();
		pg_atomic_write_u32(&claim->state, SLOT_USED);
		pg_atomic_fetch_add_u32(&shared->used, 1);
		found = claim;
	}
	SpinLockRelease(&shared->mutex);
	return found;
}

/*
 * Marks the slot of key dead (its object was dropped): its counts are
 * gone and the slot may serve another object.
 */
void
sqsn_counters_forget(SqsnCounterTable *table, const SqsnCounterKey *key)
{
	CounterSlot *slot = sqsn_counters_slot(table, key, false);

	if (slot == NULL)
		return;
	SpinLockAcquire(&table->shared->mutex);
	if (pg_atomic_read_u32(&slot->state) == SLOT_USED &&
		key_equal(&slot->key, key))
	{
		pg_atomic_write_u32(&slot->state, SLOT_DEAD);
		pg_atomic_fetch_sub_u32(&table->shared->used, 1);
	}
	SpinLockRelease(&table->shared->mutex);
}

/* The counters of a slot (ncounters of them). */
pg_atomic_uint64 *
sqsn_counters_values(SqsnCounterSlot *slot)
{
	return (pg_atomic_uint64 *) ((char *) slot + SLOT_HEADER);
}

/*
 * The owner's extra area of a slot, after its ncounters counters; use it
 * under sqsn_counters_lock / sqsn_counters_unlock.
 */
void *
sqsn_counters_extra(SqsnCounterTable *table, SqsnCounterSlot *slot)
{
	return (char *) sqsn_counters_values(slot) +
		   sizeof(pg_atomic_uint64) * table->ncounters;
}

void
sqsn_counters_lock(SqsnCounterSlot *slot)
{
	SpinLockAcquire(&slot->mutex);
}

void
sqsn_counters_unlock(SqsnCounterSlot *slot)
{
	SpinLockRelease(&slot->mutex);
}

/*
 * Adds n to counter c of key's slot, claiming the slot if need be; counts
 * an overflow when the table is full.
 */
void
sqsn_counters_add(SqsnCounterTable *table, const SqsnCounterKey *key, int c,
				  uint64 n)
{
	SqsnCounterSlot *slot;

	if (table->shared == NULL || n == 0)
		return;
	slot = sqsn_counters_slot(table, key, true);
	if (slot == NULL)
		pg_atomic_fetch_add_u64(&table->shared->overflow, n);
	else
		pg_atomic_fetch_add_u64(&sqsn_counters_values(slot)[c], n);
}

/* upper bounds of the duration histograms' buckets, in seconds */
const double sqsn_duration_buckets[SQSN_DURATION_BUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, -1 /* +Inf */};

/*
 * Adds a duration of ms milliseconds to the histogram of a slot's values:
 * the microseconds to counter sum_us, one to the bucket it falls in (of
 * the SQSN_DURATION_BUCKETS from first_bucket).
 */
void
sqsn_counters_observe(pg_atomic_uint64 *values, int sum_us, int first_bucket,
					  double ms)
{
	int bucket = SQSN_DURATION_BUCKETS - 1;

	for (int i = 0; i < SQSN_DURATION_BUCKETS - 1; i++)
	{
		if (ms <= sqsn_duration_buckets[i] * 1000.0)
		{
			bucket = i;
			break;
		}
	}
	pg_atomic_fetch_add_u64(&values[first_bucket + bucket], 1);
	pg_atomic_fetch_add_u64(&values[sum_us], (uint64) Max(ms * 1000.0, 0.0));
}

/*
 * Reads the counters of key's slot into values[ncounters]; false when it
 * has none (never counted, or no preload).
 */
bool
sqsn_counters_read(SqsnCounterTable *table, const SqsnCounterKey *key,
				   uint64 *values)
{
	SqsnCounterSlot *slot = sqsn_counters_slot(table, key, false);

	if (slot == NULL)
		return false;
	for (int i = 0; i < table->ncounters; i++)
		values[i] = pg_atomic_read_u64(&sqsn_counters_values(slot)[i]);
	return true;
}

/*
 * What a table holds: slots in use, its size, and the increments dropped
 * for want of a slot. False without the preload.
 */
bool
sqsn_counters_usage(SqsnCounterTable *table, int *used, int *nslots,
					uint64 *overflow)
{
	if (table->shared == NULL)
		return false;
	*used = (int) pg_atomic_read_u32(&table->shared->used);
	*nslots = table->shared->nslots;
	*overflow = pg_atomic_read_u64(&table->shared->overflow);
	return true;
}
