/*-------------------------------------------------------------------------
 *
 * topic_tags.c
 *	  sn_tag_resource, sn_untag_resource and sn_list_tags_for_resource: the
 *	  tags of a topic, kept in sqsn.topic_tag (the checks and limits are in
 *	  common/tags.c). Tagging and untagging are the topic's administration
 *	  (the admin action); reading the tags needs any action on the topic.
 *	  Deleting the topic deletes its tags. Tags do not change what a
 *	  publish does, so tagging takes no lock that publishes would wait for.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "topic/topic.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(sn_tag_resource);
PG_FUNCTION_INFO_V1(sn_untag_resource);
PG_FUNCTION_INFO_V1(sn_list_tags_for_resource);

/* Statements on sqsn.topic_tag, run by sqsn_execute */

static SqsnStatement lock_topic_row_stmt = {
	"SELECT 1 FROM sqsn.topic WHERE topic_id = $1 FOR NO KEY UPDATE",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"locking the topic's row of sqsn.topic"};

static SqsnStatement add_topic_tags_stmt = {
	"INSERT INTO sqsn.topic_tag (topic_id, tag_key, tag_value)"
	" SELECT $1, k, v FROM unnest($2, $3) AS t(k, v)"
	" ON CONFLICT (topic_id, tag_key)"
	" DO UPDATE SET tag_value = excluded.tag_value",
	3,
	{INT8OID, TEXTARRAYOID, TEXTARRAYOID},
	SPI_OK_INSERT,
	"writing sqsn.topic_tag"};

static SqsnStatement count_topic_tags_stmt = {
	"SELECT count(*) FROM sqsn.topic_tag WHERE topic_id = $1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"counting sqsn.topic_tag"};

static SqsnStatement remove_topic_tags_stmt = {
	"DELETE FROM sqsn.topic_tag WHERE topic_id = $1 AND tag_key = ANY ($2)",
	2,
	{INT8OID, TEXTARRAYOID},
	SPI_OK_DELETE,
	"deleting from sqsn.topic_tag"};

static SqsnStatement list_topic_tags_stmt = {
	"SELECT coalesce(jsonb_object_agg(tag_key, tag_value), '{}')"
	" FROM sqsn.topic_tag WHERE topic_id = $1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.topic_tag"};

static const SqsnTagStatements topic_tag_statements = {
	&lock_topic_row_stmt, &add_topic_tags_stmt, &count_topic_tags_stmt,
	&remove_topic_tags_stmt, &list_topic_tags_stmt};

/*
 * sn_tag_resource(topic_name, tags jsonb): adds {"key": "value", ...} to
 * the topic's tags, replacing the values of keys it has.
 */
Datum
sn_tag_resource(PG_FUNCTION_ARGS)
{
	char  *name = sqsn_topic_name_arg(fcinfo, 0);
	int    nestlevel;
	int64  topic_id;
	Jsonb *tags;

	sqsn_refuse_on_standby(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("tags must not be NULL")));
	tags = PG_GETARG_JSONB_P(1);
	nestlevel = sqsn_admin_begin();
	topic_id = sqsn_find_topic_id(name);
	sqsn_check_topic(topic_id, name, SQSN_ADMIN);
	sqsn_tags_add(&topic_tag_statements, topic_id, tags, "topic", name);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/* sn_untag_resource(topic_name, tag_keys text[]): removes those tags. */
Datum
sn_untag_resource(PG_FUNCTION_ARGS)
{
	char *name = sqsn_topic_name_arg(fcinfo, 0);
	int   nestlevel;
	int64 topic_id;

	sqsn_refuse_on_standby(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("tag_keys must not be NULL")));
	nestlevel = sqsn_admin_begin();
	topic_id = sqsn_find_topic_id(name);
	sqsn_check_topic(topic_id, name, SQSN_ADMIN);
	sqsn_tags_remove(&topic_tag_statements, topic_id,
					 PG_GETARG_ARRAYTYPE_P(1));
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sn_list_tags_for_resource(topic_name): the topic's tags as a jsonb
 * object, for whoever may publish to, subscribe to or administer it.
 */
Datum
sn_list_tags_for_resource(PG_FUNCTION_ARGS)
{
	char  *name = sqsn_topic_name_arg(fcinfo, 0);
	Oid    roleid = GetOuterUserId();
	int    nestlevel;
	int64  topic_id;
	Jsonb *tags;

	nestlevel = sqsn_admin_begin();
	topic_id = sqsn_find_topic_id(name);
	if (!sqsn_topic_allows(topic_id, roleid, SQSN_ADMIN) &&
		!sqsn_topic_allows(topic_id, roleid, SQSN_PUBLISH) &&
		!sqsn_topic_allows(topic_id, roleid, SQSN_SUBSCRIBE))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read the tags of topic \"%s\"",
						name),
				 errdetail("Reading a topic's tags needs an action (publish, "
						   "subscribe or admin) on the topic."),
				 errhint("The topic's owner or a member of sqsn_admin can "
						 "grant one with sqsn.sn_grant().")));
	tags = sqsn_tags_get(&topic_tag_statements, topic_id);
	sqsn_admin_end(nestlevel);
	PG_RETURN_JSONB_P(tags);
}
