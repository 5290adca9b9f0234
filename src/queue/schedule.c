/*-------------------------------------------------------------------------
 *
 * schedule.c
 *	  Recurring sends through pg_cron: sq_schedule_send and
 *	  sq_unschedule_send.
 *
 * A scheduled send is a pg_cron job in the current database whose command
 * is a call of sqsn.sq_send with the queue name, body and attributes as
 * quoted literals. The queue, body and attributes are checked when the
 * job is scheduled, so a typo fails now rather than every minute later.
 *
 * Unlike the rest of the API these functions are SECURITY INVOKER: pg_cron
 * runs a job as the role that scheduled it, and that must be the caller
 * (who needs sqsn_producer for the send to work), not the extension owner.
 * So they read the queue through sq_get_queue_attributes, which every sqsn
 * role may call, rather than the catalog.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(sq_schedule_send);
PG_FUNCTION_INFO_V1(sq_unschedule_send);

static void require_pg_cron(void);

/*
 * pg_cron must be installed in this database.
 */
static void
require_pg_cron(void)
{
	if (!OidIsValid(get_extension_oid("pg_cron", true)))
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("scheduled sends need the extension pg_cron in "
							   "this database"),
						errhint("Add pg_cron to shared_preload_libraries, set "
								"cron.database_name to this database and run "
								"CREATE EXTENSION pg_cron.")));
}

/*
 * sq_schedule_send(job_name, schedule, queue_name, message_body,
 * message_attributes): schedules a recurring send with pg_cron (cron
 * syntax, e.g. '0 * * * *' for every hour); returns the pg_cron job id. Scheduling a
 * job name again replaces that job.
 */
Datum
sq_schedule_send(PG_FUNCTION_ARGS)
{
	char  *job_name = sqsn_text_arg(fcinfo, 0, "job_name");
	char  *schedule = sqsn_text_arg(fcinfo, 1, "schedule");
	char  *queue_name = sqsn_text_arg(fcinfo, 2, "queue_name");
	char  *body = sqsn_text_arg(fcinfo, 3, "message_body");
	Jsonb *attributes = PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4);
	int64  attributes_size = 0;
	int64  maximum_message_size;
	char  *command;
	Oid    argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum  values[3];
	bool   isnull;
	int64  jobid;
	int    ret;

	sqsn_refuse_on_standby(fcinfo);
	if (sqsn_is_fifo_name(queue_name))
		ereport(
			ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("scheduled sends to FIFO queues are not supported"),
			 errdetail("Queue \"%s\" is a FIFO queue; each send to it needs "
					   "a message group and a deduplication id.",
					   queue_name),
			 errhint("Schedule a call of sqsn.sq_send() with those ids "
					 "with pg_cron directly.")));
	if (job_name[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("job_name must not be empty")));
	if (body[0] == '\0')
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("message body must not be empty")));
	require_pg_cron();

	sqsn_spi_connect();

	/* the checks a send would make, now */
	values[0] = CStringGetTextDatum(queue_name);
	ret = SPI_execute_with_args(
		"SELECT (sqsn.sq_get_queue_attributes($1)"
		" OPERATOR(pg_catalog.->>) 'MaximumMessageSize')::bigint,"
		" (sqsn.sq_get_queue_attributes($1)"
		" OPERATOR(pg_catalog.->>) 'SqsManagedSseEnabled')::boolean",
		1, argtypes, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "reading queue \"%s\" failed: %s", queue_name,
			 SPI_result_code_string(ret));
	maximum_message_size = DatumGetInt64(SPI_getbinval(
		SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	/* the job's command would keep the body in the clear in cron.job */
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
								   SPI_tuptable->tupdesc, 2, &isnull)) &&
		!isnull)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot schedule sends to encrypted queue \"%s\"",
						queue_name),
				 errdetail("A scheduled send keeps the message body in the "
						   "clear in pg_cron's job table."),
				 errhint("Schedule a call of a function of your own that "
						 "sends the message instead.")));
	if (attributes != NULL)
		(void) sqsn_normalize_attributes(attributes, &attributes_size);
	if ((int64) strlen(body) + attributes_size > maximum_message_size)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("message is too large for queue \"%s\"", queue_name)));

	command = psprintf(
		"SELECT sqsn.sq_send(%s, %s, %s)", quote_literal_cstr(queue_name),
		quote_literal_cstr(body),
		attributes == NULL
			? "NULL"
			: psprintf("%s::jsonb",
					   quote_literal_cstr(JsonbToCString(
						   NULL, &attributes->root, VARSIZE(attributes)))));

	values[0] = CStringGetTextDatum(job_name);
	values[1] = CStringGetTextDatum(schedule);
	values[2] = CStringGetTextDatum(command);
	ret = SPI_execute_with_args("SELECT cron.schedule($1, $2, $3)", 3,
								argtypes, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cron.schedule failed: %s", SPI_result_code_string(ret));
	jobid = sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

	SPI_finish();
	PG_RETURN_INT64(jobid);
}

/*
 * sq_unschedule_send(job_name): removes the caller's pg_cron job of that
 * name; false when there is none.
 */
Datum
sq_unschedule_send(PG_FUNCTION_ARGS)
{
	char *job_name = sqsn_text_arg(fcinfo, 0, "job_name");
	Oid   argtypes[1] = {TEXTOID};
	Datum values[1];
	bool  found;
	int   ret;

	sqsn_refuse_on_standby(fcinfo);
	require_pg_cron();
	sqsn_spi_connect();

	values[0] = CStringGetTextDatum(job_name);
	sqsn_spi_check(SPI_execute_with_args(
					   "SELECT FROM cron.job"
					   " WHERE jobname OPERATOR(pg_catalog.=) $1"
					   " AND username OPERATOR(pg_catalog.=) CURRENT_USER",
					   1, argtypes, values, NULL, false, 1),
				   SPI_OK_SELECT, "reading cron.job");
	found = SPI_processed > 0;
	if (found)
	{
		ret = SPI_execute_with_args("SELECT cron.unschedule($1)", 1, argtypes,
									values, NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "cron.unschedule failed: %s",
				 SPI_result_code_string(ret));
	}

	SPI_finish();
	PG_RETURN_BOOL(found);
}
