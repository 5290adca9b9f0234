/*-------------------------------------------------------------------------
 *
 * envelope.c
 *	  The JSON envelopes subscribers receive: a Notification (to a queue
 *	  without raw delivery, or POSTed to an HTTP/HTTPS endpoint) or a
 *	  SubscriptionConfirmation, with the managed service's fields in its
 *	  order, the string a signature covers, and the SubscribeURL and
 *	  UnsubscribeURL links.
 *
 * Every string goes through escape_json, so no message text can break
 * out of its JSON string.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "push/push.h"

#include "utils/json.h"

static void append_attributes(StringInfo buf, Jsonb *attributes);
static void sign_line(StringInfo buf, const char *key, const char *value);

/*
 * The envelope as JSON text. Fields left NULL are left out: a queue's
 * copy has no signature and no links.
 */
char *
sqsn_envelope_json(const SqsnEnvelope *e)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	sqsn_json_string(&buf, "Type", e->type);
	sqsn_json_string(&buf, "MessageId", e->message_id);
	if (e->token)
		sqsn_json_string(&buf, "Token", e->token);
	sqsn_json_string(&buf, "TopicArn", e->topic_arn);
	if (e->subject)
		sqsn_json_string(&buf, "Subject", e->subject);
	sqsn_json_string(&buf, "Message", e->message);
	if (e->subscribe_url)
		sqsn_json_string(&buf, "SubscribeURL", e->subscribe_url);
	sqsn_json_string(&buf, "Timestamp", e->timestamp);
	if (e->signature)
	{
		sqsn_json_string(&buf, "SignatureVersion", "2");
		sqsn_json_string(&buf, "Signature", e->signature);
		if (e->signing_cert_url)
			sqsn_json_string(&buf, "SigningCertURL", e->signing_cert_url);
	}
	if (e->unsubscribe_url)
		sqsn_json_string(&buf, "UnsubscribeURL", e->unsubscribe_url);
	append_attributes(&buf, e->attributes);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

static void
sign_line(StringInfo buf, const char *key, const char *value)
{
	appendStringInfo(buf, "%s\n%s\n", key, value);
}

/*
 * The string a signature of the envelope covers (SignatureVersion 2):
 * "key\nvalue\n" for each signed field, in the service's order.
 */
char *
sqsn_envelope_string_to_sign(const SqsnEnvelope *e)
{
	StringInfoData sts;

	initStringInfo(&sts);
	sign_line(&sts, "Message", e->message);
	sign_line(&sts, "MessageId", e->message_id);
	if (e->subject)
		sign_line(&sts, "Subject", e->subject);
	if (e->subscribe_url)
		sign_line(&sts, "SubscribeURL", e->subscribe_url);
	sign_line(&sts, "Timestamp", e->timestamp);
	if (e->token)
		sign_line(&sts, "Token", e->token);
	sign_line(&sts, "TopicArn", e->topic_arn);
	sign_line(&sts, "Type", e->type);
	return sts.data;
}

/*
 * SubscribeURL and UnsubscribeURL: a GET link to the AWS-compatible
 * endpoint when it is on (sqsn.api_port), which confirms or unsubscribes
 * without a signature; else the "sqsn:?Action=..." form, which names the
 * SQL call to make (sqsn.sn_confirm_subscription, sqsn.sn_unsubscribe).
 */
char *
sqsn_envelope_link(const char *action, const char *arn_param, const char *arn,
				   const char *token)
{
	char          *base = sqsn_endpoint_base_url();
	StringInfoData buf;

	initStringInfo(&buf);
	if (base == NULL)
	{
		appendStringInfo(&buf, "sqsn:?Action=%s&%s=%s", action, arn_param,
						 arn);
		if (token)
			appendStringInfo(&buf, "&Token=%s", token);
		return buf.data;
	}
	appendStringInfo(&buf, "%s/?Action=%s&%s=", base, action, arn_param);
	sqsn_percent_encode(&buf, arn, false);
	if (token)
	{
		appendStringInfoString(&buf, "&Token=");
		sqsn_percent_encode(&buf, token, false);
	}
	return buf.data;
}

/*
 * The "MessageAttributes" member of an envelope, from the typed form:
 * ,"MessageAttributes":{"name":{"Type":"String","Value":"v"},...}
 */
static void
append_attributes(StringInfo buf, Jsonb *attributes)
{
	JsonbIterator     *it;
	JsonbIteratorToken tok;
	JsonbValue         v;
	char              *name = NULL;

	if (attributes == NULL)
		return;
	sqsn_json_key(buf, "MessageAttributes");
	appendStringInfoChar(buf, '{');
	it = JsonbIteratorInit(&attributes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbContainer *typed;
		JsonbValue     *type;
		JsonbValue     *value;

		if (tok == WJB_KEY)
		{
			name = sqsn_jsonb_string(&v);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;
		typed = v.val.binary.data;
		type = getKeyJsonValueFromContainer(typed, "DataType", 8, NULL);
		value = getKeyJsonValueFromContainer(typed, "StringValue", 11, NULL);
		if (value == NULL)
			value =
				getKeyJsonValueFromContainer(typed, "BinaryValue", 11, NULL);
		sqsn_json_key(buf, name);
		appendStringInfoChar(buf, '{');
		sqsn_json_string(buf, "Type", sqsn_jsonb_string(type));
		sqsn_json_string(buf, "Value", sqsn_jsonb_string(value));
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, '}');
}
