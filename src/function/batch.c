/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  One batch of an event source mapping: receive, invoke, delete, in one
 *	  transaction.
 *
 * A batch runs in the caller's transaction (a function worker's, or the
 * session of sqsn.run_event_source_mapping):
 *
 *	 1. receive up to batch_size messages of the queue with the queue's
 *		visibility timeout, through the queue's own receive path (a fresh
 *		lease, the receive count raised, messages over the redrive policy's
 *		maxReceiveCount moved to the dead-letter queue on the way; FIFO
 *		queues hand out only whole group prefixes);
 *	 2. build the event the managed function service passes for a queue,
 *		{"Records": [{"messageId", "receiptHandle", "body", "attributes",
 *		"messageAttributes", "md5OfBody", "eventSource", "eventSourceARN",
 *		"awsRegion"}, ...]};
 *	 3. in one subtransaction (invoke.c): call the function as the
 *		mapping's owner, with timeout_seconds as its statement timeout, then
 *		delete the batch -- without the messages the function reported as
 *		failed, when the mapping reports batch item failures;
 *	 4. count, in the same transaction, in sqsn.event_source_mapping_counter;
 *		and, at once, in the mapping's counters in shared memory
 *		(mapping_metrics.c), which no rollback takes back.
 *
 * Success commits the function's writes and the delete together. An error
 * or a timeout rolls back the subtransaction -- the function's writes and
 * the delete -- while the transaction still commits the receive: the
 * messages' leases and raised receive counts. They come back when their
 * lease ends, and the redrive policy dead-letters those that keep failing.
 * A crash before the commit loses the whole transaction: the messages are
 * as they were, visible at once. Either way a message's effects inside the
 * database are committed exactly once, with its delete. While the
 * transaction runs, its row locks hide the batch from every other receive
 * (SKIP LOCKED), whatever the lease says.
 *
 * Item failures (report_batch_item_failures): the function returns
 * {"batchItemFailures": [{"itemIdentifier": "<messageId>"}, ...]}; those
 * messages stay in the queue, the rest is deleted. What the function wrote
 * commits, so a handler that reports a failure must leave no effects of
 * that message (a BEGIN ... EXCEPTION block per record does exactly that).
 * An identifier that names no message of the batch, or a malformed
 * result, fails the whole batch, as in the managed service. On a FIFO
 * queue a failed message also keeps the messages of its group after it in
 * the queue, so that the group's order holds across the retry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "function/function.h"

#include "catalog/pg_type.h"
#include "common/md5.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

/* Columns of the receive result (queue/message.c, sqsn_received_tupdesc) */
enum
{
	COL_MESSAGE_ID = 1,
	COL_HANDLE,
	COL_BODY,
	COL_ATTRIBUTES,
	COL_SENT_AT,
	COL_RECEIVE_COUNT,
	COL_FIRST_RECEIVED_AT,
	COL_GROUP_ID,
	COL_DEDUPLICATION_ID,
	COL_SEQUENCE_NUMBER,
};

/* Counted once per batch, in the batch's transaction. */
static SqsnStatement counter_stmt = {
	"INSERT INTO sqsn.event_source_mapping_counter AS c"
	" (mapping_id, worker, invocations, succeeded, failed, timed_out,"
	"  messages_deleted, messages_failed, duration_ms, last_invocation_at)"
	" VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9)"
	" ON CONFLICT (mapping_id, worker) DO UPDATE SET"
	"  invocations = c.invocations OPERATOR(pg_catalog.+) 1,"
	"  succeeded = c.succeeded OPERATOR(pg_catalog.+) excluded.succeeded,"
	"  failed = c.failed OPERATOR(pg_catalog.+) excluded.failed,"
	"  timed_out = c.timed_out OPERATOR(pg_catalog.+) excluded.timed_out,"
	"  messages_deleted = c.messages_deleted"
	"   OPERATOR(pg_catalog.+) excluded.messages_deleted,"
	"  messages_failed = c.messages_failed"
	"   OPERATOR(pg_catalog.+) excluded.messages_failed,"
	"  duration_ms = c.duration_ms OPERATOR(pg_catalog.+) "
	"excluded.duration_ms,"
	"  last_invocation_at = excluded.last_invocation_at",
	9,
	{UUIDOID, INT4OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, FLOAT8OID,
	 TIMESTAMPTZOID},
	SPI_OK_INSERT,
	"counting invocations"};

