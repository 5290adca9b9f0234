/*-------------------------------------------------------------------------
 *
 * publish.c
 *	  sn_publish and sn_publish_batch: publishing to a topic, with fan-out
 *	  to every subscription whose filter policy matches.
 *
 * Publishing reads the topic's subscriptions under the topic's shared lock
 * (topic.c) and, inside the publisher's transaction, inserts a copy of the
 * message into every subscribed queue whose filter policy matches,
 * through the queue send path (sqsn_send_messages): a rollback publishes
 * nothing anywhere, a commit makes every copy visible at once. A queue
 * receives the JSON envelope of the notification, or with raw message
 * delivery the message alone with its attributes as the queue message's
 * attributes. For a confirmed HTTP/HTTPS subscription, or a function
 * subscription, the publish instead writes one row into the push outbox,
 * in the same transaction; the delivery worker POSTs it (push/), or a
 * function worker invokes the function (function/), after commit.
 *
 * FIFO topics (names ending in ".fifo") deliver only to FIFO queues. A
 * publish needs a message group id, and a deduplication id unless the
 * topic deduplicates by content; a publish repeating a deduplication id of
 * the last five minutes delivers nothing and returns the first message's
 * id (records in sqsn.fifo_dedup under minus the topic id). Every copy
 * carries the group and deduplication ids, so each queue keeps the group's
 * order and deduplicates once more by its own settings. Every publish to a
 * FIFO topic draws a sequence number from sqsn.topic_message_seq (one
 * sequence for all topics, so strictly increasing per topic, with gaps),
 * shown as 20 digits like a FIFO queue's: the endpoint's SequenceNumber,
 * and the envelope's; a duplicate returns the first publish's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "topic/topic.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(sn_publish);
PG_FUNCTION_INFO_V1(sn_publish_sequenced);
PG_FUNCTION_INFO_V1(sn_publish_batch);

#define MAX_SUBJECT 100

/* A subscription a publish delivers to. */
typedef struct Target
{
	char  *queue_name;      /* sqs; NULL for http/https and functions */
	Datum  subscription_id; /* http/https, functions: the outbox row's */
	bool   function;        /* a function subscription (function/) */
	bool   own_text;        /* email, email-json, sms: their own text */
	char  *protocol;
	char  *endpoint; /* application: the platform endpoint's ARN */
	bool   raw;
	bool   body_scope;
	Jsonb *filter_policy; /* NULL: everything */
	char  *owner;         /* the subscription's owner */
} Target;

/* One message being published. */
typedef struct PublishedMessage
{
	pg_uuid_t  *message_id;
	text       *message;          /* what sqs subscribers get */
	text       *original;         /* as published */
	const char *structure;        /* message_structure, or NULL */
	text       *http_message;     /* what http subscribers get, on first use */
	text       *function_message; /* what functions get, on first use */
	TimestampTz published_at;
	Jsonb      *attributes; /* typed form, or NULL */
	char       *subject;    /* or NULL */
	text       *envelope;   /* built on first use */
	Jsonb      *body_json;  /* parsed on first use */
	bool        body_parsed;
	char       *group_id;         /* or NULL; required on FIFO topics */
	char       *deduplication_id; /* FIFO topics */
	int64       sequence_number;  /* FIFO topics; 0: none */
} PublishedMessage;

/*
 * The subscriptions a publish delivers to, columns: queue name, raw
 * delivery, body-scoped filter, filter policy, subscription id, owner,
 * whether it is a function subscription, protocol, endpoint. Before the push outbox (0.2)
 * every subscription is a confirmed queue.
 */
