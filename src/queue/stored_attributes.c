/*-------------------------------------------------------------------------
 *
 * stored_attributes.c
 *	  The queue attributes sqsn keeps as given, in sqsn.queue's
 *	  extra_attributes: Policy, RedriveAllowPolicy, KmsMasterKeyId,
 *	  KmsDataKeyReusePeriodSeconds and (FIFO) FifoThroughputLimit.
 *
 * Each is checked as the managed service checks it, stored, and returned
 * by sq_get_queue_attributes; an empty string (or null) removes it.
 * RedriveAllowPolicy says which source queues may name this queue as their
 * dead-letter queue (allowAll, denyAll, or byQueue with up to 10 source
 * queue ARNs), checked whenever a redrive policy names the queue. A Policy
 * is kept and shown, and sq_set_queue_attributes turns its statements into
 * grants (security/policy.c). The KMS attributes are kept for clients that
 * set and read them back; messages are sealed with the server's master key
 * whatever they say. A FIFO queue's throughput needs no limit here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#define MAX_POLICY_BYTES      20480 /* the service's limit on a Policy */
#define MAX_REDRIVE_SOURCES   10
#define MAX_KMS_KEY_ID_LENGTH 2048

static SqsnStatement read_stmt = {"SELECT extra_attributes FROM sqsn.queue"
								  " WHERE queue_id OPERATOR(pg_catalog.=) $1",
								  1,
								  {INT8OID},
								  SPI_OK_SELECT,
								  "reading sqsn.queue"};

static SqsnStatement store_stmt = {
	"UPDATE sqsn.queue SET extra_attributes = $2"
	" WHERE queue_id OPERATOR(pg_catalog.=) $1",
	2,
	{INT8OID, JSONBOID},
	SPI_OK_UPDATE,
	"updating sqsn.queue"};

bool
sqsn_is_stored_queue_attribute(const char *key)
{
	return strcmp(key, "Policy") == 0 ||
		   strcmp(key, "RedriveAllowPolicy") == 0 ||
		   strcmp(key, "KmsMasterKeyId") == 0 ||
		   strcmp(key, "KmsDataKeyReusePeriodSeconds") == 0 ||
		   strcmp(key, "FifoThroughputLimit") == 0;
}

pg_noreturn static void invalid(const char *key, const char *detail);

static void
invalid(const char *key, const char *detail)
{
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("invalid value for queue attribute %s", key),
					errdetail("%s", detail)));
}

/* A policy document: a JSON object, given as one or as its text. */
static Jsonb *
policy_document(const char *key, JsonbValue *v)
{
	Jsonb *doc;

	if (v->type == jbvString)
	{
		if (v->val.string.len > MAX_POLICY_BYTES)
			invalid(key, psprintf("A policy has at most %d bytes.",
								  MAX_POLICY_BYTES));
		doc = sqsn_json_or_null(v->val.string.val, v->val.string.len);
		if (doc == NULL)
			invalid(key, "The value is not a JSON document.");
	}
	else
		doc = JsonbValueToJsonb(v);
	if (!JB_ROOT_IS_OBJECT(doc) || JB_ROOT_IS_SCALAR(doc))
		invalid(key, "The value must be a JSON object.");
	if (VARSIZE(doc) > MAX_POLICY_BYTES * 4)
		invalid(key,
				psprintf("A policy has at most %d bytes.", MAX_POLICY_BYTES));
	return doc;
}

static JsonbValue *
member(JsonbContainer *object, const char *name)
{
	return getKeyJsonValueFromContainer(object, name, strlen(name), NULL);
}

/* {"Version"?, "Statement": object or non-empty array, ...} */
static void
check_policy(Jsonb *doc)
{
	JsonbValue *statement = member(&doc->root, "Statement");

	if (statement == NULL || statement->type != jbvBinary)
		invalid("Policy", "A policy needs a Statement: an object or an "
						  "array of them.");
	if (JsonContainerIsArray(statement->val.binary.data) &&
		JsonContainerSize(statement->val.binary.data) == 0)
		invalid("Policy", "The Statement array is empty.");
}

