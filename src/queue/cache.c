/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  The per-backend queue cache, queue-name validation, the runner of
 *	  statements on a queue's message table, and the access checks that
 *	  read the cached owner and grants.
 *
 * The hot paths (send, receive, delete) must not read sqsn.queue on every
 * call. A backend keeps what it read about each queue, with the saved plans
 * for that queue's message table, in a hash table. Any change to a queue's
 * catalog row is followed by a relcache invalidation of its message table
 * (sq_set_queue_attributes sends one; DROP TABLE sends one itself), and our
 * relcache callback marks the entry stale. Opening a queue locks its message
 * table first and checks the entry afterwards, the same dance as
 * RangeVarGetRelidExtended, so invalidations that arrive with the lock are
 * never missed. The entry also holds the queue's owner and grants
 * (security/acl.c), which change the same way.
 *
 * A stale entry is freed, with its plans, when the transaction ends: nothing
 * uses an entry across transactions, and a stale one would be read again on
 * its next use anyway. So the cache holds only queues in use since their
 * last change, and a session or worker that sees many queues created and
 * dropped keeps nothing of the dropped ones.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"

static SqsnStatement queue_name_stmt = {
	"SELECT queue_name FROM sqsn.queue"
	" WHERE queue_id OPERATOR(pg_catalog.=) $1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.queue"};

/* remaking a queue's plans when its table has grown (replan_if_grown) */
#define REPLAN_CHECK_INTERVAL 64 /* executions between looks at the size */
#define REPLAN_GROWTH         4
#define REPLAN_MIN_GROWTH     16 /* blocks */

static void replan_if_grown(SqsnQueue *queue);

/*
 * The int32 and bool fields of a queue's cache entry and the columns of
 * load_queue's query they are read from. max_receive_count is NULL without
 * a redrive policy, which reads as 0.
 */
typedef struct QueueColumn
{
	int    column;
	size_t offset; /* in SqsnQueue */
} QueueColumn;

static const QueueColumn int_columns[] = {
	{2, offsetof(SqsnQueue, visibility_timeout)},
	{3, offsetof(SqsnQueue, message_retention_period)},
	{4, offsetof(SqsnQueue, delay_seconds)},
	{5, offsetof(SqsnQueue, maximum_message_size)},
	{6, offsetof(SqsnQueue, max_receive_count)},
	{8, offsetof(SqsnQueue, receive_wait_time_seconds)},
};

static const QueueColumn bool_columns[] = {
	{9, offsetof(SqsnQueue, fifo)},
	{10, offsetof(SqsnQueue, content_based_deduplication)},
	{11, offsetof(SqsnQueue, deduplicate_per_group)},
	{12, offsetof(SqsnQueue, encrypted)},
};

static HTAB      *queue_cache = NULL;
static SPIPlanPtr load_queue_plan = NULL;
static bool load_queue_fifo = false; /* load_queue_plan reads FIFO columns */
static bool load_queue_encryption = false; /* ... and the encrypted flag */
static bool queue_cache_stale = false;     /* some entry is marked stale */

static void       queue_cache_callback(Datum arg, Oid relid);
static void       queue_cache_xact_callback(XactEvent event, void *arg);
static SqsnQueue *load_queue(const char *name);
static void       release_queue_entry(SqsnQueue *queue);

/*
 * The queue subsystem's hooks: the cache's invalidation callback, and the
 * shared state of long polling and low-water marks; called from _PG_init.
 */
void
QueueInit(void)
{
	LongPollInit();
	LowWaterInit();
	DueInit();
	QueueMetricsInit();
	CacheRegisterRelcacheCallback(queue_cache_callback, (Datum) 0);
	RegisterXactCallback(queue_cache_xact_callback, NULL);
}

static void
queue_cache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	SqsnQueue      *queue;

	sqsn_forget_handle_key(relid);

	if (queue_cache == NULL)
		return;

	hash_seq_init(&status, queue_cache);
	while ((queue = (SqsnQueue *) hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || queue->relid == relid)
		{
			queue->valid = false;
			queue_cache_stale = true;
		}
	}
}

/*
 * At the end of a transaction, frees the entries marked stale during it
 * (see the top of the file), and the hash table once it is empty.
 */
