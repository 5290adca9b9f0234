/*-------------------------------------------------------------------------
 *
 * xact.c
 *	  Transactions of the background workers: the bracket around one unit
 *	  of work, a subtransaction for one item whose failure must not end the
 *	  others, and the check that sqsn is installed in the worker's database.
 *	  Also the refusal of every function that writes while the server is a
 *	  standby.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/common.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

/*
 * Starts a worker's transaction: statement start time, transaction, SPI,
 * a snapshot, and the activity shown in pg_stat_activity.
 */
void
sqsn_xact_begin(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	sqsn_spi_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/*
 * Ends what sqsn_xact_begin started, committing.
 */
void
sqsn_xact_commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Runs step(arg) in a subtransaction: true if it succeeded, else false
 * with the error in *err (allocated in the caller's memory context) and
 * everything the step did rolled back. SPI connections of the enclosing
 * transaction stay usable.
 */
bool
sqsn_subxact_try(void (*step)(void *arg), void *arg, ErrorData **err)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	bool          ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		step(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcontext);
		*err = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Whether sqsn is installed in this database and not being dropped, with
 * the extension itself share-locked until the transaction ends. DROP
 * EXTENSION locks the extension exclusively before any of its objects, so
 * a worker holding this lock only makes a drop wait for its transaction,
 * where locking sqsn's tables one by one could deadlock with the drop,
 * which takes them in its own order. The lock is taken without waiting: a
 * worker leaves a drop in progress to go on. Requires a transaction.
 */
bool
sqsn_extension_lock(void)
{
	Oid extension = get_extension_oid("sqsn", true);

	if (!OidIsValid(extension) ||
		!ConditionalLockDatabaseObject(ExtensionRelationId, extension, 0,
									   AccessShareLock))
		return false;
	/* dropped between the look-up and the lock: not installed */
	AcceptInvalidationMessages();
	return get_extension_oid("sqsn", true) == extension;
}

/*
 * Whether sqsn is installed in this database, with the extension locked as
 * sqsn_extension_lock does and its table relname locked in lockmode, both
 * without waiting. Requires a transaction.
 */
bool
sqsn_extension_ready(const char *relname, LOCKMODE lockmode)
{
	Oid schema;
	Oid rel;

	if (!sqsn_extension_lock())
		return false;
	schema = get_namespace_oid(SQSN_SCHEMA, true);
	if (!OidIsValid(schema))
		return false;
	rel = get_relname_relid(relname, schema);
	if (!OidIsValid(rel) || !ConditionalLockRelationOid(rel, lockmode))
		return false;
	/* gone between the look-up and the lock: not ready */
	return get_rel_name(rel) != NULL;
}

static SqsnStatement prepared_stmt = {
	"SELECT EXISTS (SELECT FROM pg_catalog.pg_prepared_xacts"
	" WHERE database OPERATOR(pg_catalog.=) pg_catalog.current_database())",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"reading pg_prepared_xacts",
	true};

/*
 * Whether a prepared transaction of this database waits for its COMMIT
 * PREPARED. Requires an SPI connection.
 */
bool
sqsn_prepared_transactions_exist(void)
{
	sqsn_execute(&prepared_stmt, NULL, NULL, 1);
	return sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * Refuses, on a standby, the SQL function being called (every function of
 * sqsn that writes calls this before it does anything else): SQLSTATE
 * 25006, as PostgreSQL refuses writes during recovery, with a message that
 * names the function and the server. Reads work on a standby; the workers
 * that write do not run there (they start when it is promoted).
 */
void
sqsn_refuse_on_standby(FunctionCallInfo fcinfo)
{
	char *name = NULL;

	if (!RecoveryInProgress())
		return;
	if (fcinfo->flinfo != NULL && OidIsValid(fcinfo->flinfo->fn_oid))
		name = get_func_name(fcinfo->flinfo->fn_oid);
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 errmsg("cannot run %s%s%s on a standby server",
					name ? SQSN_SCHEMA "." : "", name ? name : "this function",
					name ? "()" : ""),
			 cluster_name[0] != '\0'
				 ? errdetail("Server \"%s\" is a hot standby: it replays the "
							 "primary's changes and serves only reads.",
							 cluster_name)
				 : errdetail("This server is a hot standby: it replays the "
							 "primary's changes and serves only reads."),
			 errhint("Write on the primary server. Reads, such as "
					 "sqsn.sq_list_queues(), sqsn.sq_get_queue_attributes() "
					 "and the views, work here.")));
}
