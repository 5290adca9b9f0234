/*-------------------------------------------------------------------------
 *
 * message.c
 *	  The hot paths: send, receive, delete and change visibility.
 *
 * Each queue's messages are rows of its own table sqsn.q_<id>, ordered by
 * an identity column (msg_seq, the primary key and the only index). One
 * timestamp, visible_at, carries both the send delay and the visibility
 * lease, so a receive is a single UPDATE over the rows an index scan in
 * msg_seq order finds visible, with FOR UPDATE SKIP LOCKED so concurrent
 * consumers neither block nor get the same rows. Because visible_at is in
 * no index and the table keeps free space on each page (fillfactor), the
 * lease update is a HOT update.
 *
 * A receive writes a fresh random lease token into each row it leases; the
 * receipt handle carries that token (see handle.c), and delete / change
 * visibility act only when the row still carries it. A consumer whose lease
 * ran out and was taken over by another therefore cannot delete the other's
 * message: its handle is stale.
 *
 * Redrive: a row whose receive count, after this receive, exceeds the
 * queue's max_receive_count is moved to the dead-letter queue in the same
 * transaction (an insert there and a delete here, two statements on two
 * tables) instead of being returned; the receive then looks further along
 * the queue to fill the batch.
 *
 * FIFO queues (fifo.c) share the send and delete paths: a send also
 * records its deduplication id (a duplicate stores nothing) and locks its
 * message group against concurrent senders before the insert; a receive
 * goes to sqsn_fifo_receive_batch, which leases whole group prefixes.
 *
 * Every statement is a saved plan on one queue's table, with every name
 * schema-qualified, so the plans hold whatever search_path the caller has.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sq_send);
PG_FUNCTION_INFO_V1(sq_send_batch);
PG_FUNCTION_INFO_V1(sq_receive);
PG_FUNCTION_INFO_V1(sq_delete);
PG_FUNCTION_INFO_V1(sq_delete_batch);
PG_FUNCTION_INFO_V1(sq_change_visibility);

/* Statements on a queue's message table (%1$s), run by sqsn_queue_execute */

/* the parameters of both forms of the inserts below */
#define INSERT_ARGTYPES                                                       \
	{UUIDOID, TEXTOID, JSONBOID, TIMESTAMPTZOID, TIMESTAMPTZOID,              \
	 TIMESTAMPTZOID, TEXTOID, TEXTOID, OIDOID}
#define INSERT_MANY_ARGTYPES                                                  \
	{UUIDARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TIMESTAMPTZARRAYOID,          \
	 TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, INT8ARRAYOID, TEXTARRAYOID,    \
	 TEXTARRAYOID, OIDARRAYOID}

static const SqsnQueueStatement insert_stmt = {
	QPLAN_INSERT,
	"INSERT INTO %1$s (message_id, body, message_attributes,"
	" sent_at, visible_at, expires_at, message_group_id,"
	" message_deduplication_id, sender_id)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
	9,
	INSERT_ARGTYPES,
	SPI_OK_INSERT,
	"inserting into"};

#define INSERT_MANY_SQL(sender_column, sender)                                \
	"INSERT INTO %1$s (message_id, body, message_attributes,"                 \
	" sent_at, visible_at, expires_at, source_queue_id,"                      \
	" message_group_id, message_deduplication_id" sender_column ")"           \
	" SELECT u.i, u.b, u.a, u.s, u.v, u.e, u.q, u.g, u.d" sender              \
	" FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2),"          \
	"  pg_catalog.unnest($3), pg_catalog.unnest($4),"                         \
	"  pg_catalog.unnest($5), pg_catalog.unnest($6),"                         \
	"  pg_catalog.unnest($7), pg_catalog.unnest($8),"                         \
	"  pg_catalog.unnest($9), pg_catalog.unnest($10))"                        \
	"  AS u(i, b, a, s, v, e, q, g, d, r)"

static const SqsnQueueStatement insert_many_stmt = {
	QPLAN_INSERT_MANY,
	INSERT_MANY_SQL(", sender_id", ", u.r"),
	10,
	INSERT_MANY_ARGTYPES,
	SPI_OK_INSERT,
	"inserting into"};

/*
 * The same two for the table of a queue made before the 0.5 update, which
 * has no sender_id until the update adds it (SqsnQueue.has_sender).
 */
static const SqsnQueueStatement insert_unsigned_stmt = {
	QPLAN_INSERT,
	"INSERT INTO %1$s (message_id, body, message_attributes,"
	" sent_at, visible_at, expires_at, message_group_id,"
	" message_deduplication_id)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	9,
	INSERT_ARGTYPES,
	SPI_OK_INSERT,
	"inserting into"};

static const SqsnQueueStatement insert_many_unsigned_stmt = {
	QPLAN_INSERT_MANY,
	INSERT_MANY_SQL("", ""),
	10,
	INSERT_MANY_ARGTYPES,
	SPI_OK_INSERT,
	"inserting into"};

/* who sent some messages, and where they were dead-lettered from */
static const SqsnQueueStatement origins_stmt = {
	QPLAN_ORIGINS,
	"SELECT msg_seq, sender_id, source_queue_id FROM %1$s"
	" WHERE msg_seq OPERATOR(pg_catalog.=) ANY ($1)",
	1,
	{INT8ARRAYOID},
	SPI_OK_SELECT,
	"reading"};

static const SqsnQueueStatement origins_unsigned_stmt = {
	QPLAN_ORIGINS,
	"SELECT msg_seq, NULL::pg_catalog.oid, source_queue_id FROM %1$s"
	" WHERE msg_seq OPERATOR(pg_catalog.=) ANY ($1)",
	1,
	{INT8ARRAYOID},
	SPI_OK_SELECT,
	"reading"};

static const SqsnQueueStatement receive_stmt = {
	QPLAN_RECEIVE,
	"UPDATE %1$s m SET visible_at = $3, lease_token = $4,"
	" receive_count = m.receive_count OPERATOR(pg_catalog.+) 1,"
	" first_received_at = COALESCE(m.first_received_at, $1)"
	" WHERE m.msg_seq OPERATOR(pg_catalog.=) ANY (ARRAY("
	"  SELECT c.msg_seq FROM %1$s c"
	"  WHERE c.msg_seq OPERATOR(pg_catalog.>) $5"
	"   AND c.visible_at OPERATOR(pg_catalog.<=) $1"
	"   AND c.expires_at OPERATOR(pg_catalog.>) $1"
	"  ORDER BY c.msg_seq LIMIT $2"
	"  FOR UPDATE SKIP LOCKED))"
	" RETURNING " SQSN_RECEIVE_COLUMNS("m"),
	5,
	{TIMESTAMPTZOID, INT4OID, TIMESTAMPTZOID, INT8OID, INT8OID},
	SPI_OK_UPDATE_RETURNING,
	"receiving from"};

/*
 * Fair receives. On a standard queue that holds messages with a group id,
 * a receive takes one message from each group in turn, in the order of the
 * group ids, going on after the group this session's last turn took from;
 * the turn that closes each round takes the oldest visible message,
 * grouped or not. A group with a large backlog so gets one message per
 * round, like every other group with a visible message, instead of every
 * receive until its backlog is gone. The partial index on
 * (message_group_id, msg_seq) of standard queues (admin.c) serves both
 * statements.
 */
#define FAIR_CHECK_MS 1000

