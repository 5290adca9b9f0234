/*-------------------------------------------------------------------------
 *
 * move_task.c
 *	  Message move tasks: a redrive out of a dead-letter queue that runs in
 *	  the background (sq_start_message_move_task, sq_list_message_move_tasks,
 *	  sq_cancel_message_move_task, and the step the maintenance worker and
 *	  sqsn.run_maintenance() take).
 *
 * A task is a row of sqsn.message_move_task: its source (a dead-letter
 * queue), its destination (NULL: each message back to the queue it came
 * from), its velocity, its status (RUNNING, CANCELLING, COMPLETED,
 * CANCELLED, FAILED), how many messages it moved, about how many there
 * were to move when it started, and the msg_seq its walk of the source has
 * reached. A source has at most one active (RUNNING or CANCELLING) task,
 * which a unique index enforces, and keeps its 10 most recent tasks (as
 * the service lists them): starting one deletes the older finished ones.
 *
 * Each step runs in one transaction: it locks the task's row, takes the
 * next batch of the source (queue/redrive.c: visible messages after the
 * walk's position, FIFO group heads only), moves it, and records the new
 * count and position in the same transaction. A crash loses the whole
 * step or nothing: no message moves twice, none is lost, and the count is
 * exact. The velocity is kept by letting a step move only what the rate
 * allows since the task started (and at most a fifth of a second's worth
 * at once, so a late step does not burst). A cancel marks the task
 * CANCELLING; the next step makes it CANCELLED. The walk ends, and the task
 * is COMPLETED, when a batch finds no message to take. A step that fails
 * (the destination was deleted, the kinds no longer match) marks the task
 * FAILED with the error's message.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sq_start_message_move_task);
PG_FUNCTION_INFO_V1(sq_list_message_move_tasks);
PG_FUNCTION_INFO_V1(sq_cancel_message_move_task);

#define MOVE_BATCH        100
#define MAX_MOVE_RATE     500
#define MAX_LISTED_TASKS  10
#define TO_MOVE_COUNT_CAP 1000000000

/* Statements on sqsn.message_move_task, run by sqsn_execute */

static SqsnStatement is_dead_letter_queue_stmt = {
	"SELECT 1 FROM sqsn.queue WHERE dead_letter_queue_id = $1 LIMIT 1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.queue"};