/* The messages of a batch, for the delete after the function. */
typedef struct Batch
{
	const char *queue_name;
	int         n;
	char      **message_ids;
	char      **group_ids; /* NULL elements on a standard queue */
	Datum      *msg_seqs;
	Datum      *tokens;
	bool        report_item_failures;
	/* out */
	int deleted;
	int reported; /* messages the function reported as failed */
} Batch;

/* Milliseconds since the Unix epoch, as the event's attributes write them */
static char *
epoch_ms(TimestampTz t)
{
	int64 ms = t / 1000 + (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) *
							  SECS_PER_DAY * 1000;

	return psprintf(INT64_FORMAT, ms);
}

/* The region field of an ARN, "arn:aws:sqs:<region>:..." */
static char *
arn_region(const char *arn)
{
	const char *p = arn;

	for (int i = 0; i < 3 && p != NULL; i++)
	{
		p = strchr(p, ':');
		if (p != NULL)
			p++;
	}
	if (p == NULL)
		return pstrdup("");
	return pnstrdup(p, strcspn(p, ":"));
}

/*
 * "messageAttributes" of a record, from the typed form of the queue
 * ({"name": {"DataType", "StringValue" | "BinaryValue"}}) to the shape the
 * managed service passes ({"name": {"stringValue" | "binaryValue",
 * "stringListValues": [], "binaryListValues": [], "dataType"}}).
 */
