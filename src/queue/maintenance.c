/*-------------------------------------------------------------------------
 *
 * maintenance.c
 *	  The sweeps that keep queues tidy, shared by the background worker and
 *	  sqsn.run_maintenance():
 *
 *	  - retention: messages past their expiry (sent_at + the queue's
 *		message_retention_period) are deleted, from dead-letter queues too;
 *	  - dead-letter: visible messages whose receive count already exceeds
 *		the queue's max_receive_count (the redrive policy was added or
 *		lowered after they were received) are moved to the dead-letter
 *		queue, as a receive would move them;
 *	  - deduplication: the deduplication records of a FIFO queue or topic
 *		older than the five-minute window are deleted;
 *	  - low-water marks: once per round, see lowwater.c.
 *
 * Each call works on one queue and at most batch_size rows per sweep, with
 * FOR UPDATE SKIP LOCKED, so it never waits for a consumer and never holds
 * many row locks; the caller decides how many batches make a round and
 * where the transactions end. Like the hot paths, every statement is a
 * saved plan on one queue's table with schema-qualified names.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(sq_run_maintenance);

/* Statements on a queue's message table (%1$s), run by sqsn_queue_execute */

/*
 * Visible messages over the receive limit (the columns of a receive result,
 * see message.c); in a FIFO queue group heads only, in order.
 */
#define OVERDUE_SQL(fifo_condition)                                           \
	"SELECT " SQSN_RECEIVE_COLUMNS(                                           \
		"c") " FROM %1$s c"                                                   \
			 " WHERE c.msg_seq OPERATOR(pg_catalog.>) $4"                     \
			 "  AND c.receive_count OPERATOR(pg_catalog.>) $1"                \
			 "  AND c.visible_at OPERATOR(pg_catalog.<=) $2"                  \
			 "  AND c.expires_at OPERATOR(pg_catalog.>) $2" fifo_condition    \
			 " ORDER BY c.msg_seq LIMIT $3"                                   \
			 " FOR UPDATE SKIP LOCKED"
static const SqsnQueueStatement overdue_stmt = {
	QPLAN_OVERDUE,
	OVERDUE_SQL(""),
	4,
	{INT4OID, TIMESTAMPTZOID, INT4OID, INT8OID},
	SPI_OK_SELECT,
	"finding messages over the receive limit of"};
static const SqsnQueueStatement overdue_fifo_stmt = {
	QPLAN_OVERDUE,
	OVERDUE_SQL("  AND NOT EXISTS (SELECT FROM %1$s p"
				"   WHERE p.message_group_id OPERATOR(pg_catalog.=) "
				"c.message_group_id"
				"    AND p.msg_seq OPERATOR(pg_catalog.<) c.msg_seq"
				"    AND p.expires_at OPERATOR(pg_catalog.>) $2)"),
	4,
	{INT4OID, TIMESTAMPTZOID, INT4OID, INT8OID},
	SPI_OK_SELECT,
	"finding messages over the receive limit of"};

/* expired messages, by the expires_at index */
static const SqsnQueueStatement expire_stmt = {
	QPLAN_EXPIRE,
	"DELETE FROM %1$s m"
	" WHERE m.msg_seq OPERATOR(pg_catalog.=) ANY (ARRAY("
	"  SELECT c.msg_seq FROM %1$s c"
	"  WHERE c.expires_at OPERATOR(pg_catalog.<=) $1"
	"  ORDER BY c.expires_at"
	"  LIMIT $2 FOR UPDATE SKIP LOCKED))",
	2,
	{TIMESTAMPTZOID, INT4OID},
	SPI_OK_DELETE,
	"deleting expired messages of"};

/* when the next message expires */
static const SqsnQueueStatement next_expiry_stmt = {
	QPLAN_NEXT_EXPIRY,
	"SELECT pg_catalog.min(c.expires_at) FROM %1$s c",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"finding the next expiry in"};

/* when the next message over the receive limit becomes visible */
static const SqsnQueueStatement next_overdue_stmt = {
	QPLAN_NEXT_OVERDUE,
	"SELECT pg_catalog.min(c.visible_at) FROM %1$s c"
	" WHERE c.receive_count OPERATOR(pg_catalog.>) $1",
	1,
	{INT4OID},
	SPI_OK_SELECT,
	"finding messages over the receive limit of"};

