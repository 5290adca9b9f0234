/*-------------------------------------------------------------------------
 *
 * fifo.c
 *	  FIFO queues: message groups delivered in order to one consumer at a
 *	  time, and deduplication of sends within five minutes.
 *
 * A queue whose name ends in ".fifo" is FIFO. Its message table has, besides
 * the primary key on msg_seq, an index on (message_group_id, msg_seq), and
 * msg_seq is the message's sequence number.
 *
 * Receive. The messages of a group are leased only as a prefix: from the
 * group's first live message (its head) onwards, as long as they are
 * visible. So the messages a consumer holds are always the first ones of
 * their group, and a group with a message in flight has an invisible head.
 * A receive therefore:
 *
 *	 1. finds candidate groups: visible messages that are the head of their
 *		group (no earlier live message in the group), in msg_seq order,
 *		without locking anything;
 *	 2. for each candidate, tries a transaction-level lock on the group (a
 *		lock tag of its own kind, see group_locktag), without waiting: a
 *		group another receive is working on is skipped, so concurrent
 *		consumers spread over groups and never block each other;
 *	 3. with the group lock held, in a new statement -- whose snapshot
 *		sees whatever the previous holder of the lock committed, since locks
 *		are released after the commit becomes visible -- locks the group's
 *		first messages FOR UPDATE (the newest row versions: a concurrent
 *		delete or change of visibility by the holder of an old receipt
 *		handle is waited for, not overlooked) and leases those before the
 *		first invisible one.
 *
 * The group lock of a group something was leased from is kept until the
 * transaction ends, so no other receive can look at the group before the
 * lease is visible; a group that yielded nothing is unlocked at once. A
 * message over the receive limit is moved to the dead-letter queue (itself
 * FIFO) instead of being returned, which unblocks its group: the receive
 * looks at the group again. In REPEATABLE READ or SERIALIZABLE a receive
 * that meets a lease committed after its snapshot fails with a
 * serialization error instead of handing out a message twice.
 *
 * Step 1 skips the visible messages that queue up behind an in-flight
 * head; a very long backlog in groups that are all in flight makes it
 * read more (see README, limits).
 *
 * Deduplication. sqsn.fifo_dedup holds one row per (queue, scope, id): the
 * scope is '' for deduplication_scope 'queue' and the group id for
 * 'message_group'. A send inserts its row with ON CONFLICT: a live row
 * (less than five minutes old) makes the send a duplicate that returns the
 * first message's id, an expired one is taken over. Two sessions sending
 * the same id at once meet on the primary key: the second waits for the
 * first to end, then is a duplicate of it, or stores its own message when
 * the first rolled back. The rows outlive the messages (the window counts
 * from the send) and the maintenance sweep removes expired ones.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/sha2.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/uuid.h"

/*
 * The group's first limit live messages, locked FOR UPDATE, each with
 * "ok": it and every one before it are visible. Used by both statements
 * below as the subquery "s"; %1$s is the message table.
 */
#define GROUP_PREFIX_SQL                                                      \
	"(SELECT h.msg_seq, pg_catalog.bool_and(h.visible_at "                    \
	"OPERATOR(pg_catalog.<=) $1)"                                             \
	"  OVER (ORDER BY h.msg_seq) AS ok"                                       \
	" FROM (SELECT c.msg_seq, c.visible_at FROM %1$s c"                       \
	"  WHERE c.message_group_id OPERATOR(pg_catalog.=) $2"                    \
	"   AND c.expires_at OPERATOR(pg_catalog.>) $1"                           \
	"  ORDER BY c.msg_seq LIMIT $3 FOR UPDATE) h) s"

/* Statements on a queue's message table (%1$s), run by sqsn_queue_execute */

static const SqsnQueueStatement fifo_heads_stmt = {
	QPLAN_FIFO_HEADS,
	"SELECT c.msg_seq, c.message_group_id FROM %1$s c"
	" WHERE c.msg_seq OPERATOR(pg_catalog.>) $3"
	"  AND c.visible_at OPERATOR(pg_catalog.<=) $1"
	"  AND c.expires_at OPERATOR(pg_catalog.>) $1"
	"  AND NOT EXISTS (SELECT FROM %1$s p"
	"   WHERE p.message_group_id OPERATOR(pg_catalog.=) "
	"c.message_group_id"
	"    AND p.msg_seq OPERATOR(pg_catalog.<) c.msg_seq"
	"    AND p.expires_at OPERATOR(pg_catalog.>) $1)"
	" ORDER BY c.msg_seq LIMIT $2",
	3,
	{TIMESTAMPTZOID, INT4OID, INT8OID},
	SPI_OK_SELECT,
	"reading"};

