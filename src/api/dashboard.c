/*-------------------------------------------------------------------------
 *
 * dashboard.c
 *	  /dashboard: a web page of queues, topics, subscriptions, workers and
 *	  storage health, with the administrative actions of the SQL API.
 *
 * The page itself is plain HTML, CSS and JavaScript installed with the
 * extension (src/api/dashboard/ -> <sharedir>/extension/sqsn_dashboard/,
 * read from disk at each request; no build step, nothing from elsewhere).
 * Its script polls /dashboard/api/state every few seconds and draws the
 * rates from the counters' differences.
 *
 * Sign-in: an access key and secret of sqsn.api_credentials, posted as
 * JSON to /dashboard/api/login, are exchanged for a session cookie:
 *
 *	 sqsn_session=v1.<key id>.<expiry>.<nonce>.<HMAC-SHA256>
 *
 * signed with a key drawn at server start and kept in shared memory (so
 * every endpoint worker accepts it; a restart ends every session). It is
 * HttpOnly, SameSite=Strict and limited to /dashboard; each request checks
 * the signature and the expiry, and that the key still exists and maps to
 * an existing role, so dropping a key ends its sessions. The session runs
 * as that role.
 *
 * What a session sees: the queues and topics its role has any action on
 * (all of them for sqsn_admin members and superusers) and the event source
 * mappings of those queues, read as the worker's role and filtered with
 * the same checks the SQL functions make (security/acl.c). The
 * administrative actions (purge, redrive, pause and resume a push
 * subscription or an event source mapping) run the SQL functions
 * themselves (sq_purge_queue, sq_redrive, sn_pause_subscription,
 * sn_resume_subscription, sq_update_event_source_mapping with enabled =>
 * false or true) as the session's role, so the same grants decide; the
 * page shows action buttons only where the role has the admin action, but
 * the server never relies on that.
 *
 * Cross-site requests: every POST must come from the page's own origin
 * (Origin and Sec-Fetch-Site, when sent, must say so), be JSON (which a
 * plain HTML form cannot send), and carry the session's CSRF token in an
 * X-Sqsn-Csrf header: HMAC(key, "csrf:" cookie), handed to the page in the
 * JSON answers, which another origin cannot read. Answers carry a
 * Content-Security-Policy that allows only the page's own files.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "api/api.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#define SESSION_COOKIE  "sqsn_session"
#define SESSION_SECONDS (12 * 3600)
#define ASSET_DIR       "extension/sqsn_dashboard"
#define MAX_ASSET_SIZE  (1024 * 1024)

#define CSP                                                                   \
	"default-src 'none'; script-src 'self'; style-src 'self'; "               \
	"img-src 'self' data:; connect-src 'self'; form-action 'self'; "          \
	"frame-ancestors 'none'; base-uri 'none'"

typedef struct DashboardShared
{
	uint8 key[32];
} DashboardShared;

/* A signed-in session. */
typedef struct Session
{
	char *cookie;        /* the cookie's value */
	char *access_key_id; /* its key */
	Oid   roleid;
	char  csrf[65];
} Session;

static DashboardShared *dashboard_shared = NULL;

/* The files of the page: the only ones served. */
static const struct
{
	const char *path;
	const char *file;
	const char *type;
} assets[] = {
	{"/dashboard/", "index.html", "text/html; charset=utf-8"},
	{"/dashboard/index.html", "index.html", "text/html; charset=utf-8"},
	{"/dashboard/dashboard.css", "dashboard.css", "text/css; charset=utf-8"},
	{"/dashboard/dashboard.js", "dashboard.js",
	 "text/javascript; charset=utf-8"},
};

static void dashboard_shmem_init(void *ptr);

/* Its shared memory: the session key. Called from ApiPagesInit. */
void
ApiDashboardInit(void)
{
	sqsn_shmem_add("sqsn dashboard", sizeof(DashboardShared), 0, NULL,
				   dashboard_shmem_init, (void **) &dashboard_shared);
}

static void
dashboard_shmem_init(void *ptr)
{
	DashboardShared *shared = (DashboardShared *) ptr;

	if (!pg_strong_random(shared->key, sizeof(shared->key)))
		elog(FATAL, "could not generate the dashboard's session key");
}

/* Sessions --------------------------------------------------------------- */

