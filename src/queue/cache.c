/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The per-backend queue cache, queue-name validation and the small
 *	  argument helpers every SQL-callable function uses.
 *
 * The hot paths (send, receive, delete) must not read sqsn.queue on every
 * call. A backend keeps what it read about each queue, with the saved plans
 * for that queue's message table, in a hash table. Any change to a queue's
 * catalog row is followed by a relcache invalidation of its message table
 * (sq_set_queue_attributes sends one; DROP TABLE sends one itself), and our
 * relcache callback marks the entry stale. Opening a queue locks its message
 * table first and checks the entry afterwards, the same dance as
 * RangeVarGetRelidExtended, so invalidations that arrive with the lock are
 * never missed. The entry also holds the queue's owner and grants (acl.c),
 * which change the same way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sqsn.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

static HTAB      *queue_cache = NULL;
static SPIPlanPtr load_queue_plan = NULL;
static bool load_queue_fifo = false; /* load_queue_plan reads FIFO columns */
static bool load_queue_encryption = false; /* ... and the encrypted flag */

static void       queue_cache_callback(Datum arg, Oid relid);
static SqsnQueue *load_queue(const char *name);
static void       release_queue_entry(SqsnQueue *queue);

/*
 * Registers the invalidation callback; called once from _PG_init.
 */
void
CatalogInit(void)
{
	CacheRegisterRelcacheCallback(queue_cache_callback, (Datum) 0);
}

static void
queue_cache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	SqsnQueue      *queue;

	sqsn_forget_handle_key(relid);

	if (queue_cache == NULL)
		return;

	hash_seq_init(&status, queue_cache);
	while ((queue = (SqsnQueue *) hash_seq_search(&status)) != NULL)
	{
		if (relid == InvalidOid || queue->relid == relid)
			queue->valid = false;
	}
}

/*
 * Queue and topic names: 1..max_len characters of [A-Za-z0-9_-], like the
 * managed service, plus the suffix ".fifo" that marks a FIFO queue or
 * topic. Since nothing else is allowed, a name can never carry SQL. kind
 * ("queue", "topic") names the thing in the message; fifo_hint, when not
 * NULL, means FIFO names are refused, with that hint.
 */
void
sqsn_validate_name(const char *kind, const char *name, int max_len,
				   const char *fifo_hint)
{
	size_t len = strlen(name);
	bool   fifo = sqsn_is_fifo_name(name);
	size_t base_len = (fifo && fifo_hint == NULL) ? len - 5 : len;

	if (len == 0 || len > max_len || base_len == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_NAME),
						errmsg("invalid %s name \"%s\"", kind, name),
						errdetail("A %s name has 1 to %d characters.", kind,
								  max_len)));

	for (size_t i = 0; i < base_len; i++)
	{
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-'))
			ereport(
				ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid %s name \"%s\"", kind, name),
				 errdetail("A %s name may contain only letters, digits, "
						   "hyphens and underscores%s.",
						   kind,
						   fifo_hint ? "" : ", and end in \".fifo\" for FIFO"),
				 (fifo_hint && fifo) ? errhint("%s", fifo_hint) : 0));
	}
}

/*
 * Whether a queue or topic name is a FIFO name: it ends in ".fifo".
 */
bool
sqsn_is_fifo_name(const char *name)
{
	size_t len = strlen(name);

	return len > 5 && strcmp(name + len - 5, ".fifo") == 0;
}

void
sqsn_validate_queue_name(const char *name)
{
	sqsn_validate_name("queue", name, SQSN_MAX_QUEUE_NAME, NULL);
}

/*
 * A required text argument as a C string; NULL is an error naming the
 * parameter.
 */
char *
sqsn_text_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("%s must not be NULL", argname)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
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
		text = pnstrdup(v->val.string.val, v->val.string.len);
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
			*key = pnstrdup(v->val.string.val, v->val.string.len);
		else if (tok == WJB_VALUE)
			return true;
	}
	return false;
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
 * An integer argument checked against [min, max]. NULL yields default_value,
 * unless that is PG_INT32_MIN, which marks the argument as required.
 */
int32
sqsn_int_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
			 int32 min, int32 max, int32 default_value)
{
	int32 value;

	if (PG_ARGISNULL(argno))
	{
		if (default_value == PG_INT32_MIN)
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("%s must not be NULL", argname)));
		return default_value;
	}

	value = PG_GETARG_INT32(argno);
	if (value < min || value > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %d and %d", argname, min, max),
				 errdetail("The value given was %d.", value)));
	return value;
}

/*
 * InitMaterializedSRF for the hot set-returning functions, with the result
 * row descriptor looked up once per function per backend instead of on
 * every call. Keyed by function OID: a function's result type can only
 * change by dropping and creating it again, which gives it a new OID.
 */
