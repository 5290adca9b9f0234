/*-------------------------------------------------------------------------
 *
 * archive.c
 *	  The archive of FIFO topics (ArchivePolicy): what a publish keeps,
 *	  BeginningArchiveTime, and the maintenance that deletes messages past
 *	  the retention period.
 *
 * A FIFO topic with an archive policy (sqsn.topic.archive_retention_days,
 * 1..365 days) keeps every message it publishes -- not the duplicates its
 * deduplication drops -- in sqsn.topic_archive, written by the publish
 * (topic/publish.c) in the publisher's transaction with the text queue
 * subscribers get, its attributes, subject, group and deduplication ids,
 * sequence number and publish time. A rolled-back publish archives
 * nothing. Turning the policy off ({} or "") deletes the archive, as the
 * managed service does; deleting the topic deletes it too.
 *
 * BeginningArchiveTime, the earliest time a replay may start from, is the
 * later of the time archiving was turned on and now minus the retention
 * period: from there on the archive is complete, whether or not the
 * maintenance has yet deleted what is older.
 *
 * sqsn.run_archive_maintenance() deletes, for each archived topic, up to a
 * batch of messages older than its retention period (oldest first, by the
 * index on (topic_id, published_at)): the maintenance worker calls it each
 * round, repeatedly while batches come back full, one transaction each.
 *
 * Replay. A subscription of an archiving FIFO topic takes a ReplayPolicy
 * ({"PointType": "Timestamp", "StartingPoint": t1, "EndingPoint": t2},
 * the end optional): the archived messages published in [t1, t2] are
 * delivered to it once more, in sequence order (so in order within each
 * message group), then it is back to live delivery alone -- which it never
 * stopped. sqsn.subscription_replay holds one replay per subscription:
 * the window, the last sequence number it covers (the archive's newest
 * when the policy was set: what comes after was delivered live), how far
 * it got (replayed_through) and its ReplayStatus (Pending, In progress,
 * Completed, Failed). A new policy replaces the replay; {} or "" removes
 * it.
 *
 * sqsn.run_topic_replays() steps the replay stepped longest ago: it reads
 * the next batch of archived messages of the window after
 * replayed_through, sends the copies that pass the subscription's filter
 * policy to its queue (through the queue send path, as a publish does),
 * and moves replayed_through past the batch, all in one transaction: a
 * crash (kill -9) rolls back the copies with the progress, so the next
 * step starts where the last committed one ended, and nothing is lost or
 * sent twice. A copy keeps the original's MessageId, SequenceNumber and
 * Timestamp, and its envelope says "Replayed": true; it carries the
 * original's group id, and as deduplication id the SHA-256 of the
 * replay's id and the sequence number: never the original's, which the
 * queue may still hold from the live delivery and would drop the copy
 * for, and the same for the same message within one replay, so the queue
 * drops a second copy of it should one ever come. A step that fails marks
 * the replay Failed with its error; the subscription's owner must still be
 * allowed to send to the queue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "topic/topic.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(run_archive_maintenance);
PG_FUNCTION_INFO_V1(run_topic_replays);

#define MAX_RETENTION_DAYS 365

/* Statements on sqsn.topic and sqsn.topic_archive, run by sqsn_execute */

static SqsnStatement set_policy_stmt = {
	"UPDATE sqsn.topic SET archive_retention_days = $2,"
	" archive_started_at = CASE WHEN $2 IS NULL THEN NULL"
	"  ELSE COALESCE(archive_started_at, pg_catalog.now()) END"
	" WHERE topic_id OPERATOR(pg_catalog.=) $1",
	2,
	{INT8OID, INT4OID},
	SPI_OK_UPDATE,
	"updating sqsn.topic"};

static SqsnStatement forget_archive_stmt = {
	"DELETE FROM sqsn.topic_archive"
	" WHERE topic_id OPERATOR(pg_catalog.=) $1",
	1,
	{INT8OID},
	SPI_OK_DELETE,
	"deleting a topic's archive"};

static SqsnStatement encrypted_archive_stmt = {
	"SELECT encrypted AND archive_retention_days IS NOT NULL"
	" FROM sqsn.topic WHERE topic_id OPERATOR(pg_catalog.=) $1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.topic"};

