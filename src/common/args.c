/*-------------------------------------------------------------------------
 *
 * args.c
 *	  Reading the arguments of the SQL-callable functions: required texts,
 *	  bounded integers, arrays and batch arrays; queue and topic names; and
 *	  the set-returning results those functions build.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/common.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

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
 * The error for creating a queue or topic (kind) that exists already with
 * other attributes; detail, when not NULL, says which. A queue's error
 * points at sqsn.sq_set_queue_attributes().
 */
void
sqsn_exists_differently(const char *kind, const char *name, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_OBJECT),
			 errmsg("%s \"%s\" already exists with different attributes", kind,
					name),
			 detail ? errdetail("%s", detail) : 0,
			 strcmp(kind, "queue") == 0
				 ? errhint("Use sqsn.sq_set_queue_attributes() to change "
						   "them.")
				 : 0));
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
 * The attributes argument of a set_*_attributes function: a JSON object;
 * NULL or anything else is an error. kind ("queue", ...) names the object
 * whose attributes they are.
 */
Jsonb *
sqsn_attributes_arg(FunctionCallInfo fcinfo, int argno, const char *kind)
{
	Jsonb *attributes;

	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("attributes must not be NULL")));
	attributes = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_OBJECT(attributes) || JB_ROOT_IS_SCALAR(attributes))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s attributes must be a JSON object", kind)));
	return attributes;
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
 * plural name one text in messages ("message body" / "bodies"). The
 * optional FIFO arguments are read by sqsn_batch_fifo_args.
 */
void
sqsn_batch_args(FunctionCallInfo fcinfo, const char *argname,
				const char *singular, const char *plural, SqsnBatch *batch)
{
	int n;

	memset(batch, 0, sizeof(SqsnBatch));
	batch->singular = singular;
	batch->plural = plural;
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("%s must not be NULL", argname)));
	n = sqsn_array_arg(fcinfo, 1, argname, TEXTOID, &batch->texts,
					   &batch->text_nulls);
	if (n > SQSN_MAX_BATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too many messages in one batch"),
				 errdetail("A batch has at most %d messages; %d were given.",
						   SQSN_MAX_BATCH, n)));
	batch->n = n;

	if (!PG_ARGISNULL(2))
	{
		int nattributes =
			sqsn_array_arg(fcinfo, 2, "message_attributes", JSONBOID,
						   &batch->attributes, &batch->attribute_nulls);

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
}

/*
 * An optional text array argument of a batch, one element per text;
 * *values is NULL when the argument is NULL.
 */
static void
batch_text_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
			   SqsnBatch *batch, Datum **values, bool **nulls)
{
	int count;

	if (!SQSN_ARG_GIVEN(argno))
		return;
	count = sqsn_array_arg(fcinfo, argno, argname, TEXTOID, values, nulls);
	if (count != batch->n)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("%s must have one element per %s", argname,
							   batch->singular),
						errdetail("%d %s and %d %s were given.", batch->n,
								  batch->plural, count, argname)));
}

/*
 * The optional message_group_ids (argument argno) and
 * message_deduplication_ids (argno + 1) of a batch.
 */
void
sqsn_batch_fifo_args(FunctionCallInfo fcinfo, int argno, SqsnBatch *batch)
{
	batch_text_arg(fcinfo, argno, "message_group_ids", batch,
				   &batch->group_ids, &batch->group_id_nulls);
	batch_text_arg(fcinfo, argno + 1, "message_deduplication_ids", batch,
				   &batch->deduplication_ids, &batch->deduplication_id_nulls);
}

/* The attributes of text i of a batch, or NULL. */
Jsonb *
sqsn_batch_attributes(SqsnBatch *batch, int i)
{
	if (batch->attributes == NULL || batch->attribute_nulls[i])
		return NULL;
	return DatumGetJsonbP(batch->attributes[i]);
}

/* An element of an optional text array of a batch as a string, or NULL. */
static char *
batch_text(Datum *values, bool *nulls, int i)
{
	if (values == NULL || nulls[i])
		return NULL;
	return TextDatumGetCString(values[i]);
}

/* The message group id of text i of a batch, or NULL. */
char *
sqsn_batch_group_id(SqsnBatch *batch, int i)
{
	return batch_text(batch->group_ids, batch->group_id_nulls, i);
}

/* The deduplication id of text i of a batch, or NULL. */
char *
sqsn_batch_deduplication_id(SqsnBatch *batch, int i)
{
	return batch_text(batch->deduplication_ids, batch->deduplication_id_nulls,
					  i);
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
 * Runs a query with one text parameter (NULL when arg_null) and adds its
 * rows to the result of a set-returning function begun with
 * InitMaterializedSRF. Requires SPI.
 */
void
sqsn_return_rows(FunctionCallInfo fcinfo, const char *sql, Datum arg,
				 bool arg_null, const char *what)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum         *row;
	bool          *row_nulls;
	int            ncolumns;

	sqsn_spi_check(SPI_execute_with_args(sql, 1, (Oid[]){TEXTOID}, &arg,
										 arg_null ? "n" : " ", false, 0),
				   SPI_OK_SELECT, what);
	ncolumns = SPI_tuptable->tupdesc->natts;
	row = palloc(sizeof(Datum) * ncolumns);
	row_nulls = palloc(sizeof(bool) * ncolumns);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		for (int c = 0; c < ncolumns; c++)
			row[c] =
				SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
							  c + 1, &row_nulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, row,
							 row_nulls);
	}
}

/*
 * Returns, as a set of text, the names a one-column query with one
 * optional text parameter (the prefix, argument 0) yields: the body of
 * sq_list_queues and sn_list_topics.
 */
Datum
sqsn_return_names(FunctionCallInfo fcinfo, const char *sql, const char *what)
{
	int nestlevel;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = sqsn_admin_begin();
	sqsn_return_rows(fcinfo, sql,
					 PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0),
					 PG_ARGISNULL(0), what);
	sqsn_admin_end(nestlevel);
	return (Datum) 0;
}
