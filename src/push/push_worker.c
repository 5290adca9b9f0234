/*-------------------------------------------------------------------------
 *
 * push_worker.c
 *	  The delivery worker: it POSTs the rows of the push outbox
 *	  (sqsn.delivery, outbox.c) to HTTP/HTTPS subscribers with the libcurl
 *	  multi interface, records every attempt, retries as the delivery
 *	  policy says and dead-letters what cannot be delivered.
 *
 * The delivery worker is a background worker of its own, registered next
 * to the maintenance worker (worker/) and working in the same database.
 * Keeping it apart means a long retention sweep never delays a POST, and
 * the curl loop can wait on its sockets without also scheduling sweeps.
 * Its loop:
 *
 *	1. claim: in one short transaction, lease up to
 *	   sqsn.http_max_concurrency minus the POSTs in flight due rows
 *	   (UPDATE ... WHERE delivery_id = ANY (ARRAY(SELECT ... FOR UPDATE
 *	   SKIP LOCKED))), counting the attempt, and read their subscriptions'
 *	   endpoint, policy and dead-letter queue; commit.
 *	2. POST them with curl_multi, outside any transaction, while checking
 *	   for interrupts at least every LOOP_POLL_MS.
 *	3. record: in another short transaction, for every finished POST, an
 *	   attempt row, the delivery's new state (delivered; pending with the
 *	   next attempt time of the retry schedule; dead-lettered, with a copy
 *	   in the subscription's dead-letter queue; or failed) and counters.
 *
 * A crash between 2 and 3 loses nothing: the lease (the POST timeout plus
 * LEASE_MARGIN_MS) runs out and the row is POSTed again; a new worker also
 * releases every lease when it starts, as only one delivery worker exists.
 * Delivery is at least once; the x-amz-sns-message-id header stays the
 * same across attempts, for receivers to de-duplicate.
 *
 * Wake-up: outbox.c rings the worker's latch when a transaction that
 * wrote outbox rows commits while the worker sleeps.
 *
 * Email and email-json subscriptions go through the same loop: their job
 * sends one mail through the SMTP relay of sqsn.smtp_url (email.c builds
 * it) instead of a POST. The SMTP reply code takes the place of the HTTP
 * status; a permanent rejection (5xx, other than a failed login or
 * STARTTLS) is not retried but dead-lettered at once, while 4xx replies
 * and connection failures are retried as the delivery policy says.
 *
 * Outcomes: any 2xx is delivered; other statuses, connection errors,
 * timeouts and destinations refused by sqsn.http_allowed_hosts (ssrf.c,
 * checked in libcurl's open-socket callback on the address actually
 * connected) are failed attempts, retried as the delivery policy says
 * (delivery_policy.c). Redirects are not followed and the response body is
 * discarded after at most MAX_RESPONSE_BYTES.
 *
 * Cleanup: every sqsn.poll_interval the worker deletes, in batches of
 * sqsn.retention_batch_size, delivered rows and attempt rows older than
 * sqsn.delivery_retention, counters of deleted subscriptions, and
 * subscriptions left unconfirmed for 3 days (as the managed service does).
 * Failed deliveries stay, for sqsn.subscription_stats and inspection.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/resource.h>

#include <curl/curl.h>

#include "push/push.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PGDLLEXPORT void sqsn_delivery_main(Datum main_arg);

#define USER_AGENT                   "sqsn/0.5 (PostgreSQL push delivery)"
#define MAX_RESPONSE_BYTES           65536
#define RECORD_BATCH                 32
#define RECORD_DELAY_MS              5
#define LOOP_POLL_MS                 10
#define LEASE_MARGIN_MS              5000
#define PENDING_SUBSCRIPTION_SECONDS (3 * 86400)
#define DELIVERY_RESTART_SECONDS     5

/* What a job sends. */
typedef enum JobKind
{
	JOB_HTTP,       /* a POST to an http or https endpoint */
	JOB_EMAIL,      /* a text/plain mail with the message */
	JOB_EMAIL_JSON, /* a mail with the JSON envelope */
	JOB_SMS,        /* a form POST to the SMS gateway */
	JOB_MOBILE      /* a push to a device through FCM or APNs (mobile.c) */
} JobKind;

/* One delivery being POSTed. */
typedef struct Job
{
	MemoryContext      cxt;
	JobKind            kind;
	int64              delivery_id;
	Datum              subscription_id; /* uuid; (Datum) 0 when direct */
	bool               direct; /* an SMS to a phone number: no subscription */
	Datum              message_id; /* uuid */
	bool               confirmation;
	int                attempt; /* this attempt's number, from 1 */
	char              *endpoint;
	char              *host;
	char              *dead_letter_queue; /* or NULL */
	char              *owner;             /* the subscription's */
	char              *topic_arn;
	char              *subscription_arn;
	char              *message_id_text;
	char              *body;
	bool               raw;
	SqsnDeliveryPolicy policy;
	char              *trace_header; /* X-Amzn-Trace-Id, or NULL */
	char              *traceparent;  /* W3C traceparent, or NULL */

	CURL              *easy;
	struct curl_slist *headers;
	char               errbuf[CURL_ERROR_SIZE];
	char               refused[256];
	size_t             received;
	size_t             sent;         /* mail bytes handed to libcurl */
	bool               opted_out;    /* SMS to a number on the opt-out list */
	bool               permanent;    /* failed for good: no retry */
	char              *sender;       /* SMS: AWS.SNS.SMS.SenderID, or NULL */
	char              *sms_type;     /* SMS: AWS.SNS.SMS.SMSType, or NULL */
	int                segments;     /* SMS */
	char              *form;         /* SMS: the POST's body */
	char               answer[1024]; /* SMS, mobile: the answer, cut */
	SqsnMobileTarget   mobile;       /* mobile: the device and its app */
	pg_uuid_t          endpoint_id;  /* mobile: the platform endpoint */
	char              *unsendable;   /* mobile: why it cannot be sent */
	bool               disable;      /* mobile: the token is invalid */
	TimestampTz        started;

	/* outcome */
	bool        deferred;    /* throttled: not POSTed */
	long        http_status; /* 0: none; for mail, the last SMTP reply */
	CURLcode    result;
	char       *error; /* NULL: delivered */
	double      latency_ms;
	const char *status; /* pending, delivered, failed, dead_lettered */
	TimestampTz next_attempt_at; /* for pending */
} Job;

/* Throttle state per subscription (maxReceivesPerSecond). */
typedef struct ThrottleEntry
{
	pg_uuid_t subscription_id; /* hash key */
	int64     second;
	int       count;
} ThrottleEntry;

/* settings */
static int   sqsn_http_max_concurrency = 64;
static int   sqsn_http_timeout_ms = 15000;
static char *sqsn_http_ca_file = NULL;
static char *sqsn_http_allowed_hosts = NULL;
static int   sqsn_delivery_retention = 3600;
static bool  sqsn_delivery_enabled = true;

/* worker state */
static CURLM      *multi = NULL;
static int         in_flight = 0;
static HTAB       *throttle = NULL;
static List       *finished = NIL; /* Jobs done, not recorded yet */
static bool        leases_released = false;
static TimestampTz first_finished_at = 0;
static char       *configured_synchronous_commit = NULL;

/* Statements of the worker, run by sqsn_execute */

/*
 * The rows of this worker: those of HTTP/HTTPS subscriptions not paused.
 * Function subscriptions' rows (worker 'function') are the function
 * workers' (function/), and deliveries of paused subscriptions stay where
 * they are; the legacy statements are those of a catalog before 0.5.
 */
#define NOT_PAUSED                                                            \
	" AND NOT EXISTS (SELECT FROM sqsn.subscription p"                        \
	"  WHERE p.subscription_id = sqsn.delivery.subscription_id"               \
	"  AND p.paused)"

#define CLAIM_SQL(legacy, opted_out)                                          \
	CLAIM_SQL_OF(legacy, "c.subscription_id", "s.endpoint",                   \
				 "s.raw_message_delivery", "s.protocol", opted_out,           \
				 " JOIN sqsn.subscription s"                                  \
				 " ON s.subscription_id = c.subscription_id"                  \
				 " JOIN sqsn.topic t ON t.topic_id = s.topic_id")

/*
 * A row without a subscription (0.5) has no topic, policy or dead-letter
 * queue either: an SMS published straight to a phone number has the
 * number, a publish straight to a platform endpoint (mobile push) the
 * endpoint's id and its ARN in topic_arn.
 */
