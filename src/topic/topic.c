/*-------------------------------------------------------------------------
 *
 * topic.c
 *	  Topics and subscriptions: their catalog (sqsn.topic,
 *	  sqsn.subscription) and publishing with fan-out to subscribed queues.
 *
 * A topic keeps no messages of its own. Publishing reads the topic's
 * subscriptions and, inside the publisher's transaction, inserts a copy of
 * the message into every subscribed queue whose filter policy matches,
 * through the queue send path (sqsn_send_messages): a rollback publishes
 * nothing anywhere, a commit makes every copy visible at once. A queue
 * receives the JSON envelope of the notification, or with raw message
 * delivery the message alone with its attributes as the queue message's
 * attributes. For a confirmed HTTP/HTTPS subscription the publish instead
 * writes one row into the outbox sqsn.delivery, in the same transaction;
 * the delivery worker (delivery.c) POSTs it after commit. HTTP/HTTPS
 * subscriptions start pending: subscribing queues a SubscriptionConfirmation
 * with a random token, and sn_confirm_subscription confirms.
 *
 * Concurrency: a publish holds a shared lock on its topic (a lock on the
 * object "sqsn.topic, topic_id", not a row lock, so publishers never write
 * the catalog) from the moment it reads the subscriptions until its
 * transaction ends; subscribe, unsubscribe, attribute changes and topic
 * deletion take the same lock exclusively. A subscription change therefore
 * waits for publishes in flight, and a publish that starts after the change
 * committed reads the new subscriptions (each catalog read takes a fresh
 * snapshot): every publish delivers to a subscription exactly once or not
 * at all.
 *
 * FIFO topics (names ending in ".fifo") deliver only to FIFO queues. A
 * publish needs a message group id, and a deduplication id unless the
 * topic deduplicates by content; a publish repeating a deduplication id of
 * the last five minutes delivers nothing and returns the first message's
 * id (records in sqsn.fifo_dedup under minus the topic id). Every copy
 * carries the group and deduplication ids, so each queue keeps the group's
 * order and deduplicates once more by its own settings.
 *
 * The catalog functions run with search_path pinned to pg_catalog, like
 * those of queue.c. Deleting a topic removes its subscriptions; deleting a
 * queue removes the subscriptions of that queue (foreign keys with ON
 * DELETE CASCADE), as a deleted queue can receive nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sqsn.h"
#include "api.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(sn_create_topic);
PG_FUNCTION_INFO_V1(sn_delete_topic);
PG_FUNCTION_INFO_V1(sn_list_topics);
PG_FUNCTION_INFO_V1(sn_subscribe);
PG_FUNCTION_INFO_V1(sn_unsubscribe);
PG_FUNCTION_INFO_V1(sn_list_subscriptions);
PG_FUNCTION_INFO_V1(sn_set_subscription_attributes);
PG_FUNCTION_INFO_V1(sn_publish);
PG_FUNCTION_INFO_V1(sn_publish_batch);
PG_FUNCTION_INFO_V1(sn_confirm_subscription);
PG_FUNCTION_INFO_V1(sn_set_topic_attributes);
PG_FUNCTION_INFO_V1(sn_get_topic_attributes);
PG_FUNCTION_INFO_V1(sn_get_subscription_attributes);

#define MAX_TOPIC_NAME   256
#define MAX_SUBJECT      100
#define SCOPE_ATTRIBUTES "MessageAttributes"
#define SCOPE_BODY       "MessageBody"

/* A subscription a publish delivers to. */
typedef struct Target
{
	char  *queue_name;      /* sqs; NULL for http/https */
	Datum  subscription_id; /* http/https: the outbox row's */
	bool   raw;
	bool   body_scope;
	Jsonb *filter_policy; /* NULL: everything */
	char  *owner;         /* the subscription's owner */
} Target;

/* One message being published. */
typedef struct PublishedMessage
{
	pg_uuid_t  *message_id;
	text       *message;      /* what sqs subscribers get */
	text       *original;     /* as published */
	const char *structure;    /* message_structure, or NULL */
	text       *http_message; /* what http subscribers get, on first use */
	TimestampTz published_at;
	Jsonb      *attributes; /* typed form, or NULL */
	char       *subject;    /* or NULL */
	text       *envelope;   /* built on first use */
	Jsonb      *body_json;  /* parsed on first use */
	bool        body_parsed;
	char       *group_id;         /* FIFO topics */
	char       *deduplication_id; /* FIFO topics */
} PublishedMessage;

static SPIPlanPtr topic_id_plan = NULL;
static SPIPlanPtr targets_plan = NULL;
static SPIPlanPtr outbox_plan = NULL;

static SPIPlanPtr legacy_targets_plan = NULL;

static text *message_for_protocol(text *message, const char *structure,
								  const char *protocol);

/*
 * Whether the installed SQL objects have push delivery (version 0.2 on):
 * a 0.1 installation not yet updated keeps working with this library, for
 * queue subscriptions only.
 */
static bool
push_installed(void)
{
	return OidIsValid(get_relname_relid("delivery", sqsn_schema_oid()));
}

/*
 * Topic names: 1..256 characters of [A-Za-z0-9_-], like the managed
 * service, with the suffix ".fifo" for FIFO topics.
 */
static void
validate_topic_name(const char *name)
{
	sqsn_validate_name("topic", name, MAX_TOPIC_NAME, NULL);
}

static char *
topic_name_arg(FunctionCallInfo fcinfo, int argno)
{
	char *name = sqsn_text_arg(fcinfo, argno, "topic_name");

	validate_topic_name(name);
	return name;
}

static void
lock_topic_catalog(void)
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
static void
lock_topic(int64 topic_id, LOCKMODE mode)
{
	Oid topic_rel = get_relname_relid("topic", sqsn_schema_oid());

	LockDatabaseObject(topic_rel, (Oid) topic_id, 0, mode);
}

/*
 * The id of a topic, or an error when it does not exist. Reads with a fresh
 * snapshot through a saved plan (the publish path uses it too).
 */
static int64
find_topic_id(const char *name)
{
	Datum value = CStringGetTextDatum(name);
	bool  isnull;

	if (topic_id_plan == NULL)
	{
		Oid argtypes[1] = {TEXTOID};

		topic_id_plan =
			sqsn_prepare_plan("SELECT topic_id FROM sqsn.topic"
							  " WHERE topic_name OPERATOR(pg_catalog.=) $1",
							  1, argtypes);
	}
	sqsn_spi_check(SPI_execute_plan(topic_id_plan, &value, NULL, false, 1),
				   SPI_OK_SELECT, "reading sqsn.topic");
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("topic \"%s\" does not exist", name),
						errhint("Create it with sqsn.sn_create_topic().")));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The start of every change to one topic: search_path pinned (*nestlevel
 * for sqsn_unpin_search_path), SPI connected, the topic catalog locked and
 * the topic's lock taken exclusively, so that publishes in flight finish
 * first. Returns the topic id; errors when the topic does not exist.
 */
static int64
begin_topic_change(const char *topic_name, int *nestlevel)
{
	int64 topic_id;

	*nestlevel = sqsn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	lock_topic_catalog();
	topic_id = find_topic_id(topic_name);
	lock_topic(topic_id, AccessExclusiveLock);
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
	char *name = topic_name_arg(fcinfo, 0);
	bool  content_based = SQSN_ARG_GIVEN(1) ? PG_GETARG_BOOL(1) : false;
	bool  encrypted = SQSN_ARG_GIVEN(2) ? PG_GETARG_BOOL(2) : false;
	bool  fifo = sqsn_is_fifo_name(name);
	Oid   argtypes[2] = {TEXTOID, BOOLOID};
	Datum values[2] = {CStringGetTextDatum(name), BoolGetDatum(content_based)};
	int   nestlevel;
	bool  has_fifo;
	bool  exists;

	if (content_based && !fifo)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("content-based deduplication is only for FIFO topics"),
				 errhint("A FIFO topic's name ends in \".fifo\".")));

	nestlevel = sqsn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	lock_topic_catalog();
	has_fifo = sqsn_catalog_has_fifo();
	if (fifo && !has_fifo)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("FIFO topics need version 0.2 of extension sqsn"),
				 errhint("Run ALTER EXTENSION sqsn UPDATE.")));
	sqsn_spi_check(
		SPI_execute_with_args(
			has_fifo ? "INSERT INTO sqsn.topic (topic_name, owner,"
					   " created_at, content_based_deduplication)"
					   " VALUES ($1, session_user, clock_timestamp(), $2)"
					   " ON CONFLICT (topic_name) DO NOTHING"
					 : "INSERT INTO sqsn.topic (topic_name, owner,"
					   " created_at)"
					   " VALUES ($1, session_user, clock_timestamp())"
					   " ON CONFLICT (topic_name) DO NOTHING",
			has_fifo ? 2 : 1, argtypes, values, NULL, false, 0),
		SPI_OK_INSERT, "inserting into sqsn.topic");
	exists = SPI_processed == 0;
	if (!exists && sqsn_catalog_has_grants())
	{
		/* the calling role (SET ROLE included) owns the topic */
		Datum owner[2] = {
			values[0],
			DirectFunctionCall1(namein, CStringGetDatum(sqsn_caller_name()))};

		sqsn_spi_check(SPI_execute_with_args(
						   "UPDATE sqsn.topic SET owner = $2"
						   " WHERE topic_name = $1",
						   2, (Oid[]){TEXTOID, NAMEOID}, owner, NULL, false, 0),
					   SPI_OK_UPDATE, "setting the topic's owner");
	}
	if (exists && has_fifo)
	{
		bool isnull;

		sqsn_spi_check(
			SPI_execute_with_args("SELECT content_based_deduplication"
								  " = $2 FROM sqsn.topic"
								  " WHERE topic_name = $1",
								  2, argtypes, values, NULL, false, 1),
			SPI_OK_SELECT, "reading sqsn.topic");
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("topic \"%s\" already exists with different "
							"attributes",
							name)));
	}
	if (exists || encrypted)
		sqsn_store_encrypted("topic", name, encrypted, exists);
	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sn_delete_topic(topic_name): deletes the topic and its subscriptions.
 */