static SqsnStatement archive_stmt = {
	"INSERT INTO sqsn.topic_archive (topic_id, sequence_number, message_id,"
	" published_at, message, message_attributes, subject, message_group_id,"
	" message_deduplication_id)"
	" SELECT $1, m.s, m.i, $2, m.m, m.a, m.j, m.g, m.d"
	" FROM ROWS FROM (pg_catalog.unnest($3), pg_catalog.unnest($4),"
	"  pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7),"
	"  pg_catalog.unnest($8), pg_catalog.unnest($9))"
	"  AS m(s, i, m, a, j, g, d)"
	" WHERE EXISTS (SELECT FROM sqsn.topic t"
	"  WHERE t.topic_id OPERATOR(pg_catalog.=) $1"
	"   AND t.archive_retention_days IS NOT NULL)",
	9,
	{INT8OID, TIMESTAMPTZOID, INT8ARRAYOID, UUIDARRAYOID, TEXTARRAYOID,
	 JSONBARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID},
	SPI_OK_INSERT,
	"archiving published messages"};

/* $1 now, $2 the batch size: per archived topic, its oldest expired rows */
static SqsnStatement prune_stmt = {
	"DELETE FROM sqsn.topic_archive a"
	" WHERE a.ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
	"  SELECT c.ctid FROM sqsn.topic t,"
	"   LATERAL (SELECT c.ctid FROM sqsn.topic_archive c"
	"    WHERE c.topic_id OPERATOR(pg_catalog.=) t.topic_id"
	"     AND c.published_at OPERATOR(pg_catalog.<) ($1"
	"      OPERATOR(pg_catalog.-) pg_catalog.make_interval("
	"       days => t.archive_retention_days))"
	"    ORDER BY c.published_at LIMIT $2 FOR UPDATE SKIP LOCKED) c"
	"  WHERE t.archive_retention_days IS NOT NULL"
	"  LIMIT $2))",
	2,
	{TIMESTAMPTZOID, INT4OID},
	SPI_OK_DELETE,
	"deleting expired archived messages"};

static SqsnStatement archive_state_stmt = {
	"SELECT t.topic_name, t.archive_retention_days, t.archive_started_at,"
	" (SELECT pg_catalog.max(a.sequence_number) FROM sqsn.topic_archive a"
	"   WHERE a.topic_id OPERATOR(pg_catalog.=) t.topic_id)"
	" FROM sqsn.subscription s JOIN sqsn.topic t USING (topic_id)"
	" WHERE s.subscription_id OPERATOR(pg_catalog.=) $1",
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"reading sqsn.topic"};

static SqsnStatement set_replay_stmt = {
	"INSERT INTO sqsn.subscription_replay AS r (subscription_id, replay_id,"
	" replay_policy, starting_point, ending_point, last_sequence_number,"
	" replayed_through, messages_replayed, status, error, requested_at,"
	" updated_at)"
	" VALUES ($1, pg_catalog.gen_random_uuid(), $2, $3, $4, $5, 0, 0,"
	"  'Pending', NULL, pg_catalog.now(), pg_catalog.now())"
	" ON CONFLICT (subscription_id) DO UPDATE SET"
	"  replay_id = excluded.replay_id, replay_policy = excluded.replay_policy,"
	"  starting_point = excluded.starting_point,"
	"  ending_point = excluded.ending_point,"
	"  last_sequence_number = excluded.last_sequence_number,"
	"  replayed_through = 0, messages_replayed = 0, status = 'Pending',"
	"  error = NULL, requested_at = excluded.requested_at,"
	"  updated_at = excluded.updated_at",
	5,
	{UUIDOID, JSONBOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID},
	SPI_OK_INSERT,
	"recording a replay"};

static SqsnStatement remove_replay_stmt = {
	"DELETE FROM sqsn.subscription_replay"
	" WHERE subscription_id OPERATOR(pg_catalog.=) $1",
	1,
	{UUIDOID},
	SPI_OK_DELETE,
	"removing a replay"};

