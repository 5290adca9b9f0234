/*-------------------------------------------------------------------------
 *
 * proto.c
 *	  The AWS wire formats for the endpoint's actions: reading parameters
 *	  the same way from a query request (form-urlencoded pairs) and from a
 *	  JSON 1.0 request, writing result members as XML or JSON, throwing AWS
 *	  errors, the MD5 checksums clients verify, and finding the action a
 *	  request names in a service's table of actions.
 *
 * Query requests flatten structures into dotted names: a batch entry is
 * "SendMessageBatchRequestEntry.3.MessageBody", a map entry
 * "Attribute.1.Name" / "Attribute.1.Value". ApiObject hides that: the
 * entries of a list are ApiObjects whose pairs have the prefix removed, so
 * an action reads "MessageBody" from an entry whatever the protocol.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "api/api.h"

#include <openssl/evp.h>

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

/* the error api_error() threw, until the server picks it up */
static bool     error_thrown = false;
static ApiError thrown_error;

/* Parameters ------------------------------------------------------------ */

/* the JSON value under key "name" of an object, or NULL */
static JsonbValue *
json_param(ApiObject *obj, const char *name)
{
	JsonbValue key;

	if (obj->json == NULL || !JsonContainerIsObject(obj->json))
		return NULL;
	key.type = jbvString;
	key.val.string.val = (char *) name;
	key.val.string.len = strlen(name);
	return findJsonbValueFromContainer(obj->json, JB_FOBJECT, &key);
}

/*
 * A JSON value as the text a query request would carry for it (NULL for
 * null; an object or array as its JSON text).
 */
char *
api_json_text(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(
				numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvNull:
			return NULL;
		default:
			/* an object or array where a scalar belongs: its JSON text */
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	}
}

const char *
api_param(ApiObject *obj, const char *name)
{
	ListCell *lc;

	if (obj->protocol == API_JSON)
	{
		JsonbValue *v = json_param(obj, name);

		return v ? api_json_text(v) : NULL;
	}
	foreach (lc, obj->params)
	{
		ApiParam *p = lfirst(lc);

		if (strcmp(p->name, name) == 0)
			return p->value;
	}
	return NULL;
}

const char *
api_required_param(ApiObject *obj, const char *name)
{
	const char *value = api_param(obj, name);

	if (value == NULL)
		api_error("MissingParameter", 400,
				  "The request must contain the parameter %s.", name);
	return value;
}

/*
 * An integer parameter within [min, max]; false when absent. Out of range
 * or not a number: InvalidParameterValue.
 */
bool
api_param_int(ApiObject *obj, const char *name, int min, int max, int *result)
{
	const char *value = api_param(obj, name);
	char       *end;
	long        n;

	if (value == NULL)
		return false;
	errno = 0;
	n = strtol(value, &end, 10);
	if (end == value || *end != '\0' || errno != 0 || n < min || n > max)
		api_error("InvalidParameterValue", 400,
				  "Value %s for parameter %s is invalid. Reason: must be an "
				  "integer from %d to %d.",
				  value, name, min, max);
	*result = (int) n;
	return true;
}

bool
api_param_bool(ApiObject *obj, const char *name, bool *result)
{
	const char *value = api_param(obj, name);

	if (value == NULL)
		return false;
	if (pg_strcasecmp(value, "true") == 0)
		*result = true;
	else if (pg_strcasecmp(value, "false") == 0)
		*result = false;
	else
		api_error("InvalidParameterValue", 400,
				  "Value %s for parameter %s is invalid. Reason: must be "
				  "true or false.",
				  value, name);
	return true;
}

/*
 * "<prefix>.<N>" followed by end or '.': N, else 0. The list's first
 * element may also be given without its index, as older clients of the
 * service send a one-element list (boto 2 and Amazon::SQS::Simple:
 * "AttributeName=All", "Attribute.Name=...&Attribute.Value=..."): "<prefix>"
 * alone, or "<prefix>.<member>" whose member is not a number, is element 1.
 */
static int
list_index(const char *name, const char *prefix, const char **rest)
{
	size_t len = strlen(prefix);
	long   n;
	char  *end;

	if (strncmp(name, prefix, len) != 0 ||
		(name[len] != '.' && name[len] != '\0'))
		return 0;
	if (name[len] == '\0' || (name[len + 1] != '\0' &&
							  (name[len + 1] < '0' || name[len + 1] > '9')))
	{
		*rest = name[len] == '\0' ? name + len : name + len + 1;
		return 1;
	}
	if (name[len + 1] < '1' || name[len + 1] > '9')
		return 0;
	n = strtol(name + len + 1, &end, 10);
	if (n <= 0 || n > 1000 || (*end != '\0' && *end != '.'))
		return 0;
	*rest = (*end == '.') ? end + 1 : end;
	return (int) n;
}

