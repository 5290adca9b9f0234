/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared memory and background workers, registered from _PG_init.
 *
 * Each subsystem that keeps state in shared memory names its area, says how
 * large it is and how to initialise it; one pair of hooks (chained to the
 * hooks of other libraries, as PostgreSQL asks) requests all the areas at
 * shmem_request time and creates them at shmem_startup under
 * AddinShmemInitLock. An area that ends in an array whose length is a
 * setting is sized only at request time, after _PG_init has read every
 * setting.
 *
 * A shared hash table is an area of its own kind: its entries are all
 * allocated when it is created (a full table refuses new entries, it
 * never grows), and it comes with a tranche of LWLocks, one per partition
 * of its hash space, that its users take around every access.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/common.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#define MAX_AREAS  16
#define MAX_HASHES 4

typedef struct ShmemArea
{
	const char   *name;
	Size          size;      /* fixed part */
	Size          elem_size; /* and *count elements of this size */
	const int    *count;
	SqsnShmemInit init;
	void        **ptr;
} ShmemArea;

typedef struct ShmemHash
{
	const char    *name;
	Size           keysize;
	Size           entrysize;
	const int     *max_entries;
	int            partitions;
	HTAB         **table;
	LWLockPadded **locks; /* the tranche's locks */
} ShmemHash;

static ShmemArea areas[MAX_AREAS];
static int       nareas = 0;
static ShmemHash hashes[MAX_HASHES];
static int       nhashes = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size area_size(const ShmemArea *area);
static void sqsn_shmem_request(void);
static void sqsn_shmem_startup(void);

/* Installs the hooks once, when the first area or hash is added. */
static void
install_hooks(void)
{
	if (nareas > 0 || nhashes > 0)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = sqsn_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = sqsn_shmem_startup;
}

/*
 * Adds a shared-memory area named name: size bytes, followed by *count
 * elements of elem_size bytes when count is not NULL (*count is read when
 * the area is sized), initialised by init(ptr) when it is created, its
 * address stored in *ptr in every process. Only while the library is
 * being preloaded; otherwise *ptr stays NULL and the subsystem works
 * without it.
 */
void
sqsn_shmem_add(const char *name, Size size, Size elem_size, const int *count,
			   SqsnShmemInit init, void **ptr)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	if (nareas == MAX_AREAS)
		elog(ERROR, "too many sqsn shared memory areas");
	install_hooks();
	areas[nareas].name = name;
	areas[nareas].size = size;
	areas[nareas].elem_size = elem_size;
	areas[nareas].count = count;
	areas[nareas].init = init;
	areas[nareas].ptr = ptr;
	nareas++;
}

/*
 * Adds a shared hash table named name of at most *max_entries entries
 * (read when it is sized) of entrysize bytes, the first keysize of them the
 * key, with partitions LWLocks (a power of 2) for its users to take around
 * every access; *table and *locks are set in every process. Only while the
 * library is being preloaded; otherwise both stay NULL.
 */
void
sqsn_shmem_add_hash(const char *name, Size keysize, Size entrysize,
					const int *max_entries, int partitions, HTAB **table,
					LWLockPadded **locks)
{
	if (!process_shared_preload_libraries_in_progress)
		return;
	if (nhashes == MAX_HASHES)
		elog(ERROR, "too many sqsn shared hash tables");
	install_hooks();
	hashes[nhashes].name = name;
	hashes[nhashes].keysize = keysize;
	hashes[nhashes].entrysize = entrysize;
	hashes[nhashes].max_entries = max_entries;
	hashes[nhashes].partitions = partitions;
	hashes[nhashes].table = table;
	hashes[nhashes].locks = locks;
	nhashes++;
}

static Size
area_size(const ShmemArea *area)
{
	if (area->count == NULL)
		return area->size;
	return add_size(area->size, mul_size(area->elem_size, *area->count));
}

static void
sqsn_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	for (int i = 0; i < nareas; i++)
		RequestAddinShmemSpace(MAXALIGN(area_size(&areas[i])));
	for (int i = 0; i < nhashes; i++)
	{
		RequestAddinShmemSpace(
			hash_estimate_size(*hashes[i].max_entries, hashes[i].entrysize));
		RequestNamedLWLockTranche(hashes[i].name, hashes[i].partitions);
	}
}

static void
sqsn_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (int i = 0; i < nareas; i++)
	{
		bool found;

		*areas[i].ptr =
			ShmemInitStruct(areas[i].name, area_size(&areas[i]), &found);
		if (!found)
			areas[i].init(*areas[i].ptr);
	}
	for (int i = 0; i < nhashes; i++)
	{
		HASHCTL ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = hashes[i].keysize;
		ctl.entrysize = hashes[i].entrysize;
		ctl.num_partitions = hashes[i].partitions;
		*hashes[i].table = ShmemInitHash(
			hashes[i].name, *hashes[i].max_entries, *hashes[i].max_entries,
			&ctl, HASH_ELEM | HASH_BLOBS | HASH_PARTITION | HASH_FIXED_SIZE);
		*hashes[i].locks = GetNamedLWLockTranche(hashes[i].name);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Registers a background worker of the library, connected to a database
 * and restarted restart_seconds after it dies. name shows in the log, type
 * in pg_stat_activity.backend_type.
 *
 * A worker that writes starts once recovery has finished: on a standby
 * the postmaster starts it when the server is promoted, without a restart.
 * With on_standby, it also runs on a hot standby, from the moment the
 * standby is consistent, and must itself refuse to write until the
 * promotion (RecoveryInProgress()).
 */
void
sqsn_register_worker(const char *function_name, const char *name,
					 const char *type, int restart_seconds, bool on_standby,
					 Datum main_arg)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags =
		BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = on_standby ? BgWorkerStart_ConsistentState
									   : BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = restart_seconds;
	strlcpy(worker.bgw_library_name, "sqsn", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, function_name, BGW_MAXLEN);
	strlcpy(worker.bgw_name, name, BGW_MAXLEN);
	strlcpy(worker.bgw_type, type, BGW_MAXLEN);
	worker.bgw_main_arg = main_arg;
	RegisterBackgroundWorker(&worker);
}
