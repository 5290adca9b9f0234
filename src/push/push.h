/*-------------------------------------------------------------------------
 *
 * push.h
 *	  Push delivery to HTTP/HTTPS subscriptions: the outbox a publish
 *	  writes into, the envelopes subscribers receive, the delivery worker
 *	  that POSTs them, delivery policies, signatures and the SSRF guard.
 *
 *	  outbox.c           sqsn.delivery: rows a publish or subscribe writes,
 *	                     the wake-up at commit, dead-letter copies, the
 *	                     checks of endpoint URLs and consumer functions
 *	  envelope.c         the JSON envelopes of notifications and
 *	                     subscription confirmations
 *	  push_worker.c      the delivery worker (libcurl multi)
 *	  delivery_policy.c  retry schedules and throttling; the invocation
 *	                     policy of function subscriptions
 *	  signing.c          SignatureVersion 2 signatures of envelopes
 *	  ssrf.c             sqsn.http_allowed_hosts: where push may connect
 *	  email.c            email and email-json subscriptions: addresses,
 *	                     the MIME mail, the SMTP relay settings
 *	  sms.c              sms subscriptions and SMS to a phone number
 *	                     (sn_publish_sms): E.164 numbers, the opt-out
 *	                     list, the SMS gateway's form POST
 *	  platform.c         mobile push: platform applications and
 *	                     endpoints, their sealed credentials
 *	  mobile.c           mobile push: the requests to FCM and APNs, their
 *	                     JWTs and access tokens, the providers' answers
 *	  delivery_metrics.c counters of POSTs per subscription in shared
 *	                     memory (outcomes, retries, latency histogram)
 *
 *-------------------------------------------------------------------------
 */
#ifndef SQSN_PUSH_H
#define SQSN_PUSH_H

#include "queue/queue.h"

#include "storage/latch.h"

struct sockaddr;
struct curl_slist;

/*
 * The fields of a notification or confirmation envelope (envelope.c);
 * NULL fields are left out.
 */
typedef struct SqsnEnvelope
{
	const char *type; /* "Notification", "SubscriptionConfirmation" */
	const char *message_id;
	const char *sequence_number; /* notifications of FIFO topics */
	const char *token;           /* confirmations */
	const char *topic_arn;
	const char *subject; /* notifications */
	const char *message;
	const char *subscribe_url; /* confirmations */
	const char *timestamp;
	const char *signature_version; /* sqsn_sign_envelope: "2" */
	const char *signature;         /* sqsn_sign_envelope */
	const char *signing_cert_url;  /* sqsn_sign_envelope */
	const char *unsubscribe_url;   /* notifications pushed to a URL */
	Jsonb      *attributes;        /* notifications */
	bool        replayed;          /* replayed from a FIFO topic's archive */
} SqsnEnvelope;

/*
 * A notification that could not be delivered, on its way to its
 * subscription's dead-letter queue (outbox.c).
 */
typedef struct SqsnDeadLetter
{
	const char *queue; /* the dead-letter queue */
	const char *
		owner; /* the subscription's owner, who must be allowed to send there */
	pg_uuid_t  *message_id;
	const char *body; /* what the subscriber would have received */
	const char *error_code;
	const char *error_message;
	const char *topic_arn;
	const char *subscription_arn;
	int         attempts;
} SqsnDeadLetter;

/*
 * How a function subscription is invoked (delivery_policy.c): retries of a
 * failed invocation, the age after which an event is no longer invoked,
 * and the time one invocation may take.
 */
typedef struct SqsnFunctionPolicy
{
	int maximum_retry_attempts; /* 0..2 */
	int maximum_event_age;      /* seconds */
	int timeout;                /* seconds */
} SqsnFunctionPolicy;

/* delivery_policy.c */
typedef enum SqsnBackoff
{
	SQSN_BACKOFF_LINEAR,
	SQSN_BACKOFF_ARITHMETIC,
	SQSN_BACKOFF_GEOMETRIC,
	SQSN_BACKOFF_EXPONENTIAL
} SqsnBackoff;

typedef struct SqsnRetryPolicy
{
	int         min_delay; /* seconds */
	int         max_delay; /* seconds */
	int         num_retries;
	int         num_no_delay;
	int         num_min_delay;
	int         num_max_delay;
	SqsnBackoff backoff;
} SqsnRetryPolicy;

