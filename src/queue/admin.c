/*-------------------------------------------------------------------------
 *
 * admin.c
 *	  Queue administration: create, delete, purge, list, attributes,
 *	  statistics and grants, plus the extension's own housekeeping (the
 *	  receipt-handle key and dropping message tables with the extension).
 *
 * A queue is a row of sqsn.queue and a message table sqsn.q_<queue_id>.
 * Creating and deleting queues take a SHARE ROW EXCLUSIVE lock on
 * sqsn.queue, so two sessions creating the same queue, or one deleting a
 * queue another names as its dead-letter queue, are serialised; every
 * catalog read runs with a fresh snapshot (SPI read_only = false), so after
 * waiting for that lock a session sees what the other committed, and a
 * function sees what an earlier call in the same statement did. These
 * functions run with search_path pinned to pg_catalog.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(sq_create_queue);
PG_FUNCTION_INFO_V1(sq_delete_queue);
PG_FUNCTION_INFO_V1(sq_purge_queue);
PG_FUNCTION_INFO_V1(sq_list_queues);
PG_FUNCTION_INFO_V1(sq_list_dead_letter_source_queues);
PG_FUNCTION_INFO_V1(sq_get_queue_attributes);
PG_FUNCTION_INFO_V1(sq_set_queue_attributes);
PG_FUNCTION_INFO_V1(sq_grant);
PG_FUNCTION_INFO_V1(sq_revoke);
PG_FUNCTION_INFO_V1(sq_set_queue_owner);
PG_FUNCTION_INFO_V1(sq_queue_stats_rows);
PG_FUNCTION_INFO_V1(sq_init_handle_key);
PG_FUNCTION_INFO_V1(sq_drop_message_tables);

/* The attributes a queue is created with, or changed to. */
typedef struct QueueSettings
{
	int32 visibility_timeout;
	int32 message_retention_period;
	int32 delay_seconds;
	int32 maximum_message_size;
	char *dead_letter_queue; /* NULL: none */
	int32 max_receive_count; /* 0: none */
	int32 receive_wait_time_seconds;
	bool  content_based_deduplication; /* FIFO only */
	bool  deduplicate_per_group;       /* FIFO only */
} QueueSettings;

/*
 * A queue's settings as the parameters $1..$10 of the catalog statements
 * that compare, insert or update them: name, visibility timeout, retention,
 * delay, maximum size, dead-letter queue id, max receive count, wait time,
 * content-based deduplication, deduplication scope. The FIFO settings ($9,
 * $10) arrived with 0.2: the legacy statements leave them out, and so do
 * updates of standard queues.
 */
#define SETTINGS_NPARAMS 10
#define SETTINGS_ARGTYPES                                                     \
	TEXTOID, INT4OID, INT4OID, INT4OID, INT4OID, INT8OID, INT4OID, INT4OID,   \
		BOOLOID, TEXTOID

#define SAME_SETTINGS_SQL(fifo_settings)                                      \
	"SELECT visibility_timeout = $2 AND message_retention_period = $3"        \
	" AND delay_seconds = $4 AND maximum_message_size = $5"                   \
	" AND dead_letter_queue_id IS NOT DISTINCT FROM $6"                       \
	" AND max_receive_count IS NOT DISTINCT FROM $7"                          \
	" AND receive_wait_time_seconds = $8" fifo_settings                       \
	" FROM sqsn.queue WHERE queue_name = $1"

#define INSERT_SQL(fifo_columns, fifo_values)                                 \
	"INSERT INTO sqsn.queue (queue_name, visibility_timeout,"                 \
	" message_retention_period, delay_seconds,"                               \
	" maximum_message_size, dead_letter_queue_id,"                            \
	" max_receive_count, receive_wait_time_seconds," fifo_columns             \
	" owner, created_at, last_modified_at)"                                   \
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8," fifo_values                    \
	" session_user, clock_timestamp(), clock_timestamp())"                    \
	" RETURNING queue_id"

#define UPDATE_SQL(fifo_settings)                                             \
	"UPDATE sqsn.queue SET visibility_timeout = $2,"                          \
	" message_retention_period = $3, delay_seconds = $4,"                     \
	" maximum_message_size = $5, dead_letter_queue_id = $6,"                  \
	" max_receive_count = $7, receive_wait_time_seconds = $8," fifo_settings  \
	" last_modified_at = clock_timestamp()"                                   \
	" WHERE queue_name = $1"

/* Statements on sqsn.queue, run by sqsn_execute */

static SqsnStatement same_settings_stmt = {
	SAME_SETTINGS_SQL(" AND content_based_deduplication = $9"
					  " AND deduplication_scope = $10"),
	SETTINGS_NPARAMS,
	{SETTINGS_ARGTYPES},
	SPI_OK_SELECT,
	"reading sqsn.queue"};

static SqsnStatement legacy_same_settings_stmt = {SAME_SETTINGS_SQL(""),
												  SETTINGS_NPARAMS,
												  {SETTINGS_ARGTYPES},
												  SPI_OK_SELECT,
												  "reading sqsn.queue"};

static SqsnStatement insert_stmt = {
	INSERT_SQL(" content_based_deduplication, deduplication_scope, kind,",
			   " $9, $10, CASE WHEN $1 LIKE '%.fifo'"
			   " THEN 'fifo' ELSE 'standard' END,"),
	SETTINGS_NPARAMS,
	{SETTINGS_ARGTYPES},
	SPI_OK_INSERT_RETURNING,
	"inserting into sqsn.queue"};

static SqsnStatement legacy_insert_stmt = {INSERT_SQL("", ""),
										   SETTINGS_NPARAMS,
										   {SETTINGS_ARGTYPES},
										   SPI_OK_INSERT_RETURNING,
										   "inserting into sqsn.queue"};

static SqsnStatement update_fifo_stmt = {
	UPDATE_SQL(" content_based_deduplication = $9,"
			   " deduplication_scope = $10,"),
	SETTINGS_NPARAMS,
	{SETTINGS_ARGTYPES},
	SPI_OK_UPDATE,
	"updating sqsn.queue"};