void
sqsn_begin_result(FunctionCallInfo fcinfo)
{
	static struct
	{
		Oid       fn_oid;
		TupleDesc tupdesc;
	} known[8];
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid            fn_oid = fcinfo->flinfo->fn_oid;
	TupleDesc      tupdesc = NULL;
	MemoryContext  oldcxt;
	int            i;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("materialize mode required, but it is not allowed "
						"in this context")));

	for (i = 0; i < lengthof(known) && known[i].tupdesc != NULL; i++)
	{
		if (known[i].fn_oid == fn_oid)
		{
			tupdesc = known[i].tupdesc;
			break;
		}
	}
	if (tupdesc == NULL)
	{
		TupleDesc result;

		if (get_call_result_type(fcinfo, NULL, &result) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "return type must be a row type");
		oldcxt = MemoryContextSwitchTo(TopMemoryContext);
		tupdesc = CreateTupleDescCopy(result);
		MemoryContextSwitchTo(oldcxt);
		if (i == lengthof(known))
			i = 0; /* full: reuse the first slot */
		if (known[i].tupdesc != NULL)
			FreeTupleDesc(known[i].tupdesc);
		known[i].fn_oid = fn_oid;
		known[i].tupdesc = tupdesc;
	}

	/* the executor frees setDesc after the call: hand it a copy */
	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	rsinfo->setResult = tuplestore_begin_heap(
		(rsinfo->allowedModes & SFRM_Materialize_Random) != 0, false,
		work_mem);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Elements of a one-dimensional array argument (NULL elements allowed).
 */
int
sqsn_array_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
			   Oid elemtype, Datum **elems, bool **nulls)
{
	ArrayType *array = PG_GETARG_ARRAYTYPE_P(argno);
	int16      typlen;
	bool       typbyval;
	char       typalign;
	int        n;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", argname)));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(array, elemtype, typlen, typbyval, typalign, elems,
					  nulls, &n);
	return n;
}

/*
 * The array arguments of a batch call: the texts (argument 1, named
 * argname; NULL elements allowed here, the caller rejects them) and the
 * optional attribute objects (argument 2), one per text. singular and
 * plural name one text in messages ("message body" / "bodies"). Returns
 * the number of texts.
 */
int
sqsn_batch_args(FunctionCallInfo fcinfo, const char *argname,
				const char *singular, const char *plural, Datum **texts,
				bool **text_nulls, Datum **attributes, bool **attribute_nulls)
{
	int n;

	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("%s must not be NULL", argname)));
	n = sqsn_array_arg(fcinfo, 1, argname, TEXTOID, texts, text_nulls);
	if (n > SQSN_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too many messages in one batch"),
				 errdetail("A batch has at most %d messages; %d were given.",
						   SQSN_MAX_BATCH, n)));

	*attributes = NULL;
	*attribute_nulls = NULL;
	if (!PG_ARGISNULL(2))
	{
		int nattributes =
			sqsn_array_arg(fcinfo, 2, "message_attributes", JSONBOID,
						   attributes, attribute_nulls);

		if (nattributes != n)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("message_attributes must have one element per %s",
							singular),
					 errdetail("%d %s and %d attribute objects were given.", n,
							   plural, nattributes),
					 errhint("Use NULL elements for messages without "
							 "attributes.")));
	}
	return n;
}

/*
 * An SPI call's result code must be the expected one; anything else is an
 * internal failure.
 */
void
sqsn_spi_check(int ret, int expected, const char *what)
{
	if (ret != expected)
		elog(ERROR, "%s failed: %s", what, SPI_result_code_string(ret));
}

/*
 * Returns, as a set of text, the names a one-column query with one
 * optional text parameter (the prefix, argument 0) yields: the body of
 * sq_list_queues and sn_list_topics.
 */
Datum
sqsn_return_names(FunctionCallInfo fcinfo, const char *sql, const char *what)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid            argtypes[1] = {TEXTOID};
	Datum          values[1];
	char           nulls[1] = {' '};
	int            nestlevel;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	values[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	if (PG_ARGISNULL(0))
		nulls[0] = 'n';

	nestlevel = sqsn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	sqsn_spi_check(
		SPI_execute_with_args(sql, 1, argtypes, values, nulls, false, 0),
		SPI_OK_SELECT, what);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool  isnull;
		Datum name = SPI_getbinval(SPI_tuptable->vals[i],
								   SPI_tuptable->tupdesc, 1, &isnull);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &name,
							 &isnull);
	}
	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
	return (Datum) 0;
}