static void
push_message_attributes(JsonbParseState **st, Jsonb *attributes)
{
	JsonbIterator *it;
	JsonbValue     v;
	char          *name;

	sqsn_jsonb_push_key(st, "messageAttributes");
	(void) pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	if (attributes != NULL)
	{
		it = JsonbIteratorInit(&attributes->root);
		while (sqsn_jsonb_next_pair(&it, &name, &v))
		{
			JsonbContainer *typed = v.val.binary.data;
			JsonbValue     *type;
			JsonbValue     *value;
			bool            binary = false;

			type = getKeyJsonValueFromContainer(typed, "DataType", 8, NULL);
			value =
				getKeyJsonValueFromContainer(typed, "StringValue", 11, NULL);
			if (value == NULL)
			{
				value = getKeyJsonValueFromContainer(typed, "BinaryValue", 11,
													 NULL);
				binary = true;
			}
			if (type == NULL || value == NULL || value->type != jbvString)
				continue;
			sqsn_jsonb_push_key(st, name);
			(void) pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
			sqsn_jsonb_push_string(st, binary ? "binaryValue" : "stringValue",
								   sqsn_jsonb_string(value));
			sqsn_jsonb_push_key(st, "stringListValues");
			(void) pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
			(void) pushJsonbValue(st, WJB_END_ARRAY, NULL);
			sqsn_jsonb_push_key(st, "binaryListValues");
			(void) pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
			(void) pushJsonbValue(st, WJB_END_ARRAY, NULL);
			sqsn_jsonb_push_string(st, "dataType", sqsn_jsonb_string(type));
			(void) pushJsonbValue(st, WJB_END_OBJECT, NULL);
		}
	}
	(void) pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/* One record of the event; fills in the batch's element i. */
static void
push_record(JsonbParseState **st, TupleTableSlot *slot, Batch *batch, int i,
			int64 queue_id, const char *arn, const char *region)
{
	bool        isnull;
	Datum       d;
	char       *body;
	char        md5[33];
	const char *errstr = NULL;
	int64       msg_seq;
	int64       token;

	(void) pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);

	batch->message_ids[i] =
		sqsn_uuid_text(slot_getattr(slot, COL_MESSAGE_ID, &isnull));
	sqsn_jsonb_push_string(st, "messageId", batch->message_ids[i]);
	d = slot_getattr(slot, COL_HANDLE, &isnull);
	sqsn_jsonb_push_string(st, "receiptHandle", TextDatumGetCString(d));
	sqsn_parse_receipt_handle(TextDatumGetCString(d), queue_id, &msg_seq,
							  &token);
	batch->msg_seqs[i] = Int64GetDatum(msg_seq);
	batch->tokens[i] = Int64GetDatum(token);
	body = TextDatumGetCString(slot_getattr(slot, COL_BODY, &isnull));
	sqsn_jsonb_push_string(st, "body", body);

	sqsn_jsonb_push_key(st, "attributes");
	(void) pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	sqsn_jsonb_push_string(
		st, "ApproximateReceiveCount",
		psprintf("%d", DatumGetInt32(
						   slot_getattr(slot, COL_RECEIVE_COUNT, &isnull))));
	sqsn_jsonb_push_string(st, "SentTimestamp",
						   epoch_ms(DatumGetTimestampTz(
							   slot_getattr(slot, COL_SENT_AT, &isnull))));
	d = slot_getattr(slot, COL_FIRST_RECEIVED_AT, &isnull);
	if (!isnull)
		sqsn_jsonb_push_string(st, "ApproximateFirstReceiveTimestamp",
							   epoch_ms(DatumGetTimestampTz(d)));
	d = slot_getattr(slot, COL_GROUP_ID, &isnull);
	batch->group_ids[i] = isnull ? NULL : TextDatumGetCString(d);
	if (!isnull)
		sqsn_jsonb_push_string(st, "MessageGroupId", batch->group_ids[i]);
	d = slot_getattr(slot, COL_DEDUPLICATION_ID, &isnull);
	if (!isnull)
		sqsn_jsonb_push_string(st, "MessageDeduplicationId",
							   TextDatumGetCString(d));
	d = slot_getattr(slot, COL_SEQUENCE_NUMBER, &isnull);
	if (!isnull)
		sqsn_jsonb_push_string(st, "SequenceNumber", TextDatumGetCString(d));
	(void) pushJsonbValue(st, WJB_END_OBJECT, NULL);

	d = slot_getattr(slot, COL_ATTRIBUTES, &isnull);
	push_message_attributes(st, isnull ? NULL : DatumGetJsonbP(d));
	if (!pg_md5_hash(body, strlen(body), md5, &errstr))
		elog(ERROR, "could not compute MD5: %s", errstr);
	sqsn_jsonb_push_string(st, "md5OfBody", pstrdup(md5));
	sqsn_jsonb_push_string(st, "eventSource", "aws:sqs");
	sqsn_jsonb_push_string(st, "eventSourceARN", arn);
	sqsn_jsonb_push_string(st, "awsRegion", region);
	(void) pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/*
 * Receives a batch into a tuplestore and builds its event; fills in
 * batch. Returns the event, or NULL when the queue had nothing to give.
 */
static Jsonb *
receive_event(SqsnMapping *m, Batch *batch)
{
	SqsnQueue       *queue = sqsn_open_queue(m->queue_name, RowExclusiveLock);
	int64            queue_id = queue->queue_id;
	ReturnSetInfo    rsinfo;
	TupleTableSlot  *slot;
	JsonbParseState *st = NULL;
	char            *arn;
	char            *region;
	int              n;

	memset(&rsinfo, 0, sizeof(rsinfo));
	rsinfo.type = T_ReturnSetInfo;
	rsinfo.setDesc = sqsn_received_tupdesc();
	rsinfo.setResult = tuplestore_begin_heap(false, false, work_mem);
	n = sqsn_receive_batch(m->queue_name, &rsinfo, m->batch_size,
						   queue->visibility_timeout, sqsn_new_lease_token());
	if (n == 0)
		return NULL;

	batch->n = n;
	batch->message_ids = palloc(sizeof(char *) * n);
	batch->group_ids = palloc(sizeof(char *) * n);
	batch->msg_seqs = palloc(sizeof(Datum) * n);
	batch->tokens = palloc(sizeof(Datum) * n);
	arn = sqsn_queue_arn(m->queue_name);
	region = arn_region(arn);

	(void) pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	sqsn_jsonb_push_key(&st, "Records");
	(void) pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	slot = MakeSingleTupleTableSlot(rsinfo.setDesc, &TTSOpsMinimalTuple);
	for (int i = 0; i < n; i++)
	{
		if (!tuplestore_gettupleslot(rsinfo.setResult, true, false, slot))
			elog(ERROR, "receive result of queue \"%s\" is short",
				 m->queue_name);
		push_record(&st, slot, batch, i, queue_id, arn, region);
	}
	ExecDropSingleTupleTableSlot(slot);
	tuplestore_end(rsinfo.setResult);
	(void) pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL));
}

