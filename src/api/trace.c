/*-------------------------------------------------------------------------
 *
 * trace.c
 *	  Trace context through the endpoint: the AWSTraceHeader system
 *	  attribute of SendMessage (MessageSystemAttributes), or the request's
 *	  X-Amzn-Trace-Id header for SendMessage and Publish, kept with the
 *	  message as the attribute AWS.TraceHeader (queue/attributes.c) and
 *	  returned by ReceiveMessage as the system attribute AWSTraceHeader.
 *
 * A W3C traceparent is an ordinary message attribute and needs nothing
 * here: it travels as the client sent it. Push delivery turns either into
 * the X-Amzn-Trace-Id header of its POSTs (push/push_worker.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "api/api.h"

/*
 * The trace header of a send or publish entry: its
 * MessageSystemAttributes.AWSTraceHeader, else the request's
 * X-Amzn-Trace-Id header, else NULL.
 */
const char *
api_trace_header(ApiRequest *req, ApiObject *obj)
{
	Jsonb *system =
		api_message_attributes(obj, "MessageSystemAttributes",
							   "MessageSystemAttribute", "Name", "Value");
	char *value;

	if (system != NULL)
	{
		int64 size;

		/* the same checks as message attributes, AWSTraceHeader aside */
		system = sqsn_normalize_attributes(
			sqsn_attributes_with_string(
				NULL, SQSN_TRACE_ATTRIBUTE,
				(value = sqsn_attribute_string(system, "AWSTraceHeader"))
					? value
					: ""),
			&size);
		if (value == NULL || value[0] == '\0')
			api_error("InvalidParameterValue", 400,
					  "MessageSystemAttributes supports only AWSTraceHeader, "
					  "a String.");
		return value;
	}
	return req->trace_header;
}

/* The attributes to store: the message's, and the trace header if any. */
Jsonb *
api_with_trace_header(Jsonb *attributes, const char *trace)
{
	if (trace == NULL || trace[0] == '\0')
		return attributes;
	return sqsn_attributes_with_string(attributes, SQSN_TRACE_ATTRIBUTE,
									   trace);
}

/* MD5OfMessageSystemAttributes of a send that carried a trace header. */
void
api_out_trace_md5(ApiRequest *req, const char *trace)
{
	if (trace == NULL || trace[0] == '\0')
		return;
	api_out_string(req, "MD5OfMessageSystemAttributes",
				   api_md5_of_attributes(sqsn_attributes_with_string(
					   NULL, "AWSTraceHeader", trace)));
}
