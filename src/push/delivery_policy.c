/*-------------------------------------------------------------------------
 *
 * delivery_policy.c
 *	  Delivery policies of HTTP/HTTPS subscriptions: validation, the
 *	  effective policy of a subscription, and the retry schedule.
 *
 * A subscription's policy has the managed service's subscription form,
 *
 *	  {"healthyRetryPolicy": {...}, "throttlePolicy": {"maxReceivesPerSecond": n},
 *	   "requestPolicy": {"headerContentType": "application/json"}}
 *
 * and a topic's default the topic form, {"http": {"defaultHealthyRetryPolicy":
 * {...}, "defaultThrottlePolicy": {...}, "defaultRequestPolicy": {...},
 * "disableSubscriptionOverrides": false}}. Every section is optional; what a
 * policy leaves out comes from the topic's default, then from the service's
 * defaults (3 retries 20 s apart, linear, unthrottled, text/plain). A
 * subscription's section replaces the topic's section as a whole, unless the
 * topic disables subscription overrides.
 *
 * The retry schedule (sqsn_retry_delay) has four phases, in this order:
 * numNoDelayRetries immediate retries, numMinDelayRetries retries
 * minDelayTarget apart, the backoff phase, and numMaxDelayRetries retries
 * maxDelayTarget apart; numRetries counts them all, and the backoff phase
 * gets what the other three leave. Backoff retry j of B goes from
 * minDelayTarget (j = 1) to maxDelayTarget (j = B) along the policy's curve,
 * with t = (j - 1) / (B - 1):
 *
 *	  linear		min + (max - min) * t
 *	  arithmetic	min + (max - min) * t^2	(the steps grow arithmetically)
 *	  geometric		min * (max / min)^t		(each delay a constant multiple
 *											 of the one before)
 *	  exponential	min + (max - min) * (2^(10 t) - 1) / (2^10 - 1)
 *
 * The managed service adds jitter; sqsn does not, so tests can check the
 * timing. Limits are the service's: numRetries 0..100, minDelayTarget
 * 1..maxDelayTarget, maxDelayTarget ..3600, the phase counts at least 0 and
 * together at most numRetries, the whole schedule at most 3600 s,
 * maxReceivesPerSecond at least 1.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "push/push.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(sn_delivery_retry_schedule);

#define MAX_RETRIES      100
#define MAX_DELAY_TARGET 3600
#define MAX_SCHEDULE     3600

static const char *const backoff_names[] = {"linear", "arithmetic",
											"geometric", "exponential"};

static const char *const content_types[] = {"text/plain", "application/json",
											"application/xml", "text/xml",
											"text/html"};

/* The whole-number fields of healthyRetryPolicy, and their bounds. */
static const struct
{
	const char *name;
	int         min;
	int         max;
	size_t      offset; /* of the int in SqsnRetryPolicy */
} retry_fields[] = {
	{"minDelayTarget", 1, MAX_DELAY_TARGET,
	 offsetof(SqsnRetryPolicy, min_delay)},
	{"maxDelayTarget", 1, MAX_DELAY_TARGET,
	 offsetof(SqsnRetryPolicy, max_delay)},
	{"numRetries", 0, MAX_RETRIES, offsetof(SqsnRetryPolicy, num_retries)},
	{"numNoDelayRetries", 0, MAX_RETRIES,
	 offsetof(SqsnRetryPolicy, num_no_delay)},
	{"numMinDelayRetries", 0, MAX_RETRIES,
	 offsetof(SqsnRetryPolicy, num_min_delay)},
	{"numMaxDelayRetries", 0, MAX_RETRIES,
	 offsetof(SqsnRetryPolicy, num_max_delay)},
};

pg_noreturn static void invalid_delivery_policy(const char *detail,
												const char *hint);

static void
invalid_delivery_policy(const char *detail, const char *hint)
{
	sqsn_invalid_policy("delivery", detail, hint);
}

