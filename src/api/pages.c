/*-------------------------------------------------------------------------
 *
 * pages.c
 *	  The endpoint's own pages, next to the AWS protocol on sqsn.api_port:
 *	  /metrics (prometheus.c) and /dashboard (dashboard.c).
 *
 * server.c hands a request whose path is one of these to api_page_run,
 * which runs it in its own transaction as the worker's role (the bootstrap
 * superuser); the dashboard switches to the role of its session for the
 * actions it runs. Every error is caught here, rolled back and answered:
 * 403 for a privilege error, 400 for another error a user can cause, 500
 * otherwise, as JSON under /dashboard/api/ and as text elsewhere.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "api/api.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

/* Settings of the pages; called from ApiInit. */
void
ApiPagesInit(void)
{
	ApiPrometheusInit();
	ApiDashboardInit();
}

/* Whether path is one of the endpoint's own pages. */
bool
api_is_page(const char *path)
{
	if (path == NULL)
		return false;
	if (strcmp(path, "/metrics") == 0)
		return true;
	return strncmp(path, "/dashboard", 10) == 0 &&
		   (path[10] == '\0' || path[10] == '/');
}

/* The value of a request header (lower-case name), or NULL. */
const char *
api_page_header(ApiPageRequest *req, const char *name)
{
	ListCell *lc;

	foreach (lc, req->headers)
	{
		ApiParam *p = lfirst(lc);

		if (strcmp(p->name, name) == 0)
			return p->value;
	}
	return NULL;
}

void
api_page_add_header(ApiPageResponse *resp, const char *name, const char *value)
{
	ApiParam *p = palloc(sizeof(ApiParam));

	p->name = pstrdup(name);
	p->value = pstrdup(value);
	resp->headers = lappend(resp->headers, p);
}

/* Sets the whole answer: status, type and body. */
void
api_page_text(ApiPageResponse *resp, int status, const char *content_type,
			  const char *text)
{
	resp->status = status;
	resp->content_type = content_type;
	resp->body = makeStringInfo();
	appendStringInfoString(resp->body, text);
}

/*
 * Copies the answer into cxt. A page builds it wherever SPI leaves
 * CurrentMemoryContext (each SPI call returns to SPI's own context, which
 * SPI_finish frees), so the answer is copied out before that.
 */
static void
keep_answer(ApiPageResponse *resp, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	List         *headers = NIL;
	ListCell     *lc;

	if (resp->body != NULL)
	{
		StringInfo body = makeStringInfo();

		appendBinaryStringInfo(body, resp->body->data, resp->body->len);
		resp->body = body;
	}
	if (resp->content_type != NULL)
		resp->content_type = pstrdup(resp->content_type);
	foreach (lc, resp->headers)
	{
		ApiParam *h = lfirst(lc);
		ApiParam *copy = palloc(sizeof(ApiParam));

		copy->name = pstrdup(h->name);
		copy->value = pstrdup(h->value);
		headers = lappend(headers, copy);
	}
	resp->headers = headers;
	MemoryContextSwitchTo(old);
}

/*
 * Runs a page request in its own transaction and fills in the answer;
 * never throws. The answer lives in the caller's memory context.
 */
void
api_page_run(ApiPageRequest *req, ApiPageResponse *resp)
{
	MemoryContext cxt = CurrentMemoryContext;
	bool          json = strncmp(req->path, "/dashboard/api/", 15) == 0;

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		MemoryContextSwitchTo(cxt);
		pgstat_report_activity(STATE_RUNNING, req->path);
		sqsn_spi_connect();
		PushActiveSnapshot(GetTransactionSnapshot());

		if (strcmp(req->path, "/metrics") == 0)
			api_prometheus(req, resp);
		else
			api_dashboard(req, resp);

		/* the answer outlives SPI */
		keep_answer(resp, cxt);
		PopActiveSnapshot();
		SPI_finish();
		SetCurrentRoleId(InvalidOid, false);
		CommitTransactionCommand();
		MemoryContextSwitchTo(cxt);
	}
	PG_CATCH();
	{
		ErrorData *edata;
		int        status;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		SetCurrentRoleId(InvalidOid, false);
		MemoryContextSwitchTo(cxt);

		if (edata->sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
			status = 403;
		else if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) ==
					 ERRCODE_DATA_EXCEPTION ||
				 ERRCODE_TO_CATEGORY(edata->sqlerrcode) ==
					 ERRCODE_SYNTAX_ERROR_OR_ACCESS_RULE_VIOLATION ||
				 ERRCODE_TO_CATEGORY(edata->sqlerrcode) ==
					 ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE ||
				 ERRCODE_TO_CATEGORY(edata->sqlerrcode) ==
					 ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
				 edata->sqlerrcode == ERRCODE_UNDEFINED_OBJECT)
			status = 400;
		else
		{
			status = 500;
			ereport(LOG, (errmsg("sqsn api: %s failed: %s", req->path,
								 edata->message)));
		}
		resp->headers = NIL;
		if (json)
		{
			StringInfoData buf;

			initStringInfo(&buf);
			appendStringInfoString(&buf, "{\"error\":");
			escape_json(&buf, edata->message ? edata->message : "error");
			appendStringInfoString(&buf, ",\"sqlstate\":");
			escape_json(&buf, unpack_sql_state(edata->sqlerrcode));
			appendStringInfoChar(&buf, '}');
			api_page_text(resp, status, "application/json", buf.data);
		}
		else
			api_page_text(resp, status, "text/plain; charset=utf-8",
						  status == 500 ? "internal error\n"
										: psprintf("%s\n", edata->message));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	api_page_add_header(resp, "Cache-Control", "no-store");
	api_page_add_header(resp, "X-Content-Type-Options", "nosniff");
}