static void
queue_cache_xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS status;
	SqsnQueue      *queue;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	if (!queue_cache_stale || queue_cache == NULL)
		return;
	queue_cache_stale = false;

	hash_seq_init(&status, queue_cache);
	while ((queue = (SqsnQueue *) hash_seq_search(&status)) != NULL)
	{
		if (queue->valid)
			continue;
		release_queue_entry(queue);
		hash_search(queue_cache, queue->name, HASH_REMOVE, NULL);
	}
	if (hash_get_num_entries(queue_cache) == 0)
	{
		hash_destroy(queue_cache);
		queue_cache = NULL;
	}
}

void
sqsn_validate_queue_name(const char *name)
{
	sqsn_validate_name("queue", name, SQSN_MAX_QUEUE_NAME, NULL);
}

static void
release_queue_entry(SqsnQueue *queue)
{
	sqsn_free_plans(queue->plans, QPLAN_COUNT);
	if (queue->qualified_table)
		pfree(queue->qualified_table);
	if (queue->dead_letter_queue)
		pfree(queue->dead_letter_queue);
	if (queue->fair_cursor)
		pfree(queue->fair_cursor);
	queue->qualified_table = NULL;
	queue->dead_letter_queue = NULL;
	queue->fair_cursor = NULL;
	sqsn_acl_free(&queue->acl);
}

/*
 * Reads a queue's catalog row into the cache. Errors when the queue does
 * not exist. Requires an SPI connection.
 */
static SqsnQueue *
load_queue(const char *name)
{
	Datum         arg = CStringGetTextDatum(name);
	SqsnQueue    *queue;
	TupleDesc     tupdesc;
	HeapTuple     tuple;
	bool          found;
	char          key[SQSN_MAX_QUEUE_NAME + 1];
	char         *relname;
	int           ret;
	MemoryContext oldcxt;

	if (load_queue_plan == NULL ||
		load_queue_fifo != sqsn_catalog_has(SQSN_CATALOG_FIFO) ||
		load_queue_encryption != sqsn_catalog_has(SQSN_CATALOG_ENCRYPTION))
	{
		Oid argtypes[1] = {TEXTOID};

		if (load_queue_plan != NULL)
			SPI_freeplan(load_queue_plan);
		load_queue_plan = NULL;
		load_queue_fifo = sqsn_catalog_has(SQSN_CATALOG_FIFO);
		load_queue_encryption = sqsn_catalog_has(SQSN_CATALOG_ENCRYPTION);
		load_queue_plan = sqsn_prepare_plan(
			psprintf(
				"SELECT q.queue_id, q.visibility_timeout,"
				" q.message_retention_period, q.delay_seconds,"
				" q.maximum_message_size, q.max_receive_count, d.queue_name,"
				" q.receive_wait_time_seconds,"
				" q.kind OPERATOR(pg_catalog.=) 'fifo', %s, %s,"
				" q.owner::pg_catalog.text"
				" FROM sqsn.queue q LEFT JOIN sqsn.queue d"
				"  ON d.queue_id OPERATOR(pg_catalog.=) q.dead_letter_queue_id"
				" WHERE q.queue_name OPERATOR(pg_catalog.=) $1",
				load_queue_fifo ? "q.content_based_deduplication,"
								  " q.deduplication_scope "
								  "OPERATOR(pg_catalog.=) 'message_group'"
								: "false, false",
				load_queue_encryption ? "q.encrypted" : "false"),
			1, argtypes);
	}

	ret = SPI_execute_plan(load_queue_plan, &arg, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading queue \"%s\" failed: %s", name,
			 SPI_result_code_string(ret));

	strlcpy(key, name, sizeof(key));
	if (SPI_processed == 0)
	{
		queue = (SqsnQueue *) hash_search(queue_cache, key, HASH_FIND, NULL);
		if (queue != NULL)
		{
			release_queue_entry(queue);
			hash_search(queue_cache, key, HASH_REMOVE, NULL);
		}
		/* a worker node of a Citus cluster has none: say so */
		sqsn_citus_check_coordinator();
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("queue \"%s\" does not exist", name),
						errhint("Create it with sqsn.sq_create_queue().")));
	}

	queue = (SqsnQueue *) hash_search(queue_cache, key, HASH_ENTER, &found);
	if (found)
		release_queue_entry(queue);
	else
	{
		memset(((char *) queue) + sizeof(queue->name), 0,
			   sizeof(SqsnQueue) - sizeof(queue->name));
	}

	tupdesc = SPI_tuptable->tupdesc;
	tuple = SPI_tuptable->vals[0];

	queue->queue_id = sqsn_spi_int64(tuple, tupdesc, 1);
	for (int i = 0; i < lengthof(int_columns); i++)
		*(int32 *) ((char *) queue + int_columns[i].offset) =
			sqsn_spi_int32(tuple, tupdesc, int_columns[i].column);
	for (int i = 0; i < lengthof(bool_columns); i++)
		*(bool *) ((char *) queue + bool_columns[i].offset) =
			sqsn_spi_bool(tuple, tupdesc, bool_columns[i].column);

	relname = psprintf("q_" INT64_FORMAT, queue->queue_id);
	queue->relid = get_relname_relid(relname, sqsn_schema_oid());
	if (!OidIsValid(queue->relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("message table of queue \"%s\" is missing", name),
				 errhint("Recreate the queue, or restore the table %s.%s.",
						 SQSN_SCHEMA, relname)));

	/* a table made before the 0.5 update has no sender_id until it runs */
	queue->has_sender =
		get_attnum(queue->relid, "sender_id") != InvalidAttrNumber;

	oldcxt = MemoryContextSwitchTo(CacheMemoryContext);
	queue->qualified_table = psprintf("%s.%s", quote_identifier(SQSN_SCHEMA),
									  quote_identifier(relname));
	{
		char *dlq = SPI_getvalue(tuple, tupdesc, 7);

		queue->dead_letter_queue = dlq ? pstrdup(dlq) : NULL;
	}
	MemoryContextSwitchTo(oldcxt);

	/* the owner and grants, with a query of their own (last) */
	sqsn_acl_load(&queue->acl, queue->queue_id,
				  SPI_getvalue(tuple, tupdesc, 13), CacheMemoryContext);

	/* on Citus: whether its rows live on a node of the cluster (citus.c) */
	queue->distributed = sqsn_citus_distributed(queue->relid);

	queue->plan_blocks = -1;
	queue->fair = false;
	queue->fair_checked_at = 0;
	queue->fair_cursor = NULL;
	queue->valid = true;
	return queue;
}

