/*-------------------------------------------------------------------------
 *
 * json.c
 *	  Writing JSON objects member by member (attribute results, envelopes,
 *	  dead-letter attributes) and reading jsonb values the way the managed
 *	  services accept them (numbers and booleans also as strings).
 *
 * The writer appends to a StringInfo that holds an object being built:
 * open it with '{', add members with sqsn_json_*, close it with '}'.
 * Every string goes through escape_json, so no value can break out of its
 * JSON string.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/common.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/numeric.h"

static SqsnJsonActionResult check_number(void *state, char *token,
										 JsonTokenType tokentype);

/*
 * Appends "key": to the object being built, after a comma unless the
 * object was just opened.
 */
void
sqsn_json_key(StringInfo buf, const char *key)
{
	if (buf->len > 0 && buf->data[buf->len - 1] != '{')
		appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
}

/* "key":"value" */
void
sqsn_json_string(StringInfo buf, const char *key, const char *value)
{
	sqsn_json_key(buf, key);
	escape_json(buf, value);
}

/* "key":value, value being JSON text already */
void
sqsn_json_raw(StringInfo buf, const char *key, const char *value)
{
	sqsn_json_key(buf, key);
	appendStringInfoString(buf, value);
}

/* "key":true or "key":false */
void
sqsn_json_bool(StringInfo buf, const char *key, bool value)
{
	sqsn_json_raw(buf, key, value ? "true" : "false");
}

/* "key":value, value being a jsonb */
void
sqsn_json_jsonb(StringInfo buf, const char *key, Jsonb *value)
{
	sqsn_json_key(buf, key);
	(void) JsonbToCString(buf, &value->root, VARSIZE(value));
}

/* The JSON text built in buf, as jsonb. */
Jsonb *
sqsn_json_to_jsonb(StringInfo buf)
{
	return DatumGetJsonbP(
		DirectFunctionCall1(jsonb_in, CStringGetDatum(buf->data)));
}

/*
 * Building jsonb directly, without JSON text to parse: "key" of the object
 * being built (pushJsonbValue), and "key":"value" (key NULL: an element of
 * the array being built). Neither copies its strings: they must live until
 * the jsonb is made (JsonbValueToJsonb), so never a local array.
 */
void
sqsn_jsonb_push_key(JsonbParseState **state, const char *key)
{
	JsonbValue k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	(void) pushJsonbValue(state, WJB_KEY, &k);
}

void
sqsn_jsonb_push_string(JsonbParseState **state, const char *key,
					   const char *value)
{
	JsonbValue v;

	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = strlen(value);
	if (key == NULL)
		(void) pushJsonbValue(state, WJB_ELEM, &v);
	else
	{
		sqsn_jsonb_push_key(state, key);
		(void) pushJsonbValue(state, WJB_VALUE, &v);
	}
}

/*
 * Whether a JSON number token is one numeric_in accepts: it refuses a
 * written exponent beyond +-1000 and more than 16383 digits after the
 * point, with an error that would fail the whole statement.
 */
static SqsnJsonActionResult
check_number(void *state, char *token, JsonTokenType tokentype)
{
	bool       *fits = (bool *) state;
	const char *e;

	if (tokentype != JSON_TOKEN_NUMBER)
		return SQSN_JSON_ACTION_DONE;
	if (strlen(token) > 1000)
		*fits = false;
	e = strpbrk(token, "eE");
	if (e != NULL && labs(strtol(e + 1, NULL, 10)) > 1000)
		*fits = false;
	return SQSN_JSON_ACTION_DONE;
}

/*
 * JSON text as jsonb, or NULL when it is not valid JSON (no error). A
 * number PostgreSQL's numeric cannot hold (say 1e99999, or a 2000-digit
 * literal) makes the text count as not JSON, as the managed service's own
 * number limits would.
 */
Jsonb *
sqsn_json_or_null(const char *s, int len)
{
	JsonLexContext *lex;
	JsonSemAction   sem = {0};
	bool            fits = true;

	/* with escapes decoded, so that anything jsonb_in rejects fails here */
	lex = makeJsonLexContextCstringLen(NULL, s, len, GetDatabaseEncoding(),
									   true);
	sem.semstate = &fits;
	sem.scalar = check_number;
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS || !fits)
		return NULL;
	return DatumGetJsonbP(
		DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(s, len))));
}

/*
 * A whole number in [min, max] given as a JSON number or a string of
 * digits (the managed service passes attribute values as strings). Returns
 * false, leaving *result alone, for anything else; the caller says why.
 */
bool
sqsn_jsonb_int(JsonbValue *v, int32 min, int32 max, int32 *result)
{
	char *text;
	char *end;
	long  value;

	if (v->type == jbvNumeric)
		text = DatumGetCString(
			DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else if (v->type == jbvString)
		text = sqsn_jsonb_string(v);
	else
		return false;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < min ||
		value > max)
		return false;
	*result = (int32) value;
	return true;
}

/*
 * A JSON boolean or the string "true"/"false". Returns false, leaving
 * *result alone, for anything else.
 */
bool
sqsn_jsonb_bool(JsonbValue *v, bool *result)
{
	if (v->type == jbvBool)
		*result = v->val.boolean;
	else if (v->type == jbvString && v->val.string.len == 4 &&
			 strncmp(v->val.string.val, "true", 4) == 0)
		*result = true;
	else if (v->type == jbvString && v->val.string.len == 5 &&
			 strncmp(v->val.string.val, "false", 5) == 0)
		*result = false;
	else
		return false;
	return true;
}

/*
 * The next key and value of the JSON object an iterator walks (nested
 * containers skipped); false at its end. *key is palloc'd.
 */
bool
sqsn_jsonb_next_pair(JsonbIterator **it, char **key, JsonbValue *v)
{
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(it, v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			*key = sqsn_jsonb_string(v);
		else if (tok == WJB_VALUE)
			return true;
	}
	return false;
}

/* Whether a value (of an iterator that skips nested ones) is an object. */
bool
sqsn_jsonb_is_object(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/* Whether a value (of an iterator that skips nested ones) is an array. */
bool
sqsn_jsonb_is_array(JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

/*
 * Whether a value is a JSON null or "": how the managed services' clients
 * remove an attribute or a policy.
 */
bool
sqsn_jsonb_is_empty(JsonbValue *v)
{
	return v->type == jbvNull ||
		   (v->type == jbvString && v->val.string.len == 0);
}

/*
 * The error for a policy document (kind: "delivery", "filter", ...) that
 * is not valid: detail says why, hint (or NULL) what to write instead.
 */
void
sqsn_invalid_policy(const char *kind, const char *detail, const char *hint)
{
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("invalid %s policy", kind), errdetail("%s", detail),
					hint ? errhint("%s", hint) : 0));
}

/* A jsonb string value as a palloc'd C string. */
char *
sqsn_jsonb_string(JsonbValue *v)
{
	Assert(v->type == jbvString);
	return pnstrdup(v->val.string.val, v->val.string.len);
}
