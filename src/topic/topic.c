/*-------------------------------------------------------------------------
 *
 * topic.c
 *	  The topic catalog (sqsn.topic): create, delete and list topics, their
 *	  grants and owner, and the locks every topic operation takes.
 *
 * A topic keeps no messages of its own: publishing (publish.c) copies a
 * message into every subscribed queue and into the push outbox, inside
 * the publisher's transaction.
 *
 * Concurrency: a publish holds a shared lock on its topic (a lock on the
 * object "sqsn.topic, topic_id", not a row lock, so publishers never write
 * the catalog) from the moment it reads the subscriptions until its
 * transaction ends; subscribe, unsubscribe, attribute changes and topic
 * deletion take the same lock exclusively (sqsn_begin_topic_change). A
 * subscription change therefore waits for publishes in flight, and a
 * publish that starts after the change committed reads the new
 * subscriptions (each catalog read takes a fresh snapshot): every publish
 * delivers to a subscription exactly once or not at all.
 *
 * The catalog functions run with search_path pinned to pg_catalog, like
 * those of queue/admin.c. Deleting a topic removes its subscriptions;
 * deleting a queue removes the subscriptions of that queue (foreign keys
 * with ON DELETE CASCADE), as a deleted queue can receive nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "topic/topic.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(sn_create_topic);
PG_FUNCTION_INFO_V1(sn_delete_topic);
PG_FUNCTION_INFO_V1(sn_list_topics);
PG_FUNCTION_INFO_V1(sn_grant);
PG_FUNCTION_INFO_V1(sn_revoke);
PG_FUNCTION_INFO_V1(sn_set_topic_owner);

/* Statements on the topic catalog, run by sqsn_execute */

