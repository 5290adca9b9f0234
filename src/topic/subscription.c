/*-------------------------------------------------------------------------
 *
 * subscription.c
 *	  Subscriptions (sqsn.subscription): subscribe, confirm, unsubscribe,
 *	  list, and their attributes.
 *
 * A subscription delivers a topic's messages to a queue (protocol sqs),
 * copied in the publisher's transaction, or through the push outbox
 * (push/) to an HTTP/HTTPS URL or to a SQL function (protocol function, or
 * lambda as the managed service calls it; its endpoint is the function,
 * "schema.name(jsonb)", which the function workers of function/ invoke as
 * the subscription's owner). HTTP/HTTPS subscriptions start pending:
 * subscribing queues a SubscriptionConfirmation with a random token, and
 * sn_confirm_subscription (or the endpoint's confirm link) confirms;
 * hosts listed in sqsn.http_auto_confirm_hosts are confirmed at once.
 *
 * Every change takes its topic's lock exclusively (topic.c), so it waits
 * for the publishes in flight and the next publish sees it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "topic/topic.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(sn_subscribe);
PG_FUNCTION_INFO_V1(sn_confirm_subscription);
PG_FUNCTION_INFO_V1(sn_unsubscribe);
PG_FUNCTION_INFO_V1(sn_list_subscriptions);
PG_FUNCTION_INFO_V1(sn_set_subscription_attributes);
PG_FUNCTION_INFO_V1(sn_get_subscription_attributes);
PG_FUNCTION_INFO_V1(sn_pause_subscription);
PG_FUNCTION_INFO_V1(sn_resume_subscription);

#define SCOPE_ATTRIBUTES "MessageAttributes"
#define SCOPE_BODY       "MessageBody"

#define REDRIVE_POLICY_HINT "Write {\"deadLetterTargetArn\": \"queue name\"}."

/* What a subscription delivers to. */
typedef enum SubscriptionKind
{
	SUBSCRIBE_QUEUE,      /* sqs */
	SUBSCRIBE_URL,        /* http, https */
	SUBSCRIBE_FUNCTION,   /* function, lambda */
	SUBSCRIBE_EMAIL,      /* email, email-json */
	SUBSCRIBE_SMS,        /* sms */
	SUBSCRIBE_APPLICATION /* application: a platform endpoint */
} SubscriptionKind;

/*
 * Statements on sqsn.subscription, run by sqsn_execute. Those of
 * sn_subscribe share its ten parameters: $1 topic id, $2 queue id, $3
 * filter policy, $4 its scope, $5 raw delivery, $6 protocol, $7 endpoint
 * URL, $8 delivery policy, $9 dead-letter queue id, $10 confirmation token
 * (NULL: confirmed). The legacy forms are those of a catalog before the
 * push outbox (0.2).
 */
#define SUBSCRIBE_ARGTYPES                                                    \
	INT8OID, INT8OID, JSONBOID, TEXTOID, BOOLOID, TEXTOID, TEXTOID, JSONBOID, \
		INT8OID, TEXTOID

static SqsnStatement subscription_rights_stmt = {
	"SELECT s.topic_id, t.topic_name, s.owner::pg_catalog.text, q.queue_name"
	" FROM sqsn.subscription s"
	" JOIN sqsn.topic t ON t.topic_id OPERATOR(pg_catalog.=) s.topic_id"
	" LEFT JOIN sqsn.queue q"
	"  ON q.queue_id OPERATOR(pg_catalog.=) s.queue_id"
	" WHERE s.subscription_id OPERATOR(pg_catalog.=) $1",
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"reading sqsn.subscription"};

