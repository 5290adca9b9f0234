/*-------------------------------------------------------------------------
 *
 * mapping.c
 *	  Event source mappings (sqsn.event_source_mapping): a queue whose
 *	  messages a SQL function consumes, in batches. The API to create,
 *	  change, delete, list and run them; reading one for a batch, checking
 *	  its owner's rights, pausing and resuming it.
 *
 * A mapping belongs to the role that created it, and its function runs as
 * that role: creating one needs the right to receive from the queue and
 * EXECUTE on the function. Changing it needs the owner's privileges (its
 * function runs with them); deleting it also may an administrator of the
 * queue, as an administrator of a queue may unsubscribe it from a topic.
 *
 * The function is kept as text, "schema.name(jsonb)", and looked up at
 * each run, as the managed service names a function: a function dropped
 * and created again is found again. A run whose owner has lost the right
 * to receive from the queue or to execute the function (or whose function
 * is gone) does not receive anything: the mapping is paused with the
 * reason recorded (sqsn.sq_list_event_source_mappings shows it), and the
 * launcher looks again now and then; once the right is back the mapping
 * resumes by itself.
 *
 * A committed change of a mapping rings the launcher (launcher.c), which
 * reads the mappings again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "function/function.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(sq_create_event_source_mapping);
PG_FUNCTION_INFO_V1(sq_update_event_source_mapping);
PG_FUNCTION_INFO_V1(sq_delete_event_source_mapping);
PG_FUNCTION_INFO_V1(sq_list_event_source_mappings);
PG_FUNCTION_INFO_V1(sq_run_event_source_mapping);

/* Statements on sqsn.event_source_mapping, run by sqsn_execute */

static SqsnStatement insert_stmt = {
	"INSERT INTO sqsn.event_source_mapping (queue_id, function_name,"
	" batch_size, maximum_batching_window_seconds, maximum_concurrency,"
	" timeout_seconds, report_batch_item_failures, enabled, owner,"
	" created_at, last_modified_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, clock_timestamp(),"
	" clock_timestamp())"
	" ON CONFLICT (queue_id, function_name) DO NOTHING"
	" RETURNING mapping_id",
	9,
	{INT8OID, TEXTOID, INT4OID, INT4OID, INT4OID, INT4OID, BOOLOID, BOOLOID,
	 NAMEOID},
	SPI_OK_INSERT_RETURNING,
	"inserting into sqsn.event_source_mapping"};

/* A mapping with its queue, for a run or a change (locked for a change). */
#define READ_SQL(lock)                                                        \
	"SELECT m.mapping_id, q.queue_name, m.function_name,"                     \
	" m.owner::pg_catalog.text, m.batch_size,"                                \
	" m.maximum_batching_window_seconds, m.maximum_concurrency,"              \
	" m.timeout_seconds, m.report_batch_item_failures, m.enabled,"            \
	" m.paused_reason"                                                        \
	" FROM sqsn.event_source_mapping m"                                       \
	" JOIN sqsn.queue q ON q.queue_id OPERATOR(pg_catalog.=) m.queue_id"      \
	" WHERE m.mapping_id OPERATOR(pg_catalog.=) $1" lock

static SqsnStatement read_stmt = {READ_SQL(""),
								  1,
								  {UUIDOID},
								  SPI_OK_SELECT,
								  "reading sqsn.event_source_mapping",
								  true};

static SqsnStatement read_for_change_stmt = {
	READ_SQL(" FOR UPDATE OF m"),
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"reading sqsn.event_source_mapping"};

static SqsnStatement update_stmt = {
	"UPDATE sqsn.event_source_mapping SET function_name = $2,"
	" batch_size = $3, maximum_batching_window_seconds = $4,"
	" maximum_concurrency = $5, timeout_seconds = $6,"
	" report_batch_item_failures = $7, enabled = $8,"
	" paused_reason = NULL, last_modified_at = clock_timestamp()"
	" WHERE mapping_id = $1",
	8,
	{UUIDOID, TEXTOID, INT4OID, INT4OID, INT4OID, INT4OID, BOOLOID, BOOLOID},
	SPI_OK_UPDATE,
	"updating sqsn.event_source_mapping"};