/* api_strings() keeps the list index in the name of scratch pairs */
static int
compare_index(const ListCell *a, const ListCell *b)
{
	int ia;
	int ib;

	memcpy(&ia, ((ApiParam *) lfirst(a))->name, sizeof(int));
	memcpy(&ib, ((ApiParam *) lfirst(b))->name, sizeof(int));
	return ia - ib;
}

/*
 * The JSON array (list) or object (map) under name, or NULL when it is
 * absent or null; anything else is a SerializationException.
 */
static JsonbValue *
json_structure(ApiObject *obj, const char *name, bool list)
{
	JsonbValue *v = json_param(obj, name);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type != jbvBinary ||
		!(list ? JsonContainerIsArray(v->val.binary.data)
			   : JsonContainerIsObject(v->val.binary.data)))
		api_error_shape("SerializationException",
						"com.amazon.coral.service#SerializationException", 400,
						"%s must be a %s.", name, list ? "list" : "map");
	return v;
}

/* The elements of the JSON array under name: JsonbValues, maybe none. */
static List *
json_elements(ApiObject *obj, const char *name)
{
	JsonbValue *array = json_structure(obj, name, true);
	int         n = array ? JsonContainerSize(array->val.binary.data) : 0;
	List       *result = NIL;

	for (int i = 0; i < n; i++)
		result = lappend(
			result, getIthJsonbValueFromContainer(array->val.binary.data, i));
	return result;
}

/*
 * The members of a list of structures, in order: query pairs
 * "<query_prefix>.N.<member>", or the objects of the JSON array json_name.
 */
List *
api_objects(ApiObject *obj, const char *json_name, const char *query_prefix)
{
	List     *result = NIL;
	ListCell *lc;

	if (obj->protocol == API_JSON)
	{
		foreach (lc, json_elements(obj, json_name))
		{
			JsonbValue *v = lfirst(lc);
			ApiObject  *o = palloc0(sizeof(ApiObject));

			o->protocol = API_JSON;
			if (sqsn_jsonb_is_object(v))
				o->json = v->val.binary.data;
			result = lappend(result, o);
		}
		return result;
	}
	else
	{
		/* slot i-1 collects entry i; the index is at most 1000 */
		ApiObject **slots = NULL;
		int         nslots = 0;

		foreach (lc, obj->params)
		{
			ApiParam   *p = lfirst(lc);
			const char *rest;
			int         n = list_index(p->name, query_prefix, &rest);
			ApiParam   *member;

			if (n == 0 || *rest == '\0')
				continue;
			if (n > nslots)
			{
				int newsize = Max(n, nslots * 2);

				if (slots == NULL)
					slots = palloc0(newsize * sizeof(ApiObject *));
				else
				{
					slots = repalloc(slots, newsize * sizeof(ApiObject *));
					memset(slots + nslots, 0,
						   (newsize - nslots) * sizeof(ApiObject *));
				}
				nslots = newsize;
			}
			if (slots[n - 1] == NULL)
			{
				slots[n - 1] = palloc0(sizeof(ApiObject));
				slots[n - 1]->protocol = API_QUERY;
			}
			member = palloc(sizeof(ApiParam));
			member->name = (char *) rest;
			member->value = p->value;
			slots[n - 1]->params = lappend(slots[n - 1]->params, member);
		}
		for (int i = 0; i < nslots; i++)
			if (slots[i] != NULL)
				result = lappend(result, slots[i]);
		return result;
	}
}

/* A list of strings: "<query_prefix>.N", or the JSON array json_name. */
List *
api_strings(ApiObject *obj, const char *json_name, const char *query_prefix)
{
	List     *result = NIL;
	List     *indexed = NIL;
	ListCell *lc;

	if (obj->protocol == API_JSON)
	{
		foreach (lc, json_elements(obj, json_name))
		{
			char *s = api_json_text(lfirst(lc));

			if (s != NULL)
				result = lappend(result, s);
		}
		return result;
	}

	/* (index, value) pairs, sorted by index */
	foreach (lc, obj->params)
	{
		ApiParam   *p = lfirst(lc);
		const char *rest;
		int         n = list_index(p->name, query_prefix, &rest);

		if (n > 0 && *rest == '\0')
		{
			ApiParam *entry = palloc(sizeof(ApiParam));

			entry->name = palloc(sizeof(int));
			memcpy(entry->name, &n, sizeof(int));
			entry->value = p->value;
			indexed = lappend(indexed, entry);
		}
	}
	if (indexed == NIL)
		return NIL;
	list_sort(indexed, compare_index);
	foreach (lc, indexed)
		result = lappend(result, ((ApiParam *) lfirst(lc))->value);
	return result;
}