static SqsnStatement queue_key_share_stmt = {
	"SELECT queue_id FROM sqsn.queue WHERE queue_name = $1 FOR KEY SHARE",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading sqsn.queue"};

static SqsnStatement existing_stmt = {
	"SELECT subscription_id,"
	" filter_policy IS NOT DISTINCT FROM $3"
	" AND filter_policy_scope = $4"
	" AND raw_message_delivery = $5"
	" AND delivery_policy IS NOT DISTINCT FROM $8"
	" AND dead_letter_queue_id IS NOT DISTINCT FROM $9"
	" FROM sqsn.subscription"
	" WHERE topic_id = $1 AND protocol = $6"
	" AND (queue_id = $2 OR endpoint = $7)",
	10,
	{SUBSCRIBE_ARGTYPES},
	SPI_OK_SELECT,
	"reading sqsn.subscription"};

static SqsnStatement legacy_existing_stmt = {
	"SELECT subscription_id,"
	" filter_policy IS NOT DISTINCT FROM $3"
	" AND filter_policy_scope = $4"
	" AND raw_message_delivery = $5"
	" FROM sqsn.subscription"
	" WHERE topic_id = $1 AND protocol = $6"
	" AND queue_id = $2",
	10,
	{SUBSCRIBE_ARGTYPES},
	SPI_OK_SELECT,
	"reading sqsn.subscription"};

static SqsnStatement insert_stmt = {
	"INSERT INTO sqsn.subscription (topic_id, protocol, queue_id,"
	" filter_policy, filter_policy_scope, raw_message_delivery, owner,"
	" created_at, endpoint, delivery_policy, dead_letter_queue_id,"
	" confirmed, confirmation_token)"
	" VALUES ($1, $6, $2, $3, $4, $5, session_user, clock_timestamp(),"
	" $7, $8, $9, $10 IS NULL, $10)"
	" RETURNING subscription_id",
	10,
	{SUBSCRIBE_ARGTYPES},
	SPI_OK_INSERT_RETURNING,
	"inserting into sqsn.subscription"};

static SqsnStatement legacy_insert_stmt = {
	"INSERT INTO sqsn.subscription"
	" (topic_id, protocol, queue_id,"
	" filter_policy, filter_policy_scope,"
	" raw_message_delivery, owner, created_at)"
	" VALUES ($1, $6, $2, $3, $4, $5,"
	" session_user, clock_timestamp())"
	" RETURNING subscription_id",
	10,
	{SUBSCRIBE_ARGTYPES},
	SPI_OK_INSERT_RETURNING,
	"inserting into sqsn.subscription"};

static SqsnStatement set_owner_stmt = {
	"UPDATE sqsn.subscription SET owner = $2 WHERE subscription_id = $1",
	2,
	{UUIDOID, NAMEOID},
	SPI_OK_UPDATE,
	"setting the subscription's owner"};

static SqsnStatement confirm_stmt = {
	"UPDATE sqsn.subscription SET confirmed = true"
	" WHERE topic_id = $1"
	" AND confirmation_token = $2"
	" RETURNING subscription_id",
	2,
	{INT8OID, TEXTOID},
	SPI_OK_UPDATE_RETURNING,
	"updating sqsn.subscription"};

static SqsnStatement drop_confirmations_stmt = {
	"DELETE FROM sqsn.delivery"
	" WHERE subscription_id = $1"
	" AND message_type = 'SubscriptionConfirmation'"
	" AND status = 'pending'",
	1,
	{UUIDOID},
	SPI_OK_DELETE,
	"deleting from sqsn.delivery"};

static SqsnStatement topic_of_stmt = {
	"SELECT topic_id FROM sqsn.subscription WHERE subscription_id = $1",
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"reading sqsn.subscription"};

static SqsnStatement delete_stmt = {
	"DELETE FROM sqsn.subscription WHERE subscription_id = $1",
	1,
	{UUIDOID},
	SPI_OK_DELETE,
	"deleting from sqsn.subscription"};

static SqsnStatement pause_stmt = {
	"UPDATE sqsn.subscription SET paused = $2 WHERE subscription_id = $1"
	" RETURNING protocol",
	2,
	{UUIDOID, BOOLOID},
	SPI_OK_UPDATE_RETURNING,
	"updating sqsn.subscription"};

/*
 * The settings sn_set_subscription_attributes changes: $1 the
 * subscription, $2 filter policy, $3 its scope, $4 raw delivery, $5
 * delivery policy, $6 dead-letter queue id (the last two of HTTP/HTTPS
 * subscriptions only).
 */
static SqsnStatement settings_stmt = {
	"SELECT filter_policy, filter_policy_scope,"
	" raw_message_delivery,"
	" to_jsonb(s)->'delivery_policy',"
	" (to_jsonb(s)->>'dead_letter_queue_id')::bigint,"
	" protocol <> 'sqs', protocol IN ('function', 'lambda')"
	" FROM sqsn.subscription s"
	" WHERE subscription_id = $1",
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"reading sqsn.subscription"};

static SqsnStatement update_push_stmt = {
	"UPDATE sqsn.subscription"
	" SET filter_policy = $2,"
	" filter_policy_scope = $3,"
	" raw_message_delivery = $4,"
	" delivery_policy = $5,"
	" dead_letter_queue_id = $6"
	" WHERE subscription_id = $1",
	6,
	{UUIDOID, JSONBOID, TEXTOID, BOOLOID, JSONBOID, INT8OID},
	SPI_OK_UPDATE,
	"updating sqsn.subscription"};

static SqsnStatement update_queue_stmt = {
	"UPDATE sqsn.subscription"
	" SET filter_policy = $2,"
	" filter_policy_scope = $3,"
	" raw_message_delivery = $4"
	" WHERE subscription_id = $1",
	4,
	{UUIDOID, JSONBOID, TEXTOID, BOOLOID},
	SPI_OK_UPDATE,
	"updating sqsn.subscription"};

static SqsnStatement attributes_stmt = {
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
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"reading sqsn.subscription"};

pg_noreturn static void subscription_missing(Datum subscription_id);
static bool             jsonb_clears_policy(Jsonb *policy);
static Jsonb           *subscription_delivery_policy(Jsonb *policy);

/*
 * Changing or deleting a subscription: its owner, an administrator of its
 * topic, or (with queue_admin_too, for unsubscribing) an administrator of
 * the queue it delivers to. Errors with 42501 otherwise. Requires SPI.
 */
static void
check_subscription(Datum subscription_id, bool queue_admin_too)
{
	Oid   roleid = GetOuterUserId();
	int64 topic_id;
	char *topic_name;
	char *owner;
	char *queue_name;

	if (!sqsn_catalog_has(SQSN_CATALOG_GRANTS))
		return;
	if (sqsn_execute(&subscription_rights_stmt, &subscription_id, NULL, 1) ==
		0)
		return; /* the caller says it does not exist */
	topic_id = sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	topic_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	queue_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);

	if (sqsn_role_owns(owner, roleid))
		return;
	if (sqsn_topic_allows(topic_id, roleid, SQSN_ADMIN))
		return;
	if (queue_admin_too && queue_name != NULL &&
		sqsn_queue_allows(sqsn_open_queue(queue_name, RowExclusiveLock),
						  roleid, SQSN_ADMIN))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to change a subscription of topic "
					"\"%s\"",
					topic_name),
			 errdetail("Subscription %s belongs to role \"%s\"; role \"%s\" "
					   "lacks the action \"admin\" on the topic.",
					   sqsn_uuid_text(subscription_id), owner,
					   GetUserNameFromId(roleid, false)),
			 errhint("The subscription's owner or an administrator of the "
					 "topic can change it.")));
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
 * Protocols: sqs (a queue), http and https (push delivery, push/), function
 * or lambda (a SQL function the function workers invoke, function/, also
 * through the push outbox), email and email-json (mail the delivery worker
 * sends through sqsn.smtp_url, push/email.c), sms (SMS through
 * sqsn.sms_gateway_url to an E.164 number, push/sms.c), application
 * (mobile push to a platform endpoint's ARN, push/platform.c).
 */
static SubscriptionKind
check_protocol(const char *protocol)
{
	if (strcmp(protocol, "sqs") == 0)
		return SUBSCRIBE_QUEUE;
	if (strcmp(protocol, "http") == 0 || strcmp(protocol, "https") == 0)
		return SUBSCRIBE_URL;
	if (strcmp(protocol, "function") == 0 || strcmp(protocol, "lambda") == 0)
		return SUBSCRIBE_FUNCTION;
	if (strcmp(protocol, "email") == 0 || strcmp(protocol, "email-json") == 0)
		return SUBSCRIBE_EMAIL;
	if (strcmp(protocol, "sms") == 0)
		return SUBSCRIBE_SMS;
	if (strcmp(protocol, "application") == 0)
		return SUBSCRIBE_APPLICATION;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unsupported subscription protocol \"%s\"", protocol),
			 errhint("Use sqs with a queue name, http or https with a URL, "
					 "function with a function such as "
					 "myschema.handler(jsonb), email or email-json with "
					 "an address, sms with a phone number, or "
					 "application with a platform endpoint's ARN, as the "
					 "endpoint.")));
}