/* A whole number in min..max, as a JSON number or a string of digits. */
static int
policy_int(JsonbValue *v, const char *key, int min, int max)
{
	int32 value;

	if (!sqsn_jsonb_int(v, min, max, &value))
		invalid_delivery_policy(
			psprintf("%s must be a whole number from %d to %d.", key, min,
					 max),
			NULL);
	return value;
}

/*
 * One of n names, as a string: its index. Another string is an error
 * saying that the value "is <what>", with hint.
 */
static int
policy_choice(JsonbValue *v, const char *key, const char *const *names, int n,
			  const char *what, const char *hint)
{
	char *name;

	if (v->type != jbvString)
		invalid_delivery_policy(psprintf("%s must be a string.", key), NULL);
	name = sqsn_jsonb_string(v);
	for (int i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	invalid_delivery_policy(psprintf("%s \"%s\" is %s.", key, name, what),
							hint);
}

/* The service's defaults for HTTP/HTTPS endpoints. */
void
sqsn_default_delivery_policy(SqsnDeliveryPolicy *policy)
{
	memset(policy, 0, sizeof(SqsnDeliveryPolicy));
	policy->retry.min_delay = 20;
	policy->retry.max_delay = 20;
	policy->retry.num_retries = 3;
	policy->retry.backoff = SQSN_BACKOFF_LINEAR;
	policy->max_receives_per_second = 0;
	strlcpy(policy->content_type, "text/plain; charset=UTF-8",
			sizeof(policy->content_type));
}

/* Total seconds of a retry schedule. */
static double
schedule_total(const SqsnRetryPolicy *retry)
{
	double total = 0;

	for (int i = 1; i <= retry->num_retries; i++)
		total += sqsn_retry_delay(retry, i, NULL);
	return total;
}

/*
 * Reads a healthyRetryPolicy object over the defaults and checks it.
 */
static void
parse_retry_policy(JsonbContainer *obj, SqsnRetryPolicy *retry)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue     v;
	char          *key = NULL;
	double         total;

	retry->min_delay = 20;
	retry->max_delay = 20;
	retry->num_retries = 3;
	retry->num_no_delay = 0;
	retry->num_min_delay = 0;
	retry->num_max_delay = 0;
	retry->backoff = SQSN_BACKOFF_LINEAR;

	while (sqsn_jsonb_next_pair(&it, &key, &v))
	{
		int i;

		for (i = 0; i < lengthof(retry_fields); i++)
			if (strcmp(key, retry_fields[i].name) == 0)
				break;
		if (i < lengthof(retry_fields))
			*(int *) ((char *) retry + retry_fields[i].offset) =
				policy_int(&v, key, retry_fields[i].min, retry_fields[i].max);
		else if (strcmp(key, "backoffFunction") == 0)
			retry->backoff = (SqsnBackoff) policy_choice(
				&v, key, backoff_names, lengthof(backoff_names), "not known",
				"Use linear, arithmetic, geometric or exponential.");
		else
			invalid_delivery_policy(
				psprintf("healthyRetryPolicy has no field \"%s\".", key),
				"Its fields are minDelayTarget, maxDelayTarget, "
				"numRetries, numNoDelayRetries, numMinDelayRetries, "
				"numMaxDelayRetries and backoffFunction.");
	}

	if (retry->min_delay > retry->max_delay)
		invalid_delivery_policy(psprintf("minDelayTarget (%d) is greater than "
										 "maxDelayTarget (%d).",
										 retry->min_delay, retry->max_delay),
								NULL);
	if (retry->num_no_delay + retry->num_min_delay + retry->num_max_delay >
		retry->num_retries)
		invalid_delivery_policy(
			psprintf("numNoDelayRetries, numMinDelayRetries and "
					 "numMaxDelayRetries add up to %d, more than "
					 "numRetries (%d).",
					 retry->num_no_delay + retry->num_min_delay +
						 retry->num_max_delay,
					 retry->num_retries),
			NULL);
	total = schedule_total(retry);
	if (total > MAX_SCHEDULE)
		invalid_delivery_policy(
			psprintf("The retries take %.0f seconds in all; the limit "
					 "is %d.",
					 total, MAX_SCHEDULE),
			"Lower numRetries or the delay targets.");
}

