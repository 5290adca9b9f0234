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

#include "fmgr.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(sq_tag_queue);
PG_FUNCTION_INFO_V1(sq_untag_queue);
PG_FUNCTION_INFO_V1(sq_list_queue_tags);

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
	Jsonb *tags = sqsn_tags_arg(fcinfo, 1);
	int    nestlevel;
	int64  queue_id = open_tagged_queue(fcinfo, SQSN_ADMIN, &nestlevel);

	sqsn_tags_add(&sqsn_queue_tags, queue_id, tags, "queue", name);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/* sq_untag_queue(queue_name, tag_keys text[]): removes those tags. */
Datum
sq_untag_queue(PG_FUNCTION_ARGS)
{
	ArrayType *keys = sqsn_tag_keys_arg(fcinfo, 1);
	int        nestlevel;
	int64      queue_id = open_tagged_queue(fcinfo, SQSN_ADMIN, &nestlevel);

	sqsn_tags_remove(&sqsn_queue_tags, queue_id, keys);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/* sq_list_queue_tags(queue_name): the queue's tags as a jsonb object. */
Datum
sq_list_queue_tags(PG_FUNCTION_ARGS)
{
	int    nestlevel;
	int64  queue_id = open_tagged_queue(fcinfo, SQSN_ANY_ACTION, &nestlevel);
	Datum  tags = sqsn_tags_get(&sqsn_queue_tags, queue_id);

	sqsn_admin_end(nestlevel);
	PG_RETURN_DATUM(tags);
}