/* the archive of the topic is gone: its replays cannot go on */
static SqsnStatement fail_replays_stmt = {
	"UPDATE sqsn.subscription_replay r SET status = 'Failed',"
	" error = 'the topic''s archive was deleted', updated_at = "
	"pg_catalog.now()"
	" FROM sqsn.subscription s"
	" WHERE s.subscription_id OPERATOR(pg_catalog.=) r.subscription_id"
	"  AND s.topic_id OPERATOR(pg_catalog.=) $1"
	"  AND r.status OPERATOR(pg_catalog.=) ANY (ARRAY['Pending', 'In "
	"progress'])",
	1,
	{INT8OID},
	SPI_OK_UPDATE,
	"failing replays"};

static SqsnStatement replay_attributes_stmt = {
	"SELECT replay_policy, status FROM sqsn.subscription_replay"
	" WHERE subscription_id OPERATOR(pg_catalog.=) $1",
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"reading sqsn.subscription_replay"};

/* the replay to step: the active one stepped longest ago */
static SqsnStatement pick_replay_stmt = {
	"SELECT r.subscription_id, s.topic_id FROM sqsn.subscription_replay r"
	" JOIN sqsn.subscription s USING (subscription_id)"
	" WHERE r.status OPERATOR(pg_catalog.=) ANY (ARRAY['Pending', 'In "
	"progress'])"
	" ORDER BY r.updated_at, r.subscription_id LIMIT 1",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"reading sqsn.subscription_replay"};

/*
 * That replay, locked, once its topic is locked (the order every change
 * of a subscription takes): nothing when it is no longer active.
 */
static SqsnStatement lock_replay_stmt = {
	"SELECT r.subscription_id, r.replay_id, s.topic_id, t.topic_name,"
	" q.queue_name, s.raw_message_delivery,"
	" s.filter_policy_scope OPERATOR(pg_catalog.=) 'MessageBody',"
	" s.filter_policy, s.owner::pg_catalog.text, r.starting_point,"
	" r.ending_point, r.last_sequence_number, r.replayed_through"
	" FROM sqsn.subscription_replay r"
	" JOIN sqsn.subscription s USING (subscription_id)"
	" JOIN sqsn.topic t ON t.topic_id OPERATOR(pg_catalog.=) s.topic_id"
	" JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) s.queue_id"
	" WHERE r.subscription_id OPERATOR(pg_catalog.=) $1"
	"  AND r.status OPERATOR(pg_catalog.=) ANY (ARRAY['Pending', 'In "
	"progress'])"
	" FOR UPDATE OF r SKIP LOCKED",
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"reading sqsn.subscription_replay"};

static SqsnStatement fail_replay_stmt = {
	"UPDATE sqsn.subscription_replay SET status = 'Failed', error = $2,"
	" updated_at = pg_catalog.clock_timestamp()"
	" WHERE subscription_id OPERATOR(pg_catalog.=) $1",
	2,
	{UUIDOID, TEXTOID},
	SPI_OK_UPDATE,
	"recording a failed replay"};

static SqsnStatement active_replays_stmt = {
	"SELECT pg_catalog.count(*) FROM sqsn.subscription_replay"
	" WHERE status OPERATOR(pg_catalog.=) ANY (ARRAY['Pending', 'In "
	"progress'])",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"reading sqsn.subscription_replay"};

/* $1 topic, $2 after, $3 up to, $4 start, $5 end or NULL, $6 limit */
static SqsnStatement replay_batch_stmt = {
	"SELECT sequence_number, message_id, published_at, message,"
	" message_attributes, subject, message_group_id"
	" FROM sqsn.topic_archive"
	" WHERE topic_id OPERATOR(pg_catalog.=) $1"
	"  AND sequence_number OPERATOR(pg_catalog.>) $2"
	"  AND sequence_number OPERATOR(pg_catalog.<=) $3"
	"  AND published_at OPERATOR(pg_catalog.>=) $4"
	"  AND ($5 IS NULL OR published_at OPERATOR(pg_catalog.<=) $5)"
	" ORDER BY sequence_number LIMIT $6",
	6,
	{INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID},
	SPI_OK_SELECT,
	"reading sqsn.topic_archive"};