Datum
sn_delete_topic(PG_FUNCTION_ARGS)
{
	char *name = topic_name_arg(fcinfo, 0);
	Oid   argtypes[1] = {INT8OID};
	Datum values[1];
	int   nestlevel;
	int64 topic_id = begin_topic_change(name, &nestlevel);

	sqsn_check_topic(topic_id, name, SQSN_ADMIN);
	values[0] = Int64GetDatum(topic_id);
	sqsn_spi_check(
		SPI_execute_with_args("DELETE FROM sqsn.topic WHERE topic_id = $1", 1,
							  argtypes, values, NULL, false, 0),
		SPI_OK_DELETE, "deleting from sqsn.topic");
	if (sqsn_is_fifo_name(name))
		sqsn_fifo_forget_queue(-topic_id); /* its deduplication records */
	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
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

static bool
scope_is_body(const char *scope)
{
	if (strcmp(scope, SCOPE_ATTRIBUTES) == 0)
		return false;
	if (strcmp(scope, SCOPE_BODY) == 0)
		return true;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("invalid filter policy scope \"%s\"", scope),
					errhint("Use MessageAttributes or MessageBody.")));
}

/*
 * Protocols: sqs (a queue), http and https (push delivery, delivery.c).
 * Returns whether the protocol pushes.
 */
static bool
check_protocol(const char *protocol)
{
	if (strcmp(protocol, "sqs") == 0)
		return false;
	if (strcmp(protocol, "http") == 0 || strcmp(protocol, "https") == 0)
		return true;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unsupported subscription protocol \"%s\"", protocol),
			 errhint("Use sqs with a queue name, or http or https with a URL, "
					 "as the endpoint.")));
}

/*
 * Subscribing a queue needs the right to send to it. With the catalog of
 * 0.2 (before ALTER EXTENSION UPDATE) that is the role check of 0.2: the
 * calling role (SET ROLE included) must have the privileges of
 * sqsn_producer, which sqsn_admin members have; superusers have them all.
 * With 0.3 the queue's grants decide (acl.c).
 */
static void
check_may_send(const char *queue_name)
{
	Oid producer = get_role_oid("sqsn_producer", false);

	if (!has_privs_of_role(GetOuterUserId(), producer))
		ereport(
			ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to subscribe queue \"%s\"", queue_name),
			 errdetail("Subscribing a queue to a topic needs the right to "
					   "send to the queue."),
			 errhint("Grant sqsn_producer to role \"%s\".",
					 GetUserNameFromId(GetOuterUserId(), false))));
}

/*
 * The dead-letter queue of a redrive policy {"deadLetterTargetArn": q}:
 * q is a queue name or an ARN ending in ":<queue name>". Returns the queue
 * id, locked FOR KEY SHARE; 0 for a JSON null, {} or "". Requires SPI.
 */
static int64
redrive_queue_id(Jsonb *policy)
{
	JsonbValue        *target;
	char              *name;
	char              *colon;
	Oid                argtypes[1] = {TEXTOID};
	Datum              values[1];
	bool               isnull;
	JsonbIterator     *it;
	JsonbIteratorToken tok;
	JsonbValue         v;

	if (policy == NULL)
		return 0;
	if (JB_ROOT_IS_SCALAR(policy))
	{
		it = JsonbIteratorInit(&policy->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM &&
				(v.type == jbvNull ||
				 (v.type == jbvString && v.val.string.len == 0)))
				return 0;
	}
	if (!JB_ROOT_IS_OBJECT(policy) || JB_ROOT_IS_SCALAR(policy))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid redrive policy"),
				 errdetail("A redrive policy is a JSON object."),
				 errhint("Write {\"deadLetterTargetArn\": \"queue name\"}.")));
	if (JB_ROOT_COUNT(policy) == 0)
		return 0;
	it = JsonbIteratorInit(&policy->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY &&
			!(v.val.string.len == 19 &&
			  strncmp(v.val.string.val, "deadLetterTargetArn", 19) == 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid redrive policy"),
					 errdetail("A subscription's redrive policy has no field "
							   "\"%.*s\".",
							   v.val.string.len, v.val.string.val),
					 errhint("Its only field is deadLetterTargetArn.")));
	target = getKeyJsonValueFromContainer(&policy->root, "deadLetterTargetArn",
										  19, NULL);
	if (target == NULL || target->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid redrive policy"),
				 errdetail("deadLetterTargetArn must be a string."),
				 errhint("Write {\"deadLetterTargetArn\": \"queue name\"}.")));
	name = pnstrdup(target->val.string.val, target->val.string.len);
	colon = strrchr(name, ':');
	if (colon)
		name = colon + 1;
	sqsn_validate_queue_name(name);
	/* only push subscriptions of standard topics ever use it */
	if (sqsn_is_fifo_name(name))
		ereport(
			ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("FIFO queue \"%s\" cannot be the dead-letter queue of a "
					"subscription",
					name),
			 errhint("Use a standard queue: only HTTP/HTTPS subscriptions "
					 "of standard topics dead-letter their messages.")));
	if (!sqsn_catalog_has_grants())
		check_may_send(name); /* 0.2 catalog; else the caller checks */
	values[0] = CStringGetTextDatum(name);
	sqsn_spi_check(
		SPI_execute_with_args("SELECT queue_id FROM sqsn.queue"
							  " WHERE queue_name = $1 FOR KEY SHARE",
							  1, argtypes, values, NULL, false, 1),
		SPI_OK_SELECT, "reading sqsn.queue");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("dead-letter queue \"%s\" does not exist", name),
				 errhint("Create it with sqsn.sq_create_queue().")));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/* A delivery policy of a subscription: NULL for a JSON null, {} or "". */
static Jsonb *
subscription_delivery_policy(Jsonb *policy)
{
	if (policy == NULL)
		return NULL;
	if (JB_ROOT_IS_SCALAR(policy))
	{
		JsonbIterator     *it = JsonbIteratorInit(&policy->root);
		JsonbIteratorToken tok;
		JsonbValue         v;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM &&
				(v.type == jbvNull ||
				 (v.type == jbvString && v.val.string.len == 0)))
				return NULL;
	}
	else if (JB_ROOT_IS_OBJECT(policy) && JB_ROOT_COUNT(policy) == 0)
		return NULL;
	sqsn_validate_delivery_policy(policy, false);
	return policy;
}

/* 32 random bytes in hex: the token of a confirmation request. */
static char *
new_confirmation_token(void)
{
	uint8 bytes[32];
	char *hex = palloc(sizeof(bytes) * 2 + 1);

	if (!pg_strong_random(bytes, sizeof(bytes)))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not generate a confirmation token")));
	for (int i = 0; i < sizeof(bytes); i++)
		sprintf(hex + 2 * i, "%02x", bytes[i]);
	return hex;
}

/*
 * A topic's ARN, arn:aws:sns:<region>:<account>:<topic>, with the region
 * and account of the AWS-compatible endpoint (sqsn.api_region,
 * sqsn.api_account_id), so that what the endpoint returns and what
 * subscribers receive name the topic the same way.
 */
char *
sqsn_topic_arn(const char *topic_name)
{
	const char *region = sqsn_api_region && sqsn_api_region[0]
							 ? sqsn_api_region
							 : "us-east-1";
	const char *account = sqsn_api_account_id && sqsn_api_account_id[0]
							  ? sqsn_api_account_id
							  : "000000000000";

	return psprintf("arn:aws:sns:%s:%s:%s", region, account, topic_name);
}

/*
 * Puts a SubscriptionConfirmation request for a new HTTP/HTTPS
 * subscription into the outbox.
 */