/*
 * Finds a queue by name and locks its message table in lockmode. The entry
 * returned is valid until the next call into this module that may reload
 * it; its plans until the end of the transaction.
 */
SqsnQueue *
sqsn_open_queue(const char *name, LOCKMODE lockmode)
{
	char key[SQSN_MAX_QUEUE_NAME + 1];

	sqsn_validate_queue_name(name);

	if (queue_cache == NULL)
	{
		HASHCTL ctl;

		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(SqsnQueue);
		ctl.hcxt = CacheMemoryContext;
		queue_cache = hash_create("sqsn queue cache", 64, &ctl,
								  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}

	/*
	 * Take in what other sessions committed since this transaction last
	 * locked the queue (a grant revoked, attributes changed), so that it
	 * applies from the next statement on even inside an open transaction
	 * that already holds the lock. Cheap when there is nothing new.
	 */
	AcceptInvalidationMessages();

	strlcpy(key, name, sizeof(key));
	for (;;)
	{
		SqsnQueue *queue;

		queue = (SqsnQueue *) hash_search(queue_cache, key, HASH_FIND, NULL);
		if (queue == NULL || !queue->valid)
			queue = load_queue(name);

		LockRelationOid(queue->relid, lockmode);
		if (queue->valid)
			return queue;

		/* invalidated while we waited for the lock: read it again */
		UnlockRelationOid(queue->relid, lockmode);
	}
}

/*
 * Runs a statement on the queue's message table with its saved plan,
 * prepared on first use (the SQL's %1$s stands for the table) and kept
 * until the cache entry is reloaded. Returns SPI_processed; any result
 * but the statement's expected one is an internal error.
 */
uint64
sqsn_queue_execute(SqsnQueue *queue, const SqsnQueueStatement *stmt,
				   Datum *values, const char *nulls, long count)
{
	SPIPlanPtr *plan = &queue->plans[stmt->plan];
	int         ret;

	if (++queue->executions % REPLAN_CHECK_INTERVAL == 0 ||
		queue->plan_blocks < 0)
		replan_if_grown(queue);
	/*
	 * Citus plans a distributed table's statements with their parameters'
	 * values (it cannot plan an INSERT ... SELECT generically), and prunes
	 * to the queue's one shard either way.
	 */
	if (*plan == NULL)
		*plan = sqsn_prepare_plan_with(
			psprintf(stmt->sql, queue->qualified_table), stmt->nargs,
			(Oid *) stmt->argtypes,
			queue->distributed ? CURSOR_OPT_CUSTOM_PLAN
							   : CURSOR_OPT_GENERIC_PLAN);
	ret = SPI_execute_plan(*plan, values, nulls, false, count);
	if (ret != stmt->expected)
		elog(ERROR, "%s queue \"%s\" failed: %s", stmt->what, queue->name,
			 SPI_result_code_string(ret));
	return SPI_processed;
}

/*
 * A saved plan stays until the queue's cache entry is reloaded, and
 * PostgreSQL remakes a generic plan only when the table's statistics
 * change. A plan made while the message table was small (a join or a
 * delete by sequential scan, a sort instead of the primary key) costs a
 * scan of the whole table per call once the queue has a backlog, until
 * autovacuum's next ANALYZE. So every REPLAN_CHECK_INTERVAL executions
 * the table's size is compared with the size the plans were made for, and
 * the plans are remade when it has grown REPLAN_GROWTH-fold (and by more
 * than REPLAN_MIN_GROWTH blocks): the planner then sees the table as it is.
 * Shrinking needs nothing: the plans for a large table suit a small one.
 */
static void
replan_if_grown(SqsnQueue *queue)
{
	Relation    rel = RelationIdGetRelation(queue->relid);
	BlockNumber blocks;

	if (!RelationIsValid(rel))
		return;
	blocks = RelationGetNumberOfBlocks(rel);
	RelationClose(rel);
	if (queue->plan_blocks < 0)
		queue->plan_blocks = blocks;
	else if (blocks > queue->plan_blocks * REPLAN_GROWTH + REPLAN_MIN_GROWTH)
	{
		sqsn_free_plans(queue->plans, QPLAN_COUNT);
		queue->plan_blocks = blocks;
	}
}

/*
 * Whether roleid may do action (SQSN_SEND, ...; SQSN_ANY_ACTION: any of
 * them) on the queue. No query: the cache entry has the owner and grants.
 */
bool
sqsn_queue_allows(SqsnQueue *queue, Oid roleid, int action)
{
	return sqsn_acl_allows(&queue->acl, roleid, action);
}

/*
 * Whether the role named role_name may do action on the queue: the check
 * made for a subscription's owner, who is not the calling role. True when
 * the catalog has no access policies (before 0.3); false when the role no
 * longer exists.
 */
bool
sqsn_queue_allows_role(SqsnQueue *queue, const char *role_name, int action)
{
	Oid roleid;

	if (!queue->acl.enforced)
		return true;
	roleid = role_name ? get_role_oid(role_name, true) : InvalidOid;
	return OidIsValid(roleid) && sqsn_queue_allows(queue, roleid, action);
}

/*
 * Errors with 42501 unless the calling role may do action on the queue.
 */
void
sqsn_check_queue(SqsnQueue *queue, int action)
{
	sqsn_acl_check(&queue->acl, queue->name, action);
}

/*
 * The name of a queue by id, or NULL when it no longer exists. Requires
 * SPI.
 */
char *
sqsn_queue_name_of(int64 queue_id)
{
	Datum value = Int64GetDatum(queue_id);

	if (sqsn_execute(&queue_name_stmt, &value, NULL, 1) == 0)
		return NULL;
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * The check for a queue known by id (a dead-letter queue in a redrive
 * policy); no check when the id is 0 or the queue no longer exists.
 * Requires SPI.
 */
void
sqsn_check_queue_id(int64 queue_id, int action)
{
	char *name;

	if (queue_id == 0)
		return;
	name = sqsn_queue_name_of(queue_id);
	if (name != NULL)
		sqsn_check_queue(sqsn_open_queue(name, RowExclusiveLock), action);
}

/*
 * Forgets every cached queue and what PostgreSQL's relation and catalog
 * caches hold for tables not in use, so that a process that has touched
 * many queues (the maintenance worker, an endpoint worker) gives the
 * memory back. Must run inside a transaction in which no queue is in use.
 */
void
sqsn_queue_cache_trim(void)
{
	HASH_SEQ_STATUS status;
	SqsnQueue      *queue;

	if (queue_cache != NULL)
	{
		hash_seq_init(&status, queue_cache);
		while ((queue = (SqsnQueue *) hash_seq_search(&status)) != NULL)
		{
			release_queue_entry(queue);
			hash_search(queue_cache, queue->name, HASH_REMOVE, NULL);
		}
	}
	InvalidateSystemCaches();
}

/*
 * sqsn_queue_cache_trim, when the cache holds more than limit queues.
 */
void
sqsn_queue_cache_limit(int limit)
{
	if (queue_cache != NULL && hash_get_num_entries(queue_cache) > limit)
		sqsn_queue_cache_trim();
}