static const SqsnQueueStatement fifo_lease_stmt = {
	QPLAN_FIFO_LEASE,
	"UPDATE %1$s m SET visible_at = $4, lease_token = $5,"
	" receive_count = m.receive_count OPERATOR(pg_catalog.+) 1,"
	" first_received_at = COALESCE(m.first_received_at, $1)"
	" FROM " GROUP_PREFIX_SQL
	" WHERE m.msg_seq OPERATOR(pg_catalog.=) s.msg_seq AND s.ok"
	" RETURNING " SQSN_RECEIVE_COLUMNS("m"),
	5,
	{TIMESTAMPTZOID, TEXTOID, INT4OID, TIMESTAMPTZOID, INT8OID},
	SPI_OK_UPDATE_RETURNING,
	"receiving from"};

static const SqsnQueueStatement fifo_lock_stmt = {
	QPLAN_FIFO_LOCK,
	"SELECT " SQSN_RECEIVE_COLUMNS(
		"m") ", m.source_queue_id"
			 " FROM %1$s m, " GROUP_PREFIX_SQL
			 " WHERE m.msg_seq OPERATOR(pg_catalog.=) "
			 "s.msg_seq AND s.ok",
	3,
	{TIMESTAMPTZOID, TEXTOID, INT4OID},
	SPI_OK_SELECT,
	"reading"};

/* lock tag field4 of group locks; user advisory locks use 1 and 2 */
#define GROUP_LOCK_KIND      0x5153
#define GROUP_SEND_LOCK_KIND 0x5154

/* extra candidate groups read per receive, to step over locked ones */
#define EXTRA_CANDIDATES 16

/* Statements on sqsn.fifo_dedup, run by sqsn_execute */

static SqsnStatement dedup_stmt = {
	"INSERT INTO sqsn.fifo_dedup AS d (queue_id, scope_key,"
	" deduplication_id, message_id, expires_at)"
	" VALUES ($1, $2, $3, $4, $5)"
	" ON CONFLICT (queue_id, scope_key, deduplication_id)"
	" DO UPDATE SET"
	"  message_id = CASE WHEN d.expires_at OPERATOR(pg_catalog.<=) $6"
	"   THEN excluded.message_id ELSE d.message_id END,"
	"  expires_at = CASE WHEN d.expires_at OPERATOR(pg_catalog.<=) $6"
	"   THEN excluded.expires_at ELSE d.expires_at END"
	" RETURNING d.message_id",
	6,
	{INT8OID, TEXTOID, TEXTOID, UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID},
	SPI_OK_INSERT_RETURNING,
	"recording a deduplication id"};

/* the same for a FIFO topic, which also keeps the first sequence number */
static SqsnStatement topic_dedup_stmt = {
	"INSERT INTO sqsn.fifo_dedup AS d (queue_id, scope_key,"
	" deduplication_id, message_id, expires_at, sequence_number)"
	" VALUES ($1, '', $2, $3, $4, $6)"
	" ON CONFLICT (queue_id, scope_key, deduplication_id)"
	" DO UPDATE SET"
	"  message_id = CASE WHEN d.expires_at OPERATOR(pg_catalog.<=) $5"
	"   THEN excluded.message_id ELSE d.message_id END,"
	"  sequence_number = CASE WHEN d.expires_at OPERATOR(pg_catalog.<=) $5"
	"   THEN excluded.sequence_number ELSE d.sequence_number END,"
	"  expires_at = CASE WHEN d.expires_at OPERATOR(pg_catalog.<=) $5"
	"   THEN excluded.expires_at ELSE d.expires_at END"
	" RETURNING d.message_id, d.sequence_number",
	6,
	{INT8OID, TEXTOID, UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID},
	SPI_OK_INSERT_RETURNING,
	"recording a deduplication id"};

static SqsnStatement dedup_expire_stmt = {
	"DELETE FROM sqsn.fifo_dedup d"
	" WHERE d.ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
	"  SELECT c.ctid FROM sqsn.fifo_dedup c"
	"  WHERE c.queue_id OPERATOR(pg_catalog.=) $1"
	"   AND c.expires_at OPERATOR(pg_catalog.<=) $2"
	"  LIMIT $3 FOR UPDATE SKIP LOCKED))"
	" AND d.expires_at OPERATOR(pg_catalog.<=) $2",
	3,
	{INT8OID, TIMESTAMPTZOID, INT4OID},
	SPI_OK_DELETE,
	"deleting deduplication records"};