static SqsnStatement update_standard_stmt = {UPDATE_SQL(""),
											 SETTINGS_NPARAMS,
											 {SETTINGS_ARGTYPES},
											 SPI_OK_UPDATE,
											 "updating sqsn.queue"};

static SqsnStatement queue_id_stmt = {
	"SELECT queue_id FROM sqsn.queue WHERE queue_name = $1",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading sqsn.queue"};

static SqsnStatement set_owner_stmt = {
	"UPDATE sqsn.queue SET owner = $2 WHERE queue_id = $1",
	2,
	{INT8OID, NAMEOID},
	SPI_OK_UPDATE,
	"setting the queue's owner"};

static SqsnStatement dead_letter_users_stmt = {
	"SELECT string_agg(queue_name, ', ' ORDER BY queue_name) FROM sqsn.queue"
	" WHERE dead_letter_queue_id = $1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.queue"};

static SqsnStatement delete_stmt = {
	"DELETE FROM sqsn.queue WHERE queue_id = $1",
	1,
	{INT8OID},
	SPI_OK_DELETE,
	"deleting from sqsn.queue"};

static SqsnStatement init_handle_key_stmt = {
	"INSERT INTO sqsn.handle_key (id, secret)"
	" VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
	1,
	{BYTEAOID},
	SPI_OK_INSERT,
	"creating the receipt handle key"};

/*
 * Runs one of the statements above that take a queue's settings; returns
 * SPI_processed.
 */
static uint64
execute_with_settings(SqsnStatement *stmt, const char *name, QueueSettings *s,
					  int64 dlq_id, long count)
{
	Datum values[SETTINGS_NPARAMS];
	char  nulls[SETTINGS_NPARAMS];

	memset(nulls, ' ', SETTINGS_NPARAMS);
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(s->visibility_timeout);
	values[2] = Int32GetDatum(s->message_retention_period);
	values[3] = Int32GetDatum(s->delay_seconds);
	values[4] = Int32GetDatum(s->maximum_message_size);
	values[5] = Int64GetDatum(dlq_id);
	values[6] = Int32GetDatum(s->max_receive_count);
	values[7] = Int32GetDatum(s->receive_wait_time_seconds);
	values[8] = BoolGetDatum(s->content_based_deduplication);
	values[9] = CStringGetTextDatum(s->deduplicate_per_group ? "message_group"
															 : "queue");
	if (dlq_id == 0)
		nulls[5] = nulls[6] = 'n';
	return sqsn_execute(stmt, values, nulls, count);
}

/*
 * Storage of a message table (docs/storage.md): free space on each page so
 * the lease update stays on the page (HOT), and vacuum early since queues
 * churn. msg_seq comes from sqsn.message_seq, one sequence for every queue
 * (before 0.5 each table had an identity sequence of its own); the
 * expires_at index serves the retention sweep and tells the maintenance
 * worker when the queue is next due. sender_id is the oid of the role that
 * sent the message (the endpoint's SenderId), four bytes where a name would
 * take a varlena on every row; it is last because the 0.5 update adds it to
 * the tables of older queues.
 */
#define MESSAGE_TABLE_DDL                                                     \
	"CREATE TABLE %s ("                                                       \
	" msg_seq bigint %s PRIMARY KEY,"                                         \
	" sent_at timestamptz NOT NULL,"                                          \
	" visible_at timestamptz NOT NULL,"                                       \
	" expires_at timestamptz NOT NULL,"                                       \
	" lease_token bigint,"                                                    \
	" first_received_at timestamptz,"                                         \
	" receive_count integer NOT NULL DEFAULT 0,"                              \
	" message_id uuid NOT NULL,"                                              \
	" body text NOT NULL,"                                                    \
	" message_attributes jsonb,"                                              \
	" message_group_id text,"                                                 \
	" message_deduplication_id text,"                                         \
	" source_queue_id bigint,"                                                \
	" sender_id oid"                                                          \
	") WITH (fillfactor = 70,"                                                \
	" autovacuum_vacuum_scale_factor = 0.01,"                                 \
	" autovacuum_vacuum_threshold = 500,"                                     \
	" autovacuum_vacuum_insert_scale_factor = 0.05,"                          \
	" autovacuum_vacuum_cost_delay = 0)"

static char *
message_table_name(int64 queue_id)
{
	return psprintf("%s.%s", quote_identifier(SQSN_SCHEMA),
					quote_identifier(psprintf("q_" INT64_FORMAT, queue_id)));
}

/* The oid of a queue's message table, or InvalidOid when there is none. */
static Oid
message_table_relid(int64 queue_id)
{
	return get_relname_relid(psprintf("q_" INT64_FORMAT, queue_id),
							 get_namespace_oid(SQSN_SCHEMA, false));
}

/*
 * Creates the message table of a new queue (name), with the FIFO queues'
 * index on (message_group_id, msg_seq).
 */
static void
create_message_table(int64 queue_id, const char *name)
{
	char *table = message_table_name(queue_id);

	sqsn_spi_check(
		SPI_execute(psprintf(MESSAGE_TABLE_DDL, table,
							 sqsn_catalog_has(SQSN_CATALOG_MESSAGE_SEQ)
								 ? "NOT NULL DEFAULT"
								   " pg_catalog.nextval('sqsn.message_seq'::"
								   "pg_catalog.regclass)"
								 : "GENERATED BY DEFAULT AS IDENTITY"),
					false, 0),
		SPI_OK_UTILITY, "creating the message table");
	sqsn_spi_check(
		SPI_execute(psprintf("CREATE INDEX ON %s (expires_at)", table), false,
					0),
		SPI_OK_UTILITY, "creating the expiry index");
	/* a mark left by a dropped table of the same oid is not ours */
	sqsn_lowwater_forget(message_table_relid(queue_id));
	if (sqsn_is_fifo_name(name))
		sqsn_spi_check(
			SPI_execute(
				psprintf("CREATE INDEX ON %s (message_group_id, msg_seq)",
						 table),
				false, 0),
			SPI_OK_UTILITY, "creating the message group index");
	sqsn_spi_check(
		SPI_execute(psprintf("COMMENT ON TABLE %s IS %s", table,
							 quote_literal_cstr(
								 psprintf("messages of sqsn queue %s", name))),
					false, 0),
		SPI_OK_UTILITY, "commenting the message table");
	/* on a Citus cluster: onto one of the nodes */
	sqsn_citus_place_queue(message_table_relid(queue_id));
}

/*
 * Fair receives (message.c) walk an index of a standard queue's messages
 * that have a group id. It is made once the queue holds such a message (a
 * send notes DUE_GROUP_INDEX, and the maintenance worker or
 * sqsn.run_maintenance makes it), not with the queue, so that a queue
 * that never sees a group id keeps its size.
 */
static char *
group_index_name(int64 queue_id)
{
	return psprintf("q_" INT64_FORMAT "_message_group_id_msg_seq_idx",
					queue_id);
}

bool
sqsn_has_group_index(int64 queue_id)
{
	return OidIsValid(
		get_relname_relid(group_index_name(queue_id), sqsn_schema_oid()));
}

/*
 * Makes a standard queue's index of grouped messages unless it exists;
 * waits for the lock, which holds sends and receives back while the index
 * is built, up to lock_timeout.
 */
void
sqsn_create_group_index(SqsnQueue *queue)
{
	if (queue->fifo || sqsn_has_group_index(queue->queue_id))
		return;
	/* one maker at a time: the build's ShareLock does not conflict with
	 * itself, and IF NOT EXISTS does not wait for another maker */
	LockRelationOid(queue->relid, ShareRowExclusiveLock);
	if (sqsn_has_group_index(queue->queue_id))
		return;
	sqsn_spi_check(SPI_execute(psprintf("CREATE INDEX IF NOT EXISTS %s ON %s"
										" (message_group_id, msg_seq)"
										" WHERE message_group_id IS NOT NULL",
										quote_identifier(
											group_index_name(queue->queue_id)),
										queue->qualified_table),
							   false, 0),
				   SPI_OK_UTILITY, "creating the message group index");
}

/* The group index of a standard queue that holds grouped messages. */
void
sqsn_index_groups(SqsnQueue *queue)
{
	if (!queue->fifo && !sqsn_has_group_index(queue->queue_id) &&
		sqsn_queue_has_groups(queue))
		sqsn_create_group_index(queue);
}

static void
lock_queue_catalog(void)
{
	sqsn_spi_check(
		SPI_execute("LOCK TABLE sqsn.queue IN SHARE ROW EXCLUSIVE MODE", false,
					0),
		SPI_OK_UTILITY, "locking sqsn.queue");
}

/*
 * The id of a queue named in the catalog, or 0 when there is none.
 */
static int64
find_queue_id(const char *name)
{
	Datum value = CStringGetTextDatum(name);

	if (sqsn_execute(&queue_id_stmt, &value, NULL, 1) == 0)
		return 0;
	return sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * Checks the redrive part of settings: both or neither of dead-letter queue
 * and max receive count, a dead-letter queue that exists and is not the
 * queue itself, and the caller's right to send to it unless it is old_dlq,
 * the queue's dead-letter queue so far. Returns the dead-letter queue's id
 * (0: none).
 */
static int64
check_redrive(const char *queue_name, QueueSettings *settings,
			  const char *old_dlq)
{
	int64 dlq_id;

	if ((settings->dead_letter_queue == NULL) !=
		(settings->max_receive_count == 0))
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("dead_letter_queue and max_receive_count must be given "
					"together")));
	if (settings->dead_letter_queue == NULL)
		return 0;

	sqsn_validate_queue_name(settings->dead_letter_queue);
	if (strcmp(settings->dead_letter_queue, queue_name) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue \"%s\" cannot be its own dead-letter queue",
						queue_name)));
	dlq_id = find_queue_id(settings->dead_letter_queue);
	if (dlq_id == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("dead-letter queue \"%s\" does not exist",
							   settings->dead_letter_queue),
						errhint("Create the dead-letter queue first.")));
	if (sqsn_is_fifo_name(settings->dead_letter_queue) !=
		sqsn_is_fifo_name(queue_name))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("the dead-letter queue of %s queue \"%s\" must be a "
						"%s queue",
						sqsn_is_fifo_name(queue_name) ? "FIFO" : "standard",
						queue_name,
						sqsn_is_fifo_name(queue_name) ? "FIFO" : "standard"),
				 errdetail("Queue \"%s\" is a %s queue.",
						   settings->dead_letter_queue,
						   sqsn_is_fifo_name(settings->dead_letter_queue)
							   ? "FIFO"
							   : "standard")));
	if (old_dlq == NULL || strcmp(old_dlq, settings->dead_letter_queue) != 0)
	{
		sqsn_check_queue(
			sqsn_open_queue(settings->dead_letter_queue, RowExclusiveLock),
			SQSN_SEND);
		if (sqsn_catalog_has(SQSN_CATALOG_STORED_ATTRIBUTES))
			sqsn_check_redrive_allowed(dlq_id, settings->dead_letter_queue,
									   queue_name);
	}
	return dlq_id;
}