/*
 * Reads throttlePolicy or requestPolicy, the sections of one field each
 * (maxReceivesPerSecond, headerContentType), over the defaults.
 */
static void
parse_one_field_section(JsonbContainer *obj, const char *section,
						SqsnDeliveryPolicy *policy)
{
	bool        throttle = strcmp(section, "throttlePolicy") == 0;
	const char *field =
		throttle ? "maxReceivesPerSecond" : "headerContentType";
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue     v;
	char          *key = NULL;

	if (throttle)
		policy->max_receives_per_second = 0;
	while (sqsn_jsonb_next_pair(&it, &key, &v))
	{
		if (strcmp(key, field) != 0)
			invalid_delivery_policy(
				psprintf("%s has no field \"%s\".", section, key),
				psprintf("Its field is %s.", field));
		else if (throttle)
			policy->max_receives_per_second =
				policy_int(&v, key, 1, PG_INT32_MAX);
		else
			snprintf(policy->content_type, sizeof(policy->content_type),
					 "%s; charset=UTF-8",
					 content_types[policy_choice(
						 &v, key, content_types, lengthof(content_types),
						 "not supported",
						 "Use text/plain, application/json, "
						 "application/xml, text/xml or text/html.")]);
	}
}

/*
 * Applies the sections of a subscription-form policy (healthyRetryPolicy,
 * throttlePolicy, requestPolicy) or, with topic_form, of the "http" object
 * of a topic-form policy (the same sections with a "default" prefix) onto
 * policy. Errors on anything invalid. Returns disableSubscriptionOverrides.
 */
static bool
apply_policy(JsonbContainer *obj, bool topic_form, SqsnDeliveryPolicy *policy)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue     v;
	char          *key = NULL;
	bool           disable = false;
	const char    *prefix = topic_form ? "default" : "";

	while (sqsn_jsonb_next_pair(&it, &key, &v))
	{
		const char *name = key;

		if (topic_form && strcmp(key, "disableSubscriptionOverrides") == 0)
		{
			if (v.type != jbvBool)
				invalid_delivery_policy(
					"disableSubscriptionOverrides must be true or "
					"false.",
					NULL);
			disable = v.val.boolean;
			continue;
		}
		if (topic_form)
		{
			if (strncmp(key, prefix, strlen(prefix)) != 0)
				name = "";
			else
			{
				static char buf[64];

				/* defaultHealthyRetryPolicy -> healthyRetryPolicy */
				strlcpy(buf, key + strlen(prefix), sizeof(buf));
				buf[0] = pg_ascii_tolower((unsigned char) buf[0]);
				name = buf;
			}
		}
		if (strcmp(name, "healthyRetryPolicy") == 0 ||
			strcmp(name, "throttlePolicy") == 0 ||
			strcmp(name, "requestPolicy") == 0)
		{
			if (v.type == jbvNull)
				continue;
			if (!sqsn_jsonb_is_object(&v))
				invalid_delivery_policy(
					psprintf("%s must be a JSON object.", key), NULL);
			if (name[0] == 'h')
				parse_retry_policy(v.val.binary.data, &policy->retry);
			else
				parse_one_field_section(v.val.binary.data, name, policy);
		}
		else if (topic_form)
			invalid_delivery_policy(
				psprintf("The \"http\" policy of a topic has no field "
						 "\"%s\".",
						 key),
				"Its fields are defaultHealthyRetryPolicy, "
				"defaultThrottlePolicy, defaultRequestPolicy and "
				"disableSubscriptionOverrides.");
		else
			invalid_delivery_policy(
				psprintf("A subscription's delivery policy has no "
						 "field \"%s\".",
						 key),
				"Its fields are healthyRetryPolicy, throttlePolicy "
				"and requestPolicy.");
	}
	return disable;
}