static SqsnStatement topic_id_stmt = {
	"SELECT topic_id FROM sqsn.topic"
	" WHERE topic_name OPERATOR(pg_catalog.=) $1",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading sqsn.topic"};

static SqsnStatement lock_topic_row_stmt = {
	"SELECT topic_id FROM sqsn.topic"
	" WHERE topic_name OPERATOR(pg_catalog.=) $1"
	" FOR UPDATE",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading sqsn.topic"};

static SqsnStatement topic_encrypted_stmt = {
	"SELECT encrypted FROM sqsn.topic"
	" WHERE topic_id OPERATOR(pg_catalog.=) $1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.topic"};

/* before 0.2 (no FIFO topics): $2 is left out */
static SqsnStatement insert_stmt = {
	"INSERT INTO sqsn.topic (topic_name, owner,"
	" created_at, content_based_deduplication)"
	" VALUES ($1, session_user, clock_timestamp(), $2)"
	" ON CONFLICT (topic_name) DO NOTHING",
	2,
	{TEXTOID, BOOLOID},
	SPI_OK_INSERT,
	"inserting into sqsn.topic"};

static SqsnStatement legacy_insert_stmt = {
	"INSERT INTO sqsn.topic (topic_name, owner, created_at)"
	" VALUES ($1, session_user, clock_timestamp())"
	" ON CONFLICT (topic_name) DO NOTHING",
	1,
	{TEXTOID},
	SPI_OK_INSERT,
	"inserting into sqsn.topic"};

static SqsnStatement set_owner_stmt = {
	"UPDATE sqsn.topic SET owner = $2 WHERE topic_name = $1",
	2,
	{TEXTOID, NAMEOID},
	SPI_OK_UPDATE,
	"setting the topic's owner"};

static SqsnStatement same_settings_stmt = {
	"SELECT content_based_deduplication = $2 FROM sqsn.topic"
	" WHERE topic_name = $1",
	2,
	{TEXTOID, BOOLOID},
	SPI_OK_SELECT,
	"reading sqsn.topic"};

static SqsnStatement delete_stmt = {
	"DELETE FROM sqsn.topic WHERE topic_id = $1",
	1,
	{INT8OID},
	SPI_OK_DELETE,
	"deleting from sqsn.topic"};

static int64 lookup_topic_id(SqsnStatement *stmt, const char *name);

/*
 * Topic names: 1..256 characters of [A-Za-z0-9_-], like the managed
 * service, with the suffix ".fifo" for FIFO topics.
 */
static void
validate_topic_name(const char *name)
{
	sqsn_validate_name("topic", name, SQSN_MAX_TOPIC_NAME, NULL);
}

char *
sqsn_topic_name_arg(FunctionCallInfo fcinfo, int argno)
{
	char *name = sqsn_text_arg(fcinfo, argno, "topic_name");

	validate_topic_name(name);
	return name;
}

/* Serialises changes of the topic catalog. */
void
sqsn_lock_topic_catalog(void)
{
	sqsn_spi_check(
		SPI_execute("LOCK TABLE sqsn.topic IN SHARE ROW EXCLUSIVE MODE", false,
					0),
		SPI_OK_UTILITY, "locking sqsn.topic");
}

/*
 * The lock publishers share and subscription changes take exclusively;
 * held until the end of the transaction.
 */
void
sqsn_lock_topic(int64 topic_id, LOCKMODE mode)
{
	Oid topic_rel = get_relname_relid("topic", sqsn_schema_oid());

	LockDatabaseObject(topic_rel, (Oid) topic_id, 0, mode);
}

/*
 * The id of the topic stmt finds by name (topic_id_stmt,
 * lock_topic_row_stmt), or an error when it does not exist.
 */
static int64
lookup_topic_id(SqsnStatement *stmt, const char *name)
{
	Datum value = CStringGetTextDatum(name);

	if (sqsn_execute(stmt, &value, NULL, 1) == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("topic \"%s\" does not exist", name),
						errhint("Create it with sqsn.sn_create_topic().")));
	return sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * The id of a topic, or an error when it does not exist. Reads with a fresh
 * snapshot through a saved plan (the publish path uses it too).
 */
int64
sqsn_find_topic_id(const char *name)
{
	return lookup_topic_id(&topic_id_stmt, name);
}

/*
 * Reading what a topic keeps (its attributes, its tags) needs an action on
 * it: publish, subscribe or admin. what names the thing read.
 */
void
sqsn_check_topic_readable(int64 topic_id, const char *name, const char *what)
{
	Oid roleid = GetOuterUserId();

	if (!sqsn_topic_allows(topic_id, roleid, SQSN_ADMIN) &&
		!sqsn_topic_allows(topic_id, roleid, SQSN_PUBLISH) &&
		!sqsn_topic_allows(topic_id, roleid, SQSN_SUBSCRIBE))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read the %s of topic \"%s\"",
						what, name),
				 errdetail("Reading a topic's %s needs an action (publish, "
						   "subscribe or admin) on the topic.",
						   what),
				 errhint("The topic's owner or a member of sqsn_admin can "
						 "grant one with sqsn.sn_grant().")));
}

/*
 * The start of every change to one topic: sqsn_admin_begin (*nestlevel
 * for sqsn_admin_end), the topic catalog locked and
 * the topic's lock taken exclusively, so that publishes in flight finish
 * first. Returns the topic id; errors when the topic does not exist.
 */
int64
sqsn_begin_topic_change(const char *topic_name, int *nestlevel)
{
	int64 topic_id;

	*nestlevel = sqsn_admin_begin();
	sqsn_lock_topic_catalog();
	topic_id = sqsn_find_topic_id(topic_name);
	sqsn_lock_topic(topic_id, AccessExclusiveLock);
	return topic_id;
}

/*
 * sn_create_topic(topic_name, content_based_deduplication): creates the
 * topic; nothing happens when it exists already with the same setting (as
 * in the managed service). Content-based deduplication is for FIFO topics
 * only.
 */
