/*-------------------------------------------------------------------------
 *
 * sns.c
 *	  The SNS actions of the AWS-compatible endpoint (query protocol,
 *	  version 2010-03-31).
 *
 * Every action maps onto the topic API (sqsn.sn_* in topic/), called
 * through SPI with saved plans in the request's transaction and as the
 * request's role, so the functions' own checks and the grants apply: this
 * file only translates between the wire form and those functions. The
 * server (server.c) has opened the transaction, switched role and
 * connected SPI; it wraps what is written into req->out in
 * <XResponse><XResult> ... </XResult><ResponseMetadata/></XResponse>.
 *
 * Names: a topic's ARN is arn:aws:sns:<region>:<account>:<topic> and a
 * subscription's <topic ARN>:<subscription id>; a queue endpoint is the
 * queue's ARN arn:aws:sqs:<region>:<account>:<queue>, all with the region
 * and account of sqsn.api_region and sqsn.api_account_id (whatever region
 * the request was signed for), as in pushed envelopes. Only the last part
 * of an ARN is read, so a client may use any region or account.
 *
 * Values in the wire form are strings; the JSON-valued attributes
 * (FilterPolicy, DeliveryPolicy, RedrivePolicy) are parsed before they are
 * passed on, and read back as their JSON text.
 *
 * PublishBatch publishes all entries with one sqsn.sn_publish_batch call
 * when no entry has a Subject or MessageStructure; when that fails, or
 * when some entry has them, each entry is published on its own in a
 * subtransaction, so that one bad entry fails alone (Failed/member) while
 * the others are published. A missing topic or a denied publish fails the
 * whole request, as it concerns every entry.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "api/api.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#define PAGE_SIZE        100
#define MAX_BATCH        10
#define MAX_BATCH_ID     80
#define MAX_REQUEST_SIZE 262144

/* The calls of the topic API, run by sqsn_execute */

static SqsnStatement create_topic_stmt = {
	"SELECT sqsn.sn_create_topic($1, $2, $3)",
	3,
	{TEXTOID, BOOLOID, BOOLOID},
	SPI_OK_SELECT,
	"creating a topic"};

static SqsnStatement list_topics_stmt = {
	"SELECT t FROM sqsn.sn_list_topics(NULL) AS t"
	" WHERE $1 IS NULL OR t COLLATE \"C\" OPERATOR(pg_catalog.>) $1"
	" ORDER BY t COLLATE \"C\" LIMIT 101",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"listing topics"};

static SqsnStatement topic_exists_stmt = {
	"SELECT 1 FROM sqsn.sn_list_topics($1) AS t WHERE t OPERATOR(pg_catalog.=) $1",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"listing topics"};

static SqsnStatement tag_topic_stmt = {"SELECT sqsn.sn_tag_resource($1, $2)",
									   2,
									   {TEXTOID, JSONBOID},
									   SPI_OK_SELECT,
									   "tagging a topic"};

static SqsnStatement untag_topic_stmt = {
	"SELECT sqsn.sn_untag_resource($1, $2)",
	2,
	{TEXTOID, TEXTARRAYOID},
	SPI_OK_SELECT,
	"untagging a topic"};