/*
 * The endpoint of a function subscription: a function of one jsonb that
 * the caller may execute (its owner runs it). Returns its qualified name.
 */
static char *
function_endpoint(const char *endpoint)
{
	Oid   fnoid = sqsn_consumer_function_oid(endpoint);
	char *name = sqsn_check_consumer_function(fnoid, false);

	if (object_aclcheck(ProcedureRelationId, fnoid, GetOuterUserId(),
						ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", name),
				 errdetail("A function subscription runs its function as "
						   "the subscription's owner, who needs EXECUTE on "
						   "it.")));
	return name;
}

/*
 * The delivery policy of a push subscription: NULL for a JSON null, {} or
 * ""; checked in the form of its protocol.
 */
static Jsonb *
push_delivery_policy(Jsonb *policy, bool function)
{
	if (!function)
		return subscription_delivery_policy(policy);
	if (policy == NULL || jsonb_clears_policy(policy))
		return NULL;
	if (JB_ROOT_IS_OBJECT(policy) && JB_ROOT_COUNT(policy) == 0)
		return NULL;
	sqsn_function_policy(policy, NULL);
	return policy;
}

/*
 * Subscribing a queue needs the right to send to it. With the catalog of
 * 0.2 (before ALTER EXTENSION UPDATE) that is the role check of 0.2: the
 * calling role (SET ROLE included) must have the privileges of
 * sqsn_producer, which sqsn_admin members have; superusers have them all.
 * With 0.3 the queue's grants decide (security/acl.c).
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
 * Whether a policy argument removes the policy: a scalar jsonb that is
 * null or "" (sqsn_jsonb_is_empty).
 */
