/*-------------------------------------------------------------------------
 *
 * outbox.c
 *	  The push outbox sqsn.delivery: what a publish or a subscribe writes
 *	  into it, in the caller's transaction, and the wake-up of the delivery
 *	  worker (or, for function subscriptions, of the function launcher)
 *	  when such a transaction commits; the copy of an undeliverable
 *	  notification into a dead-letter queue. Also the checks of the
 *	  endpoints a subscribe makes: HTTP/HTTPS URLs, and the functions of
 *	  function subscriptions and event source mappings.
 *
 * A publish inserts one row per confirmed HTTP/HTTPS subscription whose
 * filter policy matches (topic/publish.c); a subscribe inserts one
 * SubscriptionConfirmation row; an SMS published to a phone number
 * (sn_publish_sms) one row without a subscription, the number on it. The rows are the truth: the worker
 * (push_worker.c) POSTs every row that is due, whatever woke it.
 *
 * Wake-up: NOTIFY would serialise every committing transaction that
 * notified on one lock (STYLE.md, "Waking up"), and a libpq connection
 * from the worker would need credentials for the local server. Instead,
 * like pg_net, a transaction that inserted deliveries bumps a shared
 * counter at commit and, only when the worker has said it is idle (an
 * atomic flag the first committer claims), sets the worker's latch: a
 * rolled-back publish rings nothing, a burst of publishes rings once, and
 * a busy worker sees the counter move and claims again. The worker also
 * looks every sqsn.poll_interval as a safety net, and at the next due
 * retry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "push/push.h"

#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

typedef struct OutboxShared
{
	pg_atomic_uint32 idle;        /* 1: the worker sleeps and wants a ring */
	pg_atomic_uint64 publish_seq; /* bumped by every committing publish */
	Latch           *latch;       /* the worker's latch, or NULL */
	/* the same bell for deliveries to function subscriptions (function/) */
	pg_atomic_uint64 function_seq;
	Latch           *function_latch; /* the function launcher's, or NULL */
} OutboxShared;

/* Statements on the outbox, run by sqsn_execute */

static SqsnStatement confirmation_stmt = {
	"INSERT INTO sqsn.delivery (subscription_id, message_type,"
	" message_id, topic_arn, message, published_at, next_attempt_at)"
	" VALUES ($1, 'SubscriptionConfirmation', $2, $3, $4, $5, $5)",
	5,
	{UUIDOID, UUIDOID, TEXTOID, TEXTOID, TIMESTAMPTZOID},
	SPI_OK_INSERT,
	"inserting into sqsn.delivery"};

/* a notification for the subscription or endpoint in column target */
#define NOTIFICATION_STATEMENT(target)                                        \
	{                                                                         \
		"INSERT INTO sqsn.delivery (" target ", message_type,"                \
		" message_id, topic_arn, subject, message, message_attributes,"       \
		" published_at, next_attempt_at)"                                     \
		" VALUES ($1, 'Notification', $2, $3, $4, $5, $6, $7, $7)",           \
			7, {UUIDOID, UUIDOID,  TEXTOID,       TEXTOID,                    \
				TEXTOID, JSONBOID, TIMESTAMPTZOID},                           \
			SPI_OK_INSERT, "inserting into sqsn.delivery"                     \
	}

static SqsnStatement notification_stmt =
	NOTIFICATION_STATEMENT("subscription_id");

/* A publish straight to a platform endpoint: the row names the endpoint. */
static SqsnStatement endpoint_notification_stmt =
	NOTIFICATION_STATEMENT("endpoint_id");

/*
 * The same for a function subscription (protocol function or lambda): the
 * row is for the function workers (function/), not the delivery worker.
 */
static SqsnStatement function_notification_stmt = {
	"INSERT INTO sqsn.delivery (subscription_id, message_type,"
	" message_id, topic_arn, subject, message, message_attributes,"
	" published_at, next_attempt_at, worker)"
	" VALUES ($1, 'Notification', $2, $3, $4, $5, $6, $7, $7, 'function')",
	7,
	{UUIDOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, TIMESTAMPTZOID},
	SPI_OK_INSERT,
	"inserting into sqsn.delivery"};

/*
 * An SMS published straight to a phone number (sn_publish_sms): no
 * subscription and no topic, the number on the row.
 */