static SqsnStatement topic_tags_stmt = {
	"SELECT sqsn.sn_list_tags_for_resource($1)",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading a topic's tags"};

static SqsnStatement list_topic_tags_stmt = {
	"SELECT key, value"
	" FROM jsonb_each_text(sqsn.sn_list_tags_for_resource($1))"
	" ORDER BY key COLLATE \"C\"",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading a topic's tags"};

static SqsnStatement delete_topic_stmt = {"SELECT sqsn.sn_delete_topic($1)",
										  1,
										  {TEXTOID},
										  SPI_OK_SELECT,
										  "deleting a topic"};

static SqsnStatement get_topic_attributes_stmt = {
	"SELECT sqsn.sn_get_topic_attributes($1)",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading topic attributes"};

static SqsnStatement set_topic_attributes_stmt = {
	"SELECT sqsn.sn_set_topic_attributes($1, $2)",
	2,
	{TEXTOID, JSONBOID},
	SPI_OK_SELECT,
	"setting topic attributes"};

static SqsnStatement subscribe_stmt = {
	"SELECT sqsn.sn_subscribe($1, $2, $3, $4, $5, $6, $7, $8)",
	8,
	{TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, BOOLOID, JSONBOID,
	 JSONBOID},
	SPI_OK_SELECT,
	"subscribing"};

static SqsnStatement confirm_stmt = {
	"SELECT sqsn.sn_confirm_subscription($1, $2)",
	2,
	{TEXTOID, TEXTOID},
	SPI_OK_SELECT,
	"confirming a subscription"};

static SqsnStatement unsubscribe_stmt = {
	"SELECT sqsn.sn_unsubscribe($1::pg_catalog.uuid)",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"unsubscribing"};

static SqsnStatement opt_in_stmt = {"SELECT sqsn.sn_opt_in_phone_number($1)",
									1,
									{TEXTOID},
									SPI_OK_SELECT,
									"opting a phone number in"};

static SqsnStatement check_opted_out_stmt = {
	"SELECT sqsn.sn_check_if_phone_number_is_opted_out($1)",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"checking a phone number"};

static SqsnStatement list_opted_out_stmt = {
	"SELECT * FROM sqsn.sn_list_phone_numbers_opted_out() OFFSET $1 LIMIT 101",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"listing opted-out phone numbers"};

static SqsnStatement list_subscriptions_stmt = {
	"SELECT subscription_id, topic_name, protocol, endpoint,"
	" status OPERATOR(pg_catalog.=) 'confirmed'"
	" FROM sqsn.sn_list_subscriptions($1) OFFSET $2 LIMIT 101",
	2,
	{TEXTOID, INT8OID},
	SPI_OK_SELECT,
	"listing subscriptions"};

static SqsnStatement get_subscription_attributes_stmt = {
	"SELECT sqsn.sn_get_subscription_attributes($1::pg_catalog.uuid)",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading subscription attributes"};

static SqsnStatement set_subscription_attributes_stmt = {
	"SELECT sqsn.sn_set_subscription_attributes($1::pg_catalog.uuid, $2)",
	2,
	{TEXTOID, JSONBOID},
	SPI_OK_SELECT,
	"setting subscription attributes"};

static SqsnStatement publish_stmt = {
	"SELECT sqsn.sn_publish($1, $2, $3, $4, $5, $6, $7)",
	7,
	{TEXTOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID},
	SPI_OK_SELECT,
	"publishing"};

/* the same with the sequence number (FIFO topics; 0.5) */
static SqsnStatement publish_sequenced_stmt = {
	"SELECT p.message_id, p.sequence_number"
	" FROM sqsn.sn_publish_sequenced($1, $2, $3, $4, $5, $6, $7) p",
	7,
	{TEXTOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID},
	SPI_OK_SELECT,
	"publishing"};

static SqsnStatement publish_sms_stmt = {
	"SELECT sqsn.sn_publish_sms($1, $2, $3)",
	3,
	{TEXTOID, TEXTOID, JSONBOID},
	SPI_OK_SELECT,
	"publishing an SMS"};

static SqsnStatement publish_batch_stmt = {
	"SELECT r.id FROM sqsn.sn_publish_batch($1, $2, $3, $4, $5)"
	" WITH ORDINALITY AS r(id, n) ORDER BY r.n",
	5,
	{TEXTOID, TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID, TEXTARRAYOID},
	SPI_OK_SELECT,
	"publishing a batch"};

static SqsnStatement publish_batch_sequenced_stmt = {
	"SELECT r.message_id, r.sequence_number"
	" FROM sqsn.sn_publish_batch_sequenced($1, $2, $3, $4, $5)"
	" WITH ORDINALITY AS r(message_id, sequence_number, n) ORDER BY r.n",
	5,
	{TEXTOID, TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID, TEXTARRAYOID},
	SPI_OK_SELECT,
	"publishing a batch"};

/* One entry of a PublishBatch request. */
typedef struct BatchEntry
{
	const char *id;
	const char *message;
	const char *subject;
	const char *structure;
	const char *group_id;
	const char *deduplication_id;
	Jsonb      *attributes;
	char       *message_id;      /* the result, or NULL */
	char       *sequence_number; /* FIFO topics: the result's */
	ErrorData  *error;           /* the failure, or NULL */
} BatchEntry;

/* What a step run through sqsn_subxact_try works on. */
typedef struct PublishStep
{
	const char   *topic_name;
	BatchEntry   *entries;
	int           n;
	int           current; /* the entry of publish_one */
	MemoryContext cxt;     /* where results are kept */
} PublishStep;

typedef struct DeleteStep
{
	const char *topic_name;
} DeleteStep;

static void create_topic(ApiRequest *req);
static void list_topics(ApiRequest *req);
static void delete_topic(ApiRequest *req);
static void get_topic_attributes(ApiRequest *req);
static void set_topic_attributes(ApiRequest *req);
static void subscribe(ApiRequest *req);
static void confirm_subscription(ApiRequest *req);
static void unsubscribe(ApiRequest *req);
static void list_all_subscriptions(ApiRequest *req);
static void list_topic_subscriptions(ApiRequest *req);
static void get_subscription_attributes(ApiRequest *req);
static void set_subscription_attributes(ApiRequest *req);
static void publish(ApiRequest *req);
static void publish_batch(ApiRequest *req);
static void opt_in_phone_number(ApiRequest *req);
static void check_if_phone_number_is_opted_out(ApiRequest *req);
static void list_phone_numbers_opted_out(ApiRequest *req);
static void change_topic_tags(ApiRequest *req);
static Jsonb *tags_param(ApiObject *obj);
static void list_tags_for_resource(ApiRequest *req);

static const ApiAction actions[] = {
	{"CreateTopic", create_topic, true},
	{"ListTopics", list_topics, false},
	{"DeleteTopic", delete_topic, true},
	{"GetTopicAttributes", get_topic_attributes, false},
	{"SetTopicAttributes", set_topic_attributes, true},
	{"Subscribe", subscribe, true},
	{"ConfirmSubscription", confirm_subscription, true},
	{"Unsubscribe", unsubscribe, true},
	{"ListSubscriptions", list_all_subscriptions, false},
	{"ListSubscriptionsByTopic", list_topic_subscriptions, false},
	{"GetSubscriptionAttributes", get_subscription_attributes, false},
	{"SetSubscriptionAttributes", set_subscription_attributes, true},
	{"Publish", publish, true},
	{"PublishBatch", publish_batch, true},
	{"OptInPhoneNumber", opt_in_phone_number, true},
	{"CheckIfPhoneNumberIsOptedOut", check_if_phone_number_is_opted_out,
	 false},
	{"ListPhoneNumbersOptedOut", list_phone_numbers_opted_out, false},
	{"TagResource", change_topic_tags, true},
	{"UntagResource", change_topic_tags, true},
	{"ListTagsForResource", list_tags_for_resource, false},
};

/*
 * Runs the action named req->action; false when it is not an SNS action
 * (the server answers InvalidAction).
 */
bool
api_sns_dispatch(ApiRequest *req)
{
	return api_run_action(req, actions, lengthof(actions)) ||
		   api_sns_mobile_dispatch(req);
}

/*
 * The AWS error of a PostgreSQL error raised by the topic API: unknown
 * topic or subscription NotFound (404), bad input InvalidParameter (400),
 * a denied action AuthorizationError (403), a write on a standby
 * ServiceUnavailable (503), anything else InternalError (500). The
 * PostgreSQL message becomes the AWS Message.
 */
void
api_sns_map_error(ErrorData *edata, ApiError *err)
{
	int code = edata->sqlerrcode;

	err->shape = NULL;
	if (code == ERRCODE_PROGRAM_LIMIT_EXCEEDED && edata->message != NULL &&
		strstr(edata->message, " tags") != NULL)
	{
		/* more than 50 tags (common/tags.c) */
		err->code = "TagLimitExceeded";
		err->status = 400;
	}
	else if (code == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE &&
			 edata->message != NULL &&
			 strstr(edata->message, " has opted out") != NULL)
	{
		/* an SMS to an opted-out number (push/sms.c) */
		err->code = "OptedOut";
		err->status = 400;
	}
	else if (code == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE &&
			 edata->message != NULL &&
			 strcmp(edata->message, "endpoint is disabled") == 0)
	{
		/* a publish to a disabled platform endpoint (push/platform.c) */
		err->code = "EndpointDisabled";
		err->status = 400;
	}
	else if (code == ERRCODE_UNDEFINED_OBJECT ||
			 code == ERRCODE_UNDEFINED_TABLE)
	{
		err->code = "NotFound";
		err->status = 404;
	}
	else if (code == ERRCODE_INSUFFICIENT_PRIVILEGE)
	{
		err->code = "AuthorizationError";
		err->status = 403;
	}
	else if (ERRCODE_TO_CATEGORY(code) == ERRCODE_DATA_EXCEPTION ||
			 code == ERRCODE_FEATURE_NOT_SUPPORTED ||
			 code == ERRCODE_DUPLICATE_OBJECT ||
			 code == ERRCODE_WRONG_OBJECT_TYPE ||
			 code == ERRCODE_INVALID_NAME ||
			 code == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
			 code == ERRCODE_RESERVED_NAME ||
			 code == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE)
	{
		err->code = "InvalidParameter";
		err->status = 400;
	}
	else if (code == ERRCODE_READ_ONLY_SQL_TRANSACTION)
	{
		/* a write on a standby (see api_run_action) */
		err->code = "ServiceUnavailable";
		err->status = 503;
	}
	else
	{
		err->code = "InternalError";
		err->status = 500;
	}
}

/* Helpers ------------------------------------------------------------- */

/* The topic name of a TopicArn-like parameter's value. */
static char *
topic_name_of_arn(const char *param, const char *arn)
{
	char *name = sqsn_arn_name(arn);

	if (name == NULL)
		api_error("InvalidParameter", 400,
				  "Invalid parameter: %s Reason: \"%s\" is not a topic ARN",
				  param, arn);
	return name;
}

/* The topic name of a required TopicArn-like parameter. */
static char *
topic_name_param(ApiObject *obj, const char *param)
{
	return topic_name_of_arn(param, api_required_param(obj, param));
}

/*
 * The subscription id (text) of a SubscriptionArn: the part after the
 * last colon; the SQL cast to uuid rejects anything else.
 */
static char *
subscription_id_param(ApiObject *obj)
{
	const char *arn = api_required_param(obj, "SubscriptionArn");
	const char *colon = strrchr(arn, ':');

	if (pg_strcasecmp(arn, "PendingConfirmation") == 0 ||
		pg_strcasecmp(arn, "pending confirmation") == 0)
		api_error("InvalidParameter", 400,
				  "Invalid parameter: SubscriptionArn Reason: the "
				  "subscription is pending confirmation and has no ARN yet");
	if (colon == NULL || colon[1] == '\0')
		api_error("InvalidParameter", 400,
				  "Invalid parameter: SubscriptionArn Reason: \"%s\" is not "
				  "a subscription ARN",
				  arn);
	return pstrdup(colon + 1);
}

/* A queue endpoint: its ARN, or also its URL; the queue's name. */
static char *
queue_name_of_endpoint(const char *endpoint)
{
	const char *slash;
	char       *name;

	if (strncmp(endpoint, "http://", 7) == 0 ||
		strncmp(endpoint, "https://", 8) == 0)
	{
		slash = strrchr(endpoint, '/');
		return pstrdup(slash + 1);
	}
	name = sqsn_arn_name(endpoint);
	if (name == NULL)
		api_error("InvalidParameter", 400,
				  "Invalid parameter: Endpoint Reason: \"%s\" is not the ARN "
				  "of a queue",
				  endpoint);
	return name;
}

/*
 * The attributes whose wire value is a JSON document: passed on as JSON,
 * not as a string ("" stays "", which clears them).
 */
static bool
json_valued(const char *name)
{
	return strcmp(name, "FilterPolicy") == 0 ||
		   strcmp(name, "DeliveryPolicy") == 0 ||
		   strcmp(name, "RedrivePolicy") == 0 ||
		   strcmp(name, "ArchivePolicy") == 0 ||
		   strcmp(name, "ReplayPolicy") == 0;
}

/*
 * Appends "name": value to a JSON object being built in buf (opened with
 * '{', see common/json.c).
 */
static void
append_attribute(StringInfo buf, const char *name, const char *value)
{
	sqsn_json_key(buf, name);
	if (value == NULL)
		appendStringInfoString(buf, "null");
	else if (json_valued(name) && value[0] != '\0')
	{
		if (sqsn_json_or_null(value, strlen(value)) == NULL)
			api_error("InvalidParameter", 400,
					  "Invalid parameter: %s Reason: failed to parse JSON",
					  name);
		appendStringInfoString(buf, value);
	}
	else
		escape_json(buf, value);
}

/* Closes the object append_attribute built and returns it as jsonb. */
static Jsonb *
finish_object(StringInfo buf)
{
	appendStringInfoChar(buf, '}');
	return sqsn_json_to_jsonb(buf);
}

/*
 * Sets one attribute (AttributeName, AttributeValue; NULL: "") of the
 * topic or subscription called name, through stmt:
 * sqsn.sn_set_topic_attributes or sqsn.sn_set_subscription_attributes.
 */
static void
set_one_attribute(SqsnStatement *stmt, const char *name, const char *attribute,
				  const char *value)
{
	StringInfoData buf;
	Datum          values[2];

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	append_attribute(&buf, attribute, value ? value : "");
	values[0] = CStringGetTextDatum(name);
	values[1] = JsonbPGetDatum(finish_object(&buf));
	sqsn_execute(stmt, values, NULL, 0);
}

static void
xml_entry(StringInfo out, const char *key, const char *value)
{
	appendStringInfoString(out, "<entry>");
	api_xml_element(out, "key", key);
	api_xml_element(out, "value", value);
	appendStringInfoString(out, "</entry>");
}

/*
 * The NextToken of a page of subscriptions: the offset of the next page,
 * or 0 for the first.
 */
static int64
offset_token(ApiObject *obj)
{
	const char *token = api_param(obj, "NextToken");
	char       *end;
	long long   offset;

	if (token == NULL || token[0] == '\0')
		return 0;
	errno = 0;
	offset = strtoll(token, &end, 10);
	if (errno != 0 || *end != '\0' || offset < 0 || end == token)
		api_error("InvalidParameter", 400,
				  "Invalid parameter: NextToken Reason: \"%s\" is not a token "
				  "this endpoint returned",
				  token);
	return (int64) offset;
}

/* A true/false attribute value of a request. */
static bool
bool_value(const char *name, const char *value)
{
	if (pg_strcasecmp(value, "true") == 0)
		return true;
	if (pg_strcasecmp(value, "false") == 0)
		return false;
	api_error("InvalidParameter", 400,
			  "Invalid parameter: Attributes Reason: %s must be true or "
			  "false",
			  name);
}

/* Topics --------------------------------------------------------------- */

/*
 * CreateTopic: Name, Attributes. FifoTopic, ContentBasedDeduplication and
 * SqsManagedSseEnabled (sqsn's encryption at rest) go to
 * sqsn.sn_create_topic, the others (DeliveryPolicy, DisplayName, Policy,
 * TracingConfig, SignatureVersion) to sqsn.sn_set_topic_attributes.
 * Creating an existing topic returns its ARN (and sets the attributes
 * given).
 */
static void
create_topic(ApiRequest *req)
{
	const char    *name = api_required_param(&req->root, "Name");
	List          *attributes;
	ListCell      *lc;
	bool           fifo_given = false;
	bool           fifo = false;
	bool           content_based = false;
	bool           encrypted = false;
	StringInfoData rest;
	Datum          values[3];
	Jsonb         *tags = tags_param(&req->root);
	bool           existed;

	attributes =
		api_map(&req->root, "Attributes", "Attributes.entry", "key", "value");
	initStringInfo(&rest);
	appendStringInfoChar(&rest, '{');
	foreach (lc, attributes)
	{
		ApiParam *p = (ApiParam *) lfirst(lc);

		if (strcmp(p->name, "FifoTopic") == 0)
		{
			fifo_given = true;
			fifo = bool_value(p->name, p->value);
		}
		else if (strcmp(p->name, "ContentBasedDeduplication") == 0)
			content_based = bool_value(p->name, p->value);
		else if (strcmp(p->name, "SqsManagedSseEnabled") == 0)
			encrypted = bool_value(p->name, p->value);
		else
			append_attribute(&rest, p->name, p->value);
	}
	if (fifo_given && fifo != sqsn_is_fifo_name(name))
		api_error("InvalidParameter", 400,
				  fifo ? "Invalid parameter: Topic Name Reason: the name of a "
						 "FIFO topic must end in .fifo"
					   : "Invalid parameter: Topic Name Reason: a topic whose "
						 "name ends in .fifo is a FIFO topic");

	values[0] = CStringGetTextDatum(name);
	existed = tags != NULL &&
			  sqsn_execute(&topic_exists_stmt, values, NULL, 0) > 0;
	if (existed)
	{
		/* as the service: an existing topic's tags must be the ones given */
		sqsn_execute(&topic_tags_stmt, values, NULL, 0);
		if (!DatumGetBool(DirectFunctionCall2(
				jsonb_eq, JsonbPGetDatum(tags),
				sqsn_spi_datum(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
							   1))))
			api_error("InvalidParameter", 400,
					  "Invalid parameter: Tags Reason: Topic already exists "
					  "with different tags");
	}
	values[1] = BoolGetDatum(content_based);
	values[2] = BoolGetDatum(encrypted);
	sqsn_execute(&create_topic_stmt, values, NULL, 0);
	if (tags != NULL && !existed)
	{
		values[1] = JsonbPGetDatum(tags);
		sqsn_execute(&tag_topic_stmt, values, NULL, 0);
	}
	if (rest.len > 1)
	{
		values[1] = JsonbPGetDatum(finish_object(&rest));
		sqsn_execute(&set_topic_attributes_stmt, values, NULL, 0);
	}
	api_xml_element(req->out, "TopicArn", sqsn_topic_arn(name));
}

/*
 * The Tags of a request, Tags.member.N.Key/.Value, as a jsonb object; NULL
 * when it has none.
 */
static Jsonb *
tags_param(ApiObject *obj)
{
	List     *members = api_objects(obj, "Tags", "Tags.member");
	List     *tags = NIL;
	ListCell *lc;

	if (members == NIL)
		return NULL;
	foreach (lc, members)
	{
		ApiParam *p = palloc(sizeof(ApiParam));

		p->name = (char *) api_required_param(lfirst(lc), "Key");
		p->value = (char *) api_param(lfirst(lc), "Value");
		if (p->value == NULL)
			p->value = "";
		tags = lappend(tags, p);
	}
	return api_params_jsonb(tags);
}

/*
 * The topic a tag action's ResourceArn names. A topic that does not exist
 * is ResourceNotFound (404) for these actions.
 */
static char *
tagged_topic(ApiRequest *req)
{
	char *name = topic_name_param(&req->root, "ResourceArn");
	Datum value = CStringGetTextDatum(name);

	if (sqsn_execute(&topic_exists_stmt, &value, NULL, 0) == 0)
		api_error("ResourceNotFound", 404, "Resource does not exist");
	return name;
}

/*
 * TagResource (Tags.member.N added to the topic's tags) and UntagResource
 * (TagKeys.member.N removed from them).
 */
static void
change_topic_tags(ApiRequest *req)
{
	bool   add = strcmp(req->action, "TagResource") == 0;
	char  *name = tagged_topic(req);
	Jsonb *tags = add ? tags_param(&req->root) : NULL;
	List  *keys =
		add ? NIL : api_strings(&req->root, "TagKeys", "TagKeys.member");
	Datum  values[2];

	if (add ? tags == NULL : keys == NIL)
		api_error("InvalidParameter", 400,
				  "Invalid parameter: %s Reason: the list must not be empty",
				  add ? "Tags" : "TagKeys");
	values[0] = CStringGetTextDatum(name);
	values[1] = add ? JsonbPGetDatum(tags) : api_strings_array(keys);
	sqsn_execute(add ? &tag_topic_stmt : &untag_topic_stmt, values, NULL, 0);
}

/* ListTagsForResource: the topic's tags, Tags/member/Key,Value. */
static void
list_tags_for_resource(ApiRequest *req)
{
	Datum value = CStringGetTextDatum(tagged_topic(req));

	sqsn_execute(&list_topic_tags_stmt, &value, NULL, 0);
	appendStringInfoString(req->out, "<Tags>");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		appendStringInfoString(req->out, "<member>");
		api_xml_element(
			req->out, "Key",
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		api_xml_element(
			req->out, "Value",
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
		appendStringInfoString(req->out, "</member>");
	}
	appendStringInfoString(req->out, "</Tags>");
}

/* ListTopics: pages of 100 in name order; NextToken is the last name. */
static void
list_topics(ApiRequest *req)
{
	const char *token = api_param(&req->root, "NextToken");
	Datum       value;
	char        null = ' ';
	uint64      n;

	if (token == NULL || token[0] == '\0')
	{
		value = (Datum) 0;
		null = 'n';
	}
	else
	{
		/* the last name of the previous page */
		for (const char *c = token; *c; c++)
			if (!isalnum((unsigned char) *c) && *c != '-' && *c != '_' &&
				*c != '.')
				api_error("InvalidParameter", 400,
						  "Invalid parameter: NextToken Reason: \"%s\" is "
						  "not a token this endpoint returned",
						  token);
		value = CStringGetTextDatum(token);
	}
	sqsn_execute(&list_topics_stmt, &value, &null, 0);
	n = Min(SPI_processed, PAGE_SIZE);
	appendStringInfoString(req->out, "<Topics>");
	for (uint64 i = 0; i < n; i++)
	{
		appendStringInfoString(req->out, "<member>");
		api_xml_element(req->out, "TopicArn",
						sqsn_topic_arn(SPI_getvalue(
							SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1)));
		appendStringInfoString(req->out, "</member>");
	}
	appendStringInfoString(req->out, "</Topics>");
	if (SPI_processed > PAGE_SIZE)
		api_xml_element(
			req->out, "NextToken",
			SPI_getvalue(SPI_tuptable->vals[n - 1], SPI_tuptable->tupdesc, 1));
}

static void
delete_topic_step(void *arg)
{
	DeleteStep *step = (DeleteStep *) arg;
	Datum       value = CStringGetTextDatum(step->topic_name);

	sqsn_execute(&delete_topic_stmt, &value, NULL, 0);
}

/* DeleteTopic: idempotent, a topic that does not exist is no error. */
static void
delete_topic(ApiRequest *req)
{
	DeleteStep step;
	ErrorData *edata = NULL;

	step.topic_name = topic_name_param(&req->root, "TopicArn");
	if (!sqsn_subxact_try(delete_topic_step, &step, &edata) &&
		edata->sqlerrcode != ERRCODE_UNDEFINED_OBJECT)
		ReThrowError(edata);
}

/*
 * Writes the attributes of a jsonb object as an <Attributes> map, with
 * fix(key, value) deciding the value of each (NULL: leave it out).
 */
static void
write_attributes(ApiRequest *req, Jsonb *attributes,
				 char *(*fix)(ApiRequest *req, const char *key, char *value,
							  void *arg),
				 void *arg)
{
	JsonbIterator *it = JsonbIteratorInit(&attributes->root);
	JsonbValue     v;
	char          *key = NULL;

	appendStringInfoString(req->out, "<Attributes>");
	while (sqsn_jsonb_next_pair(&it, &key, &v))
	{
		/* as the wire form carries attributes: null as "" */
		char *value = api_json_text(&v);

		if (value == NULL)
			value = pstrdup("");
		if (fix)
			value = fix(req, key, value, arg);
		if (value)
			xml_entry(req->out, key, value);
	}
	appendStringInfoString(req->out, "</Attributes>");
}

static Jsonb *
jsonb_result(const char *what)
{
	bool  isnull;
	Datum d;

	if (SPI_processed != 1)
		elog(ERROR, "%s returned " UINT64_FORMAT " rows", what, SPI_processed);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
					  &isnull);
	if (isnull)
		elog(ERROR, "%s returned NULL", what);
	return DatumGetJsonbPCopy(d);
}

/* The topic's attributes in the endpoint's form: the account as the owner. */
static char *
fix_topic_attribute(ApiRequest *req, const char *key, char *value, void *arg)
{
	if (strcmp(key, "Owner") == 0)
		return sqsn_account_id();
	return value;
}

/* GetTopicAttributes: TopicArn. */
static void
get_topic_attributes(ApiRequest *req)
{
	char *name = topic_name_param(&req->root, "TopicArn");
	Datum value = CStringGetTextDatum(name);

	sqsn_execute(&get_topic_attributes_stmt, &value, NULL, 0);
	write_attributes(req, jsonb_result("sn_get_topic_attributes"),
					 fix_topic_attribute, name);
}

/* SetTopicAttributes: TopicArn, AttributeName, AttributeValue. */
static void
set_topic_attributes(ApiRequest *req)
{
	char       *name = topic_name_param(&req->root, "TopicArn");
	const char *attribute = api_required_param(&req->root, "AttributeName");
	const char *value = api_param(&req->root, "AttributeValue");

	if (strcmp(attribute, "FifoTopic") == 0 ||
		strcmp(attribute, "TopicArn") == 0 || strcmp(attribute, "Owner") == 0)
		api_error("InvalidParameter", 400,
				  "Invalid parameter: AttributeName Reason: %s cannot be "
				  "changed",
				  attribute);
	set_one_attribute(&set_topic_attributes_stmt, name, attribute, value);
}

/* Subscriptions ---------------------------------------------------------- */

/*
 * Subscribe: TopicArn, Protocol (sqs, http, https, function, lambda,
 * email, email-json), Endpoint (the queue's ARN, the URL, the function or
 * the address), Attributes (FilterPolicy, FilterPolicyScope,
 * RawMessageDelivery, DeliveryPolicy, RedrivePolicy; ReplayPolicy, set
 * with sqsn.sn_set_subscription_attributes once subscribed),
 * ReturnSubscriptionArn. A subscription waiting for its confirmation
 * answers "pending confirmation" unless ReturnSubscriptionArn is true.
 */
static void
subscribe(ApiRequest *req)
{
	char       *name = topic_name_param(&req->root, "TopicArn");
	const char *protocol = api_required_param(&req->root, "Protocol");
	const char *endpoint = api_param(&req->root, "Endpoint");
	bool        return_arn = false;
	bool        push =
		strcmp(protocol, "http") == 0 || strcmp(protocol, "https") == 0 ||
		strcmp(protocol, "email") == 0 || strcmp(protocol, "email-json") == 0;
	List     *attributes;
	const char *replay = NULL; /* the ReplayPolicy attribute */
	ListCell *lc;
	Datum     values[8];
	char      nulls[8] = {' ', ' ', ' ', 'n', 'n', 'n', 'n', 'n'};
	char     *id;

	(void) api_param_bool(&req->root, "ReturnSubscriptionArn", &return_arn);
	if (endpoint == NULL || endpoint[0] == '\0')
		api_error(
			"InvalidParameter", 400,
			"Invalid parameter: Endpoint Reason: a %s subscription needs "
			"an endpoint",
			protocol);
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(protocol);
	values[2] = CStringGetTextDatum(strcmp(protocol, "sqs") == 0
										? queue_name_of_endpoint(endpoint)
										: endpoint);

	attributes =
		api_map(&req->root, "Attributes", "Attributes.entry", "key", "value");
	foreach (lc, attributes)
	{
		ApiParam *p = (ApiParam *) lfirst(lc);
		int       i;
		Jsonb    *policy;

		if (strcmp(p->name, "FilterPolicyScope") == 0)
		{
			values[4] = CStringGetTextDatum(p->value);
			nulls[4] = ' ';
			continue;
		}
		if (strcmp(p->name, "RawMessageDelivery") == 0)
		{
			values[5] = BoolGetDatum(bool_value(p->name, p->value));
			nulls[5] = ' ';
			continue;
		}
		if (strcmp(p->name, "ReplayPolicy") == 0)
		{
			replay = p->value; /* set once subscribed */
			continue;
		}
		if (strcmp(p->name, "FilterPolicy") == 0)
			i = 3;
		else if (strcmp(p->name, "DeliveryPolicy") == 0)
			i = 6;
		else if (strcmp(p->name, "RedrivePolicy") == 0)
			i = 7;
		else
			api_error("InvalidParameter", 400,
					  "Invalid parameter: Attributes Reason: unknown "
					  "subscription attribute %s",
					  p->name);
		if (p->value[0] == '\0')
			continue; /* "" is no policy */
		policy = sqsn_json_or_null(p->value, strlen(p->value));
		if (policy == NULL)
			api_error("InvalidParameter", 400,
					  "Invalid parameter: %s Reason: failed to parse JSON",
					  p->name);
		values[i] = JsonbPGetDatum(policy);
		nulls[i] = ' ';
	}

	sqsn_execute(&subscribe_stmt, values, nulls, 0);
	id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (replay != NULL)
	{
		StringInfoData buf;
		Datum          args[2];

		initStringInfo(&buf);
		appendStringInfoChar(&buf, '{');
		append_attribute(&buf, "ReplayPolicy", replay);
		args[0] = CStringGetTextDatum(id);
		args[1] = JsonbPGetDatum(finish_object(&buf));
		sqsn_execute(&set_subscription_attributes_stmt, args, NULL, 0);
	}

	if (push && !return_arn)
	{
		Datum       idv = CStringGetTextDatum(id);
		Jsonb      *a;
		JsonbValue *pending;

		sqsn_execute(&get_subscription_attributes_stmt, &idv, NULL, 0);
		a = jsonb_result("sn_get_subscription_attributes");
		pending = getKeyJsonValueFromContainer(&a->root, "PendingConfirmation",
											   19, NULL);
		if (pending && pending->type == jbvBool && pending->val.boolean)
		{
			api_xml_element(req->out, "SubscriptionArn",
							"pending confirmation");
			return;
		}
	}
	api_xml_element(req->out, "SubscriptionArn",
					sqsn_subscription_arn(name, id));
}

/*
 * ConfirmSubscription: TopicArn, Token (also the unsigned GET of a
 * SubscribeURL). AuthenticateOnUnsubscribe is accepted and ignored.
 */
static void
confirm_subscription(ApiRequest *req)
{
	char *name = topic_name_param(&req->root, "TopicArn");
	Datum values[2];

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(api_required_param(&req->root, "Token"));
	sqsn_execute(&confirm_stmt, values, NULL, 0);
	api_xml_element(
		req->out, "SubscriptionArn",
		sqsn_subscription_arn(name, SPI_getvalue(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 1)));
}

/* Unsubscribe: SubscriptionArn. */
static void
unsubscribe(ApiRequest *req)
{
	Datum value = CStringGetTextDatum(subscription_id_param(&req->root));

	sqsn_execute(&unsubscribe_stmt, &value, NULL, 0);
}

/*
 * ListSubscriptions, ListSubscriptionsByTopic (TopicArn): pages of 100 by
 * topic and endpoint; NextToken is the offset of the next page. A pending
 * subscription shows PendingConfirmation as its ARN.
 */
static void
list_subscriptions(ApiRequest *req, bool by_topic)
{
	Datum  values[2];
	char   nulls[2] = {' ', ' '};
	int64  offset = offset_token(&req->root);
	uint64 n;

	if (by_topic)
		values[0] =
			CStringGetTextDatum(topic_name_param(&req->root, "TopicArn"));
	else
	{
		values[0] = (Datum) 0;
		nulls[0] = 'n';
	}
	values[1] = Int64GetDatum(offset);
	sqsn_execute(&list_subscriptions_stmt, values, nulls, 0);
	n = Min(SPI_processed, PAGE_SIZE);
	appendStringInfoString(req->out, "<Subscriptions>");
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		char     *topic = SPI_getvalue(tuple, desc, 2);
		char     *protocol = SPI_getvalue(tuple, desc, 3);
		char     *endpoint = SPI_getvalue(tuple, desc, 4);
		bool      confirmed = sqsn_spi_bool(tuple, desc, 5);

		appendStringInfoString(req->out, "<member>");
		api_xml_element(req->out, "SubscriptionArn",
						confirmed ? sqsn_subscription_arn(
										topic, SPI_getvalue(tuple, desc, 1))
								  : "PendingConfirmation");
		api_xml_element(req->out, "Owner", sqsn_account_id());
		api_xml_element(req->out, "Protocol", protocol);
		api_xml_element(req->out, "Endpoint",
						strcmp(protocol, "sqs") == 0 ? sqsn_queue_arn(endpoint)
													 : endpoint);
		api_xml_element(req->out, "TopicArn", sqsn_topic_arn(topic));
		appendStringInfoString(req->out, "</member>");
	}
	appendStringInfoString(req->out, "</Subscriptions>");
	if (SPI_processed > PAGE_SIZE)
		api_xml_element(req->out, "NextToken",
						psprintf(INT64_FORMAT, offset + PAGE_SIZE));
}

/* OptInPhoneNumber: phoneNumber. */
static void
opt_in_phone_number(ApiRequest *req)
{
	Datum value =
		CStringGetTextDatum(api_required_param(&req->root, "phoneNumber"));

	sqsn_execute(&opt_in_stmt, &value, NULL, 0);
}

/* CheckIfPhoneNumberIsOptedOut: phoneNumber; answers isOptedOut. */
static void
check_if_phone_number_is_opted_out(ApiRequest *req)
{
	Datum value =
		CStringGetTextDatum(api_required_param(&req->root, "phoneNumber"));

	sqsn_execute(&check_opted_out_stmt, &value, NULL, 0);
	api_xml_element(
		req->out, "isOptedOut",
		sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)
			? "true"
			: "false");
}

/*
 * ListPhoneNumbersOptedOut: nextToken; pages of 100 numbers in order,
 * nextToken being the offset of the next page.
 */
static void
list_phone_numbers_opted_out(ApiRequest *req)
{
	const char *token = api_param(&req->root, "nextToken");
	int64       offset = 0;
	Datum       value;

	if (token != NULL && token[0] != '\0')
	{
		if (strspn(token, "0123456789") != strlen(token) || strlen(token) > 18)
			api_error("InvalidParameter", 400,
					  "Invalid parameter: nextToken Reason: not a token of "
					  "ListPhoneNumbersOptedOut");
		offset = strtoll(token, NULL, 10);
	}
	value = Int64GetDatum(offset);
	sqsn_execute(&list_opted_out_stmt, &value, NULL, 0);
	appendStringInfoString(req->out, "<phoneNumbers>");
	for (uint64 i = 0; i < Min(SPI_processed, PAGE_SIZE); i++)
		api_xml_element(
			req->out, "member",
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	appendStringInfoString(req->out, "</phoneNumbers>");
	if (SPI_processed > PAGE_SIZE)
		api_xml_element(req->out, "nextToken",
						psprintf(INT64_FORMAT, offset + PAGE_SIZE));
}

static void
list_all_subscriptions(ApiRequest *req)
{
	list_subscriptions(req, false);
}

static void
list_topic_subscriptions(ApiRequest *req)
{
	list_subscriptions(req, true);
}

/*
 * The subscription's attributes in the endpoint's form: the account as the
 * owner, queues by their ARN.
 */
static char *
fix_subscription_attribute(ApiRequest *req, const char *key, char *value,
						   void *arg)
{
	Jsonb *attributes = (Jsonb *) arg;

	if (strcmp(key, "Owner") == 0)
		return sqsn_account_id();
	if (strcmp(key, "Endpoint") == 0)
	{
		JsonbValue *protocol = getKeyJsonValueFromContainer(
			&attributes->root, "Protocol", 8, NULL);

		if (protocol && protocol->type == jbvString &&
			protocol->val.string.len == 3 &&
			strncmp(protocol->val.string.val, "sqs", 3) == 0)
			return sqsn_queue_arn(value);
	}
	if (strcmp(key, "RedrivePolicy") == 0)
	{
		Jsonb      *policy = sqsn_json_or_null(value, strlen(value));
		JsonbValue *target =
			policy ? getKeyJsonValueFromContainer(
						 &policy->root, "deadLetterTargetArn", 19, NULL)
				   : NULL;

		if (target && target->type == jbvString)
		{
			StringInfoData buf;

			initStringInfo(&buf);
			appendStringInfoString(&buf, "{\"deadLetterTargetArn\":");
			escape_json(&buf,
						sqsn_queue_arn(pnstrdup(target->val.string.val,
												target->val.string.len)));
			appendStringInfoChar(&buf, '}');
			return buf.data;
		}
	}
	return value;
}

/* GetSubscriptionAttributes: SubscriptionArn. */
static void
get_subscription_attributes(ApiRequest *req)
{
	Datum  value = CStringGetTextDatum(subscription_id_param(&req->root));
	Jsonb *attributes;

	sqsn_execute(&get_subscription_attributes_stmt, &value, NULL, 0);
	attributes = jsonb_result("sn_get_subscription_attributes");
	write_attributes(req, attributes, fix_subscription_attribute, attributes);
}

/*
 * SetSubscriptionAttributes: SubscriptionArn, AttributeName,
 * AttributeValue (FilterPolicy, FilterPolicyScope, RawMessageDelivery,
 * DeliveryPolicy, RedrivePolicy; "" clears a policy).
 */
static void
set_subscription_attributes(ApiRequest *req)
{
	char       *id = subscription_id_param(&req->root);
	const char *attribute = api_required_param(&req->root, "AttributeName");
	const char *value = api_param(&req->root, "AttributeValue");

	set_one_attribute(&set_subscription_attributes_stmt, id, attribute, value);
}

/* Publishing ------------------------------------------------------------ */

/* A text Datum of s, or a NULL (*null set to 'n') when s is NULL. */
static Datum
text_datum_or_null(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/*
 * Publishes one entry with sqsn.sn_publish_sequenced (sqsn.sn_publish
 * before 0.5); returns the message id and sets the entry's sequence
 * number (NULL but on a FIFO topic).
 */
static char *
publish_entry(const char *topic_name, BatchEntry *e)
{
	Datum values[7];
	char  nulls[7];

	values[0] = CStringGetTextDatum(topic_name);
	nulls[0] = ' ';
	values[1] = CStringGetTextDatum(e->message);
	nulls[1] = ' ';
	values[2] = e->attributes ? JsonbPGetDatum(e->attributes) : (Datum) 0;
	nulls[2] = e->attributes ? ' ' : 'n';
	values[3] = text_datum_or_null(e->subject, &nulls[3]);
	values[4] = text_datum_or_null(e->structure, &nulls[4]);
	values[5] = text_datum_or_null(e->group_id, &nulls[5]);
	values[6] = text_datum_or_null(e->deduplication_id, &nulls[6]);
	if (!sqsn_catalog_has(SQSN_CATALOG_TOPIC_SEQ))
	{
		sqsn_execute(&publish_stmt, values, nulls, 0);
		return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	}
	sqsn_execute(&publish_sequenced_stmt, values, nulls, 0);
	e->sequence_number =
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/* The entry's fields from its request object (Publish or a batch entry). */
static void
read_entry(ApiObject *obj, BatchEntry *e)
{
	e->message = api_param(obj, "Message");
	e->subject = api_param(obj, "Subject");
	e->structure = api_param(obj, "MessageStructure");
	e->group_id = api_param(obj, "MessageGroupId");
	e->deduplication_id = api_param(obj, "MessageDeduplicationId");
	e->attributes = api_message_attributes(
		obj, "MessageAttributes", "MessageAttributes.entry", "Name", "Value");
}

/*
 * Publish with PhoneNumber instead of a topic: an SMS to the number
 * (sqsn.sn_publish_sms), with Message and MessageAttributes.
 */
static void
publish_sms(ApiRequest *req, const char *number)
{
	BatchEntry e;
	Datum      values[3];
	char       nulls[3] = {' ', ' ', ' '};

	memset(&e, 0, sizeof(e));
	read_entry(&req->root, &e);
	if (e.structure != NULL || e.group_id != NULL ||
		e.deduplication_id != NULL)
		api_error("InvalidParameter", 400,
				  "Invalid parameter: PhoneNumber Reason: MessageStructure, "
				  "MessageGroupId and MessageDeduplicationId are for topics");
	if (e.message == NULL)
		api_error("InvalidParameter", 400,
				  "Invalid parameter: Message Reason: no value for required "
				  "parameter");
	values[0] = CStringGetTextDatum(number);
	values[1] = CStringGetTextDatum(e.message);
	values[2] = e.attributes ? JsonbPGetDatum(e.attributes) : (Datum) 0;
	nulls[2] = e.attributes ? ' ' : 'n';
	sqsn_execute(&publish_sms_stmt, values, nulls, 0);
	api_xml_element(
		req->out, "MessageId",
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
}

/*
 * Publish: TopicArn or TargetArn, Message, Subject, MessageStructure,
 * MessageAttributes, MessageGroupId, MessageDeduplicationId; or
 * PhoneNumber instead of a topic (publish_sms).
 */
static void
publish(ApiRequest *req)
{
	const char *topic_arn = api_param(&req->root, "TopicArn");
	const char *target_arn = api_param(&req->root, "TargetArn");
	const char *number = api_param(&req->root, "PhoneNumber");
	const char *arn = topic_arn ? topic_arn : target_arn;
	BatchEntry  e;
	char       *name;

	memset(&e, 0, sizeof(e));
	/* the message goes to a topic, a platform endpoint or a phone number */
	if ((topic_arn != NULL) + (target_arn != NULL) + (number != NULL) > 1)
		api_error("InvalidParameter", 400,
				  "Invalid parameter: %s Reason: give only one of TopicArn, "
				  "TargetArn and PhoneNumber",
				  number != NULL ? "PhoneNumber" : "TargetArn");
	if (number != NULL)
	{
		publish_sms(req, number);
		return;
	}
	if (arn == NULL || arn[0] == '\0')
		api_error("InvalidParameter", 400,
				  "Invalid parameter: TopicArn, TargetArn or PhoneNumber "
				  "Reason: no value for required parameter");
	if (sqsn_is_platform_endpoint_arn(arn))
		name = pstrdup(arn); /* sqsn.sn_publish takes the endpoint's ARN */
	else
		name = topic_name_of_arn(topic_arn ? "TopicArn" : "TargetArn", arn);
	read_entry(&req->root, &e);
	e.attributes = api_with_trace_header(e.attributes, req->trace_header);
	if (e.message == NULL)
		api_error("InvalidParameter", 400,
				  "Invalid parameter: Message Reason: no value for required "
				  "parameter");
	api_xml_element(req->out, "MessageId", publish_entry(name, &e));
	if (e.sequence_number != NULL)
		api_xml_element(req->out, "SequenceNumber", e.sequence_number);
}

/* sqsn_subxact_try step: the whole batch in one sqsn.sn_publish_batch call. */
static void
publish_all_step(void *arg)
{
	PublishStep  *step = (PublishStep *) arg;
	int           n = step->n;
	Datum        *messages = palloc(sizeof(Datum) * n);
	Datum        *attributes = palloc(sizeof(Datum) * n);
	bool         *attribute_nulls = palloc(sizeof(bool) * n);
	Datum        *groups = palloc(sizeof(Datum) * n);
	bool         *group_nulls = palloc(sizeof(bool) * n);
	Datum        *dedups = palloc(sizeof(Datum) * n);
	bool         *dedup_nulls = palloc(sizeof(bool) * n);
	bool          any_attributes = false;
	bool          any_groups = false;
	bool          any_dedups = false;
	Datum         values[5];
	char          nulls[5] = {' ', ' ', ' ', ' ', ' '};
	MemoryContext old;

	for (int i = 0; i < n; i++)
	{
		BatchEntry *e = &step->entries[i];

		messages[i] = CStringGetTextDatum(e->message);
		attributes[i] =
			e->attributes ? JsonbPGetDatum(e->attributes) : (Datum) 0;
		attribute_nulls[i] = e->attributes == NULL;
		any_attributes |= e->attributes != NULL;
		groups[i] = e->group_id ? CStringGetTextDatum(e->group_id) : 0;
		group_nulls[i] = e->group_id == NULL;
		any_groups |= e->group_id != NULL;
		dedups[i] =
			e->deduplication_id ? CStringGetTextDatum(e->deduplication_id) : 0;
		dedup_nulls[i] = e->deduplication_id == NULL;
		any_dedups |= e->deduplication_id != NULL;
	}
	values[0] = CStringGetTextDatum(step->topic_name);
	values[1] = sqsn_array_of(messages, NULL, n, TEXTOID);
	values[2] = sqsn_array_of(attributes, attribute_nulls, n, JSONBOID);
	nulls[2] = any_attributes ? ' ' : 'n';
	values[3] = sqsn_array_of(groups, group_nulls, n, TEXTOID);
	nulls[3] = any_groups ? ' ' : 'n';
	values[4] = sqsn_array_of(dedups, dedup_nulls, n, TEXTOID);
	nulls[4] = any_dedups ? ' ' : 'n';
	sqsn_execute(sqsn_catalog_has(SQSN_CATALOG_TOPIC_SEQ)
					 ? &publish_batch_sequenced_stmt
					 : &publish_batch_stmt,
				 values, nulls, 0);
	if (SPI_processed != (uint64) n)
		elog(ERROR,
			 "sn_publish_batch returned " UINT64_FORMAT " ids for %d "
			 "messages",
			 SPI_processed, n);
	old = MemoryContextSwitchTo(step->cxt);
	for (int i = 0; i < n; i++)
	{
		step->entries[i].message_id =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		if (SPI_tuptable->tupdesc->natts > 1)
			step->entries[i].sequence_number =
				SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	MemoryContextSwitchTo(old);
}

/* sqsn_subxact_try step: one entry. */
static void
publish_one_step(void *arg)
{
	PublishStep *step = (PublishStep *) arg;
	char *id = publish_entry(step->topic_name, &step->entries[step->current]);
	MemoryContext old = MemoryContextSwitchTo(step->cxt);

	step->entries[step->current].message_id = pstrdup(id);
	if (step->entries[step->current].sequence_number != NULL)
		step->entries[step->current].sequence_number =
			pstrdup(step->entries[step->current].sequence_number);
	MemoryContextSwitchTo(old);
}

static bool
valid_batch_id(const char *id)
{
	size_t len = strlen(id);

	if (len == 0 || len > MAX_BATCH_ID)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return true;
}

/*
 * PublishBatch: TopicArn, PublishBatchRequestEntries (1 to 10, distinct
 * Ids), each with the members of Publish.
 */
static void
publish_batch(ApiRequest *req)
{
	char       *name = topic_name_param(&req->root, "TopicArn");
	List       *objects = api_objects(&req->root, "PublishBatchRequestEntries",
									  "PublishBatchRequestEntries.member");
	int         n = list_length(objects);
	PublishStep step;
	ListCell   *lc;
	int64       size = 0;
	bool        simple = true;
	ErrorData  *edata = NULL;
	int         i = 0;

	if (n == 0)
		api_error("EmptyBatchRequest", 400,
				  "The batch request doesn't contain any entries");
	if (n > MAX_BATCH)
		api_error("TooManyEntriesInBatchRequest", 400,
				  "The batch request contains more entries than permissible "
				  "(%d; the limit is %d)",
				  n, MAX_BATCH);

	step.topic_name = name;
	step.entries = palloc0(sizeof(BatchEntry) * n);
	step.n = n;
	step.cxt = CurrentMemoryContext;
	foreach (lc, objects)
	{
		ApiObject  *obj = (ApiObject *) lfirst(lc);
		BatchEntry *e = &step.entries[i];

		e->id = api_param(obj, "Id");
		if (e->id == NULL || !valid_batch_id(e->id))
			api_error("InvalidBatchEntryId", 400,
					  "The Id of a batch entry must have 1 to 80 characters "
					  "of A-Z, a-z, 0-9, - and _ (entry %d)",
					  i + 1);
		for (int j = 0; j < i; j++)
			if (strcmp(step.entries[j].id, e->id) == 0)
				api_error("BatchEntryIdsNotDistinct", 400,
						  "Two or more batch entries have the Id \"%s\"",
						  e->id);
		read_entry(obj, e);
		e->attributes =
			api_with_trace_header(e->attributes, req->trace_header);
		if (e->subject || e->structure)
			simple = false;
		if (e->message)
			size += strlen(e->message);
		if (e->attributes)
			size += VARSIZE(e->attributes);
		i++;
	}
	if (size > MAX_REQUEST_SIZE)
		api_error("BatchRequestTooLong", 400,
				  "The messages of the batch take " INT64_FORMAT
				  " bytes; the limit is %d",
				  size, MAX_REQUEST_SIZE);
	for (i = 0; i < n; i++)
		if (step.entries[i].message == NULL)
			simple = false;

	if (!simple || !sqsn_subxact_try(publish_all_step, &step, &edata))
	{
		if (edata && (edata->sqlerrcode == ERRCODE_UNDEFINED_OBJECT ||
					  edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE))
			ReThrowError(edata);
		for (i = 0; i < n; i++)
		{
			BatchEntry *e = &step.entries[i];

			e->message_id = NULL;
			e->sequence_number = NULL;
			if (e->message == NULL)
			{
				e->error = NULL;
				continue;
			}
			step.current = i;
			edata = NULL;
			if (!sqsn_subxact_try(publish_one_step, &step, &edata))
			{
				if (edata->sqlerrcode == ERRCODE_UNDEFINED_OBJECT ||
					edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
					ReThrowError(edata);
				e->error = edata;
			}
		}
	}

	appendStringInfoString(req->out, "<Successful>");
	for (i = 0; i < n; i++)
	{
		BatchEntry *e = &step.entries[i];

		if (e->message_id == NULL)
			continue;
		appendStringInfoString(req->out, "<member>");
		api_xml_element(req->out, "Id", e->id);
		api_xml_element(req->out, "MessageId", e->message_id);
		if (e->sequence_number != NULL)
			api_xml_element(req->out, "SequenceNumber", e->sequence_number);
		appendStringInfoString(req->out, "</member>");
	}
	appendStringInfoString(req->out, "</Successful><Failed>");
	for (i = 0; i < n; i++)
	{
		BatchEntry *e = &step.entries[i];
		ApiError    err;
		const char *message;

		if (e->message_id != NULL)
			continue;
		if (e->error == NULL)
		{
			err.code = "InvalidParameter";
			err.status = 400;
			message = "Invalid parameter: Message Reason: no value for "
					  "required parameter";
		}
		else
		{
			api_sns_map_error(e->error, &err);
			message = e->error->message;
		}
		appendStringInfoString(req->out, "<member>");
		api_xml_element(req->out, "Id", e->id);
		api_xml_element(req->out, "Code", err.code);
		api_xml_element(req->out, "Message", message);
		api_xml_element(req->out, "SenderFault",
						err.status < 500 ? "true" : "false");
		appendStringInfoString(req->out, "</member>");
	}
	appendStringInfoString(req->out, "</Failed>");
}