#define DIRECT_JOIN                                                           \
	" LEFT JOIN sqsn.subscription s"                                          \
	" ON s.subscription_id = c.subscription_id"                               \
	" LEFT JOIN sqsn.topic t ON t.topic_id = s.topic_id"

/*
 * The endpoint of an application subscription is its ARN, whose last part
 * is the endpoint's id. Columns 20..26: the endpoint's id, token and
 * Enabled, the application's platform, id, sealed credentials and
 * attributes.
 */
#define MOBILE_COLUMNS                                                        \
	", e.endpoint_id, e.token, e.enabled, a.platform,"                        \
	" a.application_id, a.credentials, a.attributes"
#define MOBILE_JOIN                                                           \
	DIRECT_JOIN                                                               \
	" LEFT JOIN sqsn.platform_endpoint e ON e.endpoint_id = COALESCE("        \
	"  c.endpoint_id, CASE WHEN s.protocol = 'application'"                   \
	"  THEN pg_catalog.split_part(s.endpoint, '/', 4)::uuid END)"             \
	" LEFT JOIN sqsn.platform_application a"                                  \
	" ON a.application_id = e.application_id"

#define CLAIM_SQL_OF(legacy, key, endpoint, raw, protocol, columns, join)     \
	"WITH claimed AS ("                                                       \
	" UPDATE sqsn.delivery d"                                                 \
	" SET leased_until = now() + $2 * interval '1 millisecond',"              \
	"  attempts = d.attempts + 1"                                             \
	" WHERE d.delivery_id = ANY (ARRAY("                                      \
	"  SELECT delivery_id FROM sqsn.delivery"                                 \
	"  WHERE status = 'pending' AND next_attempt_at <= now()"                 \
	"   AND (leased_until IS NULL OR leased_until <= now())" legacy           \
	"  ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED))"            \
	" RETURNING d.*)"                                                         \
	" SELECT c.delivery_id, " key ", c.message_type,"                         \
	"  c.message_id, c.topic_arn, c.subject, c.message,"                      \
	"  c.message_attributes, c.published_at, c.attempts,"                     \
	"  " endpoint ", " raw ", s.delivery_policy,"                             \
	"  t.delivery_policy, q.queue_name, s.confirmation_token,"                \
	"  s.owner::text, " protocol columns " FROM claimed c" join               \
	" LEFT JOIN sqsn.queue q ON q.queue_id = s.dead_letter_queue_id"          \
	" ORDER BY c.next_attempt_at"

#define NEXT_DUE_SQL(legacy)                                                  \
	"SELECT next_attempt_at FROM sqsn.delivery"                               \
	" WHERE status = 'pending'"                                               \
	" AND (leased_until IS NULL OR leased_until <= now())" legacy             \
	" ORDER BY next_attempt_at LIMIT 1"

#define OPTED_OUT(endpoint, protocol)                                         \
	", " protocol " = 'sms' AND EXISTS (SELECT FROM"                          \
	" sqsn.phone_number_opt_out o WHERE o.phone_number = " endpoint ")"

/* a row's endpoint and protocol, with or without a subscription */
#define DIRECT_ENDPOINT "COALESCE(s.endpoint, c.phone_number, c.topic_arn)"
#define DIRECT_PROTOCOL                                                       \
	"COALESCE(s.protocol,"                                                    \
	" CASE WHEN c.endpoint_id IS NULL THEN 'sms' ELSE 'application' END)"
/* the same on a catalog with SMS to phone numbers but not mobile push */
#define SMS_ENDPOINT "COALESCE(s.endpoint, c.phone_number)"
#define SMS_PROTOCOL "COALESCE(s.protocol, 'sms')"

static SqsnStatement claim_stmt = {
	CLAIM_SQL_OF(" AND worker = 'delivery'" NOT_PAUSED,
				 "COALESCE(c.subscription_id, c.endpoint_id)", DIRECT_ENDPOINT,
				 "COALESCE(s.raw_message_delivery, false)", DIRECT_PROTOCOL,
				 OPTED_OUT(DIRECT_ENDPOINT, DIRECT_PROTOCOL) MOBILE_COLUMNS,
				 MOBILE_JOIN),
	2,
	{INT4OID, INT4OID},
	SPI_OK_SELECT,
	"claiming deliveries"};

/* a catalog of 0.5 with SMS to phone numbers, before mobile push */
static SqsnStatement no_mobile_claim_stmt = {
	CLAIM_SQL_OF(" AND worker = 'delivery'" NOT_PAUSED, "c.subscription_id",
				 SMS_ENDPOINT, "s.raw_message_delivery", SMS_PROTOCOL,
				 OPTED_OUT(SMS_ENDPOINT, SMS_PROTOCOL), DIRECT_JOIN),
	2,
	{INT4OID, INT4OID},
	SPI_OK_SELECT,
	"claiming deliveries"};

/* a catalog of 0.5 with the opt-out list, before direct SMS */
static SqsnStatement no_direct_sms_claim_stmt = {
	CLAIM_SQL(" AND worker = 'delivery'" NOT_PAUSED,
			  OPTED_OUT("s.endpoint", "s.protocol")),
	2,
	{INT4OID, INT4OID},
	SPI_OK_SELECT,
	"claiming deliveries"};

/* a catalog of 0.5 before the opt-out list */
static SqsnStatement no_sms_claim_stmt = {
	CLAIM_SQL(" AND worker = 'delivery'" NOT_PAUSED, ""),
	2,
	{INT4OID, INT4OID},
	SPI_OK_SELECT,
	"claiming deliveries"};

static SqsnStatement legacy_claim_stmt = {CLAIM_SQL("", ""),
										  2,
										  {INT4OID, INT4OID},
										  SPI_OK_SELECT,
										  "claiming deliveries"};

static SqsnStatement next_due_stmt = {
	NEXT_DUE_SQL(" AND worker = 'delivery'" NOT_PAUSED),
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"reading sqsn.delivery",
	true};

static SqsnStatement legacy_next_due_stmt = {
	NEXT_DUE_SQL(""),        0,   {InvalidOid}, SPI_OK_SELECT,
	"reading sqsn.delivery", true};

/*
 * One execution per row, by primary key. The row is recognised as still
 * leased (leased_until set) rather than by status = 'pending': that
 * condition matches the due index's predicate, and a generic plan made
 * while the outbox looked empty then walks every pending row for each
 * outcome.
 */
static SqsnStatement record_stmt = {
	"UPDATE sqsn.delivery SET status = $2,"
	" next_attempt_at = COALESCE($3, next_attempt_at),"
	" leased_until = NULL,"
	" finished_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END,"
	" last_result = COALESCE($4, last_result),"
	" attempts = attempts - $5"
	" WHERE delivery_id = $1 AND leased_until IS NOT NULL",
	5,
	{INT8OID, TEXTOID, TIMESTAMPTZOID, TEXTOID, INT4OID},
	SPI_OK_UPDATE,
	"recording deliveries"};

static SqsnStatement attempt_stmt = {
	"INSERT INTO sqsn.delivery_attempt (delivery_id, attempt,"
	" subscription_id, message_id, attempted_at, http_status, error,"
	" latency_ms, next_attempt_at)"
	" SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	" ON CONFLICT DO NOTHING",
	9,
	{INT8ARRAYOID, INT4ARRAYOID, UUIDARRAYOID, UUIDARRAYOID,
	 TIMESTAMPTZARRAYOID, INT4ARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID,
	 TIMESTAMPTZARRAYOID},
	SPI_OK_INSERT,
	"recording delivery attempts"};

static SqsnStatement counter_stmt = {
	"INSERT INTO sqsn.subscription_counter AS c"
	" (subscription_id, delivered, failed, dead_lettered)"
	" SELECT s, count(*) FILTER (WHERE st = 'delivered'),"
	"  count(*) FILTER (WHERE st = 'failed'),"
	"  count(*) FILTER (WHERE st = 'dead_lettered')"
	" FROM unnest($1, $2) AS u(s, st) GROUP BY s"
	" ON CONFLICT (subscription_id) DO UPDATE"
	" SET delivered = c.delivered + excluded.delivered,"
	"  failed = c.failed + excluded.failed,"
	"  dead_lettered = c.dead_lettered + excluded.dead_lettered",
	2,
	{UUIDARRAYOID, TEXTARRAYOID},
	SPI_OK_INSERT,
	"counting deliveries"};