/*
 * {"redrivePermission": "allowAll" | "denyAll" | "byQueue",
 *  "sourceQueueArns": [1..10 ARNs], only with byQueue}
 */
static void
check_redrive_allow_policy(Jsonb *doc)
{
	JsonbValue *permission = member(&doc->root, "redrivePermission");
	JsonbValue *sources = member(&doc->root, "sourceQueueArns");
	char       *p;

	if (permission == NULL || permission->type != jbvString)
		invalid("RedriveAllowPolicy",
				"redrivePermission must be allowAll, denyAll or byQueue.");
	p = pnstrdup(permission->val.string.val, permission->val.string.len);
	if (strcmp(p, "allowAll") != 0 && strcmp(p, "denyAll") != 0 &&
		strcmp(p, "byQueue") != 0)
		invalid("RedriveAllowPolicy",
				"redrivePermission must be allowAll, denyAll or byQueue.");
	if (strcmp(p, "byQueue") != 0)
	{
		if (sources != NULL)
			invalid("RedriveAllowPolicy",
					"sourceQueueArns goes only with redrivePermission "
					"byQueue.");
		return;
	}
	if (sources == NULL || sources->type != jbvBinary ||
		!JsonContainerIsArray(sources->val.binary.data) ||
		JsonContainerSize(sources->val.binary.data) < 1 ||
		JsonContainerSize(sources->val.binary.data) > MAX_REDRIVE_SOURCES)
		invalid("RedriveAllowPolicy",
				psprintf("byQueue needs sourceQueueArns: 1 to %d queue ARNs.",
						 MAX_REDRIVE_SOURCES));
	for (int i = 0; i < (int) JsonContainerSize(sources->val.binary.data); i++)
	{
		JsonbValue *arn =
			getIthJsonbValueFromContainer(sources->val.binary.data, i);
		char *text;

		if (arn->type != jbvString)
			invalid("RedriveAllowPolicy",
					"Each of sourceQueueArns must be a queue ARN.");
		text = pnstrdup(arn->val.string.val, arn->val.string.len);
		if (strncmp(text, "arn:aws:sqs:", 12) != 0 ||
			sqsn_arn_name(text) == NULL)
			invalid("RedriveAllowPolicy",
					psprintf("\"%s\" is not a queue ARN.", text));
	}
}

/* A string attribute's text; strings and numbers as the service gives. */
static char *
scalar_text(const char *key, JsonbValue *v)
{
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(
			DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	invalid(key, "The value must be a string.");
}

/* attrs (NULL: none) without key, then with key: value unless NULL */
static Jsonb *
with_member(Jsonb *attrs, const char *key, JsonbValue *value)
{
	JsonbParseState *state = NULL;
	JsonbValue       k;
	JsonbValue       v;
	char            *name;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	if (attrs != NULL)
	{
		JsonbIterator *it = JsonbIteratorInit(&attrs->root);

		while (sqsn_jsonb_next_pair(&it, &name, &v))
		{
			if (strcmp(name, key) == 0)
				continue;
			k.type = jbvString;
			k.val.string.val = name;
			k.val.string.len = strlen(name);
			pushJsonbValue(&state, WJB_KEY, &k);
			pushJsonbValue(&state, WJB_VALUE, &v);
		}
	}
	if (value != NULL)
	{
		k.type = jbvString;
		k.val.string.val = pstrdup(key);
		k.val.string.len = strlen(key);
		pushJsonbValue(&state, WJB_KEY, &k);
		pushJsonbValue(&state, WJB_VALUE, value);
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

/*
 * attrs (NULL: none yet) with key set to v, checked; an empty string or
 * null removes key. fifo: whether the queue is a FIFO queue.
 */
Jsonb *
sqsn_stored_attribute_set(Jsonb *attrs, const char *key, JsonbValue *v,
						  bool fifo)
{
	JsonbValue value;
	Jsonb     *doc = NULL;
	char      *text = NULL;

	if (strcmp(key, "FifoThroughputLimit") == 0 && !fifo)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue attribute FifoThroughputLimit is only for "
						"FIFO queues")));
	if ((v->type == jbvString && v->val.string.len == 0) || v->type == jbvNull)
		text = "";
	else if (strcmp(key, "Policy") == 0 ||
			 strcmp(key, "RedriveAllowPolicy") == 0)
	{
		doc = policy_document(key, v);
		if (strcmp(key, "Policy") == 0)
			check_policy(doc);
		else
			check_redrive_allow_policy(doc);
	}
	else
	{
		text = scalar_text(key, v);
		if (strcmp(key, "KmsMasterKeyId") == 0 &&
			strlen(text) > MAX_KMS_KEY_ID_LENGTH)
			invalid(key, psprintf("A key id has at most %d characters.",
								  MAX_KMS_KEY_ID_LENGTH));
		if (strcmp(key, "KmsDataKeyReusePeriodSeconds") == 0)
		{
			char *end;
			long  n = strtol(text, &end, 10);

			if (*text == '\0' || *end != '\0' || n < 60 || n > 86400)
				invalid(key, "The period is 60 to 86400 seconds.");
		}
		if (strcmp(key, "FifoThroughputLimit") == 0 &&
			strcmp(text, "perQueue") != 0 &&
			strcmp(text, "perMessageGroupId") != 0)
			invalid(key, "The limit is perQueue or perMessageGroupId.");
	}

	if (text != NULL && text[0] == '\0')
		return with_member(attrs, key, NULL);
	if (doc != NULL)
	{
		value.type = jbvBinary;
		value.val.binary.data = &doc->root;
		value.val.binary.len = VARSIZE(doc) - VARHDRSZ;
	}
	else
	{
		value.type = jbvString;
		value.val.string.val = text;
		value.val.string.len = strlen(text);
	}
	return with_member(attrs, key, &value);
}