/* HMAC-SHA256 of text under the session key, as 64 hex digits. */
static void
sign(const char *text, char *hex)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int  len = 0;

	if (HMAC(EVP_sha256(), dashboard_shared->key,
			 sizeof(dashboard_shared->key), (const unsigned char *) text,
			 strlen(text), mac, &len) == NULL ||
		len != 32)
		elog(ERROR, "could not compute HMAC-SHA256");
	for (unsigned int i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
}

static bool
valid_key_id(const char *s, size_t len)
{
	if (len < 16 || len > 128)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* The value of the session cookie of the request, or NULL. */
static char *
session_cookie(ApiPageRequest *req)
{
	const char *header = api_page_header(req, "cookie");
	const char *p = header;
	size_t      name_len = strlen(SESSION_COOKIE);

	while (p != NULL && *p)
	{
		const char *end;

		while (*p == ' ' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (strncmp(p, SESSION_COOKIE, name_len) == 0 && p[name_len] == '=')
		{
			p += name_len + 1;
			return end ? pnstrdup(p, end - p) : pstrdup(p);
		}
		p = end;
	}
	return NULL;
}

/*
 * The request's session, or NULL when it has none that is valid: a
 * cookie signed by this server, not expired, whose key and role exist.
 */
static Session *
current_session(ApiPageRequest *req)
{
	char    *cookie = session_cookie(req);
	char    *parts[5];
	char    *copy;
	char    *signed_part;
	char     mac[65];
	int      n = 0;
	Session *session;
	long     expires;

	if (cookie == NULL || dashboard_shared == NULL || strlen(cookie) > 400)
		return NULL;
	copy = pstrdup(cookie);
	for (char *p = copy; n < 5; n++)
	{
		parts[n] = p;
		p = strchr(p, '.');
		if (p == NULL)
		{
			n++;
			break;
		}
		*p++ = '\0';
	}
	if (n != 5 || strcmp(parts[0], "v1") != 0 ||
		!valid_key_id(parts[1], strlen(parts[1])) || strlen(parts[4]) != 64)
		return NULL;
	signed_part = pnstrdup(cookie, parts[4] - copy - 1);
	sign(signed_part, mac);
	if (CRYPTO_memcmp(mac, parts[4], 64) != 0)
		return NULL;
	expires = strtol(parts[2], NULL, 10);
	if (expires <=
		(long) (GetCurrentTimestamp() / USECS_PER_SEC +
				(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY))
		return NULL;

	session = palloc0(sizeof(Session));
	session->cookie = cookie;
	session->access_key_id = pstrdup(parts[1]);
	session->roleid = api_key_role(session->access_key_id);
	if (!OidIsValid(session->roleid))
		return NULL;
	sign(psprintf("csrf:%s", cookie), session->csrf);
	return session;
}

/* A new session cookie for an access key. */
static char *
new_session_cookie(const char *access_key_id)
{
	char *nonce = sqsn_random_hex(16);
	long  expires =
		(long) (GetCurrentTimestamp() / USECS_PER_SEC +
				(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY) +
		SESSION_SECONDS;
	char *signed_part =
		psprintf("v1.%s.%ld.%s", access_key_id, expires, nonce);
	char mac[65];

	sign(signed_part, mac);
	return psprintf("%s.%s", signed_part, mac);
}

static void
set_cookie(ApiPageRequest *req, ApiPageResponse *resp, const char *value,
		   int max_age)
{
	const char *proto = api_page_header(req, "x-forwarded-proto");

	api_page_add_header(
		resp, "Set-Cookie",
		psprintf("%s=%s; Path=/dashboard; Max-Age=%d; HttpOnly; "
				 "SameSite=Strict%s",
				 SESSION_COOKIE, value, max_age,
				 proto && strcmp(proto, "https") == 0 ? "; Secure" : ""));
}

/*
 * Whether a POST comes from the page's own origin, as JSON: the first
 * line of defence against cross-site requests (the CSRF token is the
 * second).
 */
static bool
same_origin_json(ApiPageRequest *req)
{
	const char *origin = api_page_header(req, "origin");
	const char *host = api_page_header(req, "host");
	const char *site = api_page_header(req, "sec-fetch-site");
	const char *type = api_page_header(req, "content-type");

	if (type == NULL || pg_strncasecmp(type, "application/json", 16) != 0)
		return false;
	if (site != NULL && strcmp(site, "same-origin") != 0)
		return false;
	if (origin != NULL)
	{
		if (host == NULL)
			return false;
		if (strcmp(origin, psprintf("http://%s", host)) != 0 &&
			strcmp(origin, psprintf("https://%s", host)) != 0)
			return false;
	}
	return true;
}

/* JSON answers ------------------------------------------------------------ */

static void
json_answer(ApiPageResponse *resp, int status, StringInfo body)
{
	resp->status = status;
	resp->content_type = "application/json";
	resp->body = body;
}

static void
json_error(ApiPageResponse *resp, int status, const char *message)
{
	StringInfo body = makeStringInfo();

	appendStringInfoChar(body, '{');
	sqsn_json_string(body, "error", message);
	appendStringInfoChar(body, '}');
	json_answer(resp, status, body);
}

/* A string member of the request's JSON body, or NULL. */
static char *
body_member(Jsonb *body, const char *name)
{
	JsonbValue  key;
	JsonbValue *v;

	if (body == NULL)
		return NULL;
	key.type = jbvString;
	key.val.string.val = (char *) name;
	key.val.string.len = strlen(name);
	v = findJsonbValueFromContainer(&body->root, JB_FOBJECT, &key);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static Jsonb *
request_json(ApiPageRequest *req)
{
	Jsonb *json;

	if (req->body == NULL || req->body_len == 0 ||
		strlen(req->body) != req->body_len)
		return NULL;
	json = DatumGetJsonbP(
		DirectFunctionCall1(jsonb_in, CStringGetDatum(req->body)));
	return JB_ROOT_IS_OBJECT(json) ? json : NULL;
}

/* State ------------------------------------------------------------------- */

static const char *const queues_sql =
	"SELECT q.queue_name, jsonb_build_object("
	" 'name', q.queue_name, 'kind', q.kind,"
	" 'visible', m.\"ApproximateNumberOfMessagesVisible\","
	" 'in_flight', m.\"ApproximateNumberOfMessagesNotVisible\","
	" 'delayed', m.\"ApproximateNumberOfMessagesDelayed\","
	" 'oldest_age', m.\"ApproximateAgeOfOldestMessage\","
	" 'groups_in_flight', m.\"ApproximateNumberOfGroupsWithInflightMessages\","
	" 'depth_exact', m.depth_exact,"
	" 'sent', m.\"NumberOfMessagesSent\","
	" 'received', m.\"NumberOfMessagesReceived\","
	" 'deleted', m.\"NumberOfMessagesDeleted\","
	" 'empty_receives', m.\"NumberOfEmptyReceives\","
	" 'dead_lettered', m.messages_dead_lettered,"
	" 'redriven', m.messages_redriven,"
	" 'dead_letter_queue', d.queue_name,"
	" 'max_receive_count', q.max_receive_count,"
	" 'sources', COALESCE((SELECT jsonb_agg(s.queue_name ORDER BY"
	"  s.queue_name COLLATE \"C\") FROM sqsn.queue s"
	"  WHERE s.dead_letter_queue_id = q.queue_id), '[]'),"
	" 'subscription_sources', (SELECT count(*) FROM sqsn.subscription s"
	"  WHERE s.dead_letter_queue_id = q.queue_id),"
	" 'size_bytes', pg_catalog.pg_total_relation_size(c.oid),"
	" 'live_tuples', pg_catalog.pg_stat_get_live_tuples(c.oid),"
	" 'dead_tuples', pg_catalog.pg_stat_get_dead_tuples(c.oid),"
	" 'last_vacuum', GREATEST(pg_catalog.pg_stat_get_last_vacuum_time(c.oid),"
	"  pg_catalog.pg_stat_get_last_autovacuum_time(c.oid)),"
	" 'low_water_hard', lw.hard_after, 'low_water_soft', lw.soft_after"
	")::text"
	" FROM sqsn.queue_metrics m"
	" JOIN sqsn.queue q ON q.queue_name = m.queue_name"
	" LEFT JOIN sqsn.queue d ON d.queue_id = q.dead_letter_queue_id"
	" JOIN pg_catalog.pg_class c ON c.relname = 'q_' || q.queue_id"
	"  AND c.relnamespace = 'sqsn'::regnamespace"
	" LEFT JOIN sqsn.queue_low_water lw ON lw.queue_name = q.queue_name"
	" ORDER BY q.queue_name COLLATE \"C\"";

static const char *const topics_sql =
	"SELECT t.topic_id, t.topic_name FROM sqsn.topic t"
	" ORDER BY t.topic_name COLLATE \"C\"";

static const char *const subscriptions_sql =
	"SELECT s.topic_id, s.owner::text, s.subscription_id,"
	" jsonb_build_object("
	" 'id', s.subscription_id, 'protocol', s.protocol,"
	" 'confirmed', st.confirmed,"
	" 'paused', COALESCE((to_jsonb(s)->>'paused')::boolean, false),"
	" 'pending', st.pending,"
	" 'oldest_pending_age', extract(epoch FROM st.oldest_pending_age),"
	" 'delivered', st.delivered, 'failed', st.failed,"
	" 'dead_lettered', st.dead_lettered,"
	" 'last_error', e.error, 'last_error_at', e.attempted_at)::text,"
	" COALESCE(q.queue_name, s.endpoint),"
	" COALESCE(q.queue_name, substring(s.endpoint FROM '^[a-z]+://[^/?#]+'))"
	" FROM sqsn.subscription s"
	" JOIN sqsn.subscription_stats st USING (subscription_id)"
	" LEFT JOIN sqsn.queue q ON q.queue_id = s.queue_id"
	" LEFT JOIN LATERAL (SELECT a.error, a.attempted_at"
	"  FROM sqsn.delivery_attempt a"
	"  WHERE a.subscription_id = s.subscription_id AND a.error IS NOT NULL"
	"  ORDER BY a.attempted_at DESC LIMIT 1) e ON true"
	" WHERE s.topic_id = $1"
	" ORDER BY s.created_at, s.subscription_id";

static const char *const mappings_sql =
	"SELECT st.queue_name, jsonb_build_object("
	" 'id', st.mapping_id, 'queue', st.queue_name,"
	" 'function', st.function_name, 'state', st.state,"
	" 'paused_reason', m.paused_reason,"
	" 'invocations', st.invocations,"
	" 'errors', st.failed + st.timed_out,"
	" 'messages_deleted', st.messages_deleted,"
	" 'avg_duration_ms', st.avg_duration_ms,"
	" 'last_invocation_at', st.last_invocation_at)::text"
	" FROM sqsn.event_source_mapping_stats st"
	" JOIN sqsn.event_source_mapping m USING (mapping_id)"
	" ORDER BY st.queue_name COLLATE \"C\", st.function_name COLLATE \"C\"";

static const char *const server_sql =
	"SELECT jsonb_build_object("
	" 'maintenance', (SELECT to_jsonb(w) FROM sqsn.worker_status w LIMIT 1),"
	" 'processes', COALESCE((SELECT jsonb_object_agg(k, n) FROM ("
	"  SELECT backend_type AS k, count(*) AS n"
	"  FROM pg_catalog.pg_stat_activity"
	"  WHERE backend_type IN ('sqsn worker', 'sqsn delivery worker',"
	"   'sqsn api') GROUP BY 1) x), '{}'),"
	" 'xmin_horizon_age', COALESCE((SELECT max(extract(epoch FROM"
	"  now() - xact_start)) FROM pg_catalog.pg_stat_activity"
	"  WHERE backend_xmin IS NOT NULL), 0),"
	" 'outbox_pending', (SELECT count(*) FROM sqsn.delivery"
	"  WHERE status = 'pending'),"
	" 'now', now())::text";

/*
 * The object text of a row, with more members added before its '}': more
 * is a list of members without a leading comma, as sqsn_json_* write
 * them into an empty buffer.
 */
static void
append_object(StringInfo buf, const char *object, const char *more)
{
	size_t len = strlen(object);

	Assert(len > 1 && object[0] == '{' && object[len - 1] == '}');
	appendBinaryStringInfo(buf, object, len - 1);
	if (len > 2 && more[0] != '\0')
		appendStringInfoChar(buf, ',');
	appendStringInfoString(buf, more);
	appendStringInfoChar(buf, '}');
}

/*
 * Member key: an array of the objects that query's rows give (column 2),
 * those of the queues (column 1) the role has any action on, each with
 * can_admin where the role has the admin action on the queue.
 */
static void
state_queue_rows(StringInfo buf, Oid roleid, const char *key,
				 const char *query)
{
	SPITupleTable *rows;
	uint64         n;
	bool           first = true;

	sqsn_spi_check(SPI_execute(query, true, 0), SPI_OK_SELECT,
				   psprintf("reading the %s", key));
	rows = SPI_tuptable;
	n = SPI_processed;
	sqsn_json_key(buf, key);
	appendStringInfoChar(buf, '[');
	for (uint64 i = 0; i < n; i++)
	{
		char      *name = SPI_getvalue(rows->vals[i], rows->tupdesc, 1);
		SqsnQueue *queue = sqsn_open_queue(name, AccessShareLock);

		if (!sqsn_queue_allows(queue, roleid, SQSN_ANY_ACTION))
			continue;
		if (!first)
			appendStringInfoChar(buf, ',');
		first = false;
		append_object(buf, SPI_getvalue(rows->vals[i], rows->tupdesc, 2),
					  sqsn_queue_allows(queue, roleid, SQSN_ADMIN)
						  ? "\"can_admin\":true"
						  : "\"can_admin\":false");
	}
	appendStringInfoChar(buf, ']');
}

static void
state_subscriptions(StringInfo buf, int64 topic_id, bool topic_admin,
					Oid roleid)
{
	SPITupleTable *rows;
	uint64         n;
	Oid            type = INT8OID;
	Datum          arg = Int64GetDatum(topic_id);

	sqsn_spi_check(SPI_execute_with_args(subscriptions_sql, 1, &type, &arg,
										 NULL, true, 0),
				   SPI_OK_SELECT, "reading the subscriptions");
	rows = SPI_tuptable;
	n = SPI_processed;
	appendStringInfoChar(buf, '[');
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple t = rows->vals[i];
		bool      isnull;
		bool      admin = topic_admin ||
					 sqsn_role_owns(SPI_getvalue(t, rows->tupdesc, 2), roleid);
		Datum          id = SPI_getbinval(t, rows->tupdesc, 3, &isnull);
		uint64         counts[PMETRIC_COUNT];
		StringInfoData more;
		char *endpoint = SPI_getvalue(t, rows->tupdesc, admin ? 5 : 6);

		initStringInfo(&more);
		sqsn_json_string(&more, "endpoint", endpoint ? endpoint : "");
		sqsn_json_bool(&more, "can_admin", admin);
		if (sqsn_delivery_metrics_read(DatumGetUUIDP(id), counts))
		{
			uint64 posts =
				counts[PMETRIC_DELIVERED] + counts[PMETRIC_FAILED_ATTEMPTS];

			appendStringInfo(
				&more,
				",\"posts\":" UINT64_FORMAT ",\"retries\":" UINT64_FORMAT
				",\"latency_ms_avg\":%.1f",
				posts, counts[PMETRIC_RETRIES],
				posts ? counts[PMETRIC_LATENCY_SUM_US] / 1000.0 / posts : 0.0);
		}
		if (i > 0)
			appendStringInfoChar(buf, ',');
		append_object(buf, SPI_getvalue(t, rows->tupdesc, 4), more.data);
	}
	appendStringInfoChar(buf, ']');
}

static void
state_topics(StringInfo buf, Oid roleid)
{
	SPITupleTable *rows;
	uint64         n;
	bool           first = true;

	sqsn_spi_check(SPI_execute(topics_sql, true, 0), SPI_OK_SELECT,
				   "reading the topics");
	rows = SPI_tuptable;
	n = SPI_processed;
	sqsn_json_key(buf, "topics");
	appendStringInfoChar(buf, '[');
	for (uint64 i = 0; i < n; i++)
	{
		int64 topic_id = sqsn_spi_int64(rows->vals[i], rows->tupdesc, 1);
		char *name = SPI_getvalue(rows->vals[i], rows->tupdesc, 2);
		bool  admin = sqsn_topic_allows(topic_id, roleid, SQSN_ADMIN);

		if (!admin && !sqsn_topic_allows(topic_id, roleid, SQSN_PUBLISH) &&
			!sqsn_topic_allows(topic_id, roleid, SQSN_SUBSCRIBE))
			continue;
		if (!first)
			appendStringInfoChar(buf, ',');
		first = false;
		appendStringInfoChar(buf, '{');
		sqsn_json_string(buf, "name", name);
		sqsn_json_bool(buf, "can_admin", admin);
		sqsn_json_key(buf, "subscriptions");
		state_subscriptions(buf, topic_id, admin, roleid);
		appendStringInfoChar(buf, '}');
	}
	appendStringInfoChar(buf, ']');
}

static void
state(ApiPageResponse *resp, Session *session)
{
	StringInfo buf = makeStringInfo();

	appendStringInfoChar(buf, '{');
	sqsn_json_string(buf, "role", GetUserNameFromId(session->roleid, false));
	sqsn_json_string(buf, "access_key_id", session->access_key_id);
	sqsn_json_bool(buf, "sqsn_admin", sqsn_is_admin(session->roleid));
	sqsn_json_string(buf, "csrf", session->csrf);
	state_queue_rows(buf, session->roleid, "queues", queues_sql);
	state_topics(buf, session->roleid);
	/* event source mappings, with their exact counts */
	state_queue_rows(buf, session->roleid, "mappings", mappings_sql);
	sqsn_spi_check(SPI_execute(server_sql, true, 0), SPI_OK_SELECT,
				   "reading the workers");
	sqsn_json_raw(
		buf, "server",
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	appendStringInfoChar(buf, '}');
	json_answer(resp, 200, buf);
}

/* Actions ----------------------------------------------------------------- */

/*
 * Runs an administrative action as the session's role through the SQL
 * function everyone else calls: its grants decide.
 */
static void
action(ApiPageResponse *resp, Session *session, Jsonb *body)
{
	char      *what = body_member(body, "action");
	char      *sql;
	Oid        types[2] = {TEXTOID, TEXTOID};
	Datum      values[2];
	char       nulls[2] = {' ', 'n'};
	int        nargs = 1;
	char      *target;
	StringInfo out;
	char      *result;

	if (what == NULL)
	{
		json_error(resp, 400, "the request names no action");
		return;
	}
	if (strcmp(what, "purge") == 0)
		sql = "SELECT sqsn.sq_purge_queue($1)";
	else if (strcmp(what, "redrive") == 0)
	{
		char *destination = body_member(body, "destination");

		sql = "SELECT sqsn.sq_redrive($1, $2)";
		nargs = 2;
		if (destination != NULL && destination[0] != '\0')
		{
			values[1] = CStringGetTextDatum(destination);
			nulls[1] = ' ';
		}
	}
	else if (strcmp(what, "pause") == 0)
		sql = "SELECT sqsn.sn_pause_subscription($1::uuid)";
	else if (strcmp(what, "resume") == 0)
		sql = "SELECT sqsn.sn_resume_subscription($1::uuid)";
	else if (strcmp(what, "pause_mapping") == 0)
		sql = "SELECT sqsn.sq_update_event_source_mapping($1::uuid,"
			  " enabled => false)";
	else if (strcmp(what, "resume_mapping") == 0)
		sql = "SELECT sqsn.sq_update_event_source_mapping($1::uuid,"
			  " enabled => true)";
	else
	{
		json_error(resp, 400, "unknown action");
		return;
	}
	if (strcmp(what, "pause") == 0 || strcmp(what, "resume") == 0)
		target = body_member(body, "subscription");
	else if (strcmp(what, "pause_mapping") == 0 ||
			 strcmp(what, "resume_mapping") == 0)
		target = body_member(body, "mapping");
	else
		target = body_member(body, "queue");
	if (target == NULL)
	{
		json_error(resp, 400,
				   "the action names no queue, subscription or mapping");
		return;
	}
	values[0] = CStringGetTextDatum(target);

	SetCurrentRoleId(session->roleid, superuser_arg(session->roleid));
	sqsn_spi_check(
		SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0),
		SPI_OK_SELECT, "running the action");
	result = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SetCurrentRoleId(InvalidOid, false);

	out = makeStringInfo();
	appendStringInfoChar(out, '{');
	sqsn_json_bool(out, "ok", true);
	sqsn_json_string(out, "action", what);
	if (result != NULL)
		sqsn_json_string(out, "result", result);
	appendStringInfoChar(out, '}');
	json_answer(resp, 200, out);
}

static void
login(ApiPageRequest *req, ApiPageResponse *resp)
{
	Jsonb     *body = request_json(req);
	char      *key = body_member(body, "access_key_id");
	char      *secret = body_member(body, "secret_access_key");
	Oid        roleid;
	char      *cookie;
	StringInfo out;
	char       csrf[65];

	if (key == NULL || secret == NULL)
	{
		json_error(resp, 400, "give access_key_id and secret_access_key");
		return;
	}
	roleid = api_check_secret(key, secret);
	OPENSSL_cleanse(secret, strlen(secret));
	if (!OidIsValid(roleid))
	{
		json_error(resp, 401, "unknown access key or wrong secret");
		return;
	}
	cookie = new_session_cookie(key);
	set_cookie(req, resp, cookie, SESSION_SECONDS);
	sign(psprintf("csrf:%s", cookie), csrf);
	out = makeStringInfo();
	appendStringInfoChar(out, '{');
	sqsn_json_string(out, "role", GetUserNameFromId(roleid, false));
	sqsn_json_string(out, "csrf", csrf);
	appendStringInfoChar(out, '}');
	json_answer(resp, 200, out);
}

/* /dashboard/api/... */
static void
api_request(ApiPageRequest *req, ApiPageResponse *resp)
{
	const char *name = req->path + strlen("/dashboard/api/");
	bool        post = strcmp(req->method, "POST") == 0;
	Session    *session;
	const char *token;

	if (post && !same_origin_json(req))
	{
		json_error(resp, 403, "cross-site request refused");
		return;
	}
	if (strcmp(name, "login") == 0 && post)
	{
		login(req, resp);
		return;
	}

	session = current_session(req);
	if (session == NULL)
	{
		json_error(resp, 401, "not signed in");
		return;
	}
	if (strcmp(name, "state") == 0 && strcmp(req->method, "GET") == 0)
	{
		state(resp, session);
		return;
	}
	if (!post)
	{
		json_error(resp, 405, "use POST");
		return;
	}
	token = api_page_header(req, "x-sqsn-csrf");
	if (token == NULL || strlen(token) != 64 ||
		CRYPTO_memcmp(token, session->csrf, 64) != 0)
	{
		json_error(resp, 403, "missing or wrong CSRF token");
		return;
	}
	if (strcmp(name, "logout") == 0)
	{
		StringInfo out = makeStringInfo();

		set_cookie(req, resp, "", 0);
		appendStringInfoString(out, "{\"ok\":true}");
		json_answer(resp, 200, out);
	}
	else if (strcmp(name, "action") == 0)
		action(resp, session, request_json(req));
	else
		json_error(resp, 404, "no such call");
}

/* Files ------------------------------------------------------------------- */

static bool
serve_asset(ApiPageRequest *req, ApiPageResponse *resp)
{
	char       share[MAXPGPATH];
	char      *path;
	StringInfo body;
	int        i;

	for (i = 0; i < lengthof(assets); i++)
		if (strcmp(req->path, assets[i].path) == 0)
			break;
	if (i == lengthof(assets))
		return false;
	get_share_path(my_exec_path, share);
	path = psprintf("%s/%s/%s", share, ASSET_DIR, assets[i].file);
	body = makeStringInfo();
	if (!sqsn_read_file(path, MAX_ASSET_SIZE, body))
	{
		ereport(LOG, (errcode_for_file_access(),
					  errmsg("sqsn api: could not open \"%s\": %m", path)));
		api_page_text(resp, 404, "text/plain; charset=utf-8",
					  "the dashboard's files are not installed\n");
		return true;
	}
	resp->status = 200;
	resp->content_type = assets[i].type;
	resp->body = body;
	return true;
}

/*
 * /dashboard and everything under it. Runs in the page's transaction
 * (pages.c), with SPI.
 */
void
api_dashboard(ApiPageRequest *req, ApiPageResponse *resp)
{
	api_page_add_header(resp, "Content-Security-Policy", CSP);
	api_page_add_header(resp, "X-Frame-Options", "DENY");
	api_page_add_header(resp, "Referrer-Policy", "no-referrer");

	if (req->too_large)
	{
		api_page_text(resp, 413, "text/plain; charset=utf-8",
					  "request too large\n");
		return;
	}
	if (strcmp(req->path, "/dashboard") == 0)
	{
		api_page_text(resp, 302, "text/plain; charset=utf-8", "/dashboard/\n");
		api_page_add_header(resp, "Location", "/dashboard/");
		return;
	}
	if (strncmp(req->path, "/dashboard/api/", 15) == 0)
	{
		api_request(req, resp);
		return;
	}
	if (strcmp(req->method, "GET") == 0 && serve_asset(req, resp))
		return;
	api_page_text(resp, 404, "text/plain; charset=utf-8", "not found\n");
}
