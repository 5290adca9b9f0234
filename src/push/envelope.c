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

/* A string field of an envelope: its name, and where SqsnEnvelope has it. */
typedef struct EnvelopeField
{
	const char *name;
	size_t      offset; /* of a const char * in SqsnEnvelope */
} EnvelopeField;

/*
 * The fields of an envelope's JSON text in the managed service's order,
 * and those a signature covers (SignatureVersion 2) in the order it covers
 * them. Fields left NULL are left out: a queue's copy has no signature and
 * no links.
 */
static const EnvelopeField json_fields[] = {
	{"Type", offsetof(SqsnEnvelope, type)},
	{"MessageId", offsetof(SqsnEnvelope, message_id)},
	{"SequenceNumber", offsetof(SqsnEnvelope, sequence_number)},
	{"Token", offsetof(SqsnEnvelope, token)},
	{"TopicArn", offsetof(SqsnEnvelope, topic_arn)},
	{"Subject", offsetof(SqsnEnvelope, subject)},
	{"Message", offsetof(SqsnEnvelope, message)},
	{"SubscribeURL", offsetof(SqsnEnvelope, subscribe_url)},
	{"Timestamp", offsetof(SqsnEnvelope, timestamp)},
	{"SignatureVersion", offsetof(SqsnEnvelope, signature_version)},
	{"Signature", offsetof(SqsnEnvelope, signature)},
	{"SigningCertURL", offsetof(SqsnEnvelope, signing_cert_url)},
	{"UnsubscribeURL", offsetof(SqsnEnvelope, unsubscribe_url)},
};

static const EnvelopeField signed_fields[] = {
	{"Message", offsetof(SqsnEnvelope, message)},
	{"MessageId", offsetof(SqsnEnvelope, message_id)},
	{"Subject", offsetof(SqsnEnvelope, subject)},
	{"SubscribeURL", offsetof(SqsnEnvelope, subscribe_url)},
	{"Timestamp", offsetof(SqsnEnvelope, timestamp)},
	{"Token", offsetof(SqsnEnvelope, token)},
	{"TopicArn", offsetof(SqsnEnvelope, topic_arn)},
	{"Type", offsetof(SqsnEnvelope, type)},
};

static const char *field_value(const SqsnEnvelope  *e,
							   const EnvelopeField *field);
static void        append_attributes(StringInfo buf, Jsonb *attributes);

/* The value of a field of the envelope, or NULL. */
static const char *
field_value(const SqsnEnvelope *e, const EnvelopeField *field)
{
	return *(const char *const *) ((const char *) e + field->offset);
}

/*
 * The envelope as JSON text: json_fields, "Replayed": true for a copy
 * replayed from a FIFO topic's archive, then the message attributes.
 */
char *
sqsn_envelope_json(const SqsnEnvelope *e)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < lengthof(json_fields); i++)
	{
		const char *value = field_value(e, &json_fields[i]);

		if (value)
			sqsn_json_string(&buf, json_fields[i].name, value);
	}
	if (e->replayed)
		sqsn_json_bool(&buf, "Replayed", true);
	append_attributes(&buf, e->attributes);
	appendStringInfoChar(&buf, '}');
	return buf.data;
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
	for (int i = 0; i < lengthof(signed_fields); i++)
	{
		const char *value = field_value(e, &signed_fields[i]);

		if (value)
			appendStringInfo(&sts, "%s\n%s\n", signed_fields[i].name, value);
	}
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

	/* system attributes (the trace header) travel as headers */
	attributes = sqsn_attributes_filter(attributes, false);
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
