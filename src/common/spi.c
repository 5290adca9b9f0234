/*-------------------------------------------------------------------------
 *
 * spi.c
 *	  SPI as sqsn uses it: connecting, checking result codes, saved plans,
 *	  pinning search_path for the administrative functions, and the probe
 *	  that tells which version's catalog is installed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/common.h"

#include "catalog/namespace.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

/* Where each catalog feature shows: a table, or a column of one. */
static const struct
{
	const char *table;
	const char *column; /* NULL: the table itself */
} catalog_features[] = {
	[SQSN_CATALOG_FIFO] = {"queue", "content_based_deduplication"},
	[SQSN_CATALOG_PUSH] = {"delivery", NULL},
	[SQSN_CATALOG_GRANTS] = {"queue_grant", NULL},
	[SQSN_CATALOG_ENCRYPTION] = {"queue", "encrypted"},
	[SQSN_CATALOG_MESSAGE_SEQ] = {"message_seq", NULL},
	[SQSN_CATALOG_FUNCTIONS] = {"event_source_mapping", NULL},
	[SQSN_CATALOG_PAUSE] = {"subscription", "paused"},
	[SQSN_CATALOG_SMS] = {"phone_number_opt_out", NULL},
	[SQSN_CATALOG_MOBILE] = {"platform_endpoint", NULL},
	[SQSN_CATALOG_MOVE_TASKS] = {"message_move_task", NULL},
	[SQSN_CATALOG_SESSION_TOKENS] = {"api_credentials", "session_token"},
	[SQSN_CATALOG_STORED_ATTRIBUTES] = {"queue", "extra_attributes"},
	[SQSN_CATALOG_DIRECT_SMS] = {"delivery", "phone_number"},
	[SQSN_CATALOG_POLICY_GRANTS] = {"queue_grant", "from_policy"},
	[SQSN_CATALOG_TOPIC_SEQ] = {"topic_message_seq", NULL},
	[SQSN_CATALOG_ARCHIVE] = {"topic_archive", NULL},
};

/*
 * SPI_connect, with an internal error when it fails.
 */
void
sqsn_spi_connect(void)
{
	int ret = SPI_connect();

	if (ret != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(ret));
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
	return sqsn_prepare_plan_with(sql, nargs, argtypes,
								  CURSOR_OPT_GENERIC_PLAN);
}

/*
 * The same with the planner's cursor options (CURSOR_OPT_CUSTOM_PLAN:
 * planned anew with the parameters' values at each execution).
 */
SPIPlanPtr
sqsn_prepare_plan_with(const char *sql, int nargs, Oid *argtypes,
					   int cursor_options)
{
	SPIPlanPtr plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * Runs a statement with its saved plan, prepared on first use; returns
 * SPI_execute_plan's result, for callers whose check says more than
 * sqsn_execute's.
 */
int
sqsn_run_statement(SqsnStatement *stmt, Datum *values, const char *nulls,
				   long count)
{
	if (stmt->plan == NULL)
		stmt->plan = sqsn_prepare_plan(stmt->sql, stmt->nargs, stmt->argtypes);
	return SPI_execute_plan(stmt->plan, values, nulls, stmt->read_only, count);
}

/*
 * Runs a statement as sqsn_run_statement does; returns SPI_processed. Any
 * result but the statement's expected one is an internal error.
 */
uint64
sqsn_execute(SqsnStatement *stmt, Datum *values, const char *nulls, long count)
{
	sqsn_spi_check(sqsn_run_statement(stmt, values, nulls, count),
				   stmt->expected, stmt->what);
	return SPI_processed;
}

/*
 * Frees the saved plans of an array and sets them to NULL.
 */
void
sqsn_free_plans(SPIPlanPtr *plans, int n)
{
	for (int i = 0; i < n; i++)
	{
		if (plans[i] != NULL)
			SPI_freeplan(plans[i]);
		plans[i] = NULL;
	}
}

/*
 * Frees the saved plans of statements; the next sqsn_execute prepares
 * them again.
 */
void
sqsn_free_statements(SqsnStatement *const *stmts, int n)
{
	for (int i = 0; i < n; i++)
		sqsn_free_plans(&stmts[i]->plan, 1);
}

Oid
sqsn_schema_oid(void)
{
	return get_namespace_oid(SQSN_SCHEMA, false);
}

/*
 * Whether the installed catalog has a feature (see SqsnCatalogFeature).
 */
bool
sqsn_catalog_has(SqsnCatalogFeature feature)
{
	Oid nsp = get_namespace_oid(SQSN_SCHEMA, true);
	Oid relid;

	if (!OidIsValid(nsp))
		return false;
	relid = get_relname_relid(catalog_features[feature].table, nsp);
	if (!OidIsValid(relid))
		return false;
	return catalog_features[feature].column == NULL ||
		   get_attnum(relid, catalog_features[feature].column) !=
			   InvalidAttrNumber;
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

/*
 * The bracket of an administrative function: search_path pinned and SPI
 * connected. Returns the nest level sqsn_admin_end takes.
 */
int
sqsn_admin_begin(void)
{
	int nestlevel = sqsn_pin_search_path();

	sqsn_spi_connect();
	return nestlevel;
}

/* Ends what sqsn_admin_begin started: SPI_finish, search_path restored. */
void
sqsn_admin_end(int nestlevel)
{
	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
}

/*
 * A column of an SPI row; (Datum) 0 when it is NULL, which reads as 0 or
 * false through the sqsn_spi_int64, ... macros.
 */
Datum
sqsn_spi_datum(HeapTuple tuple, TupleDesc desc, int column)
{
	bool isnull;

	return SPI_getbinval(tuple, desc, column, &isnull);
}

/*
 * A column of an SPI row as a copy of a jsonb, or NULL.
 */
Jsonb *
sqsn_spi_jsonb(HeapTuple tuple, TupleDesc desc, int column)
{
	bool  isnull;
	Datum d = SPI_getbinval(tuple, desc, column, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

/*
 * A one-dimensional array of n elements of a type (nulls may be NULL), for
 * the array parameters of saved plans.
 */
Datum
sqsn_array_of(Datum *elems, bool *nulls, int n, Oid type)
{
	int16 typlen;
	bool  typbyval;
	char  typalign;
	int   dims[1] = {n};
	int   lbs[1] = {1};

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, type,
											  typlen, typbyval, typalign));
}