static SqsnStatement delete_stmt = {
	"DELETE FROM sqsn.event_source_mapping WHERE mapping_id = $1",
	1,
	{UUIDOID},
	SPI_OK_DELETE,
	"deleting from sqsn.event_source_mapping"};

/* Pausing (with a reason) and resuming (NULL); only a change is written. */
static SqsnStatement pause_stmt = {
	"UPDATE sqsn.event_source_mapping SET paused_reason = $2"
	" WHERE mapping_id OPERATOR(pg_catalog.=) $1"
	" AND paused_reason IS DISTINCT FROM $2",
	2,
	{UUIDOID, TEXTOID},
	SPI_OK_UPDATE,
	"pausing an event source mapping"};

static SqsnStatement list_stmt = {
	"SELECT m.mapping_id, q.queue_name, m.function_name, m.batch_size,"
	" m.maximum_batching_window_seconds, m.maximum_concurrency,"
	" m.timeout_seconds, m.report_batch_item_failures,"
	" CASE WHEN NOT m.enabled THEN 'disabled'"
	"  WHEN m.paused_reason IS NOT NULL THEN 'paused'"
	"  ELSE 'enabled' END,"
	" m.paused_reason, m.owner, m.created_at, m.last_modified_at"
	" FROM sqsn.event_source_mapping m"
	" JOIN sqsn.queue q ON q.queue_id = m.queue_id"
	" WHERE $1 IS NULL OR q.queue_name = $1"
	" ORDER BY q.queue_name COLLATE \"C\", m.function_name COLLATE \"C\","
	" m.mapping_id",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"listing event source mappings",
	true};

/* this transaction changed a mapping: ring the launcher at commit */
static bool catalog_changed = false;
static bool callback_registered = false;

static void
mapping_xact_callback(XactEvent event, void *arg)
{
	if (!catalog_changed)
		return;
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		catalog_changed = false;
		if (sqsn_function_shared == NULL)
			return;
		pg_atomic_fetch_add_u64(&sqsn_function_shared->catalog_seq, 1);
		SpinLockAcquire(&sqsn_function_shared->mutex);
		if (sqsn_function_shared->launcher_latch)
			SetLatch(sqsn_function_shared->launcher_latch);
		SpinLockRelease(&sqsn_function_shared->mutex);
	}
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		catalog_changed = false;
}

/*
 * This transaction created, changed or deleted a mapping: the launcher
 * reads the mappings again once it commits.
 */
void
sqsn_function_catalog_changed(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(mapping_xact_callback, NULL);
		callback_registered = true;
	}
	catalog_changed = true;
}

/* The mapping_id argument (the first); NULL is an error. */
static pg_uuid_t *
mapping_id_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("mapping_id must not be NULL")));
	return PG_GETARG_UUID_P(0);
}

/* Fills m from a row of READ_SQL, in the caller's memory context. */
static void
mapping_from_row(SqsnMapping *m, HeapTuple row, TupleDesc desc)
{
	bool isnull;

	memset(m, 0, sizeof(SqsnMapping));
	memcpy(&m->id, DatumGetUUIDP(SPI_getbinval(row, desc, 1, &isnull)),
		   sizeof(pg_uuid_t));
	m->queue_name = SPI_getvalue(row, desc, 2);
	m->function_name = SPI_getvalue(row, desc, 3);
	m->owner = SPI_getvalue(row, desc, 4);
	m->batch_size = sqsn_spi_int32(row, desc, 5);
	m->window = sqsn_spi_int32(row, desc, 6);
	m->concurrency = sqsn_spi_int32(row, desc, 7);
	m->timeout = sqsn_spi_int32(row, desc, 8);
	m->report_item_failures = sqsn_spi_bool(row, desc, 9);
	m->enabled = sqsn_spi_bool(row, desc, 10);
	m->paused_reason = SPI_getvalue(row, desc, 11);
}

