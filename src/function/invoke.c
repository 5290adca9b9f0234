/*-------------------------------------------------------------------------
 *
 * invoke.c
 *	  Calling a consumer's function: as a role, with a time limit, in a
 *	  subtransaction.
 *
 * The function runs as the owner of the mapping or subscription, as
 * pg_cron runs a job as the role that scheduled it: the user id is
 * switched for the call (SetUserIdAndSecContext) in a security-restricted
 * operation, as PostgreSQL itself does for the index expressions of VACUUM
 * or REFRESH MATERIALIZED VIEW. A worker runs the functions of many owners
 * one after the other, so nothing one function does may stay behind in the
 * session for the next: the restriction refuses SET ROLE and temporary
 * objects, and every setting the function changed, even with a plain SET,
 * is rolled back when it returns (the workers also release session-level
 * advisory locks after each transaction). The function starts with the
 * default search_path (that of postgresql.conf, or of the database), as a
 * new session of its owner would, not the pinned one of sqsn's functions.
 *
 * The time limit is PostgreSQL's statement timeout, armed for the call
 * only: when it fires, the function is cancelled like a statement that ran
 * too long. The call and the caller's after step (the delete of the batch)
 * run in one subtransaction, so an error or a timeout rolls back both, and
 * the caller's transaction goes on to record the outcome.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "function/function.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timeout.h"

static void invoke_step(void *arg);

/*
 * sqsn_subxact_try step: the call, then the caller's after step. On an
 * error the subtransaction's abort restores the user id and the settings.
 */
static void
invoke_step(void *arg)
{
	SqsnInvocation *inv = (SqsnInvocation *) arg;
	Oid             save_userid;
	int             save_sec_context;
	int             nestlevel;
	FmgrInfo        flinfo;
	LOCAL_FCINFO(fcinfo, 1);
	Datum result;
	bool  isnull;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(inv->role, save_sec_context |
										  SECURITY_LOCAL_USERID_CHANGE |
										  SECURITY_RESTRICTED_OPERATION);
	nestlevel = NewGUCNestLevel();
	/* the default search_path, whatever the caller runs with */
	(void) set_config_option(
		"search_path", GetConfigOptionResetString("search_path"), PGC_USERSET,
		PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);

	fmgr_info(inv->function, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(inv->event);
	fcinfo->args[0].isnull = false;

	if (inv->timeout_ms > 0)
		enable_timeout_after(STATEMENT_TIMEOUT, inv->timeout_ms);
	result = FunctionCallInvoke(fcinfo);
	isnull = fcinfo->isnull;
	disable_timeout(STATEMENT_TIMEOUT, false);

	AtEOXact_GUC(false, nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);

	if (inv->after)
		inv->after(inv->after_arg, result, isnull);
}

/*
 * Calls inv->function(inv->event) as inv->role, then inv->after, in a
 * subtransaction of the caller's transaction. Fills in the outcome: on an
 * error or a timeout everything the call and the after step did is rolled
 * back and inv->error says why. Requires a transaction and an SPI
 * connection (which stays usable).
 */
void
sqsn_invoke(SqsnInvocation *inv)
{
	ErrorData *edata;
	bool       ok;

	inv->started = GetCurrentTimestamp();
	ok = sqsn_subxact_try(invoke_step, inv, &edata);
	disable_timeout(STATEMENT_TIMEOUT, false);
	inv->duration_ms =
		(double) (GetCurrentTimestamp() - inv->started) / 1000.0;

	if (ok)
	{
		inv->outcome = SQSN_SUCCEEDED;
		inv->error = NULL;
		return;
	}
	if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED && inv->timeout_ms > 0 &&
		inv->duration_ms >= inv->timeout_ms)
	{
		inv->outcome = SQSN_TIMED_OUT;
		inv->error =
			psprintf("timed out after %d s", (inv->timeout_ms + 999) / 1000);
	}
	else
	{
		inv->outcome = SQSN_FAILED;
		inv->error = psprintf("%s: %s", unpack_sql_state(edata->sqlerrcode),
							  edata->message);
	}
	FreeErrorData(edata);
}

/*
 * The function a catalog names ("schema.name(jsonb)"), or InvalidOid when
 * there is none (to_regprocedure).
 */
Oid
sqsn_function_lookup(const char *name)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum result;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = CStringGetTextDatum(name);
	fcinfo->args[0].isnull = false;
	result = to_regprocedure(fcinfo);
	return fcinfo->isnull ? InvalidOid : DatumGetObjectId(result);
}
