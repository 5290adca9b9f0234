/*-------------------------------------------------------------------------
 *
 * queue_tags.c
 *	  sq_tag_queue, sq_untag_queue and sq_list_queue_tags: the tags of a
 *	  queue, kept in sqsn.queue_tag (the checks and limits are in
 *	  common/tags.c). Tagging and untagging are the queue's administration
 *	  (the admin action); reading the tags needs any action on the queue.
 *	  Deleting the queue deletes its tags.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(sq_tag_queue);
PG_FUNCTION_INFO_V1(sq_untag_queue);
PG_FUNCTION_INFO_V1(sq_list_queue_tags);

/* Statements on sqsn.queue_tag, run by sqsn_execute */

static SqsnStatement lock_queue_row_stmt = {
	"SELECT 1 FROM sqsn.queue WHERE queue_id = $1 FOR NO KEY UPDATE",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"locking the queue's row of sqsn.queue"};

static SqsnStatement add_queue_tags_stmt = {
	"INSERT INTO sqsn.queue_tag (queue_id, tag_key, tag_value)"
	" SELECT $1, k, v FROM unnest($2, $3) AS t(k, v)"
	" ON CONFLICT (queue_id, tag_key)"
	" DO UPDATE SET tag_value = excluded.tag_value",
	3,
	{INT8OID, TEXTARRAYOID, TEXTARRAYOID},
	SPI_OK_INSERT,
	"writing sqsn.queue_tag"};

static SqsnStatement count_queue_tags_stmt = {
	"SELECT count(*) FROM sqsn.queue_tag WHERE queue_id = $1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"counting sqsn.queue_tag"};

static SqsnStatement remove_queue_tags_stmt = {
	"DELETE FROM sqsn.queue_tag WHERE queue_id = $1 AND tag_key = ANY ($2)",
	2,
	{INT8OID, TEXTARRAYOID},
	SPI_OK_DELETE,
	"deleting from sqsn.queue_tag"};

static SqsnStatement list_queue_tags_stmt = {
	"SELECT coalesce(jsonb_object_agg(tag_key, tag_value), '{}')"
	" FROM sqsn.queue_tag WHERE queue_id = $1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.queue_tag"};

static const SqsnTagStatements queue_tag_statements = {
	&lock_queue_row_stmt, &add_queue_tags_stmt, &count_queue_tags_stmt,
	&remove_queue_tags_stmt, &list_queue_tags_stmt};

/*
 * The queue of a tag function, opened and checked for the action; begins
 * what sqsn_admin_end ends.
 */
static int64
open_tagged_queue(FunctionCallInfo fcinfo, int action, int *nestlevel)
{
	char      *name = sqsn_text_arg(fcinfo, 0, "queue_name");
	SqsnQueue *queue;

	*nestlevel = sqsn_admin_begin();
	queue = sqsn_open_queue(name, AccessShareLock);
	sqsn_check_queue(queue, action);
	return queue->queue_id;
}

/*
 * sq_tag_queue(queue_name, tags jsonb): adds {"key": "value", ...} to the
 * queue's tags, replacing the values of keys it has.
 */
Datum
sq_tag_queue(PG_FUNCTION_ARGS)
{
	char  *name = sqsn_text_arg(fcinfo, 0, "queue_name");
	int    nestlevel;
	int64  queue_id;
	Jsonb *tags;

	sqsn_refuse_on_standby(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("tags must not be NULL")));
	tags = PG_GETARG_JSONB_P(1);
	queue_id = open_tagged_queue(fcinfo, SQSN_ADMIN, &nestlevel);
	sqsn_tags_add(&queue_tag_statements, queue_id, tags, "queue", name);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/* sq_untag_queue(queue_name, tag_keys text[]): removes those tags. */
Datum
sq_untag_queue(PG_FUNCTION_ARGS)
{
	int   nestlevel;
	int64 queue_id;

	sqsn_refuse_on_standby(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("tag_keys must not be NULL")));
	queue_id = open_tagged_queue(fcinfo, SQSN_ADMIN, &nestlevel);
	sqsn_tags_remove(&queue_tag_statements, queue_id,
					 PG_GETARG_ARRAYTYPE_P(1));
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/* sq_list_queue_tags(queue_name): the queue's tags as a jsonb object. */
Datum
sq_list_queue_tags(PG_FUNCTION_ARGS)
{
	int    nestlevel;
	int64  queue_id = open_tagged_queue(fcinfo, SQSN_ANY_ACTION, &nestlevel);
	Jsonb *tags = sqsn_tags_get(&queue_tag_statements, queue_id);

	sqsn_admin_end(nestlevel);
	PG_RETURN_JSONB_P(tags);
}