/* their saved plans are dropped after an error */
static SqsnStatement *const statements[] = {
	&claim_stmt,           &no_mobile_claim_stmt, &no_direct_sms_claim_stmt,
	&no_sms_claim_stmt,    &legacy_claim_stmt,    &next_due_stmt,
	&legacy_next_due_stmt, &record_stmt,          &attempt_stmt,
	&counter_stmt};

static void delivery_exit(int code, Datum arg);

/*
 * The push subsystem's settings, the outbox's commit callback and shared
 * state, and the delivery worker; called from _PG_init.
 */
void
PushInit(void)
{
	DefineCustomIntVariable("sqsn.http_max_concurrency",
							"POSTs the delivery worker has in flight at most.",
							NULL, &sqsn_http_max_concurrency, 64, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("sqsn.http_timeout_ms",
							"Time a POST may take, connecting included.", NULL,
							&sqsn_http_timeout_ms, 15000, 100, 300000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomStringVariable("sqsn.http_ca_file",
							   "PEM file of the certificate authorities HTTPS "
							   "endpoints are verified with.",
							   "Empty: the system's default CA store.",
							   &sqsn_http_ca_file, "", PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable(
		"sqsn.http_allowed_hosts",
		"Where push delivery may connect: IP addresses, "
		"CIDR ranges and host name patterns.",
		"Empty: every public address, nothing internal.",
		&sqsn_http_allowed_hosts, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL,
		NULL, NULL);
	DefineCustomIntVariable("sqsn.delivery_retention",
							"How long delivered outbox rows and delivery "
							"attempts are kept.",
							NULL, &sqsn_delivery_retention, 3600, 0,
							14 * 86400, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL,
							NULL);
	DefineCustomBoolVariable("sqsn.delivery_enabled",
							 "Whether the delivery worker POSTs deliveries.",
							 NULL, &sqsn_delivery_enabled, true, PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	SigningInit();
	EmailInit();
	SmsInit();
	MobileInit();
	OutboxInit();
	DeliveryMetricsInit();

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;
	sqsn_register_worker("sqsn_delivery_main", "sqsn delivery worker",
						 "sqsn delivery worker", DELIVERY_RESTART_SECONDS,
						 false, (Datum) 0);
}

static void
delivery_exit(int code, Datum arg)
{
	(void) sqsn_outbox_attach(NULL);
}

/* Worker: building a POST ------------------------------------------------ */

/*
 * The text of a mail to an email subscription (email-json subscriptions
 * get the JSON envelope instead): the confirmation request, with the SQL
 * call that confirms and, when the endpoint is on, a link; or the message
 * with the unsubscribe link.
 */
static char *
mail_text(Job *job, const char *message, const char *token)
{
	StringInfoData buf;
	const char    *topic_name = strrchr(job->topic_arn, ':') + 1;

	initStringInfo(&buf);
	if (job->confirmation)
	{
		appendStringInfo(&buf,
						 "You have chosen to subscribe to the topic:\n%s\n\n"
						 "To confirm this subscription, run in the "
						 "database:\n"
						 "SELECT sqsn.sn_confirm_subscription('%s', '%s');\n",
						 job->topic_arn, topic_name, token);
		if (sqsn_endpoint_base_url() != NULL)
			appendStringInfo(&buf, "\nor visit this link:\n%s\n",
							 sqsn_envelope_link("ConfirmSubscription",
												"TopicArn", job->topic_arn,
												token));
		appendStringInfoString(&buf, "\nIf this was in error, no action is "
									 "necessary: without confirmation, no "
									 "message is sent.\n");
		return buf.data;
	}
	appendStringInfo(&buf,
					 "%s\n\n--\nIf you wish to stop receiving notifications "
					 "from this topic, visit the link below to "
					 "unsubscribe:\n%s\n",
					 message,
					 sqsn_envelope_link("Unsubscribe", "SubscriptionArn",
										job->subscription_arn, NULL));
	return buf.data;
}

/*
 * Makes the text in job->body the whole mail to the subscription's
 * address, with the publish subject, a default, or the confirmation's.
 */
static void
wrap_mail(Job *job, const char *subject)
{
	if (job->confirmation)
		subject = "sqsn Notification - Subscription Confirmation";
	else if (subject == NULL)
		subject = SQSN_EMAIL_DEFAULT_SUBJECT;
	job->body =
		sqsn_email_message(job->endpoint, subject, job->body,
						   job->message_id_text, GetCurrentTimestamp());
}

/*
 * The body of a job: the message alone for raw delivery, else the signed
 * JSON envelope of a Notification or SubscriptionConfirmation; for a mail,
 * the whole mail (email.c) around the text or the envelope.
 */
static void
build_body(Job *job, const char *subject, const char *message,
		   Jsonb *attributes, const char *timestamp, const char *token)
{
	SqsnEnvelope env;

	if (job->kind == JOB_EMAIL)
	{
		job->body = mail_text(job, message, token);
		wrap_mail(job, subject);
		return;
	}
	if (job->kind == JOB_SMS)
	{
		job->body = pstrdup(message);
		job->segments = sqsn_sms_segments(message);
		job->sender =
			sqsn_attribute_string(attributes, SQSN_SMS_SENDER_ID_ATTRIBUTE);
		job->sms_type =
			sqsn_attribute_string(attributes, SQSN_SMS_TYPE_ATTRIBUTE);
		return;
	}
	if (job->kind == JOB_MOBILE)
	{
		job->body = pstrdup(message); /* the platform's payload */
		return;
	}
	if (job->raw && !job->confirmation && job->kind == JOB_HTTP)
	{
		job->body = pstrdup(message);
		return;
	}

	memset(&env, 0, sizeof(env));
	env.message_id = job->message_id_text;
	env.topic_arn = job->topic_arn;
	env.message = message;
	env.timestamp = timestamp;
	if (job->confirmation)
	{
		env.type = "SubscriptionConfirmation";
		env.token = token;
		env.subscribe_url = sqsn_envelope_link(
			"ConfirmSubscription", "TopicArn", job->topic_arn, token);
	}
	else
	{
		env.type = "Notification";
		env.subject = subject;
		env.unsubscribe_url = sqsn_envelope_link(
			"Unsubscribe", "SubscriptionArn", job->subscription_arn, NULL);
		env.attributes = attributes;
	}
	sqsn_sign_envelope(&env);
	job->body = sqsn_envelope_json(&env);
	if (job->kind == JOB_EMAIL_JSON)
		wrap_mail(job, subject);
}

/*
 * The trace context of a notification, from its attributes: the
 * X-Amzn-Trace-Id header is the message's AWSTraceHeader when it has one,
 * else the W3C traceparent attribute in X-Ray's form
 * (Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>); *traceparent
 * is that attribute as it came, sent as the traceparent header. Values
 * that could break a header line are left out.
 */
static char *
trace_header(Jsonb *attributes, char **traceparent)
{
	char *aws = sqsn_attribute_string(attributes, SQSN_TRACE_ATTRIBUTE);
	char *w3c = sqsn_attribute_string(attributes, SQSN_TRACEPARENT);

	if (w3c != NULL && strpbrk(w3c, "\r\n") != NULL)
		w3c = NULL;
	if (aws != NULL && strpbrk(aws, "\r\n") != NULL)
		aws = NULL;
	*traceparent = w3c;
	if (aws == NULL && w3c != NULL && strlen(w3c) == 55 &&
		strspn(w3c, "0123456789abcdef-") == 55 && w3c[2] == '-' &&
		w3c[35] == '-' && w3c[52] == '-')
		aws = psprintf("Root=1-%.8s-%.24s;Parent=%.16s;Sampled=%c", w3c + 3,
					   w3c + 11, w3c + 36,
					   (sqsn_hex_value(w3c[54]) & 1) ? '1' : '0');
	return aws;
}

/* Response bodies are counted and dropped; too long a body ends the POST. */
static size_t
discard_response(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Job *job = (Job *) userdata;

	job->received += size * nmemb;
	if (job->received > MAX_RESPONSE_BYTES)
		return 0;
	return size * nmemb;
}

/*
 * libcurl asks for a socket to the address it is about to connect to: the
 * SSRF guard's check happens here, on the resolved address itself.
 */
static curl_socket_t
open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	Job          *job = (Job *) clientp;
	MemoryContext oldcxt = MemoryContextSwitchTo(job->cxt);
	bool          allowed;

	allowed = sqsn_address_allowed(sqsn_http_allowed_hosts, job->host,
								   &address->addr, job->refused,
								   sizeof(job->refused));
	MemoryContextSwitchTo(oldcxt);
	if (!allowed)
		return CURL_SOCKET_BAD;
	return socket(address->family, address->socktype, address->protocol);
}

/* A job no longer in flight: to be recorded. */
static void
finish_job(Job *job)
{
	MemoryContext oldcxt;

	if (job->easy)
	{
		curl_multi_remove_handle(multi, job->easy);
		curl_easy_cleanup(job->easy);
		job->easy = NULL;
		in_flight--;
	}
	if (job->headers)
	{
		curl_slist_free_all(job->headers);
		job->headers = NULL;
	}
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (finished == NIL)
		first_finished_at = GetCurrentTimestamp();
	finished = lappend(finished, job);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Whether the subscription's throttle lets one more POST start now; when
 * not, the job is deferred to the next second.
 */
static bool
throttle_allows(Job *job, TimestampTz now)
{
	ThrottleEntry *entry;
	bool           found;
	int64          second = now / USECS_PER_SEC;

	if (job->policy.max_receives_per_second <= 0 || job->direct)
		return true;
	entry = hash_search(throttle, DatumGetUUIDP(job->subscription_id),
						HASH_ENTER, &found);
	if (!found || entry->second != second)
	{
		entry->second = second;
		entry->count = 0;
	}
	if (entry->count >= job->policy.max_receives_per_second)
	{
		job->deferred = true;
		job->status = "pending";
		job->next_attempt_at = (second + 1) * USECS_PER_SEC;
		return false;
	}
	entry->count++;
	return true;
}

/*
 * Forgets the throttle state of seconds gone by, which throttle_allows
 * would start afresh anyway: the table holds only subscriptions throttled
 * in the current second, not every one ever seen.
 */
static void
forget_past_throttles(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	ThrottleEntry  *entry;
	int64           second = now / USECS_PER_SEC;

	hash_seq_init(&status, throttle);
	while ((entry = (ThrottleEntry *) hash_seq_search(&status)) != NULL)
	{
		if (entry->second < second)
			hash_search(throttle, &entry->subscription_id, HASH_REMOVE, NULL);
	}
}

static void
add_header(Job *job, const char *name, const char *value)
{
	job->headers =
		curl_slist_append(job->headers, psprintf("%s: %s", name, value));
}

/* A job that cannot start: finished at once with the error. */
static void
fail_job(Job *job, CURL *easy, char *error)
{
	if (easy != NULL)
		curl_easy_cleanup(easy);
	job->error = error;
	finish_job(job);
}

/* libcurl reads the mail of a job from its body. */
static size_t
read_mail(char *buffer, size_t size, size_t nitems, void *userdata)
{
	Job   *job = (Job *) userdata;
	size_t left = strlen(job->body) - job->sent;
	size_t n = Min(left, size * nitems);

	memcpy(buffer, job->body + job->sent, n);
	job->sent += n;
	return n;
}

/* Options a POST and a mail share: timeouts, TLS, the SSRF guard. */
static void
set_common_options(Job *job, CURL *easy)
{
	curl_easy_setopt(easy, CURLOPT_PRIVATE, job);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) sqsn_http_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
					 (long) sqsn_http_timeout_ms);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_PROXY, "");
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (sqsn_http_ca_file && sqsn_http_ca_file[0])
		curl_easy_setopt(easy, CURLOPT_CAINFO, sqsn_http_ca_file);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, job);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, job->errbuf);
}