static SqsnStatement sms_stmt = {
	"INSERT INTO sqsn.delivery (phone_number, message_type, message_id,"
	" message, message_attributes, published_at, next_attempt_at)"
	" VALUES ($1, 'Notification', $2, $3, $4, $5, $5)",
	5,
	{TEXTOID, UUIDOID, TEXTOID, JSONBOID, TIMESTAMPTZOID},
	SPI_OK_INSERT,
	"inserting into sqsn.delivery"};

static char         *http_auto_confirm_hosts = NULL;
static OutboxShared *outbox_shared = NULL;

/* this backend's transaction inserted deliveries, for HTTP or functions */
static bool inserted_deliveries = false;
static bool inserted_function_deliveries = false;

static void outbox_shmem_init(void *ptr);
static void outbox_xact_callback(XactEvent event, void *arg);

/*
 * The setting, the shared state and the commit callback; called from
 * PushInit.
 */
void
OutboxInit(void)
{
	DefineCustomStringVariable("sqsn.http_auto_confirm_hosts",
							   "Hosts whose HTTP/HTTPS subscriptions are "
							   "confirmed without a confirmation request.",
							   NULL, &http_auto_confirm_hosts, "", PGC_SUSET,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	RegisterXactCallback(outbox_xact_callback, NULL);
	if (!IsBinaryUpgrade)
		sqsn_shmem_add("sqsn delivery", sizeof(OutboxShared), 0, NULL,
					   outbox_shmem_init, (void **) &outbox_shared);
}

static void
outbox_shmem_init(void *ptr)
{
	OutboxShared *shared = (OutboxShared *) ptr;

	pg_atomic_init_u32(&shared->idle, 0);
	pg_atomic_init_u64(&shared->publish_seq, 0);
	shared->latch = NULL;
	pg_atomic_init_u64(&shared->function_seq, 0);
	shared->function_latch = NULL;
}

/*
 * At commit, after the rows became visible: bump the counter, and ring the
 * worker when it sleeps (only the first committer that finds it idle).
 */
static void
outbox_xact_callback(XactEvent event, void *arg)
{
	if (!inserted_deliveries && !inserted_function_deliveries)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		bool http = inserted_deliveries;
		bool function = inserted_function_deliveries;

		inserted_deliveries = inserted_function_deliveries = false;
		if (outbox_shared == NULL)
			return;
		if (http)
		{
			pg_atomic_fetch_add_u64(&outbox_shared->publish_seq, 1);
			if (pg_atomic_read_u32(&outbox_shared->idle) == 1 &&
				pg_atomic_exchange_u32(&outbox_shared->idle, 0) == 1)
			{
				Latch *latch = outbox_shared->latch;

				if (latch)
					SetLatch(latch);
			}
		}
		if (function)
		{
			Latch *latch = outbox_shared->function_latch;

			/* the launcher rarely sleeps through many of these */
			pg_atomic_fetch_add_u64(&outbox_shared->function_seq, 1);
			if (latch)
				SetLatch(latch);
		}
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		inserted_deliveries = inserted_function_deliveries = false;
}

/*
 * Rings the delivery worker when this transaction commits (deliveries
 * became due without a new row: a subscription resumed).
 */
void
sqsn_outbox_wake(void)
{
	inserted_deliveries = true;
}

/*
 * The delivery worker's side of the bell: its latch (NULL when it exits),
 * whether it sleeps, and the counter it compares before sleeping.
 */
bool
sqsn_outbox_attach(Latch *latch)
{
	if (outbox_shared == NULL)
		return false;
	outbox_shared->latch = latch;
	return true;
}

void
sqsn_outbox_set_idle(bool idle)
{
	if (idle)
		pg_atomic_exchange_u32(&outbox_shared->idle, 1);
	else
		pg_atomic_write_u32(&outbox_shared->idle, 0);
}

uint64
sqsn_outbox_publish_seq(void)
{
	return pg_atomic_read_u64(&outbox_shared->publish_seq);
}

/*
 * The function launcher's side of the bell of function subscriptions'
 * deliveries: its latch (NULL when it exits), and the counter every
 * committing publish to one bumps. False without the preload.
 */
bool
sqsn_outbox_attach_functions(Latch *latch)
{
	if (outbox_shared == NULL)
		return false;
	outbox_shared->function_latch = latch;
	return true;
}

uint64
sqsn_outbox_function_seq(void)
{
	return outbox_shared ? pg_atomic_read_u64(&outbox_shared->function_seq)
						 : 0;
}

/*
 * Puts a SubscriptionConfirmation request for a new HTTP/HTTPS
 * subscription into the outbox.
 */
void
sqsn_outbox_confirmation(Datum subscription_id, const char *topic_name)
{
	Datum values[5];
	char *arn = sqsn_topic_arn(topic_name);

	values[0] = subscription_id;
	values[1] = UUIDPGetDatum(sqsn_new_uuid());
	values[2] = CStringGetTextDatum(arn);
	values[3] = CStringGetTextDatum(psprintf("You have chosen to subscribe to "
											 "the topic %s.\nTo confirm the "
											 "subscription, visit the "
											 "SubscribeURL included in this "
											 "message.",
											 arn));
	values[4] = TimestampTzGetDatum(GetCurrentTimestamp());
	sqsn_execute(&confirmation_stmt, values, NULL, 0);
	inserted_deliveries = true;
}

/*
 * The message column of an outbox row sealed for the subscription (NULL:
 * none, an SMS to a phone number) with its attributes and subject, and the
 * attributes column the marker of a sealed row.
 */
static void
seal_row(Datum *message_value, Datum *attributes_value, char *attributes_null,
		 const pg_uuid_t *subscription, pg_uuid_t *message_id, text *message,
		 Jsonb *attributes, const char *subject)
{
	*message_value = PointerGetDatum(sqsn_seal(
		'd', 0, subscription, message_id, message, attributes, subject));
	*attributes_value = JsonbPGetDatum(sqsn_sealed_marker());
	*attributes_null = ' ';
}

/*
 * The parameters of notification_stmt and its kin: the subscription's (or
 * endpoint's) id, message id, topic (or endpoint) ARN, subject, message,
 * attributes, publish time.
 */
static void
notification_values(Datum *values, char *nulls, Datum target,
					pg_uuid_t *message_id, const char *arn,
					const char *subject, text *message, Jsonb *attributes,
					TimestampTz published_at)
{
	memset(nulls, ' ', 7);
	values[0] = target;
	values[1] = UUIDPGetDatum(message_id);
	values[2] = CStringGetTextDatum(arn);
	values[3] = subject ? CStringGetTextDatum(subject) : (Datum) 0;
	nulls[3] = subject ? ' ' : 'n';
	values[4] = PointerGetDatum(message);
	values[5] = attributes ? JsonbPGetDatum(attributes) : (Datum) 0;
	nulls[5] = attributes ? ' ' : 'n';
	values[6] = TimestampTzGetDatum(published_at);
}

/*
 * Puts one notification for an HTTP/HTTPS subscription, or with function
 * for a function subscription, into the outbox. The envelope is built (and
 * signed) by the worker from these fields. An encrypted topic's row is
 * sealed for the subscription; the worker opens it just before the POST
 * or the invocation.
 */
void
sqsn_outbox_notification(Datum subscription_id, pg_uuid_t *message_id,
						 const char *topic_arn, const char *subject,
						 text *message, Jsonb *attributes,
						 TimestampTz published_at, bool encrypted,
						 bool function)
{
	Datum values[7];
	char  nulls[7];

	notification_values(values, nulls, subscription_id, message_id, topic_arn,
						subject, message, attributes, published_at);
	if (encrypted)
	{
		seal_row(&values[4], &values[5], &nulls[5],
				 DatumGetUUIDP(subscription_id), message_id, message,
				 attributes, subject);
		values[3] = (Datum) 0;
		nulls[3] = 'n';
	}
	if (function)
	{
		sqsn_execute(&function_notification_stmt, values, nulls, 0);
		inserted_function_deliveries = true;
	}
	else
	{
		sqsn_execute(&notification_stmt, values, nulls, 0);
		inserted_deliveries = true;
	}
}

/*
 * Puts an SMS to a phone number, published without a topic, into the
 * outbox. With encrypted the message and its attributes are sealed (for
 * no subscription: the message id alone binds them); the worker opens
 * them just before the POST. The number stays readable: the worker checks
 * it against the opt-out list.
 */
void
sqsn_outbox_sms(const char *phone_number, pg_uuid_t *message_id, text *message,
				Jsonb *attributes, TimestampTz published_at, bool encrypted)
{
	Datum values[5];
	char  nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(phone_number);
	values[1] = UUIDPGetDatum(message_id);
	values[2] = PointerGetDatum(message);
	values[3] = attributes ? JsonbPGetDatum(attributes) : (Datum) 0;
	nulls[3] = attributes ? ' ' : 'n';
	values[4] = TimestampTzGetDatum(published_at);
	if (encrypted)
		seal_row(&values[2], &values[3], &nulls[3], NULL, message_id, message,
				 attributes, NULL);
	sqsn_execute(&sms_stmt, values, nulls, 0);
	inserted_deliveries = true;
}

/*
 * Puts one notification published straight to a platform endpoint
 * (TargetArn) into the outbox: the row names the endpoint, not a
 * subscription; message is the platform's payload (platform.c).
 */
void
sqsn_outbox_endpoint_notification(pg_uuid_t  *endpoint_id,
								  pg_uuid_t  *message_id,
								  const char *endpoint_arn,
								  const char *subject, text *message,
								  Jsonb *attributes, TimestampTz published_at)
{
	Datum values[7];
	char  nulls[7];

	notification_values(values, nulls, UUIDPGetDatum(endpoint_id), message_id,
						endpoint_arn, subject, message, attributes,
						published_at);
	sqsn_execute(&endpoint_notification_stmt, values, nulls, 0);
	inserted_deliveries = true;
}

/* The simple-form attributes of a dead-lettered copy, as jsonb. */
static Jsonb *
dead_letter_attributes(const SqsnDeadLetter *dl)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	sqsn_json_string(&buf, "ErrorCode", dl->error_code);
	sqsn_json_string(&buf, "ErrorMessage",
					 dl->error_message ? dl->error_message : "");
	sqsn_json_string(&buf, "TopicArn", dl->topic_arn);
	sqsn_json_string(&buf, "SubscriptionArn", dl->subscription_arn);
	sqsn_json_string(&buf, "MessageId",
					 sqsn_uuid_text(UUIDPGetDatum(dl->message_id)));
	sqsn_json_key(&buf, "AttemptCount");
	appendStringInfoChar(&buf, '{');
	sqsn_json_string(&buf, "DataType", "Number");
	sqsn_json_string(&buf, "StringValue", psprintf("%d", dl->attempts));
	appendStringInfoChar(&buf, '}');
	appendStringInfoChar(&buf, '}');
	return sqsn_json_to_jsonb(&buf);
}