/*
 * Deduplication settings exist only for FIFO queues.
 */
static void
check_fifo_settings(const char *queue_name, QueueSettings *s)
{
	if (!sqsn_is_fifo_name(queue_name) &&
		(s->content_based_deduplication || s->deduplicate_per_group))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("deduplication settings are only for FIFO queues"),
				 errdetail("Queue \"%s\" is a standard queue.", queue_name),
				 errhint("A FIFO queue's name ends in \".fifo\".")));
}

/*
 * A deduplication scope: "queue" or "message_group", also under the
 * managed service's names "messageQueue" and "messageGroup". Returns
 * whether it is per group.
 */
static bool
parse_deduplication_scope(const char *scope)
{
	if (strcmp(scope, "queue") == 0 || strcmp(scope, "messageQueue") == 0)
		return false;
	if (strcmp(scope, "message_group") == 0 ||
		strcmp(scope, "messageGroup") == 0)
		return true;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("invalid deduplication scope \"%s\"", scope),
					errhint("Use \"queue\" or \"message_group\".")));
}

/*
 * sq_create_queue(queue_name, visibility_timeout, message_retention_period,
 * delay_seconds, maximum_message_size, dead_letter_queue, max_receive_count,
 * receive_wait_time_seconds, content_based_deduplication,
 * deduplication_scope)
 *
 * A queue whose name ends in ".fifo" is a FIFO queue; its message table
 * gets an index on (message_group_id, msg_seq) for the group-ordered
 * receive (fifo.c).
 *
 * Creating a queue that exists with the same attributes does nothing; with
 * other attributes it is an error, as in the managed service.
 */