/* Hands a running job's handle to the multi handle. */
static void
add_to_multi(Job *job, CURL *easy, const char *what)
{
	job->easy = easy;
	if (curl_multi_add_handle(multi, easy) != CURLM_OK)
	{
		curl_easy_cleanup(easy);
		job->easy = NULL;
		job->error = psprintf("could not start the %s", what);
		finish_job(job);
	}
	else
		in_flight++;
}

/*
 * Hands the mail of an email or email-json job to libcurl; a mail that
 * cannot be sent (no relay, unusable credentials) is finished at once with
 * the error. The recipient list lives in job->headers.
 */
static void
start_mail(Job *job)
{
	CURL *easy = curl_easy_init();
	char *problem;

	if (easy == NULL)
	{
		fail_job(job, NULL, "could not create a libcurl handle");
		return;
	}
	problem = sqsn_email_setup(easy, job->endpoint, &job->headers);
	if (problem != NULL)
	{
		fail_job(job, easy, problem);
		return;
	}
	set_common_options(job, easy);
	curl_easy_setopt(easy, CURLOPT_READFUNCTION, read_mail);
	curl_easy_setopt(easy, CURLOPT_READDATA, job);
	curl_easy_setopt(easy, CURLOPT_INFILESIZE_LARGE,
					 (curl_off_t) strlen(job->body));
	add_to_multi(job, easy, "mail");
}

/* The start of the gateway's answer is kept (its message id); the rest is
 * counted and dropped. */
static size_t
keep_answer(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Job   *job = (Job *) userdata;
	size_t n = size * nmemb;
	size_t room =
		sizeof(job->answer) - 1 - Min(job->received, sizeof(job->answer) - 1);

	memcpy(job->answer + (sizeof(job->answer) - 1 - room), ptr, Min(n, room));
	job->received += n;
	if (job->received > MAX_RESPONSE_BYTES)
		return 0;
	return n;
}

/*
 * Starts a POST set up by sms.c or mobile.c, with the worker's options and
 * headers, keeping the start of the answer.
 */
static void
post_keeping_answer(Job *job, CURL *easy, const char *what)
{
	set_common_options(job, easy);
	job->headers = curl_slist_append(job->headers, "Expect:");
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, job->headers);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, keep_answer);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, job);
	add_to_multi(job, easy, what);
}

/*
 * Hands the form POST of an SMS job to libcurl; an SMS to an opted-out
 * number, or one that cannot be sent (no gateway, unusable credentials,
 * an SMSType that is neither Transactional nor Promotional), is finished
 * at once with the error.
 */
static void
start_sms(Job *job)
{
	CURL *easy;
	char *problem;

	if (job->opted_out)
	{
		job->error = psprintf("phone number %s has opted out", job->endpoint);
		job->permanent = true;
		finish_job(job);
		return;
	}
	if (job->sms_type && strcmp(job->sms_type, "Transactional") != 0 &&
		strcmp(job->sms_type, "Promotional") != 0)
	{
		job->error = psprintf("%s must be Transactional or Promotional",
							  SQSN_SMS_TYPE_ATTRIBUTE);
		job->permanent = true;
		finish_job(job);
		return;
	}
	easy = curl_easy_init();
	if (easy == NULL)
	{
		fail_job(job, NULL, "could not create a libcurl handle");
		return;
	}
	problem = sqsn_sms_setup(easy, job->endpoint, job->sender, job->body,
							 &job->form);
	if (problem != NULL)
	{
		fail_job(job, easy, problem);
		return;
	}
	add_header(job, "Content-Type", "application/x-www-form-urlencoded");
	post_keeping_answer(job, easy, "SMS");
}

/*
 * The worker's options for the handle of an access token request of
 * mobile.c (blocking, made before the push): timeouts, TLS and the SSRF
 * guard for the token URL's host.
 */
static void
configure_token_request(void *easy, void *arg, const char *host)
{
	Job *job = (Job *) arg;
	Job *token_job = palloc0(sizeof(Job));

	token_job->cxt = job->cxt;
	token_job->host = pstrdup(host ? host : "");
	set_common_options(token_job, (CURL *) easy);
	curl_easy_setopt((CURL *) easy, CURLOPT_USERAGENT, USER_AGENT);
}

/*
 * Hands the push of a mobile job to FCM or APNs (mobile.c sets the
 * request up); a push to a missing or disabled endpoint fails for good at
 * once, one whose request cannot be made (no access token, unusable
 * credentials) fails and is retried.
 */
static void
start_mobile(Job *job)
{
	CURL *easy;
	char *problem;

	if (job->unsendable != NULL)
	{
		job->error = pstrdup(job->unsendable);
		job->permanent = true;
		finish_job(job);
		return;
	}
	if (job->error != NULL)
	{
		finish_job(job);
		return;
	}
	easy = curl_easy_init();
	if (easy == NULL)
	{
		fail_job(job, NULL, "could not create a libcurl handle");
		return;
	}
	problem = sqsn_mobile_setup(easy, &job->mobile, job->body,
								job->message_id_text, configure_token_request,
								job, &job->headers, &job->form);
	if (problem != NULL)
	{
		fail_job(job, easy, problem);
		return;
	}
	post_keeping_answer(job, easy, "push");
}