/* sqsn_subxact_try step: the copy into the dead-letter queue. */
static void
dead_letter_step(void *arg)
{
	const SqsnDeadLetter *dl = (const SqsnDeadLetter *) arg;
	OutgoingMessage       msg;
	int64                 size;
	SqsnQueue            *dlq;

	memset(&msg, 0, sizeof(msg));
	msg.message_id = dl->message_id;
	msg.body = PointerGetDatum(cstring_to_text(dl->body));
	msg.attributes =
		sqsn_normalize_attributes(dead_letter_attributes(dl), &size);
	dlq = sqsn_open_queue(dl->queue, RowExclusiveLock);

	/* only while the subscription's owner may still send there */
	if (!sqsn_queue_allows_role(dlq, dl->owner, SQSN_SEND))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the subscription's owner \"%s\" may not send to it",
						dl->owner ? dl->owner : "")));
	sqsn_send_messages(dlq, &msg, 1);
}

/*
 * Puts a copy of a notification that could not be delivered into its
 * subscription's dead-letter queue, in a subtransaction, with attributes
 * saying why (ErrorCode, ErrorMessage, TopicArn, SubscriptionArn,
 * MessageId, AttemptCount). True when it is there; else false, with why
 * in *error. Used by the delivery worker and the function workers.
 */
