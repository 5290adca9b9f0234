/*-------------------------------------------------------------------------
 *
 * delivery.c
 *	  Function subscriptions: invoking a topic's subscribed SQL function for
 *	  each message, through the push outbox.
 *
 * A publish to a topic with a function subscription (protocol function or
 * lambda) writes one row into the push outbox sqsn.delivery, marked for the
 * function workers (worker 'function'; topic/publish.c, push/outbox.c), and
 * rings the function launcher when it commits. A function worker then
 * takes due rows one at a time, each in one transaction:
 *
 *	 1. lock the row (FOR UPDATE SKIP LOCKED: concurrent workers take
 *		different rows) and count the attempt;
 *	 2. invoke the function as the subscription's owner, with the
 *		notification event of the managed service, {"Records":
 *		[{"EventSource": "aws:sns", "EventVersion", "EventSubscriptionArn",
 *		"Sns": {"Type", "MessageId", "TopicArn", "Subject", "Message",
 *		"Timestamp", "UnsubscribeUrl", "MessageAttributes"}}]} (with raw
 *		message delivery: the message itself, as JSON when it is JSON, else
 *		as a JSON string), in a subtransaction (invoke.c);
 *	 3. record the outcome: delivered; or pending until the next retry; or,
 *		when the retries are used up or the event is too old, copied into
 *		the subscription's dead-letter queue (else failed); an attempt row
 *		in sqsn.delivery_attempt and the subscription's counters.
 *
 * So a successful invocation commits its effects with the row marked
 * delivered, exactly once for the database; a failed one rolls its effects
 * back. A crash loses the whole transaction, and the row is due again.
 *
 * Retries follow the managed service's asynchronous invocation: up to
 * MaximumRetryAttempts (0..2, default 2) retries, the first
 * sqsn.function_retry_delay after the failure (60 s) and the next twice
 * that, and none once the event is older than MaximumEventAgeInSeconds
 * (default 6 hours); the subscription's delivery policy sets both
 * (push/delivery_policy.c), and TimeoutSeconds (default 30) bounds each
 * invocation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "function/function.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

/* Statements on the outbox, run by sqsn_execute */

static SqsnStatement claim_stmt = {
	"SELECT d.delivery_id, d.subscription_id, d.message_id, d.topic_arn,"
	" d.subject, d.message, d.message_attributes, d.published_at,"
	" d.attempts OPERATOR(pg_catalog.+) 1, s.endpoint,"
	" s.raw_message_delivery, s.delivery_policy, q.queue_name,"
	" s.owner::pg_catalog.text"
	" FROM sqsn.delivery d"
	" JOIN sqsn.subscription s"
	"  ON s.subscription_id OPERATOR(pg_catalog.=) d.subscription_id"
	" LEFT JOIN sqsn.queue q"
	"  ON q.queue_id OPERATOR(pg_catalog.=) s.dead_letter_queue_id"
	" WHERE d.delivery_id OPERATOR(pg_catalog.=) ("
	"  SELECT c.delivery_id FROM sqsn.delivery c"
	"  WHERE c.status OPERATOR(pg_catalog.=) 'pending'"
	"   AND c.worker OPERATOR(pg_catalog.=) 'function'"
	"   AND c.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	"  ORDER BY c.next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED)",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"claiming a function delivery"};

static SqsnStatement next_due_stmt = {
	"SELECT c.next_attempt_at FROM sqsn.delivery c"
	" WHERE c.status OPERATOR(pg_catalog.=) 'pending'"
	"  AND c.worker OPERATOR(pg_catalog.=) 'function'"
	" ORDER BY c.next_attempt_at LIMIT 1",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"reading sqsn.delivery",
	true};

/*
 * The outcome of an attempt ($5 false: a row put off without an attempt,
 * whose message could not be opened).
 */
static SqsnStatement outcome_stmt = {
	"UPDATE sqsn.delivery SET status = $2,"
	" next_attempt_at = COALESCE($3, next_attempt_at),"
	" attempts = attempts OPERATOR(pg_catalog.+) $5::pg_catalog.int4,"
	" finished_at = CASE WHEN $2 OPERATOR(pg_catalog.=) 'pending' THEN NULL"
	"  ELSE pg_catalog.now() END,"
	" last_result = $4"
	" WHERE delivery_id OPERATOR(pg_catalog.=) $1",
	5,
	{INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, BOOLOID},
	SPI_OK_UPDATE,
	"recording a function delivery"};