Datum
sq_create_queue(PG_FUNCTION_ARGS)
{
	char         *name = sqsn_text_arg(fcinfo, 0, "queue_name");
	QueueSettings s;
	int64         dlq_id;
	int           nestlevel;
	bool          has_fifo;
	bool          encrypted;
	bool          exists;

	sqsn_refuse_on_standby(fcinfo);
	sqsn_validate_queue_name(name);
	s.visibility_timeout = sqsn_int_arg(fcinfo, 1, "visibility_timeout", 0,
										SQSN_MAX_VISIBILITY_TIMEOUT, 30);
	s.message_retention_period =
		sqsn_int_arg(fcinfo, 2, "message_retention_period", SQSN_MIN_RETENTION,
					 SQSN_MAX_RETENTION, 345600);
	s.delay_seconds =
		sqsn_int_arg(fcinfo, 3, "delay_seconds", 0, SQSN_MAX_DELAY, 0);
	s.maximum_message_size =
		sqsn_int_arg(fcinfo, 4, "maximum_message_size", SQSN_MIN_MESSAGE_SIZE,
					 SQSN_MAX_QUEUE_MESSAGE_SIZE, SQSN_MAX_MESSAGE_SIZE);
	s.dead_letter_queue =
		PG_ARGISNULL(5) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(5));
	s.max_receive_count = sqsn_int_arg(fcinfo, 6, "max_receive_count", 1,
									   SQSN_MAX_RECEIVE_COUNT, 0);
	s.receive_wait_time_seconds = sqsn_int_arg(
		fcinfo, 7, "receive_wait_time_seconds", 0, SQSN_MAX_WAIT_TIME, 0);
	s.content_based_deduplication =
		SQSN_ARG_GIVEN(8) ? PG_GETARG_BOOL(8) : false;
	s.deduplicate_per_group =
		SQSN_ARG_GIVEN(9)
			? parse_deduplication_scope(text_to_cstring(PG_GETARG_TEXT_PP(9)))
			: false;
	check_fifo_settings(name, &s);
	encrypted = SQSN_ARG_GIVEN(10) ? PG_GETARG_BOOL(10) : false;

	nestlevel = sqsn_admin_begin();

	lock_queue_catalog();
	sqsn_citus_check_coordinator();
	has_fifo = sqsn_catalog_has(SQSN_CATALOG_FIFO);
	if (!has_fifo && sqsn_is_fifo_name(name))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("FIFO queues need version 0.2 of extension sqsn"),
				 errhint("Run ALTER EXTENSION sqsn UPDATE.")));
	dlq_id = check_redrive(name, &s, NULL);

	exists = execute_with_settings(has_fifo ? &same_settings_stmt
											: &legacy_same_settings_stmt,
								   name, &s, dlq_id, 1) > 0;
	if (exists)
	{
		if (!sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))
			sqsn_exists_differently("queue", name, NULL);
	}
	else
	{
		int64 queue_id;

		execute_with_settings(has_fifo ? &insert_stmt : &legacy_insert_stmt,
							  name, &s, dlq_id, 0);
		queue_id =
			sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		sqsn_set_caller_owner(&set_owner_stmt, Int64GetDatum(queue_id));
		create_message_table(queue_id, name);
	}
	sqsn_create_encrypted("queue", name, encrypted, exists);

	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sq_delete_queue(queue_name): drops the queue and its messages. A queue
 * that is another queue's dead-letter queue cannot be deleted while that
 * redrive policy exists.
 */
Datum
sq_delete_queue(PG_FUNCTION_ARGS)
{
	char *name = sqsn_text_arg(fcinfo, 0, "queue_name");
	int   nestlevel;
	int64 queue_id;
	Datum value;
	char *users;

	sqsn_refuse_on_standby(fcinfo);
	sqsn_validate_queue_name(name);
	nestlevel = sqsn_admin_begin();

	lock_queue_catalog();
	queue_id = find_queue_id(name);
	if (queue_id == 0)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("queue \"%s\" does not exist", name)));
	if (OidIsValid(get_relname_relid(psprintf("q_" INT64_FORMAT, queue_id),
									 sqsn_schema_oid())))
		sqsn_check_queue(sqsn_open_queue(name, AccessExclusiveLock),
						 SQSN_ADMIN);
	else if (sqsn_catalog_has(SQSN_CATALOG_GRANTS) &&
			 !sqsn_is_admin(GetOuterUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to administer queue \"%s\"", name),
				 errdetail("Its message table is missing; only superusers and "
						   "members of sqsn_admin can delete it.")));

	value = Int64GetDatum(queue_id);
	sqsn_execute(&dead_letter_users_stmt, &value, NULL, 0);
	users = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (users != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
				 errmsg("queue \"%s\" is the dead-letter queue of other "
						"queues",
						name),
				 errdetail("Queues using it: %s.", users),
				 errhint("Remove their RedrivePolicy or delete them first.")));

	sqsn_execute(&delete_stmt, &value, NULL, 0);
	if (sqsn_catalog_has(SQSN_CATALOG_FIFO))
		sqsn_fifo_forget_queue(queue_id);
	sqsn_lowwater_forget(message_table_relid(queue_id));
	sqsn_metrics_forget_queue(queue_id, message_table_relid(queue_id));
	sqsn_spi_check(SPI_execute(psprintf("DROP TABLE IF EXISTS %s",
										message_table_name(queue_id)),
							   false, 0),
				   SPI_OK_UTILITY, "dropping the message table");

	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sq_purge_queue(queue_name): removes every message at once (TRUNCATE) and
 * returns how many there were.
 */