/*
 * Reads a mapping into the caller's memory context; false when there is
 * none. Requires an SPI connection.
 */
bool
sqsn_read_mapping(const pg_uuid_t *id, SqsnMapping *m)
{
	Datum         value = UUIDPGetDatum(id);
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext spicxt;

	if (sqsn_execute(&read_stmt, &value, NULL, 1) == 0)
		return false;
	/* SPI calls return in SPI's memory context: copy into the caller's */
	spicxt = MemoryContextSwitchTo(cxt);
	mapping_from_row(m, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	MemoryContextSwitchTo(spicxt);
	return true;
}

/* sqsn_subxact_try step: the checks of sqsn_mapping_problem. */
static void
check_mapping_step(void *arg)
{
	SqsnMapping *m = (SqsnMapping *) arg;
	SqsnQueue   *queue;

	m->owner_id = get_role_oid(m->owner, true);
	if (!OidIsValid(m->owner_id))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the owner role \"%s\" does not exist", m->owner)));
	queue = sqsn_open_queue(m->queue_name, RowExclusiveLock);
	if (!sqsn_queue_allows(queue, m->owner_id, SQSN_RECEIVE))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("role \"%s\" may not receive from queue \"%s\"",
							   m->owner, m->queue_name)));
	m->function = sqsn_consumer_function_oid(m->function_name);
	(void) sqsn_check_consumer_function(m->function, m->report_item_failures);
	if (object_aclcheck(ProcedureRelationId, m->function, m->owner_id,
						ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("role \"%s\" may not execute function %s",
							   m->owner, m->function_name)));
}

/*
 * Whether mapping m may run: its owner exists, may receive from the queue
 * and execute the function, which exists and takes a jsonb. Returns NULL
 * and fills in m->owner_id and m->function when it may; else why not.
 * Requires a transaction and an SPI connection.
 */
char *
sqsn_mapping_problem(SqsnMapping *m)
{
	ErrorData *edata;
	char      *problem;

	if (sqsn_subxact_try(check_mapping_step, m, &edata))
		return NULL;
	problem = pstrdup(edata->message);
	FreeErrorData(edata);
	return problem;
}

/*
 * Records that mapping m is paused, and why (reason NULL: it runs again).
 * Writes only when that changes. Requires an SPI connection.
 */
void
sqsn_set_mapping_paused(SqsnMapping *m, const char *reason)
{
	Datum values[2];
	char  nulls[2] = {' ', ' '};

	if ((reason == NULL) == (m->paused_reason == NULL) &&
		(reason == NULL || strcmp(reason, m->paused_reason) == 0))
		return;
	values[0] = UUIDPGetDatum(&m->id);
	values[1] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[1] = reason ? ' ' : 'n';
	sqsn_execute(&pause_stmt, values, nulls, 0);
	if (reason != NULL)
		ereport(LOG, (errmsg("sqsn event source mapping %s paused: %s",
							 sqsn_uuid_text(UUIDPGetDatum(&m->id)), reason)));
	else
		ereport(LOG, (errmsg("sqsn event source mapping %s resumed",
							 sqsn_uuid_text(UUIDPGetDatum(&m->id)))));
	m->paused_reason = reason ? pstrdup(reason) : NULL;
}

/*
 * The function_name argument: a function the caller may execute that can
 * consume messages (and report item failures when asked). Returns its
 * qualified name.
 */
static char *
function_arg(FunctionCallInfo fcinfo, int argno, bool report)
{
	Oid   fnoid;
	char *name;

	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("function_name must not be NULL")));
	fnoid = PG_GETARG_OID(argno);
	name = sqsn_check_consumer_function(fnoid, report);
	if (object_aclcheck(ProcedureRelationId, fnoid, GetOuterUserId(),
						ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", name),
				 errdetail("An event source mapping runs its function as "
						   "the mapping's owner, who needs EXECUTE on it.")));
	return name;
}