static void
queue_confirmation_request(Datum subscription_id, const char *topic_name)
{
	Oid   argtypes[5] = {UUIDOID, UUIDOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum values[5];
	char *arn = sqsn_topic_arn(topic_name);

	values[0] = subscription_id;
	values[1] = UUIDPGetDatum(sqsn_new_message_id());
	values[2] = CStringGetTextDatum(arn);
	values[3] = CStringGetTextDatum(psprintf("You have chosen to subscribe to "
											 "the topic %s.\nTo confirm the "
											 "subscription, visit the "
											 "SubscribeURL included in this "
											 "message.",
											 arn));
	values[4] = TimestampTzGetDatum(GetCurrentTimestamp());
	sqsn_spi_check(
		SPI_execute_with_args("INSERT INTO sqsn.delivery"
							  " (subscription_id, message_type,"
							  " message_id, topic_arn, message,"
							  " published_at, next_attempt_at)"
							  " VALUES ($1, 'SubscriptionConfirmation',"
							  " $2, $3, $4, $5, $5)",
							  5, argtypes, values, NULL, false, 0),
		SPI_OK_INSERT, "inserting into sqsn.delivery");
	sqsn_delivery_note_insert();
}

/*
 * sn_subscribe(topic_name, protocol, endpoint, filter_policy,
 * filter_policy_scope, raw_message_delivery, delivery_policy,
 * redrive_policy): subscribes a queue (protocol sqs) or an HTTP/HTTPS URL
 * to a topic and returns the subscription id. Subscribing the same
 * endpoint again with the same settings returns the existing subscription.
 * An HTTP/HTTPS subscription is pending until confirmed with the token the
 * delivery worker POSTs to it, unless its host is listed in
 * sqsn.http_auto_confirm_hosts.
 */
Datum
sn_subscribe(PG_FUNCTION_ARGS)
{
	char  *topic_name = topic_name_arg(fcinfo, 0);
	char  *protocol = sqsn_text_arg(fcinfo, 1, "protocol");
	char  *endpoint;
	Jsonb *policy = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	char  *scope = PG_ARGISNULL(4) ? SCOPE_ATTRIBUTES
								   : text_to_cstring(PG_GETARG_TEXT_PP(4));
	bool   raw = PG_ARGISNULL(5) ? false : PG_GETARG_BOOL(5);
	/* the 0.1 SQL function has six arguments */
	Jsonb *delivery_policy =
		PG_NARGS() <= 6 || PG_ARGISNULL(6) ? NULL : PG_GETARG_JSONB_P(6);
	Jsonb *redrive_policy =
		PG_NARGS() <= 7 || PG_ARGISNULL(7) ? NULL : PG_GETARG_JSONB_P(7);
	bool  push;
	bool  body_scope;
	bool  confirmed = true;
	char *host = NULL;
	int   nestlevel;
	int64 topic_id;
	int64 dlq_id = 0;
	Oid   argtypes[10] = {INT8OID, INT8OID, JSONBOID, TEXTOID, BOOLOID,
						  TEXTOID, TEXTOID, JSONBOID, INT8OID, TEXTOID};
	Datum values[10];
	char  nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool  isnull;
	Datum result;
	bool  created = false;
	bool  legacy;

	push = check_protocol(protocol);
	if (push && sqsn_is_fifo_name(topic_name))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("FIFO topic \"%s\" cannot deliver to %s endpoints",
						topic_name, protocol),
				 errhint("A FIFO topic delivers to FIFO queues only.")));
	if (push && !push_installed())
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("protocol \"%s\" needs sqsn 0.2", protocol),
						errhint("Run ALTER EXTENSION sqsn UPDATE.")));
	endpoint = sqsn_text_arg(fcinfo, 2, "endpoint");
	if (push)
		host = sqsn_validate_endpoint_url(protocol, endpoint);
	else
	{
		sqsn_validate_queue_name(endpoint);
		if (delivery_policy != NULL || redrive_policy != NULL)
			ereport(
				ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delivery and redrive policies apply to http and "
						"https subscriptions only"),
				 errdetail("A queue subscription receives its copy in the "
						   "publishing transaction; it is never retried.")));
	}
	body_scope = scope_is_body(scope);
	if (policy != NULL)
		sqsn_validate_filter_policy(policy, body_scope);
	if (!push && !sqsn_catalog_has_grants())
		check_may_send(endpoint); /* 0.2 catalog: the roles decide */
	delivery_policy = subscription_delivery_policy(delivery_policy);
	if (push)
		confirmed = sqsn_auto_confirm_host(host);

	topic_id = begin_topic_change(topic_name, &nestlevel);
	sqsn_check_topic(topic_id, topic_name, SQSN_SUBSCRIBE);
	if (push)
	{
		dlq_id = redrive_queue_id(redrive_policy);
		/* the subscriber must be allowed to send to its dead-letter queue */
		if (sqsn_catalog_has_grants())
			sqsn_check_queue_id(dlq_id, SQSN_SEND);
	}

	values[0] = Int64GetDatum(topic_id);
	values[1] = (Datum) 0;
	nulls[1] = 'n';
	values[2] = policy ? JsonbPGetDatum(policy) : (Datum) 0;
	nulls[2] = policy ? ' ' : 'n';
	values[3] = CStringGetTextDatum(scope);
	values[4] = BoolGetDatum(raw);
	values[5] = CStringGetTextDatum(protocol);
	values[6] = push ? CStringGetTextDatum(endpoint) : (Datum) 0;
	nulls[6] = push ? ' ' : 'n';
	values[7] = delivery_policy ? JsonbPGetDatum(delivery_policy) : (Datum) 0;
	nulls[7] = delivery_policy ? ' ' : 'n';
	values[8] = Int64GetDatum(dlq_id);
	nulls[8] = dlq_id ? ' ' : 'n';
	values[9] = push && !confirmed
					? CStringGetTextDatum(new_confirmation_token())
					: (Datum) 0;
	nulls[9] = push && !confirmed ? ' ' : 'n';

	if (!push)
	{
		/* the queue; FOR KEY SHARE keeps it from being deleted until commit */
		values[6] = CStringGetTextDatum(endpoint);
		nulls[6] = ' ';
		sqsn_spi_check(
			SPI_execute_with_args("SELECT queue_id FROM sqsn.queue"
								  " WHERE queue_name = $7 FOR KEY SHARE",
								  10, argtypes, values, nulls, false, 1),
			SPI_OK_SELECT, "reading sqsn.queue");
		if (SPI_processed == 0)
			ereport(
				ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", endpoint),
				 errhint("The endpoint of an sqs subscription is the name of "
						 "a queue created with sqsn.sq_create_queue().")));
		values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  1, &isnull);
		nulls[1] = ' ';
		/* the subscriber must be allowed to send to the queue */
		sqsn_check_queue(sqsn_open_queue(endpoint, RowExclusiveLock),
						 SQSN_SEND);
		values[6] = (Datum) 0;
		nulls[6] = 'n';
		if (sqsn_is_fifo_name(topic_name) != sqsn_is_fifo_name(endpoint))
			ereport(
				ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s topic \"%s\" cannot deliver to %s queue \"%s\"",
						sqsn_is_fifo_name(topic_name) ? "FIFO" : "standard",
						topic_name,
						sqsn_is_fifo_name(endpoint) ? "FIFO" : "standard",
						endpoint),
				 errhint("Subscribe FIFO queues to FIFO topics and standard "
						 "queues to standard topics.")));
	}
	legacy = !push_installed();

	sqsn_spi_check(
		SPI_execute_with_args(
			legacy ? "SELECT subscription_id,"
					 " filter_policy IS NOT DISTINCT FROM $3"
					 " AND filter_policy_scope = $4"
					 " AND raw_message_delivery = $5"
					 " FROM sqsn.subscription"
					 " WHERE topic_id = $1 AND protocol = $6"
					 " AND queue_id = $2"
				   : "SELECT subscription_id,"
					 " filter_policy IS NOT DISTINCT FROM $3"
					 " AND filter_policy_scope = $4"
					 " AND raw_message_delivery = $5"
					 " AND delivery_policy IS NOT DISTINCT FROM $8"
					 " AND dead_letter_queue_id IS NOT DISTINCT FROM $9"
					 " FROM sqsn.subscription"
					 " WHERE topic_id = $1 AND protocol = $6"
					 " AND (queue_id = $2 OR endpoint = $7)",
			10, argtypes, values, nulls, false, 1),
		SPI_OK_SELECT, "reading sqsn.subscription");
	if (SPI_processed > 0)
	{
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 2, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("%s \"%s\" is already subscribed to topic \"%s\" "
							"with different attributes",
							push ? "endpoint" : "queue", endpoint, topic_name),
					 errhint("Use sqsn.sn_set_subscription_attributes() to "
							 "change them.")));
	}
	else
	{
		sqsn_spi_check(SPI_execute_with_args(
						   legacy ? "INSERT INTO sqsn.subscription"
									" (topic_id, protocol, queue_id,"
									" filter_policy, filter_policy_scope,"
									" raw_message_delivery, owner, created_at)"
									" VALUES ($1, $6, $2, $3, $4, $5,"
									" session_user, clock_timestamp())"
									" RETURNING subscription_id"
								  : "INSERT INTO sqsn.subscription"
									" (topic_id, protocol, queue_id,"
									" filter_policy, filter_policy_scope,"
									" raw_message_delivery, owner, created_at,"
									" endpoint, delivery_policy,"
									" dead_letter_queue_id, confirmed,"
									" confirmation_token)"
									" VALUES ($1, $6, $2, $3, $4, $5,"
									" session_user, clock_timestamp(),"
									" $7, $8, $9, $10 IS NULL, $10)"
									" RETURNING subscription_id",
						   10, argtypes, values, nulls, false, 0),
					   SPI_OK_INSERT_RETURNING,
					   "inserting into sqsn.subscription");
		created = true;
	}

	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						   &isnull);
	result = SPI_datumTransfer(result, false, UUID_LEN);
	if (created && sqsn_catalog_has_grants())
	{
		/* the calling role (SET ROLE included) owns the subscription */
		Datum owner[2] = {result, DirectFunctionCall1(
									  namein,
									  CStringGetDatum(sqsn_caller_name()))};

		sqsn_spi_check(SPI_execute_with_args(
						   "UPDATE sqsn.subscription SET owner = $2"
						   " WHERE subscription_id = $1",
						   2, (Oid[]){UUIDOID, NAMEOID}, owner, NULL, false, 0),
					   SPI_OK_UPDATE, "setting the subscription's owner");
	}
	if (created && push && !confirmed)
		queue_confirmation_request(result, topic_name);
	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
	PG_RETURN_DATUM(result);
}