Datum
sq_purge_queue(PG_FUNCTION_ARGS)
{
	char      *name = sqsn_text_arg(fcinfo, 0, "queue_name");
	int        nestlevel;
	SqsnQueue *queue;
	int64      removed;

	sqsn_refuse_on_standby(fcinfo);
	nestlevel = sqsn_admin_begin();
	queue = sqsn_open_queue(name, AccessExclusiveLock);
	sqsn_check_queue(queue, SQSN_ADMIN);
	sqsn_spi_check(SPI_execute(psprintf("SELECT count(*) FROM %s",
										queue->qualified_table),
							   false, 0),
				   SPI_OK_SELECT, "counting messages");
	removed = sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	sqsn_spi_check(
		SPI_execute(psprintf("TRUNCATE %s", queue->qualified_table), false, 0),
		SPI_OK_UTILITY, "truncating the message table");
	sqsn_metrics_depth_changed(queue);

	sqsn_admin_end(nestlevel);
	PG_RETURN_INT64(removed);
}

/*
 * sq_list_queues(prefix): queue names in name order.
 */
Datum
sq_list_queues(PG_FUNCTION_ARGS)
{
	return sqsn_return_names(fcinfo,
							 "SELECT queue_name FROM sqsn.queue"
							 " WHERE $1 IS NULL OR starts_with(queue_name, $1)"
							 " ORDER BY queue_name COLLATE \"C\"",
							 "listing queues");
}

/*
 * sq_list_dead_letter_source_queues(queue_name): the queues whose redrive
 * policy names the queue as their dead-letter queue, in name order. Open to
 * whoever may act on the dead-letter queue.
 */
Datum
sq_list_dead_letter_source_queues(PG_FUNCTION_ARGS)
{
	char      *name = sqsn_text_arg(fcinfo, 0, "queue_name");
	int        nestlevel;
	SqsnQueue *queue;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = sqsn_admin_begin();
	queue = sqsn_open_queue(name, AccessShareLock);
	sqsn_check_queue(queue, SQSN_ANY_ACTION);
	sqsn_return_rows(fcinfo,
					 "SELECT s.queue_name FROM sqsn.queue s"
					 " JOIN sqsn.queue d"
					 "  ON d.queue_id = s.dead_letter_queue_id"
					 " WHERE d.queue_name = $1"
					 " ORDER BY s.queue_name COLLATE \"C\"",
					 CStringGetTextDatum(name), false,
					 "listing dead-letter source queues");
	sqsn_admin_end(nestlevel);
	return (Datum) 0;
}

/*
 * Counts of one message table as of now: visible, in flight (leased),
 * delayed (never received and not yet due), and the age of the oldest
 * message in seconds. Expired messages the sweep has not removed yet are
 * not counted. Leaves one row in SPI_tuptable.
 */
static void
count_messages(const char *qualified_table, TimestampTz now)
{
	Oid   argtypes[1] = {TIMESTAMPTZOID};
	Datum values[1] = {TimestampTzGetDatum(now)};

	sqsn_spi_check(
		SPI_execute_with_args(
			psprintf("SELECT count(*) FILTER (WHERE visible_at <= $1),"
					 " count(*) FILTER (WHERE visible_at > $1"
					 "  AND lease_token IS NOT NULL),"
					 " count(*) FILTER (WHERE visible_at > $1"
					 "  AND lease_token IS NULL),"
					 " floor(extract(epoch FROM $1 - min(sent_at)))::integer"
					 " FROM %s WHERE expires_at > $1",
					 qualified_table),
			1, argtypes, values, NULL, false, 0),
		SPI_OK_SELECT, "counting messages");
}

/*
 * sq_get_queue_attributes(queue_name): the queue's attributes and counts
 * under the managed service's attribute names.
 */
Datum
sq_get_queue_attributes(PG_FUNCTION_ARGS)
{
	char      *name = sqsn_text_arg(fcinfo, 0, "queue_name");
	int        nestlevel = sqsn_admin_begin();
	SqsnQueue *queue;
	Oid        argtypes[4] = {INT8OID, INT8OID, INT8OID, INT8OID};
	Datum      values[4];
	bool       isnull;
	Jsonb     *result;
	bool       with_encryption;
	bool       encrypted;

	queue = sqsn_open_queue(name, AccessShareLock);
	sqsn_check_queue(queue, SQSN_ANY_ACTION);
	count_messages(queue->qualified_table, GetCurrentTimestamp());
	for (int i = 0; i < 3; i++)
		values[i + 1] = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, i + 1, &isnull);
	values[0] = Int64GetDatum(queue->queue_id);

	sqsn_spi_check(
		SPI_execute_with_args(
			psprintf(
				"SELECT jsonb_build_object("
				" 'VisibilityTimeout', q.visibility_timeout,"
				" 'MessageRetentionPeriod', q.message_retention_period,"
				" 'DelaySeconds', q.delay_seconds,"
				" 'MaximumMessageSize', q.maximum_message_size,"
				" 'ReceiveMessageWaitTimeSeconds', "
				"q.receive_wait_time_seconds,"
				" 'CreatedTimestamp', floor(extract(epoch FROM "
				"q.created_at))::bigint,"
				" 'LastModifiedTimestamp',"
				"  floor(extract(epoch FROM q.last_modified_at))::bigint,"
				" 'ApproximateNumberOfMessages', $2,"
				" 'ApproximateNumberOfMessagesNotVisible', $3,"
				" 'ApproximateNumberOfMessagesDelayed', $4)"
				" || CASE WHEN d.queue_name IS NULL THEN '{}'::jsonb"
				"   ELSE jsonb_build_object('RedrivePolicy', "
				"jsonb_build_object("
				"    'deadLetterQueue', d.queue_name,"
				"    'maxReceiveCount', q.max_receive_count)) END%s%s"
				" FROM sqsn.queue q LEFT JOIN sqsn.queue d"
				"  ON d.queue_id = q.dead_letter_queue_id"
				" WHERE q.queue_id = $1",
				queue->fifo
					? " || jsonb_build_object("
					  "   'FifoQueue', true,"
					  "   'ContentBasedDeduplication', "
					  "q.content_based_deduplication,"
					  "   'DeduplicationScope', CASE q.deduplication_scope"
					  "    WHEN 'message_group' THEN 'messageGroup'"
					  "    ELSE 'messageQueue' END)"
					: "",
				sqsn_catalog_has(SQSN_CATALOG_STORED_ATTRIBUTES)
					? " || q.extra_attributes"
					: ""),
			4, argtypes, values, NULL, false, 1),
		SPI_OK_SELECT, "reading queue attributes");

	/* copy out of SPI's memory before SPI_finish frees it */
	result = DatumGetJsonbP(
		SPI_datumTransfer(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull),
						  false, -1));
	/* read now: the cache entry is SPI's to reload until SPI_finish */
	with_encryption = sqsn_catalog_has(SQSN_CATALOG_ENCRYPTION);
	encrypted = queue->encrypted;

	SPI_finish();

	/* in the caller's memory context, so the result outlives SPI */
	if (with_encryption)
	{
		JsonbValue       kv[2];
		JsonbParseState *state = NULL;
		JsonbValue      *obj;

		(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		kv[0].type = jbvString;
		kv[0].val.string.val = "SqsManagedSseEnabled";
		kv[0].val.string.len = strlen(kv[0].val.string.val);
		kv[1].type = jbvBool;
		kv[1].val.boolean = encrypted;
		(void) pushJsonbValue(&state, WJB_KEY, &kv[0]);
		(void) pushJsonbValue(&state, WJB_VALUE, &kv[1]);
		obj = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
		result = DatumGetJsonbP(
			DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(result),
								JsonbPGetDatum(JsonbValueToJsonb(obj))));
	}

	sqsn_unpin_search_path(nestlevel);
	PG_RETURN_JSONB_P(result);
}