/*
 * sq_create_event_source_mapping(queue_name, function_name, batch_size,
 * maximum_batching_window_seconds, maximum_concurrency, timeout_seconds,
 * report_batch_item_failures, enabled): the function consumes the queue
 * from now on (when enabled); returns the mapping's id. The caller becomes
 * its owner and needs the right to receive from the queue and EXECUTE on
 * the function. One function consumes a queue through one mapping.
 */
Datum
sq_create_event_source_mapping(PG_FUNCTION_ARGS)
{
	char      *queue_name = sqsn_text_arg(fcinfo, 0, "queue_name");
	bool       report = PG_ARGISNULL(6) ? false : PG_GETARG_BOOL(6);
	char      *function_name = function_arg(fcinfo, 1, report);
	Datum      values[9];
	int        nestlevel;
	SqsnQueue *queue;
	Datum      result;

	sqsn_refuse_on_standby(fcinfo);

	values[1] = CStringGetTextDatum(function_name);
	values[2] = Int32GetDatum(
		sqsn_int_arg(fcinfo, 2, "batch_size", 1, SQSN_MAX_MAPPING_BATCH, 10));
	values[3] = Int32GetDatum(sqsn_int_arg(fcinfo, 3,
										   "maximum_batching_window_seconds",
										   0, SQSN_MAX_BATCHING_WINDOW, 0));
	values[4] = Int32GetDatum(sqsn_int_arg(
		fcinfo, 4, "maximum_concurrency", SQSN_MIN_MAPPING_CONCURRENCY,
		SQSN_MAX_MAPPING_CONCURRENCY, SQSN_MIN_MAPPING_CONCURRENCY));
	values[5] = Int32GetDatum(sqsn_int_arg(fcinfo, 5, "timeout_seconds", 1,
										   SQSN_MAX_FUNCTION_TIMEOUT, 30));
	values[6] = BoolGetDatum(report);
	values[7] = BoolGetDatum(PG_ARGISNULL(7) ? true : PG_GETARG_BOOL(7));
	values[8] =
		DirectFunctionCall1(namein, CStringGetDatum(sqsn_caller_name()));

	nestlevel = sqsn_admin_begin();
	queue = sqsn_open_queue(queue_name, RowExclusiveLock);
	sqsn_check_queue(queue, SQSN_RECEIVE);
	values[0] = Int64GetDatum(queue->queue_id);
	if (sqsn_execute(&insert_stmt, values, NULL, 0) == 0)
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
						errmsg("function %s already consumes queue \"%s\"",
							   function_name, queue_name),
						errhint("Change that mapping with "
								"sqsn.sq_update_event_source_mapping().")));
	result = SPI_datumTransfer(
		sqsn_spi_datum(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), false,
		UUID_LEN);
	sqsn_function_catalog_changed();
	sqsn_admin_end(nestlevel);
	PG_RETURN_DATUM(result);
}

/*
 * Reads a mapping locked for a change, errors when there is none or the
 * caller may not change it (admin_too: an administrator of its queue may,
 * to delete, disable or enable it). Requires SPI.
 */
static void
open_for_change(pg_uuid_t *id, bool admin_too, SqsnMapping *m)
{
	Datum value = UUIDPGetDatum(id);
	Oid   roleid = GetOuterUserId();

	if (sqsn_execute(&read_for_change_stmt, &value, NULL, 1) == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("event source mapping %s does not exist",
							   sqsn_uuid_text(value))));
	mapping_from_row(m, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	if (sqsn_role_owns(m->owner, roleid) || superuser_arg(roleid))
		return;
	if (admin_too &&
		sqsn_queue_allows(sqsn_open_queue(m->queue_name, RowExclusiveLock),
						  roleid, SQSN_ADMIN))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to change event source mapping %s",
					sqsn_uuid_text(value)),
			 errdetail("The mapping belongs to role \"%s\", as whom its "
					   "function runs.",
					   m->owner),
			 admin_too ? errhint("Its owner, or an administrator of queue "
								 "\"%s\", can delete, disable or enable it.",
								 m->queue_name)
					   : errhint("Only its owner can change it.")));
}

