/*-------------------------------------------------------------------------
 *
 * attributes.c
 *	  Message attributes: validation and normalisation to the typed form.
 *
 * Callers may write attributes in a simple form, {"color": "red",
 * "size": 3}, or in the typed form of the managed service,
 * {"size": {"DataType": "Number", "StringValue": "3"}}. Either way they are
 * checked against the service's rules (at most 10, names of up to 256
 * characters of [A-Za-z0-9_.-] not starting with "AWS." or "Amazon.",
 * types String, Number or Binary with an optional ".label") and stored in
 * the typed form, which is what receivers get back. The size counted
 * against a queue's maximum_message_size is, as in the service, the bytes
 * of every name, type and value.
 *
 * One name in the service's reserved "AWS." space is taken: AWS.TraceHeader
 * (SQSN_TRACE_ATTRIBUTE) holds a message's AWSTraceHeader system attribute,
 * the X-Ray trace header the endpoint receives with a send or publish, so
 * that it travels with the message through fan-out and push. It is a
 * String, counts neither against the 10 attributes nor against the size,
 * and the endpoint returns it as a system attribute, not among the
 * message attributes; SQL users may set and read it like an attribute.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "common/base64.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#define MAX_ATTRIBUTE_NAME 256
#define MAX_DATA_TYPE      256

pg_noreturn static void bad_attribute(const char *name, const char *detail,
									  const char *hint);

static void
bad_attribute(const char *name, const char *detail, const char *hint)
{
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					name ? errmsg("invalid message attribute \"%s\"", name)
						 : errmsg("invalid message attributes"),
					errdetail("%s", detail), hint ? errhint("%s", hint) : 0));
}

static void
check_attribute_name(const char *name, int len)
{
	if (len == 0 || len > MAX_ATTRIBUTE_NAME)
		bad_attribute(name, "An attribute name has 1 to 256 characters.",
					  NULL);
	for (int i = 0; i < len; i++)
	{
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			bad_attribute(
				name,
				"An attribute name may contain only letters, digits, "
				"hyphens, underscores and periods.",
				NULL);
	}
	if (name[0] == '.' || name[len - 1] == '.' || strstr(name, "..") != NULL)
		bad_attribute(name,
					  "An attribute name cannot start or end with a period or "
					  "contain two periods in a row.",
					  NULL);
	/* the SMS settings of a publish (push/sms.c) are the exception */
	if ((pg_strncasecmp(name, "AWS.", 4) == 0 &&
		 strncmp(name, "AWS.SNS.SMS.", 12) != 0) ||
		pg_strncasecmp(name, "Amazon.", 7) == 0)
		bad_attribute(name,
					  "Attribute names starting with \"AWS.\" or \"Amazon.\" "
					  "are reserved.",
					  NULL);
}

/*
 * A decimal number as the service accepts it: optional sign, digits with an
 * optional fraction, optional exponent.
 */
static bool
is_number(const char *s)
{
	bool digits = false;

	if (*s == '+' || *s == '-')
		s++;
	while (isdigit((unsigned char) *s))
		s++, digits = true;
	if (*s == '.')
	{
		s++;
		while (isdigit((unsigned char) *s))
			s++, digits = true;
	}
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E')
	{
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!isdigit((unsigned char) *s))
			return false;
		while (isdigit((unsigned char) *s))
			s++;
	}
	return *s == '\0';
}

/* String, Number or Binary, optionally followed by ".label" */
static const char *
base_type(const char *name, const char *data_type)
{
	static const char *const bases[] = {"String", "Number", "Binary"};

	if (strlen(data_type) > MAX_DATA_TYPE)
		bad_attribute(name, "A DataType has at most 256 characters.", NULL);

	for (int i = 0; i < lengthof(bases); i++)
	{
		size_t blen = strlen(bases[i]);

		if (strncmp(data_type, bases[i], blen) == 0 &&
			(data_type[blen] == '\0' ||
			 (data_type[blen] == '.' && data_type[blen + 1] != '\0')))
			return bases[i];
	}
	bad_attribute(name,
				  psprintf("DataType \"%s\" is not supported.", data_type),
				  "Use String, Number or Binary, optionally followed by "
				  "\".label\".");
}