/* The "http" object of a topic-form policy, or NULL. */
static JsonbContainer *
topic_http_policy(Jsonb *policy)
{
	JsonbValue *http;

	if (policy == NULL)
		return NULL;
	http = getKeyJsonValueFromContainer(&policy->root, "http", 4, NULL);
	if (http == NULL || http->type == jbvNull)
		return NULL;
	if (!sqsn_jsonb_is_object(http))
		invalid_delivery_policy("The \"http\" field must be a JSON object.",
								NULL);
	return http->val.binary.data;
}

/*
 * Checks a delivery policy: the subscription form, or with topic_form the
 * topic form. A JSON null or {} means "no policy" and passes.
 */
void
sqsn_validate_delivery_policy(Jsonb *policy, bool topic_form)
{
	SqsnDeliveryPolicy p;

	if (!JB_ROOT_IS_OBJECT(policy) || JB_ROOT_IS_SCALAR(policy))
		invalid_delivery_policy(
			"A delivery policy is a JSON object.",
			topic_form
				? "Write {\"http\": {\"defaultHealthyRetryPolicy\": {...}}}."
				: "Write {\"healthyRetryPolicy\": {...}}.");
	sqsn_default_delivery_policy(&p);
	if (topic_form)
	{
		JsonbIterator     *it = JsonbIteratorInit(&policy->root);
		JsonbIteratorToken tok;
		JsonbValue         v;
		JsonbContainer    *http;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_KEY && !(v.val.string.len == 4 &&
									strncmp(v.val.string.val, "http", 4) == 0))
				invalid_delivery_policy(
					psprintf("A topic's delivery policy has no field "
							 "\"%.*s\".",
							 v.val.string.len, v.val.string.val),
					"Its only field is \"http\".");
		http = topic_http_policy(policy);
		if (http != NULL)
			(void) apply_policy(http, true, &p);
	}
	else
		(void) apply_policy(&policy->root, false, &p);
}

/*
 * The policy a delivery follows: the service defaults, the topic's
 * defaults over them, the subscription's sections over those (unless the
 * topic disables overrides). Both policies were validated when stored.
 */
void
sqsn_effective_delivery_policy(Jsonb *subscription_policy, Jsonb *topic_policy,
							   SqsnDeliveryPolicy *policy)
{
	JsonbContainer *http = topic_http_policy(topic_policy);
	bool            disable = false;

	sqsn_default_delivery_policy(policy);
	if (http != NULL)
		disable = apply_policy(http, true, policy);
	if (subscription_policy != NULL && !disable &&
		JB_ROOT_IS_OBJECT(subscription_policy) &&
		!JB_ROOT_IS_SCALAR(subscription_policy))
		(void) apply_policy(&subscription_policy->root, false, policy);
}

/*
 * Seconds to wait before retry number `retry' (1 = the first retry after
 * the first attempt failed), or -1 when the policy has no such retry. The
 * phase the retry belongs to goes to *phase when phase is not NULL.
 */
double
sqsn_retry_delay(const SqsnRetryPolicy *retry, int n, const char **phase)
{
	int backoff = retry->num_retries - retry->num_no_delay -
				  retry->num_min_delay - retry->num_max_delay;
	double min = retry->min_delay;
	double max = retry->max_delay;
	double t;
	int    j;

	if (n < 1 || n > retry->num_retries)
		return -1;
	if (n <= retry->num_no_delay)
	{
		if (phase)
			*phase = "immediate";
		return 0;
	}
	n -= retry->num_no_delay;
	if (n <= retry->num_min_delay)
	{
		if (phase)
			*phase = "min delay";
		return min;
	}
	n -= retry->num_min_delay;
	if (n > backoff)
	{
		if (phase)
			*phase = "max delay";
		return max;
	}
	if (phase)
		*phase = "backoff";
	j = n;
	t = backoff > 1 ? (double) (j - 1) / (backoff - 1) : 0.0;
	switch (retry->backoff)
	{
		case SQSN_BACKOFF_LINEAR:
			return min + (max - min) * t;
		case SQSN_BACKOFF_ARITHMETIC:
			return min + (max - min) * t * t;
		case SQSN_BACKOFF_GEOMETRIC:
			return min * pow(max / min, t);
		case SQSN_BACKOFF_EXPONENTIAL:
			return min + (max - min) * (pow(2.0, 10.0 * t) - 1.0) / 1023.0;
	}
	return max;
}