bool
sqsn_outbox_dead_letter(const SqsnDeadLetter *dl, char **error)
{
	ErrorData *edata;

	if (sqsn_subxact_try(dead_letter_step, (void *) dl, &edata))
		return true;
	*error =
		psprintf("dead-letter queue \"%s\": %s", dl->queue, edata->message);
	FreeErrorData(edata);
	return false;
}

/*
 * The host of a URL ([::1] written as ::1), or NULL when it has none.
 */
char *
sqsn_url_host(const char *url)
{
	CURLU *u = curl_url();
	char  *host = NULL;
	char  *result = NULL;

	if (u == NULL)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
	{
		size_t len = strlen(host);

		if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
			result = pnstrdup(host + 1, len - 2);
		else
			result = pstrdup(host);
		curl_free(host);
	}
	curl_url_cleanup(u);
	return result;
}

/*
 * The host of an http:// or https:// URL (the scheme must be the
 * protocol), or an error. Used by sn_subscribe.
 */
char *
sqsn_validate_endpoint_url(const char *protocol, const char *url)
{
	char *prefix = psprintf("%s://", protocol);
	char *host;

	if (pg_strncasecmp(url, prefix, strlen(prefix)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("endpoint of an %s subscription must be an %s URL",
						protocol, prefix),
				 errhint("Write %shost[:port]/path.", prefix)));
	if (strlen(url) > 2048)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("endpoint URL is longer than 2048 bytes")));
	for (const char *p = url; *p; p++)
		if ((unsigned char) *p <= 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("endpoint URL must not contain spaces or control "
							"characters")));
	host = sqsn_url_host(url);
	if (host == NULL || host[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("invalid endpoint URL \"%s\"", url)));
	return host;
}