static char *
jsonb_string(JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static char *
jsonb_number(JsonbValue *v)
{
	return DatumGetCString(
		DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
}

/*
 * The typed form {"DataType": ..., "StringValue"|"BinaryValue": ...}:
 * sets *data_type and *value, and returns the value's size in bytes.
 */
static int64
read_typed_value(const char *name, JsonbContainer *container, char **data_type,
				 char **value, bool *binary)
{
	JsonbIterator     *it = JsonbIteratorInit(container);
	JsonbIteratorToken tok;
	JsonbValue         v;
	char              *key = NULL;
	char              *string_value = NULL;
	char              *binary_value = NULL;
	const char        *base;

	*data_type = NULL;
	if (!JsonContainerIsObject(container))
		bad_attribute(name,
					  "An attribute value must be a string, a number "
					  "or an object with DataType and StringValue.",
					  NULL);

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = jsonb_string(&v);
		else if (tok == WJB_VALUE)
		{
			char *s;

			if (v.type == jbvString)
				s = jsonb_string(&v);
			else if (v.type == jbvNumeric && strcmp(key, "StringValue") == 0)
				s = jsonb_number(&v);
			else
				bad_attribute(name, psprintf("\"%s\" must be a string.", key),
							  NULL);

			if (strcmp(key, "DataType") == 0)
				*data_type = s;
			else if (strcmp(key, "StringValue") == 0)
				string_value = s;
			else if (strcmp(key, "BinaryValue") == 0)
				binary_value = s;
			else
				bad_attribute(name, psprintf("Unknown key \"%s\".", key),
							  "Use DataType with StringValue or BinaryValue.");
		}
	}

	if (*data_type == NULL)
		bad_attribute(name, "DataType is missing.", NULL);
	base = base_type(name, *data_type);
	*binary = (strcmp(base, "Binary") == 0);

	if (*binary)
	{
		int   len;
		char *decoded;
		int   declen;

		if (binary_value == NULL || string_value != NULL)
			bad_attribute(name,
						  "A Binary attribute needs a BinaryValue "
						  "(base64) and no StringValue.",
						  NULL);
		len = strlen(binary_value);
		decoded = palloc(pg_b64_dec_len(len) + 1);
		declen = pg_b64_decode(binary_value, len, (uint8 *) decoded,
							   pg_b64_dec_len(len));
		if (len == 0 || declen <= 0)
			bad_attribute(name, "BinaryValue is not valid non-empty base64.",
						  NULL);
		*value = binary_value;
		return declen;
	}

	if (string_value == NULL || binary_value != NULL)
		bad_attribute(name,
					  psprintf("A %s attribute needs a StringValue and "
							   "no BinaryValue.",
							   base),
					  NULL);
	if (string_value[0] == '\0')
		bad_attribute(name, "An attribute value must not be empty.", NULL);
	if (strcmp(base, "Number") == 0 && !is_number(string_value))
		bad_attribute(name, psprintf("\"%s\" is not a number.", string_value),
					  NULL);
	*value = string_value;
	return strlen(string_value);
}

static void
push_string(JsonbParseState **state, JsonbIteratorToken tok, const char *s)
{
	JsonbValue v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	pushJsonbValue(state, tok, &v);
}

/*
 * Validates attributes and returns them in the typed form; *size receives
 * the bytes they count against the queue's maximum message size. NULL or
 * an empty object yields NULL.
 */
Jsonb *
sqsn_normalize_attributes(Jsonb *attributes, int64 *size)
{
	JsonbParseState   *state = NULL;
	JsonbIterator     *it;
	JsonbIteratorToken tok;
	JsonbValue         v;
	JsonbValue        *result;
	char              *name = NULL;

	*size = 0;
	if (attributes == NULL)
		return NULL;
	if (!JB_ROOT_IS_OBJECT(attributes) || JB_ROOT_IS_SCALAR(attributes))
		bad_attribute(
			NULL, "Message attributes must be a JSON object.",
			"Write {\"name\": \"value\"} or {\"name\": {\"DataType\": "
			"\"String\", \"StringValue\": \"value\"}}.");
	if (JB_ROOT_COUNT(attributes) == 0)
		return NULL;
	if (JB_ROOT_COUNT(attributes) -
			(getKeyJsonValueFromContainer(
				 &attributes->root, SQSN_TRACE_ATTRIBUTE,
				 strlen(SQSN_TRACE_ATTRIBUTE), NULL) != NULL) >
		SQSN_MAX_ATTRIBUTES)
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("too many message attributes"),
			 errdetail("A message has at most %d attributes; %d were given.",
					   SQSN_MAX_ATTRIBUTES, (int) JB_ROOT_COUNT(attributes))));

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(&attributes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char *data_type;
		char *value;
		bool  binary = false;
		int64 value_size;

		if (tok == WJB_KEY)
		{
			name = jsonb_string(&v);
			if (strcmp(name, SQSN_TRACE_ATTRIBUTE) != 0)
				check_attribute_name(name, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;

		switch (v.type)
		{
			case jbvString:
				data_type = "String";
				value = jsonb_string(&v);
				if (value[0] == '\0')
					bad_attribute(
						name, "An attribute value must not be empty.", NULL);
				value_size = strlen(value);
				break;
			case jbvNumeric:
				data_type = "Number";
				value = jsonb_number(&v);
				value_size = strlen(value);
				break;
			case jbvBinary:
				value_size = read_typed_value(name, v.val.binary.data,
											  &data_type, &value, &binary);
				break;
			default:
				bad_attribute(name,
							  "An attribute value must be a string, a "
							  "number or an object with DataType and "
							  "StringValue.",
							  NULL);
		}

		if (strcmp(name, SQSN_TRACE_ATTRIBUTE) == 0)
		{
			/* a system attribute: a String, not counted */
			if (strcmp(data_type, "String") != 0 ||
				value_size > SQSN_MAX_TRACE_HEADER)
				bad_attribute(name,
							  psprintf("The trace header is a String of at "
									   "most %d bytes.",
									   SQSN_MAX_TRACE_HEADER),
							  NULL);
		}
		else
			*size += strlen(name) + strlen(data_type) + value_size;

		push_string(&state, WJB_KEY, name);
		pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		push_string(&state, WJB_KEY, "DataType");
		push_string(&state, WJB_VALUE, data_type);
		push_string(&state, WJB_KEY, binary ? "BinaryValue" : "StringValue");
		push_string(&state, WJB_VALUE, value);
		pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(result);
}

/*
 * The StringValue of the attribute called name in typed-form attributes,
 * or NULL.
 */
char *
sqsn_attribute_string(Jsonb *attributes, const char *name)
{
	JsonbValue *typed;
	JsonbValue *value;

	if (attributes == NULL || !JB_ROOT_IS_OBJECT(attributes))
		return NULL;
	typed = getKeyJsonValueFromContainer(&attributes->root, name, strlen(name),
										 NULL);
	if (typed == NULL || typed->type != jbvBinary)
		return NULL;
	value = getKeyJsonValueFromContainer(typed->val.binary.data, "StringValue",
										 11, NULL);
	if (value == NULL || value->type != jbvString)
		return NULL;
	return jsonb_string(value);
}

/*
 * Typed-form attributes with or without some names: those whose name
 * starts with the reserved "AWS." (system = true: only those; false:
 * all but those). NULL when none is left.
 */
Jsonb *
sqsn_attributes_filter(Jsonb *attributes, bool system)
{
	JsonbParseState   *state = NULL;
	JsonbIterator     *it;
	JsonbIteratorToken tok;
	JsonbValue         v;
	JsonbValue        *result;
	char              *name = NULL;
	int                kept = 0;

	if (attributes == NULL || !JB_ROOT_IS_OBJECT(attributes))
		return NULL;
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(&attributes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			name = jsonb_string(&v);
		else if (tok == WJB_VALUE && (strncmp(name, "AWS.", 4) == 0) == system)
		{
			push_string(&state, WJB_KEY, name);
			pushJsonbValue(&state, WJB_VALUE, &v);
			kept++;
		}
	}
	result = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return kept > 0 ? JsonbValueToJsonb(result) : NULL;
}

/*
 * Typed-form attributes with the String attribute name set to value
 * (attributes may be NULL).
 */
Jsonb *
sqsn_attributes_with_string(Jsonb *attributes, const char *name,
							const char *value)
{
	JsonbParseState   *state = NULL;
	JsonbIterator     *it;
	JsonbIteratorToken tok;
	JsonbValue         v;
	char              *key = NULL;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (attributes != NULL && JB_ROOT_IS_OBJECT(attributes))
	{
		it = JsonbIteratorInit(&attributes->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
				key = jsonb_string(&v);
			else if (tok == WJB_VALUE && strcmp(key, name) != 0)
			{
				push_string(&state, WJB_KEY, key);
				pushJsonbValue(&state, WJB_VALUE, &v);
			}
		}
	}
	push_string(&state, WJB_KEY, name);
	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	push_string(&state, WJB_KEY, "DataType");
	push_string(&state, WJB_VALUE, "String");
	push_string(&state, WJB_KEY, "StringValue");
	push_string(&state, WJB_VALUE, value);
	pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}
