/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  Queues on a Citus cluster: each queue's message table becomes a
 *	  single-shard distributed table on one worker node.
 *
 * sqsn knows it runs on Citus when the extension citus is installed in
 * the same database; nothing here does anything on a server without it.
 * Then (docs/citus.md):
 *
 * - A new queue's message table is made a single-shard distributed table
 *   (create_distributed_table(table, NULL), each in a colocation group of
 *   its own), so Citus places queues round-robin over the nodes that may
 *   hold shards, and every statement on one queue is a single-shard
 *   statement the coordinator routes to that node. When no node may hold
 *   shards yet, the table stays local; sqsn.citus_distribute() places
 *   such queues (and those made before Citus was installed) later.
 * - sqsn's catalogs stay on the coordinator, where every sqsn function
 *   runs: they are read on every call and written rarely, and only the
 *   coordinator reads them, so copying them to every node (reference
 *   tables) would only make each catalog write a two-phase commit.
 * - A move between two queues on different nodes (dead letters, redrive,
 *   fan-out) is one distributed transaction, committed by Citus with
 *   two-phase commit (max_prepared_transactions on the workers).
 * - What reads a message table other than through SQL cannot see a
 *   distributed one, whose rows live on another node: the low-water walk
 *   (lowwater.c) is off for such queues (a receive walks from the
 *   beginning, as without the marks).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(citus_distribute);

/* Statements on Citus' catalogs, run only when citus is installed */

static SqsnStatement is_distributed_stmt = {
	"SELECT FROM pg_catalog.pg_dist_partition"
	" WHERE logicalrelid OPERATOR(pg_catalog.=) $1",
	1,
	{REGCLASSOID},
	SPI_OK_SELECT,
	"reading pg_dist_partition"};

static SqsnStatement has_shard_nodes_stmt = {
	"SELECT FROM pg_catalog.pg_dist_node WHERE isactive"
	" AND noderole OPERATOR(pg_catalog.=) 'primary' AND shouldhaveshards",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"reading pg_dist_node"};

/* group 0 is the coordinator's, and a server's not added to a cluster */
static SqsnStatement is_coordinator_stmt = {
	"SELECT groupid OPERATOR(pg_catalog.=) 0"
	" FROM pg_catalog.pg_dist_local_group",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"reading pg_dist_local_group"};

static SqsnStatement distribute_stmt = {
	"SELECT pg_catalog.create_distributed_table($1, NULL,"
	" colocate_with => 'none')",
	1,
	{REGCLASSOID},
	SPI_OK_SELECT,
	"distributing a message table"};

static SqsnStatement truncate_local_stmt = {
	"SELECT pg_catalog.truncate_local_data_after_distributing_table($1)",
	1,
	{REGCLASSOID},
	SPI_OK_SELECT,
	"removing the local rows of a distributed message table"};

static SqsnStatement local_queues_stmt = {
	"SELECT c.oid FROM sqsn.queue q JOIN pg_catalog.pg_class c"
	"  ON c.relname OPERATOR(pg_catalog.=) ('q_' || q.queue_id)"
	"  AND c.relnamespace OPERATOR(pg_catalog.=)"
	"   'sqsn'::pg_catalog.regnamespace"
	" WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_dist_partition p"
	"  WHERE p.logicalrelid OPERATOR(pg_catalog.=) c.oid)"
	" ORDER BY q.queue_id",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"reading sqsn.queue"};

/*
 * Whether the extension citus is installed in this database.
 */
bool
sqsn_citus_present(void)
{
	return OidIsValid(get_extension_oid("citus", true));
}

/*
 * Whether a message table is a Citus distributed table. Needs an SPI
 * connection.
 */
bool
sqsn_citus_distributed(Oid relid)
{
	Datum value = ObjectIdGetDatum(relid);

	if (!sqsn_citus_present())
		return false;
	return sqsn_execute(&is_distributed_stmt, &value, NULL, 1) > 0;
}

/*
 * Makes a message table (relid, empty or not) a single-shard distributed
 * table on one of the nodes, and removes the rows it kept locally.
 */
static void
distribute(Oid relid)
{
	Datum value = ObjectIdGetDatum(relid);

	sqsn_lowwater_forget(relid);
	sqsn_execute(&distribute_stmt, &value, NULL, 0);
	sqsn_execute(&truncate_local_stmt, &value, NULL, 0);
}

/*
 * Places a new queue's message table (relid) on a node of the Citus
 * cluster, when citus is installed and a node may hold shards; otherwise
 * the table stays local. Needs an SPI connection.
 */
void
sqsn_citus_place_queue(Oid relid)
{
	if (!sqsn_citus_present())
		return;
	if (sqsn_execute(&has_shard_nodes_stmt, NULL, NULL, 1) == 0)
		return;
	distribute(relid);
}

/*
 * On a worker node of a Citus cluster, refuses: sqsn's catalogs are the
 * coordinator's, and the worker's own copy of the extension is empty
 * (Citus creates the extension on every node, and syncs the shells of the
 * message tables there, so a queue made on a worker would clash with the
 * coordinator's). Needs an SPI connection.
 */
void
sqsn_citus_check_coordinator(void)
{
	if (!sqsn_citus_present())
		return;
	if (sqsn_execute(&is_coordinator_stmt, NULL, NULL, 1) == 1 &&
		sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("sqsn runs on the coordinator of a Citus cluster"),
			 errdetail("This node is a worker node; its queues and topics "
					   "are the coordinator's."),
			 errhint("Connect to the coordinator.")));
}

/*
 * sqsn.citus_distribute(): places every queue whose message table is
 * still local (made before citus was installed, or while no node could
 * hold shards) on a node of the cluster, keeping its messages. Returns how
 * many it placed.
 */
Datum
citus_distribute(PG_FUNCTION_ARGS)
{
	int    nestlevel;
	int64  placed = 0;
	uint64 n;
	Oid   *relids;

	sqsn_refuse_on_standby(fcinfo);
	if (!sqsn_citus_present())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("extension \"citus\" is not installed in this "
						"database"),
				 errhint("Run CREATE EXTENSION citus and add the worker "
						 "nodes first.")));

	nestlevel = sqsn_admin_begin();
	sqsn_citus_check_coordinator();
	if (sqsn_execute(&has_shard_nodes_stmt, NULL, NULL, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no node of the Citus cluster may hold shards"),
				 errhint("Add worker nodes with citus_add_node().")));

	/* the same lock as creating and deleting queues */
	sqsn_spi_check(
		SPI_execute("LOCK TABLE sqsn.queue IN SHARE ROW EXCLUSIVE MODE", false,
					0),
		SPI_OK_UTILITY, "locking sqsn.queue");
	n = sqsn_execute(&local_queues_stmt, NULL, NULL, 0);
	relids = palloc(sizeof(Oid) * (n + 1));
	for (uint64 i = 0; i < n; i++)
		relids[i] = DatumGetObjectId(
			sqsn_spi_datum(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	for (uint64 i = 0; i < n; i++)
	{
		distribute(relids[i]);
		placed++;
	}

	sqsn_admin_end(nestlevel);
	PG_RETURN_INT64(placed);
}
