/*-------------------------------------------------------------------------
 *
 * topic.h
 *	  Topics: their catalog, subscriptions, attributes, publishing with
 *	  fan-out to queues and to the push outbox, and filter policies.
 *
 *	  topic.c             create, delete and list topics; their grants and
 *	                      owner; the topic lock
 *	  subscription.c      subscribe, confirm, unsubscribe, list, and the
 *	                      attributes of subscriptions
 *	  topic_attributes.c  the attributes of topics
 *	  topic_tags.c        the tags of topics
 *	  publish.c           publish and fan-out
 *	  filter.c            filter policies: validation and matching
 *	  archive.c           the archive of FIFO topics (ArchivePolicy) and
 *	                      its maintenance
 *
 *-------------------------------------------------------------------------
 */
#ifndef SQSN_TOPIC_H
#define SQSN_TOPIC_H

#include "push/push.h"

/* topic.c */
extern char *sqsn_topic_name_arg(FunctionCallInfo fcinfo, int argno);
extern void  sqsn_lock_topic_catalog(void);
extern void  sqsn_lock_topic(int64 topic_id, LOCKMODE mode);
extern int64 sqsn_find_topic_id(const char *name);
extern void  sqsn_check_topic_readable(int64 topic_id, const char *name,
									  const char *what);
extern int64 sqsn_begin_topic_change(const char *topic_name, int *nestlevel);
extern bool  sqsn_topic_encrypted(int64 topic_id);

/* archive.c */
extern int  sqsn_archive_policy_days(const char *topic_name, JsonbValue *v);
extern void sqsn_set_archive_policy(int64 topic_id, int days);
extern void sqsn_check_archive_encryption(int64       topic_id,
										  const char *topic_name);
extern void sqsn_archive_publications(int64 topic_id, TimestampTz published_at,
									  int n, Datum *sequence_numbers,
									  Datum *message_ids, Datum *messages,
									  Datum *attributes, bool *attribute_nulls,
									  Datum *subjects, bool *subject_nulls,
									  Datum *group_ids,
									  Datum *deduplication_ids);
extern TimestampTz sqsn_beginning_archive_time(TimestampTz started_at,
											   int         days);
extern void sqsn_set_replay_policy(Datum subscription_id, Jsonb *policy);
extern void sqsn_replay_attributes(StringInfo buf, Datum subscription_id);

/* filter.c */
extern void sqsn_validate_filter_policy(Jsonb *policy, bool body_scope);
extern bool sqsn_filter_matches(Jsonb *policy, bool body_scope,
								Jsonb *attributes, Jsonb *body);

#endif /* SQSN_TOPIC_H */