static SqsnStatement attempt_stmt = {
	"INSERT INTO sqsn.delivery_attempt (delivery_id, attempt,"
	" subscription_id, message_id, attempted_at, error, latency_ms,"
	" next_attempt_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
	8,
	{INT8OID, INT4OID, UUIDOID, UUIDOID, TIMESTAMPTZOID, TEXTOID, FLOAT8OID,
	 TIMESTAMPTZOID},
	SPI_OK_INSERT,
	"recording a function invocation"};

static SqsnStatement finished_stmt = {
	"INSERT INTO sqsn.subscription_counter AS c"
	" (subscription_id, delivered, failed, dead_lettered)"
	" VALUES ($1, ($2 OPERATOR(pg_catalog.=) 'delivered')::pg_catalog.int4,"
	"  ($2 OPERATOR(pg_catalog.=) 'failed')::pg_catalog.int4,"
	"  ($2 OPERATOR(pg_catalog.=) 'dead_lettered')::pg_catalog.int4)"
	" ON CONFLICT (subscription_id) DO UPDATE"
	" SET delivered = c.delivered OPERATOR(pg_catalog.+) excluded.delivered,"
	"  failed = c.failed OPERATOR(pg_catalog.+) excluded.failed,"
	"  dead_lettered = c.dead_lettered"
	"   OPERATOR(pg_catalog.+) excluded.dead_lettered",
	2,
	{UUIDOID, TEXTOID},
	SPI_OK_INSERT,
	"counting function deliveries"};

/* One claimed row of the outbox and what became of it. */
typedef struct Delivery
{
	int64       delivery_id;
	Datum       subscription_id; /* uuid */
	pg_uuid_t  *message_id;
	char       *message_id_text;
	char       *topic_arn;
	char       *subscription_arn;
	char       *subject;
	char       *message;
	Jsonb      *attributes;
	TimestampTz published_at;
	int         attempt; /* this attempt's number, from 1 */
	char       *function_name;
	bool        raw;
	Jsonb      *policy;
	char       *dead_letter_queue; /* or NULL */
	char       *owner;
	char       *body; /* what the function gets, as JSON text */
} Delivery;

/* Reads the claimed row; false when its message cannot be opened. */
static bool
read_delivery(Delivery *d, HeapTuple row, TupleDesc desc)
{
	bool  isnull;
	Datum message;

	d->delivery_id = sqsn_spi_int64(row, desc, 1);
	d->subscription_id = SPI_getbinval(row, desc, 2, &isnull);
	d->message_id = DatumGetUUIDP(SPI_getbinval(row, desc, 3, &isnull));
	d->message_id_text = SPI_getvalue(row, desc, 3);
	d->topic_arn = SPI_getvalue(row, desc, 4);
	d->subscription_arn =
		psprintf("%s:%s", d->topic_arn, SPI_getvalue(row, desc, 2));
	d->subject = SPI_getvalue(row, desc, 5);
	message = SPI_getbinval(row, desc, 6, &isnull);
	d->attributes = sqsn_spi_jsonb(row, desc, 7);
	d->published_at = sqsn_spi_timestamptz(row, desc, 8);
	d->attempt = sqsn_spi_int32(row, desc, 9);
	d->function_name = SPI_getvalue(row, desc, 10);
	d->raw = sqsn_spi_bool(row, desc, 11);
	d->policy = sqsn_spi_jsonb(row, desc, 12);
	d->dead_letter_queue = SPI_getvalue(row, desc, 13);
	d->owner = SPI_getvalue(row, desc, 14);

	if (sqsn_is_sealed(d->attributes))
	{
		/* an encrypted topic's row, opened just before the invocation */
		text *plain;
		int   sqlstate;
		char *error;

		if (!sqsn_open('d', 0, DatumGetUUIDP(d->subscription_id),
					   d->message_id, DatumGetTextPP(message), &plain,
					   &d->attributes, &d->subject, &sqlstate, &error))
		{
			ereport(WARNING,
					(errcode(sqlstate),
					 errmsg("cannot decrypt function delivery " INT64_FORMAT
							" of message %s",
							d->delivery_id, d->message_id_text),
					 errdetail("%s.", error),
					 errhint("The delivery is put off; configure the master "
							 "key it was encrypted with.")));
			return false;
		}
		message = PointerGetDatum(plain);
	}
	d->message = TextDatumGetCString(message);
	return true;
}

