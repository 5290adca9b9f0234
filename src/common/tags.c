/*-------------------------------------------------------------------------
 *
 * tags.c
 *	  Tags of queues and topics: the checks the managed services make on
 *	  them, and adding, removing and reading the tags of one resource
 *	  through the statements of its catalog table (sqsn.queue_tag,
 *	  sqsn.topic_tag).
 *
 * A tag is a key (1..128 characters) and a value (0..256 characters) of
 * letters, digits, white space and the characters _ . : / = + - @. Keys
 * starting with "aws:" (in any case) are reserved. A resource has at most
 * 50 tags; tagging a key it has already replaces the value. The caller
 * has checked the right to act on the resource and holds what keeps it
 * from being deleted; the lock statement serialises the changes of one
 * resource's tags, so two concurrent tag calls cannot together pass the
 * limit that each alone respects.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/common.h"

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"

/*
 * The statements on the tag table of one resource kind (queue, topic):
 * sqsn.<kind>_tag, keyed by <kind>_id, whose rows belong to sqsn.<kind>.
 * Run by sqsn_execute.
 */
#define TAG_STATEMENTS(kind)                                                   \
	static SqsnStatement kind##_lock_stmt = {                                  \
		"SELECT 1 FROM sqsn." #kind " WHERE " #kind "_id = $1"                 \
		" FOR NO KEY UPDATE",                                                  \
		1,                                                                     \
		{INT8OID},                                                             \
		SPI_OK_SELECT,                                                         \
		"locking a row of sqsn." #kind};                                       \
	static SqsnStatement kind##_add_stmt = {                                   \
		"INSERT INTO sqsn." #kind "_tag (" #kind "_id, tag_key, tag_value)"    \
		" SELECT $1, k, v FROM unnest($2, $3) AS t(k, v)"                      \
		" ON CONFLICT (" #kind "_id, tag_key)"                                 \
		" DO UPDATE SET tag_value = excluded.tag_value",                       \
		3,                                                                     \
		{INT8OID, TEXTARRAYOID, TEXTARRAYOID},                                 \
		SPI_OK_INSERT,                                                         \
		"writing sqsn." #kind "_tag"};                                         \
	static SqsnStatement kind##_count_stmt = {                                 \
		"SELECT count(*) FROM sqsn." #kind "_tag WHERE " #kind "_id = $1",     \
		1,                                                                     \
		{INT8OID},                                                             \
		SPI_OK_SELECT,                                                         \
		"counting sqsn." #kind "_tag"};                                        \
	static SqsnStatement kind##_remove_stmt = {                                \
		"DELETE FROM sqsn." #kind "_tag"                                       \
		" WHERE " #kind "_id = $1 AND tag_key = ANY ($2)",                     \
		2,                                                                     \
		{INT8OID, TEXTARRAYOID},                                               \
		SPI_OK_DELETE,                                                         \
		"deleting from sqsn." #kind "_tag"};                                   \
	static SqsnStatement kind##_list_stmt = {                                  \
		"SELECT coalesce(jsonb_object(array_agg(tag_key),"                     \
		" array_agg(tag_value)), '{}')"                                        \
		" FROM sqsn." #kind "_tag WHERE " #kind "_id = $1",                    \
		1,                                                                     \
		{INT8OID},                                                             \
		SPI_OK_SELECT,                                                         \
		"reading sqsn." #kind "_tag"};                                         \
	const SqsnTagStatements sqsn_##kind##_tags = {                             \
		&kind##_lock_stmt, &kind##_add_stmt, &kind##_count_stmt,               \
		&kind##_remove_stmt, &kind##_list_stmt}

TAG_STATEMENTS(queue);
TAG_STATEMENTS(topic);

/*
 * Whether a character may be part of a tag: letters, digits and white
 * space of any script, and _ . : / = + - @. Outside ASCII every character
 * but the control characters is taken for a letter or digit (PostgreSQL 15
 * has no Unicode category table to tell them apart).
 */
static bool
tag_char_ok(pg_wchar c)
{
	if (c < 0x80)
		return isalnum((int) c) || c == ' ' || c == '\t' || c == '\n' ||
			   c == '\r' || strchr("_.:/=+-@", (int) c) != NULL;
	return c >= 0xA0;
}

/* Checks one tag key or value: its length in characters and its characters. */
static void
check_tag_text(const char *what, const char *text, int min_len, int max_len)
{
	int          len = strlen(text);
	pg_wchar    *chars = palloc((len + 1) * sizeof(pg_wchar));
	int          nchars = pg_mb2wchar_with_len(text, chars, len);

	if (nchars < min_len || nchars > max_len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tag %s \"%s\" must be %d to %d characters long",
						what, text, min_len, max_len)));
	for (int i = 0; i < nchars; i++)
		if (!tag_char_ok(chars[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("tag %s \"%s\" has a character a tag may not "
							"hold",
							what, text),
					 errdetail("Tags hold letters, digits, white space and "
							   "the characters _ . : / = + - @.")));
	pfree(chars);
}