/*
 * Hands a job to libcurl; a job libcurl refuses is finished at once with
 * the error.
 */
static void
start_job(Job *job)
{
	CURL         *easy;
	MemoryContext oldcxt = MemoryContextSwitchTo(job->cxt);

	job->started = GetCurrentTimestamp();
	if (!throttle_allows(job, job->started))
	{
		finish_job(job);
		MemoryContextSwitchTo(oldcxt);
		return;
	}
	if (job->kind == JOB_SMS)
	{
		start_sms(job);
		MemoryContextSwitchTo(oldcxt);
		return;
	}
	if (job->kind == JOB_MOBILE)
	{
		start_mobile(job);
		MemoryContextSwitchTo(oldcxt);
		return;
	}
	if (job->kind != JOB_HTTP)
	{
		start_mail(job);
		MemoryContextSwitchTo(oldcxt);
		return;
	}

	add_header(job, "Content-Type", job->policy.content_type);
	add_header(job, "x-amz-sns-message-type",
			   job->confirmation ? "SubscriptionConfirmation"
								 : "Notification");
	add_header(job, "x-amz-sns-message-id", job->message_id_text);
	add_header(job, "x-amz-sns-topic-arn", job->topic_arn);
	if (!job->confirmation)
		add_header(job, "x-amz-sns-subscription-arn", job->subscription_arn);
	if (job->raw && !job->confirmation)
		add_header(job, "x-amz-sns-rawdelivery", "true");
	if (job->trace_header)
		add_header(job, "X-Amzn-Trace-Id", job->trace_header);
	if (job->traceparent)
		add_header(job, "traceparent", job->traceparent);
	/* no "Expect: 100-continue" round trip for larger bodies */
	job->headers = curl_slist_append(job->headers, "Expect:");

	easy = curl_easy_init();
	if (easy == NULL)
	{
		job->error = "could not create a libcurl handle";
		finish_job(job);
		MemoryContextSwitchTo(oldcxt);
		return;
	}
	set_common_options(job, easy);
	curl_easy_setopt(easy, CURLOPT_URL, job->endpoint);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, job->body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(job->body));
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, job->headers);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard_response);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, job);
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	add_to_multi(job, easy, "POST");
	MemoryContextSwitchTo(oldcxt);
}

/*
 * What a provider's answer to a failed push means (mobile.c): an invalid
 * device token disables the endpoint and fails for good, as does another
 * 4xx; a refused bearer token is made anew on the retry.
 */
static void
judge_mobile_answer(Job *job)
{
	SqsnMobileOutcome outcome;

	if (job->refused[0])
		return;
	outcome = sqsn_mobile_outcome(job->mobile.platform, job->http_status,
								  job->answer);
	if (job->http_status > 0 && job->answer[0])
		job->error = psprintf("%s: %s", job->error, job->answer);
	if (outcome == MOBILE_RETRY_NEW_TOKEN)
		sqsn_mobile_forget_token(&job->mobile.application_id);
	else if (outcome == MOBILE_INVALID_TOKEN)
	{
		job->disable = true;
		job->permanent = true;
	}
	else if (outcome == MOBILE_REJECTED)
		job->permanent = true;
}

/* Reads what libcurl finished and moves those jobs to `finished'. */
static void
collect_done(void)
{
	CURLMsg *msg;
	int      left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		Job          *job;
		long          status = 0;
		MemoryContext oldcxt;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &job);
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		oldcxt = MemoryContextSwitchTo(job->cxt);
		job->http_status = status;
		job->result = msg->data.result;
		job->latency_ms =
			(double) (GetCurrentTimestamp() - job->started) / 1000.0;
		if (job->kind == JOB_EMAIL || job->kind == JOB_EMAIL_JSON)
		{
			if (msg->data.result == CURLE_OK)
				job->error = NULL;
			else if (job->refused[0])
				job->error = psprintf("refused: %s", job->refused);
			else
				job->error = psprintf(
					"%s%s%s%s", curl_easy_strerror(msg->data.result),
					job->errbuf[0] ? ": " : "", job->errbuf,
					status > 0 ? psprintf(" (SMTP reply %ld)", status) : "");
		}
		else if (status >= 200 && status < 300 &&
				 (msg->data.result == CURLE_OK ||
				  msg->data.result == CURLE_WRITE_ERROR))
			job->error = NULL;
		else if (job->refused[0])
			job->error = psprintf("refused: %s", job->refused);
		else if (msg->data.result != CURLE_OK)
			job->error =
				psprintf("%s%s%s", curl_easy_strerror(msg->data.result),
						 job->errbuf[0] ? ": " : "", job->errbuf);
		else
			job->error = psprintf("HTTP status %ld", status);
		if (job->kind == JOB_MOBILE && job->error != NULL)
			judge_mobile_answer(job);
		MemoryContextSwitchTo(oldcxt);
		finish_job(job);
	}
}

/* Worker: transactions --------------------------------------------------- */

/*
 * Runs fn in its own transaction; an error is logged and rolled back, and
 * the worker goes on (the rows stay as they were: leases expire).
 */
static bool
run_in_xact(const char *activity, bool (*fn)(void *), void *arg, bool durable)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool          result = false;

	/*
	 * A lost commit of a claim or a cleanup only means a POST is made again
	 * or a row deleted later, so those do not wait for the WAL flush. An
	 * outcome (delivered, or the time of the next retry) must survive a
	 * crash, or the message is re-sent early: that commit is durable.
	 */
	SetConfigOption("synchronous_commit",
					durable && configured_synchronous_commit
						? configured_synchronous_commit
						: "off",
					PGC_SUSET, PGC_S_OVERRIDE);
	PG_TRY();
	{
		sqsn_xact_begin(activity);
		if (sqsn_extension_ready("delivery", RowExclusiveLock))
			result = fn(arg);
		sqsn_xact_commit();
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		sqsn_free_statements(statements, lengthof(statements));
		ereport(WARNING, (errmsg("sqsn delivery worker: %s failed: %s",
								 activity, edata->message)));
		FreeErrorData(edata);
		result = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return result;
}

typedef struct ClaimArgs
{
	int           want;
	int           claimed;
	TimestampTz   next_due; /* 0: nothing pending */
	MemoryContext cxt;      /* where jobs live */
	List         *jobs;
} ClaimArgs;

/*
 * The device and application of a mobile push job (claim_stmt's columns
 * 20..26), with the application's credentials opened; job->unsendable
 * says why it cannot be sent (the endpoint is gone or disabled, the
 * credentials cannot be opened).
 */