/*
 * An integer attribute value: a JSON number or a numeric string (the
 * managed service passes attribute values as strings).
 */
static int32
attribute_int(const char *key, JsonbValue *v, int32 min, int32 max)
{
	int32 value;

	if (!sqsn_jsonb_int(v, min, max, &value))
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("queue attribute %s must be an integer between %d and %d",
					key, min, max)));
	return value;
}

/*
 * A boolean attribute value: a JSON boolean or the string "true"/"false".
 */
static bool
attribute_bool(const char *key, JsonbValue *v)
{
	bool value;

	if (!sqsn_jsonb_bool(v, &value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("queue attribute %s must be true or false", key)));
	return value;
}

/*
 * RedrivePolicy: {"deadLetterQueue": name, "maxReceiveCount": n}, also
 * given as a JSON string, with the service's "deadLetterTargetArn" (whose
 * last ':'-separated part names the queue) accepted for the name. null, ""
 * or {} removes the policy.
 */
static void
read_redrive_policy(JsonbValue *v, QueueSettings *s)
{
	Jsonb             *policy;
	JsonbIterator     *it;
	JsonbIteratorToken tok;
	JsonbValue         item;
	char              *key = NULL;

	s->dead_letter_queue = NULL;
	s->max_receive_count = 0;

	if (v->type == jbvNull || (v->type == jbvString && v->val.string.len == 0))
		return;
	if (v->type == jbvString)
		policy = DatumGetJsonbP(DirectFunctionCall1(
			jsonb_in,
			CStringGetDatum(pnstrdup(v->val.string.val, v->val.string.len))));
	else if (v->type == jbvBinary)
		policy = JsonbValueToJsonb(v);
	else
		policy = NULL;

	if (policy == NULL || !JB_ROOT_IS_OBJECT(policy) ||
		JB_ROOT_IS_SCALAR(policy))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("RedrivePolicy must be a JSON object"),
				 errhint("Write {\"deadLetterQueue\": \"name\", "
						 "\"maxReceiveCount\": 5}, or null to remove it.")));

	it = JsonbIteratorInit(&policy->root);
	while ((tok = JsonbIteratorNext(&it, &item, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(item.val.string.val, item.val.string.len);
		else if (tok == WJB_VALUE)
		{
			if (strcmp(key, "maxReceiveCount") == 0)
				s->max_receive_count =
					attribute_int("RedrivePolicy.maxReceiveCount", &item, 1,
								  SQSN_MAX_RECEIVE_COUNT);
			else if ((strcmp(key, "deadLetterQueue") == 0 ||
					  strcmp(key, "deadLetterTargetArn") == 0) &&
					 item.type == jbvString)
			{
				char *target =
					pnstrdup(item.val.string.val, item.val.string.len);
				char *colon = strrchr(target, ':');

				s->dead_letter_queue = colon ? colon + 1 : target;
			}
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid RedrivePolicy key \"%s\"", key),
						 errhint("Use deadLetterQueue (a queue name) and "
								 "maxReceiveCount.")));
		}
	}
}

/*
 * sq_set_queue_attributes(queue_name, attributes): changes the settable
 * attributes; every key is checked before anything changes.
 */