typedef struct SqsnDeliveryPolicy
{
	SqsnRetryPolicy retry;
	int             max_receives_per_second; /* 0: unthrottled */
	char            content_type[64];
} SqsnDeliveryPolicy;

extern void   sqsn_default_delivery_policy(SqsnDeliveryPolicy *policy);
extern void   sqsn_validate_delivery_policy(Jsonb *policy, bool topic_form);
extern void   sqsn_effective_delivery_policy(Jsonb *subscription_policy,
											 Jsonb *topic_policy,
											 SqsnDeliveryPolicy *policy);
extern Jsonb *sqsn_effective_delivery_policy_json(Jsonb *subscription_policy,
												  Jsonb *topic_policy,
												  bool   topic_form);
extern double sqsn_retry_delay(const SqsnRetryPolicy *retry, int n,
							   const char **phase);
extern void   sqsn_function_policy(Jsonb *policy, SqsnFunctionPolicy *result);
extern Jsonb *sqsn_function_policy_json(Jsonb *policy);

/* outbox.c */
extern void OutboxInit(void);
extern void sqsn_outbox_confirmation(Datum       subscription_id,
									 const char *topic_name);
extern void sqsn_outbox_notification(
	Datum subscription_id, pg_uuid_t *message_id, const char *topic_arn,
	const char *subject, text *message, Jsonb *attributes,
	TimestampTz published_at, bool encrypted, bool function);
extern void   sqsn_outbox_sms(const char *phone_number, pg_uuid_t *message_id,
							  text *message, Jsonb *attributes,
							  TimestampTz published_at, bool encrypted);
extern void   sqsn_outbox_endpoint_notification(pg_uuid_t  *endpoint_id,
												pg_uuid_t  *message_id,
												const char *endpoint_arn,
												const char *subject,
												text *message, Jsonb *attributes,
												TimestampTz published_at);
extern void   sqsn_outbox_wake(void);
extern bool   sqsn_outbox_attach(Latch *latch);
extern void   sqsn_outbox_set_idle(bool idle);
extern uint64 sqsn_outbox_publish_seq(void);
extern bool   sqsn_outbox_attach_functions(Latch *latch);
extern uint64 sqsn_outbox_function_seq(void);
extern bool   sqsn_outbox_dead_letter(const SqsnDeadLetter *dl, char **error);
extern Oid    sqsn_consumer_function_oid(const char *signature);
extern char  *sqsn_check_consumer_function(Oid fnoid, bool jsonb_result);
extern char  *sqsn_url_host(const char *url);
extern char *sqsn_validate_endpoint_url(const char *protocol, const char *url);
extern bool  sqsn_auto_confirm_host(const char *host);

/* envelope.c */
extern char *sqsn_envelope_json(const SqsnEnvelope *envelope);
extern char *sqsn_envelope_string_to_sign(const SqsnEnvelope *envelope);
extern char *sqsn_envelope_link(const char *action, const char *arn_param,
								const char *arn, const char *token);

/* delivery_metrics.c: counters per subscription */
enum
{
	PMETRIC_DELIVERED,       /* POSTs answered 2xx */
	PMETRIC_FAILED_ATTEMPTS, /* POSTs that failed */
	PMETRIC_RETRIES,         /* POSTs after the first of a delivery */
	PMETRIC_DEAD_LETTERED,   /* deliveries given up, copied to the DLQ */
	PMETRIC_DROPPED,         /* deliveries given up without a DLQ */
	PMETRIC_LATENCY_SUM_US,  /* microseconds over every POST */
	PMETRIC_LATENCY_BUCKET,  /* SQSN_DURATION_BUCKETS counts follow */
	PMETRIC_COUNT = PMETRIC_LATENCY_BUCKET + SQSN_DURATION_BUCKETS
};
extern void         DeliveryMetricsInit(void);
extern void sqsn_delivery_metrics_count(const pg_uuid_t *subscription_id,
										bool delivered, bool retry, int final,
										double latency_ms);
extern bool sqsn_delivery_metrics_read(const pg_uuid_t *subscription_id,
									   uint64          *values);
extern void sqsn_delivery_metrics_forget(const pg_uuid_t *subscription_id);
extern bool sqsn_delivery_metrics_usage(int *used, int *nslots,
										uint64 *overflow);