static SqsnStatement replay_progress_stmt = {
	"UPDATE sqsn.subscription_replay SET replayed_through = $2,"
	" messages_replayed = messages_replayed OPERATOR(pg_catalog.+) $3,"
	" status = $4, updated_at = pg_catalog.clock_timestamp()"
	" WHERE subscription_id OPERATOR(pg_catalog.=) $1",
	4,
	{UUIDOID, INT8OID, INT8OID, TEXTOID},
	SPI_OK_UPDATE,
	"recording a replay's progress"};

/*
 * The retention period of an ArchivePolicy: {"MessageRetentionPeriod": N}
 * with N days, 1..365, as a number or a string (also the policy as a JSON
 * string); 0 for no archive ({}, "" or null). FIFO topics only (22023).
 */
int
sqsn_archive_policy_days(const char *topic_name, JsonbValue *v)
{
	Jsonb         *policy;
	JsonbIterator *it;
	JsonbValue     pv;
	char          *key = NULL;
	int32          days = 0;

	if (!sqsn_is_fifo_name(topic_name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ArchivePolicy is only for FIFO topics"),
				 errdetail("Topic \"%s\" is a standard topic.", topic_name)));
	if (sqsn_jsonb_is_empty(v))
		return 0;
	if (v->type == jbvString)
		policy = sqsn_json_or_null(v->val.string.val, v->val.string.len);
	else if (sqsn_jsonb_is_object(v))
		policy = JsonbValueToJsonb(v);
	else
		policy = NULL;
	if (policy == NULL || !JB_ROOT_IS_OBJECT(policy) ||
		JB_ROOT_IS_SCALAR(policy))
		sqsn_invalid_policy("archive", "An ArchivePolicy is a JSON object.",
							"Write {\"MessageRetentionPeriod\": \"30\"}.");

	it = JsonbIteratorInit(&policy->root);
	while (sqsn_jsonb_next_pair(&it, &key, &pv))
	{
		if (strcmp(key, "MessageRetentionPeriod") != 0)
			sqsn_invalid_policy("archive",
								psprintf("Unknown key \"%s\"; the only key is "
										 "MessageRetentionPeriod.",
										 key),
								NULL);
		if (!sqsn_jsonb_int(&pv, 1, MAX_RETENTION_DAYS, &days))
			sqsn_invalid_policy(
				"archive",
				"MessageRetentionPeriod must be a whole number of days "
				"from 1 to 365.",
				NULL);
	}
	return days;
}

/*
 * Sets a topic's archive retention (0: no archive, which deletes the
 * archive). A topic archiving for the first time starts its archive now;
 * one that already archives keeps its start (a shorter retention only
 * makes the maintenance delete more). Requires an SPI connection and the
 * topic's exclusive lock.
 */
void
sqsn_set_archive_policy(int64 topic_id, int days)
{
	Datum values[2] = {Int64GetDatum(topic_id), Int32GetDatum(days)};
	char  nulls[2] = {' ', days > 0 ? ' ' : 'n'};

	if (!sqsn_catalog_has(SQSN_CATALOG_ARCHIVE))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("ArchivePolicy needs version 0.5 of extension "
							   "sqsn"),
						errhint("Run ALTER EXTENSION sqsn UPDATE.")));
	sqsn_execute(&set_policy_stmt, values, nulls, 0);
	if (days == 0)
	{
		sqsn_execute(&forget_archive_stmt, values, NULL, 0);
		sqsn_execute(&fail_replays_stmt, values, NULL, 0);
	}
}

/*
 * Refuses a topic that would be both encrypted and archived: the archive
 * keeps messages as published, and an encrypted topic promises that its
 * messages are sealed at rest.
 */
void
sqsn_check_archive_encryption(int64 topic_id, const char *topic_name)
{
	Datum value = Int64GetDatum(topic_id);

	if (!sqsn_catalog_has(SQSN_CATALOG_ARCHIVE))
		return;
	if (sqsn_execute(&encrypted_archive_stmt, &value, NULL, 1) == 1 &&
		sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("topic \"%s\" cannot be both encrypted and archived",
						topic_name),
				 errdetail("The archive keeps messages unencrypted."),
				 errhint("Turn off SqsManagedSseEnabled or the "
						 "ArchivePolicy.")));
}