static const SqsnQueueStatement fair_lease_stmt = {
	QPLAN_FAIR_LEASE,
	"UPDATE %1$s m SET visible_at = $3, lease_token = $4,"
	" receive_count = m.receive_count OPERATOR(pg_catalog.+) 1,"
	" first_received_at = COALESCE(m.first_received_at, $1)"
	" WHERE m.msg_seq OPERATOR(pg_catalog.=) ANY (ARRAY("
	"  SELECT c.msg_seq FROM %1$s c"
	"  WHERE c.message_group_id OPERATOR(pg_catalog.>) $2"
	"   AND c.visible_at OPERATOR(pg_catalog.<=) $1"
	"   AND c.expires_at OPERATOR(pg_catalog.>) $1"
	"  ORDER BY c.message_group_id, c.msg_seq LIMIT 1"
	"  FOR UPDATE SKIP LOCKED))"
	" RETURNING " SQSN_RECEIVE_COLUMNS("m"),
	4,
	{TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID, INT8OID},
	SPI_OK_UPDATE_RETURNING,
	"receiving from"};

static const SqsnQueueStatement has_groups_stmt = {
	QPLAN_HAS_GROUPS,
	"SELECT FROM %1$s c WHERE c.message_group_id IS NOT NULL LIMIT 1",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"reading"};

static const SqsnQueueStatement delete_many_stmt = {
	QPLAN_DELETE_MANY,
	"DELETE FROM %1$s"
	" WHERE msg_seq OPERATOR(pg_catalog.=) ANY ($1)",
	1,
	{INT8ARRAYOID},
	SPI_OK_DELETE,
	"deleting from"};

static const SqsnQueueStatement next_visible_stmt = {
	QPLAN_NEXT_VISIBLE,
	"SELECT pg_catalog.min(c.visible_at) FROM %1$s c"
	" WHERE c.visible_at OPERATOR(pg_catalog.>) $1"
	"  AND c.expires_at OPERATOR(pg_catalog.>) $1",
	1,
	{TIMESTAMPTZOID},
	SPI_OK_SELECT,
	"reading"};

static const SqsnQueueStatement count_visible_stmt = {
	QPLAN_COUNT_VISIBLE,
	"SELECT pg_catalog.count(*) FROM (SELECT FROM %1$s c"
	" WHERE c.msg_seq OPERATOR(pg_catalog.>) $3"
	"  AND c.visible_at OPERATOR(pg_catalog.<=) $1"
	"  AND c.expires_at OPERATOR(pg_catalog.>) $1"
	" LIMIT $2) v",
	3,
	{TIMESTAMPTZOID, INT4OID, INT8OID},
	SPI_OK_SELECT,
	"reading"};

static const SqsnQueueStatement delete_stmt = {
	QPLAN_DELETE,
	"DELETE FROM %1$s"
	" WHERE msg_seq OPERATOR(pg_catalog.=) $1"
	" AND lease_token OPERATOR(pg_catalog.=) $2",
	2,
	{INT8OID, INT8OID},
	SPI_OK_DELETE,
	"deleting from"};

static const SqsnQueueStatement delete_leased_stmt = {
	QPLAN_DELETE_LEASED,
	"DELETE FROM %1$s m"
	" USING ROWS FROM (pg_catalog.unnest($1),"
	"  pg_catalog.unnest($2)) AS h(seq, token)"
	" WHERE m.msg_seq OPERATOR(pg_catalog.=) h.seq"
	" AND m.lease_token OPERATOR(pg_catalog.=) h.token"
	" RETURNING m.msg_seq, m.lease_token",
	2,
	{INT8ARRAYOID, INT8ARRAYOID},
	SPI_OK_DELETE_RETURNING,
	"deleting from"};

static const SqsnQueueStatement change_visibility_stmt = {
	QPLAN_CHANGE_VISIBILITY,
	"UPDATE %1$s SET visible_at = $3"
	" WHERE msg_seq OPERATOR(pg_catalog.=) $1"
	" AND lease_token OPERATOR(pg_catalog.=) $2",
	3,
	{INT8OID, INT8OID, TIMESTAMPTZOID},
	SPI_OK_UPDATE,
	"changing visibility in"};

/*
 * Replaces the body and attributes of n messages about to be inserted into
 * an encrypted queue by their sealed form (security/crypto.c).
 */
static void
seal_outgoing(SqsnQueue *queue, OutgoingMessage *msgs, int n)
{
	Jsonb *marker = sqsn_sealed_marker();

	for (int i = 0; i < n; i++)
	{
		msgs[i].body = PointerGetDatum(
			sqsn_seal('q', queue->queue_id, NULL, msgs[i].message_id,
					  DatumGetTextPP(msgs[i].body), msgs[i].attributes, NULL));
		msgs[i].attributes = marker;
	}
}

/*
 * Body checks shared by send and send_batch: non-empty, and body plus
 * attributes within the queue's maximum message size.
 */
static void
check_message_size(SqsnQueue *queue, text *body, int64 attributes_size)
{
	int64 body_size = VARSIZE_ANY_EXHDR(body);

	if (body_size == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("message body must not be empty")));
	if (body_size + attributes_size > queue->maximum_message_size)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("message is too large for queue \"%s\"", queue->name),
				 errdetail("Body and attributes take " INT64_FORMAT
						   " bytes; the queue's maximum_message_size is %d.",
						   body_size + attributes_size,
						   queue->maximum_message_size),
				 errhint("Store large payloads in a table and send a "
						 "reference.")));
}

static void
prepare_outgoing(OutgoingMessage *msg, SqsnQueue *queue, text *body,
				 Jsonb *attributes, TimestampTz now, int32 delay)
{
	int64 attributes_size;

	msg->attributes = sqsn_normalize_attributes(attributes, &attributes_size);
	check_message_size(queue, body, attributes_size);
	msg->size = VARSIZE_ANY_EXHDR(body) + attributes_size;
	msg->body = PointerGetDatum(body);
	msg->sent_at = now;
	msg->visible_at = sqsn_add_seconds(now, delay);
	msg->expires_at = sqsn_add_seconds(now, queue->message_retention_period);
	/* the role outside sqsn's functions: SET ROLE, the endpoint's key */
	msg->sender_id = GetOuterUserId();
}

/*
 * The inserted messages make the queue due for the maintenance worker
 * when the first of them expires, and a FIFO queue also when its
 * deduplication records end (queue/due.c).
 */
static void
note_due(SqsnQueue *queue, OutgoingMessage *msgs, int n)
{
	TimestampTz at = DT_NOEND;

	for (int i = 0; i < n; i++)
		at = Min(at, msgs[i].expires_at);
	if (queue->fifo)
		at = Min(at,
				 sqsn_add_seconds(GetCurrentTimestamp(), SQSN_DEDUP_WINDOW));
	sqsn_due_note(queue->queue_id, at, 0);
}

/*
 * A message with a group id makes this session's next receives from a
 * standard queue fair at once (the others' within FAIR_CHECK_MS), or asks
 * the maintenance worker for the index fair receives need.
 */
static void
note_groups(SqsnQueue *queue, OutgoingMessage *msgs, int n)
{
	for (int i = 0; i < n && !queue->fifo && !queue->fair; i++)
	{
		if (msgs[i].group_id == NULL)
			continue;
		if (sqsn_has_group_index(queue->queue_id))
			queue->fair = true;
		else
			sqsn_due_note(queue->queue_id, GetCurrentTimestamp(),
						  DUE_GROUP_INDEX);
		return;
	}
}