static SqsnStatement targets_stmt = {
	"SELECT q.queue_name, s.raw_message_delivery,"
	" s.filter_policy_scope OPERATOR(pg_catalog.=) 'MessageBody',"
	" s.filter_policy, s.subscription_id,"
	" s.owner::pg_catalog.text,"
	" s.protocol OPERATOR(pg_catalog.=) ANY (ARRAY['function', 'lambda']),"
	" s.protocol, s.endpoint"
	" FROM sqsn.subscription s LEFT JOIN sqsn.queue q"
	"  ON q.queue_id OPERATOR(pg_catalog.=) s.queue_id"
	" WHERE s.topic_id OPERATOR(pg_catalog.=) $1"
	"  AND s.confirmed"
	" ORDER BY q.queue_id, s.subscription_id",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.subscription"};

static SqsnStatement legacy_targets_stmt = {
	"SELECT q.queue_name, s.raw_message_delivery,"
	" s.filter_policy_scope OPERATOR(pg_catalog.=) 'MessageBody',"
	" s.filter_policy, s.subscription_id,"
	" s.owner::pg_catalog.text"
	" FROM sqsn.subscription s JOIN sqsn.queue q"
	"  ON q.queue_id OPERATOR(pg_catalog.=) s.queue_id"
	" WHERE s.topic_id OPERATOR(pg_catalog.=) $1"
	" ORDER BY q.queue_id",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.subscription"};

static SqsnStatement next_sequence_number_stmt = {
	"SELECT pg_catalog.nextval('sqsn.topic_message_seq')",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"drawing a sequence number"};

static text *message_for_protocol(text *message, const char *structure,
								  const char *protocol);
static char *sequence_number_text(int64 sequence_number);

/*
 * Reads the subscriptions a publish to topic_name delivers to, after
 * taking the topic's shared lock. Requires an SPI connection.
 */
static Target *
load_targets(const char *topic_name, int *ntargets, int64 *topic_id_out)
{
	int64   topic_id = sqsn_find_topic_id(topic_name);
	Datum   value = Int64GetDatum(topic_id);
	Target *targets;

	sqsn_lock_topic(topic_id, AccessShareLock);
	*topic_id_out = topic_id;
	sqsn_execute(sqsn_catalog_has(SQSN_CATALOG_PUSH) ? &targets_stmt
													 : &legacy_targets_stmt,
				 &value, NULL, 0);

	*ntargets = (int) SPI_processed;
	targets = palloc0(sizeof(Target) * Max(*ntargets, 1));
	for (int i = 0; i < *ntargets; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		TupleDesc tupdesc = SPI_tuptable->tupdesc;
		bool      isnull;

		targets[i].queue_name = SPI_getvalue(tuple, tupdesc, 1);
		targets[i].raw = sqsn_spi_bool(tuple, tupdesc, 2);
		targets[i].body_scope = sqsn_spi_bool(tuple, tupdesc, 3);
		targets[i].filter_policy = sqsn_spi_jsonb(tuple, tupdesc, 4);
		targets[i].subscription_id = datumCopy(
			SPI_getbinval(tuple, tupdesc, 5, &isnull), false, UUID_LEN);
		targets[i].owner = SPI_getvalue(tuple, tupdesc, 6);
		targets[i].function =
			tupdesc->natts >= 7 && sqsn_spi_bool(tuple, tupdesc, 7);
		targets[i].protocol =
			tupdesc->natts >= 8 ? SPI_getvalue(tuple, tupdesc, 8) : NULL;
		targets[i].endpoint =
			tupdesc->natts >= 9 ? SPI_getvalue(tuple, tupdesc, 9) : NULL;
		targets[i].own_text = targets[i].protocol != NULL &&
							  (strncmp(targets[i].protocol, "email", 5) == 0 ||
							   strcmp(targets[i].protocol, "sms") == 0);
	}
	return targets;
}

/*
 * The notification envelope a queue receives without raw delivery
 * (push/envelope.c builds it, as it does for HTTP/HTTPS subscribers).
 */
static text *
queue_envelope(PublishedMessage *pub, const char *topic_arn,
			   const char *timestamp)
{
	SqsnEnvelope env;
	char        *json;

	memset(&env, 0, sizeof(env));
	env.type = "Notification";
	env.message_id = sqsn_uuid_text(UUIDPGetDatum(pub->message_id));
	env.sequence_number = sequence_number_text(pub->sequence_number);
	env.topic_arn = topic_arn;
	env.subject = pub->subject;
	env.message = text_to_cstring(pub->message);
	env.timestamp = timestamp;
	env.attributes = pub->attributes;
	json = sqsn_envelope_json(&env);
	return cstring_to_text(json);
}

/*
 * With message_structure 'json' the message is a JSON object of strings
 * with a required "default" and optional per-protocol texts; a subscriber
 * gets the text of its protocol ("sqs", "http", "https", "lambda",
 * "email", "email-json", "sms") when present, else "default".
 */
static text *
message_for_protocol(text *message, const char *structure,
					 const char *protocol)
{
	Jsonb             *obj;
	JsonbValue        *dflt;
	JsonbValue        *sqs;
	JsonbIterator     *it;
	JsonbIteratorToken tok;
	JsonbValue         v;

	if (structure == NULL)
		return message;
	if (strcmp(structure, "json") != 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("invalid message_structure \"%s\"", structure),
						errhint("The only message structure is \"json\".")));

	obj = sqsn_json_or_null(VARDATA_ANY(message), VARSIZE_ANY_EXHDR(message));
	if (obj == NULL || !JB_ROOT_IS_OBJECT(obj) || JB_ROOT_IS_SCALAR(obj))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("with message_structure \"json\" the message must be "
						"a JSON object"),
				 errhint("Write {\"default\": \"text\", \"sqs\": \"text for "
						 "queues\"}.")));
	it = JsonbIteratorInit(&obj->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_VALUE && (v.type != jbvString || v.val.string.len == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("with message_structure \"json\" every value of "
							"the message must be a non-empty string")));
	}
	dflt = getKeyJsonValueFromContainer(&obj->root, "default", 7, NULL);
	if (dflt == NULL)
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("with message_structure \"json\" the message must have "
					"a \"default\" key")));
	sqs = getKeyJsonValueFromContainer(&obj->root, protocol, strlen(protocol),
									   NULL);
	if (sqs == NULL)
		sqs = dflt;
	return cstring_to_text_with_len(sqs->val.string.val, sqs->val.string.len);
}