/*
 * The notification envelope as JSON text (what a dead-letter queue keeps),
 * or with raw delivery the message itself; and the function's argument.
 */
static Jsonb *
build_event(Delivery *d)
{
	SqsnEnvelope   env;
	StringInfoData buf;
	Jsonb         *json;

	if (d->raw)
	{
		d->body = d->message;
		json = sqsn_json_or_null(d->message, strlen(d->message));
		if (json != NULL)
			return json;
		initStringInfo(&buf);
		escape_json(&buf, d->message);
		return sqsn_json_to_jsonb(&buf);
	}

	memset(&env, 0, sizeof(env));
	env.type = "Notification";
	env.message_id = d->message_id_text;
	env.topic_arn = d->topic_arn;
	env.subject = d->subject;
	env.message = d->message;
	env.timestamp = sqsn_iso_timestamp(d->published_at);
	env.unsubscribe_url = sqsn_envelope_link("Unsubscribe", "SubscriptionArn",
											 d->subscription_arn, NULL);
	env.attributes = d->attributes;
	d->body = sqsn_envelope_json(&env);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"Records\":[{");
	sqsn_json_string(&buf, "EventSource", "aws:sns");
	sqsn_json_string(&buf, "EventVersion", "1.0");
	sqsn_json_string(&buf, "EventSubscriptionArn", d->subscription_arn);
	sqsn_json_raw(&buf, "Sns", d->body);
	appendStringInfoString(&buf, "}]}");
	return sqsn_json_to_jsonb(&buf);
}

/*
 * Invokes the function of a claimed row (invoke.c); fills in inv. A
 * function that no longer exists or that the owner may not execute is a
 * failed invocation, retried like any other.
 */
static void
invoke_delivery(Delivery *d, const SqsnFunctionPolicy *policy,
				SqsnInvocation *inv)
{
	Oid owner = d->owner ? get_role_oid(d->owner, true) : InvalidOid;

	memset(inv, 0, sizeof(SqsnInvocation));
	inv->started = GetCurrentTimestamp();
	inv->outcome = SQSN_FAILED;
	if (!OidIsValid(owner))
	{
		inv->error = psprintf("the subscription's owner \"%s\" does not exist",
							  d->owner ? d->owner : "");
		return;
	}
	inv->function = sqsn_function_lookup(d->function_name);
	if (!OidIsValid(inv->function))
	{
		inv->error = psprintf("function %s does not exist", d->function_name);
		return;
	}
	if (object_aclcheck(ProcedureRelationId, inv->function, owner,
						ACL_EXECUTE) != ACLCHECK_OK)
	{
		inv->error = psprintf("role \"%s\" may not execute function %s",
							  d->owner, d->function_name);
		return;
	}
	inv->role = owner;
	inv->timeout_ms = policy->timeout * 1000;
	inv->event = build_event(d);
	sqsn_invoke(inv);
}

/*
 * Records what became of a claimed row: its state, an attempt row, and the
 * subscription's counters when it is finished.
 */
static void
record(Delivery *d, const char *status, TimestampTz next_attempt_at,
	   SqsnInvocation *inv)
{
	Datum values[8];
	char  nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool  pending = strcmp(status, "pending") == 0;
	char *result = inv->error ? inv->error : "invoked";

	values[0] = Int64GetDatum(d->delivery_id);
	values[1] = CStringGetTextDatum(status);
	values[2] = TimestampTzGetDatum(next_attempt_at);
	nulls[2] = pending ? ' ' : 'n';
	values[3] = CStringGetTextDatum(result);
	values[4] = BoolGetDatum(true);
	sqsn_execute(&outcome_stmt, values, nulls, 0);

	values[1] = Int32GetDatum(d->attempt);
	values[2] = d->subscription_id;
	nulls[2] = ' ';
	values[3] = UUIDPGetDatum(d->message_id);
	values[4] = TimestampTzGetDatum(inv->started);
	values[5] = inv->error ? CStringGetTextDatum(inv->error) : (Datum) 0;
	nulls[5] = inv->error ? ' ' : 'n';
	values[6] = Float8GetDatum(inv->duration_ms);
	values[7] = TimestampTzGetDatum(next_attempt_at);
	nulls[7] = pending ? ' ' : 'n';
	sqsn_execute(&attempt_stmt, values, nulls, 0);

	if (!pending)
	{
		values[0] = d->subscription_id;
		values[1] = CStringGetTextDatum(status);
		sqsn_execute(&finished_stmt, values, NULL, 0);
	}
}