/*
 * Whether the catalog has the FIFO settings of version 0.2. A library of
 * 0.2 may run with the SQL objects of 0.1 until ALTER EXTENSION sqsn
 * UPDATE; until then it works as 0.1 did and refuses FIFO queues.
 */
bool
sqsn_catalog_has_fifo(void)
{
	Oid nsp = get_namespace_oid(SQSN_SCHEMA, true);
	Oid relid = OidIsValid(nsp) ? get_relname_relid("queue", nsp) : InvalidOid;

	return OidIsValid(relid) &&
		   get_attnum(relid, "content_based_deduplication") !=
			   InvalidAttrNumber;
}

Oid
sqsn_schema_oid(void)
{
	return get_namespace_oid(SQSN_SCHEMA, false);
}

/*
 * SPI_prepare + SPI_keepplan, with errors that say what failed.
 *
 * The plans are forced generic: their shape does not depend on the
 * parameter values (an index scan in msg_seq order, or a primary-key
 * lookup), and the plan cache would otherwise keep re-planning whenever a
 * custom plan looks cheaper than the generic one, which costs more than
 * executing these statements does.
 */
SPIPlanPtr
sqsn_prepare_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr plan =
		SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * Administrative functions run with search_path pinned to pg_catalog, so
 * nothing a caller put on the path can stand in for a built-in while the
 * function runs with the extension owner's rights. Hot paths schema-qualify
 * every name instead.
 */
int
sqsn_pin_search_path(void)
{
	int nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
sqsn_unpin_search_path(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

static void
release_queue_entry(SqsnQueue *queue)
{
	SPIPlanPtr *plans[] = {&queue->insert_plan,
						   &queue->insert_many_plan,
						   &queue->receive_plan,
						   &queue->delete_plan,
						   &queue->delete_many_plan,
						   &queue->delete_leased_plan,
						   &queue->change_visibility_plan,
						   &queue->expire_plan,
						   &queue->overdue_plan,
						   &queue->next_visible_plan,
						   &queue->redrive_plan,
						   &queue->fifo_heads_plan,
						   &queue->fifo_lease_plan,
						   &queue->fifo_lock_plan};

	for (int i = 0; i < lengthof(plans); i++)
	{
		if (*plans[i] != NULL)
			SPI_freeplan(*plans[i]);
		*plans[i] = NULL;
	}
	if (queue->qualified_table)
		pfree(queue->qualified_table);
	if (queue->dead_letter_queue)
		pfree(queue->dead_letter_queue);
	if (queue->grants)
		pfree(queue->grants);
	queue->qualified_table = NULL;
	queue->dead_letter_queue = NULL;
	queue->grants = NULL;
	queue->ngrants = 0;
}

/*
 * Reads a queue's catalog row into the cache. Errors when the queue does
 * not exist. Requires an SPI connection.
 */
static SqsnQueue *
load_queue(const char *name)
{
	Datum         arg = CStringGetTextDatum(name);
	SqsnQueue    *queue;
	TupleDesc     tupdesc;
	HeapTuple     tuple;
	bool          isnull;
	bool          found;
	char          key[SQSN_MAX_QUEUE_NAME + 1];
	char         *relname;
	int           ret;
	MemoryContext oldcxt;

	if (load_queue_plan == NULL ||
		load_queue_fifo != sqsn_catalog_has_fifo() ||
		load_queue_encryption != sqsn_catalog_has_encryption())
	{
		Oid argtypes[1] = {TEXTOID};

		if (load_queue_plan != NULL)
			SPI_freeplan(load_queue_plan);
		load_queue_plan = NULL;
		load_queue_fifo = sqsn_catalog_has_fifo();
		load_queue_encryption = sqsn_catalog_has_encryption();
		load_queue_plan = sqsn_prepare_plan(
			psprintf(
				"SELECT q.queue_id, q.visibility_timeout,"
				" q.message_retention_period, q.delay_seconds,"
				" q.maximum_message_size, q.max_receive_count, d.queue_name,"
				" q.receive_wait_time_seconds,"
				" q.kind OPERATOR(pg_catalog.=) 'fifo', %s, %s,"
				" q.owner::pg_catalog.text"
				" FROM sqsn.queue q LEFT JOIN sqsn.queue d"
				"  ON d.queue_id OPERATOR(pg_catalog.=) q.dead_letter_queue_id"
				" WHERE q.queue_name OPERATOR(pg_catalog.=) $1",
				load_queue_fifo ? "q.content_based_deduplication,"
								  " q.deduplication_scope "
								  "OPERATOR(pg_catalog.=) 'message_group'"
								: "false, false",
				load_queue_encryption ? "q.encrypted" : "false"),
			1, argtypes);
	}

	ret = SPI_execute_plan(load_queue_plan, &arg, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading queue \"%s\" failed: %s", name,
			 SPI_result_code_string(ret));

	strlcpy(key, name, sizeof(key));
	if (SPI_processed == 0)
	{
		hash_search(queue_cache, key, HASH_REMOVE, NULL);
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("queue \"%s\" does not exist", name),
						errhint("Create it with sqsn.sq_create_queue().")));
	}

	queue = (SqsnQueue *) hash_search(queue_cache, key, HASH_ENTER, &found);
	if (found)
		release_queue_entry(queue);
	else
	{
		memset(((char *) queue) + sizeof(queue->name), 0,
			   sizeof(SqsnQueue) - sizeof(queue->name));
	}

	tupdesc = SPI_tuptable->tupdesc;
	tuple = SPI_tuptable->vals[0];

	queue->queue_id = DatumGetInt64(SPI_getbinval(tuple, tupdesc, 1, &isnull));
	queue->visibility_timeout =
		DatumGetInt32(SPI_getbinval(tuple, tupdesc, 2, &isnull));
	queue->message_retention_period =
		DatumGetInt32(SPI_getbinval(tuple, tupdesc, 3, &isnull));
	queue->delay_seconds =
		DatumGetInt32(SPI_getbinval(tuple, tupdesc, 4, &isnull));
	queue->maximum_message_size =
		DatumGetInt32(SPI_getbinval(tuple, tupdesc, 5, &isnull));
	queue->max_receive_count =
		DatumGetInt32(SPI_getbinval(tuple, tupdesc, 6, &isnull));
	if (isnull)
		queue->max_receive_count = 0;
	queue->receive_wait_time_seconds =
		DatumGetInt32(SPI_getbinval(tuple, tupdesc, 8, &isnull));
	queue->fifo = DatumGetBool(SPI_getbinval(tuple, tupdesc, 9, &isnull));
	queue->content_based_deduplication =
		DatumGetBool(SPI_getbinval(tuple, tupdesc, 10, &isnull));
	queue->deduplicate_per_group =
		DatumGetBool(SPI_getbinval(tuple, tupdesc, 11, &isnull));
	queue->encrypted =
		DatumGetBool(SPI_getbinval(tuple, tupdesc, 12, &isnull));

	relname = psprintf("q_" INT64_FORMAT, queue->queue_id);
	queue->relid = get_relname_relid(relname, sqsn_schema_oid());
	if (!OidIsValid(queue->relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("message table of queue \"%s\" is missing", name),
				 errhint("Recreate the queue, or restore the table %s.%s.",
						 SQSN_SCHEMA, relname)));

	oldcxt = MemoryContextSwitchTo(CacheMemoryContext);
	queue->qualified_table = psprintf("%s.%s", quote_identifier(SQSN_SCHEMA),
									  quote_identifier(relname));
	{
		char *dlq = SPI_getvalue(tuple, tupdesc, 7);

		queue->dead_letter_queue = dlq ? pstrdup(dlq) : NULL;
	}
	MemoryContextSwitchTo(oldcxt);

	/* the owner and grants, with a query of their own (last) */
	sqsn_load_queue_grants(queue, SPI_getvalue(tuple, tupdesc, 13));

	queue->valid = true;
	return queue;
}

