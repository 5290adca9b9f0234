/*-------------------------------------------------------------------------
 *
 * topic_attributes.c
 *	  A topic's attributes: sn_set_topic_attributes and
 *	  sn_get_topic_attributes, with the managed service's names.
 *
 * Some attributes act (DeliveryPolicy, ContentBasedDeduplication,
 * SqsManagedSseEnabled, ArchivePolicy: archive.c); others are kept for the endpoint's clients and
 * returned as they were set (DisplayName, Policy, TracingConfig,
 * SignatureVersion), in sqsn.topic.extra_attributes. A Policy also becomes
 * the topic's grants (security/policy.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "topic/topic.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(sn_set_topic_attributes);
PG_FUNCTION_INFO_V1(sn_get_topic_attributes);

/*
 * Statements on sqsn.topic, run by sqsn_execute. The settings updates take
 * $1 the topic, $2 its delivery policy, $3 content-based deduplication;
 * each updates what sn_set_topic_attributes was given.
 */

static SqsnStatement update_both_stmt = {
	"UPDATE sqsn.topic SET delivery_policy = $2,"
	" content_based_deduplication = $3 WHERE topic_id = $1",
	3,
	{INT8OID, JSONBOID, BOOLOID},
	SPI_OK_UPDATE,
	"updating sqsn.topic"};

static SqsnStatement update_delivery_policy_stmt = {
	"UPDATE sqsn.topic SET delivery_policy = $2"
	" WHERE topic_id = $1 AND $3 IS NULL",
	3,
	{INT8OID, JSONBOID, BOOLOID},
	SPI_OK_UPDATE,
	"updating sqsn.topic"};

static SqsnStatement update_content_based_stmt = {
	"UPDATE sqsn.topic SET content_based_deduplication = $3"
	" WHERE topic_id = $1 AND $2 IS NULL",
	3,
	{INT8OID, JSONBOID, BOOLOID},
	SPI_OK_UPDATE,
	"updating sqsn.topic"};

static SqsnStatement update_stored_stmt = {
	"UPDATE sqsn.topic"
	" SET extra_attributes = (extra_attributes OPERATOR(pg_catalog.-) $2)"
	" OPERATOR(pg_catalog.||) $3"
	" WHERE topic_id OPERATOR(pg_catalog.=) $1",
	3,
	{INT8OID, TEXTARRAYOID, JSONBOID},
	SPI_OK_UPDATE,
	"updating sqsn.topic"};

static SqsnStatement attributes_stmt = {
	"SELECT t.owner::pg_catalog.text, t.content_based_deduplication,"
	" t.delivery_policy, t.encrypted, t.extra_attributes,"
	" (SELECT pg_catalog.count(*) FROM sqsn.subscription s"
	"   WHERE s.topic_id OPERATOR(pg_catalog.=) t.topic_id"
	"   AND s.confirmed),"
	" (SELECT pg_catalog.count(*) FROM sqsn.subscription s"
	"   WHERE s.topic_id OPERATOR(pg_catalog.=) t.topic_id"
	"   AND NOT s.confirmed)"
	" FROM sqsn.topic t WHERE t.topic_id OPERATOR(pg_catalog.=) $1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.topic"};

static SqsnStatement archive_attributes_stmt = {
	"SELECT archive_retention_days, archive_started_at"
	" FROM sqsn.topic WHERE topic_id OPERATOR(pg_catalog.=) $1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.topic"};

/*
 * Topic attributes kept for the AWS-compatible endpoint's clients
 * (sqsn.topic.extra_attributes, 0.4): DisplayName (up to 100 characters),
 * Policy (a JSON object, kept as its text; returned parsed, for
 * sn_set_topic_attributes to turn into grants), TracingConfig (PassThrough
 * or Active) and SignatureVersion (2, what the delivery worker signs
 * with). A null or "" removes one.
 */