static SqsnStatement active_task_stmt = {
	"SELECT 1 FROM sqsn.message_move_task"
	" WHERE source_queue_id = $1 AND status IN ('RUNNING', 'CANCELLING')",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.message_move_task"};

/* A source keeps its 10 most recent tasks: the 9 before a new one. */
static SqsnStatement prune_tasks_stmt = {
	"DELETE FROM sqsn.message_move_task"
	" WHERE source_queue_id = $1"
	"  AND status NOT IN ('RUNNING', 'CANCELLING')"
	"  AND task_handle NOT IN (SELECT task_handle"
	"   FROM sqsn.message_move_task WHERE source_queue_id = $1"
	"   ORDER BY started_at DESC, task_handle LIMIT 9)",
	1,
	{INT8OID},
	SPI_OK_DELETE,
	"deleting from sqsn.message_move_task"};

static SqsnStatement insert_task_stmt = {
	"INSERT INTO sqsn.message_move_task (task_handle, source_queue_id,"
	" destination_queue_id, max_messages_per_second, messages_to_move,"
	" started_at, started_by)"
	" VALUES ($1, $2, $3, $4, $5, clock_timestamp(), session_user)",
	5,
	{UUIDOID, INT8OID, INT8OID, INT4OID, INT8OID},
	SPI_OK_INSERT,
	"writing sqsn.message_move_task"};

static SqsnStatement list_tasks_stmt = {
	"SELECT t.task_handle, t.status, s.queue_name, d.queue_name,"
	" t.max_messages_per_second, t.messages_moved, t.messages_to_move,"
	" t.failure_reason, t.started_at, t.finished_at"
	" FROM sqsn.message_move_task t"
	" JOIN sqsn.queue s ON s.queue_id = t.source_queue_id"
	" LEFT JOIN sqsn.queue d ON d.queue_id = t.destination_queue_id"
	" WHERE t.source_queue_id = $1"
	" ORDER BY t.started_at DESC, t.task_handle LIMIT $2",
	2,
	{INT8OID, INT4OID},
	SPI_OK_SELECT,
	"reading sqsn.message_move_task"};

static SqsnStatement task_source_stmt = {
	"SELECT s.queue_name, t.status, t.messages_moved"
	" FROM sqsn.message_move_task t"
	" JOIN sqsn.queue s ON s.queue_id = t.source_queue_id"
	" WHERE t.task_handle = $1",
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"reading sqsn.message_move_task"};

static SqsnStatement cancel_task_stmt = {
	"UPDATE sqsn.message_move_task SET status = 'CANCELLING'"
	" WHERE task_handle = $1 AND status = 'RUNNING'"
	" RETURNING messages_moved",
	1,
	{UUIDOID},
	SPI_OK_UPDATE_RETURNING,
	"updating sqsn.message_move_task"};

static SqsnStatement active_tasks_stmt = {
	"SELECT task_handle FROM sqsn.message_move_task"
	" WHERE status IN ('RUNNING', 'CANCELLING') ORDER BY started_at",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"reading sqsn.message_move_task"};

static SqsnStatement lock_task_stmt = {
	"SELECT t.status, s.queue_name, t.destination_queue_id,"
	" t.max_messages_per_second, t.messages_moved, t.last_msg_seq,"
	" extract(epoch FROM clock_timestamp() - t.started_at)::float8"
	" FROM sqsn.message_move_task t"
	" JOIN sqsn.queue s ON s.queue_id = t.source_queue_id"
	" WHERE t.task_handle = $1 FOR UPDATE OF t",
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"locking a row of sqsn.message_move_task"};

static SqsnStatement advance_task_stmt = {
	"UPDATE sqsn.message_move_task"
	" SET messages_moved = messages_moved + $2, last_msg_seq = $3,"
	"  status = $4, failure_reason = $5,"
	"  finished_at = CASE WHEN $4 = 'RUNNING' THEN NULL"
	"   ELSE clock_timestamp() END"
	" WHERE task_handle = $1",
	5,
	{UUIDOID, INT8OID, INT8OID, TEXTOID, TEXTOID},
	SPI_OK_UPDATE,
	"updating sqsn.message_move_task"};

/* The uuid argument of a function, not NULL. */
static Datum
task_handle_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("task_handle must not be NULL")));
	return PG_GETARG_DATUM(argno);
}

/*
 * sq_start_message_move_task(source_queue, destination_queue,
 * max_messages_per_second): starts moving the visible messages of the
 * dead-letter queue source_queue back to their source queues (or to
 * destination_queue), at most max_messages_per_second (1..500; NULL: as
 * fast as the worker goes). Returns the task's handle. Needs admin on the
 * source and send on the destination; the source must be some queue's
 * dead-letter queue and have no active task.
 */