/*
 * sn_confirm_subscription(topic_name, token): confirms the HTTP/HTTPS
 * subscription the token was sent to and returns its id; from then on it
 * receives notifications. Confirming again returns the same id.
 */
Datum
sn_confirm_subscription(PG_FUNCTION_ARGS)
{
	char *topic_name = topic_name_arg(fcinfo, 0);
	char *token = sqsn_text_arg(fcinfo, 1, "token");
	Oid   argtypes[2] = {INT8OID, TEXTOID};
	Datum values[2];
	int   nestlevel;
	int64 topic_id;
	bool  isnull;
	Datum result;

	topic_id = begin_topic_change(topic_name, &nestlevel);

	values[0] = Int64GetDatum(topic_id);
	values[1] = CStringGetTextDatum(token);
	sqsn_spi_check(
		SPI_execute_with_args("UPDATE sqsn.subscription SET confirmed = true"
							  " WHERE topic_id = $1"
							  " AND confirmation_token = $2"
							  " RETURNING subscription_id",
							  2, argtypes, values, NULL, false, 0),
		SPI_OK_UPDATE_RETURNING, "updating sqsn.subscription");
	if (SPI_processed == 0)
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid confirmation token for topic \"%s\"", topic_name),
			 errhint("Use the Token of the SubscriptionConfirmation "
					 "message the endpoint received.")));
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						   &isnull);
	result = SPI_datumTransfer(result, false, UUID_LEN);

	/* confirmation requests still waiting for a retry are moot */
	sqsn_spi_check(
		SPI_execute_with_args("DELETE FROM sqsn.delivery"
							  " WHERE subscription_id = $1"
							  " AND message_type = 'SubscriptionConfirmation'"
							  " AND status = 'pending'",
							  1, (Oid[]){UUIDOID}, &result, NULL, false, 0),
		SPI_OK_DELETE, "deleting from sqsn.delivery");
	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
	PG_RETURN_DATUM(result);
}

/*
 * Topic attributes kept for the AWS-compatible endpoint's clients
 * (sqsn.topic.extra_attributes, 0.4): DisplayName (up to 100 characters),
 * Policy (a JSON object, kept as its text; sqsn's own grants decide who
 * may do what), TracingConfig (PassThrough or Active) and SignatureVersion
 * (2, what the delivery worker signs with). A null or "" removes one.
 */
static void
stored_attribute(StringInfo stored, List **removed, const char *key,
				 JsonbValue *v)
{
	char *value;

	if (v->type == jbvNull || (v->type == jbvString && v->val.string.len == 0))
	{
		*removed = lappend(*removed, pstrdup(key));
		return;
	}
	if (v->type == jbvString)
		value = pnstrdup(v->val.string.val, v->val.string.len);
	else if (v->type == jbvNumeric)
		value = DatumGetCString(
			DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else if (strcmp(key, "Policy") == 0 && v->type == jbvBinary)
		value = JsonbToCString(NULL, v->val.binary.data, -1);
	else
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("topic attribute %s must be a string", key)));

	if (strcmp(key, "DisplayName") == 0)
	{
		if (pg_mbstrlen(value) > 100)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("DisplayName must have at most 100 characters")));
	}
	else if (strcmp(key, "Policy") == 0)
	{
		Jsonb *policy = sqsn_json_or_null(value, strlen(value));

		if (policy == NULL || !JB_ROOT_IS_OBJECT(policy) ||
			JB_ROOT_IS_SCALAR(policy))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("Policy must be a JSON object"),
					 errdetail("sqsn keeps the policy document and returns "
							   "it; its own grants (sqsn.sn_grant()) decide "
							   "who may publish and subscribe.")));
	}
	else if (strcmp(key, "TracingConfig") == 0)
	{
		if (strcmp(value, "PassThrough") != 0 && strcmp(value, "Active") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid TracingConfig \"%s\"", value),
					 errhint("Use PassThrough or Active.")));
	}
	else if (strcmp(value, "2") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid SignatureVersion \"%s\"", value),
				 errdetail("sqsn signs notifications with SHA256withRSA, "
						   "signature version 2."),
				 errhint("Use 2.")));
	if (stored->len > 1)
		appendStringInfoChar(stored, ',');
	escape_json(stored, key);
	appendStringInfoChar(stored, ':');
	escape_json(stored, value);
}

/* Whether sqsn.topic has extra_attributes (0.4); errors when not. */
static void
require_stored_attributes(void)
{
	Oid relid = get_relname_relid("topic", sqsn_schema_oid());

	if (get_attnum(relid, "extra_attributes") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the topic attributes DisplayName, Policy, "
						"TracingConfig and SignatureVersion need version 0.4 "
						"of extension sqsn"),
				 errhint("Run ALTER EXTENSION sqsn UPDATE.")));
}

/*
 * sn_set_topic_attributes(topic_name, attributes): DeliveryPolicy, the
 * topic's default delivery policy for its HTTP/HTTPS subscriptions (topic
 * form; null or "" removes it), and ContentBasedDeduplication (FIFO topics;
 * a boolean or "true"/"false", as the managed service takes it).
 */
Datum
sn_set_topic_attributes(PG_FUNCTION_ARGS)
{
	char          *topic_name = topic_name_arg(fcinfo, 0);
	Jsonb         *attributes;
	JsonbIterator *it;
	JsonbValue     v;
	char          *key = NULL;
	Oid            argtypes[3] = {INT8OID, JSONBOID, BOOLOID};
	Datum          values[3];
	char           nulls[3] = {' ', ' ', 'n'};
	bool           changed = false;
	bool           content_based_changed = false;
	bool           encrypted = false;
	bool           encrypted_given = false;
	int            nestlevel;
	int64          topic_id;
	StringInfoData stored; /* attributes sqsn keeps but does not act on */
	List          *removed = NIL;

	initStringInfo(&stored);
	appendStringInfoChar(&stored, '{');
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("attributes must not be NULL")));
	attributes = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(attributes) || JB_ROOT_IS_SCALAR(attributes))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("topic attributes must be a JSON object")));

	it = JsonbIteratorInit(&attributes->root);
	while (sqsn_jsonb_next_pair(&it, &key, &v))
	{
		if (strcmp(key, "DeliveryPolicy") == 0)
		{
			changed = true;
			if (v.type == jbvNull ||
				(v.type == jbvString && v.val.string.len == 0))
				nulls[1] = 'n';
			else
			{
				Jsonb *dp = JsonbValueToJsonb(&v);

				sqsn_validate_delivery_policy(dp, true);
				values[1] = JsonbPGetDatum(dp);
			}
		}
		else if (strcmp(key, "ContentBasedDeduplication") == 0)
		{
			bool value;

			if (!sqsn_jsonb_bool(&v, &value))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("ContentBasedDeduplication must be true or "
								"false")));
			if (!sqsn_is_fifo_name(topic_name))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("content-based deduplication is only for FIFO "
								"topics"),
						 errhint("A FIFO topic's name ends in \".fifo\".")));
			content_based_changed = true;
			values[2] = BoolGetDatum(value);
			nulls[2] = ' ';
		}
		else if (strcmp(key, "SqsManagedSseEnabled") == 0)
		{
			if (!sqsn_jsonb_bool(&v, &encrypted))
				ereport(
					ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("SqsManagedSseEnabled must be true or false")));
			encrypted_given = true;
		}
		else if (strcmp(key, "DisplayName") == 0 ||
				 strcmp(key, "Policy") == 0 ||
				 strcmp(key, "TracingConfig") == 0 ||
				 strcmp(key, "SignatureVersion") == 0)
			stored_attribute(&stored, &removed, key, &v);
		else
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("unknown topic attribute \"%s\"", key),
							errhint("The topic attributes that can be set are "
									"DeliveryPolicy, "
									"ContentBasedDeduplication, "
									"SqsManagedSseEnabled, DisplayName, "
									"Policy, TracingConfig and "
									"SignatureVersion.")));
	}
	if (stored.len > 1 || removed != NIL)
		require_stored_attributes();

	topic_id = begin_topic_change(topic_name, &nestlevel);
	sqsn_check_topic(topic_id, topic_name, SQSN_ADMIN);
	values[0] = Int64GetDatum(topic_id);
	if (!changed)
		nulls[1] = 'n';
	if (changed || content_based_changed)
		sqsn_spi_check(
			SPI_execute_with_args(
				changed && content_based_changed
					? "UPDATE sqsn.topic SET delivery_policy = $2,"
					  " content_based_deduplication = $3 WHERE topic_id = $1"
				: changed
					? "UPDATE sqsn.topic SET delivery_policy = $2"
					  " WHERE topic_id = $1 AND $3 IS NULL"
					: "UPDATE sqsn.topic SET content_based_deduplication = $3"
					  " WHERE topic_id = $1 AND $2 IS NULL",
				3, argtypes, values, nulls, false, 0),
			SPI_OK_UPDATE, "updating sqsn.topic");
	if (encrypted_given)
		sqsn_store_encrypted("topic", topic_name, encrypted, false);
	if (stored.len > 1 || removed != NIL)
	{
		Datum      store[3];
		Datum     *keys = palloc(sizeof(Datum) * Max(list_length(removed), 1));
		int        nkeys = 0;
		ListCell  *lc;

		appendStringInfoChar(&stored, '}');
		foreach (lc, removed)
			keys[nkeys++] = CStringGetTextDatum((char *) lfirst(lc));
		store[0] = Int64GetDatum(topic_id);
		store[1] = PointerGetDatum(
			construct_array(keys, nkeys, TEXTOID, -1, false, TYPALIGN_INT));
		store[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(stored.data));
		sqsn_spi_check(
			SPI_execute_with_args(
				"UPDATE sqsn.topic"
				" SET extra_attributes = (extra_attributes OPERATOR(pg_catalog.-)"
				" $2) OPERATOR(pg_catalog.||) $3"
				" WHERE topic_id OPERATOR(pg_catalog.=) $1",
				3, (Oid[]){INT8OID, TEXTARRAYOID, JSONBOID}, store, NULL,
				false, 0),
			SPI_OK_UPDATE, "updating sqsn.topic");
	}
	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
	PG_RETURN_VOID();
}