/*
 * Archives n publications of a FIFO topic, when the topic archives (one
 * statement, which reads the topic's policy in the publish's snapshot,
 * after the publish took the topic's lock). attributes, subjects: NULL
 * entries for none. Requires an SPI connection.
 */
void
sqsn_archive_publications(int64 topic_id, TimestampTz published_at, int n,
						  Datum *sequence_numbers, Datum *message_ids,
						  Datum *messages, Datum *attributes,
						  bool *attribute_nulls, Datum *subjects,
						  bool *subject_nulls, Datum *group_ids,
						  Datum *deduplication_ids)
{
	Datum values[9];

	if (n == 0 || !sqsn_catalog_has(SQSN_CATALOG_ARCHIVE))
		return;
	values[0] = Int64GetDatum(topic_id);
	values[1] = TimestampTzGetDatum(published_at);
	values[2] = sqsn_array_of(sequence_numbers, NULL, n, INT8OID);
	values[3] = sqsn_array_of(message_ids, NULL, n, UUIDOID);
	values[4] = sqsn_array_of(messages, NULL, n, TEXTOID);
	values[5] = sqsn_array_of(attributes, attribute_nulls, n, JSONBOID);
	values[6] = sqsn_array_of(subjects, subject_nulls, n, TEXTOID);
	values[7] = sqsn_array_of(group_ids, NULL, n, TEXTOID);
	values[8] = sqsn_array_of(deduplication_ids, NULL, n, TEXTOID);
	sqsn_execute(&archive_stmt, values, NULL, 0);
}

/*
 * BeginningArchiveTime: the later of the archive's start and now minus
 * the retention period, rounded down to the millisecond (as it is shown).
 */
TimestampTz
sqsn_beginning_archive_time(TimestampTz started_at, int days)
{
	TimestampTz horizon =
		GetCurrentTransactionStartTimestamp() - (int64) days * USECS_PER_DAY;
	TimestampTz beginning = Max(started_at, horizon);

	/* in whole milliseconds, as reported: a replay may start there */
	return beginning - (beginning % 1000 + 1000) % 1000;
}

/*
 * The start of the maintenance functions: their batch_size argument
 * (1..1000000, default 1000), refused on a standby, SPI connected.
 */
static int32
maintenance_begin(FunctionCallInfo fcinfo)
{
	int32 batch_size = PG_ARGISNULL(0) ? 1000 : PG_GETARG_INT32(0);

	if (batch_size < 1 || batch_size > 1000000)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("batch_size must be between 1 and 1000000")));
	sqsn_refuse_on_standby(fcinfo);
	sqsn_spi_connect();
	return batch_size;
}

/*
 * sqsn.run_archive_maintenance(batch_size): deletes up to batch_size
 * archived messages past their topic's retention period; returns how many.
 */
Datum
run_archive_maintenance(PG_FUNCTION_ARGS)
{
	int32  batch_size = maintenance_begin(fcinfo);
	Datum  values[2];
	uint64 deleted;

	values[0] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[1] = Int32GetDatum(batch_size);
	deleted = sqsn_execute(&prune_stmt, values, NULL, 0);
	SPI_finish();
	PG_RETURN_INT64((int64) deleted);
}

/* Replay ---------------------------------------------------------------- */