static void
insert_one(SqsnQueue *queue, OutgoingMessage *msg)
{
	Datum values[9];
	char  nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	if (queue->fifo)
		sqsn_fifo_lock_groups_for_send(queue, msg, 1);
	if (queue->encrypted)
		seal_outgoing(queue, msg, 1);

	values[0] = UUIDPGetDatum(msg->message_id);
	values[1] = msg->body;
	values[2] = msg->attributes ? JsonbPGetDatum(msg->attributes) : (Datum) 0;
	nulls[2] = msg->attributes ? ' ' : 'n';
	values[3] = TimestampTzGetDatum(msg->sent_at);
	values[4] = TimestampTzGetDatum(msg->visible_at);
	values[5] = TimestampTzGetDatum(msg->expires_at);
	values[6] = msg->group_id ? CStringGetTextDatum(msg->group_id) : (Datum) 0;
	nulls[6] = msg->group_id ? ' ' : 'n';
	values[7] = msg->deduplication_id
					? CStringGetTextDatum(msg->deduplication_id)
					: (Datum) 0;
	nulls[7] = msg->deduplication_id ? ' ' : 'n';
	values[8] = ObjectIdGetDatum(msg->sender_id);
	nulls[8] = OidIsValid(msg->sender_id) ? ' ' : 'n';

	sqsn_queue_execute(queue,
					   queue->has_sender ? &insert_stmt : &insert_unsigned_stmt,
					   values, nulls, 0);
	sqsn_longpoll_note_send(queue->queue_id);
	note_due(queue, msg, 1);
	note_groups(queue, msg, 1);
	if (msg->size > 0)
	{
		sqsn_metrics_count(queue, QMETRIC_SENT, 1);
		sqsn_metrics_count(queue, QMETRIC_SENT_BYTES, msg->size);
	}
}

/*
 * Inserts n messages with one statement (unnest over arrays), in order.
 * Also used to move messages into a dead-letter queue.
 */