pg_noreturn static void invalid_item_failures(const char *detail);

static void
invalid_item_failures(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid batchItemFailures in the function's result"),
			 errdetail("%s", detail),
			 errhint("Return {\"batchItemFailures\": [{\"itemIdentifier\": "
					 "\"<messageId>\"}]}, or an empty list.")));
}

/*
 * Marks failed[i] for each message the function's result reports failed.
 * A NULL result, {} or an empty list report none.
 */
static void
read_item_failures(Batch *batch, Jsonb *result, bool *failed)
{
	JsonbValue        *list;
	JsonbIterator     *it;
	JsonbValue         v;
	JsonbIteratorToken tok;

	if (JB_ROOT_IS_SCALAR(result))
	{
		it = JsonbIteratorInit(&result->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM && v.type != jbvNull)
				invalid_item_failures("The result is not a JSON object.");
		return;
	}
	if (!JB_ROOT_IS_OBJECT(result))
		invalid_item_failures("The result is not a JSON object.");
	list = getKeyJsonValueFromContainer(&result->root, "batchItemFailures", 17,
										NULL);
	if (list == NULL || list->type == jbvNull)
		return;
	if (!sqsn_jsonb_is_array(list))
		invalid_item_failures("batchItemFailures is not a list.");

	it = JsonbIteratorInit(list->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue *id;
		char       *text;
		int         i;

		if (tok != WJB_ELEM)
			continue;
		if (!sqsn_jsonb_is_object(&v))
			invalid_item_failures("An element of batchItemFailures is not "
								  "a JSON object.");
		id = getKeyJsonValueFromContainer(v.val.binary.data, "itemIdentifier",
										  14, NULL);
		if (id == NULL || id->type != jbvString || id->val.string.len == 0)
			invalid_item_failures("An element of batchItemFailures has no "
								  "itemIdentifier.");
		text = sqsn_jsonb_string(id);
		for (i = 0; i < batch->n; i++)
			if (strcmp(batch->message_ids[i], text) == 0)
				break;
		if (i == batch->n)
			invalid_item_failures(
				psprintf("itemIdentifier \"%s\" is not the messageId of a "
						 "message of the batch.",
						 text));
		failed[i] = true;
	}
}

/*
 * The after step of the invocation (invoke.c): deletes the batch but for
 * the messages reported failed -- and, on a FIFO queue, the messages of
 * their groups after them.
 */
