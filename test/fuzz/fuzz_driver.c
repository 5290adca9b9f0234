/*-------------------------------------------------------------------------
 *
 * fuzz_driver.c
 *	  libFuzzer harnesses for the parsers that take untrusted input: filter
 *	  policies (validation and matching), receipt handles, and the
 *	  endpoint's query-string/form parser, request readers, response
 *	  writers and SigV4 canonicalisation.
 *
 * The code under test calls into the PostgreSQL backend (jsonb, numeric,
 * memory contexts, ereport), so the fuzzer runs inside a backend: this file
 * is linked with every file of src/ into one instrumented library,
 * sqsn_fuzz.so, and the SQL function sqsn_fuzz_run(target, args) hands
 * control to libFuzzer (LLVMFuzzerRunDriver) from a single-user backend
 * (scripts/fuzz.sh). Every input runs in its own subtransaction and memory
 * context: an ERROR is the expected answer to bad input and is swallowed;
 * a crash, a sanitizer report, a failed property check (abort) or memory
 * growth across inputs is a finding.
 *
 * Targets:
 *	  filter_policy	 input = scope byte, policy JSON, NUL, message attributes
 *					 JSON, NUL, message body. The policy is validated; when
 *					 valid, the message is matched against it. Matching a
 *					 validated policy must never raise an error.
 *	  receipt_handle input = a handle string, decoded against queue 1; then
 *					 the first 24 bytes as (queue, message, lease) are made
 *					 into a handle that must decode to the same numbers.
 *	  query_form	 input = a form body; its pairs, percent-encoded again,
 *					 must parse to the same pairs.
 *	  api_request	 input = protocol byte, then a form body or a JSON
 *					 request; the readers the actions use (parameters,
 *					 numbers, booleans, lists, maps, batch entries, message
 *					 attributes) run over it.
 *	  writers		 input = name, NUL, value: the value written as an XML
 *					 element must read back (entities decoded) as itself,
 *					 and written as a JSON member must parse back to itself.
 *	  sigv4			 input = path, NUL, query form, NUL, header lines
 *					 ("name:value"), NUL, signed header list: the canonical
 *					 request must not change when the query pairs come in
 *					 reverse order, header names change case and values
 *					 gain surrounding blanks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "api/api.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

PG_FUNCTION_INFO_V1(sqsn_fuzz_run);

extern int	LLVMFuzzerRunDriver(int *argc, char ***argv,
								int (*callback) (const uint8_t *data,
												 size_t size));

typedef void (*FuzzTarget) (const char *data, size_t size);

static FuzzTarget current_target;
static MemoryContext input_context;

/* Splits data at NUL bytes into at most n NUL-terminated palloc'd parts. */
static int
split_input(const char *data, size_t size, char **parts, int n)
{
	int			found = 0;
	size_t		start = 0;

	for (size_t i = 0; i <= size && found < n; i++)
	{
		if (i == size || data[i] == '\0' || found == n - 1)
		{
			size_t		end = (found == n - 1) ? size : i;

			parts[found++] = pnstrdup(data + start, end - start);
			start = i + 1;
			if (end == size)
				break;
		}
	}
	for (int i = found; i < n; i++)
		parts[i] = NULL;
	return found;
}

/*
 * Text reaches the server's functions only after the server checked its
 * encoding; inputs that would not pass are skipped.
 */
