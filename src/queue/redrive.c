/*-------------------------------------------------------------------------
 *
 * redrive.c
 *	  sq_redrive: moving messages out of a dead-letter queue, back to the
 *	  queues they came from or to a queue named by the caller.
 *
 * A message moved to a dead-letter queue remembers its source queue
 * (source_queue_id in the message table). The redrive walks the dead-letter
 * queue in msg_seq order in batches, takes the visible messages with FOR
 * UPDATE SKIP LOCKED -- so messages a consumer holds, or that a concurrent
 * receive is taking, are left alone -- and moves each batch with the same
 * insert-there, delete-here as the receive path's dead-letter move. A
 * message without a source (sent to the dead-letter queue directly), or
 * whose source queue has since been deleted, stays where it is unless a
 * destination is given. An optional rate limit spreads the batches over
 * time.
 *
 * A FIFO dead-letter queue is redriven group by group (fifo.c): only the
 * leading visible messages of a group that no consumer holds are taken, so
 * each group arrives at its destination in order, and a message that stays
 * (no source) holds back the rest of its group.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/wait_event.h"

PG_FUNCTION_INFO_V1(sq_redrive);

/* Statements on a queue's message table (%1$s), run by sqsn_queue_execute */

static const SqsnQueueStatement redrive_stmt = {
	QPLAN_REDRIVE,
	"SELECT " SQSN_RECEIVE_COLUMNS(
		"c") ","
			 " c.source_queue_id"
			 " FROM %1$s c"
			 " WHERE c.msg_seq OPERATOR(pg_catalog.>) $1"
			 "  AND c.visible_at OPERATOR(pg_catalog.<=) $2"
			 "  AND c.expires_at OPERATOR(pg_catalog.>) $2"
			 " ORDER BY c.msg_seq LIMIT $3"
			 " FOR UPDATE SKIP LOCKED",
	3,
	{INT8OID, TIMESTAMPTZOID, INT4OID},
	SPI_OK_SELECT,
	"reading"};

#define REDRIVE_BATCH    100
#define MAX_REDRIVE_RATE 500

/* columns of the batch query: a receive result (message.c), then this */
#define COL_MSG_SEQ         1
#define COL_SOURCE_QUEUE_ID (RCOL_DEDUPLICATION_ID + 1)

static int lock_batch(SqsnQueue *dlq, TimestampTz now, int limit, int64 *after,
					  HeapTuple **rows, TupleDesc *tupdesc);
static void wait_for_rate(TimestampTz start, int64 moved, int32 rate);

/*
 * Locks up to limit visible messages of a standard dead-letter queue after
 * msg_seq *after (advanced past them), the counterpart of
 * sqsn_fifo_lock_heads. Returns how many; *rows and *tupdesc describe them
 * in msg_seq order.
 */
static int
lock_batch(SqsnQueue *dlq, TimestampTz now, int limit, int64 *after,
		   HeapTuple **rows, TupleDesc *tupdesc)
{
	Datum  values[3] = {Int64GetDatum(*after), TimestampTzGetDatum(now),
						Int32GetDatum(limit)};
	uint64 n = sqsn_queue_execute(dlq, &redrive_stmt, values, NULL, 0);

	*rows = SPI_tuptable->vals;
	*tupdesc = SPI_tuptable->tupdesc;
	if (n > 0)
		*after = sqsn_spi_int64((*rows)[n - 1], *tupdesc, COL_MSG_SEQ);
	return (int) n;
}

/*
 * Sleeps until moving "moved" messages since start keeps within rate per
 * second. Cancellable.
 */
