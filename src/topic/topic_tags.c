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

#include "fmgr.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(sn_tag_resource);
PG_FUNCTION_INFO_V1(sn_untag_resource);
PG_FUNCTION_INFO_V1(sn_list_tags_for_resource);

/*
 * sn_tag_resource(topic_name, tags jsonb): adds {"key": "value", ...} to
 * the topic's tags, replacing the values of keys it has.
 */
Datum
sn_tag_resource(PG_FUNCTION_ARGS)
{
	char  *name = sqsn_topic_name_arg(fcinfo, 0);
	Jsonb *tags = sqsn_tags_arg(fcinfo, 1);
	int    nestlevel;
	int64  topic_id;

	nestlevel = sqsn_admin_begin();
	topic_id = sqsn_find_topic_id(name);
	sqsn_check_topic(topic_id, name, SQSN_ADMIN);
	sqsn_tags_add(&sqsn_topic_tags, topic_id, tags, "topic", name);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/* sn_untag_resource(topic_name, tag_keys text[]): removes those tags. */
Datum
sn_untag_resource(PG_FUNCTION_ARGS)
{
	char      *name = sqsn_topic_name_arg(fcinfo, 0);
	ArrayType *keys = sqsn_tag_keys_arg(fcinfo, 1);
	int        nestlevel;
	int64      topic_id;

	nestlevel = sqsn_admin_begin();
	topic_id = sqsn_find_topic_id(name);
	sqsn_check_topic(topic_id, name, SQSN_ADMIN);
	sqsn_tags_remove(&sqsn_topic_tags, topic_id, keys);
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
	int    nestlevel;
	int64  topic_id;
	Datum  tags;

	nestlevel = sqsn_admin_begin();
	topic_id = sqsn_find_topic_id(name);
	sqsn_check_topic_readable(topic_id, name, "tags");
	tags = sqsn_tags_get(&sqsn_topic_tags, topic_id);
	sqsn_admin_end(nestlevel);
	PG_RETURN_DATUM(tags);
}