/* Checks a tag key, the reserved "aws:" prefix included. */
void
sqsn_check_tag_key(const char *key)
{
	check_tag_text("key", key, 1, SQSN_MAX_TAG_KEY_LEN);
	if (pg_strncasecmp(key, "aws:", 4) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("tag key \"%s\" uses the reserved prefix \"aws:\"",
						key)));
}

/*
 * The tags argument of a tag function (after refusing on a standby): not
 * NULL.
 */
Jsonb *
sqsn_tags_arg(FunctionCallInfo fcinfo, int argno)
{
	sqsn_refuse_on_standby(fcinfo);
	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("tags must not be NULL")));
	return PG_GETARG_JSONB_P(argno);
}

/*
 * The tag_keys argument of an untag function (after refusing on a
 * standby): not NULL.
 */
ArrayType *
sqsn_tag_keys_arg(FunctionCallInfo fcinfo, int argno)
{
	sqsn_refuse_on_standby(fcinfo);
	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("tag_keys must not be NULL")));
	return PG_GETARG_ARRAYTYPE_P(argno);
}

/*
 * Adds the tags of a jsonb object {"key": "value", ...} to the resource
 * id, replacing the values of keys it has. kind and name say which
 * resource in errors ("queue", "orders").
 */
void
sqsn_tags_add(const SqsnTagStatements *stmts, int64 id, Jsonb *tags,
			  const char *kind, const char *name)
{
	JsonbIterator *it;
	JsonbValue     v;
	char          *key = NULL;
	List          *keys = NIL;
	List          *values = NIL;
	Datum         *key_datums;
	Datum         *value_datums;
	Datum          args[3];
	int            n;
	int            i = 0;
	ListCell      *lk;
	ListCell      *lv;

	if (!JB_ROOT_IS_OBJECT(tags) || JB_ROOT_IS_SCALAR(tags))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("tags must be a JSON object of strings")));
	it = JsonbIteratorInit(&tags->root);
	while (sqsn_jsonb_next_pair(&it, &key, &v))
	{
		char *value;

		if (v.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the value of tag \"%s\" must be a string", key)));
		value = pnstrdup(v.val.string.val, v.val.string.len);
		sqsn_check_tag_key(key);
		check_tag_text("value", value, 0, SQSN_MAX_TAG_VALUE_LEN);
		keys = lappend(keys, key);
		values = lappend(values, value);
	}
	n = list_length(keys);
	if (n > SQSN_MAX_TAGS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s \"%s\" cannot have more than %d tags", kind, name,
						SQSN_MAX_TAGS)));
	if (n == 0)
		return;

	key_datums = palloc(n * sizeof(Datum));
	value_datums = palloc(n * sizeof(Datum));
	forboth (lk, keys, lv, values)
	{
		key_datums[i] = CStringGetTextDatum(lfirst(lk));
		value_datums[i] = CStringGetTextDatum(lfirst(lv));
		i++;
	}
	args[0] = Int64GetDatum(id);
	if (sqsn_execute(stmts->lock, args, NULL, 0) == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("%s \"%s\" does not exist", kind, name)));
	args[1] = PointerGetDatum(construct_array(key_datums, n, TEXTOID, -1,
											  false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_array(value_datums, n, TEXTOID, -1,
											  false, TYPALIGN_INT));
	sqsn_execute(stmts->add, args, NULL, 0);
	sqsn_execute(stmts->count, args, NULL, 0);
	if (sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) >
		SQSN_MAX_TAGS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s \"%s\" cannot have more than %d tags", kind, name,
						SQSN_MAX_TAGS),
				 errhint("Remove tags it no longer needs first.")));
}

/*
 * Removes the tags with the keys of a text[] from the resource id; keys it
 * does not have are ignored, as the services do.
 */
void
sqsn_tags_remove(const SqsnTagStatements *stmts, int64 id, ArrayType *keys)
{
	Datum *elems;
	bool  *nulls;
	int    n;
	Datum  args[2];

	if (ARR_NDIM(keys) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("tag_keys must be a one-dimensional array")));
	deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls,
					  &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("tag_keys must not hold NULL")));
		check_tag_text("key", TextDatumGetCString(elems[i]), 1,
					   SQSN_MAX_TAG_KEY_LEN);
	}
	args[0] = Int64GetDatum(id);
	sqsn_execute(stmts->lock, args, NULL, 0);
	args[1] = PointerGetDatum(keys);
	sqsn_execute(stmts->remove, args, NULL, 0);
}

/*
 * The tags of the resource id as a jsonb object datum, copied into the
 * memory context that was current before SPI_connect (the caller's). A
 * datum, not a Jsonb *: a small jsonb may come with a short header, and
 * DatumGetJsonbP would expand it in SPI's memory, which SPI_finish frees.
 */
Datum
sqsn_tags_get(const SqsnTagStatements *stmts, int64 id)
{
	Datum arg = Int64GetDatum(id);
	bool  isnull;

	sqsn_execute(stmts->list, &arg, NULL, 1);
	return SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull),
							 false, -1);
}
