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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "topic/topic.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(run_archive_maintenance);

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
			sqsn_invalid_policy(
				"archive",
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
		sqsn_execute(&forget_archive_stmt, values, NULL, 0);
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
 * the retention period.
 */
TimestampTz
sqsn_beginning_archive_time(TimestampTz started_at, int days)
{
	TimestampTz horizon =
		GetCurrentTransactionStartTimestamp() - (int64) days * USECS_PER_DAY;

	return Max(started_at, horizon);
}

/*
 * sqsn.run_archive_maintenance(batch_size): deletes up to batch_size
 * archived messages past their topic's retention period; returns how many.
 */
Datum
run_archive_maintenance(PG_FUNCTION_ARGS)
{
	int32  batch_size = PG_ARGISNULL(0) ? 1000 : PG_GETARG_INT32(0);
	Datum  values[2];
	uint64 deleted;

	if (batch_size < 1 || batch_size > 1000000)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("batch_size must be between 1 and 1000000")));
	sqsn_refuse_on_standby(fcinfo);
	sqsn_spi_connect();
	values[0] = TimestampTzGetDatum(GetCurrentTimestamp());
	values[1] = Int32GetDatum(batch_size);
	deleted = sqsn_execute(&prune_stmt, values, NULL, 0);
	SPI_finish();
	PG_RETURN_INT64((int64) deleted);
}