/*
 * Locks the topic of a subscription exclusively and returns its id; errors
 * when the subscription does not exist.
 */
static void
lock_subscription(Datum subscription_id)
{
	Oid  argtypes[1] = {UUIDOID};
	bool isnull;

	sqsn_spi_check(
		SPI_execute_with_args("SELECT topic_id FROM sqsn.subscription"
							  " WHERE subscription_id = $1",
							  1, argtypes, &subscription_id, NULL, false, 1),
		SPI_OK_SELECT, "reading sqsn.subscription");
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("subscription %s does not exist",
							   DatumGetCString(DirectFunctionCall1(
								   uuid_out, subscription_id)))));
	lock_topic(DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull)),
			   AccessExclusiveLock);
}

/*
 * sn_unsubscribe(subscription_id)
 */
Datum
sn_unsubscribe(PG_FUNCTION_ARGS)
{
	Datum id;
	Oid   argtypes[1] = {UUIDOID};
	int   nestlevel;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("subscription_id must not be NULL")));
	id = PG_GETARG_DATUM(0);

	nestlevel = sqsn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	lock_topic_catalog();
	lock_subscription(id);
	sqsn_check_subscription(id, true);
	sqsn_spi_check(SPI_execute_with_args("DELETE FROM sqsn.subscription"
										 " WHERE subscription_id = $1",
										 1, argtypes, &id, NULL, false, 0),
				   SPI_OK_DELETE, "deleting from sqsn.subscription");
	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sn_list_subscriptions(topic_name): every subscription, or those of one
 * topic, by topic and endpoint.
 */
Datum
sn_list_subscriptions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid            argtypes[1] = {TEXTOID};
	Datum          values[1];
	char           nulls[1] = {' '};
	int            nestlevel;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0))
	{
		values[0] = (Datum) 0;
		nulls[0] = 'n';
	}
	else
		values[0] = CStringGetTextDatum(topic_name_arg(fcinfo, 0));

	nestlevel = sqsn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!PG_ARGISNULL(0))
		(void) find_topic_id(TextDatumGetCString(values[0]));

	sqsn_spi_check(
		SPI_execute_with_args(
			"SELECT s.subscription_id, t.topic_name,"
			" s.protocol,"
			" COALESCE(q.queue_name, to_jsonb(s)->>'endpoint'),"
			" s.filter_policy, s.raw_message_delivery,"
			" CASE WHEN COALESCE((to_jsonb(s)->>'confirmed')::boolean, true)"
			" THEN 'confirmed' ELSE 'pending confirmation' END"
			" FROM sqsn.subscription s"
			" JOIN sqsn.topic t USING (topic_id)"
			" LEFT JOIN sqsn.queue q USING (queue_id)"
			" WHERE $1 IS NULL OR t.topic_name = $1"
			" ORDER BY t.topic_name COLLATE \"C\","
			" COALESCE(q.queue_name, to_jsonb(s)->>'endpoint') COLLATE \"C\","
			" s.subscription_id",
			1, argtypes, values, nulls, false, 0),
		SPI_OK_SELECT, "listing subscriptions");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum row[7];
		bool  rownulls[7];

		for (int c = 0; c < 7; c++)
			row[c] = SPI_getbinval(SPI_tuptable->vals[i],
								   SPI_tuptable->tupdesc, c + 1, &rownulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row,
							 rownulls);
	}
	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
	return (Datum) 0;
}

/* RawMessageDelivery: true/false, or the strings "true"/"false". */
static bool
attribute_bool(JsonbValue *v)
{
	if (v->type == jbvBool)
		return v->val.boolean;
	if (v->type == jbvString)
	{
		char *s = pnstrdup(v->val.string.val, v->val.string.len);

		if (pg_strcasecmp(s, "true") == 0)
			return true;
		if (pg_strcasecmp(s, "false") == 0)
			return false;
	}
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("RawMessageDelivery must be true or false")));
}

/*
 * sn_set_subscription_attributes(subscription_id, attributes): changes
 * FilterPolicy (an object; null or "" removes it), FilterPolicyScope,
 * RawMessageDelivery and, for HTTP/HTTPS subscriptions, DeliveryPolicy and
 * RedrivePolicy (null or "" removes them). The filter policy is checked
 * against the scope the subscription has afterwards.
 */
Datum
sn_set_subscription_attributes(PG_FUNCTION_ARGS)
{
	Datum              id;
	Jsonb             *attributes;
	JsonbIterator     *it;
	JsonbIteratorToken tok;
	JsonbValue         v;
	char              *key = NULL;
	Oid argtypes[6] = {UUIDOID, JSONBOID, TEXTOID, BOOLOID, JSONBOID, INT8OID};
	Datum values[6];
	char  nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool  isnull;
	char *scope;
	bool  push;
	int   nestlevel;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL",
						PG_ARGISNULL(0) ? "subscription_id" : "attributes")));
	id = PG_GETARG_DATUM(0);
	attributes = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(attributes) || JB_ROOT_IS_SCALAR(attributes))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subscription attributes must be a JSON object")));

	nestlevel = sqsn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	lock_topic_catalog();
	lock_subscription(id);
	sqsn_check_subscription(id, false);

	/* the current settings */
	values[0] = id;
	sqsn_spi_check(SPI_execute_with_args(
					   "SELECT filter_policy, filter_policy_scope,"
					   " raw_message_delivery,"
					   " to_jsonb(s)->'delivery_policy',"
					   " (to_jsonb(s)->>'dead_letter_queue_id')::bigint,"
					   " protocol <> 'sqs'"
					   " FROM sqsn.subscription s"
					   " WHERE subscription_id = $1",
					   1, argtypes, values, NULL, false, 1),
				   SPI_OK_SELECT, "reading sqsn.subscription");
	for (int c = 1; c <= 5; c++)
	{
		values[c] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  c, &isnull);
		nulls[c] = isnull ? 'n' : ' ';
	}
	values[1] = nulls[1] == 'n'
					? (Datum) 0
					: JsonbPGetDatum(DatumGetJsonbPCopy(values[1]));
	values[4] = nulls[4] == 'n'
					? (Datum) 0
					: JsonbPGetDatum(DatumGetJsonbPCopy(values[4]));
	scope = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	push = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 6, &isnull));

	it = JsonbIteratorInit(&attributes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool clear;

		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		clear = v.type == jbvNull ||
				(v.type == jbvString && v.val.string.len == 0);

		if (strcmp(key, "FilterPolicy") == 0)
		{
			if (clear)
				nulls[1] = 'n';
			else
			{
				values[1] = JsonbPGetDatum(JsonbValueToJsonb(&v));
				nulls[1] = ' ';
			}
		}
		else if (strcmp(key, "FilterPolicyScope") == 0)
		{
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("FilterPolicyScope must be a string"),
						 errhint("Use MessageAttributes or MessageBody.")));
			scope = pnstrdup(v.val.string.val, v.val.string.len);
		}
		else if (strcmp(key, "RawMessageDelivery") == 0)
			values[3] = BoolGetDatum(attribute_bool(&v));
		else if ((strcmp(key, "DeliveryPolicy") == 0 ||
				  strcmp(key, "RedrivePolicy") == 0) &&
				 !push)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s applies to http and https subscriptions only",
							key)));
		else if (strcmp(key, "DeliveryPolicy") == 0)
		{
			Jsonb *dp =
				clear ? NULL
					  : subscription_delivery_policy(JsonbValueToJsonb(&v));

			values[4] = dp ? JsonbPGetDatum(dp) : (Datum) 0;
			nulls[4] = dp ? ' ' : 'n';
		}
		else if (strcmp(key, "RedrivePolicy") == 0)
		{
			int64 dlq = clear ? 0 : redrive_queue_id(JsonbValueToJsonb(&v));

			/* the caller must be allowed to send to the new one */
			if (sqsn_catalog_has_grants())
				sqsn_check_queue_id(dlq, SQSN_SEND);

			values[5] = Int64GetDatum(dlq);
			nulls[5] = dlq ? ' ' : 'n';
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown subscription attribute \"%s\"", key),
					 errhint("Subscription attributes are FilterPolicy, "
							 "FilterPolicyScope, RawMessageDelivery, "
							 "DeliveryPolicy and RedrivePolicy.")));
	}

	if (nulls[1] == ' ')
		sqsn_validate_filter_policy(DatumGetJsonbP(values[1]),
									scope_is_body(scope));
	else
		(void) scope_is_body(scope);
	values[2] = CStringGetTextDatum(scope);

	sqsn_spi_check(SPI_execute_with_args(push ? "UPDATE sqsn.subscription"
												" SET filter_policy = $2,"
												" filter_policy_scope = $3,"
												" raw_message_delivery = $4,"
												" delivery_policy = $5,"
												" dead_letter_queue_id = $6"
												" WHERE subscription_id = $1"
											  : "UPDATE sqsn.subscription"
												" SET filter_policy = $2,"
												" filter_policy_scope = $3,"
												" raw_message_delivery = $4"
												" WHERE subscription_id = $1",
										 push ? 6 : 4, argtypes, values, nulls,
										 false, 0),
				   SPI_OK_UPDATE, "updating sqsn.subscription");
	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
	PG_RETURN_VOID();
}