static void
insert_many(SqsnQueue *queue, OutgoingMessage *msgs, int n)
{
	Datum *ids = palloc(sizeof(Datum) * n);
	Datum *bodies = palloc(sizeof(Datum) * n);
	Datum *attributes = palloc(sizeof(Datum) * n);
	bool  *attribute_nulls = palloc(sizeof(bool) * n);
	Datum *sent = palloc(sizeof(Datum) * n);
	Datum *visible = palloc(sizeof(Datum) * n);
	Datum *expires = palloc(sizeof(Datum) * n);
	Datum *sources = palloc(sizeof(Datum) * n);
	bool  *source_nulls = palloc(sizeof(bool) * n);
	Datum *groups = palloc(sizeof(Datum) * n);
	bool  *group_nulls = palloc(sizeof(bool) * n);
	Datum *dedups = palloc(sizeof(Datum) * n);
	bool  *dedup_nulls = palloc(sizeof(bool) * n);
	Datum *senders = palloc(sizeof(Datum) * n);
	bool  *sender_nulls = palloc(sizeof(bool) * n);
	Datum  values[10];
	int    dims[1] = {n};
	int    lbs[1] = {1};

	if (queue->fifo)
		sqsn_fifo_lock_groups_for_send(queue, msgs, n);
	if (queue->encrypted)
		seal_outgoing(queue, msgs, n);

	for (int i = 0; i < n; i++)
	{
		ids[i] = UUIDPGetDatum(msgs[i].message_id);
		bodies[i] = msgs[i].body;
		attributes[i] = msgs[i].attributes ? JsonbPGetDatum(msgs[i].attributes)
										   : (Datum) 0;
		attribute_nulls[i] = (msgs[i].attributes == NULL);
		sent[i] = TimestampTzGetDatum(msgs[i].sent_at);
		visible[i] = TimestampTzGetDatum(msgs[i].visible_at);
		expires[i] = TimestampTzGetDatum(msgs[i].expires_at);
		sources[i] = Int64GetDatum(msgs[i].source_queue_id);
		source_nulls[i] = (msgs[i].source_queue_id == 0);
		group_nulls[i] = (msgs[i].group_id == NULL);
		groups[i] =
			group_nulls[i] ? (Datum) 0 : CStringGetTextDatum(msgs[i].group_id);
		dedup_nulls[i] = (msgs[i].deduplication_id == NULL);
		dedups[i] = dedup_nulls[i]
						? (Datum) 0
						: CStringGetTextDatum(msgs[i].deduplication_id);
		senders[i] = ObjectIdGetDatum(msgs[i].sender_id);
		sender_nulls[i] = !OidIsValid(msgs[i].sender_id);
	}

	values[0] = PointerGetDatum(
		construct_array(ids, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[1] = PointerGetDatum(
		construct_array(bodies, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_md_array(attributes, attribute_nulls,
												   1, dims, lbs, JSONBOID, -1,
												   false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(
		sent, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[4] = PointerGetDatum(construct_array(
		visible, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[5] = PointerGetDatum(construct_array(
		expires, n, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[6] = PointerGetDatum(
		construct_md_array(sources, source_nulls, 1, dims, lbs, INT8OID, 8,
						   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[7] = PointerGetDatum(construct_md_array(
		groups, group_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	values[8] = PointerGetDatum(construct_md_array(
		dedups, dedup_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	values[9] = PointerGetDatum(construct_md_array(
		senders, sender_nulls, 1, dims, lbs, OIDOID, sizeof(Oid), true,
		TYPALIGN_INT));

	sqsn_queue_execute(queue,
					   queue->has_sender ? &insert_many_stmt
										 : &insert_many_unsigned_stmt,
					   values, NULL, 0);
	if (SPI_processed != (uint64) n)
		elog(ERROR,
			 "inserting into queue \"%s\" failed: " UINT64_FORMAT " rows",
			 queue->name, SPI_processed);
	sqsn_longpoll_note_send(queue->queue_id);
	note_due(queue, msgs, n);
	note_groups(queue, msgs, n);
	/* sends count, moves between queues (size 0) do not */
	for (int i = 0; i < n; i++)
	{
		if (msgs[i].size > 0)
		{
			sqsn_metrics_count(queue, QMETRIC_SENT, 1);
			sqsn_metrics_count(queue, QMETRIC_SENT_BYTES, msgs[i].size);
		}
	}
}

/*
 * The delay of a send: the argument, or the queue's default. FIFO queues
 * take only the queue's delay, as in the managed service.
 */
static int32
send_delay(FunctionCallInfo fcinfo, SqsnQueue *queue)
{
	if (queue->fifo && !PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("FIFO queue \"%s\" does not take a per-message delay",
						queue->name),
				 errhint("Set the queue's DelaySeconds attribute instead.")));
	return sqsn_int_arg(fcinfo, 3, "delay_seconds", 0, SQSN_MAX_DELAY,
						queue->delay_seconds);
}

/*
 * Checks and fills the message group and deduplication ids of one message
 * (NULL: not given). A FIFO queue needs a group id, and a deduplication id
 * unless the queue deduplicates by content; a standard queue keeps a group
 * id (a fair-queue hint, not an ordering) and refuses a deduplication id.
 * element is the 1-based batch element, or 0 for a single send.
 */
static void
set_fifo_tags(SqsnQueue *queue, OutgoingMessage *msg, text *body,
			  char *group_id, char *deduplication_id, int element)
{
	if (group_id != NULL)
		sqsn_validate_fifo_tag("message_group_id", group_id);
	if (deduplication_id != NULL)
		sqsn_validate_fifo_tag("message_deduplication_id", deduplication_id);

	if (queue->fifo)
	{
		if (group_id == NULL)
			ereport(
				ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a message sent to FIFO queue \"%s\" needs a "
						"message_group_id",
						queue->name),
				 element > 0 ? errdetail("Element %d has none.", element) : 0,
				 errhint("Messages of one group are delivered in order, "
						 "one consumer at a time.")));
		if (deduplication_id == NULL)
		{
			if (!queue->content_based_deduplication)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("a message sent to FIFO queue \"%s\" needs a "
								"message_deduplication_id",
								queue->name),
						 element > 0
							 ? errdetail("Element %d has none.", element)
							 : 0,
						 errhint("Give one, or turn on the queue's "
								 "ContentBasedDeduplication.")));
			deduplication_id = sqsn_content_deduplication_id(body);
		}
	}
	else if (deduplication_id != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("message_deduplication_id is only for FIFO queues"),
				 errdetail("Queue \"%s\" is a standard queue.", queue->name)));

	msg->group_id = group_id;
	msg->deduplication_id = deduplication_id;
}

/*
 * sq_send(queue_name, message_body, message_attributes, delay_seconds,
 * message_group_id, message_deduplication_id)
 *
 * A FIFO send that repeats the deduplication id of a send made less than
 * five minutes ago stores nothing and returns the first message's id.
 */
Datum
sq_send(PG_FUNCTION_ARGS)
{
	char           *queue_name = sqsn_text_arg(fcinfo, 0, "queue_name");
	pg_uuid_t      *message_id = sqsn_new_uuid();
	OutgoingMessage msg;
	SqsnQueue      *queue;
	text           *body;
	int32           delay;

	sqsn_refuse_on_standby(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("message_body must not be NULL")));
	body = PG_GETARG_TEXT_PP(1);

	sqsn_spi_connect();

	queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	sqsn_check_queue(queue, SQSN_SEND);
	delay = send_delay(fcinfo, queue);

	msg.message_id = message_id;
	msg.source_queue_id = 0;
	msg.group_id = NULL;
	msg.deduplication_id = NULL;
	if (queue->fifo || SQSN_ARG_GIVEN(4) || SQSN_ARG_GIVEN(5))
		set_fifo_tags(
			queue, &msg, body,
			SQSN_ARG_GIVEN(4) ? text_to_cstring(PG_GETARG_TEXT_PP(4)) : NULL,
			SQSN_ARG_GIVEN(5) ? text_to_cstring(PG_GETARG_TEXT_PP(5)) : NULL,
			0);
	prepare_outgoing(&msg, queue, body,
					 PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2),
					 GetCurrentTimestamp(), delay);
	if (queue->fifo)
		message_id = sqsn_fifo_deduplicate(queue, &msg);
	if (message_id == msg.message_id)
		insert_one(queue, &msg);

	SPI_finish();
	PG_RETURN_UUID_P(message_id);
}

/*
 * sq_send_batch(queue_name, message_bodies, message_attributes,
 * delay_seconds, message_group_ids, message_deduplication_ids): up to 1000
 * messages in one statement; ids in input order (for a FIFO duplicate, the
 * id of the message it repeats).
 */
Datum
sq_send_batch(PG_FUNCTION_ARGS)
{
	char            *queue_name = sqsn_text_arg(fcinfo, 0, "queue_name");
	ReturnSetInfo   *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SqsnBatch        batch;
	int              n;
	OutgoingMessage *msgs;
	OutgoingMessage *fresh;
	pg_uuid_t      **ids;
	int              nfresh = 0;
	SqsnQueue       *queue;
	TimestampTz      now = GetCurrentTimestamp();
	int32            delay;

	sqsn_refuse_on_standby(fcinfo);
	sqsn_batch_args(fcinfo, "message_bodies", "message body", "bodies",
					&batch);
	sqsn_batch_fifo_args(fcinfo, 4, &batch);
	n = batch.n;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	sqsn_spi_connect();

	queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	sqsn_check_queue(queue, SQSN_SEND);
	delay = send_delay(fcinfo, queue);
	if (n == 0)
	{
		SPI_finish();
		return (Datum) 0;
	}

	msgs = palloc(sizeof(OutgoingMessage) * n);
	fresh = palloc(sizeof(OutgoingMessage) * n);
	ids = palloc(sizeof(pg_uuid_t *) * n);
	for (int i = 0; i < n; i++)
	{
		text *body;

		if (batch.text_nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("message_bodies must not contain NULL"),
							errdetail("Element %d is NULL.", i + 1)));
		body = DatumGetTextPP(batch.texts[i]);
		msgs[i].message_id = sqsn_new_uuid();
		msgs[i].source_queue_id = 0;
		msgs[i].group_id = NULL;
		msgs[i].deduplication_id = NULL;
		if (queue->fifo || batch.group_ids != NULL ||
			batch.deduplication_ids != NULL)
			set_fifo_tags(queue, &msgs[i], body,
						  sqsn_batch_group_id(&batch, i),
						  sqsn_batch_deduplication_id(&batch, i), i + 1);
		prepare_outgoing(&msgs[i], queue, body,
						 sqsn_batch_attributes(&batch, i), now, delay);
	}

	/* FIFO: drop the duplicates, of earlier sends or within the batch */
	for (int i = 0; i < n; i++)
	{
		ids[i] = queue->fifo ? sqsn_fifo_deduplicate(queue, &msgs[i])
							 : msgs[i].message_id;
		if (ids[i] == msgs[i].message_id)
			fresh[nfresh++] = msgs[i];
	}
	if (nfresh == 1)
		insert_one(queue, fresh);
	else if (nfresh > 1)
		insert_many(queue, fresh, nfresh);

	for (int i = 0; i < n; i++)
	{
		Datum value = UUIDPGetDatum(ids[i]);
		bool  isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value,
							 &isnull);
	}

	SPI_finish();
	return (Datum) 0;
}

/* qsort_arg comparator of rows with a receive result's columns */
static int
compare_msg_seq(const void *a, const void *b, void *arg)
{
	TupleDesc tupdesc = (TupleDesc) arg;
	int64 sa = sqsn_spi_int64(*(const HeapTuple *) a, tupdesc, RCOL_MSG_SEQ);
	int64 sb = sqsn_spi_int64(*(const HeapTuple *) b, tupdesc, RCOL_MSG_SEQ);

	return (sa > sb) - (sa < sb);
}

/*
 * Sorts n rows with a receive result's columns (RCOL_*) by msg_seq: the
 * rows an UPDATE ... RETURNING leased come in no particular order.
 */
void
sqsn_sort_by_msg_seq(HeapTuple *rows, uint64 n, TupleDesc tupdesc)
{
	if (n > 1)
		qsort_arg(rows, n, sizeof(HeapTuple), compare_msg_seq, tupdesc);
}

/*
 * Leases up to limit visible messages after msg_seq "after", returning them
 * in SPI_tuptable sorted by msg_seq.
 */
static uint64
lease_messages(SqsnQueue *queue, TimestampTz now, int limit, int64 after,
			   TimestampTz lease_until, int64 lease_token)
{
	Datum  values[5] = {TimestampTzGetDatum(now), Int32GetDatum(limit),
						TimestampTzGetDatum(lease_until),
						Int64GetDatum(lease_token), Int64GetDatum(after)};
	uint64 n = sqsn_queue_execute(queue, &receive_stmt, values, NULL, 0);

	sqsn_sort_by_msg_seq(SPI_tuptable->vals, n, SPI_tuptable->tupdesc);
	return n;
}

static void
delete_many(SqsnQueue *queue, Datum *msg_seqs, int n)
{
	Datum value;

	value = PointerGetDatum(construct_array(msg_seqs, n, INT8OID, 8,
											FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	sqsn_queue_execute(queue, &delete_many_stmt, &value, NULL, 0);
}

/*
 * Who sent each of n messages of queue (by msg_seq), and the queue each was
 * moved to this dead-letter queue from: senders[i] (InvalidOid: unknown,
 * e.g. sent before the 0.5 update) and sources[i] (0: none; may be NULL).
 * The rows are read as they are: the caller holds them (a lease or a lock)
 * and neither column changes after the insert.
 */
void
sqsn_message_origins(SqsnQueue *queue, const int64 *msg_seqs, int n,
					 Oid *senders, int64 *sources)
{
	Datum *seqs = palloc(sizeof(Datum) * n);
	Datum  value;
	uint64 found;

	for (int i = 0; i < n; i++)
	{
		seqs[i] = Int64GetDatum(msg_seqs[i]);
		senders[i] = InvalidOid;
		if (sources)
			sources[i] = 0;
	}
	value = PointerGetDatum(construct_array(seqs, n, INT8OID, 8,
											FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	found = sqsn_queue_execute(queue,
							   queue->has_sender ? &origins_stmt
												 : &origins_unsigned_stmt,
							   &value, NULL, 0);
	for (uint64 r = 0; r < found; r++)
	{
		HeapTuple row = SPI_tuptable->vals[r];
		TupleDesc tupdesc = SPI_tuptable->tupdesc;
		int64     msg_seq = sqsn_spi_int64(row, tupdesc, 1);
		bool      isnull;

		for (int i = 0; i < n; i++)
		{
			Datum d;

			if (msg_seqs[i] != msg_seq)
				continue;
			d = SPI_getbinval(row, tupdesc, 2, &isnull);
			senders[i] = isnull ? InvalidOid : DatumGetObjectId(d);
			d = SPI_getbinval(row, tupdesc, 3, &isnull);
			if (sources)
				sources[i] = isnull ? 0 : DatumGetInt64(d);
		}
	}
}

/*
 * Moves the given rows of queue (a receive result, or rows of another
 * statement in the same column order, RCOL_*, described by tupdesc:
 * SPI_tuptable may be another statement's by now) to the queue named
 * dest_name: an insert there and a delete here. The message keeps its id,
 * body, attributes and sent time; its receive count starts again at 0.
 *
 * A move to a dead-letter queue (redrive = false) remembers the queue it
 * came from, and its expiry follows the dead-letter queue's retention
 * counted from the original send, as in the managed service. A redrive out
 * of a dead-letter queue (redrive = true) starts a new retention period in
 * the destination.
 */
void
sqsn_move_messages(SqsnQueue *queue, const char *dest_name, HeapTuple *rows,
				   TupleDesc tupdesc, int n, TimestampTz now, bool redrive)
{
	int64            source_id = queue->queue_id;
	char            *source_name = pstrdup(queue->name);
	OutgoingMessage *msgs = palloc(sizeof(OutgoingMessage) * n);
	Datum           *msg_seqs = palloc(sizeof(Datum) * n);
	int64           *seqs = palloc(sizeof(int64) * n);
	Oid             *senders = palloc(sizeof(Oid) * n);
	SqsnQueue       *dest;

	/* the senders, while the source's entry is surely the one used above */
	for (int i = 0; i < n; i++)
		seqs[i] = sqsn_spi_int64(rows[i], tupdesc, RCOL_MSG_SEQ);
	sqsn_message_origins(queue, seqs, n, senders, NULL);

	dest = sqsn_open_queue(dest_name, RowExclusiveLock);
	if (dest->fifo != queue->fifo)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot move messages from %s queue \"%s\" to %s "
						"queue \"%s\"",
						queue->fifo ? "FIFO" : "standard", source_name,
						dest->fifo ? "FIFO" : "standard", dest->name),
				 errhint("Messages move only between queues of the same "
						 "kind.")));
	for (int i = 0; i < n; i++)
	{
		Datum tag;
		bool  isnull;
		Datum attributes;

		msg_seqs[i] = SPI_getbinval(rows[i], tupdesc, RCOL_MSG_SEQ, &isnull);
		msgs[i].message_id = DatumGetUUIDP(
			SPI_getbinval(rows[i], tupdesc, RCOL_MESSAGE_ID, &isnull));
		msgs[i].body = SPI_getbinval(rows[i], tupdesc, RCOL_BODY, &isnull);
		attributes = SPI_getbinval(rows[i], tupdesc, RCOL_ATTRIBUTES, &isnull);
		msgs[i].attributes = isnull ? NULL : DatumGetJsonbP(attributes);
		/* sealed for this queue: open here, sealed again for dest */
		if (sqsn_is_sealed(msgs[i].attributes))
			sqsn_open_queue_message(source_id, source_name, msgs[i].message_id,
									&msgs[i].body, &msgs[i].attributes);
		msgs[i].sent_at = sqsn_spi_timestamptz(rows[i], tupdesc, RCOL_SENT_AT);
		msgs[i].visible_at = now;
		msgs[i].expires_at = sqsn_add_seconds(redrive ? now : msgs[i].sent_at,
											  dest->message_retention_period);
		msgs[i].source_queue_id = redrive ? 0 : source_id;
		msgs[i].sender_id = senders[i];
		tag = SPI_getbinval(rows[i], tupdesc, RCOL_GROUP_ID, &isnull);
		msgs[i].group_id = isnull ? NULL : TextDatumGetCString(tag);
		tag = SPI_getbinval(rows[i], tupdesc, RCOL_DEDUPLICATION_ID, &isnull);
		msgs[i].deduplication_id = isnull ? NULL : TextDatumGetCString(tag);
		msgs[i].size = 0; /* a move, not a send */
	}
	insert_many(dest, msgs, n);
	if (redrive)
		sqsn_metrics_depth_changed(dest);

	/* the source entry may have been reloaded while opening the other */
	queue = sqsn_open_queue(source_name, RowExclusiveLock);
	if (queue->queue_id != source_id)
		elog(ERROR, "queue \"%s\" changed while moving messages", source_name);
	delete_many(queue, msg_seqs, n);
	sqsn_metrics_count(queue,
					   redrive ? QMETRIC_REDRIVEN : QMETRIC_DEAD_LETTERED, n);
	if (redrive)
		sqsn_metrics_depth_changed(queue);
}

/*
 * Moves rows of queue into its dead-letter queue (see sqsn_move_messages).
 */
void
sqsn_move_to_dead_letter_queue(SqsnQueue *queue, HeapTuple *rows,
							   TupleDesc tupdesc, int n, TimestampTz now)
{
	sqsn_move_messages(queue, pstrdup(queue->dead_letter_queue), rows, tupdesc,
					   n, now, false);
}

/*
 * Adds one leased row (RCOL_* columns) to a receive result, with a receipt
 * handle for lease_token. The sequence number of a FIFO message is its
 * msg_seq as 20 digits, so that it also sorts as text.
 */
void
sqsn_emit_received(SqsnQueue *queue, ReturnSetInfo *rsinfo, HeapTuple row,
				   TupleDesc tupdesc, int64 lease_token)
{
	Datum values[10];
	bool  nulls[10];
	int64 msg_seq = sqsn_spi_int64(row, tupdesc, RCOL_MSG_SEQ);

	values[0] = SPI_getbinval(row, tupdesc, RCOL_MESSAGE_ID, &nulls[0]);
	values[1] = CStringGetTextDatum(
		sqsn_make_receipt_handle(queue->queue_id, msg_seq, lease_token));
	nulls[1] = false;
	values[2] = SPI_getbinval(row, tupdesc, RCOL_BODY, &nulls[2]);
	values[3] = SPI_getbinval(row, tupdesc, RCOL_ATTRIBUTES, &nulls[3]);
	if (!nulls[3] && sqsn_is_sealed(DatumGetJsonbP(values[3])))
	{
		Jsonb *attributes;

		sqsn_open_queue_message(queue->queue_id, queue->name,
								DatumGetUUIDP(values[0]), &values[2],
								&attributes);
		values[3] = attributes ? JsonbPGetDatum(attributes) : (Datum) 0;
		nulls[3] = (attributes == NULL);
	}
	values[4] = SPI_getbinval(row, tupdesc, RCOL_SENT_AT, &nulls[4]);
	values[5] = SPI_getbinval(row, tupdesc, RCOL_RECEIVE_COUNT, &nulls[5]);
	values[6] = SPI_getbinval(row, tupdesc, RCOL_FIRST_RECEIVED_AT, &nulls[6]);
	values[7] = SPI_getbinval(row, tupdesc, RCOL_GROUP_ID, &nulls[7]);
	values[8] = SPI_getbinval(row, tupdesc, RCOL_DEDUPLICATION_ID, &nulls[8]);
	nulls[9] = !queue->fifo;
	values[9] =
		queue->fifo
			? CStringGetTextDatum(psprintf("%020lld", (long long) msg_seq))
			: (Datum) 0;
	/* (a 0.1 definition of sq_receive takes the first seven columns) */
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Adds the nleased rows a lease statement left in SPI_tuptable to the
 * result, moving those over the receive limit to the dead-letter queue;
 * *after ends at the highest msg_seq among them. Returns how many were
 * added; *moved says whether some were moved (*queue is then reloaded).
 */
static int
take_leased(const char *queue_name, SqsnQueue **queue, ReturnSetInfo *rsinfo,
			uint64 nleased, TimestampTz now, int64 lease_token, int64 *after,
			bool *moved)
{
	HeapTuple *rows = SPI_tuptable->vals;
	TupleDesc  tupdesc = SPI_tuptable->tupdesc;
	HeapTuple *over_limit = palloc(sizeof(HeapTuple) * nleased);
	int        nover = 0;
	int        returned = 0;

	for (uint64 i = 0; i < nleased; i++)
	{
		int64 msg_seq = sqsn_spi_int64(rows[i], tupdesc, RCOL_MSG_SEQ);
		int32 receive_count =
			sqsn_spi_int32(rows[i], tupdesc, RCOL_RECEIVE_COUNT);

		*after = Max(*after, msg_seq);
		if ((*queue)->max_receive_count > 0 &&
			receive_count > (*queue)->max_receive_count)
		{
			over_limit[nover++] = rows[i];
			continue;
		}

		sqsn_emit_received(*queue, rsinfo, rows[i], tupdesc, lease_token);
		returned++;
	}

	*moved = nover > 0;
	if (nover > 0)
	{
		sqsn_move_to_dead_letter_queue(*queue, over_limit, tupdesc, nover,
									   now);
		*queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	}
	return returned;
}

/*
 * Leases up to max_messages visible messages after msg_seq *after and adds
 * them to the result, moving those over the receive limit to the
 * dead-letter queue on the way; *after ends at the highest msg_seq leased.
 * Returns how many were added. *queue may be reloaded.
 */
static int
receive_after(const char *queue_name, SqsnQueue **queue, ReturnSetInfo *rsinfo,
			  int max_messages, TimestampTz now, TimestampTz lease_until,
			  int64 lease_token, int64 *after)
{
	int  returned = 0;
	bool moved = true;

	while (returned < max_messages && moved)
	{
		uint64 nleased;

		CHECK_FOR_INTERRUPTS();
		nleased = lease_messages(*queue, now, max_messages - returned, *after,
								 lease_until, lease_token);
		if (nleased == 0)
			break;
		/* stops when none was moved: the queue had no more to give */
		returned += take_leased(queue_name, queue, rsinfo, nleased, now,
								lease_token, after, &moved);
	}

	return returned;
}

/*
 * Whether receives from queue are fair (see fair_lease_stmt): it holds
 * messages with a group id, and the index to walk them. Looked at once per
 * FAIR_CHECK_MS at most.
 */
static bool
fair_receives(SqsnQueue *queue, TimestampTz now)
{
	if (queue->fifo)
		return false;
	if (now < queue->fair_checked_at ||
		now - queue->fair_checked_at >= FAIR_CHECK_MS * (TimestampTz) 1000)
	{
		queue->fair = sqsn_has_group_index(queue->queue_id) &&
					  sqsn_queue_has_groups(queue);
		queue->fair_checked_at = now;
	}
	return queue->fair;
}

/*
 * Whether queue holds a message with a group id; a scan of the whole table
 * on a standard queue without its group index.
 */
bool
sqsn_queue_has_groups(SqsnQueue *queue)
{
	return sqsn_queue_execute(queue, &has_groups_stmt, NULL, NULL, 1) > 0;
}

static void
set_fair_cursor(SqsnQueue *queue, const char *group)
{
	if (queue->fair_cursor)
		pfree(queue->fair_cursor);
	queue->fair_cursor =
		group ? MemoryContextStrdup(CacheMemoryContext, group) : NULL;
}

/*
 * A fair receive (see fair_lease_stmt) of up to max_messages: one message
 * per turn. Returns how many were added, fewer than max_messages only when
 * no group had a visible message left. *queue may be reloaded.
 */
static int
receive_fair(const char *queue_name, SqsnQueue **queue, ReturnSetInfo *rsinfo,
			 int max_messages, TimestampTz now, TimestampTz lease_until,
			 int64 lease_token)
{
	int returned = 0;

	while (returned < max_messages)
	{
		const char *cursor =
			(*queue)->fair_cursor ? (*queue)->fair_cursor : "";
		Datum values[4] = {
			TimestampTzGetDatum(now), CStringGetTextDatum(cursor),
			TimestampTzGetDatum(lease_until), Int64GetDatum(lease_token)};
		int64  after = 0;
		bool   moved;
		char  *group;
		uint64 n;

		CHECK_FOR_INTERRUPTS();
		n = sqsn_queue_execute(*queue, &fair_lease_stmt, values, NULL, 0);
		if (n > 0)
		{
			group = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								 RCOL_GROUP_ID);
			returned += take_leased(queue_name, queue, rsinfo, n, now,
									lease_token, &after, &moved);
			set_fair_cursor(*queue, group);
			continue;
		}
		if (cursor[0] == '\0')
			break; /* a whole round found no group with a visible message */

		/* the round is over; its last turn takes the oldest message */
		set_fair_cursor(*queue, NULL);
		after = sqsn_lowwater_start(*queue, now);
		returned += receive_after(queue_name, queue, rsinfo, 1, now,
								  lease_until, lease_token, &after);
	}
	return returned;
}

/*
 * One look at the queue: leases up to max_messages visible messages and
 * adds them to the result (columns of sqsn_received_tupdesc), moving those
 * over the receive limit to the dead-letter queue on the way. Returns how
 * many were added. Also the receive of the function consumers' batches
 * (function/). Requires an SPI connection.
 *
 * With many receives in flight on the queue, this one may start past the
 * rows the others leased lately rather than at the low-water marks, and
 * looks from the marks only when it found too few there (lowwater.c).
 */
int
sqsn_receive_batch(const char *queue_name, ReturnSetInfo *rsinfo,
				   int max_messages, int32 visibility_timeout,
				   int64 lease_token)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz lease_until = sqsn_add_seconds(now, visibility_timeout);
	SqsnQueue  *queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	int64       head_after;
	int64       start;
	int64       after;
	int64       last_leased = 0;
	bool        head;
	int         returned;
	int         fair = 0;

	if (queue->fifo)
		return sqsn_fifo_receive_batch(queue_name, rsinfo, max_messages, now,
									   lease_until, lease_token);

	/* now and then, move the low-water marks on (lowwater.c) */
	sqsn_lowwater_step(queue, false);
	queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	if (fair_receives(queue, now))
	{
		fair = receive_fair(queue_name, &queue, rsinfo, max_messages, now,
							lease_until, lease_token);
		if (fair == max_messages)
			return fair;
		/* no group has more: the rest from messages without one */
		max_messages -= fair;
	}
	start = sqsn_lowwater_receive_start(queue, now, &head_after, &head);

	after = start;
	returned = receive_after(queue_name, &queue, rsinfo, max_messages, now,
							 lease_until, lease_token, &after);
	if (after > start)
		last_leased = after;
	if (returned < max_messages && start > head_after)
	{
		/* too few past the others' leases: look from the marks too */
		after = head_after;
		returned +=
			receive_after(queue_name, &queue, rsinfo, max_messages - returned,
						  now, lease_until, lease_token, &after);
		if (after > head_after)
			last_leased = Max(last_leased, after);
	}
	sqsn_lowwater_received(queue, last_leased, returned, head);

	return fair + returned;
}

/*
 * When the next message of the queue becomes visible by itself (a delay or
 * a lease running out), or 0 when none will. Requires an SPI connection.
 */
TimestampTz
sqsn_next_visible_at(const char *queue_name, TimestampTz now)
{
	SqsnQueue *queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	Datum      value = TimestampTzGetDatum(now);
	bool       isnull;
	Datum      next;

	sqsn_queue_execute(queue, &next_visible_stmt, &value, NULL, 1);
	if (SPI_processed != 1)
		elog(ERROR, "reading queue \"%s\" failed: " UINT64_FORMAT " rows",
			 queue_name, SPI_processed);
	next = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						 &isnull);
	return isnull ? 0 : DatumGetTimestampTz(next);
}

/*
 * How many messages of the queue are visible now, counting up to limit.
 * Requires an SPI connection.
 */
int
sqsn_count_visible(const char *queue_name, int limit)
{
	TimestampTz now = GetCurrentTimestamp();
	SqsnQueue  *queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	Datum       values[3];

	values[0] = TimestampTzGetDatum(now);
	values[1] = Int32GetDatum(limit);
	values[2] =
		Int64GetDatum(queue->fifo ? 0 : sqsn_lowwater_start(queue, now));
	sqsn_queue_execute(queue, &count_visible_stmt, values, NULL, 1);
	return (int) sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								1);
}

/*
 * The columns of a receive result (those of sq_receive), for callers that
 * receive into a tuplestore of their own (sqsn_receive_batch).
 */
TupleDesc
sqsn_received_tupdesc(void)
{
	static const struct
	{
		const char *name;
		Oid         type;
	} columns[] = {
		{"message_id", UUIDOID},
		{"receipt_handle", TEXTOID},
		{"body", TEXTOID},
		{"message_attributes", JSONBOID},
		{"sent_at", TIMESTAMPTZOID},
		{"receive_count", INT4OID},
		{"first_received_at", TIMESTAMPTZOID},
		{"message_group_id", TEXTOID},
		{"message_deduplication_id", TEXTOID},
		{"sequence_number", TEXTOID},
	};
	TupleDesc desc = CreateTemplateTupleDesc(lengthof(columns));

	for (int i = 0; i < lengthof(columns); i++)
		TupleDescInitEntry(desc, (AttrNumber) (i + 1), columns[i].name,
						   columns[i].type, -1, 0);
	return BlessTupleDesc(desc);
}

/*
 * Long polling: looks at the queue until it yields messages or wait_seconds
 * have passed, sleeping in between (see longpoll.c).
 */
static int
receive_waiting(const char *queue_name, int64 queue_id, ReturnSetInfo *rsinfo,
				int max_messages, int32 visibility_timeout, int64 lease_token,
				int32 wait_seconds)
{
	TimestampTz deadline =
		sqsn_add_seconds(GetCurrentTimestamp(), wait_seconds);
	int received = 0;

	sqsn_longpoll_begin(queue_id);
	PG_TRY();
	{
		for (;;)
		{
			TimestampTz now;
			TimestampTz wake_at;

			received = sqsn_receive_batch(queue_name, rsinfo, max_messages,
										  visibility_timeout, lease_token);
			if (received > 0)
				break;

			now = GetCurrentTimestamp();
			if (now >= deadline)
				break;
			wake_at = sqsn_next_visible_at(queue_name, now);
			if (wake_at == 0 || wake_at > deadline)
				wake_at = deadline;
			sqsn_longpoll_sleep(
				Max(TimestampDifferenceMilliseconds(now, wake_at), 1));
		}
	}
	PG_FINALLY();
	{
		sqsn_longpoll_end();
	}
	PG_END_TRY();
	return received;
}

/*
 * sq_receive(queue_name, max_number_of_messages, visibility_timeout,
 * wait_time_seconds)
 *
 * With a wait time (the argument, or the queue's receive_wait_time_seconds)
 * a receive that finds nothing waits up to that long for messages. In
 * REPEATABLE READ and SERIALIZABLE it returns at once instead: its
 * snapshot would never show new messages.
 */
Datum
sq_receive(PG_FUNCTION_ARGS)
{
	char *queue_name = sqsn_text_arg(fcinfo, 0, "queue_name");
	int32 max_messages = sqsn_int_arg(fcinfo, 1, "max_number_of_messages", 1,
									  SQSN_MAX_BATCH, PG_INT32_MIN);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64          lease_token = sqsn_new_lease_token();
	int32          visibility_timeout;
	int32          wait_seconds;
	int64          queue_id;
	SqsnQueue     *queue;
	int            received;

	sqsn_refuse_on_standby(fcinfo);
	sqsn_begin_result(fcinfo);

	sqsn_spi_connect();

	queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	sqsn_check_queue(queue, SQSN_RECEIVE);
	visibility_timeout =
		sqsn_int_arg(fcinfo, 2, "visibility_timeout", 0,
					 SQSN_MAX_VISIBILITY_TIMEOUT, queue->visibility_timeout);
	wait_seconds =
		sqsn_int_arg(fcinfo, 3, "wait_time_seconds", 0, SQSN_MAX_WAIT_TIME,
					 queue->receive_wait_time_seconds);
	queue_id = queue->queue_id;

	if (wait_seconds > 0 && sqsn_longpoll_can_wait())
		received =
			receive_waiting(queue_name, queue_id, rsinfo, max_messages,
							visibility_timeout, lease_token, wait_seconds);
	else
		received = sqsn_receive_batch(queue_name, rsinfo, max_messages,
									  visibility_timeout, lease_token);

	/* the entry may have been reloaded by the receive */
	queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	if (received > 0)
		sqsn_metrics_count(queue, QMETRIC_RECEIVED, received);
	else
		sqsn_metrics_count_empty_receive(queue);

	SPI_finish();
	return (Datum) 0;
}

/*
 * Deletes one message if the handle's lease token is still its current one.
 */
static bool
delete_by_handle(SqsnQueue *queue, const char *handle)
{
	int64 msg_seq;
	int64 lease_token;
	Datum values[2];

	sqsn_parse_receipt_handle(handle, queue->queue_id, &msg_seq, &lease_token);

	values[0] = Int64GetDatum(msg_seq);
	values[1] = Int64GetDatum(lease_token);
	sqsn_queue_execute(queue, &delete_stmt, values, NULL, 0);
	if (queue->fifo && SPI_processed > 0)
		sqsn_longpoll_note_send(queue->queue_id); /* a group may be free */
	sqsn_metrics_count(queue, QMETRIC_DELETED, SPI_processed);
	return SPI_processed > 0;
}

/*
 * sq_delete(queue_name, receipt_handle): true when deleted, false when the
 * handle is stale.
 */
Datum
sq_delete(PG_FUNCTION_ARGS)
{
	char      *queue_name = sqsn_text_arg(fcinfo, 0, "queue_name");
	char      *handle = sqsn_text_arg(fcinfo, 1, "receipt_handle");
	SqsnQueue *queue;
	bool       deleted;

	sqsn_refuse_on_standby(fcinfo);
	sqsn_spi_connect();
	queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	sqsn_check_queue(queue, SQSN_RECEIVE);
	deleted = delete_by_handle(queue, handle);
	SPI_finish();
	PG_RETURN_BOOL(deleted);
}

/* a deleted message: its ordering id and the lease token it was deleted with */
typedef struct DeletedLease
{
	int64 msg_seq;
	int64 lease_token;
} DeletedLease;

static int
compare_deleted_lease(const void *a, const void *b)
{
	const DeletedLease *x = a;
	const DeletedLease *y = b;

	if (x->msg_seq != y->msg_seq)
		return (x->msg_seq > y->msg_seq) - (x->msg_seq < y->msg_seq);
	return (x->lease_token > y->lease_token) -
		   (x->lease_token < y->lease_token);
}

/*
 * Deletes the messages of n parsed handles with one statement. deleted[i]
 * tells whether handle i deleted its message: the row matched both its
 * ordering id and its lease token; of two equal handles only the first
 * counts. Also the delete of the function consumers' batches (function/).
 */
void
sqsn_delete_leased(SqsnQueue *queue, Datum *msg_seqs, Datum *tokens, int n,
				   bool *deleted)
{
	Datum         values[2];
	DeletedLease *gone;
	bool         *claimed;
	uint64        ngone;

	values[0] = PointerGetDatum(construct_array(
		msg_seqs, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(
		tokens, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	sqsn_queue_execute(queue, &delete_leased_stmt, values, NULL, 0);

	ngone = SPI_processed;
	if (queue->fifo && ngone > 0)
		sqsn_longpoll_note_send(queue->queue_id); /* groups may be free */
	sqsn_metrics_count(queue, QMETRIC_DELETED, ngone);
	gone = palloc(sizeof(DeletedLease) * (ngone + 1));
	claimed = palloc0(sizeof(bool) * (ngone + 1));
	for (uint64 i = 0; i < ngone; i++)
	{
		gone[i].msg_seq =
			sqsn_spi_int64(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		gone[i].lease_token =
			sqsn_spi_int64(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	qsort(gone, ngone, sizeof(DeletedLease), compare_deleted_lease);

	for (int i = 0; i < n; i++)
	{
		DeletedLease  key = {DatumGetInt64(msg_seqs[i]),
							 DatumGetInt64(tokens[i])};
		DeletedLease *hit = bsearch(&key, gone, ngone, sizeof(DeletedLease),
									compare_deleted_lease);

		deleted[i] = (hit != NULL && !claimed[hit - gone]);
		if (deleted[i])
			claimed[hit - gone] = true;
	}
}

/*
 * sq_delete_batch(queue_name, receipt_handles): one row per handle, in
 * input order. Any malformed handle fails the whole call before anything
 * is deleted.
 */
Datum
sq_delete_batch(PG_FUNCTION_ARGS)
{
	char          *queue_name = sqsn_text_arg(fcinfo, 0, "queue_name");
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum         *handles;
	bool          *handle_nulls;
	Datum         *msg_seqs;
	Datum         *tokens;
	bool          *deleted;
	int            n;
	SqsnQueue     *queue;

	sqsn_refuse_on_standby(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("receipt_handles must not be NULL")));
	n = sqsn_array_arg(fcinfo, 1, "receipt_handles", TEXTOID, &handles,
					   &handle_nulls);
	if (n > SQSN_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too many receipt handles in one batch"),
				 errdetail("A batch has at most %d handles; %d were given.",
						   SQSN_MAX_BATCH, n)));

	sqsn_begin_result(fcinfo);

	sqsn_spi_connect();
	queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	sqsn_check_queue(queue, SQSN_RECEIVE);
	if (n == 0)
	{
		SPI_finish();
		return (Datum) 0;
	}

	msg_seqs = palloc(sizeof(Datum) * n);
	tokens = palloc(sizeof(Datum) * n);
	deleted = palloc(sizeof(bool) * n);
	for (int i = 0; i < n; i++)
	{
		int64 msg_seq;
		int64 lease_token;

		if (handle_nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("receipt_handles must not contain NULL"),
							errdetail("Element %d is NULL.", i + 1)));
		sqsn_parse_receipt_handle(TextDatumGetCString(handles[i]),
								  queue->queue_id, &msg_seq, &lease_token);
		msg_seqs[i] = Int64GetDatum(msg_seq);
		tokens[i] = Int64GetDatum(lease_token);
	}

	sqsn_delete_leased(queue, msg_seqs, tokens, n, deleted);

	for (int i = 0; i < n; i++)
	{
		Datum values[2] = {handles[i], BoolGetDatum(deleted[i])};
		bool  nulls[2] = {false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}

	SPI_finish();
	return (Datum) 0;
}

/*
 * sq_change_visibility(queue_name, receipt_handle, visibility_timeout):
 * the message becomes visible that many seconds from now (0: at once), if
 * the handle is still current.
 */
Datum
sq_change_visibility(PG_FUNCTION_ARGS)
{
	char *queue_name = sqsn_text_arg(fcinfo, 0, "queue_name");
	char *handle = sqsn_text_arg(fcinfo, 1, "receipt_handle");
	int32 visibility_timeout =
		sqsn_int_arg(fcinfo, 2, "visibility_timeout", 0,
					 SQSN_MAX_VISIBILITY_TIMEOUT, PG_INT32_MIN);
	SqsnQueue  *queue;
	int64       msg_seq;
	int64       lease_token;
	Datum       values[3];
	TimestampTz visible_at;
	bool        changed;

	sqsn_refuse_on_standby(fcinfo);
	sqsn_spi_connect();
	queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	sqsn_check_queue(queue, SQSN_RECEIVE);
	sqsn_parse_receipt_handle(handle, queue->queue_id, &msg_seq, &lease_token);

	visible_at = sqsn_add_seconds(GetCurrentTimestamp(), visibility_timeout);
	values[0] = Int64GetDatum(msg_seq);
	values[1] = Int64GetDatum(lease_token);
	values[2] = TimestampTzGetDatum(visible_at);
	changed = sqsn_queue_execute(queue, &change_visibility_stmt, values, NULL,
								 0) > 0;
	if (changed)
	{
		/* after the update, so a concurrent low-water walk sees one or the other */
		sqsn_lowwater_visibility_changed(queue, msg_seq, visible_at);
		sqsn_longpoll_note_send(queue->queue_id); /* a lease got shorter */
	}

	SPI_finish();
	PG_RETURN_BOOL(changed);
}

/*
 * Sends n messages to one queue, for callers outside this file (topic
 * fan-out). Each message needs message_id, body and attributes (simple or
 * typed form), and for a FIFO queue a group and a deduplication id; this
 * checks them against the queue's limits, applies the queue's delay and
 * retention, drops FIFO duplicates, and inserts them with one statement.
 * Requires an SPI connection and the queue opened with RowExclusiveLock.
 */
void
sqsn_send_messages(SqsnQueue *queue, OutgoingMessage *msgs, int n)
{
	TimestampTz now = GetCurrentTimestamp();
	int         nfresh = 0;

	for (int i = 0; i < n; i++)
		prepare_outgoing(&msgs[i], queue, DatumGetTextPP(msgs[i].body),
						 msgs[i].attributes, now, queue->delay_seconds);

	/* FIFO: the queue's own deduplication drops repeats */
	if (queue->fifo)
	{
		for (int i = 0; i < n; i++)
		{
			if (sqsn_fifo_deduplicate(queue, &msgs[i]) == msgs[i].message_id)
				msgs[nfresh++] = msgs[i];
		}
		n = nfresh;
	}

	if (n == 1)
		insert_one(queue, msgs);
	else if (n > 1)
		insert_many(queue, msgs, n);
}