Datum
sq_start_message_move_task(PG_FUNCTION_ARGS)
{
	char      *source_name = sqsn_text_arg(fcinfo, 0, "source_queue");
	char      *dest_name =
		PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	int32      rate = sqsn_int_arg(fcinfo, 2, "max_messages_per_second", 1,
								   MAX_MOVE_RATE, 0);
	int        nestlevel;
	SqsnQueue *source;
	int64      source_id;
	bool       source_fifo;
	int64      dest_id = 0;
	Datum      values[5];
	char       nulls[5] = {' ', ' ', 'n', 'n', ' '};
	pg_uuid_t *handle = sqsn_new_uuid();

	sqsn_refuse_on_standby(fcinfo);
	nestlevel = sqsn_admin_begin();
	source = sqsn_open_queue(source_name, RowExclusiveLock);
	sqsn_check_queue(source, SQSN_ADMIN);
	source_id = source->queue_id;
	source_fifo = source->fifo;
	values[0] = Int64GetDatum(source_id);
	if (sqsn_execute(&is_dead_letter_queue_stmt, values, NULL, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("queue \"%s\" is not a dead-letter queue",
						source_name),
				 errdetail("A message move task moves messages out of a "
						   "queue that some queue's redrive policy names."),
				 errhint("Use sqsn.sq_redrive() to move the messages of "
						 "any queue.")));
	if (dest_name != NULL)
	{
		SqsnQueue *dest = sqsn_open_queue(dest_name, RowExclusiveLock);

		if (dest->queue_id == source_id)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("cannot move the messages of queue \"%s\" "
								   "into itself",
								   source_name)));
		if (dest->fifo != source_fifo)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("cannot move the messages of %s queue \"%s\" "
							"into %s queue \"%s\"",
							source_fifo ? "FIFO" : "standard", source_name,
							dest->fifo ? "FIFO" : "standard", dest_name),
					 errhint("Messages move only between queues of the same "
							 "kind.")));
		dest_id = dest->queue_id;
		sqsn_check_queue(dest, SQSN_SEND);
	}
	values[0] = Int64GetDatum(source_id);
	if (sqsn_execute(&active_task_stmt, values, NULL, 1) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("queue \"%s\" has a message move task running",
						source_name),
				 errhint("Wait for it to end, or cancel it with "
						 "sqsn.sq_cancel_message_move_task().")));

	sqsn_execute(&prune_tasks_stmt, values, NULL, 0);

	values[0] = UUIDPGetDatum(handle);
	values[1] = Int64GetDatum(source_id);
	values[2] = Int64GetDatum(dest_id);
	nulls[2] = dest_name != NULL ? ' ' : 'n';
	values[3] = Int32GetDatum(rate);
	nulls[3] = rate > 0 ? ' ' : 'n';
	values[4] = Int64GetDatum(
		(int64) sqsn_count_visible(source_name, TO_MOVE_COUNT_CAP));
	sqsn_execute(&insert_task_stmt, values, nulls, 0);
	sqsn_admin_end(nestlevel);
	PG_RETURN_UUID_P(handle);
}

/*
 * sq_list_message_move_tasks(source_queue, max_results): the most recent
 * tasks of the queue (1..10, default 1), newest first.
 */
Datum
sq_list_message_move_tasks(PG_FUNCTION_ARGS)
{
	char      *source_name = sqsn_text_arg(fcinfo, 0, "source_queue");
	int32      max_results = sqsn_int_arg(fcinfo, 1, "max_results", 1,
										  MAX_LISTED_TASKS, 1);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int        nestlevel;
	SqsnQueue *source;
	Datum      values[2];

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = sqsn_admin_begin();
	source = sqsn_open_queue(source_name, AccessShareLock);
	sqsn_check_queue(source, SQSN_ANY_ACTION);
	values[0] = Int64GetDatum(source->queue_id);
	values[1] = Int32GetDatum(max_results);
	sqsn_execute(&list_tasks_stmt, values, NULL, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum row[10];
		bool  row_nulls[10];

		for (int c = 0; c < 10; c++)
			row[c] = SPI_getbinval(SPI_tuptable->vals[i],
								   SPI_tuptable->tupdesc, c + 1,
								   &row_nulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row,
							 row_nulls);
	}
	sqsn_admin_end(nestlevel);
	return (Datum) 0;
}

/*
 * sq_cancel_message_move_task(task_handle): asks a running task to stop;
 * returns how many messages it has moved so far. The messages moved stay
 * where they went. Needs admin on the task's source.
 */
Datum
sq_cancel_message_move_task(PG_FUNCTION_ARGS)
{
	Datum  handle = task_handle_arg(fcinfo, 0);
	int    nestlevel;
	char  *source_name;
	char  *status;
	int64  moved;

	sqsn_refuse_on_standby(fcinfo);
	nestlevel = sqsn_admin_begin();
	if (sqsn_execute(&task_source_stmt, &handle, NULL, 1) == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("message move task %s does not exist",
							   sqsn_uuid_text(handle))));
	source_name = SPI_getvalue(SPI_tuptable->vals[0],
							   SPI_tuptable->tupdesc, 1);
	status = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	sqsn_check_queue(sqsn_open_queue(source_name, RowExclusiveLock),
					 SQSN_ADMIN);
	if (sqsn_execute(&cancel_task_stmt, &handle, NULL, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("message move task %s is not running",
						sqsn_uuid_text(handle)),
				 errdetail("Its status is %s; only a RUNNING task can be "
						   "cancelled.",
						   status)));
	moved = sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	sqsn_admin_end(nestlevel);
	PG_RETURN_INT64(moved);
}