static SqsnStatement topic_dedup_expire_stmt = {
	"DELETE FROM sqsn.fifo_dedup d"
	" WHERE d.ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
	"  SELECT c.ctid FROM sqsn.fifo_dedup c"
	"  WHERE c.queue_id OPERATOR(pg_catalog.<) 0"
	"   AND c.expires_at OPERATOR(pg_catalog.<=) $1"
	"  LIMIT $2 FOR UPDATE SKIP LOCKED))"
	" AND d.expires_at OPERATOR(pg_catalog.<=) $1",
	2,
	{TIMESTAMPTZOID, INT4OID},
	SPI_OK_DELETE,
	"deleting deduplication records of topics"};

static SqsnStatement dedup_next_expiry_stmt = {
	"SELECT pg_catalog.min(expires_at) FROM sqsn.fifo_dedup"
	" WHERE queue_id OPERATOR(pg_catalog.=) $1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading deduplication records"};

static SqsnStatement dedup_forget_stmt = {
	"DELETE FROM sqsn.fifo_dedup"
	" WHERE queue_id OPERATOR(pg_catalog.=) $1",
	1,
	{INT8OID},
	SPI_OK_DELETE,
	"deleting deduplication records"};

static void   group_locktag(LOCKTAG *tag, int64 queue_id, const char *group);
static char  *lock_head_group(SqsnQueue *queue, SPITupleTable *heads, uint64 h,
							  int64 *after, LOCKTAG *tag);
static uint64 find_heads(SqsnQueue *queue, TimestampTz now, int64 after,
						 int limit);
static uint64 lease_group(SqsnQueue *queue, const char *group, TimestampTz now,
						  int limit, TimestampTz lease_until,
						  int64 lease_token);
static uint64 lock_group_prefix(SqsnQueue *queue, const char *group,
								TimestampTz now, int limit);

/*
 * A message group id or deduplication id: 1..128 characters, letters,
 * digits and punctuation (printable ASCII without space), as in the
 * managed service.
 */
void
sqsn_validate_fifo_tag(const char *argname, const char *value)
{
	size_t len = strlen(value);

	if (len == 0 || len > SQSN_MAX_FIFO_TAG)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s must have 1 to %d characters", argname,
							   SQSN_MAX_FIFO_TAG)));
	for (const char *p = value; *p; p++)
	{
		if (*p < 0x21 || *p > 0x7e)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("invalid character in %s", argname),
							errdetail("Use letters, digits and punctuation "
									  "(printable ASCII without spaces).")));
	}
}

/*
 * The deduplication id of a body under content-based deduplication: the
 * SHA-256 of the body, in hex.
 */
char *
sqsn_content_deduplication_id(text *body)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8              digest[PG_SHA256_DIGEST_LENGTH];
	char              *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (uint8 *) VARDATA_ANY(body),
							 VARSIZE_ANY_EXHDR(body)) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute SHA-256: %s", pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
	hex_encode((char *) digest, sizeof(digest), hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

/*
 * The id of the message a duplicate repeats, copied out of SPI's memory
 * (current after a statement, freed by SPI_finish) into the memory of the
 * caller that connected, which returns it.
 */
static pg_uuid_t *
repeated_id(pg_uuid_t *id)
{
	pg_uuid_t *copy = SPI_palloc(sizeof(pg_uuid_t));

	memcpy(copy, id, sizeof(pg_uuid_t));
	return copy;
}

/*
 * Records a deduplication id for five minutes from sent_at under owner
 * (a queue's id, or minus a FIFO topic's id) and scope_key. Returns
 * message_id when the id is new, or the id of the message a live record
 * names. Requires an SPI connection.
 */
static pg_uuid_t *
deduplicate(int64 owner, const char *scope_key, const char *deduplication_id,
			pg_uuid_t *message_id, TimestampTz sent_at)
{
	Datum      values[6];
	bool       isnull;
	pg_uuid_t *id;
	int        ret;

	values[0] = Int64GetDatum(owner);
	values[1] = CStringGetTextDatum(scope_key);
	values[2] = CStringGetTextDatum(deduplication_id);
	values[3] = UUIDPGetDatum(message_id);
	values[4] =
		TimestampTzGetDatum(sqsn_add_seconds(sent_at, SQSN_DEDUP_WINDOW));
	values[5] = TimestampTzGetDatum(sent_at);

	ret = sqsn_run_statement(&dedup_stmt, values, NULL, 0);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "%s failed: %s", dedup_stmt.what,
			 SPI_result_code_string(ret));
	id = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 1, &isnull));
	if (memcmp(id->data, message_id->data, UUID_LEN) == 0)
		return message_id;
	return repeated_id(id);
}