static void
read_mobile_target(Job *job, HeapTuple tuple, TupleDesc desc)
{
	bool   isnull;
	Datum  d = SPI_getbinval(tuple, desc, 20, &isnull);
	char  *credential = NULL;
	char  *principal = NULL;
	char  *error = NULL;
	Jsonb *attributes;

	if (isnull)
	{
		job->unsendable = "the platform endpoint does not exist";
		return;
	}
	memcpy(&job->endpoint_id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	job->mobile.token = SPI_getvalue(tuple, desc, 21);
	job->mobile.platform = SPI_getvalue(tuple, desc, 23);
	memcpy(&job->mobile.application_id,
		   DatumGetUUIDP(SPI_getbinval(tuple, desc, 24, &isnull)),
		   sizeof(pg_uuid_t));
	attributes = sqsn_spi_jsonb(tuple, desc, 26);
	job->mobile.team_id = sqsn_json_member(attributes, "ApplePlatformTeamID");
	job->mobile.bundle_id =
		sqsn_json_member(attributes, "ApplePlatformBundleID");
	job->host = sqsn_url_host(sqsn_mobile_base_url(job->mobile.platform));
	if (!sqsn_spi_bool(tuple, desc, 22))
	{
		job->unsendable = "the platform endpoint is disabled";
		return;
	}
	if (!sqsn_platform_open_credentials(
			&job->mobile.application_id,
			DatumGetTextPP(SPI_getbinval(tuple, desc, 25, &isnull)),
			&credential, &principal, &error))
	{
		job->error =
			psprintf("cannot open the application's credentials: %s", error);
		return;
	}
	job->mobile.credential = credential;
	job->mobile.principal = principal;
}

/*
 * Leases up to args->want due deliveries and builds their jobs; when fewer
 * were due, finds when the next one is.
 */
static bool
claim(void *arg)
{
	ClaimArgs *args = (ClaimArgs *) arg;
	Datum      values[2];
	bool       legacy = !sqsn_catalog_has(SQSN_CATALOG_FUNCTIONS);

	if (!leases_released)
	{
		/* the only delivery worker: leases of an earlier one are dead */
		sqsn_spi_check(
			SPI_execute("UPDATE sqsn.delivery SET leased_until = NULL"
						" WHERE leased_until IS NOT NULL"
						" AND status = 'pending'",
						false, 0),
			SPI_OK_UPDATE, "releasing delivery leases");
		leases_released = true;
	}

	values[0] = Int32GetDatum(args->want);
	values[1] = Int32GetDatum(sqsn_http_timeout_ms + LEASE_MARGIN_MS);
	sqsn_execute(
		legacy ? &legacy_claim_stmt
		: !sqsn_catalog_has(SQSN_CATALOG_DIRECT_SMS)
			? (sqsn_catalog_has(SQSN_CATALOG_SMS) ? &no_direct_sms_claim_stmt
												  : &no_sms_claim_stmt)
		: sqsn_catalog_has(SQSN_CATALOG_MOBILE) ? &claim_stmt
												: &no_mobile_claim_stmt,
		values, NULL, 0);

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple     tuple = SPI_tuptable->vals[i];
		TupleDesc     desc = SPI_tuptable->tupdesc;
		MemoryContext jobcxt = AllocSetContextCreate(
			args->cxt, "sqsn delivery", ALLOCSET_SMALL_SIZES);
		MemoryContext oldcxt = MemoryContextSwitchTo(jobcxt);
		Job          *job = palloc0(sizeof(Job));
		bool          isnull;
		char         *subscription_text;
		char         *subject;
		char         *message;
		Jsonb        *attributes;
		Jsonb        *sub_policy;
		Jsonb        *topic_policy;

		job->cxt = jobcxt;
		job->delivery_id = sqsn_spi_int64(tuple, desc, 1);
		job->subscription_id = SPI_getbinval(tuple, desc, 2, &isnull);
		job->direct = isnull; /* an SMS to a phone number */
		if (!job->direct)
			job->subscription_id =
				datumCopy(job->subscription_id, false, UUID_LEN);
		job->confirmation = strcmp(SPI_getvalue(tuple, desc, 3),
								   "SubscriptionConfirmation") == 0;
		job->message_id =
			datumCopy(SPI_getbinval(tuple, desc, 4, &isnull), false, UUID_LEN);
		job->message_id_text = SPI_getvalue(tuple, desc, 4);
		job->topic_arn = SPI_getvalue(tuple, desc, 5);
		job->attempt = sqsn_spi_int32(tuple, desc, 10);
		job->endpoint = SPI_getvalue(tuple, desc, 11);
		{
			const char *protocol = SPI_getvalue(tuple, desc, 18);

			job->kind = strcmp(protocol, "email") == 0         ? JOB_EMAIL
						: strcmp(protocol, "email-json") == 0  ? JOB_EMAIL_JSON
						: strcmp(protocol, "sms") == 0         ? JOB_SMS
						: strcmp(protocol, "application") == 0 ? JOB_MOBILE
															   : JOB_HTTP;
			job->opted_out =
				desc->natts >= 19 && sqsn_spi_bool(tuple, desc, 19);
		}
		if (job->kind == JOB_MOBILE)
			read_mobile_target(job, tuple, desc);
		else if (job->kind == JOB_HTTP)
			job->host = sqsn_url_host(job->endpoint);
		else if (job->kind == JOB_SMS)
			job->host =
				sqsn_sms_gateway() ? sqsn_url_host(sqsn_sms_gateway()) : NULL;
		else
			job->host =
				sqsn_email_relay() ? sqsn_url_host(sqsn_email_relay()) : NULL;
		job->raw = sqsn_spi_bool(tuple, desc, 12);
		sub_policy = sqsn_spi_jsonb(tuple, desc, 13);
		topic_policy = sqsn_spi_jsonb(tuple, desc, 14);
		job->dead_letter_queue = SPI_getvalue(tuple, desc, 15);
		job->owner = SPI_getvalue(tuple, desc, 17);
		subscription_text = SPI_getvalue(tuple, desc, 2);
		if (!job->direct)
			job->subscription_arn =
				psprintf("%s:%s", job->topic_arn, subscription_text);

		/* a stored policy that no longer parses falls back to the defaults */
		PG_TRY();
		{
			sqsn_effective_delivery_policy(sub_policy, topic_policy,
										   &job->policy);
		}
		PG_CATCH();
		{
			FlushErrorState();
			sqsn_default_delivery_policy(&job->policy);
		}
		PG_END_TRY();

		subject = SPI_getvalue(tuple, desc, 6);
		message = SPI_getvalue(tuple, desc, 7);
		attributes = sqsn_spi_jsonb(tuple, desc, 8);
		if (sqsn_is_sealed(attributes))
		{
			/*
			 * An encrypted topic's row, opened just before the POST. Without
			 * its key the row is left alone: it is claimed again when the
			 * lease runs out, and goes once the key is back.
			 */
			text *plain;
			int   sqlstate;
			char *error;

			if (!sqsn_open(
					'd', 0,
					job->direct ? NULL : DatumGetUUIDP(job->subscription_id),
					DatumGetUUIDP(job->message_id),
					DatumGetTextPP(SPI_getbinval(tuple, desc, 7, &isnull)),
					&plain, &attributes, &subject, &sqlstate, &error))
			{
				ereport(WARNING,
						(errcode(sqlstate),
						 errmsg("cannot decrypt push delivery " INT64_FORMAT
								" of message %s",
								job->delivery_id, job->message_id_text),
						 errdetail("%s.", error),
						 errhint("The delivery is retried when its lease "
								 "runs out; configure the master key it was "
								 "encrypted with.")));
				MemoryContextSwitchTo(oldcxt);
				MemoryContextDelete(jobcxt);
				continue;
			}
			message = text_to_cstring(plain);
		}
		job->trace_header = trace_header(attributes, &job->traceparent);
		build_body(job, subject, message, attributes,
				   sqsn_iso_timestamp(sqsn_spi_timestamptz(tuple, desc, 9)),
				   SPI_getvalue(tuple, desc, 16));
		MemoryContextSwitchTo(args->cxt);
		args->jobs = lappend(args->jobs, job);
		MemoryContextSwitchTo(oldcxt);
	}
	args->claimed = (int) SPI_processed;

	args->next_due = 0;
	if (args->claimed < args->want)
	{
		if (sqsn_execute(legacy ? &legacy_next_due_stmt : &next_due_stmt, NULL,
						 NULL, 0) > 0)
			args->next_due = sqsn_spi_timestamptz(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1);
	}
	return true;
}

/*
 * Puts a copy of the message into the subscription's dead-letter queue
 * (outbox.c); false (and the reason in the job) when that fails.
 */
static bool
send_to_dead_letter_queue(Job *job)
{
	SqsnDeadLetter dl;
	char          *error;

	dl.queue = job->dead_letter_queue;
	dl.owner = job->owner;
	dl.message_id = DatumGetUUIDP(job->message_id);
	dl.body = job->body;
	if (job->refused[0])
		dl.error_code = "EndpointRefused";
	else if (job->http_status > 0)
		dl.error_code = psprintf(
			"%sStatus%ld",
			job->kind == JOB_EMAIL || job->kind == JOB_EMAIL_JSON ? "Smtp"
																  : "Http",
			job->http_status);
	else
		dl.error_code = "ConnectionError";
	dl.error_message = job->error;
	dl.topic_arn = job->topic_arn;
	dl.subscription_arn = job->subscription_arn;
	dl.attempts = job->attempt;
	if (sqsn_outbox_dead_letter(&dl, &error))
		return true;
	job->error = psprintf("%s; %s", job->error, error);
	return false;
}

/*
 * Whether the relay rejected a mail for good: a 5xx reply to the sender,
 * the recipient or the data. A failed login or STARTTLS, or a relay that
 * wants authentication (530) or refuses it (535), is the relay's set-up,
 * not the mail's, and is retried.
 */
static bool
mail_rejected(Job *job)
{
	return (job->kind == JOB_EMAIL || job->kind == JOB_EMAIL_JSON) &&
		   job->http_status >= 500 && job->http_status < 600 &&
		   job->http_status != 530 && job->http_status != 535 &&
		   job->result != CURLE_LOGIN_DENIED &&
		   job->result != CURLE_USE_SSL_FAILED && !job->refused[0];
}