/*
 * The function of a function subscription or an event source mapping,
 * written as regprocedure reads it: "schema.name(jsonb)". Errors when
 * there is no such function (42883). sn_subscribe runs with search_path
 * pinned to pg_catalog, so the name must be qualified with its schema.
 */
Oid
sqsn_consumer_function_oid(const char *signature)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid           fnoid = InvalidOid;

	PG_TRY();
	{
		fnoid = DatumGetObjectId(
			DirectFunctionCall1(regprocedurein, CStringGetDatum(signature)));
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(edata->sqlerrcode == ERRCODE_UNDEFINED_FUNCTION
							 ? ERRCODE_UNDEFINED_FUNCTION
							 : ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", edata->message),
				 errhint("Name the function with its schema and argument "
						 "type, as in myschema.handler(jsonb).")));
	}
	PG_END_TRY();
	return fnoid;
}

/*
 * Checks that a function can consume messages: a function (not a procedure
 * or an aggregate) of one jsonb argument returning one value (not a set);
 * with jsonb_result it must return jsonb. Returns its qualified name,
 * "schema.name(jsonb)", the form the catalogs keep.
 */
char *
sqsn_check_consumer_function(Oid fnoid, bool jsonb_result)
{
	HeapTuple    tuple = SearchSysCache1(PROCOID, ObjectIdGetDatum(fnoid));
	Form_pg_proc proc;
	char        *name;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
						errmsg("function with OID %u does not exist", fnoid)));
	proc = (Form_pg_proc) GETSTRUCT(tuple);
	name = format_procedure(fnoid); /* for errors */
	if (proc->prokind != PROKIND_FUNCTION || proc->proretset)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s cannot consume messages", name),
				 errdetail("%s", proc->prokind != PROKIND_FUNCTION
									 ? "It is not a plain function (a "
									   "procedure, an aggregate or a window "
									   "function)."
									 : "It returns a set."),
				 errhint("Use a function that takes one jsonb argument.")));
	if (proc->pronargs != 1 || proc->proargtypes.values[0] != JSONBOID)
		ereport(ERROR, (errcode(ERRCODE_DATATYPE_MISMATCH),
						errmsg("%s cannot consume messages", name),
						errdetail("It must take exactly one argument, of type "
								  "jsonb (the event)."),
						errhint("Declare it as handler(event jsonb).")));
	if (jsonb_result && proc->prorettype != JSONBOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s cannot report batch item failures", name),
				 errdetail("It returns %s; reporting item failures needs a "
						   "function that returns jsonb.",
						   format_type_be(proc->prorettype)),
				 errhint("Return {\"batchItemFailures\": "
						 "[{\"itemIdentifier\": \"<messageId>\"}]}.")));
	name = psprintf("%s(jsonb)", quote_qualified_identifier(
									 get_namespace_name(proc->pronamespace),
									 NameStr(proc->proname)));
	ReleaseSysCache(tuple);
	return name;
}

/* Whether subscriptions to this host are confirmed at once. */
bool
sqsn_auto_confirm_host(const char *host)
{
	return sqsn_host_pattern_matches(http_auto_confirm_hosts, host);
}