/*
 * Checks one published message and fills pub: non-empty, at most 256 KiB
 * with its attributes, a valid subject.
 */
static void
prepare_publication(PublishedMessage *pub, text *message, Jsonb *attributes,
					const char *subject, const char *structure)
{
	int64 attributes_size;
	int64 size;

	memset(pub, 0, sizeof(PublishedMessage));
	if (VARSIZE_ANY_EXHDR(message) == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("message must not be empty")));
	pub->attributes = sqsn_normalize_attributes(attributes, &attributes_size);
	size = VARSIZE_ANY_EXHDR(message) + attributes_size;
	if (size > SQSN_MAX_MESSAGE_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("message is too large to publish"),
				 errdetail("Message and attributes take " INT64_FORMAT
						   " bytes; the limit is %d.",
						   size, SQSN_MAX_MESSAGE_SIZE),
				 errhint("Store large payloads in a table and publish a "
						 "reference.")));
	if (subject != NULL)
	{
		int len = pg_mbstrlen(subject);

		if (len == 0 || len > MAX_SUBJECT)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("subject must have 1 to %d characters",
								   MAX_SUBJECT)));
		for (const char *p = subject; *p; p++)
			if ((unsigned char) *p < 0x20 || *p == 0x7f)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("subject must not contain line breaks or "
								"control characters")));
		pub->subject = pstrdup(subject);
	}
	pub->message = message_for_protocol(message, structure, "sqs");
	pub->original = message;
	pub->structure = structure;
	pub->message_id = sqsn_new_uuid();
	pub->published_at = GetCurrentTimestamp();
}