/* Decides what becomes of a finished job (not deferred). */
static void
decide(Job *job, TimestampTz now)
{
	double delay;

	if (job->error == NULL)
	{
		job->status = "delivered";
		return;
	}
	delay = mail_rejected(job) || job->permanent
				? -1
				: sqsn_retry_delay(&job->policy.retry, job->attempt, NULL);
	if (delay >= 0)
	{
		job->status = "pending";
		job->next_attempt_at = now + (TimestampTz) (delay * USECS_PER_SEC);
	}
	else if (job->dead_letter_queue && !job->confirmation && !job->opted_out &&
			 !job->disable && job->unsendable == NULL)
		job->status = "dead_lettered";
	else
		job->status = "failed";
}

/*
 * What a finished job's row says of it: the error; the HTTP status or the
 * SMTP reply; for an SMS, the gateway's message id, segments and type.
 */
static char *
result_text(Job *job)
{
	if (job->error)
		return job->error;
	if (job->kind == JOB_EMAIL || job->kind == JOB_EMAIL_JSON)
		return psprintf("SMTP reply %ld", job->http_status);
	if (job->kind == JOB_SMS)
	{
		Jsonb *answer = sqsn_json_or_null(job->answer, strlen(job->answer));
		JsonbValue *sid = NULL;

		if (answer && JB_ROOT_IS_OBJECT(answer))
			sid = getKeyJsonValueFromContainer(&answer->root, "sid", 3, NULL);
		return psprintf(
			"HTTP status %ld, sid %s, %d segment%s, %s", job->http_status,
			sid && sid->type == jbvString ? sqsn_jsonb_string(sid) : "(none)",
			job->segments, job->segments == 1 ? "" : "s",
			job->sms_type ? job->sms_type : "Transactional");
	}
	return psprintf("HTTP status %ld", job->http_status);
}

/*
 * Records the finished jobs: attempts, new states, dead-letter copies and
 * counters, in one transaction.
 */
static bool
record(void *arg)
{
	List       *jobs = (List *) arg;
	int         n = list_length(jobs);
	TimestampTz now = GetCurrentTimestamp();
	Datum      *ids = palloc(sizeof(Datum) * n);
	Datum      *statuses = palloc(sizeof(Datum) * n);
	Datum      *next_at = palloc(sizeof(Datum) * n);
	bool       *next_null = palloc(sizeof(bool) * n);
	Datum      *results = palloc(sizeof(Datum) * n);
	bool       *result_null = palloc(sizeof(bool) * n);
	Datum      *undo = palloc(sizeof(Datum) * n);
	Datum      *attempts = palloc(sizeof(Datum) * n);
	Datum      *msgids = palloc(sizeof(Datum) * n);
	Datum      *started = palloc(sizeof(Datum) * n);
	Datum      *http = palloc(sizeof(Datum) * n);
	bool       *http_null = palloc(sizeof(bool) * n);
	Datum      *latency = palloc(sizeof(Datum) * n);
	int         k = 0; /* attempts to insert */
	ListCell   *lc;
	int         i = 0;
	Datum       av[9];
	Datum       cv[2];
	Datum      *asub = palloc(sizeof(Datum) * n);
	bool       *asub_null = palloc(sizeof(bool) * n);
	Datum      *aerr = palloc(sizeof(Datum) * n);
	bool       *aerr_null = palloc(sizeof(bool) * n);
	Datum      *anext = palloc(sizeof(Datum) * n);
	bool       *anext_null = palloc(sizeof(bool) * n);
	Datum      *aids = palloc(sizeof(Datum) * n);
	Datum      *fsubs = palloc(sizeof(Datum) * n);
	Datum      *fstatus = palloc(sizeof(Datum) * n);
	int         f = 0;

	foreach (lc, jobs)
	{
		Job *job = lfirst(lc);

		if (!job->deferred)
			decide(job, now);
		if (strcmp(job->status, "dead_lettered") == 0 &&
			!send_to_dead_letter_queue(job))
			job->status = "failed";
		if (job->disable)
			sqsn_platform_disable_endpoint(&job->endpoint_id, job->error);

		ids[i] = Int64GetDatum(job->delivery_id);
		statuses[i] = CStringGetTextDatum(job->status);
		next_null[i] = strcmp(job->status, "pending") != 0;
		next_at[i] = TimestampTzGetDatum(job->next_attempt_at);
		result_null[i] = job->deferred;
		results[i] = CStringGetTextDatum(result_text(job));
		undo[i] = Int32GetDatum(job->deferred ? 1 : 0);
		i++;

		if (job->deferred)
			continue;
		if (!job->confirmation && !job->direct)
			sqsn_delivery_metrics_count(
				DatumGetUUIDP(job->subscription_id), job->error == NULL,
				job->attempt > 1,
				strcmp(job->status, "dead_lettered") == 0
					? PMETRIC_DEAD_LETTERED
				: strcmp(job->status, "failed") == 0 ? PMETRIC_DROPPED
													 : -1,
				job->latency_ms);
		aids[k] = Int64GetDatum(job->delivery_id);
		attempts[k] = Int32GetDatum(job->attempt);
		asub[k] = job->subscription_id;
		asub_null[k] = job->direct;
		msgids[k] = job->message_id;
		started[k] = TimestampTzGetDatum(job->started);
		http[k] = Int32GetDatum((int32) job->http_status);
		http_null[k] = job->http_status == 0;
		aerr[k] = job->error ? CStringGetTextDatum(job->error) : (Datum) 0;
		aerr_null[k] = job->error == NULL;
		latency[k] = Float8GetDatum(job->latency_ms);
		anext[k] = TimestampTzGetDatum(job->next_attempt_at);
		anext_null[k] = strcmp(job->status, "pending") != 0;
		k++;
		if (strcmp(job->status, "pending") != 0 && !job->direct)
		{
			fsubs[f] = job->subscription_id;
			fstatus[f] = CStringGetTextDatum(job->status);
			f++;
		}
	}

	for (int r = 0; r < n; r++)
	{
		Datum rv[5] = {ids[r], statuses[r], next_at[r], results[r], undo[r]};
		char  rn[5] = {' ', ' ', next_null[r] ? 'n' : ' ',
                      result_null[r] ? 'n' : ' ', ' '};

		sqsn_execute(&record_stmt, rv, rn, 0);
	}

	if (k > 0)
	{
		av[0] = sqsn_array_of(aids, NULL, k, INT8OID);
		av[1] = sqsn_array_of(attempts, NULL, k, INT4OID);
		av[2] = sqsn_array_of(asub, asub_null, k, UUIDOID);
		av[3] = sqsn_array_of(msgids, NULL, k, UUIDOID);
		av[4] = sqsn_array_of(started, NULL, k, TIMESTAMPTZOID);
		av[5] = sqsn_array_of(http, http_null, k, INT4OID);
		av[6] = sqsn_array_of(aerr, aerr_null, k, TEXTOID);
		av[7] = sqsn_array_of(latency, NULL, k, FLOAT8OID);
		av[8] = sqsn_array_of(anext, anext_null, k, TIMESTAMPTZOID);
		sqsn_execute(&attempt_stmt, av, NULL, 0);
	}
	if (f > 0)
	{
		cv[0] = sqsn_array_of(fsubs, NULL, f, UUIDOID);
		cv[1] = sqsn_array_of(fstatus, NULL, f, TEXTOID);
		sqsn_execute(&counter_stmt, cv, NULL, 0);
	}
	return true;
}