Datum
sq_set_queue_attributes(PG_FUNCTION_ARGS)
{
	char          *name = sqsn_text_arg(fcinfo, 0, "queue_name");
	Jsonb         *attributes;
	int            nestlevel;
	SqsnQueue     *queue;
	QueueSettings  s;
	JsonbIterator *it;
	JsonbValue     v;
	char          *key = NULL;
	int64          dlq_id;
	Oid            relid;
	bool           fifo;
	char          *old_dlq;
	bool           encrypted;
	bool           encrypted_given = false;
	int64          queue_id;
	Jsonb         *stored = NULL; /* extra_attributes, once one is given */
	bool           policy_given = false;
	List          *policy_grants = NIL;

	sqsn_refuse_on_standby(fcinfo);
	attributes = sqsn_attributes_arg(fcinfo, 1, "queue");

	nestlevel = sqsn_admin_begin();

	lock_queue_catalog();
	queue = sqsn_open_queue(name, ShareUpdateExclusiveLock);
	sqsn_check_queue(queue, SQSN_ADMIN);
	queue_id = queue->queue_id;
	s.visibility_timeout = queue->visibility_timeout;
	s.message_retention_period = queue->message_retention_period;
	s.delay_seconds = queue->delay_seconds;
	s.maximum_message_size = queue->maximum_message_size;
	s.dead_letter_queue =
		queue->dead_letter_queue ? pstrdup(queue->dead_letter_queue) : NULL;
	old_dlq = s.dead_letter_queue;
	s.max_receive_count = queue->max_receive_count;
	s.receive_wait_time_seconds = queue->receive_wait_time_seconds;
	s.content_based_deduplication = queue->content_based_deduplication;
	s.deduplicate_per_group = queue->deduplicate_per_group;
	fifo = queue->fifo;
	relid = queue->relid;
	encrypted = queue->encrypted;

	it = JsonbIteratorInit(&attributes->root);
	while (sqsn_jsonb_next_pair(&it, &key, &v))
	{
		if (strcmp(key, "VisibilityTimeout") == 0)
			s.visibility_timeout =
				attribute_int(key, &v, 0, SQSN_MAX_VISIBILITY_TIMEOUT);
		else if (strcmp(key, "MessageRetentionPeriod") == 0)
			s.message_retention_period =
				attribute_int(key, &v, SQSN_MIN_RETENTION, SQSN_MAX_RETENTION);
		else if (strcmp(key, "DelaySeconds") == 0)
			s.delay_seconds = attribute_int(key, &v, 0, SQSN_MAX_DELAY);
		else if (strcmp(key, "MaximumMessageSize") == 0)
			s.maximum_message_size = attribute_int(
				key, &v, SQSN_MIN_MESSAGE_SIZE, SQSN_MAX_QUEUE_MESSAGE_SIZE);
		else if (strcmp(key, "ReceiveMessageWaitTimeSeconds") == 0)
			s.receive_wait_time_seconds =
				attribute_int(key, &v, 0, SQSN_MAX_WAIT_TIME);
		else if (strcmp(key, "RedrivePolicy") == 0)
			read_redrive_policy(&v, &s);
		else if (strcmp(key, "ContentBasedDeduplication") == 0)
			s.content_based_deduplication = attribute_bool(key, &v);
		else if (strcmp(key, "DeduplicationScope") == 0)
		{
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("queue attribute DeduplicationScope must be a "
								"string")));
			s.deduplicate_per_group = parse_deduplication_scope(
				pnstrdup(v.val.string.val, v.val.string.len));
		}
		else if (strcmp(key, "SqsManagedSseEnabled") == 0)
		{
			encrypted = attribute_bool(key, &v);
			encrypted_given = true;
		}
		else if (sqsn_is_stored_queue_attribute(key))
		{
			if (!sqsn_catalog_has(SQSN_CATALOG_STORED_ATTRIBUTES))
				ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
								errmsg("queue attribute %s needs the current "
									   "catalog",
									   key),
								errhint("Run ALTER EXTENSION sqsn UPDATE.")));
			if (stored == NULL)
				stored = sqsn_stored_queue_attributes(queue_id);
			stored = sqsn_stored_attribute_set(stored, key, &v, fifo);
			policy_given |= strcmp(key, "Policy") == 0;
		}
		else if (strcmp(key, "FifoQueue") == 0)
		{
			if (attribute_bool(key, &v) != fifo)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("queue attribute FifoQueue cannot be changed"),
						 errhint("A queue is FIFO exactly when its name ends "
								 "in \".fifo\"; create a new queue.")));
		}
		else if (strcmp(key, "CreatedTimestamp") == 0 ||
				 strcmp(key, "LastModifiedTimestamp") == 0 ||
				 strncmp(key, "ApproximateNumberOfMessages", 27) == 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("queue attribute %s is read-only", key)));
		else
			ereport(
				ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown queue attribute \"%s\"", key),
				 errhint("Settable attributes are VisibilityTimeout, "
						 "MessageRetentionPeriod, DelaySeconds, "
						 "MaximumMessageSize, ReceiveMessageWaitTimeSeconds, "
						 "RedrivePolicy, SqsManagedSseEnabled, Policy, "
						 "RedriveAllowPolicy, KmsMasterKeyId, "
						 "KmsDataKeyReusePeriodSeconds, and for FIFO "
						 "queues ContentBasedDeduplication, "
						 "DeduplicationScope and FifoThroughputLimit.")));
	}

	check_fifo_settings(name, &s);
	dlq_id = check_redrive(name, &s, old_dlq);

	/* the grants of the new Policy, or none when it was removed */
	policy_given &= sqsn_catalog_has(SQSN_CATALOG_POLICY_GRANTS);
	if (policy_given)
	{
		JsonbValue *policy =
			getKeyJsonValueFromContainer(&stored->root, "Policy", 6, NULL);

		if (policy != NULL)
			policy_grants =
				sqsn_policy_grants(JsonbValueToJsonb(policy), false, name);
	}

	execute_with_settings(fifo ? &update_fifo_stmt : &update_standard_stmt,
						  name, &s, dlq_id, 0);
	if (stored != NULL)
		sqsn_store_queue_attributes(queue_id, stored);
	if (policy_given)
		sqsn_store_policy_grants(false, queue_id, policy_grants);
	if (encrypted_given)
		sqsn_store_encrypted("queue", name, encrypted, false);

	/* every backend drops its cached copy of this queue at commit */
	CacheInvalidateRelcacheByRelid(relid);

	/*
	 * The maintenance worker looks at the queue once more under the new
	 * settings: a new redrive policy may leave messages over its limit.
	 */
	sqsn_due_note(queue_id, GetCurrentTimestamp(),
				  dlq_id != 0 ? DUE_CHECK_OVERDUE : 0);

	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * Every queue whose message table exists, in name order: queue_id,
 * queue_name, the table's oid, whether the queue is FIFO.
 */
static SqsnStatement queue_tables_stmt = {
	"SELECT q.queue_id, q.queue_name, c.oid, q.queue_name LIKE '%.fifo'"
	" FROM sqsn.queue q"
	" JOIN pg_class c ON c.relname = 'q_' || q.queue_id"
	"  AND c.relnamespace = 'sqsn'::regnamespace"
	" ORDER BY q.queue_name COLLATE \"C\"",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"listing queues"};