/* A timestamp of a ReplayPolicy: an ISO 8601 string (22007 otherwise). */
static TimestampTz
replay_point(Jsonb *policy, const char *key, bool required)
{
	JsonbValue *v =
		getKeyJsonValueFromContainer(&policy->root, key, strlen(key), NULL);
	TimestampTz t;

	if (v == NULL || v->type == jbvNull)
	{
		if (required)
			sqsn_invalid_policy("replay", psprintf("%s is required.", key),
								"Write {\"PointType\": \"Timestamp\", "
								"\"StartingPoint\": "
								"\"2026-01-02T03:04:05.000Z\"}.");
		return DT_NOEND;
	}
	if (v->type != jbvString)
		ereport(ERROR, (errcode(ERRCODE_INVALID_DATETIME_FORMAT),
						errmsg("%s of a ReplayPolicy must be a timestamp "
							   "string",
							   key)));
	t = DatumGetTimestampTz(DirectFunctionCall3(
		timestamptz_in, CStringGetDatum(sqsn_jsonb_string(v)),
		ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR, (errcode(ERRCODE_INVALID_DATETIME_FORMAT),
						errmsg("%s of a ReplayPolicy must be a finite "
							   "timestamp",
							   key)));
	return t;
}

/*
 * Sets (or with policy NULL removes) the ReplayPolicy of a subscription,
 * after sn_set_subscription_attributes locked its topic exclusively: no
 * publish is in flight, so the archive's newest sequence number now is the
 * last one the replay covers. Refusals: a standard topic (42809), a topic
 * without archive (55000), a policy that is not {"PointType": "Timestamp",
 * "StartingPoint": ..., "EndingPoint": ...} (22023), timestamps that are
 * not (22007), a start before BeginningArchiveTime or in the future
 * (22008), an end before the start (22023).
 */
void
sqsn_set_replay_policy(Datum subscription_id, Jsonb *policy)
{
	HeapTuple      tuple;
	TupleDesc      desc;
	char          *topic_name;
	int            days;
	TimestampTz    start;
	TimestampTz    end;
	TimestampTz    beginning;
	JsonbIterator *it;
	JsonbValue     v;
	char          *key = NULL;
	JsonbValue    *point_type;
	Datum          values[5];
	char           nulls[5] = {' ', ' ', ' ', ' ', ' '};

	if (!sqsn_catalog_has(SQSN_CATALOG_ARCHIVE))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("ReplayPolicy needs version 0.5 of extension "
							   "sqsn"),
						errhint("Run ALTER EXTENSION sqsn UPDATE.")));
	if (policy == NULL)
	{
		sqsn_execute(&remove_replay_stmt, &subscription_id, NULL, 0);
		return;
	}
	if (sqsn_execute(&archive_state_stmt, &subscription_id, NULL, 1) == 0)
		elog(ERROR, "the subscription's topic is gone");
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	topic_name = SPI_getvalue(tuple, desc, 1);
	days = sqsn_spi_int32(tuple, desc, 2);
	if (!sqsn_is_fifo_name(topic_name))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("ReplayPolicy is only for subscriptions of FIFO "
						"topics"),
				 errdetail("Topic \"%s\" is a standard topic.", topic_name)));
	if (days == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("topic \"%s\" has no archive to replay", topic_name),
				 errhint("Set the topic's ArchivePolicy first.")));
	beginning = sqsn_beginning_archive_time(
		sqsn_spi_timestamptz(tuple, desc, 3), days);
	values[4] = sqsn_spi_datum(tuple, desc, 4); /* NULL reads as 0 */

	if (!JB_ROOT_IS_OBJECT(policy) || JB_ROOT_IS_SCALAR(policy))
		sqsn_invalid_policy("replay", "A ReplayPolicy is a JSON object.",
							NULL);
	it = JsonbIteratorInit(&policy->root);
	while (sqsn_jsonb_next_pair(&it, &key, &v))
		if (strcmp(key, "PointType") != 0 &&
			strcmp(key, "StartingPoint") != 0 &&
			strcmp(key, "EndingPoint") != 0)
			sqsn_invalid_policy(
				"replay",
				psprintf("Unknown key \"%s\"; the keys are PointType, "
						 "StartingPoint and EndingPoint.",
						 key),
				NULL);
	point_type =
		getKeyJsonValueFromContainer(&policy->root, "PointType", 9, NULL);
	if (point_type == NULL || point_type->type != jbvString ||
		point_type->val.string.len != 9 ||
		strncmp(point_type->val.string.val, "Timestamp", 9) != 0)
		sqsn_invalid_policy("replay", "PointType must be \"Timestamp\".",
							NULL);
	start = replay_point(policy, "StartingPoint", true);
	end = replay_point(policy, "EndingPoint", false);
	if (start < beginning)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						errmsg("StartingPoint is before the topic's "
							   "BeginningArchiveTime"),
						errdetail("Topic \"%s\" can replay from %s on.",
								  topic_name, sqsn_iso_timestamp(beginning))));
	if (start > GetCurrentTransactionStartTimestamp())
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						errmsg("StartingPoint is in the future")));
	if (end != DT_NOEND && end < start)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("EndingPoint is before StartingPoint")));

	values[0] = subscription_id;
	values[1] = JsonbPGetDatum(policy);
	values[2] = TimestampTzGetDatum(start);
	values[3] = TimestampTzGetDatum(end);
	nulls[3] = end == DT_NOEND ? 'n' : ' ';
	sqsn_execute(&set_replay_stmt, values, nulls, 0);
}