static SqsnStatement queue_names_stmt = {
	"SELECT queue_name FROM sqsn.queue ORDER BY queue_id",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"listing queues"};

static SqsnStatement queue_ids_stmt = {
	"SELECT queue_id FROM sqsn.queue"
	" WHERE queue_id OPERATOR(pg_catalog.>) $1"
	" ORDER BY queue_id LIMIT $2",
	2,
	{INT8OID, INT4OID},
	SPI_OK_SELECT,
	"listing queues"};

static int64 expire_messages(SqsnQueue *queue, TimestampTz now,
							 int batch_size);
static int64 move_overdue_messages(SqsnQueue *queue, TimestampTz now,
								   int batch_size);

/*
 * Names of every queue, in id order, allocated in the caller's memory
 * context. Requires an SPI connection.
 */
List *
sqsn_list_queue_names(void)
{
	MemoryContext callercxt = CurrentMemoryContext;
	List         *names = NIL;
	uint64        n = sqsn_execute(&queue_names_stmt, NULL, NULL, 0);

	for (uint64 i = 0; i < n; i++)
	{
		char *name =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		MemoryContext oldcxt = MemoryContextSwitchTo(callercxt);

		names = lappend(names, pstrdup(name));
		MemoryContextSwitchTo(oldcxt);
	}
	return names;
}

/*
 * The ids of at most limit queues after queue id "after", in id order,
 * into *ids (palloc'd in the caller's memory context); returns how many.
 * Requires an SPI connection.
 */
int
sqsn_list_queue_ids(int64 after, int limit, int64 **ids)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Datum         values[2] = {Int64GetDatum(after), Int32GetDatum(limit)};
	uint64        n = sqsn_execute(&queue_ids_stmt, values, NULL, 0);

	*ids = MemoryContextAlloc(callercxt, sizeof(int64) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
		(*ids)[i] =
			sqsn_spi_int64(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	return (int) n;
}

/*
 * Deletes up to batch_size expired messages; returns how many.
 */
static int64
expire_messages(SqsnQueue *queue, TimestampTz now, int batch_size)
{
	Datum values[2];

	values[0] = TimestampTzGetDatum(now);
	values[1] = Int32GetDatum(batch_size);
	return (int64) sqsn_queue_execute(queue, &expire_stmt, values, NULL, 0);
}

/*
 * Moves up to batch_size visible messages whose receive count exceeds the
 * queue's max_receive_count to its dead-letter queue; returns how many.
 * Messages in flight are left alone: their consumer still holds a valid
 * receipt handle, and the next receive moves them if they come back. In a
 * FIFO queue only the first message of a group is moved, so the group
 * arrives in the dead-letter queue in order.
 */
static int64
move_overdue_messages(SqsnQueue *queue, TimestampTz now, int batch_size)
{
	Datum  values[4];
	uint64 n;

	if (queue->max_receive_count <= 0 || queue->dead_letter_queue == NULL)
		return 0;

	values[0] = Int32GetDatum(queue->max_receive_count);
	values[1] = TimestampTzGetDatum(now);
	values[2] = Int32GetDatum(batch_size);
	/* only visible messages move: the receive's starting point will do */
	values[3] = Int64GetDatum(sqsn_lowwater_start(queue, now));
	n = sqsn_queue_execute(queue,
						   queue->fifo ? &overdue_fifo_stmt : &overdue_stmt,
						   values, NULL, 0);
	if (n > 0)
		sqsn_move_to_dead_letter_queue(queue, SPI_tuptable->vals,
									   SPI_tuptable->tupdesc, (int) n, now);
	return (int64) n;
}

/*
 * One batch of the sweeps on one queue, adding what was done to counts:
 * retention, deduplication records, and with check_overdue messages over
 * the receive limit. Returns true when a batch was full, so more work may
 * be waiting. Requires an SPI connection; errors when the queue is gone.
 */
bool
sqsn_sweep_queue(const char *queue_name, int batch_size, bool check_overdue,
				 SqsnSweepCounts *counts)
{
	TimestampTz now = GetCurrentTimestamp();
	SqsnQueue  *queue;
	int64       expired;
	int64       moved;

	queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	expired = expire_messages(queue, now, batch_size);

	/* the entry may have been reloaded meanwhile: open it again */
	queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	moved = check_overdue ? move_overdue_messages(queue, now, batch_size) : 0;

	counts->messages_expired += expired;
	counts->messages_moved_to_dlq += moved;

	/* FIFO: deduplication records past their five minutes */
	queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	if (queue->fifo &&
		sqsn_fifo_expire_deduplication(queue, now, batch_size) >= batch_size)
		return true;
	return expired >= batch_size || moved >= batch_size;
}

/* The value of a one-row, one-column timestamptz result; DT_NOEND: NULL. */
static TimestampTz
result_time(void)
{
	bool  isnull;
	Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							&isnull);

	return isnull ? DT_NOEND : DatumGetTimestampTz(d);
}