/* Puts off a row whose message cannot be opened, without an attempt. */
static void
put_off(Delivery *d)
{
	Datum values[5];

	values[0] = Int64GetDatum(d->delivery_id);
	values[1] = CStringGetTextDatum("pending");
	values[2] = TimestampTzGetDatum(TimestampTzPlusMilliseconds(
		GetCurrentTimestamp(), (int64) sqsn_function_retry_delay * 1000));
	values[3] = CStringGetTextDatum("the message could not be decrypted");
	values[4] = BoolGetDatum(false);
	sqsn_execute(&outcome_stmt, values, NULL, 0);
}

/*
 * Takes one due row of a function subscription and invokes its function
 * (see the top of this file), in the caller's transaction. Returns false
 * when none was due, with *next_due the time the next one is (0: none
 * pending). Requires an SPI connection.
 */
bool
sqsn_invoke_next_delivery(TimestampTz *next_due)
{
	Delivery           d;
	SqsnFunctionPolicy policy;
	SqsnInvocation     inv;
	TimestampTz        now = GetCurrentTimestamp();
	TimestampTz        next_attempt_at = 0;
	const char        *status;
	SqsnOutcome        logged;

	*next_due = 0;
	if (sqsn_execute(&claim_stmt, NULL, NULL, 1) == 0)
	{
		if (sqsn_execute(&next_due_stmt, NULL, NULL, 1) > 0)
			*next_due = sqsn_spi_timestamptz(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1);
		return false;
	}
	memset(&d, 0, sizeof(d));
	if (!read_delivery(&d, SPI_tuptable->vals[0], SPI_tuptable->tupdesc))
	{
		put_off(&d);
		return true;
	}

	/* a policy that no longer reads gives the defaults */
	PG_TRY();
	{
		sqsn_function_policy(d.policy, &policy);
	}
	PG_CATCH();
	{
		FlushErrorState();
		sqsn_function_policy(NULL, &policy);
	}
	PG_END_TRY();

	if (now - d.published_at >
		(TimestampTz) policy.maximum_event_age * USECS_PER_SEC)
	{
		memset(&inv, 0, sizeof(inv));
		inv.started = now;
		inv.outcome = SQSN_EXPIRED;
		inv.error =
			psprintf("the event is older than %d s", policy.maximum_event_age);
		(void) build_event(&d);
	}
	else
		invoke_delivery(&d, &policy, &inv);
	logged = inv.outcome;

	if (inv.outcome == SQSN_SUCCEEDED)
		status = "delivered";
	else if (inv.outcome != SQSN_EXPIRED &&
			 d.attempt <= policy.maximum_retry_attempts)
	{
		status = "pending";
		next_attempt_at = TimestampTzPlusMilliseconds(
			GetCurrentTimestamp(),
			(int64) sqsn_function_retry_delay * 1000 * d.attempt);
	}
	else if (d.dead_letter_queue != NULL)
	{
		SqsnDeadLetter dl;
		char          *error;

		if (d.body == NULL)
			(void) build_event(&d);
		dl.queue = d.dead_letter_queue;
		dl.owner = d.owner;
		dl.message_id = d.message_id;
		dl.body = d.body;
		dl.error_code = inv.outcome == SQSN_EXPIRED     ? "EventAgeExceeded"
						: inv.outcome == SQSN_TIMED_OUT ? "FunctionTimeout"
														: "FunctionError";
		dl.error_message = inv.error;
		dl.topic_arn = d.topic_arn;
		dl.subscription_arn = d.subscription_arn;
		dl.attempts = d.attempt;
		status = "dead_lettered";
		if (!sqsn_outbox_dead_letter(&dl, &error))
		{
			status = "failed";
			inv.error = psprintf("%s; %s", inv.error, error);
		}
	}
	else
		status = "failed";

	record(&d, status, next_attempt_at, &inv);
	sqsn_log_invocation('s', DatumGetUUIDP(d.subscription_id), 1, inv.started,
						inv.duration_ms, logged, inv.error);
	return true;
}