static Jsonb *
stored_attribute(StringInfo stored, List **removed, const char *key,
				 JsonbValue *v)
{
	char  *value;
	Jsonb *policy = NULL;

	if (sqsn_jsonb_is_empty(v))
	{
		*removed = lappend(*removed, pstrdup(key));
		return NULL;
	}
	if (v->type == jbvString)
		value = sqsn_jsonb_string(v);
	else if (v->type == jbvNumeric)
		value = DatumGetCString(
			DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	else if (strcmp(key, "Policy") == 0 && v->type == jbvBinary)
		value = JsonbToCString(NULL, v->val.binary.data, -1);
	else
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("topic attribute %s must be a string", key)));

	if (strcmp(key, "DisplayName") == 0)
	{
		if (pg_mbstrlen(value) > 100)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("DisplayName must have at most 100 characters")));
	}
	else if (strcmp(key, "Policy") == 0)
	{
		policy = sqsn_json_or_null(value, strlen(value));
		if (policy == NULL || !JB_ROOT_IS_OBJECT(policy) ||
			JB_ROOT_IS_SCALAR(policy))
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("Policy must be a JSON object"),
							errdetail("A policy document is an object with a "
									  "Statement; its statements become the "
									  "topic's grants.")));
	}
	else if (strcmp(key, "TracingConfig") == 0)
	{
		if (strcmp(value, "PassThrough") != 0 && strcmp(value, "Active") != 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("invalid TracingConfig \"%s\"", value),
							errhint("Use PassThrough or Active.")));
	}
	else if (strcmp(value, "2") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid SignatureVersion \"%s\"", value),
				 errdetail("sqsn signs notifications with SHA256withRSA, "
						   "signature version 2."),
				 errhint("Use 2.")));
	sqsn_json_string(stored, key, value);
	return policy;
}

/* Whether sqsn.topic has extra_attributes (0.4); errors when not. */
static void
require_stored_attributes(void)
{
	Oid relid = get_relname_relid("topic", sqsn_schema_oid());

	if (get_attnum(relid, "extra_attributes") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the topic attributes DisplayName, Policy, "
						"TracingConfig and SignatureVersion need version 0.4 "
						"of extension sqsn"),
				 errhint("Run ALTER EXTENSION sqsn UPDATE.")));
}

/*
 * sn_set_topic_attributes(topic_name, attributes): DeliveryPolicy, the
 * topic's default delivery policy for its HTTP/HTTPS subscriptions (topic
 * form; null or "" removes it), and ContentBasedDeduplication (FIFO topics;
 * a boolean or "true"/"false", as the managed service takes it).
 */