/*
 * A string map: query entries "<query_prefix>.N.<key_member>" and
 * ".<value_member>", or the JSON object json_name. A List of ApiParam.
 */
List *
api_map(ApiObject *obj, const char *json_name, const char *query_prefix,
		const char *key_member, const char *value_member)
{
	List     *result = NIL;
	ListCell *lc;

	if (obj->protocol == API_JSON)
	{
		JsonbValue    *v = json_structure(obj, json_name, false);
		JsonbIterator *it;
		JsonbValue     item;
		char          *key = NULL;

		if (v == NULL)
			return NIL;
		it = JsonbIteratorInit(v->val.binary.data);
		while (sqsn_jsonb_next_pair(&it, &key, &item))
		{
			ApiParam *p = palloc(sizeof(ApiParam));

			p->name = key;
			p->value = api_json_text(&item);
			if (p->value == NULL)
				p->value = "";
			result = lappend(result, p);
		}
		return result;
	}

	foreach (lc, api_objects(obj, json_name, query_prefix))
	{
		ApiObject  *entry = lfirst(lc);
		const char *key = api_param(entry, key_member);
		ApiParam   *p;

		if (key == NULL)
			api_error("MissingParameter", 400,
					  "The request must contain the parameter %s.N.%s.",
					  query_prefix, key_member);
		p = palloc(sizeof(ApiParam));
		p->name = (char *) key;
		p->value = (char *) api_param(entry, value_member);
		if (p->value == NULL)
			p->value = "";
		result = lappend(result, p);
	}
	return result;
}

/*
 * Message attributes in sqsn's typed form, {"name": {"DataType": ...,
 * "StringValue" | "BinaryValue": ...}}, or NULL when there are none; sqsn's
 * own validation (queue/attributes.c) checks them when they are sent.
 */