/*
 * sq_update_event_source_mapping(mapping_id, function_name, batch_size,
 * maximum_batching_window_seconds, maximum_concurrency, timeout_seconds,
 * report_batch_item_failures, enabled): changes what is given (not NULL).
 * Only the owner may change its settings: the function runs with the
 * owner's rights. An administrator of the queue, who may delete the
 * mapping, may also disable and enable it (enabled alone): that changes
 * neither what runs nor as whom. A change also resumes a paused mapping
 * (it is checked again at its next run).
 */
Datum
sq_update_event_source_mapping(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = mapping_id_arg(fcinfo);
	SqsnMapping m;
	Datum       values[8];
	int         nestlevel;
	bool        report;
	bool        only_enabled;
	char       *function_name;

	sqsn_refuse_on_standby(fcinfo);

	only_enabled = !PG_ARGISNULL(7);
	for (int i = 1; i <= 6; i++)
		only_enabled = only_enabled && PG_ARGISNULL(i);

	nestlevel = sqsn_admin_begin();
	open_for_change(id, only_enabled, &m);
	report = PG_ARGISNULL(6) ? m.report_item_failures : PG_GETARG_BOOL(6);
	if (!PG_ARGISNULL(1))
		function_name = function_arg(fcinfo, 1, report);
	else
	{
		function_name = m.function_name;
		if (report && !m.report_item_failures)
			(void) sqsn_check_consumer_function(
				sqsn_consumer_function_oid(function_name), true);
	}

	values[0] = UUIDPGetDatum(id);
	values[1] = CStringGetTextDatum(function_name);
	values[2] = Int32GetDatum(sqsn_int_arg(
		fcinfo, 2, "batch_size", 1, SQSN_MAX_MAPPING_BATCH, m.batch_size));
	values[3] = Int32GetDatum(
		sqsn_int_arg(fcinfo, 3, "maximum_batching_window_seconds", 0,
					 SQSN_MAX_BATCHING_WINDOW, m.window));
	values[4] = Int32GetDatum(sqsn_int_arg(
		fcinfo, 4, "maximum_concurrency", SQSN_MIN_MAPPING_CONCURRENCY,
		SQSN_MAX_MAPPING_CONCURRENCY, m.concurrency));
	values[5] =
		Int32GetDatum(sqsn_int_arg(fcinfo, 5, "timeout_seconds", 1,
								   SQSN_MAX_FUNCTION_TIMEOUT, m.timeout));
	values[6] = BoolGetDatum(report);
	values[7] = BoolGetDatum(PG_ARGISNULL(7) ? m.enabled : PG_GETARG_BOOL(7));
	PG_TRY();
	{
		sqsn_execute(&update_stmt, values, NULL, 0);
	}
	PG_CATCH();
	{
		if (geterrcode() == ERRCODE_UNIQUE_VIOLATION)
		{
			FlushErrorState();
			ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
							errmsg("function %s already consumes queue \"%s\"",
								   function_name, m.queue_name)));
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	sqsn_function_catalog_changed();
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sq_delete_event_source_mapping(mapping_id): the function consumes the
 * queue no more. A batch running now finishes first (the delete waits for
 * it).
 */
Datum
sq_delete_event_source_mapping(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = mapping_id_arg(fcinfo);
	SqsnMapping m;
	Datum       value = UUIDPGetDatum(id);
	int         nestlevel;

	sqsn_refuse_on_standby(fcinfo);

	nestlevel = sqsn_admin_begin();
	open_for_change(id, true, &m);
	sqsn_execute(&delete_stmt, &value, NULL, 0);
	sqsn_function_catalog_changed();
	{
		/* its counters go with it */
		SqsnCounterKey key = sqsn_mapping_key(id);

		sqsn_counters_forget(&sqsn_mapping_counters, &key);
	}
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sq_list_event_source_mappings(queue_name): the mappings of every queue,
 * or of one, that the caller owns or whose queue it may administer or
 * receive from (sqsn_admin members and superusers: all); state is
 * enabled, disabled or paused, with the reason in state_reason.
 */
Datum
sq_list_event_source_mappings(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char          *queue_name = NULL;
	Datum          arg;
	int            nestlevel;
	Oid            roleid = GetOuterUserId();
	SPITupleTable *rows;
	uint64         nrows;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (!PG_ARGISNULL(0))
	{
		queue_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
		sqsn_validate_queue_name(queue_name);
	}

	nestlevel = sqsn_admin_begin();
	if (queue_name != NULL)
		(void) sqsn_open_queue(queue_name, AccessShareLock); /* it exists */
	arg = queue_name ? CStringGetTextDatum(queue_name) : (Datum) 0;
	sqsn_execute(&list_stmt, &arg, queue_name ? " " : "n", 0);
	rows = SPI_tuptable;
	nrows = SPI_processed;
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple row = rows->vals[i];
		Datum     values[13];
		bool      nulls[13];
		char     *owner = SPI_getvalue(row, rows->tupdesc, 11);
		char     *queue = SPI_getvalue(row, rows->tupdesc, 2);

		if (!sqsn_is_admin(roleid) && !sqsn_role_owns(owner, roleid) &&
			!sqsn_queue_allows(sqsn_open_queue(queue, AccessShareLock), roleid,
							   SQSN_ADMIN | SQSN_RECEIVE))
			continue;
		for (int c = 0; c < 13; c++)
			values[c] = SPI_getbinval(row, rows->tupdesc, c + 1, &nulls[c]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
	sqsn_admin_end(nestlevel);
	return (Datum) 0;
}

/*
 * sqsn.run_event_source_mapping(mapping_id): runs one batch of the
 * mapping in the calling session and transaction, as the function workers
 * do (batch.c): for servers without the preload, e.g. scheduled with
 * pg_cron, and for tests. One row: messages received, messages deleted,
 * the outcome (succeeded, partially failed, failed, timed out; empty: no
 * messages) and the error. The caller needs the owner's privileges; a
 * disabled or paused mapping runs all the same when its checks pass.
 */
Datum
sq_run_event_source_mapping(PG_FUNCTION_ARGS)
{
	pg_uuid_t      *id = mapping_id_arg(fcinfo);
	ReturnSetInfo  *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SqsnMapping     m;
	SqsnBatchResult r;
	char           *problem;
	int             nestlevel;
	Datum           values[4];
	bool            nulls[4] = {false, false, false, false};
	MemoryContext   cxt = CurrentMemoryContext;

	sqsn_refuse_on_standby(fcinfo);

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = sqsn_admin_begin();
	if (!sqsn_read_mapping(id, &m))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("event source mapping %s does not exist",
							   sqsn_uuid_text(UUIDPGetDatum(id)))));
	if (!sqsn_role_owns(m.owner, GetOuterUserId()) &&
		!superuser_arg(GetOuterUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to run event source mapping %s",
						sqsn_uuid_text(UUIDPGetDatum(id))),
				 errdetail("The mapping belongs to role \"%s\", as whom its "
						   "function runs.",
						   m.owner)));
	problem = sqsn_mapping_problem(&m);
	if (problem != NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("event source mapping %s cannot run: %s",
							   sqsn_uuid_text(UUIDPGetDatum(id)), problem)));
	sqsn_run_batch(&m, 0, &r);

	MemoryContextSwitchTo(cxt);
	values[0] = Int32GetDatum(r.messages);
	values[1] = Int32GetDatum(r.deleted);
	values[2] = CStringGetTextDatum(
		r.messages > 0 ? sqsn_outcome_name(r.outcome) : "");
	values[3] = r.error ? CStringGetTextDatum(r.error) : (Datum) 0;
	nulls[3] = (r.error == NULL);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	sqsn_admin_end(nestlevel);
	return (Datum) 0;
}