/*
 * Puts one notification for an HTTP/HTTPS or a function subscription into
 * the outbox, with the text of the http (or lambda) protocol when the
 * message has one per protocol; the delivery worker POSTs it, or a function
 * worker invokes the function, after commit.
 */
static void
queue_push_delivery(Target *target, PublishedMessage *pub,
					const char *topic_arn, bool encrypted)
{
	text **message =
		target->function ? &pub->function_message : &pub->http_message;
	text *own_message;

	if (target->protocol != NULL &&
		strcmp(target->protocol, "application") == 0)
	{
		/* the platform's payload, e.g. the "GCM" text of the message */
		char *tail = strrchr(target->endpoint, ':');
		char *platform = pstrdup(tail + 1 + strlen("endpoint/"));

		*strchr(platform, '/') = '\0';
		own_message =
			sqsn_platform_payload(platform, pub->original, pub->structure);
		message = &own_message;
	}
	else if (target->own_text)
	{
		/* a text of its own protocol; rare enough to pick each time */
		own_message = pub->structure == NULL
						  ? pub->original
						  : message_for_protocol(pub->original, pub->structure,
												 target->protocol);
		message = &own_message;
	}
	else if (*message == NULL)
		*message =
			pub->structure == NULL
				? pub->original
				: message_for_protocol(pub->original, pub->structure,
									   target->function ? "lambda" : "http");
	sqsn_outbox_notification(target->subscription_id, pub->message_id,
							 topic_arn, pub->subject, *message,
							 pub->attributes, pub->published_at, encrypted,
							 target->function);
}

/*
 * The group and deduplication ids of a publication (NULL: not given). A
 * FIFO topic needs a group id, and a deduplication id unless it
 * deduplicates by content (SHA-256 of the message); a standard topic takes
 * a group id if given, which its standard queues receive with the copy,
 * and no deduplication id. element is the 1-based batch element, or 0.
 */
static void
set_publication_tags(PublishedMessage *pub, const char *topic_name,
					 bool content_based, char *group_id,
					 char *deduplication_id, int element)
{
	if (!sqsn_is_fifo_name(topic_name))
	{
		if (deduplication_id != NULL)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("message_deduplication_id is only for FIFO "
								   "topics"),
							errdetail("Topic \"%s\" is a standard topic.",
									  topic_name)));
		if (group_id != NULL)
			sqsn_validate_fifo_tag("message_group_id", group_id);
		pub->group_id = group_id;
		return;
	}
	if (group_id == NULL)
		ereport(
			ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("a message published to FIFO topic \"%s\" needs a "
					"message_group_id",
					topic_name),
			 element > 0 ? errdetail("Element %d has none.", element) : 0));
	sqsn_validate_fifo_tag("message_group_id", group_id);
	if (deduplication_id == NULL)
	{
		if (!content_based)
			ereport(
				ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a message published to FIFO topic \"%s\" needs a "
						"message_deduplication_id",
						topic_name),
				 element > 0 ? errdetail("Element %d has none.", element) : 0,
				 errhint("Give one, or create the topic with "
						 "content_based_deduplication.")));
		deduplication_id = sqsn_content_deduplication_id(pub->message);
	}
	else
		sqsn_validate_fifo_tag("message_deduplication_id", deduplication_id);
	pub->group_id = group_id;
	pub->deduplication_id = deduplication_id;
}

/*
 * Whether a topic deduplicates by content (false for a standard topic);
 * errors when a FIFO topic does not exist. Requires an SPI connection.
 */