static void
delete_batch(void *arg, Datum result, bool isnull)
{
	Batch     *batch = (Batch *) arg;
	bool      *failed = palloc0(sizeof(bool) * batch->n);
	bool      *deleted = palloc0(sizeof(bool) * batch->n);
	Datum     *seqs = palloc(sizeof(Datum) * batch->n);
	Datum     *tokens = palloc(sizeof(Datum) * batch->n);
	int        k = 0;
	SqsnQueue *queue;

	if (batch->report_item_failures && !isnull)
		read_item_failures(batch, DatumGetJsonbP(result), failed);

	/* the records of a group come in order, so a later one follows */
	for (int i = 0; i < batch->n; i++)
	{
		if (failed[i])
			batch->reported++;
		for (int j = 0; j < i && !failed[i]; j++)
			if (failed[j] && batch->group_ids[i] && batch->group_ids[j] &&
				strcmp(batch->group_ids[i], batch->group_ids[j]) == 0)
				failed[i] = true;
		if (!failed[i])
		{
			seqs[k] = batch->msg_seqs[i];
			tokens[k] = batch->tokens[i];
			k++;
		}
	}
	if (k == 0)
		return;
	queue = sqsn_open_queue(batch->queue_name, RowExclusiveLock);
	sqsn_delete_leased(queue, seqs, tokens, k, deleted);
	for (int i = 0; i < k; i++)
		batch->deleted += deleted[i] ? 1 : 0;
}

/* Adds the batch to the mapping's counters, in the batch's transaction. */
static void
count_batch(SqsnMapping *m, int worker, SqsnBatchResult *r,
			SqsnInvocation *inv)
{
	Datum values[9];

	values[0] = UUIDPGetDatum(&m->id);
	values[1] = Int32GetDatum(worker);
	values[2] = Int64GetDatum(r->outcome == SQSN_SUCCEEDED ||
									  r->outcome == SQSN_PARTIALLY_FAILED
								  ? 1
								  : 0);
	values[3] = Int64GetDatum(r->outcome == SQSN_FAILED ? 1 : 0);
	values[4] = Int64GetDatum(r->outcome == SQSN_TIMED_OUT ? 1 : 0);
	values[5] = Int64GetDatum(r->deleted);
	values[6] = Int64GetDatum(r->messages - r->deleted);
	values[7] = Float8GetDatum(inv->duration_ms);
	values[8] = TimestampTzGetDatum(inv->started);
	sqsn_execute(&counter_stmt, values, NULL, 0);
}

/*
 * Runs one batch of mapping m (see the top of this file) in the caller's
 * transaction; worker numbers the counter row (0: a session, 1.. the
 * function workers). m has been checked by sqsn_mapping_problem. r->messages
 * is 0 when the queue had nothing to give. Requires an SPI connection.
 */
void
sqsn_run_batch(SqsnMapping *m, int worker, SqsnBatchResult *r)
{
	Batch          batch;
	SqsnInvocation inv;
	Jsonb         *event;

	memset(r, 0, sizeof(SqsnBatchResult));
	memset(&batch, 0, sizeof(batch));
	batch.queue_name = m->queue_name;
	batch.report_item_failures = m->report_item_failures;

	event = receive_event(m, &batch);
	if (event == NULL)
		return;
	r->messages = batch.n;

	memset(&inv, 0, sizeof(inv));
	inv.function = m->function;
	inv.role = m->owner_id;
	inv.timeout_ms = m->timeout * 1000;
	inv.event = event;
	inv.after = delete_batch;
	inv.after_arg = &batch;
	sqsn_invoke(&inv);

	r->outcome = inv.outcome;
	r->error = inv.error;
	if (inv.outcome == SQSN_SUCCEEDED)
	{
		r->deleted = batch.deleted;
		if (batch.reported > 0)
		{
			r->outcome = SQSN_PARTIALLY_FAILED;
			r->error = psprintf("%d of %d messages reported failed",
								batch.reported, batch.n);
		}
	}
	count_batch(m, worker, r, &inv);
	sqsn_mapping_metrics_count(&m->id, r->outcome, batch.n, inv.duration_ms);
	sqsn_log_invocation('m', &m->id, batch.n, inv.started, inv.duration_ms,
						r->outcome, r->error);
}