Datum
sn_set_topic_attributes(PG_FUNCTION_ARGS)
{
	char          *topic_name = sqsn_topic_name_arg(fcinfo, 0);
	Jsonb         *attributes;
	JsonbIterator *it;
	JsonbValue     v;
	char          *key = NULL;
	Datum          values[3];
	char           nulls[3] = {' ', ' ', 'n'};
	bool           changed = false;
	bool           content_based_changed = false;
	bool           encrypted = false;
	bool           encrypted_given = false;
	int            nestlevel;
	int64          topic_id;
	StringInfoData stored; /* attributes sqsn keeps but does not act on */
	List          *removed = NIL;
	bool           policy_given = false;
	Jsonb         *policy = NULL;
	List          *policy_grants = NIL;
	int            archive_days = -1; /* -1: not given; 0: no archive */

	sqsn_refuse_on_standby(fcinfo);
	initStringInfo(&stored);
	appendStringInfoChar(&stored, '{');
	attributes = sqsn_attributes_arg(fcinfo, 1, "topic");

	it = JsonbIteratorInit(&attributes->root);
	while (sqsn_jsonb_next_pair(&it, &key, &v))
	{
		if (strcmp(key, "DeliveryPolicy") == 0)
		{
			changed = true;
			if (sqsn_jsonb_is_empty(&v))
				nulls[1] = 'n';
			else
			{
				Jsonb *dp = JsonbValueToJsonb(&v);

				sqsn_validate_delivery_policy(dp, true);
				values[1] = JsonbPGetDatum(dp);
			}
		}
		else if (strcmp(key, "ContentBasedDeduplication") == 0)
		{
			bool value;

			if (!sqsn_jsonb_bool(&v, &value))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("ContentBasedDeduplication must be true or "
								"false")));
			if (!sqsn_is_fifo_name(topic_name))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("content-based deduplication is only for FIFO "
								"topics"),
						 errhint("A FIFO topic's name ends in \".fifo\".")));
			content_based_changed = true;
			values[2] = BoolGetDatum(value);
			nulls[2] = ' ';
		}
		else if (strcmp(key, "SqsManagedSseEnabled") == 0)
		{
			if (!sqsn_jsonb_bool(&v, &encrypted))
				ereport(
					ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("SqsManagedSseEnabled must be true or false")));
			encrypted_given = true;
		}
		else if (strcmp(key, "ArchivePolicy") == 0)
			archive_days = sqsn_archive_policy_days(topic_name, &v);
		else if (strcmp(key, "DisplayName") == 0 ||
				 strcmp(key, "Policy") == 0 ||
				 strcmp(key, "TracingConfig") == 0 ||
				 strcmp(key, "SignatureVersion") == 0)
		{
			Jsonb *doc = stored_attribute(&stored, &removed, key, &v);

			if (strcmp(key, "Policy") == 0)
			{
				policy_given = true;
				policy = doc;
			}
		}
		else
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("unknown topic attribute \"%s\"", key),
							errhint("The topic attributes that can be set are "
									"DeliveryPolicy, "
									"ContentBasedDeduplication, "
									"SqsManagedSseEnabled, ArchivePolicy, "
									"DisplayName, Policy, TracingConfig and "
									"SignatureVersion.")));
	}
	if (stored.len > 1 || removed != NIL)
		require_stored_attributes();

	topic_id = sqsn_begin_topic_change(topic_name, &nestlevel);
	sqsn_check_topic(topic_id, topic_name, SQSN_ADMIN);
	/* the grants of the new Policy (none when it was removed) */
	policy_given &= sqsn_catalog_has(SQSN_CATALOG_POLICY_GRANTS);
	if (policy_given && policy != NULL)
		policy_grants = sqsn_policy_grants(policy, true, topic_name);
	values[0] = Int64GetDatum(topic_id);
	if (!changed)
		nulls[1] = 'n';
	if (changed || content_based_changed)
		sqsn_execute(changed && content_based_changed ? &update_both_stmt
					 : changed ? &update_delivery_policy_stmt
							   : &update_content_based_stmt,
					 values, nulls, 0);
	if (encrypted_given)
		sqsn_store_encrypted("topic", topic_name, encrypted, false);
	if (archive_days >= 0)
		sqsn_set_archive_policy(topic_id, archive_days);
	if (archive_days > 0 || (encrypted_given && encrypted))
		sqsn_check_archive_encryption(topic_id, topic_name);
	if (stored.len > 1 || removed != NIL)
	{
		Datum     store[3];
		Datum    *keys = palloc(sizeof(Datum) * Max(list_length(removed), 1));
		int       nkeys = 0;
		ListCell *lc;

		appendStringInfoChar(&stored, '}');
		foreach (lc, removed)
			keys[nkeys++] = CStringGetTextDatum((char *) lfirst(lc));
		store[0] = Int64GetDatum(topic_id);
		store[1] = sqsn_array_of(keys, NULL, nkeys, TEXTOID);
		store[2] = JsonbPGetDatum(sqsn_json_to_jsonb(&stored));
		sqsn_execute(&update_stored_stmt, store, NULL, 0);
	}
	if (policy_given)
		sqsn_store_policy_grants(true, topic_id, policy_grants);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * ArchivePolicy and BeginningArchiveTime of a FIFO topic that archives.
 * Runs a statement: the caller is done with its SPI result.
 */