static void
wait_for_rate(TimestampTz start, int64 moved, int32 rate)
{
	TimestampTz due = start + (moved * USECS_PER_SEC) / rate;

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (now >= due)
			break;
		(void) WaitLatch(
			MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
			TimestampDifferenceMilliseconds(now, due), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * One batch of a redrive: takes up to limit visible messages of the
 * dead-letter queue dlq_name after msg_seq *after (advanced past them; of a
 * FIFO queue, group heads only) and moves them to dest_name, or, when
 * dest_name is NULL, each back to the queue it came from (a message with no
 * source, or whose source is gone, stays). *taken says how many messages
 * were taken; returns how many moved. check_sources: the caller must be
 * allowed to send to each source queue. The caller's SPI connection and
 * transaction hold the moves: an error undoes them all.
 */
int64
sqsn_redrive_batch(const char *dlq_name, const char *dest_name, int limit,
				   bool check_sources, int64 *after, int *taken)
{
	SqsnQueue  *dlq = sqsn_open_queue(dlq_name, RowExclusiveLock);
	TimestampTz now = GetCurrentTimestamp();
	HeapTuple  *rows;
	TupleDesc   tupdesc;
	uint64      n;
	bool       *done;
	int64       moved = 0;

	if (dlq->fifo)
		n = sqsn_fifo_lock_heads(dlq, now, limit, after, &rows, &tupdesc);
	else
		n = lock_batch(dlq, now, limit, after, &rows, &tupdesc);
	*taken = (int) n;
	if (n == 0)
		return 0;

	if (dest_name != NULL)
	{
		sqsn_move_messages(dlq, dest_name, rows, tupdesc, (int) n, now, true);
		return (int64) n;
	}

	/* one move per source queue found in the batch */
	done = palloc0(sizeof(bool) * n);
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple *group;
		int        ngroup = 0;
		bool       isnull;
		int64      source;
		char      *source_name;

		if (done[i])
			continue;
		source = DatumGetInt64(
			SPI_getbinval(rows[i], tupdesc, COL_SOURCE_QUEUE_ID, &isnull));
		done[i] = true;
		if (isnull)
			continue; /* no source: stays */

		group = palloc(sizeof(HeapTuple) * n);
		group[ngroup++] = rows[i];
		for (uint64 j = i + 1; j < n; j++)
		{
			bool  jnull;
			int64 other;

			if (done[j])
				continue;
			other = DatumGetInt64(
				SPI_getbinval(rows[j], tupdesc, COL_SOURCE_QUEUE_ID, &jnull));
			if (!jnull && other == source)
			{
				group[ngroup++] = rows[j];
				done[j] = true;
			}
		}

		source_name = sqsn_queue_name_of(source);
		if (source_name == NULL || strcmp(source_name, dlq_name) == 0)
			continue; /* source deleted: stays */
		if (check_sources)
			sqsn_check_queue(sqsn_open_queue(source_name, RowExclusiveLock),
							 SQSN_SEND);
		dlq = sqsn_open_queue(dlq_name, RowExclusiveLock);
		sqsn_move_messages(dlq, source_name, group, tupdesc, ngroup, now,
						   true);
		moved += ngroup;
	}
	return moved;
}

/*
 * sq_redrive(dead_letter_queue, destination_queue, max_messages_per_second)
 *
 * Moves the visible messages of dead_letter_queue back to the queues they
 * came from (destination_queue NULL) or to destination_queue, at most
 * max_messages_per_second (NULL: no limit). Returns how many were moved.
 */
Datum
sq_redrive(PG_FUNCTION_ARGS)
{
	char *dlq_name = sqsn_text_arg(fcinfo, 0, "dead_letter_queue");
	char *dest_name =
		PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	int32       rate = sqsn_int_arg(fcinfo, 2, "max_messages_per_second", 1,
									MAX_REDRIVE_RATE, 0);
	int         batch = rate > 0 ? Min(rate, REDRIVE_BATCH) : REDRIVE_BATCH;
	TimestampTz start = GetCurrentTimestamp();
	int64       moved = 0;
	int64       after = 0;
	int         nestlevel;

	sqsn_refuse_on_standby(fcinfo);
	sqsn_validate_queue_name(dlq_name);
	if (dest_name != NULL)
	{
		sqsn_validate_queue_name(dest_name);
		if (strcmp(dest_name, dlq_name) == 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("cannot redrive queue \"%s\" into itself",
								   dlq_name)));
	}

	nestlevel = sqsn_admin_begin();

	/* administering the dead-letter queue, sending to the destination */
	sqsn_check_queue(sqsn_open_queue(dlq_name, RowExclusiveLock), SQSN_ADMIN);
	if (dest_name != NULL)
		sqsn_check_queue(sqsn_open_queue(dest_name, RowExclusiveLock),
						 SQSN_SEND);

	if (dest_name != NULL)
	{
		bool dest_fifo = sqsn_open_queue(dest_name, RowExclusiveLock)->fifo;

		if (sqsn_open_queue(dlq_name, RowExclusiveLock)->fifo != dest_fifo)
			ereport(
				ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot redrive %s queue \"%s\" into %s queue \"%s\"",
						dest_fifo ? "standard" : "FIFO", dlq_name,
						dest_fifo ? "FIFO" : "standard", dest_name),
				 errhint("Messages move only between queues of the same "
						 "kind.")));
	}
	else
		(void) sqsn_open_queue(dlq_name, RowExclusiveLock);

	for (;;)
	{
		int taken;

		CHECK_FOR_INTERRUPTS();
		moved += sqsn_redrive_batch(dlq_name, dest_name, batch, true, &after,
									&taken);
		if (taken == 0 ||
			(!sqsn_open_queue(dlq_name, RowExclusiveLock)->fifo &&
			 taken < batch))
			break;
		if (rate > 0)
			wait_for_rate(start, moved, rate);
	}

	sqsn_admin_end(nestlevel);
	PG_RETURN_INT64(moved);
}