static bool
jsonb_clears_policy(Jsonb *policy)
{
	JsonbIterator     *it;
	JsonbIteratorToken tok;
	JsonbValue         v;

	if (!JB_ROOT_IS_SCALAR(policy))
		return false;
	it = JsonbIteratorInit(&policy->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM && sqsn_jsonb_is_empty(&v))
			return true;
	return false;
}

/*
 * Locks the catalog row of a queue FOR KEY SHARE, which keeps the queue
 * from being deleted until commit; false when there is no such queue, else
 * its id is in SPI_tuptable.
 */
static bool
lock_queue_key(const char *queue_name)
{
	Datum value = CStringGetTextDatum(queue_name);

	return sqsn_execute(&queue_key_share_stmt, &value, NULL, 1) > 0;
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
	JsonbIterator     *it;
	JsonbIteratorToken tok;
	JsonbValue         v;

	if (policy == NULL || jsonb_clears_policy(policy))
		return 0;
	if (!JB_ROOT_IS_OBJECT(policy) || JB_ROOT_IS_SCALAR(policy))
		sqsn_invalid_policy("redrive", "A redrive policy is a JSON object.",
							REDRIVE_POLICY_HINT);
	if (JB_ROOT_COUNT(policy) == 0)
		return 0;
	it = JsonbIteratorInit(&policy->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY &&
			!(v.val.string.len == 19 &&
			  strncmp(v.val.string.val, "deadLetterTargetArn", 19) == 0))
			sqsn_invalid_policy(
				"redrive",
				psprintf("A subscription's redrive policy has no field "
						 "\"%.*s\".",
						 v.val.string.len, v.val.string.val),
				"Its only field is deadLetterTargetArn.");
	target = getKeyJsonValueFromContainer(&policy->root, "deadLetterTargetArn",
										  19, NULL);
	if (target == NULL || target->type != jbvString)
		sqsn_invalid_policy("redrive", "deadLetterTargetArn must be a string.",
							REDRIVE_POLICY_HINT);
	name = sqsn_jsonb_string(target);
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
	if (!sqsn_catalog_has(SQSN_CATALOG_GRANTS))
		check_may_send(name); /* 0.2 catalog; else the caller checks */
	if (!lock_queue_key(name))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("dead-letter queue \"%s\" does not exist", name),
				 errhint("Create it with sqsn.sq_create_queue().")));
	return sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* A delivery policy of a subscription: NULL for a JSON null, {} or "". */