static bool
topic_content_based(const char *topic_name)
{
	Oid   argtypes[1] = {TEXTOID};
	Datum value = CStringGetTextDatum(topic_name);

	if (!sqsn_is_fifo_name(topic_name) || !sqsn_catalog_has(SQSN_CATALOG_FIFO))
		return false;
	(void) sqsn_find_topic_id(topic_name); /* errors when there is none */
	sqsn_spi_check(
		SPI_execute_with_args("SELECT content_based_deduplication"
							  " FROM sqsn.topic"
							  " WHERE topic_name OPERATOR(pg_catalog.=) $1",
							  1, argtypes, &value, NULL, false, 1),
		SPI_OK_SELECT, "reading sqsn.topic");
	if (SPI_processed == 0)
		return false;
	return sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * A sequence number as the endpoint shows it: 20 digits, zero-padded, as
 * a FIFO queue's; NULL for none.
 */
static char *
sequence_number_text(int64 sequence_number)
{
	if (sequence_number <= 0)
		return NULL;
	return psprintf("%020" INT64_MODIFIER "d", sequence_number);
}

/*
 * FIFO topics: draws each publication's sequence number, and returns the
 * publications to deliver, leaving out those that repeat a deduplication
 * id of the last five minutes (their message_id and sequence_number in
 * pubs become the first message's, which the caller returns). *n becomes
 * the number to deliver.
 */
static PublishedMessage *
fifo_deduplicate(int64 topic_id, PublishedMessage *pubs, int *n)
{
	int               nfresh = 0;
	PublishedMessage *fresh = palloc(sizeof(PublishedMessage) * Max(*n, 1));
	bool              numbered = sqsn_catalog_has(SQSN_CATALOG_TOPIC_SEQ);

	for (int i = 0; i < *n; i++)
	{
		pg_uuid_t *id;

		if (numbered)
		{
			bool isnull;

			sqsn_execute(&next_sequence_number_stmt, NULL, NULL, 1);
			pubs[i].sequence_number = DatumGetInt64(SPI_getbinval(
				SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		}
		id = sqsn_fifo_deduplicate_publish(topic_id, pubs[i].deduplication_id,
										   pubs[i].message_id,
										   &pubs[i].sequence_number);
		if (id == pubs[i].message_id)
			fresh[nfresh++] = pubs[i];
		else
			pubs[i].message_id = id;
	}
	*n = nfresh;
	return fresh;
}

/*
 * Whether the owner of a queue subscription may still send to its queue
 * (grants may have changed since it subscribed). When not, the n copies
 * are skipped, not an error for the publisher, who cannot fix someone
 * else's grants: a WARNING says so, and the subscription's denied counter
 * (sqsn.subscription_stats) counts them.
 */
static bool
subscription_may_send(SqsnQueue *queue, Target *target, const char *topic_name,
					  int n)
{
	if (sqsn_queue_allows_role(queue, target->owner, SQSN_SEND))
		return true;

	ereport(WARNING,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("subscription of queue \"%s\" to topic \"%s\" skipped: "
					"its owner may not send to the queue",
					queue->name, topic_name),
			 errdetail("Role \"%s\" lacks the action \"send\" on the queue; "
					   "%d message%s not delivered there.",
					   target->owner ? target->owner : "?", n,
					   n == 1 ? " was" : "s were"),
			 errhint("Grant send on the queue to the subscription's owner "
					 "with sqsn.sq_grant(), or remove the subscription.")));
	if (sqsn_catalog_has(SQSN_CATALOG_PUSH))
	{
		Datum values[2] = {target->subscription_id, Int64GetDatum(n)};

		sqsn_spi_check(SPI_execute_with_args(
						   "INSERT INTO sqsn.subscription_counter AS c"
						   " (subscription_id, denied) VALUES ($1, $2)"
						   " ON CONFLICT (subscription_id) DO UPDATE"
						   " SET denied = c.denied OPERATOR(pg_catalog.+) $2",
						   2, (Oid[]){UUIDOID, INT8OID}, values, NULL, false,
						   0),
					   SPI_OK_INSERT, "counting a skipped delivery");
	}
	return false;
}

/*
 * FIFO topics: archives the n publications to deliver (when the topic
 * archives, archive.c), with the time their envelopes carry.
 */
static void
archive_publications(int64 topic_id, PublishedMessage *pubs, int n,
					 TimestampTz published_at)
{
	Datum *numbers = palloc(sizeof(Datum) * Max(n, 1));
	Datum *ids = palloc(sizeof(Datum) * Max(n, 1));
	Datum *messages = palloc(sizeof(Datum) * Max(n, 1));
	Datum *attributes = palloc(sizeof(Datum) * Max(n, 1));
	bool  *attribute_nulls = palloc(sizeof(bool) * Max(n, 1));
	Datum *subjects = palloc(sizeof(Datum) * Max(n, 1));
	bool  *subject_nulls = palloc(sizeof(bool) * Max(n, 1));
	Datum *groups = palloc(sizeof(Datum) * Max(n, 1));
	Datum *dedups = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
	{
		numbers[i] = Int64GetDatum(pubs[i].sequence_number);
		ids[i] = UUIDPGetDatum(pubs[i].message_id);
		messages[i] = PointerGetDatum(pubs[i].message);
		attributes[i] = PointerGetDatum(pubs[i].attributes);
		attribute_nulls[i] = pubs[i].attributes == NULL;
		subjects[i] =
			pubs[i].subject ? CStringGetTextDatum(pubs[i].subject) : (Datum) 0;
		subject_nulls[i] = pubs[i].subject == NULL;
		groups[i] = CStringGetTextDatum(pubs[i].group_id);
		dedups[i] = CStringGetTextDatum(pubs[i].deduplication_id);
	}
	sqsn_archive_publications(topic_id, published_at, n, numbers, ids,
							  messages, attributes, attribute_nulls, subjects,
							  subject_nulls, groups, dedups);
}

/*
 * Delivers the n publications to every subscription of the topic whose
 * filter policy matches: one insert per queue.
 */
static void
fan_out(const char *topic_name, PublishedMessage *pubs, int n)
{
	int              ntargets;
	int64            topic_id;
	Target          *targets = load_targets(topic_name, &ntargets, &topic_id);
	OutgoingMessage *msgs;
	char            *topic_arn = NULL;
	char            *timestamp = NULL;
	int              encrypted = -1; /* the topic's setting, read once */
	TimestampTz      published_at = GetCurrentTimestamp();

	sqsn_check_topic(topic_id, topic_name, SQSN_PUBLISH);
	if (sqsn_is_fifo_name(topic_name))
	{
		pubs = fifo_deduplicate(topic_id, pubs, &n);
		if (n > 0 && pubs[0].sequence_number > 0)
			archive_publications(topic_id, pubs, n, published_at);
	}
	if (ntargets == 0 || n == 0)
		return;
	msgs = palloc0(sizeof(OutgoingMessage) * n);
	for (int t = 0; t < ntargets; t++)
	{
		Target *target = &targets[t];
		int     k = 0;
		bool    push = target->queue_name == NULL;

		for (int i = 0; i < n; i++)
		{
			PublishedMessage *pub = &pubs[i];

			if (target->filter_policy != NULL)
			{
				if (target->body_scope && !pub->body_parsed)
				{
					pub->body_json =
						sqsn_json_or_null(VARDATA_ANY(pub->message),
										  VARSIZE_ANY_EXHDR(pub->message));
					pub->body_parsed = true;
				}
				if (!sqsn_filter_matches(target->filter_policy,
										 target->body_scope, pub->attributes,
										 pub->body_json))
					continue;
			}

			if (push)
			{
				if (topic_arn == NULL)
				{
					topic_arn = sqsn_topic_arn(topic_name);
					timestamp = sqsn_iso_timestamp(published_at);
				}
				if (encrypted < 0)
					encrypted = sqsn_topic_encrypted(topic_id) ? 1 : 0;
				queue_push_delivery(target, pub, topic_arn, encrypted > 0);
				continue;
			}
			msgs[k].message_id = sqsn_new_uuid();
			msgs[k].group_id = pub->group_id;
			msgs[k].deduplication_id = pub->deduplication_id;
			if (target->raw)
			{
				msgs[k].body = PointerGetDatum(pub->message);
				msgs[k].attributes = pub->attributes;
			}
			else
			{
				if (pub->envelope == NULL)
				{
					if (topic_arn == NULL)
					{
						topic_arn = sqsn_topic_arn(topic_name);
						timestamp = sqsn_iso_timestamp(published_at);
					}
					pub->envelope = queue_envelope(pub, topic_arn, timestamp);
				}
				msgs[k].body = PointerGetDatum(pub->envelope);
				/* the trace header stays a system attribute of the copy */
				msgs[k].attributes =
					sqsn_attributes_filter(pub->attributes, true);
			}
			k++;
		}
		if (k > 0)
		{
			SqsnQueue *queue =
				sqsn_open_queue(target->queue_name, RowExclusiveLock);

			if (subscription_may_send(queue, target, topic_name, k))
				sqsn_send_messages(queue, msgs, k);
		}
	}
}

/*
 * prepare_publication for sn_publish's arguments: message (not NULL),
 * message_attributes, subject, message_structure.
 */
static void
prepare_publication_args(FunctionCallInfo fcinfo, PublishedMessage *pub)
{
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("message must not be NULL")));
	prepare_publication(
		pub, PG_GETARG_TEXT_PP(1),
		PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2),
		PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3)),
		PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4)));
}