/* The stored attributes of a queue (an empty object: none). */
Jsonb *
sqsn_stored_queue_attributes(int64 queue_id)
{
	Datum value = Int64GetDatum(queue_id);
	bool  isnull;

	if (sqsn_execute(&read_stmt, &value, NULL, 1) != 1)
		return NULL;
	return DatumGetJsonbPCopy(SPI_getbinval(
		SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

void
sqsn_store_queue_attributes(int64 queue_id, Jsonb *attrs)
{
	Datum values[2] = {Int64GetDatum(queue_id), JsonbPGetDatum(attrs)};

	sqsn_execute(&store_stmt, values, NULL, 0);
}

/*
 * Whether queue source may name queue dlq (id dlq_id) as its dead-letter
 * queue under dlq's RedriveAllowPolicy; an error if not.
 */
void
sqsn_check_redrive_allowed(int64 dlq_id, const char *dlq, const char *source)
{
	Jsonb      *attrs = sqsn_stored_queue_attributes(dlq_id);
	JsonbValue *policy;
	JsonbValue *permission;
	JsonbValue *sources;
	char       *p;

	if (attrs == NULL ||
		(policy = member(&attrs->root, "RedriveAllowPolicy")) == NULL ||
		policy->type != jbvBinary)
		return;
	permission = member(policy->val.binary.data, "redrivePermission");
	sources = member(policy->val.binary.data, "sourceQueueArns");
	p = permission
			? pnstrdup(permission->val.string.val, permission->val.string.len)
			: "allowAll";
	if (strcmp(p, "byQueue") == 0 && sources != NULL &&
		sources->type == jbvBinary)
	{
		for (int i = 0; i < (int) JsonContainerSize(sources->val.binary.data);
			 i++)
		{
			JsonbValue *arn =
				getIthJsonbValueFromContainer(sources->val.binary.data, i);
			char *name = sqsn_arn_name(
				pnstrdup(arn->val.string.val, arn->val.string.len));

			/* by name, as sqsn reads every ARN: its region is not checked */
			if (name != NULL && strcmp(name, source) == 0)
				return;
		}
	}
	else if (strcmp(p, "denyAll") != 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("queue \"%s\" may not be the dead-letter queue of queue "
					"\"%s\"",
					dlq, source),
			 errdetail("The RedriveAllowPolicy of \"%s\" %s.", dlq,
					   strcmp(p, "denyAll") == 0
						   ? "allows no source queue"
						   : "does not list this source queue"),
			 errhint("Change the RedriveAllowPolicy of \"%s\".", dlq)));
}