/*
 * The active tasks, in start order: their handles in an array allocated in
 * cxt (*handles); returns how many. Requires SPI.
 */
int
sqsn_active_move_tasks(MemoryContext cxt, pg_uuid_t **handles)
{
	int n;

	if (!sqsn_catalog_has(SQSN_CATALOG_MOVE_TASKS))
		return 0;
	sqsn_execute(&active_tasks_stmt, NULL, NULL, 0);
	n = (int) SPI_processed;
	*handles = MemoryContextAlloc(cxt, sizeof(pg_uuid_t) * Max(n, 1));
	for (int i = 0; i < n; i++)
		memcpy(&(*handles)[i],
			   DatumGetUUIDP(sqsn_spi_datum(SPI_tuptable->vals[i],
											SPI_tuptable->tupdesc, 1)),
			   sizeof(pg_uuid_t));
	return n;
}

/* Writes a task's progress and status. Requires SPI. */
static void
advance_task(pg_uuid_t *handle, int64 moved, int64 after,
			 const char *status, const char *reason)
{
	Datum values[5];
	char  nulls[5] = {' ', ' ', ' ', ' ', reason ? ' ' : 'n'};

	values[0] = UUIDPGetDatum(handle);
	values[1] = Int64GetDatum(moved);
	values[2] = Int64GetDatum(after);
	values[3] = CStringGetTextDatum(status);
	values[4] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	sqsn_execute(&advance_task_stmt, values, nulls, 0);
}

/*
 * One step of a task, in the caller's transaction with SPI connected:
 * moves what the velocity allows now and records it. Returns true when the
 * task is still active and has more to do right away (no rate limit held
 * it back), false when it ended or must wait.
 */
bool
sqsn_move_task_step(pg_uuid_t *handle)
{
	Datum      value = UUIDPGetDatum(handle);
	HeapTuple  row;
	TupleDesc  desc;
	char      *status;
	char      *source_name;
	bool       isnull;
	int64      dest_id;
	char      *dest_name = NULL;
	int32      rate;
	int64      moved_before;
	int64      after;
	double     elapsed;
	int64      limit = MOVE_BATCH;
	int64      moved;
	int        taken;

	if (sqsn_execute(&lock_task_stmt, &value, NULL, 1) == 0)
		return false; /* its source was deleted, and it with it */
	row = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	status = SPI_getvalue(row, desc, 1);
	source_name = SPI_getvalue(row, desc, 2);
	dest_id = DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull));
	if (isnull)
		dest_id = 0;
	rate = DatumGetInt32(SPI_getbinval(row, desc, 4, &isnull));
	if (isnull)
		rate = 0;
	moved_before = sqsn_spi_int64(row, desc, 5);
	after = sqsn_spi_int64(row, desc, 6);
	elapsed = DatumGetFloat8(SPI_getbinval(row, desc, 7, &isnull));

	if (strcmp(status, "CANCELLING") == 0)
	{
		advance_task(handle, 0, after, "CANCELLED", NULL);
		return false;
	}
	if (strcmp(status, "RUNNING") != 0)
		return false;
	if (dest_id != 0)
	{
		dest_name = sqsn_queue_name_of(dest_id);
		if (dest_name == NULL)
		{
			advance_task(handle, 0, after, "FAILED",
						 "the destination queue was deleted");
			return false;
		}
	}
	if (rate > 0)
	{
		/* what the rate allows since the start, a fifth of a second at most */
		limit = Min((int64) (rate * elapsed) - moved_before,
					Max(rate / 5, 1));
		limit = Min(limit, MOVE_BATCH);
		if (limit <= 0)
			return false;
	}

	moved = sqsn_redrive_batch(source_name, dest_name, (int) limit, false,
							   &after, &taken);
	advance_task(handle, moved, after, taken == 0 ? "COMPLETED" : "RUNNING",
				 NULL);
	return taken > 0 && rate == 0;
}

/* Marks a task FAILED with the message of the error that ended its step. */
void
sqsn_fail_move_task(pg_uuid_t *handle, const char *message)
{
	Datum value = UUIDPGetDatum(handle);

	if (sqsn_execute(&lock_task_stmt, &value, NULL, 1) == 0)
		return;
	advance_task(handle, 0,
				 sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								6),
				 "FAILED", message);
}