/*
 * The start of the rows function of a view with a row per queue
 * (sqsn.queue_stats, sqsn.queue_metrics): a materialized result, the
 * administrative bracket (sqsn_admin_begin; its level to *nestlevel, for
 * sqsn_admin_end) and the queues with their message tables
 * (queue_tables_stmt), *nqueues rows.
 */
SPITupleTable *
sqsn_begin_queue_rows(FunctionCallInfo fcinfo, int *nestlevel, uint64 *nqueues)
{
	InitMaterializedSRF(fcinfo, 0);
	*nestlevel = sqsn_admin_begin();
	*nqueues = sqsn_execute(&queue_tables_stmt, NULL, NULL, 0);
	return SPI_tuptable;
}

/*
 * Rows of the sqsn.queue_stats view: one per queue.
 */
Datum
sq_queue_stats_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz    now = GetCurrentTimestamp();
	int            nestlevel;
	uint64         nqueues;
	SPITupleTable *queues =
		sqsn_begin_queue_rows(fcinfo, &nestlevel, &nqueues);

	for (uint64 i = 0; i < nqueues; i++)
	{
		int64 queue_id = sqsn_spi_int64(queues->vals[i], queues->tupdesc, 1);
		Datum values[5];
		bool  nulls[5];

		CHECK_FOR_INTERRUPTS();
		values[0] =
			SPI_getbinval(queues->vals[i], queues->tupdesc, 2, &nulls[0]);
		count_messages(message_table_name(queue_id), now);
		for (int col = 1; col <= 4; col++)
			values[col] =
				SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
							  col, &nulls[col]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}

	sqsn_admin_end(nestlevel);
	return (Datum) 0;
}

/*
 * Creates the receipt-handle key (32 random bytes) if there is none.
 */
Datum
sq_init_handle_key(PG_FUNCTION_ARGS)
{
	uint8  secret[32];
	bytea *value = palloc(VARHDRSZ + sizeof(secret));
	Datum  key;
	int    nestlevel;

	if (!pg_strong_random(secret, sizeof(secret)))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not generate random bytes")));
	SET_VARSIZE(value, VARHDRSZ + sizeof(secret));
	memcpy(VARDATA(value), secret, sizeof(secret));
	key = PointerGetDatum(value);

	nestlevel = sqsn_admin_begin();
	sqsn_execute(&init_handle_key_stmt, &key, NULL, 0);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * Event trigger at DROP EXTENSION sqsn: drop the message tables first.
 * They are ordinary tables (so pg_dump keeps them), which would otherwise
 * make DROP EXTENSION fail for depending on the schema.
 */
Datum
sq_drop_message_tables(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	DropStmt         *stmt;
	bool              drops_sqsn = false;
	ListCell         *lc;
	int               nestlevel;
	SPITupleTable    *tables;
	uint64            ntables;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("sqsn.drop_message_tables() must be called as an "
						"event trigger")));

	trigdata = (EventTriggerData *) fcinfo->context;
	if (!IsA(trigdata->parsetree, DropStmt))
		PG_RETURN_VOID();
	stmt = (DropStmt *) trigdata->parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		PG_RETURN_VOID();
	foreach (lc, stmt->objects)
	{
		if (strcmp(strVal(lfirst(lc)), "sqsn") == 0)
			drops_sqsn = true;
	}
	if (!drops_sqsn)
		PG_RETURN_VOID();

	nestlevel = sqsn_admin_begin();

	sqsn_spi_check(
		SPI_execute("SELECT c.oid::regclass::text FROM pg_class c"
					" WHERE c.relnamespace = 'sqsn'::regnamespace"
					" AND c.relkind = 'r' AND c.relname ~ '^q_[0-9]+$'"
					" AND NOT EXISTS (SELECT FROM pg_depend d"
					"  WHERE d.classid = 'pg_class'::regclass"
					"  AND d.objid = c.oid AND d.deptype = 'e')",
					false, 0),
		SPI_OK_SELECT, "finding message tables");
	tables = SPI_tuptable;
	ntables = SPI_processed;
	for (uint64 i = 0; i < ntables; i++)
	{
		char *table = SPI_getvalue(tables->vals[i], tables->tupdesc, 1);

		sqsn_spi_check(SPI_execute(psprintf("DROP TABLE %s", table), false, 0),
					   SPI_OK_UTILITY, "dropping a message table");
	}

	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * Opens a queue for a change of its grants or owner (security/acl.c): its
 * message table locked against concurrent changes, and the caller checked
 * as its administrator.
 */
static void
open_queue_for_change(SqsnSecurable *target)
{
	SqsnQueue *queue = sqsn_open_queue(target->name, ShareUpdateExclusiveLock);

	sqsn_check_queue(queue, SQSN_ADMIN);
	target->id = queue->queue_id;
	target->relid = queue->relid;
}

/*
 * sq_grant(queue_name, role, actions): allows role (or PUBLIC) the actions
 * (send, receive, admin) on the queue. Granting again changes nothing.
 */
Datum
sq_grant(PG_FUNCTION_ARGS)
{
	sqsn_refuse_on_standby(fcinfo);
	sqsn_change_grants(fcinfo, false, true, open_queue_for_change);
	PG_RETURN_VOID();
}

/*
 * sq_revoke(queue_name, role, actions): takes back grants; revoking what
 * was never granted changes nothing. Takes effect at the next statement of
 * every session.
 */
Datum
sq_revoke(PG_FUNCTION_ARGS)
{
	sqsn_refuse_on_standby(fcinfo);
	sqsn_change_grants(fcinfo, false, false, open_queue_for_change);
	PG_RETURN_VOID();
}

/*
 * sq_set_queue_owner(queue_name, new_owner)
 */
Datum
sq_set_queue_owner(PG_FUNCTION_ARGS)
{
	sqsn_refuse_on_standby(fcinfo);
	sqsn_change_owner(fcinfo, false, open_queue_for_change);
	PG_RETURN_VOID();
}