/*
 * Records msg's deduplication id in its FIFO queue (by queue or by group,
 * as the queue says). Returns msg's own id when it is new (the caller
 * stores the message), or the id of the message it repeats (the caller
 * stores nothing).
 */
pg_uuid_t *
sqsn_fifo_deduplicate(SqsnQueue *queue, OutgoingMessage *msg)
{
	return deduplicate(queue->queue_id,
					   queue->deduplicate_per_group ? msg->group_id : "",
					   msg->deduplication_id, msg->message_id, msg->sent_at);
}

/*
 * The same for a publish to a FIFO topic: one scope per topic.
 * *sequence_number is the publish's own sequence number (0: none); for a
 * duplicate it becomes the first publish's (0 when that one has none: it
 * was recorded before the catalog kept sequence numbers).
 */
pg_uuid_t *
sqsn_fifo_deduplicate_publish(int64 topic_id, const char *deduplication_id,
							  pg_uuid_t *message_id, int64 *sequence_number)
{
	TimestampTz now = GetCurrentTimestamp();
	Datum       values[6];
	char        nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool        isnull;
	Datum       d;
	pg_uuid_t  *id;

	if (*sequence_number == 0)
		return deduplicate(-topic_id, "", deduplication_id, message_id, now);
	values[0] = Int64GetDatum(-topic_id);
	values[1] = CStringGetTextDatum(deduplication_id);
	values[2] = UUIDPGetDatum(message_id);
	values[3] = TimestampTzGetDatum(sqsn_add_seconds(now, SQSN_DEDUP_WINDOW));
	values[4] = TimestampTzGetDatum(now);
	values[5] = Int64GetDatum(*sequence_number);
	if (sqsn_execute(&topic_dedup_stmt, values, nulls, 0) != 1)
		elog(ERROR, "%s returned no row", topic_dedup_stmt.what);
	id = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 1, &isnull));
	if (memcmp(id->data, message_id->data, UUID_LEN) == 0)
		return message_id;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
					  &isnull);
	*sequence_number = isnull ? 0 : DatumGetInt64(d);
	return repeated_id(id);
}

/*
 * Deletes up to batch_size expired deduplication records of a queue;
 * returns how many.
 */
int64
sqsn_fifo_expire_deduplication(SqsnQueue *queue, TimestampTz now,
							   int batch_size)
{
	Datum values[3] = {Int64GetDatum(queue->queue_id),
					   TimestampTzGetDatum(now), Int32GetDatum(batch_size)};
	int   ret = sqsn_run_statement(&dedup_expire_stmt, values, NULL, 0);

	if (ret != SPI_OK_DELETE)
		elog(ERROR, "%s of queue \"%s\" failed: %s", dedup_expire_stmt.what,
			 queue->name, SPI_result_code_string(ret));
	return (int64) SPI_processed;
}

/*
 * When the queue's oldest deduplication record ends (DT_NOEND: it has
 * none), for the worker's next sweep. Requires an SPI connection.
 */
TimestampTz
sqsn_fifo_next_expiry(SqsnQueue *queue)
{
	Datum value = Int64GetDatum(queue->queue_id);
	bool  isnull;
	Datum d;

	sqsn_execute(&dedup_next_expiry_stmt, &value, NULL, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
					  &isnull);
	return isnull ? DT_NOEND : DatumGetTimestampTz(d);
}

/*
 * Deletes up to batch_size expired deduplication records of FIFO topics;
 * returns true when the batch was full. Does nothing before the catalog
 * has FIFO support. Requires an SPI connection.
 */
bool
sqsn_sweep_topic_deduplication(int batch_size)
{
	Datum values[2] = {TimestampTzGetDatum(GetCurrentTimestamp()),
					   Int32GetDatum(batch_size)};

	if (!sqsn_catalog_has(SQSN_CATALOG_FIFO))
		return false;
	return sqsn_execute(&topic_dedup_expire_stmt, values, NULL, 0) >=
		   (uint64) batch_size;
}

/*
 * Deletes every deduplication record of a queue (the queue is being
 * deleted).
 */
void
sqsn_fifo_forget_queue(int64 queue_id)
{
	Datum value = Int64GetDatum(queue_id);

	sqsn_execute(&dedup_forget_stmt, &value, NULL, 0);
}