static Jsonb *
parse_json(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return NULL;
	if (!pg_verifymbstr(s, strlen(s), true))
		return NULL;
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

static void
fuzz_filter_policy(const char *data, size_t size)
{
	char	   *parts[3];
	bool		body_scope;
	Jsonb	   *policy;
	Jsonb	   *attributes = NULL;
	Jsonb	   *body_json = NULL;
	int64		attributes_size;

	if (size < 1)
		return;
	body_scope = (data[0] & 1) != 0;
	split_input(data + 1, size - 1, parts, 3);

	policy = parse_json(parts[0]);
	if (policy == NULL)
		return;
	sqsn_validate_filter_policy(policy, body_scope);

	/*
	 * From here on the policy is one the catalog could hold. Bad attributes
	 * are refused at publish, before matching, as here; matching itself
	 * must not fail.
	 */
	if (parts[1] != NULL && parts[1][0] != '\0')
	{
		Jsonb	   *raw = parse_json(parts[1]);

		attributes = sqsn_normalize_attributes(raw, &attributes_size);
	}
	if (parts[2] != NULL && pg_verifymbstr(parts[2], strlen(parts[2]), true))
		body_json = sqsn_json_or_null(parts[2], strlen(parts[2]));

	PG_TRY();
	{
		(void) sqsn_filter_matches(policy, body_scope, attributes, body_json);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		elog(PANIC, "matching a validated filter policy raised an error");
	}
	PG_END_TRY();
}

static int64
read_int64(const char *p)
{
	int64		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void
fuzz_receipt_handle(const char *data, size_t size)
{
	char	   *handle = pnstrdup(data, size);
	int64		msg_seq;
	int64		lease_token;

	if (size >= 24)
	{
		int64		queue_id = read_int64(data);
		int64		want_seq = read_int64(data + 8);
		int64		want_lease = read_int64(data + 16);
		char	   *made = sqsn_make_receipt_handle(queue_id, want_seq,
													  want_lease);

		sqsn_parse_receipt_handle(made, queue_id, &msg_seq, &lease_token);
		if (msg_seq != want_seq || lease_token != want_lease)
			elog(PANIC, "receipt handle round trip changed its numbers");
	}
	sqsn_parse_receipt_handle(handle, 1, &msg_seq, &lease_token);
}

/* Pairs equal, in order; else PANIC naming what differed. */
static void
check_same_params(List *a, List *b, const char *what)
{
	ListCell   *la;
	ListCell   *lb;

	if (list_length(a) != list_length(b))
		elog(PANIC, "%s: %d pairs became %d", what, list_length(a),
			 list_length(b));
	forboth(la, a, lb, b)
	{
		ApiParam   *x = lfirst(la);
		ApiParam   *y = lfirst(lb);

		if (strcmp(x->name, y->name) != 0 || strcmp(x->value, y->value) != 0)
			elog(PANIC, "%s: a pair changed", what);
	}
}

/* A statement that must not fail on this input: an ERROR is a finding. */
#define MUST_NOT_FAIL(what, stmt) \
	do { \
		PG_TRY(); \
		{ \
			stmt; \
		} \
		PG_CATCH(); \
		{ \
			EmitErrorReport(); \
			elog(PANIC, "%s raised an error", what); \
		} \
		PG_END_TRY(); \
	} while (0)

static void
percent_encode(StringInfo buf, const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
			c == '~')
			appendStringInfoChar(buf, c);
		else
			appendStringInfo(buf, "%%%02X", c);
	}
}

static void
fuzz_query_form(const char *data, size_t size)
{
	List	   *params = api_parse_form(data, size);
	List	   *again = NIL;
	StringInfoData encoded;
	ListCell   *lc;

	initStringInfo(&encoded);
	foreach(lc, params)
	{
		ApiParam   *p = lfirst(lc);

		if (encoded.len > 0)
			appendStringInfoChar(&encoded, '&');
		percent_encode(&encoded, p->name);
		appendStringInfoChar(&encoded, '=');
		percent_encode(&encoded, p->value);
	}
	MUST_NOT_FAIL("parsing a re-encoded form",
				  again = api_parse_form(encoded.data, encoded.len));
	check_same_params(params, again, "form round trip");
}

static void
fuzz_api_request(const char *data, size_t size)
{
	ApiObject	root;
	List	   *entries;
	ListCell   *lc;
	int			number;
	bool		flag;

	if (size < 1)
		return;
	memset(&root, 0, sizeof(root));
	if (data[0] & 1)
	{
		root.protocol = API_QUERY;
		root.params = api_parse_form(data + 1, size - 1);
	}
	else
	{
		Jsonb	   *json = parse_json(pnstrdup(data + 1, size - 1));

		if (json == NULL || !JB_ROOT_IS_OBJECT(json))
			return;
		root.protocol = API_JSON;
		root.json = &json->root;
	}
	(void) api_param(&root, "QueueUrl");
	(void) api_param_int(&root, "MaxNumberOfMessages", 1, 10, &number);
	(void) api_param_bool(&root, "FifoQueue", &flag);
	(void) api_strings(&root, "AttributeNames", "AttributeName");
	(void) api_map(&root, "Attributes", "Attribute", "Name", "Value");
	(void) api_map(&root, "tags", "Tag", "Key", "Value");
	(void) api_message_attributes(&root, "MessageAttributes",
								  "MessageAttribute", "Name", "Value");
	entries = api_objects(&root, "Entries", "SendMessageBatchRequestEntry");
	foreach(lc, entries)
	{
		ApiObject  *entry = lfirst(lc);

		(void) api_param(entry, "Id");
		(void) api_param_int(entry, "DelaySeconds", 0, 900, &number);
		(void) api_message_attributes(entry, "MessageAttributes",
									  "MessageAttribute", "Name", "Value");
	}
}