static Jsonb *
subscription_delivery_policy(Jsonb *policy)
{
	if (policy == NULL || jsonb_clears_policy(policy))
		return NULL;
	if (JB_ROOT_IS_OBJECT(policy) && JB_ROOT_COUNT(policy) == 0)
		return NULL;
	sqsn_validate_delivery_policy(policy, false);
	return policy;
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
	char  *topic_name = sqsn_topic_name_arg(fcinfo, 0);
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
	SubscriptionKind kind;
	bool             push;
	bool             body_scope;
	bool             confirmed = true;
	char            *host = NULL;
	int              nestlevel;
	int64            topic_id;
	int64            dlq_id = 0;
	Datum            values[10];
	char  nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Datum result;
	bool  created = false;
	bool  legacy;

	sqsn_refuse_on_standby(fcinfo);
	kind = check_protocol(protocol);
	push = kind != SUBSCRIBE_QUEUE;
	if (push && sqsn_is_fifo_name(topic_name))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("FIFO topic \"%s\" cannot deliver to %s endpoints",
						topic_name, protocol),
				 errhint("A FIFO topic delivers to FIFO queues only.")));
	if (push && !sqsn_catalog_has(kind == SUBSCRIBE_URL   ? SQSN_CATALOG_PUSH
								  : kind == SUBSCRIBE_SMS ? SQSN_CATALOG_SMS
								  : kind == SUBSCRIBE_APPLICATION
									  ? SQSN_CATALOG_MOBILE
									  : SQSN_CATALOG_FUNCTIONS))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("protocol \"%s\" needs sqsn %s", protocol,
							   kind == SUBSCRIBE_URL ? "0.2" : "0.5"),
						errhint("Run ALTER EXTENSION sqsn UPDATE.")));
	endpoint = sqsn_text_arg(fcinfo, 2, "endpoint");
	if (kind == SUBSCRIBE_URL)
		host = sqsn_validate_endpoint_url(protocol, endpoint);
	else if (kind == SUBSCRIBE_FUNCTION)
		endpoint = function_endpoint(endpoint);
	else if (kind == SUBSCRIBE_EMAIL)
		sqsn_validate_email_address(endpoint);
	else if (kind == SUBSCRIBE_SMS)
		sqsn_validate_phone_number(endpoint);
	else if (kind == SUBSCRIBE_APPLICATION)
	{
		if (!sqsn_is_platform_endpoint_arn(endpoint))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" is not the ARN of a platform endpoint",
							endpoint),
					 errhint("Create one with "
							 "sqsn.sn_create_platform_endpoint().")));
	}
	else
	{
		sqsn_validate_queue_name(endpoint);
		if (delivery_policy != NULL || redrive_policy != NULL)
			ereport(
				ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("delivery and redrive policies apply to http, https "
						"and function subscriptions only"),
				 errdetail("A queue subscription receives its copy in the "
						   "publishing transaction; it is never retried.")));
	}
	body_scope = scope_is_body(scope);
	if (policy != NULL)
		sqsn_validate_filter_policy(policy, body_scope);
	if (!push && !sqsn_catalog_has(SQSN_CATALOG_GRANTS))
		check_may_send(endpoint); /* 0.2 catalog: the roles decide */
	if (push)
		delivery_policy =
			push_delivery_policy(delivery_policy, kind == SUBSCRIBE_FUNCTION);
	else
		delivery_policy = NULL;
	if (kind == SUBSCRIBE_URL)
		confirmed = sqsn_auto_confirm_host(host);
	else if (kind == SUBSCRIBE_EMAIL)
		confirmed = false; /* the mailbox's owner confirms */

	topic_id = sqsn_begin_topic_change(topic_name, &nestlevel);
	sqsn_check_topic(topic_id, topic_name, SQSN_SUBSCRIBE);
	if (kind == SUBSCRIBE_APPLICATION)
	{
		/* the endpoint must exist; stored under its canonical ARN */
		char *platform;
		char *endpoint_id = sqsn_uuid_text(
			UUIDPGetDatum(sqsn_platform_target(endpoint, false, &platform)));

		endpoint = sqsn_platform_endpoint_arn(
			platform,
			SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6),
			endpoint_id);
	}
	if (push)
	{
		dlq_id = redrive_queue_id(redrive_policy);
		/* the subscriber must be allowed to send to its dead-letter queue */
		if (sqsn_catalog_has(SQSN_CATALOG_GRANTS))
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
	values[9] = push && !confirmed ? CStringGetTextDatum(sqsn_random_hex(32))
								   : (Datum) 0;
	nulls[9] = push && !confirmed ? ' ' : 'n';

	if (!push)
	{
		if (!lock_queue_key(endpoint))
			ereport(
				ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("queue \"%s\" does not exist", endpoint),
				 errhint("The endpoint of an sqs subscription is the name of "
						 "a queue created with sqsn.sq_create_queue().")));
		values[1] =
			sqsn_spi_datum(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		nulls[1] = ' ';
		/* the subscriber must be allowed to send to the queue */
		sqsn_check_queue(sqsn_open_queue(endpoint, RowExclusiveLock),
						 SQSN_SEND);
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
	legacy = !sqsn_catalog_has(SQSN_CATALOG_PUSH);

	if (sqsn_execute(legacy ? &legacy_existing_stmt : &existing_stmt, values,
					 nulls, 1) > 0)
	{
		if (!sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2))
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
		sqsn_execute(legacy ? &legacy_insert_stmt : &insert_stmt, values,
					 nulls, 0);
		created = true;
	}

	result = sqsn_spi_datum(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	result = SPI_datumTransfer(result, false, UUID_LEN);
	if (created)
		sqsn_set_caller_owner(&set_owner_stmt, result);
	if (created && push && !confirmed)
		sqsn_outbox_confirmation(result, topic_name);
	sqsn_admin_end(nestlevel);
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
	char *topic_name = sqsn_topic_name_arg(fcinfo, 0);
	char *token = sqsn_text_arg(fcinfo, 1, "token");
	Datum values[2];
	int   nestlevel;
	int64 topic_id;
	Datum result;

	sqsn_refuse_on_standby(fcinfo);
	topic_id = sqsn_begin_topic_change(topic_name, &nestlevel);

	values[0] = Int64GetDatum(topic_id);
	values[1] = CStringGetTextDatum(token);
	if (sqsn_execute(&confirm_stmt, values, NULL, 0) == 0)
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid confirmation token for topic \"%s\"", topic_name),
			 errhint("Use the Token of the SubscriptionConfirmation "
					 "message the endpoint received.")));
	result = sqsn_spi_datum(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	result = SPI_datumTransfer(result, false, UUID_LEN);

	/* confirmation requests still waiting for a retry are moot */
	sqsn_execute(&drop_confirmations_stmt, &result, NULL, 0);
	sqsn_admin_end(nestlevel);
	PG_RETURN_DATUM(result);
}