Jsonb *
api_message_attributes(ApiObject *obj, const char *json_name,
					   const char *query_prefix, const char *name_member,
					   const char *value_member)
{
	StringInfoData buf;
	ListCell      *lc;
	bool           first = true;
	List          *entries;

	if (obj->protocol == API_JSON)
	{
		JsonbValue *v = json_structure(obj, json_name, false);

		if (v == NULL)
			return NULL;
		if (JsonContainerSize(v->val.binary.data) == 0)
			return NULL;
		return JsonbValueToJsonb(v);
	}

	entries = api_objects(obj, json_name, query_prefix);
	if (entries == NIL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	foreach (lc, entries)
	{
		ApiObject  *entry = lfirst(lc);
		const char *name = api_param(entry, name_member);
		char       *prefix = psprintf("%s.", value_member);
		const char *data_type;
		const char *string_value;
		const char *binary_value;

		if (name == NULL)
			api_error("MissingParameter", 400,
					  "The request must contain the parameter %s.N.%s.",
					  query_prefix, name_member);
		data_type = api_param(entry, psprintf("%sDataType", prefix));
		string_value = api_param(entry, psprintf("%sStringValue", prefix));
		binary_value = api_param(entry, psprintf("%sBinaryValue", prefix));
		if (!first)
			appendStringInfoChar(&buf, ',');
		first = false;
		escape_json(&buf, name);
		appendStringInfoString(&buf, ":{");
		if (data_type != NULL)
		{
			appendStringInfoString(&buf, "\"DataType\":");
			escape_json(&buf, data_type);
		}
		if (string_value != NULL)
		{
			appendStringInfoString(&buf, data_type ? "," : "");
			appendStringInfoString(&buf, "\"StringValue\":");
			escape_json(&buf, string_value);
		}
		if (binary_value != NULL)
		{
			appendStringInfoString(&buf,
								   (data_type || string_value) ? "," : "");
			appendStringInfoString(&buf, "\"BinaryValue\":");
			escape_json(&buf, binary_value);
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(
		DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* Errors ---------------------------------------------------------------- */

/*
 * Throws an AWS error: the code clients compare (a string constant), the
 * JSON __type when it differs from the code (else NULL; api_error() is
 * this with NULL), the HTTP status, and the message. Anything the action
 * did in its transaction is rolled back.
 */
void
api_error_shape(const char *code, const char *shape, int status,
				const char *fmt, ...)
{
	StringInfoData message;

	initStringInfo(&message);
	for (;;)
	{
		va_list args;
		int     needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&message, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&message, needed);
	}

	/* string constants: nothing to copy, nothing to leak */
	thrown_error.code = code;
	thrown_error.shape = shape;
	thrown_error.status = status;
	error_thrown = true;
	ereport(ERROR, (errcode(status >= 500 ? ERRCODE_INTERNAL_ERROR
										  : ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg_internal("%s", message.data)));
}

/*
 * Takes the error the last api_error() threw, if the error being handled is
 * one; false for an error from elsewhere (then the service maps its
 * SQLSTATE).
 */
bool
api_thrown_error(ApiError *err)
{
	if (!error_thrown)
		return false;
	*err = thrown_error;
	error_thrown = false;
	return true;
}

/* Response writing ------------------------------------------------------ */

/*
 * The characters XML character data writes as references: the five
 * entities, and carriage return as a character reference so that parsers
 * do not normalise it away.
 */
static const struct
{
	char        c;
	const char *reference;
} xml_references[] = {
	{'&', "&amp;"},  {'<', "&lt;"},    {'>', "&gt;"},
	{'"', "&quot;"}, {'\'', "&apos;"}, {'\r', "&#xD;"},
};

/* Appends s as XML character data. */
void
api_xml_escape(StringInfo buf, const char *s)
{
	for (; *s; s++)
	{
		const char *reference = NULL;

		for (int i = 0; i < lengthof(xml_references); i++)
			if (*s == xml_references[i].c)
				reference = xml_references[i].reference;
		if (reference)
			appendStringInfoString(buf, reference);
		else
			appendStringInfoChar(buf, *s);
	}
}

void
api_xml_element(StringInfo buf, const char *name, const char *value)
{
	appendStringInfo(buf, "<%s>", name);
	api_xml_escape(buf, value);
	appendStringInfo(buf, "</%s>", name);
}

/* JSON: a comma before every member or element but the first of a level */
static void
json_separator(ApiRequest *req)
{
	if (req->need_comma[req->depth])
		appendStringInfoChar(req->out, ',');
	req->need_comma[req->depth] = true;
}

static void
json_key(ApiRequest *req, const char *name)
{
	json_separator(req);
	if (name != NULL)
	{
		escape_json(req->out, name);
		appendStringInfoChar(req->out, ':');
	}
}

static void
json_push(ApiRequest *req, char open)
{
	appendStringInfoChar(req->out, open);
	if (req->depth + 1 >= API_MAX_DEPTH)
		elog(ERROR, "response nesting too deep");
	req->depth++;
	req->need_comma[req->depth] = false;
}

void
api_out_string(ApiRequest *req, const char *name, const char *value)
{
	if (req->protocol == API_JSON)
	{
		json_key(req, name);
		escape_json(req->out, value);
	}
	else
		api_xml_element(req->out, name, value);
}

/* A number: a JSON number, or an XML element with its digits. */
void
api_out_number(ApiRequest *req, const char *name, const char *digits)
{
	if (req->protocol == API_JSON)
	{
		json_key(req, name);
		appendStringInfoString(req->out, digits);
	}
	else
		api_xml_element(req->out, name, digits);
}

void
api_out_bool(ApiRequest *req, const char *name, bool value)
{
	if (req->protocol == API_JSON)
	{
		json_key(req, name);
		appendStringInfoString(req->out, value ? "true" : "false");
	}
	else
		api_xml_element(req->out, name, value ? "true" : "false");
}

/*
 * A structure: in JSON a member json_name (NULL inside an array), in XML
 * the element xml_element (NULL: no element, members go to the parent).
 */
void
api_out_begin_object(ApiRequest *req, const char *json_name,
					 const char *xml_element)
{
	if (req->protocol == API_JSON)
	{
		json_key(req, json_name);
		json_push(req, '{');
	}
	else if (xml_element != NULL)
		appendStringInfo(req->out, "<%s>", xml_element);
}

void
api_out_end_object(ApiRequest *req, const char *xml_element)
{
	if (req->protocol == API_JSON)
	{
		appendStringInfoChar(req->out, '}');
		req->depth--;
	}
	else if (xml_element != NULL)
		appendStringInfo(req->out, "</%s>", xml_element);
}

/* A list: a JSON array; SQS's XML lists are flattened, so nothing there */
void
api_out_begin_array(ApiRequest *req, const char *json_name)
{
	if (req->protocol == API_JSON)
	{
		json_key(req, json_name);
		json_push(req, '[');
	}
}

void
api_out_end_array(ApiRequest *req)
{
	if (req->protocol == API_JSON)
	{
		appendStringInfoChar(req->out, ']');
		req->depth--;
	}
}

void
api_out_array_string(ApiRequest *req, const char *xml_element,
					 const char *value)
{
	if (req->protocol == API_JSON)
	{
		json_separator(req);
		escape_json(req->out, value);
	}
	else
		api_xml_element(req->out, xml_element, value);
}

/*
 * One entry of a string map: a member of the enclosing JSON object, or a
 * flattened <xml_element><key_member>k</key_member><value_member>v
 * </value_member></xml_element>.
 */
void
api_out_map_pair(ApiRequest *req, const char *xml_element,
				 const char *key_member, const char *value_member,
				 const char *key, const char *value)
{
	if (req->protocol == API_JSON)
	{
		json_key(req, key);
		escape_json(req->out, value);
	}
	else
	{
		appendStringInfo(req->out, "<%s>", xml_element);
		api_xml_element(req->out, key_member, key);
		api_xml_element(req->out, value_member, value);
		appendStringInfo(req->out, "</%s>", xml_element);
	}
}

/* An attribute-style map entry: <xml_element><Name>k</Name><Value>v... */
void
api_out_map_entry(ApiRequest *req, const char *xml_element, const char *key,
				  const char *value)
{
	api_out_map_pair(req, xml_element, "Name", "Value", key, value);
}

/*
 * A string map (a List of ApiParam, as api_map reads it) as a jsonb object
 * of strings; of a key given twice, the last value counts.
 */
Jsonb *
api_params_jsonb(List *params)
{
	StringInfoData buf;
	ListCell      *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	foreach (lc, params)
	{
		ApiParam *p = lfirst(lc);

		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&buf, ',');
		escape_json(&buf, p->name);
		appendStringInfoChar(&buf, ':');
		escape_json(&buf, p->value);
	}
	appendStringInfoChar(&buf, '}');
	return sqsn_json_to_jsonb(&buf);
}

/* A list of strings as a text[] datum. */
Datum
api_strings_array(List *strings)
{
	int       n = list_length(strings);
	Datum    *elems = palloc(Max(n, 1) * sizeof(Datum));
	ListCell *lc;

	foreach (lc, strings)
		elems[foreach_current_index(lc)] =
			CStringGetTextDatum((char *) lfirst(lc));
	return sqsn_array_of(elems, NULL, n, TEXTOID);
}

/* Checksums ------------------------------------------------------------- */

static char *
digest_hex(EVP_MD_CTX *ctx)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int  len;
	char         *hex;

	if (EVP_DigestFinal_ex(ctx, md, &len) != 1)
		elog(ERROR, "MD5 failed");
	hex = palloc(2 * len + 1);
	for (unsigned int i = 0; i < len; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	return hex;
}

static EVP_MD_CTX *
md5_begin(void)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1)
		elog(ERROR, "could not initialise MD5");
	return ctx;
}

/* lower-case hex MD5 of the bytes, as MD5OfMessageBody */
char *
api_md5_hex(const char *data, size_t len)
{
	EVP_MD_CTX *ctx = md5_begin();
	char       *hex;

	EVP_DigestUpdate(ctx, data, len);
	hex = digest_hex(ctx);
	EVP_MD_CTX_free(ctx);
	return hex;
}

static void
md5_length_prefixed(EVP_MD_CTX *ctx, const char *data, size_t len)
{
	unsigned char be[4];

	be[0] = (len >> 24) & 0xff;
	be[1] = (len >> 16) & 0xff;
	be[2] = (len >> 8) & 0xff;
	be[3] = len & 0xff;
	EVP_DigestUpdate(ctx, be, 4);
	EVP_DigestUpdate(ctx, data, len);
}

typedef struct NamedAttribute
{
	char       *name;
	JsonbValue *value;
} NamedAttribute;

static int
compare_names(const void *a, const void *b)
{
	return strcmp(((const NamedAttribute *) a)->name,
				  ((const NamedAttribute *) b)->name);
}

static char *
attribute_member(JsonbValue *attr, const char *member)
{
	JsonbValue  key;
	JsonbValue *v;

	if (attr->type != jbvBinary)
		return NULL;
	key.type = jbvString;
	key.val.string.val = (char *) member;
	key.val.string.len = strlen(member);
	v = findJsonbValueFromContainer(attr->val.binary.data, JB_FOBJECT, &key);
	return (v && v->type == jbvString)
			   ? pnstrdup(v->val.string.val, v->val.string.len)
			   : NULL;
}

/*
 * MD5OfMessageAttributes over typed attributes: names in byte order, each
 * as length-prefixed name and type, a transport byte (1 string, 2 binary)
 * and the length-prefixed value (binary values decoded). NULL when there
 * are no attributes.
 */
char *
api_md5_of_attributes(Jsonb *attributes)
{
	JsonbIterator  *it;
	JsonbValue      v;
	int             tok;
	int             n = 0;
	NamedAttribute *items;
	EVP_MD_CTX     *ctx;
	char           *hex;
	char           *name = NULL;

	if (attributes == NULL || JB_ROOT_COUNT(attributes) == 0 ||
		!JB_ROOT_IS_OBJECT(attributes))
		return NULL;
	items = palloc(sizeof(NamedAttribute) * JB_ROOT_COUNT(attributes));
	it = JsonbIteratorInit(&attributes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			name = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			items[n].name = name;
			items[n].value = palloc(sizeof(JsonbValue));
			*items[n].value = v;
			n++;
		}
	}
	qsort(items, n, sizeof(NamedAttribute), compare_names);

	ctx = md5_begin();
	for (int i = 0; i < n; i++)
	{
		char         *type = attribute_member(items[i].value, "DataType");
		char         *string_value;
		unsigned char transport;

		if (type == NULL)
			continue;
		md5_length_prefixed(ctx, items[i].name, strlen(items[i].name));
		md5_length_prefixed(ctx, type, strlen(type));
		if (strncmp(type, "Binary", 6) == 0)
		{
			char *b64 = attribute_member(items[i].value, "BinaryValue");
			int   len = b64 ? strlen(b64) : 0;
			char *raw = palloc(pg_b64_dec_len(len) + 1);
			int   rawlen = b64 ? pg_b64_decode(b64, len, (uint8 *) raw,
											   pg_b64_dec_len(len))
							   : 0;

			transport = 2;
			EVP_DigestUpdate(ctx, &transport, 1);
			md5_length_prefixed(ctx, raw, Max(rawlen, 0));
		}
		else
		{
			string_value = attribute_member(items[i].value, "StringValue");
			if (string_value == NULL)
				string_value = "";
			transport = 1;
			EVP_DigestUpdate(ctx, &transport, 1);
			md5_length_prefixed(ctx, string_value, strlen(string_value));
		}
	}
	hex = digest_hex(ctx);
	EVP_MD_CTX_free(ctx);
	return hex;
}

/* Actions --------------------------------------------------------------- */

/*
 * Runs the action of a service's table that req->action names; false when
 * there is none. On a standby, an action that writes is refused before it
 * starts (the SQL functions would refuse it too, SQLSTATE 25006) with the
 * AWS error of a service that cannot take the request now,
 * ServiceUnavailable (HTTP 503), which AWS clients retry: by the time they
 * do, the standby may have been promoted. The first refusal is logged; a
 * busy client must not fill the log with one line per request.
 */
bool
api_run_action(ApiRequest *req, const ApiAction *actions, int n)
{
	static bool refusal_logged = false;

	for (int i = 0; i < n; i++)
	{
		if (strcmp(req->action, actions[i].name) != 0)
			continue;
		if (actions[i].writes && RecoveryInProgress())
		{
			if (!refusal_logged)
				ereport(LOG,
						(errmsg("sqsn api: this server is a standby: actions "
								"that write (%s, ...) are answered with "
								"ServiceUnavailable until it is promoted",
								req->action),
						 errdetail("Reads are served. Only this first refusal "
								   "is logged.")));
			refusal_logged = true;
			api_error("ServiceUnavailable", 503,
					  "This server is a standby and serves only reads until "
					  "it is promoted: %s is refused. Send writes to the "
					  "primary.",
					  req->action);
		}
		actions[i].run(req);
		return true;
	}
	return false;
}