/* XML character data back to text: the five entities and &#xD; */
static char *
xml_unescape(const char *s, const char *end)
{
	static const struct
	{
		const char *entity;
		char		c;
	}			entities[] = {
		{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'},
		{"&apos;", '\''}, {"&#xD;", '\r'},
	};
	StringInfoData out;

	initStringInfo(&out);
	while (s < end)
	{
		bool		matched = false;

		if (*s == '<')
			elog(PANIC, "XML character data holds a raw '<'");
		for (int i = 0; i < lengthof(entities) && *s == '&'; i++)
		{
			size_t		len = strlen(entities[i].entity);

			if ((size_t) (end - s) >= len &&
				strncmp(s, entities[i].entity, len) == 0)
			{
				appendStringInfoChar(&out, entities[i].c);
				s += len;
				matched = true;
				break;
			}
		}
		if (!matched && *s == '&')
			elog(PANIC, "XML character data holds a bare '&'");
		if (!matched)
			appendStringInfoChar(&out, *s++);
	}
	return out.data;
}

static void
fuzz_writers(const char *data, size_t size)
{
	char	   *parts[2];
	ApiRequest	req;
	char	   *open;
	char	   *start;
	char	   *end;
	Jsonb	   *json;
	JsonbValue *member;

	split_input(data, size, parts, 2);
	if (parts[1] == NULL ||
		!pg_verifymbstr(parts[1], strlen(parts[1]), true))
		return;

	/* XML: a fixed element name, the fuzzed value */
	memset(&req, 0, sizeof(req));
	req.protocol = API_QUERY;
	req.out = makeStringInfo();
	api_out_string(&req, "Value", parts[1]);
	open = req.out->data;
	if (strncmp(open, "<Value>", 7) != 0)
		elog(PANIC, "XML element does not start with its name");
	start = open + 7;
	end = req.out->data + req.out->len - strlen("</Value>");
	if (end < start || strcmp(end, "</Value>") != 0)
		elog(PANIC, "XML element does not end with its name");
	if (strcmp(xml_unescape(start, end), parts[1]) != 0)
		elog(PANIC, "XML value does not read back as itself");

	/* JSON: the fuzzed name and value as a member of an object */
	if (!pg_verifymbstr(parts[0], strlen(parts[0]), true))
		return;
	memset(&req, 0, sizeof(req));
	req.protocol = API_JSON;
	req.out = makeStringInfo();
	api_out_begin_object(&req, NULL, NULL);
	api_out_string(&req, parts[0], parts[1]);
	api_out_end_object(&req, NULL);
	MUST_NOT_FAIL("parsing the JSON written",
				  json = DatumGetJsonbP(DirectFunctionCall1(
					  jsonb_in, CStringGetDatum(req.out->data))));
	member = getKeyJsonValueFromContainer(&json->root, parts[0],
										  strlen(parts[0]), NULL);
	if (member == NULL || member->type != jbvString ||
		(size_t) member->val.string.len != strlen(parts[1]) ||
		memcmp(member->val.string.val, parts[1], strlen(parts[1])) != 0)
		elog(PANIC, "JSON member does not read back as itself");
}

/* s with its ASCII letters in one case */
static char *
ascii_case(const char *s, bool upper)
{
	char	   *out = pstrdup(s);

	for (char *p = out; *p; p++)
		*p = upper ? pg_ascii_toupper((unsigned char) *p)
			: pg_ascii_tolower((unsigned char) *p);
	return out;
}

/* "name:value" lines as headers, names lower case as the server keeps them */
static List *
header_lines(const char *text, bool disguise)
{
	List	   *headers = NIL;
	char	   *copy = pstrdup(text);
	char	   *line = copy;

	while (line != NULL && *line != '\0')
	{
		char	   *nl = strchr(line, '\n');
		char	   *colon;

		if (nl)
			*nl = '\0';
		colon = strchr(line, ':');
		if (colon)
		{
			ApiParam   *h = palloc(sizeof(ApiParam));

			*colon = '\0';
			h->name = ascii_case(line, disguise);
			h->value = disguise ? psprintf(" \t%s\t ", colon + 1)
				: pstrdup(colon + 1);
			headers = lappend(headers, h);
		}
		line = nl ? nl + 1 : NULL;
	}
	return headers;
}

static void
fuzz_sigv4(const char *data, size_t size)
{
	char	   *parts[4];
	List	   *query;
	List	   *reversed = NIL;
	ListCell   *lc;
	char	   *plain = NULL;
	char	   *disguised = NULL;

	split_input(data, size, parts, 4);
	if (parts[3] == NULL)
		return;
	query = api_parse_form(parts[1], strlen(parts[1]));
	foreach(lc, query)
		reversed = lcons(lfirst(lc), reversed);
	plain = api_sigv4_canonical_request("POST", parts[0], query, false,
										header_lines(parts[2], false),
										ascii_case(parts[3], false),
										"UNSIGNED-PAYLOAD");
	MUST_NOT_FAIL("canonicalising the disguised request",
				  disguised = api_sigv4_canonical_request(
					  "POST", parts[0], reversed, false,
					  header_lines(parts[2], true),
					  ascii_case(parts[3], false),
					  "UNSIGNED-PAYLOAD"));
	if ((plain == NULL) != (disguised == NULL) ||
		(plain != NULL && strcmp(plain, disguised) != 0))
		elog(PANIC, "the canonical request depends on query order, header "
			 "case or surrounding blanks");
}

/*
 * One input: its own subtransaction, so an ERROR rolls back cleanly, and
 * its own memory, reset afterwards.
 */
static int
run_one(const uint8_t *data, size_t size)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	CHECK_FOR_INTERRUPTS();
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(input_context);
	PG_TRY();
	{
		current_target((const char *) data, size);
		MemoryContextSwitchTo(caller);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	CurrentResourceOwner = owner;
	MemoryContextReset(input_context);
	return 0;
}

/*
 * sqsn_fuzz_run(target text, args text[]): runs libFuzzer on target with
 * libFuzzer's command-line arguments; returns when libFuzzer stops (a
 * bounded -max_total_time or -runs) unless it finds a crash, in which case
 * libFuzzer writes the input and exits the process.
 */
Datum
sqsn_fuzz_run(PG_FUNCTION_ARGS)
{
	char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ArrayType  *args = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			nargs;
	int			argc;
	char	  **argv;
	int			rc;

	if (strcmp(target, "filter_policy") == 0)
		current_target = fuzz_filter_policy;
	else if (strcmp(target, "receipt_handle") == 0)
	{
		current_target = fuzz_receipt_handle;
		/* load the handle key (SPI) once, outside the fuzzed inputs */
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		(void) sqsn_make_receipt_handle(1, 1, 1);
		SPI_finish();
	}
	else if (strcmp(target, "query_form") == 0)
		current_target = fuzz_query_form;
	else if (strcmp(target, "api_request") == 0)
		current_target = fuzz_api_request;
	else if (strcmp(target, "writers") == 0)
		current_target = fuzz_writers;
	else if (strcmp(target, "sigv4") == 0)
		current_target = fuzz_sigv4;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown fuzz target \"%s\"", target)));

	deconstruct_array(args, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls,
					  &nargs);
	argv = palloc0(sizeof(char *) * (nargs + 2));
	argv[0] = pstrdup("sqsn_fuzz");
	for (int i = 0; i < nargs; i++)
		argv[i + 1] = nulls[i] ? pstrdup("") : TextDatumGetCString(elems[i]);
	argc = nargs + 1;

	input_context = AllocSetContextCreate(TopMemoryContext, "sqsn fuzz input",
										  ALLOCSET_DEFAULT_SIZES);
	rc = LLVMFuzzerRunDriver(&argc, &argv, run_one);
	MemoryContextDelete(input_context);
	PG_RETURN_INT32(rc);
}