static void
archive_attributes(StringInfo buf, int64 topic_id)
{
	/* SPI leaves its own memory current: the caller's result is not SPI's */
	MemoryContext caller = CurrentMemoryContext;
	Datum         value = Int64GetDatum(topic_id);
	int           days;
	uint64        n;

	n = sqsn_execute(&archive_attributes_stmt, &value, NULL, 1);
	MemoryContextSwitchTo(caller);
	if (n == 0)
		return;
	days = sqsn_spi_int32(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (days == 0) /* NULL: no archive */
		return;
	sqsn_json_raw(buf, "ArchivePolicy",
				  psprintf("{\"MessageRetentionPeriod\": \"%d\"}", days));
	sqsn_json_string(buf, "BeginningArchiveTime",
					 sqsn_iso_timestamp(sqsn_beginning_archive_time(
						 sqsn_spi_timestamptz(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 2),
						 days)));
}

/*
 * sn_get_topic_attributes(topic_name): the topic's attributes as a JSON
 * object with the managed service's names: TopicArn, Owner (the owning
 * role), FifoTopic, ContentBasedDeduplication (FIFO topics),
 * DeliveryPolicy (when set), EffectiveDeliveryPolicy, SubscriptionsConfirmed,
 * SubscriptionsPending, SubscriptionsDeleted (always 0: a deleted
 * subscription is gone at once), SqsManagedSseEnabled, SignatureVersion,
 * DisplayName and the other kept attributes, and for an archiving FIFO
 * topic ArchivePolicy and BeginningArchiveTime. Anyone with an action on
 * the topic (publish, subscribe or admin) may read them.
 */
Datum
sn_get_topic_attributes(PG_FUNCTION_ARGS)
{
	char          *name = sqsn_topic_name_arg(fcinfo, 0);
	MemoryContext  outer = CurrentMemoryContext;
	MemoryContext  spicxt;
	int            nestlevel;
	int64          topic_id;
	Datum          value;
	HeapTuple      tuple;
	TupleDesc      desc;
	bool           fifo = sqsn_is_fifo_name(name);
	Jsonb         *delivery_policy;
	Jsonb         *extra;
	StringInfoData buf;
	Datum          result;

	nestlevel = sqsn_admin_begin();
	topic_id = sqsn_find_topic_id(name);
	sqsn_check_topic_readable(topic_id, name, "attributes");

	value = Int64GetDatum(topic_id);
	if (sqsn_execute(&attributes_stmt, &value, NULL, 1) == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("topic \"%s\" does not exist", name)));
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	spicxt = MemoryContextSwitchTo(outer);
	delivery_policy = sqsn_spi_jsonb(tuple, desc, 3);
	extra = sqsn_spi_jsonb(tuple, desc, 5);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	sqsn_json_string(&buf, "TopicArn", sqsn_topic_arn(name));
	sqsn_json_string(&buf, "Owner", SPI_getvalue(tuple, desc, 1));
	sqsn_json_bool(&buf, "FifoTopic", fifo);
	if (fifo)
		sqsn_json_bool(&buf, "ContentBasedDeduplication",
					   sqsn_spi_bool(tuple, desc, 2));
	if (delivery_policy)
		sqsn_json_jsonb(&buf, "DeliveryPolicy", delivery_policy);
	sqsn_json_jsonb(
		&buf, "EffectiveDeliveryPolicy",
		sqsn_effective_delivery_policy_json(NULL, delivery_policy, true));
	sqsn_json_raw(&buf, "SubscriptionsConfirmed",
				  SPI_getvalue(tuple, desc, 6));
	sqsn_json_raw(&buf, "SubscriptionsPending", SPI_getvalue(tuple, desc, 7));
	sqsn_json_raw(&buf, "SubscriptionsDeleted", "0");
	sqsn_json_bool(&buf, "SqsManagedSseEnabled",
				   sqsn_spi_bool(tuple, desc, 4));
	sqsn_json_string(&buf, "SignatureVersion", "2");
	if (fifo && sqsn_catalog_has(SQSN_CATALOG_ARCHIVE))
		archive_attributes(&buf, topic_id);
	if (extra == NULL || getKeyJsonValueFromContainer(
							 &extra->root, "DisplayName", 11, NULL) == NULL)
		sqsn_json_string(&buf, "DisplayName", "");
	if (extra != NULL)
	{
		JsonbIterator *it = JsonbIteratorInit(&extra->root);
		JsonbValue     v;
		char          *key = NULL;

		while (sqsn_jsonb_next_pair(&it, &key, &v))
			if (v.type == jbvString && strcmp(key, "SignatureVersion") != 0)
				sqsn_json_string(&buf, key, sqsn_jsonb_string(&v));
	}
	appendStringInfoChar(&buf, '}');
	result = JsonbPGetDatum(sqsn_json_to_jsonb(&buf));
	MemoryContextSwitchTo(spicxt);

	sqsn_admin_end(nestlevel);
	PG_RETURN_DATUM(result);
}