/* Reading attributes ------------------------------------------------- */

static void
json_key(StringInfo buf, const char *key)
{
	if (buf->len > 1)
		appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
}

static void
json_string_member(StringInfo buf, const char *key, const char *value)
{
	json_key(buf, key);
	escape_json(buf, value);
}

static void
json_raw_member(StringInfo buf, const char *key, const char *value)
{
	json_key(buf, key);
	appendStringInfoString(buf, value);
}

static void
json_jsonb_member(StringInfo buf, const char *key, Jsonb *value)
{
	json_key(buf, key);
	(void) JsonbToCString(buf, &value->root, VARSIZE(value));
}

/*
 * Column c of the current SPI row as a copy of a jsonb, or NULL.
 */
static Jsonb *
spi_jsonb(HeapTuple tuple, TupleDesc desc, int c)
{
	bool  isnull;
	Datum d = SPI_getbinval(tuple, desc, c, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

/*
 * sn_get_topic_attributes(topic_name): the topic's attributes as a JSON
 * object with the managed service's names: TopicArn, Owner (the owning
 * role), FifoTopic, ContentBasedDeduplication (FIFO topics),
 * DeliveryPolicy (when set), EffectiveDeliveryPolicy, SubscriptionsConfirmed,
 * SubscriptionsPending, SubscriptionsDeleted (always 0: a deleted
 * subscription is gone at once), SqsManagedSseEnabled, SignatureVersion,
 * DisplayName and the other kept attributes. Anyone with an action on the
 * topic (publish, subscribe or admin) may read them.
 */
Datum
sn_get_topic_attributes(PG_FUNCTION_ARGS)
{
	char          *name = topic_name_arg(fcinfo, 0);
	MemoryContext  outer = CurrentMemoryContext;
	MemoryContext  spicxt;
	int            nestlevel;
	int64          topic_id;
	Datum          value;
	HeapTuple      tuple;
	TupleDesc      desc;
	bool           isnull;
	bool           fifo = sqsn_is_fifo_name(name);
	Jsonb         *delivery_policy;
	Jsonb         *extra;
	StringInfoData buf;
	Oid            roleid = GetOuterUserId();
	Datum          result;

	nestlevel = sqsn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	topic_id = find_topic_id(name);
	if (!sqsn_topic_allows(topic_id, roleid, SQSN_ADMIN) &&
		!sqsn_topic_allows(topic_id, roleid, SQSN_PUBLISH) &&
		!sqsn_topic_allows(topic_id, roleid, SQSN_SUBSCRIBE))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read the attributes of topic "
						"\"%s\"",
						name),
				 errdetail("Reading a topic's attributes needs an action "
						   "(publish, subscribe or admin) on the topic."),
				 errhint("The topic's owner or a member of sqsn_admin can "
						 "grant one with sqsn.sn_grant().")));

	value = Int64GetDatum(topic_id);
	sqsn_spi_check(
		SPI_execute_with_args(
			"SELECT t.owner::pg_catalog.text, t.content_based_deduplication,"
			" t.delivery_policy, t.encrypted, t.extra_attributes,"
			" (SELECT pg_catalog.count(*) FROM sqsn.subscription s"
			"   WHERE s.topic_id OPERATOR(pg_catalog.=) t.topic_id"
			"   AND s.confirmed),"
			" (SELECT pg_catalog.count(*) FROM sqsn.subscription s"
			"   WHERE s.topic_id OPERATOR(pg_catalog.=) t.topic_id"
			"   AND NOT s.confirmed)"
			" FROM sqsn.topic t WHERE t.topic_id OPERATOR(pg_catalog.=) $1",
			1, (Oid[]){INT8OID}, &value, NULL, false, 1),
		SPI_OK_SELECT, "reading sqsn.topic");
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("topic \"%s\" does not exist", name)));
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	spicxt = MemoryContextSwitchTo(outer);
	delivery_policy = spi_jsonb(tuple, desc, 3);
	extra = spi_jsonb(tuple, desc, 5);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	json_string_member(&buf, "TopicArn", sqsn_topic_arn(name));
	json_string_member(&buf, "Owner", SPI_getvalue(tuple, desc, 1));
	json_raw_member(&buf, "FifoTopic", fifo ? "true" : "false");
	if (fifo)
		json_raw_member(&buf, "ContentBasedDeduplication",
						DatumGetBool(SPI_getbinval(tuple, desc, 2, &isnull))
							? "true"
							: "false");
	if (delivery_policy)
		json_jsonb_member(&buf, "DeliveryPolicy", delivery_policy);
	json_jsonb_member(&buf, "EffectiveDeliveryPolicy",
					  sqsn_effective_delivery_policy_json(
						  NULL, delivery_policy, true));
	json_raw_member(&buf, "SubscriptionsConfirmed",
					SPI_getvalue(tuple, desc, 6));
	json_raw_member(&buf, "SubscriptionsPending",
					SPI_getvalue(tuple, desc, 7));
	json_raw_member(&buf, "SubscriptionsDeleted", "0");
	json_raw_member(&buf, "SqsManagedSseEnabled",
					DatumGetBool(SPI_getbinval(tuple, desc, 4, &isnull))
						? "true"
						: "false");
	json_string_member(&buf, "SignatureVersion", "2");
	if (extra == NULL ||
		getKeyJsonValueFromContainer(&extra->root, "DisplayName", 11, NULL) ==
			NULL)
		json_string_member(&buf, "DisplayName", "");
	if (extra != NULL)
	{
		JsonbIterator *it = JsonbIteratorInit(&extra->root);
		JsonbValue     v;
		char          *key = NULL;

		while (sqsn_jsonb_next_pair(&it, &key, &v))
			if (v.type == jbvString && strcmp(key, "SignatureVersion") != 0)
				json_string_member(
					&buf, key, pnstrdup(v.val.string.val, v.val.string.len));
	}
	appendStringInfoChar(&buf, '}');
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
	MemoryContextSwitchTo(spicxt);

	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
	PG_RETURN_DATUM(result);
}

/*
 * sn_get_subscription_attributes(subscription_id): the subscription's
 * attributes as a JSON object with the managed service's names:
 * SubscriptionArn, TopicArn, Owner (the owning role), Protocol, Endpoint
 * (the queue's name for protocol sqs, else the URL), PendingConfirmation,
 * ConfirmationWasAuthenticated, RawMessageDelivery, FilterPolicy and
 * FilterPolicyScope (when a filter policy is set), and for HTTP/HTTPS
 * subscriptions DeliveryPolicy (when set), EffectiveDeliveryPolicy and
 * RedrivePolicy ({"deadLetterTargetArn": <queue name>}, when set). Readable
 * by whoever may change the subscription or unsubscribe it.
 */