/*
 * sn_publish to a platform endpoint's ARN (the managed service's
 * TargetArn): one notification for the endpoint in the outbox, with the
 * platform's payload. A disabled endpoint fails (55000, EndpointDisabled);
 * group and deduplication ids do not apply.
 */
static void
publish_to_endpoint(FunctionCallInfo fcinfo, const char *arn,
					PublishedMessage *result)
{
	PublishedMessage pub;
	pg_uuid_t       *endpoint_id;
	char            *platform;

	sqsn_refuse_on_standby(fcinfo);
	if (!sqsn_catalog_has(SQSN_CATALOG_MOBILE))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("publishing to a platform endpoint needs "
							   "sqsn 0.5"),
						errhint("Run ALTER EXTENSION sqsn UPDATE.")));
	if (SQSN_ARG_GIVEN(5) || SQSN_ARG_GIVEN(6))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("message_group_id and message_deduplication_id apply "
						"to FIFO topics only")));
	prepare_publication_args(fcinfo, &pub);

	sqsn_spi_connect();
	endpoint_id = sqsn_platform_target(arn, true, &platform);
	arn = sqsn_platform_endpoint_arn(
		platform,
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6),
		sqsn_uuid_text(UUIDPGetDatum(endpoint_id)));
	sqsn_outbox_endpoint_notification(
		endpoint_id, pub.message_id, arn, pub.subject,
		sqsn_platform_payload(platform, pub.original, pub.structure),
		pub.attributes, pub.published_at);
	SPI_finish();
	*result = pub;
}