/*
 * When a queue next needs a sweep (queue/due.c): its next expiry, the end
 * of its oldest deduplication record, and with check_overdue the time the
 * next message over the receive limit becomes visible (*overdue_left set
 * when there is one). DT_NOEND: nothing. Requires an SPI connection.
 */
TimestampTz
sqsn_queue_next_due(const char *queue_name, bool check_overdue,
					bool *overdue_left)
{
	SqsnQueue  *queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	TimestampTz next;

	*overdue_left = false;
	sqsn_queue_execute(queue, &next_expiry_stmt, NULL, NULL, 1);
	next = result_time();
	if (queue->fifo)
		next = Min(next, sqsn_fifo_next_expiry(queue));
	if (check_overdue && queue->max_receive_count > 0 &&
		queue->dead_letter_queue != NULL)
	{
		Datum       max = Int32GetDatum(queue->max_receive_count);
		TimestampTz overdue;

		queue = sqsn_open_queue(queue_name, RowExclusiveLock);
		sqsn_queue_execute(queue, &next_overdue_stmt, &max, NULL, 1);
		overdue = result_time();
		*overdue_left = overdue != DT_NOEND;
		next = Min(next, overdue);
	}
	return next;
}

/*
 * sqsn.run_maintenance(): the worker's sweeps over every queue, done in
 * the calling session and transaction, for servers where the library is
 * not preloaded (schedule it with pg_cron). Each queue is swept in batches
 * of sqsn.retention_batch_size until nothing is due.
 */
Datum
sq_run_maintenance(PG_FUNCTION_ARGS)
{
	ReturnSetInfo  *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SqsnSweepCounts counts = {0, 0};
	Datum           values[2];
	bool            nulls[2] = {false, false};
	List           *names;
	ListCell       *lc;

	sqsn_refuse_on_standby(fcinfo);
	InitMaterializedSRF(fcinfo, 0);

	sqsn_spi_connect();

	names = sqsn_list_queue_names();
	foreach (lc, names)
	{
		const char *name = (const char *) lfirst(lc);

		CHECK_FOR_INTERRUPTS();
		/* before the sweeps write (see lowwater.c) */
		sqsn_lowwater_step(sqsn_open_queue(name, AccessShareLock), true);
		sqsn_index_groups(sqsn_open_queue(name, AccessShareLock));
		while (
			sqsn_sweep_queue(name, sqsn_retention_batch_size, true, &counts))
			CHECK_FOR_INTERRUPTS();
	}
	while (sqsn_sweep_topic_deduplication(sqsn_retention_batch_size))
		CHECK_FOR_INTERRUPTS();

	/* a step of each message move task (move_task.c) */
	{
		pg_uuid_t *tasks;
		int        ntasks = sqsn_active_move_tasks(CurrentMemoryContext, &tasks);

		for (int i = 0; i < ntasks; i++)
			while (sqsn_move_task_step(&tasks[i]))
				CHECK_FOR_INTERRUPTS();
	}

	SPI_finish();

	values[0] = Int64GetDatum(counts.messages_expired);
	values[1] = Int64GetDatum(counts.messages_moved_to_dlq);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