/* The error for a subscription that does not exist. */
static void
subscription_missing(Datum subscription_id)
{
	ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
					errmsg("subscription %s does not exist",
						   sqsn_uuid_text(subscription_id))));
}

/* The subscription_id argument (the first); NULL is an error. */
static Datum
subscription_id_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("subscription_id must not be NULL")));
	return PG_GETARG_DATUM(0);
}

/*
 * Locks the topic of a subscription exclusively; errors when the
 * subscription does not exist.
 */
static void
lock_subscription(Datum subscription_id)
{
	if (sqsn_execute(&topic_of_stmt, &subscription_id, NULL, 1) == 0)
		subscription_missing(subscription_id);
	sqsn_lock_topic(
		sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
		AccessExclusiveLock);
}

/*
 * The start of every change to one subscription: sqsn_admin_begin
 * (*nestlevel for sqsn_admin_end), the topic
 * catalog and the subscription's topic locked, and the caller's right to
 * change it checked (check_subscription). Errors when the subscription
 * does not exist.
 */
static void
begin_subscription_change(Datum subscription_id, bool queue_admin_too,
						  int *nestlevel)
{
	*nestlevel = sqsn_admin_begin();
	sqsn_lock_topic_catalog();
	lock_subscription(subscription_id);
	check_subscription(subscription_id, queue_admin_too);
}

/*
 * sn_unsubscribe(subscription_id)
 */
Datum
sn_unsubscribe(PG_FUNCTION_ARGS)
{
	Datum id = subscription_id_arg(fcinfo);
	int   nestlevel;

	sqsn_refuse_on_standby(fcinfo);
	begin_subscription_change(id, true, &nestlevel);
	sqsn_execute(&delete_stmt, &id, NULL, 0);
	sqsn_admin_end(nestlevel);
	sqsn_delivery_metrics_forget(DatumGetUUIDP(id));
	PG_RETURN_VOID();
}

/*
 * Pauses or resumes the push deliveries of an HTTP/HTTPS subscription:
 * while paused, its deliveries stay in the outbox (publishes still add
 * to it) and the delivery worker leaves them alone; resumed, they go out
 * in order of their due time. For the subscription's owner and the
 * topic's administrators.
 */
static void
set_paused(FunctionCallInfo fcinfo, bool paused)
{
	Datum id = subscription_id_arg(fcinfo);
	Datum values[2] = {id, BoolGetDatum(paused)};
	int   nestlevel;

	sqsn_refuse_on_standby(fcinfo);
	begin_subscription_change(id, false, &nestlevel);
	if (!sqsn_catalog_has(SQSN_CATALOG_PAUSE))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("pausing subscriptions needs sqsn 0.5"),
						errhint("Run ALTER EXTENSION sqsn UPDATE.")));
	sqsn_execute(&pause_stmt, values, NULL, 0);
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
			   "sqs") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("only HTTP/HTTPS subscriptions can be paused"),
				 errdetail("Subscription %s delivers to a queue, within "
						   "each publish.",
						   sqsn_uuid_text(id))));
	sqsn_admin_end(nestlevel);
	if (!paused)
		sqsn_outbox_wake();
}

/* sn_pause_subscription(subscription_id) */
Datum
sn_pause_subscription(PG_FUNCTION_ARGS)
{
	set_paused(fcinfo, true);
	PG_RETURN_VOID();
}