/*
 * Publishes the message of sn_publish's arguments and fills pub (its
 * message id, and sequence number on a FIFO topic).
 */
static void
publish_args(FunctionCallInfo fcinfo, PublishedMessage *pub)
{
	char *topic_name;

	if (!PG_ARGISNULL(0) &&
		sqsn_is_platform_endpoint_arn(text_to_cstring(PG_GETARG_TEXT_PP(0))))
	{
		publish_to_endpoint(fcinfo, text_to_cstring(PG_GETARG_TEXT_PP(0)),
							pub);
		return;
	}
	topic_name = sqsn_topic_name_arg(fcinfo, 0);
	sqsn_refuse_on_standby(fcinfo);
	prepare_publication_args(fcinfo, pub);

	sqsn_spi_connect();
	set_publication_tags(
		pub, topic_name, topic_content_based(topic_name),
		SQSN_ARG_GIVEN(5) ? text_to_cstring(PG_GETARG_TEXT_PP(5)) : NULL,
		SQSN_ARG_GIVEN(6) ? text_to_cstring(PG_GETARG_TEXT_PP(6)) : NULL, 0);
	fan_out(topic_name, pub, 1);
	SPI_finish();
}

/*
 * sn_publish(topic_name, message, message_attributes, subject,
 * message_structure, message_group_id, message_deduplication_id): returns
 * (topic_name may also be a platform endpoint's ARN: publish_to_endpoint)
 * the message id (the envelope's MessageId); for a duplicate on a FIFO
 * topic, the first message's id.
 */