static int
compare_uint32(const void *a, const void *b)
{
	uint32 x = *(const uint32 *) a;
	uint32 y = *(const uint32 *) b;

	return (x > y) - (x < y);
}

/*
 * The lock tag of one message group of one queue: an advisory-lock tag of
 * this database with a field4 no SQL-level advisory lock uses. Two groups
 * whose names hash alike share a lock, which only makes them wait for each
 * other's turn.
 */
static void
group_locktag(LOCKTAG *tag, int64 queue_id, const char *group)
{
	uint32 hash =
		hash_bytes((const unsigned char *) group, (int) strlen(group));

	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) queue_id, hash,
						 GROUP_LOCK_KIND);
}

/*
 * Before messages are inserted into a FIFO queue: locks each of their
 * groups against other senders until the transaction ends, waiting for a
 * transaction that is sending to the group. msg_seq is taken at insert
 * time, so without this a send that commits late could put a message
 * before one of the same group that a consumer already holds, and the
 * group's in-flight messages would no longer be its first ones. Senders of
 * one group therefore commit in msg_seq order; receives do not take this
 * lock. Groups are locked in hash order, so two batches naming the same
 * groups do not deadlock.
 */
void
sqsn_fifo_lock_groups_for_send(SqsnQueue *queue, OutgoingMessage *msgs, int n)
{
	uint32 *hashes = palloc(sizeof(uint32) * n);
	int     nhashes = 0;

	for (int i = 0; i < n; i++)
	{
		if (msgs[i].group_id != NULL)
			hashes[nhashes++] =
				hash_bytes((const unsigned char *) msgs[i].group_id,
						   (int) strlen(msgs[i].group_id));
	}
	if (nhashes > 1)
		qsort(hashes, nhashes, sizeof(uint32), compare_uint32);
	for (int i = 0; i < nhashes; i++)
	{
		LOCKTAG tag;

		if (i > 0 && hashes[i] == hashes[i - 1])
			continue;
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) queue->queue_id,
							 hashes[i], GROUP_SEND_LOCK_KIND);
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	}
	pfree(hashes);
}

/*
 * Step 2 for head h of find_heads' result: advances *after past it and
 * tries to lock its group for the rest of the transaction, without
 * waiting. Returns the group, locked with *tag, or NULL when another
 * receive holds it.
 */
