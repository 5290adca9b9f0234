/*-------------------------------------------------------------------------
 *
 * sqs.c
 *	  The SQS actions of the AWS-compatible endpoint, for both wire
 *	  protocols (query/XML and JSON 1.0).
 *
 * Each action reads its parameters, checks what only the wire format
 * defines (batch entry ids, attribute names, the characters a body may
 * hold), and calls the sqsn.sq_* SQL function that does the work, so the
 * semantics, limits and access checks are those of the SQL API. What the
 * SQL functions name differently is translated here: queue URLs and ARNs
 * to queue names, RedrivePolicy's deadLetterTargetArn, attribute values
 * as strings, timestamps in the service's units.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "api/api.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#define MAX_ENTRIES       10
#define MAX_ENTRY_ID      80
#define QUEUE_ERROR_SHAPE "com.amazonaws.sqs#"

/*
 * The calls of the queue API, run by sqsn_execute (an internal failure
 * reads "SPI_execute_plan failed").
 */

static SqsnStatement create_queue_stmt = {
	"SELECT sqsn.sq_create_queue(queue_name => $1,"
	" visibility_timeout => coalesce(($2->>'VisibilityTimeout')::integer, 30),"
	" message_retention_period =>"
	"  coalesce(($2->>'MessageRetentionPeriod')::integer, 345600),"
	" delay_seconds => coalesce(($2->>'DelaySeconds')::integer, 0),"
	" maximum_message_size =>"
	"  coalesce(($2->>'MaximumMessageSize')::integer, 262144),"
	" dead_letter_queue => nullif(split_part("
	"  (nullif($2->>'RedrivePolicy', '')::jsonb)"
	"->>'deadLetterTargetArn', ':', 6), ''),"
	" max_receive_count => ((nullif($2->>'RedrivePolicy', '')"
	"::jsonb)->>'maxReceiveCount')::integer,"
	" receive_wait_time_seconds =>"
	"  coalesce(($2->>'ReceiveMessageWaitTimeSeconds')::integer, 0),"
	" content_based_deduplication =>"
	"  coalesce(($2->>'ContentBasedDeduplication')::boolean, false),"
	" deduplication_scope => CASE $2->>'DeduplicationScope'"
	"  WHEN 'messageGroup' THEN 'message_group' ELSE 'queue' END,"
	" encrypted =>"
	"  coalesce(($2->>'SqsManagedSseEnabled')::boolean, false))",
	2,
	{TEXTOID, JSONBOID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement queue_exists_stmt = {
	"SELECT 1 FROM sqsn.queue WHERE queue_name OPERATOR(pg_catalog.=) $1",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement delete_queue_stmt = {"SELECT sqsn.sq_delete_queue($1)",
										  1,
										  {TEXTOID},
										  SPI_OK_SELECT,
										  "SPI_execute_plan"};

static SqsnStatement purge_queue_stmt = {"SELECT sqsn.sq_purge_queue($1)",
										 1,
										 {TEXTOID},
										 SPI_OK_SELECT,
										 "SPI_execute_plan"};

static SqsnStatement list_queues_stmt = {
	"SELECT q FROM sqsn.sq_list_queues($1) q"
	" WHERE $2 IS NULL OR q COLLATE \"C\" OPERATOR(pg_catalog.>) $2"
	" ORDER BY q COLLATE \"C\" LIMIT $3",
	3,
	{TEXTOID, TEXTOID, INT4OID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement list_dead_letter_sources_stmt = {
	"SELECT q FROM sqsn.sq_list_dead_letter_source_queues($1) q"
	" WHERE $2 IS NULL OR q COLLATE \"C\" OPERATOR(pg_catalog.>) $2"
	" ORDER BY q COLLATE \"C\" LIMIT $3",
	3,
	{TEXTOID, TEXTOID, INT4OID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement tag_queue_stmt = {"SELECT sqsn.sq_tag_queue($1, $2)",
										2,
										{TEXTOID, JSONBOID},
										SPI_OK_SELECT,
										"SPI_execute_plan"};

static SqsnStatement untag_queue_stmt = {
	"SELECT sqsn.sq_untag_queue($1, $2)",
	2,
	{TEXTOID, TEXTARRAYOID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement list_queue_tags_stmt = {
	"SELECT key, value FROM jsonb_each_text(sqsn.sq_list_queue_tags($1))"
	" ORDER BY key COLLATE \"C\"",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement start_move_task_stmt = {
	"SELECT sqsn.sq_start_message_move_task($1, $2, $3)::text",
	3,
	{TEXTOID, TEXTOID, INT4OID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement list_move_tasks_stmt = {
	"SELECT task_handle::text, status, source_queue, destination_queue,"
	" max_messages_per_second::text, messages_moved::text,"
	" messages_to_move::text, failure_reason, started_at"
	" FROM sqsn.sq_list_message_move_tasks($1, $2)",
	2,
	{TEXTOID, INT4OID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement cancel_move_task_stmt = {
	"SELECT sqsn.sq_cancel_message_move_task($1::uuid)::text",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement get_attributes_stmt = {
	"SELECT sqsn.sq_get_queue_attributes($1)",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement set_attributes_stmt = {
	"SELECT sqsn.sq_set_queue_attributes($1, $2)"
	" WHERE $2 OPERATOR(pg_catalog.<>) '{}'::jsonb",
	2,
	{TEXTOID, JSONBOID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement send_stmt = {
	"SELECT sqsn.sq_send($1, $2, $3, $4, $5, $6)",
	6,
	{TEXTOID, TEXTOID, JSONBOID, INT4OID, TEXTOID, TEXTOID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement send_batch_stmt = {
	"SELECT sqsn.sq_send_batch($1, $2, $3, $4, $5, $6)",
	6,
	{TEXTOID, TEXTARRAYOID, JSONBARRAYOID, INT4OID, TEXTARRAYOID,
	 TEXTARRAYOID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement receive_stmt = {
	"SELECT message_id::text, receipt_handle, body,"
	" message_attributes, sent_at, receive_count,"
	" first_received_at, message_group_id,"
	" message_deduplication_id, sequence_number"
	" FROM sqsn.sq_receive($1, $2, $3, 0)",
	3,
	{TEXTOID, INT4OID, INT4OID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static SqsnStatement delete_stmt = {"SELECT sqsn.sq_delete($1, $2)",
									2,
									{TEXTOID, TEXTOID},
									SPI_OK_SELECT,
									"SPI_execute_plan"};

static SqsnStatement change_visibility_stmt = {
	"SELECT sqsn.sq_change_visibility($1, $2, $3)",
	3,
	{TEXTOID, TEXTOID, INT4OID},
	SPI_OK_SELECT,
	"SPI_execute_plan"};

static Datum
text_datum(const char *s)
{
	return PointerGetDatum(cstring_to_text(s));
}

/* Parameters ------------------------------------------------------------ */

/*
 * The queue a query request's path names: the request was sent to the queue
 * URL itself, "/<account>/<queue>", as the managed service allows for every
 * action that takes a QueueUrl (kombu, boto 2 and Amazon::SQS::Simple send
 * their requests so, some with no QueueUrl parameter at all). NULL for any
 * other path ("/", the endpoint's own). The account is not checked, as in a
 * QueueUrl: only the queue name counts.
 */
static const char *
path_queue_name(const char *path)
{
	const char *account;
	const char *slash;

	if (path == NULL || path[0] != '/')
		return NULL;
	account = path + 1;
	slash = strchr(account, '/');
	if (slash == NULL || slash == account || slash[1] == '\0' ||
		strchr(slash + 1, '/') != NULL)
		return NULL;
	return slash + 1;
}

static void
no_such_queue(void)
{
	api_error_shape("AWS.SimpleQueueService.NonExistentQueue",
					QUEUE_ERROR_SHAPE "QueueDoesNotExist", 400,
					"The specified queue does not exist.");
}

/*
 * The queue of an action that takes a QueueUrl: the last path segment of
 * the QueueUrl parameter, or (query protocol) the queue the request path
 * names. When both are given they must name the same queue: otherwise the
 * request is refused as the managed service refuses an address that is not
 * the queue's (InvalidAddress). The JSON protocol reads QueueUrl alone.
 */
static char *
queue_name(ApiRequest *req)
{
	const char *url = api_param(&req->root, "QueueUrl");
	const char *from_path =
		req->protocol == API_QUERY ? path_queue_name(req->path) : NULL;
	const char *name;

	if (url == NULL)
	{
		if (from_path == NULL)
			api_error("MissingParameter", 400,
					  "The request must contain the parameter QueueUrl.");
		return pstrdup(from_path);
	}
	name = strrchr(url, '/') ? strrchr(url, '/') + 1 : url;
	if (*name == '\0')
		no_such_queue();
	if (from_path != NULL && strcmp(name, from_path) != 0)
		api_error_shape("InvalidAddress", QUEUE_ERROR_SHAPE "InvalidAddress",
						404,
						"The address %s%s is not valid for this endpoint: "
						"the parameter QueueUrl names another queue (%s).",
						req->base_url, req->path, url);
	return pstrdup(name);
}

/* The body: characters the service allows in XML, else an error. */
static void
check_body(const char *body)
{
	const unsigned char *p = (const unsigned char *) body;

	for (; *p; p++)
	{
		if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
			api_error("InvalidMessageContents", 400,
					  "Invalid binary character '#x%X' was found in the "
					  "message body, the set of allowed characters is "
					  "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | "
					  "#x10000 to #x10FFFF",
					  *p);
		/* U+FFFE and U+FFFF */
		if (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF))
			api_error("InvalidMessageContents", 400,
					  "Invalid character U+%s was found in the message body.",
					  p[2] == 0xBE ? "FFFE" : "FFFF");
	}
}

/* Batch entries: 1..10, ids of [A-Za-z0-9_-]{1,80}, all different. */
static List *
batch_entries(ApiRequest *req, const char *query_prefix)
{
	List     *entries = api_objects(&req->root, "Entries", query_prefix);
	ListCell *lc;

	if (entries == NIL)
		api_error_shape("AWS.SimpleQueueService.EmptyBatchRequest",
						QUEUE_ERROR_SHAPE "EmptyBatchRequest", 400,
						"There should be at least one %s in the request.",
						query_prefix);
	if (list_length(entries) > MAX_ENTRIES)
		api_error_shape(
			"AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
			QUEUE_ERROR_SHAPE "TooManyEntriesInBatchRequest", 400,
			"Maximum number of entries per request are %d. You have sent %d.",
			MAX_ENTRIES, list_length(entries));
	foreach (lc, entries)
	{
		const char *id = api_param(lfirst(lc), "Id");
		size_t      len = id ? strlen(id) : 0;
		ListCell   *other;

		if (len == 0 || len > MAX_ENTRY_ID ||
			strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789_-") != len)
			api_error_shape(
				"AWS.SimpleQueueService.InvalidBatchEntryId",
				QUEUE_ERROR_SHAPE "InvalidBatchEntryId", 400,
				"A batch entry id can only contain alphanumeric characters, "
				"hyphens and underscores. It can be at most %d letters long.",
				MAX_ENTRY_ID);
		for_each_cell(other, entries, lnext(entries, lc))
		{
			if (strcmp(id, api_param(lfirst(other), "Id")) == 0)
				api_error_shape(
					"AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
					QUEUE_ERROR_SHAPE "BatchEntryIdsNotDistinct", 400,
					"Id %s repeated.", id);
		}
	}
	return entries;
}

/* Queue attributes ------------------------------------------------------ */

typedef struct QueueAttributeDef
{
	const char *name;
	int         min;
	int         max; /* min > max: not an integer */
} QueueAttributeDef;

static const QueueAttributeDef settable_attributes[] = {
	{"DelaySeconds", 0, SQSN_MAX_DELAY},
	{"MaximumMessageSize", SQSN_MIN_MESSAGE_SIZE, SQSN_MAX_QUEUE_MESSAGE_SIZE},
	{"MessageRetentionPeriod", SQSN_MIN_RETENTION, SQSN_MAX_RETENTION},
	{"ReceiveMessageWaitTimeSeconds", 0, SQSN_MAX_WAIT_TIME},
	{"VisibilityTimeout", 0, SQSN_MAX_VISIBILITY_TIMEOUT},
	{"RedrivePolicy", 1, 0},
	{"ContentBasedDeduplication", 1, 0},
	{"DeduplicationScope", 1, 0},
	{"SqsManagedSseEnabled", 1, 0},
	/* kept as given (queue/stored_attributes.c) */
	{"Policy", 1, 0},
	{"RedriveAllowPolicy", 1, 0},
	{"KmsMasterKeyId", 1, 0},
	{"KmsDataKeyReusePeriodSeconds", 60, 86400},
	{"FifoThroughputLimit", 1, 0},
};

static const char *const readonly_attributes[] = {
	"QueueArn",
	"ApproximateNumberOfMessages",
	"ApproximateNumberOfMessagesNotVisible",
	"ApproximateNumberOfMessagesDelayed",
	"CreatedTimestamp",
	"LastModifiedTimestamp",
};

static bool
fifo_only_attribute(const char *name)
{
	return strcmp(name, "ContentBasedDeduplication") == 0 ||
		   strcmp(name, "DeduplicationScope") == 0 ||
		   strcmp(name, "FifoThroughputLimit") == 0;
}

/*
 * Checks attribute names and values as the service does (unknown or
 * read-only: InvalidAttributeName; out of range: InvalidAttributeValue)
 * and returns them as the jsonb object sqsn's functions take.
 */
static Jsonb *
settable_attributes_jsonb(List *attributes, bool fifo, bool creating)
{
	StringInfoData buf;
	ListCell      *lc;
	bool           first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	foreach (lc, attributes)
	{
		ApiParam                *a = lfirst(lc);
		const QueueAttributeDef *def = NULL;

		for (int i = 0; i < lengthof(settable_attributes); i++)
			if (strcmp(a->name, settable_attributes[i].name) == 0)
				def = &settable_attributes[i];
		if (strcmp(a->name, "FifoQueue") == 0 && creating)
		{
			if (pg_strcasecmp(a->value, "true") != 0 &&
				pg_strcasecmp(a->value, "false") != 0)
				api_error("InvalidAttributeValue", 400,
						  "Invalid value for the parameter FifoQueue.");
			if ((pg_strcasecmp(a->value, "true") == 0) != fifo)
				api_error("InvalidParameterValue", 400,
						  fifo ? "The name of a FIFO queue must end with the "
								 ".fifo suffix and FifoQueue must be true."
							   : "The name of a FIFO queue can only include "
								 "alphanumeric characters, hyphens, or "
								 "underscores, must end with .fifo suffix.");
			continue;
		}
		if (def == NULL || (fifo_only_attribute(a->name) && !fifo))
			api_error("InvalidAttributeName", 400, "Unknown Attribute %s.",
					  a->name);
		if (def->min <= def->max)
		{
			char *end;
			long  n;

			errno = 0;
			n = strtol(a->value, &end, 10);
			if (end == a->value || *end != '\0' || errno != 0 ||
				n < def->min || n > def->max)
				api_error("InvalidAttributeValue", 400,
						  "Invalid value for the parameter %s.", a->name);
		}
		if (!first)
			appendStringInfoChar(&buf, ',');
		first = false;
		escape_json(&buf, a->name);
		appendStringInfoChar(&buf, ':');
		escape_json(&buf, a->value);
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(
		DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* a jsonb value as the string the service gives attribute values as */
static char *
attribute_text(JsonbValue *v)
{
	char *text = api_json_text(v);

	return text ? text : "";
}

static bool
wanted(List *names, const char *name)
{
	ListCell *lc;

	foreach (lc, names)
	{
		if (strcmp(lfirst(lc), "All") == 0 || strcmp(lfirst(lc), name) == 0)
			return true;
	}
	return false;
}

/* Actions --------------------------------------------------------------- */

static SqsnQueue *open_queue(const char *name);

/* Does a queue of that name exist? (Read as open_queue() reads.) */
static bool
queue_exists(const char *name)
{
	Oid    save_userid;
	int    save_sec;
	Datum  value = text_datum(name);
	uint64 n;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	n = sqsn_execute(&queue_exists_stmt, &value, NULL, 0);
	SetUserIdAndSecContext(save_userid, save_sec);
	return n > 0;
}

/*
 * The integer and boolean attributes a CreateQueue of an existing queue
 * compares with the queue's, by their field in its cache entry.
 */
typedef struct ComparedAttribute
{
	const char *name;
	size_t      offset; /* in SqsnQueue */
} ComparedAttribute;

static const ComparedAttribute compared_ints[] = {
	{"VisibilityTimeout", offsetof(SqsnQueue, visibility_timeout)},
	{"MessageRetentionPeriod", offsetof(SqsnQueue, message_retention_period)},
	{"DelaySeconds", offsetof(SqsnQueue, delay_seconds)},
	{"MaximumMessageSize", offsetof(SqsnQueue, maximum_message_size)},
	{"ReceiveMessageWaitTimeSeconds",
	 offsetof(SqsnQueue, receive_wait_time_seconds)},
};

static const ComparedAttribute compared_bools[] = {
	{"ContentBasedDeduplication",
	 offsetof(SqsnQueue, content_based_deduplication)},
	{"SqsManagedSseEnabled", offsetof(SqsnQueue, encrypted)},
};

/* The field of the queue an attribute of table names, or NULL. */
static const void *
compared_field(const char *name, SqsnQueue *queue,
			   const ComparedAttribute *table, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(name, table[i].name) == 0)
			return (const char *) queue + table[i].offset;
	return NULL;
}

static bool
same_int(const char *value, int32 current)
{
	return strtol(value, NULL, 10) == current;
}

static bool
same_bool(const char *value, bool current)
{
	return (pg_strcasecmp(value, "true") == 0) == current;
}

/*
 * As in SQS, CreateQueue of an existing queue succeeds when every attribute
 * the request names has the queue's value; attributes it leaves out are not
 * compared.
 */
static void
check_existing_queue(const char *name, List *attributes)
{
	SqsnQueue *queue = open_queue(name);
	ListCell  *lc;

	foreach (lc, attributes)
	{
		ApiParam   *a = lfirst(lc);
		const void *int_field = compared_field(a->name, queue, compared_ints,
											   lengthof(compared_ints));
		const void *bool_field = compared_field(a->name, queue, compared_bools,
												lengthof(compared_bools));
		bool        same = true;

		if (int_field != NULL)
			same = same_int(a->value, *(const int32 *) int_field);
		else if (bool_field != NULL)
			same = same_bool(a->value, *(const bool *) bool_field);
		else if (strcmp(a->name, "DeduplicationScope") == 0)
			same = (strcmp(a->value, "messageGroup") == 0) ==
				   queue->deduplicate_per_group;
		else if (strcmp(a->name, "RedrivePolicy") == 0)
		{
			Jsonb *policy = NULL;
			char  *target = NULL;
			char  *count = NULL;

			if (a->value[0] != '\0')
			{
				JsonbValue  k;
				JsonbValue *v;

				policy = DatumGetJsonbP(
					DirectFunctionCall1(jsonb_in, CStringGetDatum(a->value)));
				k.type = jbvString;
				k.val.string.val = "deadLetterTargetArn";
				k.val.string.len = strlen(k.val.string.val);
				v = findJsonbValueFromContainer(&policy->root, JB_FOBJECT, &k);
				if (v)
				{
					target = attribute_text(v);
					if (strrchr(target, ':'))
						target = strrchr(target, ':') + 1;
				}
				k.val.string.val = "maxReceiveCount";
				k.val.string.len = strlen(k.val.string.val);
				v = findJsonbValueFromContainer(&policy->root, JB_FOBJECT, &k);
				if (v)
					count = attribute_text(v);
			}
			if (target == NULL)
				same = queue->dead_letter_queue == NULL;
			else
				same = queue->dead_letter_queue != NULL &&
					   strcmp(target, queue->dead_letter_queue) == 0 &&
					   count != NULL &&
					   same_int(count, queue->max_receive_count);
		}
		if (!same)
			api_error_shape("QueueAlreadyExists",
							QUEUE_ERROR_SHAPE "QueueNameExists", 400,
							"A queue already exists with the same name and a "
							"different value for attribute %s.",
							a->name);
	}
}

/* Of settings, the attributes queue/stored_attributes.c keeps. */
static Jsonb *
stored_attributes(Jsonb *settings)
{
	JsonbIterator   *it = JsonbIteratorInit(&settings->root);
	JsonbParseState *state = NULL;
	JsonbValue       v;
	JsonbValue       key;
	int              tok;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = v;
		else if (tok == WJB_VALUE &&
				 sqsn_is_stored_queue_attribute(
					 pnstrdup(key.val.string.val, key.val.string.len)))
		{
			pushJsonbValue(&state, WJB_KEY, &key);
			pushJsonbValue(&state, WJB_VALUE, &v);
		}
	}
	return JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
}

static void
create_queue(ApiRequest *req)
{
	const char *name = api_required_param(&req->root, "QueueName");
	List       *attributes =
		api_map(&req->root, "Attributes", "Attribute", "Name", "Value");
	List  *tags = api_map(&req->root, "tags", "Tag", "Key", "Value");
	bool   fifo = sqsn_is_fifo_name(name);
	Jsonb *settings = settable_attributes_jsonb(attributes, fifo, true);
	Datum  values[2];

	if (queue_exists(name))
	{
		check_existing_queue(name, attributes);
		api_out_string(req, "QueueUrl", sqsn_queue_url(req->base_url, name));
		return;
	}

	/*
	 * Created with its tags in one transaction: tags that are refused
	 * leave no queue behind. (Tags given for an existing queue are not
	 * applied, as in the service: TagQueue changes them.)
	 */
	values[0] = text_datum(name);
	values[1] = JsonbPGetDatum(settings);
	sqsn_execute(&create_queue_stmt, values, NULL, 0);
	/* the attributes sq_create_queue has no parameter for */
	values[1] = JsonbPGetDatum(stored_attributes(settings));
	sqsn_execute(&set_attributes_stmt, values, NULL, 0);
	if (tags != NIL)
	{
		values[1] = JsonbPGetDatum(api_params_jsonb(tags));
		sqsn_execute(&tag_queue_stmt, values, NULL, 0);
	}
	api_out_string(req, "QueueUrl", sqsn_queue_url(req->base_url, name));
}

/*
 * The cache entry of a queue. The catalog tables are the extension owner's,
 * not the request role's: read them as the bootstrap superuser, as the
 * SECURITY DEFINER functions do (the functions the action then calls check
 * the role's rights).
 */
static SqsnQueue *
open_queue(const char *name)
{
	Oid        save_userid;
	int        save_sec;
	SqsnQueue *queue;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	queue = sqsn_open_queue(name, AccessShareLock);
	SetUserIdAndSecContext(save_userid, save_sec);
	return queue;
}

static void
get_queue_url(ApiRequest *req)
{
	const char *name = api_required_param(&req->root, "QueueName");
	SqsnQueue  *queue = open_queue(name);

	api_out_string(req, "QueueUrl",
				   sqsn_queue_url(req->base_url, queue->name));
}

/*
 * Paging of ListQueues and ListDeadLetterSourceQueues. A NextToken is
 * opaque to clients: the base64 of the action's name and the last queue
 * name of the page, so a token of one action or one made up is refused
 * (InvalidParameterValue) rather than read as a name. As the service does,
 * a page has a NextToken only when the request gave MaxResults (1..1000);
 * without it the answer holds up to 1000 queues.
 */
static char *
page_token(const char *action, const char *last)
{
	char *raw = psprintf("%s\n%s", action, last);
	int   len = strlen(raw);
	char *token = palloc(pg_b64_enc_len(len) + 1);
	int   n = pg_b64_encode(raw, len, token, pg_b64_enc_len(len));

	if (n < 0)
		elog(ERROR, "could not encode a page token");
	token[n] = '\0';
	return token;
}

/* Whether a token's name could be a queue's (1..80 of [A-Za-z0-9_.-]). */
static bool
token_name_ok(const char *name)
{
	size_t len = strlen(name);

	if (len < 1 || len > 80)
		return false;
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char) *c) && *c != '-' && *c != '_' &&
			*c != '.')
			return false;
	return true;
}

/* The last queue name of the previous page, or NULL for the first page. */
static char *
page_token_name(ApiRequest *req, const char *action)
{
	const char *token = api_param(&req->root, "NextToken");
	int         len;
	char       *raw;
	int         n;
	size_t      prefix = strlen(action);

	if (token == NULL || token[0] == '\0')
		return NULL;
	len = strlen(token);
	raw = palloc(pg_b64_dec_len(len) + 1);
	n = pg_b64_decode(token, len, raw, pg_b64_dec_len(len));
	if (n > 0)
		raw[n] = '\0';
	if (n <= (int) prefix + 1 || memchr(raw, '\0', n) != NULL ||
		strncmp(raw, action, prefix) != 0 || raw[prefix] != '\n' ||
		!token_name_ok(raw + prefix + 1))
		api_error("InvalidParameterValue", 400,
				  "Invalid NextToken value. It must be a token this endpoint "
				  "returned for %s.",
				  action);
	return raw + prefix + 1;
}

/*
 * One page of queue URLs: runs stmt with ($1 = arg, $2 = the token's last
 * name, $3 = the page size + 1), writes the URLs as array json_name
 * (XML: xml_element per URL) and, when there is more and MaxResults was
 * given, the NextToken.
 */
static void
queue_url_page(ApiRequest *req, const char *action, SqsnStatement *stmt,
			   const char *arg, const char *json_name,
			   const char *xml_element)
{
	char  *after = page_token_name(req, action);
	int    max_results = 1000;
	bool   paged =
		api_param_int(&req->root, "MaxResults", 1, 1000, &max_results);
	Datum  values[3];
	char   nulls[3] = {arg ? ' ' : 'n', after ? ' ' : 'n', ' '};
	uint64 n;

	values[0] = arg ? text_datum(arg) : (Datum) 0;
	values[1] = after ? text_datum(after) : (Datum) 0;
	values[2] = Int32GetDatum(max_results + 1);
	sqsn_execute(stmt, values, nulls, 0);
	n = Min(SPI_processed, (uint64) max_results);
	api_out_begin_array(req, json_name);
	for (uint64 i = 0; i < n; i++)
		api_out_array_string(
			req, xml_element,
			sqsn_queue_url(req->base_url,
						   SPI_getvalue(SPI_tuptable->vals[i],
										SPI_tuptable->tupdesc, 1)));
	api_out_end_array(req);
	if (paged && SPI_processed > n)
		api_out_string(req, "NextToken",
					   page_token(action,
								  SPI_getvalue(SPI_tuptable->vals[n - 1],
											   SPI_tuptable->tupdesc, 1)));
}

static void
list_queues(ApiRequest *req)
{
	queue_url_page(req, "ListQueues", &list_queues_stmt,
				   api_param(&req->root, "QueueNamePrefix"), "QueueUrls",
				   "QueueUrl");
}

static void
list_dead_letter_source_queues(ApiRequest *req)
{
	queue_url_page(req, "ListDeadLetterSourceQueues",
				   &list_dead_letter_sources_stmt, queue_name(req),
				   "queueUrls", "QueueUrl");
}

/*
 * TagQueue (Tag.N.Key/Value, JSON Tags, added to the queue's tags) and
 * UntagQueue (TagKey.N, JSON TagKeys, removed from them).
 */
static void
change_queue_tags(ApiRequest *req)
{
	bool  add = strcmp(req->action, "TagQueue") == 0;
	List *given = add ? api_map(&req->root, "Tags", "Tag", "Key", "Value")
					  : api_strings(&req->root, "TagKeys", "TagKey");
	Datum values[2];

	if (given == NIL)
		api_error("MissingParameter", 400,
				  "The request must contain the parameter %s.",
				  add ? "Tags" : "TagKeys");
	values[0] = text_datum(queue_name(req));
	values[1] = add ? JsonbPGetDatum(api_params_jsonb(given))
					: api_strings_array(given);
	sqsn_execute(add ? &tag_queue_stmt : &untag_queue_stmt, values, NULL, 0);
}

/* ListQueueTags: the queue's tags, Tag/Key,Value (JSON: a Tags object). */
static void
list_queue_tags(ApiRequest *req)
{
	Datum value = text_datum(queue_name(req));

	sqsn_execute(&list_queue_tags_stmt, &value, NULL, 0);
	if (SPI_processed == 0)
		return;
	api_out_begin_object(req, "Tags", NULL);
	for (uint64 i = 0; i < SPI_processed; i++)
		api_out_map_pair(
			req, "Tag", "Key", "Value",
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1),
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	api_out_end_object(req, NULL);
}

/* Message move tasks ----------------------------------------------------- */

static char *epoch_ms(Datum ts);

/* The queue an ARN parameter names (its last part), or NULL if absent. */
static char *
queue_arn_param(ApiRequest *req, const char *param, bool required)
{
	const char *arn = required ? api_required_param(&req->root, param)
							   : api_param(&req->root, param);
	char       *name;

	if (arn == NULL)
		return NULL;
	name = sqsn_arn_name(arn);
	if (name == NULL || strncmp(arn, "arn:", 4) != 0)
		api_error("InvalidParameterValue", 400,
				  "Value %s for parameter %s is invalid. Reason: not a "
				  "queue ARN.",
				  arn, param);
	return name;
}

/*
 * StartMessageMoveTask: SourceArn (a dead-letter queue), DestinationArn
 * (optional: else each message back to its source),
 * MaxNumberOfMessagesPerSecond (1..500); answers the TaskHandle.
 */
static void
start_message_move_task(ApiRequest *req)
{
	char  *source = queue_arn_param(req, "SourceArn", true);
	char  *dest = queue_arn_param(req, "DestinationArn", false);
	int    rate = 0;
	bool   rated = api_param_int(&req->root, "MaxNumberOfMessagesPerSecond", 1,
								 500, &rate);
	Datum  values[3];
	char   nulls[3] = {' ', dest ? ' ' : 'n', rated ? ' ' : 'n'};

	values[0] = text_datum(source);
	values[1] = dest ? text_datum(dest) : (Datum) 0;
	values[2] = Int32GetDatum(rate);
	sqsn_execute(&start_move_task_stmt, values, nulls, 0);
	api_out_string(req, "TaskHandle",
				   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								1));
}

/*
 * ListMessageMoveTasks: the most recent tasks of SourceArn (MaxResults
 * 1..10, default 1), newest first; a TaskHandle only for a running task,
 * as the service does.
 */
static void
list_message_move_tasks(ApiRequest *req)
{
	char  *source = queue_arn_param(req, "SourceArn", true);
	int    max_results = 1;
	Datum  values[2];

	(void) api_param_int(&req->root, "MaxResults", 1, 10, &max_results);
	values[0] = text_datum(source);
	values[1] = Int32GetDatum(max_results);
	sqsn_execute(&list_move_tasks_stmt, values, NULL, 0);
	api_out_begin_array(req, "Results");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple   row = SPI_tuptable->vals[i];
		TupleDesc   desc = SPI_tuptable->tupdesc;
		const char *status = SPI_getvalue(row, desc, 2);
		const char *dest = SPI_getvalue(row, desc, 4);
		const char *rate = SPI_getvalue(row, desc, 5);
		const char *reason = SPI_getvalue(row, desc, 8);
		bool        isnull;

		api_out_begin_object(req, NULL, "ListMessageMoveTasksResultEntry");
		if (strcmp(status, "RUNNING") == 0)
			api_out_string(req, "TaskHandle", SPI_getvalue(row, desc, 1));
		api_out_string(req, "Status", status);
		api_out_string(req, "SourceArn",
					   sqsn_queue_arn(SPI_getvalue(row, desc, 3)));
		if (dest != NULL)
			api_out_string(req, "DestinationArn", sqsn_queue_arn(dest));
		if (rate != NULL)
			api_out_number(req, "MaxNumberOfMessagesPerSecond", rate);
		api_out_number(req, "ApproximateNumberOfMessagesMoved",
					   SPI_getvalue(row, desc, 6));
		api_out_number(req, "ApproximateNumberOfMessagesToMove",
					   SPI_getvalue(row, desc, 7));
		if (reason != NULL)
			api_out_string(req, "FailureReason", reason);
		api_out_number(req, "StartedTimestamp",
					   epoch_ms(SPI_getbinval(row, desc, 9, &isnull)));
		api_out_end_object(req, "ListMessageMoveTasksResultEntry");
	}
	api_out_end_array(req);
}

/* CancelMessageMoveTask: TaskHandle; answers the messages moved so far. */
static void
cancel_message_move_task(ApiRequest *req)
{
	Datum value = text_datum(api_required_param(&req->root, "TaskHandle"));

	sqsn_execute(&cancel_move_task_stmt, &value, NULL, 0);
	api_out_number(req, "ApproximateNumberOfMessagesMoved",
				   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								1));
}

/* Runs a statement whose one parameter is the request's queue. */
static void
call_with_queue(ApiRequest *req, SqsnStatement *stmt)
{
	Datum value = text_datum(queue_name(req));

	sqsn_execute(stmt, &value, NULL, 0);
}

static void
delete_queue(ApiRequest *req)
{
	call_with_queue(req, &delete_queue_stmt);
}

static void
purge_queue(ApiRequest *req)
{
	call_with_queue(req, &purge_queue_stmt);
}

static void
get_queue_attributes(ApiRequest *req)
{
	char *name = queue_name(req);
	List *names = list_concat(
		api_strings(&req->root, "AttributeNames", "AttributeName"), NIL);
	Datum          values[1];
	bool           isnull;
	Jsonb         *attributes;
	JsonbIterator *it;
	JsonbValue     v;
	int            tok;
	char          *key = NULL;
	ListCell      *lc;

	foreach (lc, names)
	{
		const char *n = lfirst(lc);
		bool known = strcmp(n, "All") == 0 || strcmp(n, "Policy") == 0 ||
					 strcmp(n, "FifoQueue") == 0;

		for (int i = 0; !known && i < lengthof(settable_attributes); i++)
			known = strcmp(n, settable_attributes[i].name) == 0;
		for (int i = 0; !known && i < lengthof(readonly_attributes); i++)
			known = strcmp(n, readonly_attributes[i]) == 0;
		if (!known)
			api_error("InvalidAttributeName", 400, "Unknown Attribute %s.", n);
	}

	values[0] = text_datum(name);
	sqsn_execute(&get_attributes_stmt, values, NULL, 0);
	attributes = DatumGetJsonbP(SPI_getbinval(
		SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	api_out_begin_object(req, "Attributes", NULL);
	if (wanted(names, "QueueArn"))
		api_out_map_entry(req, "Attribute", "QueueArn", sqsn_queue_arn(name));
	it = JsonbIteratorInit(&attributes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char *value;

		if (tok == WJB_KEY)
		{
			key = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE || !wanted(names, key))
			continue;
		if (strcmp(key, "RedrivePolicy") == 0 && v.type == jbvBinary)
		{
			JsonbValue  k;
			JsonbValue *dlq;
			JsonbValue *count;

			k.type = jbvString;
			k.val.string.val = "deadLetterQueue";
			k.val.string.len = strlen(k.val.string.val);
			dlq =
				findJsonbValueFromContainer(v.val.binary.data, JB_FOBJECT, &k);
			k.val.string.val = "maxReceiveCount";
			k.val.string.len = strlen(k.val.string.val);
			count =
				findJsonbValueFromContainer(v.val.binary.data, JB_FOBJECT, &k);
			value = psprintf(
				"{\"deadLetterTargetArn\":\"%s\",\"maxReceiveCount\":%s}",
				sqsn_queue_arn(dlq ? attribute_text(dlq) : ""),
				count ? attribute_text(count) : "0");
		}
		else if (strcmp(key, "DeduplicationScope") == 0)
		{
			value = attribute_text(&v);
			if (strcmp(value, "messageQueue") == 0)
				value = "queue";
		}
		else
			value = attribute_text(&v);
		api_out_map_entry(req, "Attribute", key, value);
	}
	api_out_end_object(req, NULL);
}

static void
set_queue_attributes(ApiRequest *req)
{
	char *name = queue_name(req);
	List *attributes =
		api_map(&req->root, "Attributes", "Attribute", "Name", "Value");
	Datum      values[2];
	SqsnQueue *queue = open_queue(name);
	ListCell  *lc;

	if (attributes == NIL)
		api_error("MissingParameter", 400,
				  "The request must contain the parameter Attribute.1.Name.");
	foreach (lc, attributes)
	{
		ApiParam *a = lfirst(lc);

		if (strcmp(a->name, "FifoQueue") == 0)
			api_error("InvalidAttributeName", 400,
					  "Attribute FifoQueue can only be set when the queue is "
					  "created.");
		for (int i = 0; i < lengthof(readonly_attributes); i++)
			if (strcmp(a->name, readonly_attributes[i]) == 0)
				api_error("InvalidAttributeName", 400,
						  "Attribute %s is read-only.", a->name);
	}
	values[0] = text_datum(name);
	values[1] = JsonbPGetDatum(
		settable_attributes_jsonb(attributes, queue->fifo, false));
	sqsn_execute(&set_attributes_stmt, values, NULL, 0);
}

/* Sending --------------------------------------------------------------- */

typedef struct SendEntry
{
	ApiObject  *obj;
	const char *id;
	const char *body;
	Jsonb      *attributes;
	int         delay; /* -1: the queue's */
	const char *group_id;
	const char *deduplication_id;
	char       *message_id; /* set once sent */
	char       *sequence_number;
	const char *trace; /* AWSTraceHeader, or NULL */
} SendEntry;

static void
read_send_entry(SendEntry *e, ApiObject *obj, const char *attributes_prefix)
{
	e->obj = obj;
	e->body = api_required_param(obj, "MessageBody");
	check_body(e->body);
	e->attributes = api_message_attributes(obj, "MessageAttributes",
										   attributes_prefix, "Name", "Value");
	e->delay = -1;
	(void) api_param_int(obj, "DelaySeconds", 0, SQSN_MAX_DELAY, &e->delay);
	e->group_id = api_param(obj, "MessageGroupId");
	e->deduplication_id = api_param(obj, "MessageDeduplicationId");
}

/* the sequence number of a message just sent to a FIFO queue */
static char *
fifo_sequence_number(const char *queue, const char *message_id)
{
	Oid   save_userid;
	int   save_sec;
	char *result = NULL;
	char *sql;

	/* the message table is the extension owner's, not the caller's */
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	sql = psprintf("SELECT lpad(msg_seq::text, 20, '0') FROM %s"
				   " WHERE message_id = %s",
				   open_queue(queue)->qualified_table,
				   quote_literal_cstr(message_id));
	if (SPI_execute(sql, false, 1) == SPI_OK_SELECT && SPI_processed == 1)
		result = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SetUserIdAndSecContext(save_userid, save_sec);
	return result;
}

static void
send_one(const char *queue, SendEntry *e, bool fifo)
{
	Datum values[6];
	char  nulls[6] = {' ', ' ', 'n', 'n', 'n', 'n'};

	values[0] = text_datum(queue);
	values[1] = text_datum(e->body);
	if (e->attributes || e->trace)
	{
		values[2] =
			JsonbPGetDatum(api_with_trace_header(e->attributes, e->trace));
		nulls[2] = ' ';
	}
	if (e->delay >= 0)
	{
		values[3] = Int32GetDatum(e->delay);
		nulls[3] = ' ';
	}
	if (e->group_id)
	{
		values[4] = text_datum(e->group_id);
		nulls[4] = ' ';
	}
	if (e->deduplication_id)
	{
		values[5] = text_datum(e->deduplication_id);
		nulls[5] = ' ';
	}
	sqsn_execute(&send_stmt, values, nulls, 0);
	e->message_id =
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (fifo)
		e->sequence_number = fifo_sequence_number(queue, e->message_id);
}

static void
out_send_result(ApiRequest *req, SendEntry *e)
{
	char *md5 = api_md5_of_attributes(e->attributes);

	api_out_string(req, "MD5OfMessageBody",
				   api_md5_hex(e->body, strlen(e->body)));
	if (md5)
		api_out_string(req, "MD5OfMessageAttributes", md5);
	api_out_trace_md5(req, e->trace);
	api_out_string(req, "MessageId", e->message_id);
	if (e->sequence_number)
		api_out_string(req, "SequenceNumber", e->sequence_number);
}

static void
send_message(ApiRequest *req)
{
	char     *queue = queue_name(req);
	SendEntry e;
	bool      fifo = sqsn_is_fifo_name(queue);

	memset(&e, 0, sizeof(e));
	read_send_entry(&e, &req->root, "MessageAttribute");
	e.trace = api_trace_header(req, &req->root);
	send_one(queue, &e, fifo);
	out_send_result(req, &e);
}

typedef struct BatchStep
{
	const char *queue;
	bool        fifo;
	SendEntry  *entries;
	int         n;
	int         i; /* the entry of a one-entry step */
} BatchStep;

/* all entries at once, with sq_send_batch */
static void
send_batch_step(void *arg)
{
	BatchStep *b = arg;
	Datum      values[6];
	char       nulls[6] = {' ', ' ', ' ', 'n', ' ', ' '};
	Datum     *bodies = palloc(sizeof(Datum) * b->n);
	Datum     *attrs = palloc(sizeof(Datum) * b->n);
	bool      *attr_nulls = palloc(sizeof(bool) * b->n);
	Datum     *groups = palloc(sizeof(Datum) * b->n);
	bool      *group_nulls = palloc(sizeof(bool) * b->n);
	Datum     *dedups = palloc(sizeof(Datum) * b->n);
	bool      *dedup_nulls = palloc(sizeof(bool) * b->n);

	for (int i = 0; i < b->n; i++)
	{
		SendEntry *e = &b->entries[i];

		bodies[i] = text_datum(e->body);
		attrs[i] = e->attributes || e->trace
					   ? JsonbPGetDatum(
							 api_with_trace_header(e->attributes, e->trace))
					   : (Datum) 0;
		attr_nulls[i] = e->attributes == NULL && e->trace == NULL;
		groups[i] = e->group_id ? text_datum(e->group_id) : (Datum) 0;
		group_nulls[i] = e->group_id == NULL;
		dedups[i] =
			e->deduplication_id ? text_datum(e->deduplication_id) : (Datum) 0;
		dedup_nulls[i] = e->deduplication_id == NULL;
		if (e->delay >= 0)
		{
			values[3] = Int32GetDatum(e->delay);
			nulls[3] = ' ';
		}
	}
	values[0] = text_datum(b->queue);
	values[1] = sqsn_array_of(bodies, NULL, b->n, TEXTOID);
	values[2] = sqsn_array_of(attrs, attr_nulls, b->n, JSONBOID);
	values[4] = sqsn_array_of(groups, group_nulls, b->n, TEXTOID);
	values[5] = sqsn_array_of(dedups, dedup_nulls, b->n, TEXTOID);
	sqsn_execute(&send_batch_stmt, values, nulls, 0);
	if (SPI_processed != (uint64) b->n)
		elog(ERROR, "sq_send_batch returned %d rows for %d messages",
			 (int) SPI_processed, b->n);
	for (int i = 0; i < b->n; i++)
		b->entries[i].message_id =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	if (b->fifo)
		for (int i = 0; i < b->n; i++)
			b->entries[i].sequence_number =
				fifo_sequence_number(b->queue, b->entries[i].message_id);
}

static void
send_entry_step(void *arg)
{
	BatchStep *b = arg;

	send_one(b->queue, &b->entries[b->i], b->fifo);
}

/* why one batch entry failed */
typedef struct EntryFailure
{
	ApiError err;
	char    *message;
} EntryFailure;

static EntryFailure *entry_failure(ErrorData *edata);
static bool          whole_request_error(ErrorData *edata);
static void out_failure(ApiRequest *req, const char *id, EntryFailure *f);

static void
send_message_batch(ApiRequest *req)
{
	char     *queue = queue_name(req);
	List     *objects = batch_entries(req, "SendMessageBatchRequestEntry");
	BatchStep b;
	EntryFailure **errors;
	ErrorData     *edata = NULL;
	bool           same_delay = true;
	int64          total = 0;
	int            i = 0;
	ListCell      *lc;

	b.queue = queue;
	b.fifo = sqsn_is_fifo_name(queue);
	b.n = list_length(objects);
	b.entries = palloc0(sizeof(SendEntry) * b.n);
	errors = palloc0(sizeof(EntryFailure *) * b.n);
	foreach (lc, objects)
	{
		SendEntry *e = &b.entries[i];

		e->id = api_param(lfirst(lc), "Id");
		e->obj = lfirst(lc);
		e->delay = -1;
		b.i = i;
		/* an entry that does not parse fails alone */
		PG_TRY();
		{
			read_send_entry(e, lfirst(lc), "MessageAttribute");
			e->trace = api_trace_header(req, lfirst(lc));
			total += strlen(e->body);
		}
		PG_CATCH();
		{
			ErrorData *parse_error = CopyErrorData();

			FlushErrorState();
			errors[i] = entry_failure(parse_error);
		}
		PG_END_TRY();
		if (e->delay != b.entries[0].delay)
			same_delay = false;
		i++;
	}
	/* the bodies of a batch together: as one message of the largest size */
	if (total > SQSN_MAX_QUEUE_MESSAGE_SIZE)
		api_error_shape("AWS.SimpleQueueService.BatchRequestTooLong",
						QUEUE_ERROR_SHAPE "BatchRequestTooLong", 400,
						"Batch requests cannot be longer than %d bytes. You "
						"have sent " INT64_FORMAT " bytes.",
						SQSN_MAX_QUEUE_MESSAGE_SIZE, total);

	for (i = 0; i < b.n && errors[i] == NULL; i++)
		;
	if (i < b.n || !same_delay ||
		!sqsn_subxact_try(send_batch_step, &b, &edata))
	{
		/* a missing queue or right fails the request, not the entries */
		if (edata != NULL && whole_request_error(edata))
			ReThrowError(edata);
		/* one at a time, so that only the bad entries fail */
		if (edata != NULL)
			(void) entry_failure(edata); /* forget its code */
		for (i = 0; i < b.n; i++)
		{
			if (errors[i] != NULL)
				continue;
			b.i = i;
			b.entries[i].message_id = NULL;
			if (!sqsn_subxact_try(send_entry_step, &b, &edata))
				errors[i] = entry_failure(edata);
		}
	}

	api_out_begin_array(req, "Successful");
	for (i = 0; i < b.n; i++)
	{
		if (errors[i] != NULL)
			continue;
		api_out_begin_object(req, NULL, "SendMessageBatchResultEntry");
		api_out_string(req, "Id", b.entries[i].id);
		out_send_result(req, &b.entries[i]);
		api_out_end_object(req, "SendMessageBatchResultEntry");
	}
	api_out_end_array(req);
	api_out_begin_array(req, "Failed");
	for (i = 0; i < b.n; i++)
		if (errors[i] != NULL)
			out_failure(req, b.entries[i].id, errors[i]);
	api_out_end_array(req);
}

/* errors about the queue rather than an entry */
static bool
whole_request_error(ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE ||
		   (edata->sqlerrcode == ERRCODE_UNDEFINED_OBJECT && edata->message &&
			strstr(edata->message, "queue") != NULL);
}

/* the AWS code of an entry's error; call at once, before another error */
static EntryFailure *
entry_failure(ErrorData *edata)
{
	EntryFailure *f = palloc0(sizeof(EntryFailure));

	if (!api_thrown_error(&f->err))
		api_sqs_map_error(edata, &f->err);
	f->message = edata->message ? edata->message : "";
	return f;
}

/* a Failed[] entry */
static void
out_failure(ApiRequest *req, const char *id, EntryFailure *f)
{
	api_out_begin_object(req, NULL, "BatchResultErrorEntry");
	api_out_string(req, "Id", id);
	api_out_bool(req, "SenderFault", f->err.status < 500);
	api_out_string(req, "Code", f->err.code);
	api_out_string(req, "Message", f->message);
	api_out_end_object(req, "BatchResultErrorEntry");
}

/* Receiving ------------------------------------------------------------- */

static bool
message_attribute_wanted(List *names, const char *name)
{
	ListCell *lc;

	foreach (lc, names)
	{
		const char *pattern = lfirst(lc);
		size_t      len = strlen(pattern);

		if (strcmp(pattern, "All") == 0 || strcmp(pattern, ".*") == 0 ||
			strcmp(pattern, name) == 0)
			return true;
		if (len > 2 && strcmp(pattern + len - 2, ".*") == 0 &&
			strncmp(pattern, name, len - 1) == 0)
			return true;
	}
	return false;
}

/* the message attributes a receive asked for, in typed form, or NULL */
static Jsonb *
select_message_attributes(Jsonb *attributes, List *names)
{
	StringInfoData buf;
	JsonbIterator *it;
	JsonbValue     v;
	int            tok;
	char          *name = NULL;
	bool           first = true;

	if (attributes == NULL || names == NIL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	it = JsonbIteratorInit(&attributes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			name = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && v.type == jbvBinary &&
				 message_attribute_wanted(names, name))
		{
			if (!first)
				appendStringInfoChar(&buf, ',');
			first = false;
			escape_json(&buf, name);
			appendStringInfoChar(&buf, ':');
			appendStringInfoString(
				&buf,
				JsonbToCString(NULL, v.val.binary.data, v.val.binary.len));
		}
	}
	appendStringInfoChar(&buf, '}');
	if (first)
		return NULL;
	return DatumGetJsonbP(
		DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

static char *
epoch_ms(Datum ts)
{
	TimestampTz t = DatumGetTimestampTz(ts);
	int64       ms = (t - SetEpochTimestamp()) / 1000;

	return psprintf(INT64_FORMAT, ms);
}

static void
out_message_attributes(ApiRequest *req, Jsonb *attributes)
{
	JsonbIterator *it;
	JsonbValue     v;
	int            tok;
	char          *name = NULL;

	api_out_begin_object(req, "MessageAttributes", NULL);
	it = JsonbIteratorInit(&attributes->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue  k;
		JsonbValue *type;
		JsonbValue *string_value;
		JsonbValue *binary_value;

		if (tok == WJB_KEY)
		{
			name = pnstrdup(v.val.string.val, v.val.string.len);
			continue;
		}
		if (tok != WJB_VALUE || v.type != jbvBinary)
			continue;
		k.type = jbvString;
		k.val.string.val = "DataType";
		k.val.string.len = 8;
		type = findJsonbValueFromContainer(v.val.binary.data, JB_FOBJECT, &k);
		k.val.string.val = "StringValue";
		k.val.string.len = 11;
		string_value =
			findJsonbValueFromContainer(v.val.binary.data, JB_FOBJECT, &k);
		k.val.string.val = "BinaryValue";
		binary_value =
			findJsonbValueFromContainer(v.val.binary.data, JB_FOBJECT, &k);

		if (req->protocol == API_JSON)
			api_out_begin_object(req, name, NULL);
		else
		{
			appendStringInfoString(req->out, "<MessageAttribute>");
			api_xml_element(req->out, "Name", name);
			appendStringInfoString(req->out, "<Value>");
		}
		if (string_value)
			api_out_string(req, "StringValue", attribute_text(string_value));
		if (binary_value)
			api_out_string(req, "BinaryValue", attribute_text(binary_value));
		if (type)
			api_out_string(req, "DataType", attribute_text(type));
		if (req->protocol == API_JSON)
			api_out_end_object(req, NULL);
		else
			appendStringInfoString(req->out, "</Value></MessageAttribute>");
	}
	api_out_end_object(req, NULL);
}

/*
 * The SenderId and DeadLetterQueueSourceArn of n received messages (rows
 * of receive_stmt, of queue queue_id): the name of the role that sent each
 * (NULL when unknown: sent before the 0.5 update, or the role is gone) and
 * the ARN of the queue it was dead-lettered from (NULL: none, or the queue
 * is gone). Read from the message table as the extension owner.
 */
static void
message_origins(const char *queue, int64 queue_id, SPITupleTable *rows,
				uint64 n, char **senders, char **sources)
{
	int64 *seqs = palloc(sizeof(int64) * n);
	Oid   *sender_ids = palloc(sizeof(Oid) * n);
	int64 *source_ids = palloc(sizeof(int64) * n);
	Oid    save_userid;
	int    save_sec;

	for (uint64 i = 0; i < n; i++)
	{
		int64 token;

		sqsn_parse_receipt_handle(SPI_getvalue(rows->vals[i], rows->tupdesc,
											   2),
								  queue_id, &seqs[i], &token);
	}
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE);
	sqsn_message_origins(sqsn_open_queue(queue, AccessShareLock), seqs,
						 (int) n, sender_ids, source_ids);
	for (uint64 i = 0; i < n; i++)
	{
		char *source = NULL;

		senders[i] = OidIsValid(sender_ids[i])
						 ? GetUserNameFromId(sender_ids[i], true)
						 : NULL;
		if (source_ids[i] != 0)
			source = sqsn_queue_name_of(source_ids[i]);
		sources[i] = source ? sqsn_queue_arn(source) : NULL;
	}
	SetUserIdAndSecContext(save_userid, save_sec);
}

static void
receive_message(ApiRequest *req)
{
	char      *queue = queue_name(req);
	int        max_messages = 1;
	int        visibility_timeout = -1;
	int        wait_seconds = -1;
	List      *system_names;
	List      *attribute_names;
	Datum      values[3];
	char       nulls[3] = {' ', ' ', 'n'};
	SqsnQueue *q;
	int64      queue_id;
	int        wait_default;
	SPITupleTable *received;
	uint64         nreceived;
	char         **senders = NULL; /* SenderId of each, when asked for */
	char         **sources = NULL; /* DeadLetterQueueSourceArn */

	(void) api_param_int(&req->root, "MaxNumberOfMessages", 1, MAX_ENTRIES,
						 &max_messages);
	(void) api_param_int(&req->root, "VisibilityTimeout", 0,
						 SQSN_MAX_VISIBILITY_TIMEOUT, &visibility_timeout);
	(void) api_param_int(&req->root, "WaitTimeSeconds", 0, SQSN_MAX_WAIT_TIME,
						 &wait_seconds);
	system_names =
		list_concat(api_strings(&req->root, "AttributeNames", "AttributeName"),
					api_strings(&req->root, "MessageSystemAttributeNames",
								"MessageSystemAttributeName"));
	attribute_names = api_strings(&req->root, "MessageAttributeNames",
								  "MessageAttributeName");

	q = open_queue(queue);
	queue_id = q->queue_id;
	wait_default = q->receive_wait_time_seconds;
	if (wait_seconds < 0)
		wait_seconds = wait_default;

	values[0] = text_datum(queue);
	values[1] = Int32GetDatum(max_messages);
	if (visibility_timeout >= 0)
	{
		values[2] = Int32GetDatum(visibility_timeout);
		nulls[2] = ' ';
	}
	sqsn_execute(&receive_stmt, values, nulls, 0);
	received = SPI_tuptable;
	nreceived = SPI_processed;

	if (nreceived == 0 && wait_seconds > 0)
	{
		req->wait_queue_id = queue_id;
		req->wait_ms = wait_seconds * 1000;
	}
	if (nreceived > 0 && (wanted(system_names, "SenderId") ||
						  wanted(system_names, "DeadLetterQueueSourceArn")))
	{
		senders = palloc(sizeof(char *) * nreceived);
		sources = palloc(sizeof(char *) * nreceived);
		message_origins(queue, queue_id, received, nreceived, senders,
						sources);
	}

	api_out_begin_array(req, "Messages");
	for (uint64 i = 0; i < nreceived; i++)
	{
		HeapTuple tuple = received->vals[i];
		TupleDesc desc = received->tupdesc;
		bool      isnull;
		char     *body = SPI_getvalue(tuple, desc, 3);
		Datum     attributes_datum = SPI_getbinval(tuple, desc, 4, &isnull);
		Jsonb *attributes = isnull ? NULL : DatumGetJsonbP(attributes_datum);
		Jsonb *selected = NULL;
		char  *md5;
		char  *trace = sqsn_attribute_string(attributes, SQSN_TRACE_ATTRIBUTE);

		/* the trace header is a system attribute (trace.c) */
		if (trace != NULL)
			attributes = sqsn_attributes_filter(attributes, false);
		selected = select_message_attributes(attributes, attribute_names);

		api_out_begin_object(req, NULL, "Message");
		api_out_string(req, "MessageId", SPI_getvalue(tuple, desc, 1));
		api_out_string(req, "ReceiptHandle", SPI_getvalue(tuple, desc, 2));
		api_out_string(req, "MD5OfBody", api_md5_hex(body, strlen(body)));
		api_out_string(req, "Body", body);
		if (system_names != NIL)
		{
			char *v;

			api_out_begin_object(req, "Attributes", NULL);
			if (wanted(system_names, "SentTimestamp"))
				api_out_map_entry(
					req, "Attribute", "SentTimestamp",
					epoch_ms(SPI_getbinval(tuple, desc, 5, &isnull)));
			if (wanted(system_names, "ApproximateReceiveCount"))
				api_out_map_entry(req, "Attribute", "ApproximateReceiveCount",
								  SPI_getvalue(tuple, desc, 6));
			if (wanted(system_names, "ApproximateFirstReceiveTimestamp"))
			{
				Datum first = SPI_getbinval(tuple, desc, 7, &isnull);

				if (!isnull)
					api_out_map_entry(req, "Attribute",
									  "ApproximateFirstReceiveTimestamp",
									  epoch_ms(first));
			}
			if (wanted(system_names, "MessageGroupId") &&
				(v = SPI_getvalue(tuple, desc, 8)) != NULL)
				api_out_map_entry(req, "Attribute", "MessageGroupId", v);
			if (wanted(system_names, "MessageDeduplicationId") &&
				(v = SPI_getvalue(tuple, desc, 9)) != NULL)
				api_out_map_entry(req, "Attribute", "MessageDeduplicationId",
								  v);
			if (wanted(system_names, "SequenceNumber") &&
				(v = SPI_getvalue(tuple, desc, 10)) != NULL)
				api_out_map_entry(req, "Attribute", "SequenceNumber", v);
			if (wanted(system_names, "AWSTraceHeader") && trace != NULL)
				api_out_map_entry(req, "Attribute", "AWSTraceHeader", trace);
			if (wanted(system_names, "SenderId") && senders[i] != NULL)
				api_out_map_entry(req, "Attribute", "SenderId", senders[i]);
			if (wanted(system_names, "DeadLetterQueueSourceArn") &&
				sources[i] != NULL)
				api_out_map_entry(req, "Attribute", "DeadLetterQueueSourceArn",
								  sources[i]);
			api_out_end_object(req, NULL);
		}
		md5 = api_md5_of_attributes(selected);
		if (md5 != NULL)
		{
			api_out_string(req, "MD5OfMessageAttributes", md5);
			out_message_attributes(req, selected);
		}
		api_out_end_object(req, "Message");
	}
	api_out_end_array(req);
}

/* Deleting and changing visibility -------------------------------------- */

static bool
delete_one(const char *queue, const char *handle)
{
	Datum values[2];

	values[0] = text_datum(queue);
	values[1] = text_datum(handle);
	sqsn_execute(&delete_stmt, values, NULL, 0);
	return true;
}

static void
delete_message(ApiRequest *req)
{
	char *queue = queue_name(req);

	/* a stale handle deletes nothing and is not an error, as in SQS */
	(void) delete_one(queue, api_required_param(&req->root, "ReceiptHandle"));
}

static void
change_one(const char *queue, const char *handle, int timeout)
{
	Datum values[3];

	values[0] = text_datum(queue);
	values[1] = text_datum(handle);
	values[2] = Int32GetDatum(timeout);
	sqsn_execute(&change_visibility_stmt, values, NULL, 0);
	if (!sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))
		api_error_shape("AWS.SimpleQueueService.MessageNotInflight",
						QUEUE_ERROR_SHAPE "MessageNotInflight", 400,
						"The message referred to is not in flight.");
}

static int
visibility_timeout_param(ApiObject *obj)
{
	int timeout;

	if (!api_param_int(obj, "VisibilityTimeout", 0,
					   SQSN_MAX_VISIBILITY_TIMEOUT, &timeout))
		api_error("MissingParameter", 400,
				  "The request must contain the parameter VisibilityTimeout.");
	return timeout;
}

static void
change_message_visibility(ApiRequest *req)
{
	char *queue = queue_name(req);

	change_one(queue, api_required_param(&req->root, "ReceiptHandle"),
			   visibility_timeout_param(&req->root));
}

typedef struct HandleStep
{
	const char *queue;
	ApiObject  *entry;
	bool        change;
} HandleStep;

static void
handle_step(void *arg)
{
	HandleStep *h = arg;
	const char *handle = api_required_param(h->entry, "ReceiptHandle");

	if (h->change)
		change_one(h->queue, handle, visibility_timeout_param(h->entry));
	else
		(void) delete_one(h->queue, handle);
}

static void
handle_batch(ApiRequest *req, bool change)
{
	char       *queue = queue_name(req);
	const char *prefix = change ? "ChangeMessageVisibilityBatchRequestEntry"
								: "DeleteMessageBatchRequestEntry";
	const char *result_element =
		change ? "ChangeMessageVisibilityBatchResultEntry"
			   : "DeleteMessageBatchResultEntry";
	List          *entries = batch_entries(req, prefix);
	int            n = list_length(entries);
	EntryFailure **errors = palloc0(sizeof(EntryFailure *) * n);
	HandleStep     h;
	int            i;

	h.queue = queue;
	h.change = change;
	for (i = 0; i < n; i++)
	{
		ErrorData *edata;

		h.entry = list_nth(entries, i);
		if (!sqsn_subxact_try(handle_step, &h, &edata))
		{
			if (whole_request_error(edata))
				ReThrowError(edata);
			errors[i] = entry_failure(edata);
		}
	}
	api_out_begin_array(req, "Successful");
	for (i = 0; i < n; i++)
	{
		if (errors[i] != NULL)
			continue;
		api_out_begin_object(req, NULL, result_element);
		api_out_string(req, "Id", api_param(list_nth(entries, i), "Id"));
		api_out_end_object(req, result_element);
	}
	api_out_end_array(req);
	api_out_begin_array(req, "Failed");
	for (i = 0; i < n; i++)
		if (errors[i] != NULL)
			out_failure(req, api_param(list_nth(entries, i), "Id"), errors[i]);
	api_out_end_array(req);
}

static void
delete_message_batch(ApiRequest *req)
{
	handle_batch(req, false);
}

static void
change_message_visibility_batch(ApiRequest *req)
{
	handle_batch(req, true);
}

/* Dispatch and errors --------------------------------------------------- */

static const ApiAction actions[] = {
	{"CreateQueue", create_queue, true},
	{"GetQueueUrl", get_queue_url, false},
	{"ListQueues", list_queues, false},
	{"ListDeadLetterSourceQueues", list_dead_letter_source_queues, false},
	{"DeleteQueue", delete_queue, true},
	{"PurgeQueue", purge_queue, true},
	{"TagQueue", change_queue_tags, true},
	{"UntagQueue", change_queue_tags, true},
	{"ListQueueTags", list_queue_tags, false},
	{"StartMessageMoveTask", start_message_move_task, true},
	{"ListMessageMoveTasks", list_message_move_tasks, false},
	{"CancelMessageMoveTask", cancel_message_move_task, true},
	{"GetQueueAttributes", get_queue_attributes, false},
	{"SetQueueAttributes", set_queue_attributes, true},
	{"SendMessage", send_message, true},
	{"SendMessageBatch", send_message_batch, true},
	{"ReceiveMessage", receive_message, true},
	{"DeleteMessage", delete_message, true},
	{"DeleteMessageBatch", delete_message_batch, true},
	{"ChangeMessageVisibility", change_message_visibility, true},
	{"ChangeMessageVisibilityBatch", change_message_visibility_batch, true},
};

bool
api_sqs_dispatch(ApiRequest *req)
{
	return api_run_action(req, actions, lengthof(actions));
}

/*
 * The AWS error for an error from sqsn's functions, by SQLSTATE (and, where
 * one SQLSTATE covers several SQS errors, by what the message is about).
 */
void
api_sqs_map_error(ErrorData *edata, ApiError *err)
{
	const char *message = edata->message ? edata->message : "";

	err->shape = NULL;
	err->status = 400;
	switch (edata->sqlerrcode)
	{
		case ERRCODE_UNDEFINED_OBJECT:
			if (strncmp(message, "message move task", 17) == 0)
			{
				err->code = "ResourceNotFoundException";
				err->status = 404;
			}
			else if (strstr(message, "queue") != NULL)
			{
				err->code = "AWS.SimpleQueueService.NonExistentQueue";
				err->shape = QUEUE_ERROR_SHAPE "QueueDoesNotExist";
			}
			else
				err->code = "InvalidParameterValue";
			break;
		case ERRCODE_DUPLICATE_OBJECT:
			err->code = "QueueAlreadyExists";
			err->shape = QUEUE_ERROR_SHAPE "QueueNameExists";
			break;
		case ERRCODE_OBJECT_IN_USE:
		case ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE:
			/* move tasks: a task running already, no dead-letter queue */
			if (strstr(message, "move task") != NULL ||
				strstr(message, "not a dead-letter queue") != NULL)
			{
				err->code = "AWS.SimpleQueueService.UnsupportedOperation";
				err->shape = QUEUE_ERROR_SHAPE "UnsupportedOperation";
			}
			else
			{
				err->code = "InternalError";
				err->status = 500;
			}
			break;
		case ERRCODE_INSUFFICIENT_PRIVILEGE:
			err->code = "AccessDenied";
			err->status = 403;
			break;
		case ERRCODE_NULL_VALUE_NOT_ALLOWED:
			/* SQS: no deduplication id where one is needed is a bad value */
			if (strstr(message, "message_deduplication_id") != NULL)
				err->code = "InvalidParameterValue";
			else
				err->code = "MissingParameter";
			break;
		case ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST:
		case ERRCODE_INVALID_PARAMETER_VALUE:
		case ERRCODE_STRING_DATA_RIGHT_TRUNCATION:
		case ERRCODE_INVALID_TEXT_REPRESENTATION:
		case ERRCODE_INVALID_NAME:
		case ERRCODE_FEATURE_NOT_SUPPORTED:
		case ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE:
		case ERRCODE_INVALID_DATETIME_FORMAT:
		case ERRCODE_PROGRAM_LIMIT_EXCEEDED:
		case ERRCODE_RESERVED_NAME:
		case ERRCODE_WRONG_OBJECT_TYPE:
			if (strncmp(message, "receipt handle", 14) == 0)
			{
				err->code = "ReceiptHandleIsInvalid";
				err->shape = QUEUE_ERROR_SHAPE "ReceiptHandleIsInvalid";
			}
			else if (strstr(message, "queue attribute") != NULL)
				err->code = "InvalidAttributeValue";
			else
				err->code = "InvalidParameterValue";
			break;
		case ERRCODE_QUERY_CANCELED:
			err->code = "RequestThrottled";
			err->status = 403;
			break;
		case ERRCODE_READ_ONLY_SQL_TRANSACTION:
			/* a write on a standby (see api_run_action) */
			err->code = "ServiceUnavailable";
			err->status = 503;
			break;
		default:
			err->code = "InternalError";
			err->status = 500;
			break;
	}
}