Datum
sn_publish(PG_FUNCTION_ARGS)
{
	PublishedMessage pub;

	publish_args(fcinfo, &pub);
	PG_RETURN_UUID_P(pub.message_id);
}

/*
 * sn_publish_sequenced: sn_publish returning (message_id, sequence_number),
 * the sequence number NULL but on a FIFO topic.
 */
Datum
sn_publish_sequenced(PG_FUNCTION_ARGS)
{
	PublishedMessage pub;
	TupleDesc        desc;
	Datum            values[2];
	bool             nulls[2] = {false, false};
	char            *number;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "sn_publish_sequenced must return a record");
	publish_args(fcinfo, &pub);
	number = sequence_number_text(pub.sequence_number);
	values[0] = UUIDPGetDatum(pub.message_id);
	values[1] = number ? CStringGetTextDatum(number) : (Datum) 0;
	nulls[1] = number == NULL;
	PG_RETURN_DATUM(HeapTupleGetDatum(
		heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * sn_publish_batch(topic_name, messages, message_attributes,
 * message_group_ids, message_deduplication_ids): publishes every message;
 * each subscribed queue gets its copies with one insert. Returns the
 * message ids in input order; as sn_publish_batch_sequenced, each with its
 * sequence number (NULL but on a FIFO topic).
 */
Datum
sn_publish_batch(PG_FUNCTION_ARGS)
{
	char             *topic_name = sqsn_topic_name_arg(fcinfo, 0);
	ReturnSetInfo    *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SqsnBatch         batch;
	PublishedMessage *pubs;
	bool              content_based;
	int               n;

	sqsn_refuse_on_standby(fcinfo);
	sqsn_batch_args(fcinfo, "messages", "message", "messages", &batch);
	n = batch.n;

	pubs = palloc(sizeof(PublishedMessage) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (batch.text_nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("messages must not contain NULL"),
							errdetail("Element %d is NULL.", i + 1)));
		prepare_publication(&pubs[i], DatumGetTextPP(batch.texts[i]),
							sqsn_batch_attributes(&batch, i), NULL, NULL);
	}
	sqsn_batch_fifo_args(fcinfo, 3, &batch);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	sqsn_spi_connect();
	content_based = topic_content_based(topic_name);
	for (int i = 0; i < n; i++)
		set_publication_tags(&pubs[i], topic_name, content_based,
							 sqsn_batch_group_id(&batch, i),
							 sqsn_batch_deduplication_id(&batch, i), i + 1);
	if (n > 0)
		fan_out(topic_name, pubs, n);
	else
		sqsn_check_topic(sqsn_find_topic_id(topic_name), topic_name,
						 SQSN_PUBLISH);
	SPI_finish();

	for (int i = 0; i < n; i++)
	{
		char *number = sequence_number_text(pubs[i].sequence_number);
		Datum values[2];
		bool  nulls[2] = {false, number == NULL};

		/* sn_publish_batch_sequenced has the sequence number too */
		values[0] = UUIDPGetDatum(pubs[i].message_id);
		values[1] = number ? CStringGetTextDatum(number) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
	return (Datum) 0;
}