Datum
sn_get_subscription_attributes(PG_FUNCTION_ARGS)
{
	Datum          id;
	MemoryContext  outer = CurrentMemoryContext;
	MemoryContext  spicxt;
	int            nestlevel;
	HeapTuple      tuple;
	TupleDesc      desc;
	bool           isnull;
	bool           confirmed;
	bool           push;
	char          *topic_arn;
	char          *dlq;
	Jsonb         *filter_policy;
	Jsonb         *delivery_policy;
	Jsonb         *topic_policy;
	StringInfoData buf;
	Datum          result;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("subscription_id must not be NULL")));
	id = PG_GETARG_DATUM(0);

	nestlevel = sqsn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sqsn_spi_check(
		SPI_execute_with_args(
			"SELECT t.topic_name, s.owner::pg_catalog.text, s.protocol,"
			" COALESCE(q.queue_name, s.endpoint), s.confirmed,"
			" s.raw_message_delivery, s.filter_policy,"
			" s.filter_policy_scope, s.delivery_policy, t.delivery_policy,"
			" d.queue_name"
			" FROM sqsn.subscription s"
			" JOIN sqsn.topic t"
			"  ON t.topic_id OPERATOR(pg_catalog.=) s.topic_id"
			" LEFT JOIN sqsn.queue q"
			"  ON q.queue_id OPERATOR(pg_catalog.=) s.queue_id"
			" LEFT JOIN sqsn.queue d"
			"  ON d.queue_id OPERATOR(pg_catalog.=) s.dead_letter_queue_id"
			" WHERE s.subscription_id OPERATOR(pg_catalog.=) $1",
			1, (Oid[]){UUIDOID}, &id, NULL, false, 1),
		SPI_OK_SELECT, "reading sqsn.subscription");
	if (SPI_processed == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("subscription %s does not exist",
							   DatumGetCString(
								   DirectFunctionCall1(uuid_out, id)))));
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	spicxt = MemoryContextSwitchTo(outer);
	topic_arn = sqsn_topic_arn(SPI_getvalue(tuple, desc, 1));
	confirmed = DatumGetBool(SPI_getbinval(tuple, desc, 5, &isnull));
	push = strcmp(SPI_getvalue(tuple, desc, 3), "sqs") != 0;
	filter_policy = spi_jsonb(tuple, desc, 7);
	delivery_policy = spi_jsonb(tuple, desc, 9);
	topic_policy = spi_jsonb(tuple, desc, 10);
	dlq = SPI_getvalue(tuple, desc, 11);

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	json_string_member(&buf, "SubscriptionArn",
					   psprintf("%s:%s", topic_arn,
								DatumGetCString(
									DirectFunctionCall1(uuid_out, id))));
	json_string_member(&buf, "TopicArn", topic_arn);
	json_string_member(&buf, "Owner", SPI_getvalue(tuple, desc, 2));
	json_string_member(&buf, "Protocol", SPI_getvalue(tuple, desc, 3));
	json_string_member(&buf, "Endpoint", SPI_getvalue(tuple, desc, 4));
	json_raw_member(&buf, "PendingConfirmation", confirmed ? "false" : "true");
	json_raw_member(&buf, "ConfirmationWasAuthenticated",
					confirmed ? "true" : "false");
	json_raw_member(&buf, "RawMessageDelivery",
					DatumGetBool(SPI_getbinval(tuple, desc, 6, &isnull))
						? "true"
						: "false");
	if (filter_policy)
	{
		json_jsonb_member(&buf, "FilterPolicy", filter_policy);
		json_string_member(&buf, "FilterPolicyScope",
						   SPI_getvalue(tuple, desc, 8));
	}
	if (push)
	{
		if (delivery_policy)
			json_jsonb_member(&buf, "DeliveryPolicy", delivery_policy);
		json_jsonb_member(&buf, "EffectiveDeliveryPolicy",
						  sqsn_effective_delivery_policy_json(
							  delivery_policy, topic_policy, false));
		if (dlq)
		{
			json_key(&buf, "RedrivePolicy");
			appendStringInfoChar(&buf, '{');
			escape_json(&buf, "deadLetterTargetArn");
			appendStringInfoChar(&buf, ':');
			escape_json(&buf, dlq);
			appendStringInfoChar(&buf, '}');
		}
	}
	appendStringInfoChar(&buf, '}');
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
	MemoryContextSwitchTo(spicxt);

	/* after the read: the subscription exists, so this checks */
	sqsn_check_subscription(id, true);
	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
	PG_RETURN_DATUM(result);
}

/* Publishing ----------------------------------------------------------- */

/*
 * Reads the subscriptions a publish to topic_name delivers to, after
 * taking the topic's shared lock. Requires an SPI connection.
 */
static Target *
load_targets(const char *topic_name, int *ntargets, int64 *topic_id_out)
{
	int64      topic_id = find_topic_id(topic_name);
	Datum      value;
	Target    *targets;
	SPIPlanPtr plan = NULL;

	lock_topic(topic_id, AccessShareLock);
	*topic_id_out = topic_id;

	if (!push_installed())
	{
		if (legacy_targets_plan == NULL)
		{
			Oid argtypes[1] = {INT8OID};

			legacy_targets_plan = sqsn_prepare_plan(
				"SELECT q.queue_name, s.raw_message_delivery,"
				" s.filter_policy_scope OPERATOR(pg_catalog.=) 'MessageBody',"
				" s.filter_policy, s.subscription_id,"
				" s.owner::pg_catalog.text"
				" FROM sqsn.subscription s JOIN sqsn.queue q"
				"  ON q.queue_id OPERATOR(pg_catalog.=) s.queue_id"
				" WHERE s.topic_id OPERATOR(pg_catalog.=) $1"
				" ORDER BY q.queue_id",
				1, argtypes);
		}
		plan = legacy_targets_plan;
	}
	else if (targets_plan == NULL)
	{
		Oid argtypes[1] = {INT8OID};

		targets_plan = sqsn_prepare_plan(
			"SELECT q.queue_name, s.raw_message_delivery,"
			" s.filter_policy_scope OPERATOR(pg_catalog.=) 'MessageBody',"
			" s.filter_policy, s.subscription_id,"
			" s.owner::pg_catalog.text"
			" FROM sqsn.subscription s LEFT JOIN sqsn.queue q"
			"  ON q.queue_id OPERATOR(pg_catalog.=) s.queue_id"
			" WHERE s.topic_id OPERATOR(pg_catalog.=) $1"
			"  AND s.confirmed"
			" ORDER BY q.queue_id, s.subscription_id",
			1, argtypes);
	}
	if (push_installed())
		plan = targets_plan;
	value = Int64GetDatum(topic_id);
	sqsn_spi_check(SPI_execute_plan(plan, &value, NULL, false, 0),
				   SPI_OK_SELECT, "reading sqsn.subscription");

	*ntargets = (int) SPI_processed;
	targets = palloc0(sizeof(Target) * Max(*ntargets, 1));
	for (int i = 0; i < *ntargets; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		TupleDesc tupdesc = SPI_tuptable->tupdesc;
		bool      isnull;
		Datum     policy;

		targets[i].queue_name = SPI_getvalue(tuple, tupdesc, 1);
		targets[i].raw =
			DatumGetBool(SPI_getbinval(tuple, tupdesc, 2, &isnull));
		targets[i].body_scope =
			DatumGetBool(SPI_getbinval(tuple, tupdesc, 3, &isnull));
		policy = SPI_getbinval(tuple, tupdesc, 4, &isnull);
		targets[i].filter_policy = isnull ? NULL : DatumGetJsonbPCopy(policy);
		targets[i].subscription_id = datumCopy(
			SPI_getbinval(tuple, tupdesc, 5, &isnull), false, UUID_LEN);
		targets[i].owner = SPI_getvalue(tuple, tupdesc, 6);
	}
	return targets;
}

static void
json_field(StringInfo buf, const char *key, const char *value, bool first)
{
	if (!first)
		appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
	escape_json(buf, value);
}

/*
 * The notification envelope a queue receives without raw delivery. Every
 * string goes through escape_json, so message text cannot break out of its
 * JSON string.
 */
static text *
build_envelope(PublishedMessage *pub, const char *topic_arn,
			   const char *timestamp)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	json_field(&buf, "Type", "Notification", true);
	json_field(&buf, "MessageId",
			   DatumGetCString(DirectFunctionCall1(
				   uuid_out, UUIDPGetDatum(pub->message_id))),
			   false);
	json_field(&buf, "TopicArn", topic_arn, false);
	if (pub->subject)
		json_field(&buf, "Subject", pub->subject, false);
	json_field(&buf, "Message", text_to_cstring(pub->message), false);
	json_field(&buf, "Timestamp", timestamp, false);
	sqsn_append_envelope_attributes(&buf, pub->attributes);
	appendStringInfoChar(&buf, '}');
	return cstring_to_text_with_len(buf.data, buf.len);
}

/*
 * With message_structure 'json' the message is a JSON object of strings
 * with a required "default" and optional per-protocol texts; a subscriber
 * gets the text of its protocol ("sqs", "http", "https") when present,
 * else "default".
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
	pub->message_id = sqsn_new_message_id();
	pub->published_at = GetCurrentTimestamp();
}

/*
 * Puts one notification for an HTTP/HTTPS subscription into the outbox;
 * the delivery worker POSTs it after commit. The envelope is built (and
 * signed) by the worker from these fields.
 */