/* Bounded cleanup of the outbox; one transaction. */
static bool
cleanup(void *arg)
{
	Oid   argtypes[2] = {INT4OID, INT4OID};
	Datum values[2];

	values[0] = Int32GetDatum(sqsn_delivery_retention);
	values[1] = Int32GetDatum(sqsn_retention_batch_size);
	sqsn_spi_check(SPI_execute_with_args(
					   "DELETE FROM sqsn.delivery WHERE delivery_id IN ("
					   " SELECT delivery_id FROM sqsn.delivery"
					   " WHERE status = 'delivered'"
					   "  AND finished_at <= now() - $1 * interval '1 second'"
					   " ORDER BY finished_at LIMIT $2)",
					   2, argtypes, values, NULL, false, 0),
				   SPI_OK_DELETE, "cleaning up sqsn.delivery");
	sqsn_spi_check(
		SPI_execute_with_args(
			"DELETE FROM sqsn.delivery_attempt WHERE (delivery_id, attempt) "
			"IN ("
			" SELECT a.delivery_id, a.attempt FROM sqsn.delivery_attempt a"
			" WHERE a.attempted_at <= now() - $1 * interval '1 second'"
			"  AND NOT EXISTS (SELECT FROM sqsn.delivery d"
			"   WHERE d.delivery_id = a.delivery_id AND d.status = 'pending')"
			" LIMIT $2)",
			2, argtypes, values, NULL, false, 0),
		SPI_OK_DELETE, "cleaning up sqsn.delivery_attempt");
	sqsn_spi_check(
		SPI_execute(
			"DELETE FROM sqsn.subscription_counter c WHERE NOT EXISTS ("
			" SELECT FROM sqsn.subscription s"
			" WHERE s.subscription_id = c.subscription_id)",
			false, 0),
		SPI_OK_DELETE, "cleaning up sqsn.subscription_counter");
	values[0] = Int32GetDatum(PENDING_SUBSCRIPTION_SECONDS);
	sqsn_spi_check(
		SPI_execute_with_args(
			"DELETE FROM sqsn.subscription WHERE subscription_id IN ("
			" SELECT subscription_id FROM sqsn.subscription"
			" WHERE NOT confirmed AND created_at <= now() - $1 * interval '1 "
			"second'"
			" LIMIT $2)",
			2, argtypes, values, NULL, false, 0),
		SPI_OK_DELETE, "removing unconfirmed subscriptions");
	return true;
}

/* Worker: main loop ------------------------------------------------------ */

static void
release_jobs(List *jobs)
{
	ListCell *lc;

	foreach (lc, jobs)
		MemoryContextDelete(((Job *) lfirst(lc))->cxt);
}

/*
 * Entry point of the delivery worker process.
 */
void
sqsn_delivery_main(Datum main_arg)
{
	MemoryContext jobscxt;
	MemoryContext loopcxt;
	HASHCTL       ctl;
	uint64        seen_seq = 0;
	TimestampTz   next_claim = 0;
	TimestampTz   last_cleanup = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (!sqsn_outbox_attach(MyLatch))
		elog(ERROR, "sqsn delivery worker started without its shared memory");
	before_shmem_exit(delivery_exit, (Datum) 0);

	BackgroundWorkerInitializeConnection(sqsn_database_name, NULL, 0);
	pgstat_report_appname("sqsn delivery worker");

	configured_synchronous_commit =
		pstrdup(GetConfigOption("synchronous_commit", false, false));

	/*
	 * The worker's plans are generic (saved) and must not depend on the
	 * backlog. The claim must walk the due index in order: with a large
	 * backlog the planner prefers a bitmap scan and a sort of every pending row, which
	 * costs O(backlog) per claim and never marks the index entries of
	 * finished rows dead. An index scan stops after the rows it needs and
	 * kills those entries as it passes them.
	 */
	SetConfigOption("enable_bitmapscan", "off", PGC_USERSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_seqscan", "off", PGC_USERSET, PGC_S_OVERRIDE);

	/* short statements: compiling them would cost more than running them */
	SetConfigOption("jit", "off", PGC_USERSET, PGC_S_OVERRIDE);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
		(multi = curl_multi_init()) == NULL)
		elog(ERROR, "could not initialise libcurl");
	/*
	 * At most sqsn.http_max_concurrency connections, open or cached. The
	 * sockets are not counted by fd.c, so the worker raises its soft limit
	 * of open files to the hard one: they must not eat into the files the
	 * server side of this process may open.
	 */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS,
					  (long) sqsn_http_max_concurrency);
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
					  (long) sqsn_http_max_concurrency);
	{
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
		{
			rl.rlim_cur = rl.rlim_max;
			(void) setrlimit(RLIMIT_NOFILE, &rl);
		}
	}

	jobscxt = AllocSetContextCreate(TopMemoryContext, "sqsn delivery jobs",
									ALLOCSET_DEFAULT_SIZES);
	loopcxt = AllocSetContextCreate(TopMemoryContext, "sqsn delivery loop",
									ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(pg_uuid_t);
	ctl.entrysize = sizeof(ThrottleEntry);
	ctl.hcxt = TopMemoryContext;
	throttle = hash_create("sqsn delivery throttle", 256, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	ereport(LOG, (errmsg("sqsn delivery worker started in database \"%s\"",
						 sqsn_database_name)));
	(void) sqsn_signing_available();

	for (;;)
	{
		TimestampTz now;
		int         poll = sqsn_poll_interval;
		uint64      seq;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(loopcxt);
		MemoryContextSwitchTo(loopcxt);

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			(void) sqsn_signing_available();
		}

		now = GetCurrentTimestamp();
		if (now - last_cleanup >= (TimestampTz) poll * 1000)
		{
			(void) run_in_xact("sqsn delivery worker: cleaning up", cleanup,
							   NULL, false);
			forget_past_throttles(now);
			last_cleanup = now;
		}

		seq = sqsn_outbox_publish_seq();
		/* claim when idle, or when a quarter of the slots is free */
		if (sqsn_delivery_enabled &&
			(in_flight == 0 || sqsn_http_max_concurrency - in_flight >=
								   Max(1, sqsn_http_max_concurrency / 4)) &&
			(seq != seen_seq || now >= next_claim))
		{
			ClaimArgs args;
			ListCell *lc;

			seen_seq = seq;
			memset(&args, 0, sizeof(args));
			args.want = sqsn_http_max_concurrency - in_flight;
			args.cxt = jobscxt;
			(void) sqsn_signing_available();
			if (!run_in_xact("sqsn delivery worker: claiming", claim, &args,
							 false))
			{
				release_jobs(args.jobs);
				list_free(args.jobs);
				args.jobs = NIL;
				args.claimed = 0;
				args.next_due = 0;
			}
			foreach (lc, args.jobs)
				start_job((Job *) lfirst(lc));
			/* the jobs live on in their own contexts; the list does not */
			list_free(args.jobs);
			now = GetCurrentTimestamp();
			if (args.claimed >= args.want)
				next_claim = now;
			else
			{
				next_claim = now + (TimestampTz) poll * 1000;
				if (args.next_due != 0 && args.next_due < next_claim)
					next_claim = args.next_due;
			}
		}

		if (in_flight > 0)
		{
			int running;

			int timeout = LOOP_POLL_MS;

			curl_multi_perform(multi, &running);
			collect_done();
			if (finished != NIL)
				timeout =
					RECORD_DELAY_MS -
					(int) ((GetCurrentTimestamp() - first_finished_at) / 1000);
			if (in_flight > 0 && timeout > 0 &&
				list_length(finished) < RECORD_BATCH)
			{
				curl_multi_poll(multi, NULL, 0, Min(timeout, LOOP_POLL_MS),
								NULL);
				curl_multi_perform(multi, &running);
				collect_done();
			}
		}

		/*
		 * Outcomes are recorded in batches: when nothing is in flight any
		 * more, RECORD_BATCH are waiting, or the oldest waited
		 * RECORD_DELAY_MS.
		 */
		if (finished != NIL &&
			(in_flight == 0 || list_length(finished) >= RECORD_BATCH ||
			 GetCurrentTimestamp() - first_finished_at >=
				 RECORD_DELAY_MS * 1000))
		{
			List *done = finished;

			finished = NIL;
			(void) run_in_xact("sqsn delivery worker: recording", record, done,
							   true);
			release_jobs(done);
			list_free(done);
			continue;
		}

		if (in_flight == 0)
		{
			long timeout;

			now = GetCurrentTimestamp();
			timeout = (long) ((next_claim - now) / 1000);
			if (timeout > poll)
				timeout = poll;
			if (!sqsn_delivery_enabled)
				timeout = poll;
			if (timeout > 0)
			{
				/* say we are idle, then look at the counter once more */
				sqsn_outbox_set_idle(true);
				if (sqsn_outbox_publish_seq() == seen_seq)
					(void) WaitLatch(MyLatch,
									 WL_LATCH_SET | WL_TIMEOUT |
										 WL_EXIT_ON_PM_DEATH,
									 timeout, PG_WAIT_EXTENSION);
				sqsn_outbox_set_idle(false);
				ResetLatch(MyLatch);
			}
		}
		else if (!PostmasterIsAlive())
			proc_exit(1);
	}
}