/* push_worker.c */
extern void PushInit(void);

/* email.c */
#define SQSN_EMAIL_DEFAULT_SUBJECT "sqsn Notification Message"
extern void        EmailInit(void);
extern char       *sqsn_email_address_problem(const char *addr);
extern void        sqsn_validate_email_address(const char *addr);
extern char       *sqsn_email_message(const char *to, const char *subject,
									  const char *body, const char *message_id,
									  TimestampTz date);
extern const char *sqsn_email_from(void);
extern const char *sqsn_email_relay(void);
extern char       *sqsn_email_setup(void *handle, const char *recipient,
									struct curl_slist **rcpt);
extern char       *sqsn_read_credentials(const char *path, const char *what,
										 char **error);

/* sms.c */
#define SQSN_SMS_SENDER_ID_ATTRIBUTE "AWS.SNS.SMS.SenderID"
#define SQSN_SMS_TYPE_ATTRIBUTE      "AWS.SNS.SMS.SMSType"
extern void        SmsInit(void);
extern bool        sqsn_is_e164(const char *number);
extern void        sqsn_validate_phone_number(const char *number);
extern int         sqsn_sms_segments(const char *message);
extern const char *sqsn_sms_gateway(void);
extern char *sqsn_sms_setup(void *handle, const char *to, const char *sender,
							const char *message, char **form);

/* platform.c */
struct evp_pkey_st; /* OpenSSL's EVP_PKEY */
extern struct evp_pkey_st *sqsn_load_private_key(const char *pem);
extern char               *sqsn_json_member(Jsonb *obj, const char *key);
extern char *sqsn_platform_endpoint_arn(const char *platform, const char *name,
										const char *endpoint_id);
extern bool  sqsn_is_platform_endpoint_arn(const char *arn);
extern pg_uuid_t *sqsn_platform_target(const char *arn, bool must_be_enabled,
									   char **platform);
extern text      *sqsn_platform_payload(const char *platform, text *message,
										const char *structure);
extern bool sqsn_platform_open_credentials(const pg_uuid_t *id, text *sealed,
										   char **credential, char **principal,
										   char **error);
extern void sqsn_platform_disable_endpoint(const pg_uuid_t *endpoint_id,
										   const char      *reason);

/* mobile.c: what a push to a device needs from its endpoint */
typedef struct SqsnMobileTarget
{
	const char *platform; /* GCM, APNS, APNS_SANDBOX */
	const char *token;    /* the device token */
	pg_uuid_t   application_id;
	const char *credential; /* PlatformCredential, opened */
	const char *principal;  /* PlatformPrincipal, or NULL */
	const char *team_id;    /* APNs: ApplePlatformTeamID */
	const char *bundle_id;  /* APNs: ApplePlatformBundleID */
} SqsnMobileTarget;

/* what a provider's answer (not 2xx) means */
typedef enum SqsnMobileOutcome
{
	MOBILE_RETRY,           /* 429, 5xx, no answer */
	MOBILE_RETRY_NEW_TOKEN, /* the bearer token was refused */
	MOBILE_INVALID_TOKEN,   /* the device token: disable the endpoint */
	MOBILE_REJECTED         /* other 4xx: fails for good */
} SqsnMobileOutcome;

extern void        MobileInit(void);
extern const char *sqsn_mobile_base_url(const char *platform);
extern char *
sqsn_mobile_setup(void *handle, const SqsnMobileTarget *target,
				  const char *payload, const char *message_id,
				  void (*configure)(void *easy, void *arg, const char *host),
				  void *arg, struct curl_slist **headers, char **body);
extern SqsnMobileOutcome sqsn_mobile_outcome(const char *platform, long status,
											 const char *answer);
extern void sqsn_mobile_forget_token(const pg_uuid_t *application_id);

/* ssrf.c */
extern bool sqsn_host_pattern_matches(const char *list, const char *host);
extern bool sqsn_address_allowed(const char *list, const char *host,
								 const struct sockaddr *addr, char *why,
								 size_t whylen);

/* signing.c */
extern void SigningInit(void);
extern bool sqsn_signing_available(void);
extern void sqsn_sign_envelope(SqsnEnvelope *envelope);

#endif /* SQSN_PUSH_H */