static void
queue_push_delivery(Target *target, PublishedMessage *pub,
					const char *topic_arn, const char *timestamp,
					bool encrypted)
{
	Datum values[7];
	char  nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	if (outbox_plan == NULL)
	{
		Oid argtypes[7] = {UUIDOID, UUIDOID,  TEXTOID,       TEXTOID,
						   TEXTOID, JSONBOID, TIMESTAMPTZOID};

		outbox_plan = sqsn_prepare_plan(
			"INSERT INTO sqsn.delivery (subscription_id, message_type,"
			" message_id, topic_arn, subject, message, message_attributes,"
			" published_at, next_attempt_at)"
			" VALUES ($1, 'Notification', $2, $3, $4, $5, $6, $7, $7)",
			7, argtypes);
	}
	if (pub->http_message == NULL)
		pub->http_message =
			pub->structure == NULL
				? pub->original
				: message_for_protocol(pub->original, pub->structure, "http");
	values[0] = target->subscription_id;
	values[1] = UUIDPGetDatum(pub->message_id);
	values[2] = CStringGetTextDatum(topic_arn);
	values[3] = pub->subject ? CStringGetTextDatum(pub->subject) : (Datum) 0;
	nulls[3] = pub->subject ? ' ' : 'n';
	values[4] = PointerGetDatum(pub->http_message);
	values[5] = pub->attributes ? JsonbPGetDatum(pub->attributes) : (Datum) 0;
	nulls[5] = pub->attributes ? ' ' : 'n';
	values[6] = TimestampTzGetDatum(pub->published_at);
	if (encrypted)
	{
		/* sealed for this subscription; the worker opens it (delivery.c) */
		values[4] = PointerGetDatum(sqsn_seal(
			'd', 0, DatumGetUUIDP(target->subscription_id), pub->message_id,
			pub->http_message, pub->attributes, pub->subject));
		values[3] = (Datum) 0;
		nulls[3] = 'n';
		values[5] = JsonbPGetDatum(sqsn_sealed_marker());
		nulls[5] = ' ';
	}
	sqsn_spi_check(SPI_execute_plan(outbox_plan, values, nulls, false, 0),
				   SPI_OK_INSERT, "inserting into sqsn.delivery");
	sqsn_delivery_note_insert();
}

/*
 * The group and deduplication ids of a publication (NULL: not given). A
 * FIFO topic needs a group id, and a deduplication id unless it
 * deduplicates by content (SHA-256 of the message); a standard topic takes
 * neither. element is the 1-based batch element, or 0.
 */
static void
set_publication_tags(PublishedMessage *pub, const char *topic_name,
					 bool content_based, char *group_id,
					 char *deduplication_id, int element)
{
	if (!sqsn_is_fifo_name(topic_name))
	{
		if (group_id != NULL || deduplication_id != NULL)
			ereport(
				ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("message_group_id and message_deduplication_id "
						"are only for FIFO topics"),
				 errdetail("Topic \"%s\" is a standard topic.", topic_name)));
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
	bool  isnull;

	if (!sqsn_is_fifo_name(topic_name) || !sqsn_catalog_has_fifo())
		return false;
	(void) find_topic_id(topic_name); /* errors when there is none */
	sqsn_spi_check(
		SPI_execute_with_args("SELECT content_based_deduplication"
							  " FROM sqsn.topic"
							  " WHERE topic_name OPERATOR(pg_catalog.=) $1",
							  1, argtypes, &value, NULL, false, 1),
		SPI_OK_SELECT, "reading sqsn.topic");
	if (SPI_processed == 0)
		return false;
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * FIFO topics: the publications to deliver, leaving out those that repeat
 * a deduplication id of the last five minutes (their message_id in pubs
 * becomes the first message's, which the caller returns). *n becomes the
 * number to deliver.
 */
static PublishedMessage *
fifo_deduplicate(int64 topic_id, PublishedMessage *pubs, int *n)
{
	int               nfresh = 0;
	PublishedMessage *fresh = palloc(sizeof(PublishedMessage) * Max(*n, 1));

	for (int i = 0; i < *n; i++)
	{
		pg_uuid_t *id = sqsn_fifo_deduplicate_publish(
			topic_id, pubs[i].deduplication_id, pubs[i].message_id);

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
	Oid owner = target->owner ? get_role_oid(target->owner, true)
							  : InvalidOid;

	if (!queue->check_grants ||
		(OidIsValid(owner) && sqsn_queue_allows(queue, owner, SQSN_SEND)))
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
	if (push_installed())
	{
		Datum values[2] = {target->subscription_id, Int64GetDatum(n)};

		sqsn_spi_check(
			SPI_execute_with_args(
				"INSERT INTO sqsn.subscription_counter AS c"
				" (subscription_id, denied) VALUES ($1, $2)"
				" ON CONFLICT (subscription_id) DO UPDATE"
				" SET denied = c.denied OPERATOR(pg_catalog.+) $2",
				2, (Oid[]){UUIDOID, INT8OID}, values, NULL, false, 0),
			SPI_OK_INSERT, "counting a skipped delivery");
	}
	return false;
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

	sqsn_check_topic(topic_id, topic_name, SQSN_PUBLISH);
	if (sqsn_is_fifo_name(topic_name))
		pubs = fifo_deduplicate(topic_id, pubs, &n);
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
					timestamp = sqsn_iso_timestamp(GetCurrentTimestamp());
				}
				if (encrypted < 0)
					encrypted = sqsn_topic_encrypted(topic_id) ? 1 : 0;
				queue_push_delivery(target, pub, topic_arn, timestamp,
									encrypted > 0);
				continue;
			}
			msgs[k].message_id = sqsn_new_message_id();
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
						timestamp = sqsn_iso_timestamp(GetCurrentTimestamp());
					}
					pub->envelope = build_envelope(pub, topic_arn, timestamp);
				}
				msgs[k].body = PointerGetDatum(pub->envelope);
				msgs[k].attributes = NULL;
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
 * sn_publish(topic_name, message, message_attributes, subject,
 * message_structure, message_group_id, message_deduplication_id): returns
 * the message id (the envelope's MessageId); for a duplicate on a FIFO
 * topic, the first message's id.
 */
Datum
sn_publish(PG_FUNCTION_ARGS)
{
	char            *topic_name = topic_name_arg(fcinfo, 0);
	PublishedMessage pub;

	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("message must not be NULL")));
	prepare_publication(
		&pub, PG_GETARG_TEXT_PP(1),
		PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2),
		PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3)),
		PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	set_publication_tags(
		&pub, topic_name, topic_content_based(topic_name),
		SQSN_ARG_GIVEN(5) ? text_to_cstring(PG_GETARG_TEXT_PP(5)) : NULL,
		SQSN_ARG_GIVEN(6) ? text_to_cstring(PG_GETARG_TEXT_PP(6)) : NULL, 0);
	fan_out(topic_name, &pub, 1);
	SPI_finish();
	PG_RETURN_UUID_P(pub.message_id);
}

/*
 * The elements of an optional text array argument of sn_publish_batch, one
 * per message; NULL when the argument is NULL.
 */
static Datum *
publish_batch_text_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
					   int n, bool **nulls)
{
	Datum *values;
	int    count;

	*nulls = NULL;
	if (!SQSN_ARG_GIVEN(argno))
		return NULL;
	count = sqsn_array_arg(fcinfo, argno, argname, TEXTOID, &values, nulls);
	if (count != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must have one element per message", argname),
				 errdetail("%d messages and %d %s were given.", n, count,
						   argname)));
	return values;
}

/*
 * sn_publish_batch(topic_name, messages, message_attributes,
 * message_group_ids, message_deduplication_ids): publishes every message;
 * each subscribed queue gets its copies with one insert. Returns the
 * message ids in input order.
 */
Datum
sn_publish_batch(PG_FUNCTION_ARGS)
{
	char             *topic_name = topic_name_arg(fcinfo, 0);
	ReturnSetInfo    *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum            *messages;
	bool             *message_nulls;
	Datum            *attributes = NULL;
	bool             *attribute_nulls = NULL;
	PublishedMessage *pubs;
	Datum            *groups;
	bool             *group_nulls;
	Datum            *dedups;
	bool             *dedup_nulls;
	bool              content_based;
	int               n;

	n = sqsn_batch_args(fcinfo, "messages", "message", "messages", &messages,
						&message_nulls, &attributes, &attribute_nulls);

	pubs = palloc(sizeof(PublishedMessage) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (message_nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("messages must not contain NULL"),
							errdetail("Element %d is NULL.", i + 1)));
		prepare_publication(&pubs[i], DatumGetTextPP(messages[i]),
							(attributes && !attribute_nulls[i])
								? DatumGetJsonbP(attributes[i])
								: NULL,
							NULL, NULL);
	}

	groups = publish_batch_text_arg(fcinfo, 3, "message_group_ids", n,
									&group_nulls);
	dedups = publish_batch_text_arg(fcinfo, 4, "message_deduplication_ids", n,
									&dedup_nulls);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	content_based = topic_content_based(topic_name);
	for (int i = 0; i < n; i++)
		set_publication_tags(
			&pubs[i], topic_name, content_based,
			(groups && !group_nulls[i]) ? TextDatumGetCString(groups[i])
										: NULL,
			(dedups && !dedup_nulls[i]) ? TextDatumGetCString(dedups[i])
										: NULL,
			i + 1);
	if (n > 0)
		fan_out(topic_name, pubs, n);
	else
		sqsn_check_topic(find_topic_id(topic_name), topic_name, SQSN_PUBLISH);
	SPI_finish();

	for (int i = 0; i < n; i++)
	{
		Datum value = UUIDPGetDatum(pubs[i].message_id);
		bool  isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value,
							 &isnull);
	}
	return (Datum) 0;
}