/*
 * sqsn.delivery_retry_schedule(delivery_policy): the retries the policy
 * (subscription form; NULL: the defaults) gives, one row each: its number,
 * phase and the delay before it, in seconds rounded to milliseconds.
 */
Datum
sn_delivery_retry_schedule(PG_FUNCTION_ARGS)
{
	ReturnSetInfo     *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SqsnDeliveryPolicy policy;

	sqsn_default_delivery_policy(&policy);
	if (!PG_ARGISNULL(0))
	{
		Jsonb *jb = PG_GETARG_JSONB_P(0);

		sqsn_validate_delivery_policy(jb, false);
		sqsn_effective_delivery_policy(jb, NULL, &policy);
	}

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 1; i <= policy.retry.num_retries; i++)
	{
		const char *phase;
		double      delay = sqsn_retry_delay(&policy.retry, i, &phase);
		Datum       values[3];
		bool        nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(i);
		values[1] = CStringGetTextDatum(phase);
		values[2] = Float8GetDatum(rint(delay * 1000.0) / 1000.0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
	return (Datum) 0;
}

/*
 * The effective delivery policy as JSON, in the managed service's form:
 * the topic form ({"http": {"defaultHealthyRetryPolicy": ...}}) for a
 * topic's EffectiveDeliveryPolicy attribute, else the subscription form.
 * Every section is spelled out, with the service defaults where neither
 * policy says otherwise. Both policies were validated when stored.
 */
Jsonb *
sqsn_effective_delivery_policy_json(Jsonb *subscription_policy,
									Jsonb *topic_policy, bool topic_form)
{
	SqsnDeliveryPolicy p;
	JsonbContainer    *http = topic_http_policy(topic_policy);
	bool               disable = false;
	StringInfoData     buf;
	const char        *prefix = topic_form ? "default" : "";
	char               content_type[64];
	char              *semicolon;

	sqsn_effective_delivery_policy(subscription_policy, topic_policy, &p);
	if (http != NULL)
	{
		SqsnDeliveryPolicy scratch;

		sqsn_default_delivery_policy(&scratch);
		disable = apply_policy(http, true, &scratch);
	}

	initStringInfo(&buf);
	if (topic_form)
		appendStringInfoString(&buf, "{\"http\": ");
	appendStringInfo(
		&buf,
		"{\"%s%s\": {\"minDelayTarget\": %d, "
		"\"maxDelayTarget\": %d, \"numRetries\": %d, "
		"\"numMaxDelayRetries\": %d, \"numNoDelayRetries\": %d, "
		"\"numMinDelayRetries\": %d, \"backoffFunction\": \"%s\"}",
		prefix, topic_form ? "HealthyRetryPolicy" : "healthyRetryPolicy",
		p.retry.min_delay, p.retry.max_delay, p.retry.num_retries,
		p.retry.num_max_delay, p.retry.num_no_delay, p.retry.num_min_delay,
		backoff_names[p.retry.backoff]);
	if (p.max_receives_per_second > 0)
		appendStringInfo(&buf, ", \"%s%s\": {\"maxReceivesPerSecond\": %d}",
						 prefix,
						 topic_form ? "ThrottlePolicy" : "throttlePolicy",
						 p.max_receives_per_second);
	/* the policy names the type alone; the charset is always UTF-8 */
	strlcpy(content_type, p.content_type, sizeof(content_type));
	semicolon = strchr(content_type, ';');
	if (semicolon)
		*semicolon = '\0';
	appendStringInfo(&buf, ", \"%s%s\": {\"headerContentType\": \"%s\"}",
					 prefix, topic_form ? "RequestPolicy" : "requestPolicy",
					 content_type);
	if (topic_form)
		appendStringInfo(&buf, ", \"disableSubscriptionOverrides\": %s}",
						 disable ? "true" : "false");
	appendStringInfoChar(&buf, '}');
	return sqsn_json_or_null(buf.data, buf.len);
}

/*
 * Function subscriptions (protocol function or lambda) are invoked as the
 * managed function service invokes asynchronously: a failed invocation is
 * retried up to MaximumRetryAttempts times (0..2, default 2), an event
 * older than MaximumEventAgeInSeconds (60..21600, default 21600) is not
 * invoked any more, and one invocation may take TimeoutSeconds (1..900,
 * default 30). Their delivery policy is {"MaximumRetryAttempts": n,
 * "MaximumEventAgeInSeconds": n, "TimeoutSeconds": n}, every field
 * optional. Reads (and with result NULL only checks) such a policy; NULL
 * gives the defaults.
 */
void
sqsn_function_policy(Jsonb *policy, SqsnFunctionPolicy *result)
{
	static const struct
	{
		const char *name;
		int         min;
		int         max;
		size_t      offset; /* of the int in SqsnFunctionPolicy */
	} fields[] = {
		{"MaximumRetryAttempts", 0, 2,
		 offsetof(SqsnFunctionPolicy, maximum_retry_attempts)},
		{"MaximumEventAgeInSeconds", 60, 21600,
		 offsetof(SqsnFunctionPolicy, maximum_event_age)},
		{"TimeoutSeconds", 1, 900, offsetof(SqsnFunctionPolicy, timeout)},
	};
	SqsnFunctionPolicy p = {2, 21600, 30};
	JsonbIterator     *it;
	JsonbValue         v;
	char              *key;

	if (policy != NULL)
	{
		if (!JB_ROOT_IS_OBJECT(policy) || JB_ROOT_IS_SCALAR(policy))
			invalid_delivery_policy(
				"The delivery policy of a function subscription is a JSON "
				"object.",
				"Write {\"MaximumRetryAttempts\": 2, "
				"\"MaximumEventAgeInSeconds\": 21600}.");
		it = JsonbIteratorInit(&policy->root);
		while (sqsn_jsonb_next_pair(&it, &key, &v))
		{
			int f;

			for (f = 0; f < lengthof(fields); f++)
				if (strcmp(key, fields[f].name) == 0)
					break;
			if (f == lengthof(fields))
				invalid_delivery_policy(
					psprintf("The delivery policy of a function subscription "
							 "has no field \"%s\".",
							 key),
					"Its fields are MaximumRetryAttempts, "
					"MaximumEventAgeInSeconds and TimeoutSeconds.");
			*(int *) ((char *) &p + fields[f].offset) =
				policy_int(&v, key, fields[f].min, fields[f].max);
		}
	}
	if (result != NULL)
		*result = p;
}

/*
 * The policy a function subscription's invocations follow, every field
 * spelled out (its EffectiveDeliveryPolicy attribute).
 */
Jsonb *
sqsn_function_policy_json(Jsonb *policy)
{
	SqsnFunctionPolicy p;
	char              *json;

	sqsn_function_policy(policy, &p);
	json =
		psprintf("{\"MaximumRetryAttempts\": %d, "
				 "\"MaximumEventAgeInSeconds\": %d, \"TimeoutSeconds\": %d}",
				 p.maximum_retry_attempts, p.maximum_event_age, p.timeout);
	return sqsn_json_or_null(json, strlen(json));
}