/*
 * Finds a queue by name and locks its message table in lockmode. The entry
 * returned is valid until the next call into this module that may reload
 * it; its plans until the end of the transaction.
 */
SqsnQueue *
sqsn_open_queue(const char *name, LOCKMODE lockmode)
{
	char key[SQSN_MAX_QUEUE_NAME + 1];

	sqsn_validate_queue_name(name);

	if (queue_cache == NULL)
	{
		HASHCTL ctl;

		ctl.keysize = sizeof(key);
		ctl.entrysize = sizeof(SqsnQueue);
		ctl.hcxt = CacheMemoryContext;
		queue_cache = hash_create("sqsn queue cache", 64, &ctl,
								  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}

	/*
	 * Take in what other sessions committed since this transaction last
	 * locked the queue (a grant revoked, attributes changed), so that it
	 * applies from the next statement on even inside an open transaction
	 * that already holds the lock. Cheap when there is nothing new.
	 */
	AcceptInvalidationMessages();

	strlcpy(key, name, sizeof(key));
	for (;;)
	{
		SqsnQueue *queue;

		queue = (SqsnQueue *) hash_search(queue_cache, key, HASH_FIND, NULL);
		if (queue == NULL || !queue->valid)
			queue = load_queue(name);

		LockRelationOid(queue->relid, lockmode);
		if (queue->valid)
			return queue;

		/* invalidated while we waited for the lock: read it again */
		UnlockRelationOid(queue->relid, lockmode);
	}
}