/*
 * ReplayPolicy and ReplayStatus of a subscription that has a replay, for
 * sn_get_subscription_attributes. Runs a statement.
 */
void
sqsn_replay_attributes(StringInfo buf, Datum subscription_id)
{
	/* SPI leaves its own memory current: the caller's result is not SPI's */
	MemoryContext caller = CurrentMemoryContext;
	Jsonb        *policy;
	uint64        n;

	if (!sqsn_catalog_has(SQSN_CATALOG_ARCHIVE))
		return;
	n = sqsn_execute(&replay_attributes_stmt, &subscription_id, NULL, 1);
	MemoryContextSwitchTo(caller);
	if (n == 0)
		return;
	policy = sqsn_spi_jsonb(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	sqsn_json_jsonb(buf, "ReplayPolicy", policy);
	sqsn_json_string(
		buf, "ReplayStatus",
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
}

/* A replay being stepped: what lock_replay_stmt read. */
typedef struct Replay
{
	Datum       subscription_id;
	int64       topic_id;
	char       *replay_id;
	char       *topic_name;
	char       *queue_name;
	bool        raw;
	bool        body_scope;
	Jsonb      *filter_policy;
	char       *owner;
	TimestampTz start;
	TimestampTz end; /* DT_NOEND: none */
	int64       last;
	int64       through;
	int         batch_size;
} Replay;

/* The deduplication id of a replayed copy (see the file's comment). */
static char *
replay_deduplication_id(Replay *r, int64 sequence_number)
{
	return sqsn_content_deduplication_id(cstring_to_text(
		psprintf("%s:" INT64_FORMAT, r->replay_id, sequence_number)));
}

/*
 * Locks the replay's topic, then the replay, and reads it (with its
 * subscription's current settings); false when it is no longer active.
 */
static bool
lock_replay(Replay *r)
{
	HeapTuple tuple;
	TupleDesc desc;
	bool      isnull;
	Datum     d;

	sqsn_lock_topic(r->topic_id, AccessShareLock);
	if (sqsn_execute(&lock_replay_stmt, &r->subscription_id, NULL, 1) == 0)
		return false;
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	r->replay_id = SPI_getvalue(tuple, desc, 2);
	r->topic_name = SPI_getvalue(tuple, desc, 4);
	r->queue_name = SPI_getvalue(tuple, desc, 5);
	r->raw = sqsn_spi_bool(tuple, desc, 6);
	r->body_scope = sqsn_spi_bool(tuple, desc, 7);
	r->filter_policy = sqsn_spi_jsonb(tuple, desc, 8);
	r->owner = SPI_getvalue(tuple, desc, 9);
	r->start = sqsn_spi_timestamptz(tuple, desc, 10);
	d = SPI_getbinval(tuple, desc, 11, &isnull);
	r->end = isnull ? DT_NOEND : DatumGetTimestampTz(d);
	r->last = sqsn_spi_int64(tuple, desc, 12);
	r->through = sqsn_spi_int64(tuple, desc, 13);
	return true;
}

/*
 * A replayed copy of an archived message (a row of replay_batch_stmt) for
 * the replay's queue: the envelope with "Replayed": true, or the message
 * alone with raw delivery.
 */
static void
replay_copy(Replay *r, HeapTuple tuple, TupleDesc desc, const char *message,
			Jsonb *attributes, OutgoingMessage *msg)
{
	int64 seq = sqsn_spi_int64(tuple, desc, 1);

	msg->message_id = sqsn_new_uuid();
	msg->group_id = SPI_getvalue(tuple, desc, 7);
	msg->deduplication_id = replay_deduplication_id(r, seq);
	if (r->raw)
	{
		msg->body = CStringGetTextDatum(message);
		msg->attributes = attributes;
	}
	else
	{
		SqsnEnvelope env;

		memset(&env, 0, sizeof(env));
		env.type = "Notification";
		env.message_id = SPI_getvalue(tuple, desc, 2);
		env.sequence_number = psprintf("%020" INT64_MODIFIER "d", seq);
		env.topic_arn = sqsn_topic_arn(r->topic_name);
		env.subject = SPI_getvalue(tuple, desc, 6);
		env.message = message;
		env.timestamp =
			sqsn_iso_timestamp(sqsn_spi_timestamptz(tuple, desc, 3));
		env.attributes = attributes;
		env.replayed = true;
		msg->body = CStringGetTextDatum(sqsn_envelope_json(&env));
		/* the trace header stays a system attribute of the copy */
		msg->attributes = sqsn_attributes_filter(attributes, true);
	}
}

/*
 * One step of a replay: the next batch of its window into its queue, and
 * its progress, in the caller's (sub)transaction.
 */
static void
replay_step(void *arg)
{
	Replay          *r = arg;
	Datum            values[6];
	char             nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	SPITupleTable   *batch;
	uint64           n;
	OutgoingMessage *msgs;
	int              k = 0;

	if (!lock_replay(r))
		return;
	values[0] = Int64GetDatum(r->topic_id);
	values[1] = Int64GetDatum(r->through);
	values[2] = Int64GetDatum(r->last);
	values[3] = TimestampTzGetDatum(r->start);
	values[4] = TimestampTzGetDatum(r->end);
	nulls[4] = r->end == DT_NOEND ? 'n' : ' ';
	values[5] = Int32GetDatum(r->batch_size);
	n = sqsn_execute(&replay_batch_stmt, values, nulls, 0);
	batch = SPI_tuptable;

	msgs = palloc0(sizeof(OutgoingMessage) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple tuple = batch->vals[i];
		char     *message = SPI_getvalue(tuple, batch->tupdesc, 4);
		Jsonb    *attributes = sqsn_spi_jsonb(tuple, batch->tupdesc, 5);

		r->through = sqsn_spi_int64(tuple, batch->tupdesc, 1);
		if (r->filter_policy != NULL &&
			!sqsn_filter_matches(
				r->filter_policy, r->body_scope, attributes,
				r->body_scope ? sqsn_json_or_null(message, strlen(message))
							  : NULL))
			continue;
		replay_copy(r, tuple, batch->tupdesc, message, attributes, &msgs[k++]);
	}
	if (k > 0)
	{
		SqsnQueue *queue = sqsn_open_queue(r->queue_name, RowExclusiveLock);

		if (!sqsn_queue_allows_role(queue, r->owner, SQSN_SEND))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the owner of the subscription may not send to "
							"queue \"%s\"",
							queue->name)));
		sqsn_send_messages(queue, msgs, k);
	}

	values[0] = r->subscription_id;
	values[1] = Int64GetDatum(r->through);
	values[2] = Int64GetDatum(k);
	values[3] = CStringGetTextDatum(
		n < (uint64) r->batch_size ? "Completed" : "In progress");
	sqsn_execute(&replay_progress_stmt, values, NULL, 0);
}

/*
 * sqsn.run_topic_replays(batch_size): one step (up to batch_size archived
 * messages) of the active replay stepped longest ago; a step that fails
 * marks its replay Failed. Returns how many replays are still active.
 */
Datum
run_topic_replays(PG_FUNCTION_ARGS)
{
	int32      batch_size = maintenance_begin(fcinfo);
	Replay     r;
	ErrorData *edata = NULL;
	int64      active;

	if (sqsn_execute(&pick_replay_stmt, NULL, NULL, 1) == 1)
	{
		memset(&r, 0, sizeof(r));
		r.subscription_id = datumCopy(
			sqsn_spi_datum(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
			false, UUID_LEN);
		r.topic_id =
			sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		r.batch_size = batch_size;
		if (!sqsn_subxact_try(replay_step, &r, &edata))
		{
			Datum values[2] = {r.subscription_id,
							   CStringGetTextDatum(edata->message)};

			sqsn_execute(&fail_replay_stmt, values, NULL, 0);
		}
	}
	sqsn_execute(&active_replays_stmt, NULL, NULL, 1);
	active = sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_finish();
	PG_RETURN_INT64(active);
}