Datum
sn_create_topic(PG_FUNCTION_ARGS)
{
	char *name = sqsn_topic_name_arg(fcinfo, 0);
	bool  content_based = SQSN_ARG_GIVEN(1) ? PG_GETARG_BOOL(1) : false;
	bool  encrypted = SQSN_ARG_GIVEN(2) ? PG_GETARG_BOOL(2) : false;
	bool  fifo = sqsn_is_fifo_name(name);
	Datum values[2] = {CStringGetTextDatum(name), BoolGetDatum(content_based)};
	int   nestlevel;
	bool  has_fifo;
	bool  exists;

	sqsn_refuse_on_standby(fcinfo);
	if (content_based && !fifo)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("content-based deduplication is only for FIFO topics"),
				 errhint("A FIFO topic's name ends in \".fifo\".")));

	nestlevel = sqsn_admin_begin();
	sqsn_lock_topic_catalog();
	has_fifo = sqsn_catalog_has(SQSN_CATALOG_FIFO);
	if (fifo && !has_fifo)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("FIFO topics need version 0.2 of extension sqsn"),
				 errhint("Run ALTER EXTENSION sqsn UPDATE.")));
	exists = sqsn_execute(has_fifo ? &insert_stmt : &legacy_insert_stmt,
						  values, NULL, 0) == 0;
	if (!exists)
		sqsn_set_caller_owner(&set_owner_stmt, values[0]);
	if (exists && has_fifo)
	{
		sqsn_execute(&same_settings_stmt, values, NULL, 1);
		if (!sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))
			sqsn_exists_differently("topic", name, NULL);
	}
	sqsn_create_encrypted("topic", name, encrypted, exists);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sn_delete_topic(topic_name): deletes the topic and its subscriptions.
 */
Datum
sn_delete_topic(PG_FUNCTION_ARGS)
{
	char *name = sqsn_topic_name_arg(fcinfo, 0);
	int   nestlevel;
	int64 topic_id;
	Datum value;

	sqsn_refuse_on_standby(fcinfo);
	topic_id = sqsn_begin_topic_change(name, &nestlevel);
	value = Int64GetDatum(topic_id);
	sqsn_check_topic(topic_id, name, SQSN_ADMIN);
	sqsn_execute(&delete_stmt, &value, NULL, 0);
	if (sqsn_is_fifo_name(name))
		sqsn_fifo_forget_queue(-topic_id); /* its deduplication records */
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sn_list_topics(prefix): topic names in name order.
 */
Datum
sn_list_topics(PG_FUNCTION_ARGS)
{
	return sqsn_return_names(fcinfo,
							 "SELECT topic_name FROM sqsn.topic"
							 " WHERE $1 IS NULL OR starts_with(topic_name, $1)"
							 " ORDER BY topic_name COLLATE \"C\"",
							 "listing topics");
}

/*
 * Opens a topic for a change of its grants or owner (security/acl.c):
 * locks its row and checks that the caller administers it.
 */
static void
open_topic_for_change(SqsnSecurable *target)
{
	validate_topic_name(target->name);
	target->id = lookup_topic_id(&lock_topic_row_stmt, target->name);
	sqsn_check_topic(target->id, target->name, SQSN_ADMIN);
}

/*
 * sn_grant(topic_name, role, actions): publish, subscribe, admin.
 */
Datum
sn_grant(PG_FUNCTION_ARGS)
{
	sqsn_refuse_on_standby(fcinfo);
	sqsn_change_grants(fcinfo, true, true, open_topic_for_change);
	PG_RETURN_VOID();
}

Datum
sn_revoke(PG_FUNCTION_ARGS)
{
	sqsn_refuse_on_standby(fcinfo);
	sqsn_change_grants(fcinfo, true, false, open_topic_for_change);
	PG_RETURN_VOID();
}

Datum
sn_set_topic_owner(PG_FUNCTION_ARGS)
{
	sqsn_refuse_on_standby(fcinfo);
	sqsn_change_owner(fcinfo, true, open_topic_for_change);
	PG_RETURN_VOID();
}

/* Whether the topic seals its push outbox rows. Requires SPI. */
bool
sqsn_topic_encrypted(int64 topic_id)
{
	Datum value = Int64GetDatum(topic_id);

	if (!sqsn_catalog_has(SQSN_CATALOG_ENCRYPTION))
		return false;
	return sqsn_execute(&topic_encrypted_stmt, &value, NULL, 1) == 1 &&
		   sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}