/* sn_resume_subscription(subscription_id) */
Datum
sn_resume_subscription(PG_FUNCTION_ARGS)
{
	set_paused(fcinfo, false);
	PG_RETURN_VOID();
}

/*
 * sn_list_subscriptions(topic_name): every subscription, or those of one
 * topic, by topic and endpoint.
 */
Datum
sn_list_subscriptions(PG_FUNCTION_ARGS)
{
	char *topic_name = NULL;
	int   nestlevel;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (!PG_ARGISNULL(0))
		topic_name = sqsn_topic_name_arg(fcinfo, 0);

	nestlevel = sqsn_admin_begin();
	if (topic_name != NULL)
		(void) sqsn_find_topic_id(topic_name);
	sqsn_return_rows(
		fcinfo,
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
		topic_name ? CStringGetTextDatum(topic_name) : (Datum) 0,
		topic_name == NULL, "listing subscriptions");
	sqsn_admin_end(nestlevel);
	return (Datum) 0;
}

/* RawMessageDelivery: true/false, or the strings "true"/"false". */
static bool
raw_message_delivery_value(JsonbValue *v)
{
	if (v->type == jbvBool)
		return v->val.boolean;
	if (v->type == jbvString)
	{
		char *s = sqsn_jsonb_string(v);

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
 * RawMessageDelivery, ReplayPolicy (subscriptions of archiving FIFO
 * topics, archive.c; {}, null or "" removes it) and, for HTTP/HTTPS
 * subscriptions, DeliveryPolicy and RedrivePolicy (null or "" removes
 * them). The filter policy is checked against the scope the subscription
 * has afterwards.
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
	Datum              values[6];
	char               nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	bool               isnull;
	char              *scope;
	bool               push;
	bool               function;
	int                nestlevel;
	bool               replay_given = false;
	Jsonb             *replay_policy = NULL;

	sqsn_refuse_on_standby(fcinfo);
	id = subscription_id_arg(fcinfo);
	attributes = sqsn_attributes_arg(fcinfo, 1, "subscription");

	begin_subscription_change(id, false, &nestlevel);

	/* the current settings */
	values[0] = id;
	sqsn_execute(&settings_stmt, values, NULL, 1);
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
	push = sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6);
	function = sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7);

	it = JsonbIteratorInit(&attributes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		bool clear;

		if (tok == WJB_KEY)
		{
			key = sqsn_jsonb_string(&v);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		clear = sqsn_jsonb_is_empty(&v);

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
			scope = sqsn_jsonb_string(&v);
		}
		else if (strcmp(key, "RawMessageDelivery") == 0)
			values[3] = BoolGetDatum(raw_message_delivery_value(&v));
		else if (strcmp(key, "ReplayPolicy") == 0)
		{
			/* an object, or its JSON text; {}, "" or null: none */
			replay_given = true;
			replay_policy =
				clear ? NULL
				: v.type == jbvString
					? sqsn_json_or_null(v.val.string.val, v.val.string.len)
					: JsonbValueToJsonb(&v);
			if (replay_policy == NULL && !clear)
				sqsn_invalid_policy("replay",
									"A ReplayPolicy is a JSON object.", NULL);
			if (replay_policy != NULL && JB_ROOT_IS_OBJECT(replay_policy) &&
				JB_ROOT_COUNT(replay_policy) == 0)
				replay_policy = NULL;
		}
		else if ((strcmp(key, "DeliveryPolicy") == 0 ||
				  strcmp(key, "RedrivePolicy") == 0) &&
				 !push)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("%s applies to http, https and function "
								   "subscriptions only",
								   key)));
		else if (strcmp(key, "DeliveryPolicy") == 0)
		{
			Jsonb *dp =
				clear ? NULL
					  : push_delivery_policy(JsonbValueToJsonb(&v), function);

			values[4] = dp ? JsonbPGetDatum(dp) : (Datum) 0;
			nulls[4] = dp ? ' ' : 'n';
		}
		else if (strcmp(key, "RedrivePolicy") == 0)
		{
			int64 dlq = clear ? 0 : redrive_queue_id(JsonbValueToJsonb(&v));

			/* the caller must be allowed to send to the new one */
			if (sqsn_catalog_has(SQSN_CATALOG_GRANTS))
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
							 "DeliveryPolicy, RedrivePolicy and "
							 "ReplayPolicy.")));
	}

	if (nulls[1] == ' ')
		sqsn_validate_filter_policy(DatumGetJsonbP(values[1]),
									scope_is_body(scope));
	else
		(void) scope_is_body(scope);
	values[2] = CStringGetTextDatum(scope);

	sqsn_execute(push ? &update_push_stmt : &update_queue_stmt, values, nulls,
				 0);
	if (replay_given)
		sqsn_set_replay_policy(id, replay_policy);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sn_get_subscription_attributes(subscription_id): the subscription's
 * attributes as a JSON object with the managed service's names:
 * SubscriptionArn, TopicArn, Owner (the owning role), Protocol, Endpoint
 * (the queue's name for protocol sqs, else the URL), PendingConfirmation,
 * ConfirmationWasAuthenticated, RawMessageDelivery, FilterPolicy and
 * FilterPolicyScope (when a filter policy is set), and for HTTP/HTTPS
 * subscriptions DeliveryPolicy (when set), EffectiveDeliveryPolicy and
 * RedrivePolicy ({"deadLetterTargetArn": <queue name>}, when set), and
 * ReplayPolicy and ReplayStatus for a subscription with a replay. Readable
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
	bool           confirmed;
	bool           push;
	bool           function;
	char          *topic_name;
	char          *topic_arn;
	char          *dlq;
	Jsonb         *filter_policy;
	Jsonb         *delivery_policy;
	Jsonb         *topic_policy;
	StringInfoData buf;
	Datum          result;

	id = subscription_id_arg(fcinfo);
	nestlevel = sqsn_admin_begin();
	if (sqsn_execute(&attributes_stmt, &id, NULL, 1) == 0)
		subscription_missing(id);
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	spicxt = MemoryContextSwitchTo(outer);
	topic_name = SPI_getvalue(tuple, desc, 1);
	topic_arn = sqsn_topic_arn(topic_name);
	confirmed = sqsn_spi_bool(tuple, desc, 5);
	push = strcmp(SPI_getvalue(tuple, desc, 3), "sqs") != 0;
	function = strcmp(SPI_getvalue(tuple, desc, 3), "function") == 0 ||
			   strcmp(SPI_getvalue(tuple, desc, 3), "lambda") == 0;
	filter_policy = sqsn_spi_jsonb(tuple, desc, 7);
	delivery_policy = sqsn_spi_jsonb(tuple, desc, 9);
	topic_policy = sqsn_spi_jsonb(tuple, desc, 10);
	dlq = SPI_getvalue(tuple, desc, 11);

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	sqsn_json_string(&buf, "SubscriptionArn",
					 sqsn_subscription_arn(topic_name, sqsn_uuid_text(id)));
	sqsn_json_string(&buf, "TopicArn", topic_arn);
	sqsn_json_string(&buf, "Owner", SPI_getvalue(tuple, desc, 2));
	sqsn_json_string(&buf, "Protocol", SPI_getvalue(tuple, desc, 3));
	sqsn_json_string(&buf, "Endpoint", SPI_getvalue(tuple, desc, 4));
	sqsn_json_bool(&buf, "PendingConfirmation", !confirmed);
	sqsn_json_bool(&buf, "ConfirmationWasAuthenticated", confirmed);
	sqsn_json_bool(&buf, "RawMessageDelivery", sqsn_spi_bool(tuple, desc, 6));
	if (filter_policy)
	{
		sqsn_json_jsonb(&buf, "FilterPolicy", filter_policy);
		sqsn_json_string(&buf, "FilterPolicyScope",
						 SPI_getvalue(tuple, desc, 8));
	}
	if (push)
	{
		if (delivery_policy)
			sqsn_json_jsonb(&buf, "DeliveryPolicy", delivery_policy);
		sqsn_json_jsonb(&buf, "EffectiveDeliveryPolicy",
						function ? sqsn_function_policy_json(delivery_policy)
								 : sqsn_effective_delivery_policy_json(
									   delivery_policy, topic_policy, false));
		if (dlq)
		{
			sqsn_json_key(&buf, "RedrivePolicy");
			appendStringInfoChar(&buf, '{');
			sqsn_json_string(&buf, "deadLetterTargetArn", dlq);
			appendStringInfoChar(&buf, '}');
		}
	}
	sqsn_replay_attributes(&buf, id);
	appendStringInfoChar(&buf, '}');
	result = JsonbPGetDatum(sqsn_json_to_jsonb(&buf));
	MemoryContextSwitchTo(spicxt);

	/* after the read: the subscription exists, so this checks */
	check_subscription(id, true);
	sqsn_admin_end(nestlevel);
	PG_RETURN_DATUM(result);
}