static char *
lock_head_group(SqsnQueue *queue, SPITupleTable *heads, uint64 h, int64 *after,
				LOCKTAG *tag)
{
	char *group = SPI_getvalue(heads->vals[h], heads->tupdesc, 2);

	*after = sqsn_spi_int64(heads->vals[h], heads->tupdesc, 1);
	if (group == NULL)
		return NULL;
	group_locktag(tag, queue->queue_id, group);
	if (LockAcquire(tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return NULL;
	return group;
}

/*
 * Step 1: up to limit visible messages after msg_seq "after" that are the
 * head of their group, in msg_seq order; columns msg_seq, group id.
 */
static uint64
find_heads(SqsnQueue *queue, TimestampTz now, int64 after, int limit)
{
	Datum values[3] = {TimestampTzGetDatum(now), Int32GetDatum(limit),
					   Int64GetDatum(after)};

	return sqsn_queue_execute(queue, &fifo_heads_stmt, values, NULL, 0);
}

/*
 * Step 3: leases the leading visible messages of a group the caller has
 * locked, at most limit; rows in SPI_tuptable (RCOL_* columns), sorted by
 * msg_seq.
 */
static uint64
lease_group(SqsnQueue *queue, const char *group, TimestampTz now, int limit,
			TimestampTz lease_until, int64 lease_token)
{
	Datum values[5] = {TimestampTzGetDatum(now), CStringGetTextDatum(group),
					   Int32GetDatum(limit), TimestampTzGetDatum(lease_until),
					   Int64GetDatum(lease_token)};

	return sqsn_queue_execute(queue, &fifo_lease_stmt, values, NULL, 0);
}

/*
 * Like lease_group, but only locks the leading visible messages (for a
 * redrive); rows in SPI_tuptable: RCOL_* columns and source_queue_id.
 */
static uint64
lock_group_prefix(SqsnQueue *queue, const char *group, TimestampTz now,
				  int limit)
{
	Datum values[3] = {TimestampTzGetDatum(now), CStringGetTextDatum(group),
					   Int32GetDatum(limit)};

	return sqsn_queue_execute(queue, &fifo_lock_stmt, values, NULL, 0);
}

/*
 * The FIFO form of a receive (see the top of this file): leases up to
 * max_messages messages, the leading visible ones of groups no one else
 * holds, and adds them to the result group by group, in order. Returns how
 * many were added. Requires an SPI connection.
 */
int
sqsn_fifo_receive_batch(const char *queue_name, ReturnSetInfo *rsinfo,
						int max_messages, TimestampTz now,
						TimestampTz lease_until, int64 lease_token)
{
	SqsnQueue *queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	int64      after = 0;
	int        returned = 0;

	while (returned < max_messages)
	{
		int            want = max_messages - returned + EXTRA_CANDIDATES;
		uint64         nheads;
		SPITupleTable *heads;

		CHECK_FOR_INTERRUPTS();

		nheads = find_heads(queue, now, after, want);
		if (nheads == 0)
			break;
		heads = SPI_tuptable;

		for (uint64 h = 0; h < nheads && returned < max_messages; h++)
		{
			LOCKTAG tag;
			char   *group = lock_head_group(queue, heads, h, &after, &tag);
			bool    leased = false;

			if (group == NULL)
				continue;

			/* again after moving messages over the receive limit away */
			for (;;)
			{
				uint64 n =
					lease_group(queue, group, now, max_messages - returned,
								lease_until, lease_token);
				HeapTuple *rows = SPI_tuptable->vals;
				TupleDesc  tupdesc = SPI_tuptable->tupdesc;
				HeapTuple *over_limit;
				int        nover = 0;
				int        delivered = 0;

				if (n == 0)
					break;
				sqsn_sort_by_msg_seq(rows, n, tupdesc);

				over_limit = palloc(sizeof(HeapTuple) * n);
				for (uint64 i = 0; i < n; i++)
				{
					int32 receive_count =
						sqsn_spi_int32(rows[i], tupdesc, RCOL_RECEIVE_COUNT);

					if (queue->max_receive_count > 0 &&
						receive_count > queue->max_receive_count)
						over_limit[nover++] = rows[i];
					else
					{
						sqsn_emit_received(queue, rsinfo, rows[i], tupdesc,
										   lease_token);
						delivered++;
					}
				}
				returned += delivered;
				if (delivered > 0)
					leased = true;
				if (nover > 0)
				{
					sqsn_move_to_dead_letter_queue(queue, over_limit, tupdesc,
												   nover, now);
					queue = sqsn_open_queue(queue_name, RowExclusiveLock);
					leased = true; /* keep the lock: the moves must commit */
				}
				if (delivered > 0 || nover == 0 || returned >= max_messages)
					break;
			}

			if (!leased)
				LockRelease(&tag, ExclusiveLock, false);
		}

		if (nheads < (uint64) want)
			break; /* no more heads after these */
	}

	return returned;
}

/*
 * For a redrive of a FIFO dead-letter queue: locks the leading visible
 * messages of groups no consumer holds, after msg_seq *after (advanced
 * past the heads looked at), up to about limit messages. Returns how many;
 * *rows and *tupdesc describe them (RCOL_* columns, then source_queue_id),
 * group by group in order. 0 when no head is left.
 */
int
sqsn_fifo_lock_heads(SqsnQueue *queue, TimestampTz now, int limit,
					 int64 *after, HeapTuple **rows, TupleDesc *tupdesc)
{
	int            nrows = 0;
	uint64         nheads;
	SPITupleTable *heads;

	*rows = palloc(sizeof(HeapTuple) * limit);
	*tupdesc = NULL;

	while (nrows == 0)
	{
		CHECK_FOR_INTERRUPTS();
		nheads = find_heads(queue, now, *after, limit);
		if (nheads == 0)
			break;
		heads = SPI_tuptable;

		for (uint64 h = 0; h < nheads && nrows < limit; h++)
		{
			LOCKTAG tag;
			char   *group = lock_head_group(queue, heads, h, after, &tag);
			uint64  n;

			if (group == NULL)
				continue;
			n = lock_group_prefix(queue, group, now, limit - nrows);
			if (n == 0)
			{
				LockRelease(&tag, ExclusiveLock, false);
				continue;
			}
			sqsn_sort_by_msg_seq(SPI_tuptable->vals, n, SPI_tuptable->tupdesc);
			*tupdesc = SPI_tuptable->tupdesc;
			for (uint64 i = 0; i < n; i++)
				(*rows)[nrows++] = SPI_tuptable->vals[i];
		}
	}
	return nrows;
}
