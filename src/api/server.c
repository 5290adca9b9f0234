/*-------------------------------------------------------------------------
 *
 * server.c
 *	  The AWS-compatible endpoint's HTTP server: sqsn.api_workers background
 *	  workers, each running libmicrohttpd without threads, all listening on
 *	  sqsn.api_port (SO_REUSEPORT, so the kernel spreads connections), in
 *	  plain HTTP or, with the TLS files set, HTTPS (tls.c).
 *
 * libmicrohttpd parses HTTP; its epoll descriptor goes into the worker's
 * WaitEventSet next to the latch, and MHD_run() does the work whenever one
 * of them is ready. A request is read whole (at most
 * sqsn.api_max_request_size bytes), then run inside the access-handler
 * callback in its own transaction: authenticated (auth.c), switched to
 * the role of its access key as SET ROLE would, and handed to the SQS or
 * SNS actions, which call the same SQL functions as SQL users do. Every
 * error is caught there, rolled back and answered in the AWS error shape;
 * nothing longjmps through libmicrohttpd.
 *
 * Transactions commit without waiting for their WAL to reach disk; the
 * answer waits instead. The connection is suspended, and once the worker
 * has run every request that is ready, one XLogFlush (and, with
 * synchronous replication, one wait for the standbys) covers them all,
 * after which their answers go out. So a worker's requests share flushes
 * as concurrent backends' commits do, and an answer still means what it
 * means to a SQL client under the configured synchronous_commit: the
 * change is durable. (A writing transaction's commit record follows the
 * commits of everything it saw, so its flush covers those too; read-only
 * requests wait for nothing, as read-only transactions do in PostgreSQL.)
 *
 * On a hot standby the workers start once the standby is consistent and
 * serve the actions that only read (ListQueues, GetQueueAttributes,
 * ListTopics, ...); every action that writes is answered with
 * ServiceUnavailable (api_run_action). Each request is a transaction of
 * its own, so the first request after a promotion already writes: the
 * workers notice the promotion in their loop only to log it.
 *
 * A ReceiveMessage that finds nothing and may wait is suspended
 * (MHD_suspend_connection) rather than slept on: the worker keeps serving
 * other connections. It watches the queue's long-poll slot (queue/longpoll.c); a
 * sender's commit sets the worker's latch, the receive is run again, and
 * the connection resumed once it has messages or its wait is over.
 *
 * Each worker holds at most sqsn.api_max_connections connections on each
 * address (libmicrohttpd's connection limit: it stops accepting until one
 * closes, and the next ones wait in the kernel's backlog). A connection is
 * a descriptor, and a server started by systemd gets a soft limit of 1024
 * open files, which PostgreSQL's own files share: so a worker raises its
 * soft limit to the hard one at start, and lowers its connection limit,
 * with a warning, where even that cannot hold the connections next to the
 * files PostgreSQL may open.
 *
 * libmicrohttpd closes a connection that has been silent for
 * sqsn.api_idle_timeout; one that sends a byte now and then (slowloris)
 * would hold its place for ever. So a connection must also send a whole
 * request within sqsn.api_idle_timeout of its opening or of its last
 * answer: the connections that owe one are kept in order of since when,
 * and those past it are shut down (shutdown(2) on the socket, after which
 * libmicrohttpd reads the end and closes it as its own).
 *
 * The paths /metrics and /dashboard are the endpoint's own pages
 * (pages.c): they are answered by api_page_run, outside the AWS protocol.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "api/api.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "lib/ilist.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/syncrep.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/varlena.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "utils/wait_event.h"

#define API_RESTART_SECONDS   5
#define API_QUEUE_CACHE_LIMIT 1000 /* queues a worker keeps cached */
#define API_MAX_WORKERS       64
#define LONGPOLL_RECHECK_MS   500 /* delays and leases end without a commit */
#define API_SPARE_FDS         64  /* listening sockets, epoll, a few more */

static int api_workers = 2;
static int api_max_connections = 2048;
static int api_idle_timeout = 120; /* seconds */
static int first_watcher = 0;      /* the long-poll watcher of worker 0 */
/*
 * Default: a 1 MiB message (a queue's largest) form-encoded at its worst,
 * three bytes a byte, with room for the rest of the request.
 */
static int api_max_request_size = 4 * 1024 * 1024;

PGDLLEXPORT void sqsn_api_main(Datum main_arg);

/* one listening address */
typedef struct ApiDaemon
{
	struct MHD_Daemon *mhd;
	bool               loopback;
	char              *address;
} ApiDaemon;

/* a response ready to be queued */
typedef struct ApiResponse
{
	int         status;
	const char *content_type;
	StringInfo  body;
	char       *query_error; /* x-amzn-query-error, or NULL */
	List       *headers;     /* of ApiParam: more headers (pages) */
} ApiResponse;

/* the state of one HTTP request, from its headers to its completion */
typedef struct ApiConn
{
	MemoryContext          cxt;
	struct MHD_Connection *connection;
	ApiDaemon             *daemon;
	StringInfoData         body;
	bool                   too_large;
	ApiRequest            *req;
	ApiResponse           *response;

	/* a suspended long poll */
	bool        suspended;
	dlist_node  wait_node;
	TimestampTz deadline;
	TimestampTz next_look;

	/* an answer waiting for the WAL it depends on to be flushed */
	XLogRecPtr flush_lsn; /* 0: nothing to wait for */
	bool       flushing;
	dlist_node flush_node;
} ApiConn;

/* a connection, from its opening to its closing */
typedef struct ApiSocket
{
	struct MHD_Connection *connection;
	bool                   owing;    /* a whole request is awaited */
	TimestampTz            since;    /* since when */
	dlist_node             owe_node; /* in owing, oldest first */
} ApiSocket;

static ApiDaemon  daemons[SQSN_API_MAX_ADDRESSES];
static int        ndaemons = 0;
static dlist_head waiting = DLIST_STATIC_INIT(waiting);
static dlist_head flushing = DLIST_STATIC_INIT(flushing);
static dlist_head owing = DLIST_STATIC_INIT(owing);
static bool       can_watch = false;

static bool claim_port(void);
static void run_request(ApiConn *c, bool retry);
static void run_page(ApiConn *c);

/*
 * Settings and the workers; called from _PG_init. The workers exist only
 * when the library is preloaded and sqsn.api_port is set. The settings that
 * say where the endpoint is and what its ARNs hold (sqsn.api_port,
 * api_listen_addresses, api_public_url, api_region, api_account_id) are
 * common/settings.c's: push envelopes use them too.
 */
void
ApiInit(void)
{
	char *problem;

	DefineCustomIntVariable(
		"sqsn.api_workers",
		"Number of processes serving the endpoint, sharing its port.", NULL,
		&api_workers, 2, 1, API_MAX_WORKERS, PGC_POSTMASTER, 0, NULL, NULL,
		NULL);
	DefineCustomIntVariable(
		"sqsn.api_max_connections",
		"Most connections each endpoint worker holds open on each address.",
		NULL, &api_max_connections, 2048, 16, 1000000, PGC_POSTMASTER, 0, NULL,
		NULL, NULL);
	DefineCustomIntVariable(
		"sqsn.api_idle_timeout",
		"Time a connection may stay silent, or take to send a whole request.",
		NULL, &api_idle_timeout, 120, 1, 3600, PGC_POSTMASTER, GUC_UNIT_S,
		NULL, NULL, NULL);
	DefineCustomIntVariable("sqsn.api_max_request_size",
							"Largest request body the endpoint accepts.", NULL,
							&api_max_request_size, 4 * 1024 * 1024, 64 * 1024,
							64 * 1024 * 1024, PGC_SIGHUP, GUC_UNIT_BYTE, NULL,
							NULL, NULL);
	ApiAuthInit();
	ApiPagesInit();
	/* each worker watches the queues of its long polls (queue/longpoll.c) */
	first_watcher = sqsn_longpoll_reserve_watchers(api_workers);

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade ||
		sqsn_api_port == 0)
		return;
	if (!claim_port())
		return;
	if ((problem = api_tls_problem()) != NULL)
	{
		ereport(WARNING,
				(errmsg("sqsn endpoint not started: %s", problem),
				 errhint("Fix sqsn.api_tls_cert_file and "
						 "sqsn.api_tls_key_file, or empty both for plain "
						 "HTTP.")));
		return;
	}

	for (int i = 0; i < api_workers; i++)
		sqsn_register_worker("sqsn_api_main",
							 psprintf("sqsn api worker %d", i + 1), "sqsn api",
							 API_RESTART_SECONDS, true, Int32GetDatum(i));
}

/*
 * The workers share the port through SO_REUSEPORT, which would just as
 * well let a second server run by the same OS user (another cluster, or
 * the old one during an upgrade) share it, each getting a part of the
 * connections. So the postmaster holds a lock on a file named after the
 * port for as long as it runs; a second server finds it taken and does not
 * start its endpoint. Where the file cannot be opened (another user's
 * server made it), binding the port fails anyway.
 */
static bool
claim_port(void)
{
	char path[MAXPGPATH];
	int  fd;

	snprintf(path, sizeof(path), "/tmp/.sqsn_api_port.%d.lock", sqsn_api_port);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	if (fd < 0)
		return true;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0)
	{
		ereport(
			WARNING,
			(errmsg("sqsn endpoint not started: sqsn.api_port %d is in use "
					"by another server",
					sqsn_api_port),
			 errdetail("The lock file \"%s\" is held by another process.",
					   path),
			 errhint("Give each server its own sqsn.api_port.")));
		close(fd);
		return false;
	}
	/* kept open, and so locked, until the postmaster exits */
	return true;
}

/* Listening ------------------------------------------------------------- */

static bool
is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
	{
		const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6)
	{
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
	}
	return false;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
	pg_attribute_printf(2, 0);

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char message[512];

	vsnprintf(message, sizeof(message), fmt, ap);
	ereport(LOG, (errmsg("sqsn api: %s", message)));
}

static void
mhd_panic(void *cls, const char *file, unsigned int line, const char *reason)
{
	ereport(FATAL, (errcode(ERRCODE_INTERNAL_ERROR),
					errmsg("sqsn api: HTTP server failure at %s:%u: %s",
						   file ? file : "?", line, reason ? reason : "?")));
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *connection, const char *url,
			   const char *method, const char *version,
			   const char *upload_data, size_t *upload_data_size,
			   void **con_cls);
static void notify_connection(void *cls, struct MHD_Connection *connection,
							  void **socket_context,
							  enum MHD_ConnectionNotificationCode toe);
static void request_completed(void *cls, struct MHD_Connection *connection,
							  void                          **con_cls,
							  enum MHD_RequestTerminationCode toe);

/*
 * How many connections each daemon may hold: sqsn.api_max_connections, as
 * far as the descriptors allow. The soft limit on open files is raised to
 * the hard one first; PostgreSQL keeps its own files within max_safe_fds,
 * which it computed from the limit the postmaster started with, so what
 * the raise adds is the endpoint's. Where even the hard limit is short,
 * PostgreSQL's files are left a quarter of it at most (a worker opens few
 * relations, and closes its least recently used files when an open fails
 * for want of descriptors), the connections the rest.
 */
static unsigned int
connection_limit(int naddresses)
{
	struct rlimit lim;
	rlim_t        room;
	rlim_t        reserve;
	rlim_t        wanted = (rlim_t) api_max_connections * naddresses;

	if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
		return (unsigned int) api_max_connections;
	if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < lim.rlim_max)
	{
		rlim_t old = lim.rlim_cur;

		lim.rlim_cur = lim.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
		{
			/* a hard limit of unlimited may be refused: take what is */
			lim.rlim_cur = old;
		}
		else
			ereport(
				DEBUG1,
				(errmsg("sqsn api: open files limit raised from %lu to %lu",
						(unsigned long) old, (unsigned long) lim.rlim_cur)));
	}
	if (lim.rlim_cur == RLIM_INFINITY)
		return (unsigned int) api_max_connections;
	reserve = Min((rlim_t) max_safe_fds, lim.rlim_cur / 4) + API_SPARE_FDS;
	room = lim.rlim_cur > reserve ? lim.rlim_cur - reserve : 0;
	if (room >= wanted)
		return (unsigned int) api_max_connections;
	room = Max(room / (rlim_t) naddresses, 16);
	ereport(WARNING,
			(errmsg("sqsn api: only %lu connections per address instead of "
					"sqsn.api_max_connections = %d",
					(unsigned long) room, api_max_connections),
			 errdetail("The limit on open files is %lu, and the server's "
					   "own files need some of them.",
					   (unsigned long) lim.rlim_cur),
			 errhint("Raise the server's limit on open files (ulimit -n, "
					 "LimitNOFILE= of its systemd unit) or lower "
					 "sqsn.api_max_connections.")));
	return (unsigned int) room;
}

static void
start_daemons(void)
{
	char                 *copy = pstrdup(sqsn_api_listen_addresses);
	List                 *names;
	ListCell             *lc;
	char                  port[16];
	struct MHD_OptionItem tls[3];
	unsigned int          tls_flag = api_tls_options(tls);
	unsigned int          limit;
	int                   naddresses = 0;

	snprintf(port, sizeof(port), "%d", sqsn_api_port);
	if (!SplitGUCList(copy, ',', &names))
		elog(FATAL, "invalid sqsn.api_listen_addresses");
	/* "*" (and a name) may be two addresses: IPv4 and IPv6 */
	foreach (lc, names)
		naddresses += strcmp((char *) lfirst(lc), "*") == 0 ? 2 : 1;
	limit = connection_limit(Max(naddresses, 1));

	foreach (lc, names)
	{
		char            *name = lfirst(lc);
		struct addrinfo  hints;
		struct addrinfo *res;
		struct addrinfo *ai;
		int              rc;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		rc = getaddrinfo(strcmp(name, "*") == 0 ? NULL : name, port, &hints,
						 &res);
		if (rc != 0)
		{
			ereport(LOG, (errmsg("sqsn api: could not resolve \"%s\": %s",
								 name, gai_strerror(rc))));
			continue;
		}
		for (ai = res; ai != NULL && ndaemons < SQSN_API_MAX_ADDRESSES;
			 ai = ai->ai_next)
		{
			unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
								 MHD_USE_ERROR_LOG | tls_flag;
			ApiDaemon *d = &daemons[ndaemons];

			if (ai->ai_family == AF_INET6)
				flags |= MHD_USE_IPv6;
			else if (ai->ai_family != AF_INET)
				continue;
			d->loopback = is_loopback(ai->ai_addr);
			d->address = MemoryContextStrdup(TopMemoryContext, name);
			d->mhd = MHD_start_daemon(
				flags, (uint16_t) sqsn_api_port, NULL, NULL, access_handler, d,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_SOCK_ADDR, ai->ai_addr,
				MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int) 1,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) api_idle_timeout,
				MHD_OPTION_CONNECTION_LIMIT, limit,
				MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
				MHD_OPTION_NOTIFY_CONNECTION, notify_connection, NULL,
				MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
			if (d->mhd == NULL)
			{
				ereport(LOG, (errmsg("sqsn api: could not listen on \"%s\" "
									 "port %d",
									 name, sqsn_api_port)));
				continue;
			}
			if (api_auth_is_none() && !d->loopback)
				ereport(WARNING,
						(errmsg("sqsn api: sqsn.api_auth = none is ignored on "
								"\"%s\", which is not a loopback address",
								name),
						 errdetail("Requests arriving there are refused.")));
			ndaemons++;
		}
		freeaddrinfo(res);
	}
	if (ndaemons == 0)
		ereport(FATAL, (errmsg("sqsn api: no address to listen on")));
}

/* Requests -------------------------------------------------------------- */

/* the connection's ApiSocket now owes a whole request, or no longer */
static void
set_owing(struct MHD_Connection *connection, bool owe)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	ApiSocket *s = info ? info->socket_context : NULL;

	if (s == NULL)
		return;
	if (s->owing)
		dlist_delete(&s->owe_node);
	s->owing = owe;
	if (owe)
	{
		s->since = GetCurrentTimestamp();
		dlist_push_tail(&owing, &s->owe_node);
	}
}

static void
notify_connection(void *cls, struct MHD_Connection *connection,
				  void                              **socket_context,
				  enum MHD_ConnectionNotificationCode toe)
{
	ApiSocket *s = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
	{
		s = MemoryContextAllocZero(TopMemoryContext, sizeof(ApiSocket));
		s->connection = connection;
		s->owing = true;
		s->since = GetCurrentTimestamp();
		dlist_push_tail(&owing, &s->owe_node);
		*socket_context = s;
	}
	else if (s != NULL)
	{
		if (s->owing)
			dlist_delete(&s->owe_node);
		pfree(s);
		*socket_context = NULL;
	}
}

/*
 * Shuts down the connections that have owed a whole request for longer
 * than sqsn.api_idle_timeout; libmicrohttpd closes them on its next run.
 */
static void
close_overdue(void)
{
	TimestampTz cutoff = TimestampTzPlusMilliseconds(
		GetCurrentTimestamp(), -(int64) api_idle_timeout * 1000);

	while (!dlist_is_empty(&owing))
	{
		ApiSocket *s = dlist_head_element(ApiSocket, owe_node, &owing);
		const union MHD_ConnectionInfo *info;

		if (s->since > cutoff)
			break;
		dlist_delete(&s->owe_node);
		s->owing = false;
		info = MHD_get_connection_info(s->connection,
									   MHD_CONNECTION_INFO_CONNECTION_FD);
		if (info != NULL)
			(void) shutdown(info->connect_fd, SHUT_RDWR);
	}
}

static void
request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
				  enum MHD_RequestTerminationCode toe)
{
	ApiConn *c = *con_cls;

	/* a kept-alive connection owes its next request from now */
	set_owing(connection, true);
	if (c == NULL)
		return;
	if (c->suspended)
	{
		dlist_delete(&c->wait_node);
		if (c->req && c->req->wait_queue_id != 0)
			sqsn_longpoll_watch(c->req->wait_queue_id, false);
	}
	if (c->flushing)
		dlist_delete(&c->flush_node);
	MemoryContextDelete(c->cxt);
	*con_cls = NULL;
}

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
			   const char *value)
{
	List    **list = cls;
	ApiParam *p = palloc(sizeof(ApiParam));

	p->name = asc_tolower(key, strlen(key));
	p->value = pstrdup(value ? value : "");
	*list = lappend(*list, p);
	return MHD_YES;
}

static enum MHD_Result
collect_argument(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *value)
{
	List    **list = cls;
	ApiParam *p = palloc(sizeof(ApiParam));

	p->name = pstrdup(key);
	p->value = pstrdup(value ? value : "");
	*list = lappend(*list, p);
	return MHD_YES;
}

/* The value of a header (name in lower case, as stored), or NULL. */
static const char *
find_header(List *headers, const char *name)
{
	ListCell *lc;

	foreach (lc, headers)
	{
		ApiParam *p = lfirst(lc);

		if (strcmp(p->name, name) == 0)
			return p->value;
	}
	return NULL;
}

/* application/x-www-form-urlencoded: '+' is a space, %XX a byte */
static char *
form_decode(const char *s, size_t len)
{
	char *out = palloc(len + 1);
	char *o = out;

	for (size_t i = 0; i < len; i++)
	{
		if (s[i] == '+')
			*o++ = ' ';
		else if (s[i] == '%' && i + 2 < len && sqsn_hex_value(s[i + 1]) >= 0 &&
				 sqsn_hex_value(s[i + 2]) >= 0)
		{
			*o++ = (char) (sqsn_hex_value(s[i + 1]) * 16 +
						   sqsn_hex_value(s[i + 2]));
			i += 2;
		}
		else if (s[i] == '%')
			api_error("MalformedQueryString", 400,
					  "The query string contains an invalid %% escape.");
		else
			*o++ = s[i];
	}
	*o = '\0';
	if (strlen(out) != (size_t) (o - out))
		api_error("MalformedQueryString", 400,
				  "The query string contains a NUL byte.");
	if (!pg_verifymbstr(out, o - out, true))
		api_error("MalformedQueryString", 400,
				  "The query string is not valid UTF-8.");
	return out;
}

/*
 * An application/x-www-form-urlencoded body (or query string) as a list
 * of ApiParam; MalformedQueryString for a bad escape, a NUL byte or text
 * that is not UTF-8.
 */
List *
api_parse_form(const char *body, size_t len)
{
	List       *params = NIL;
	const char *p = body;
	const char *end = body + len;

	while (p < end)
	{
		const char *amp = memchr(p, '&', end - p);
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', stop - p);

		if (stop > p)
		{
			ApiParam *param = palloc(sizeof(ApiParam));

			if (eq)
			{
				param->name = form_decode(p, eq - p);
				param->value = form_decode(eq + 1, stop - eq - 1);
			}
			else
			{
				param->name = form_decode(p, stop - p);
				param->value = pstrdup("");
			}
			params = lappend(params, param);
		}
		p = stop + 1;
	}
	return params;
}

static bool
is_sns_action(const char *action)
{
	static const char *const actions[] = {
		"CreateTopic",
		"ListTopics",
		"DeleteTopic",
		"GetTopicAttributes",
		"SetTopicAttributes",
		"Subscribe",
		"ConfirmSubscription",
		"Unsubscribe",
		"ListSubscriptions",
		"ListSubscriptionsByTopic",
		"GetSubscriptionAttributes",
		"SetSubscriptionAttributes",
		"Publish",
		"PublishBatch",
	};

	for (int i = 0; i < lengthof(actions); i++)
		if (strcmp(action, actions[i]) == 0)
			return true;
	return false;
}

/*
 * Sorts out the protocol, service and action, and reads the parameters.
 */
static void
parse_request(ApiConn *c, ApiRequest *req, const char *method, List *headers,
			  List *query_params)
{
	const char *content_type = find_header(headers, "content-type");
	const char *target = find_header(headers, "x-amz-target");
	const char *host = find_header(headers, "host");
	const char *authorization = find_header(headers, "authorization");
	const char *version;

	req->method = method;
	req->trace_header = find_header(headers, "x-amzn-trace-id");
	req->base_url = host ? psprintf("%s://%s", sqsn_api_scheme(), host)
						 : sqsn_endpoint_base_url();

	if (c->too_large)
		api_error("RequestEntityTooLarge", 413,
				  "The request body is larger than %d bytes.",
				  api_max_request_size);

	if (strcmp(method, "POST") == 0 && content_type != NULL &&
		pg_strncasecmp(content_type, "application/x-amz-json-1.0", 26) == 0)
	{
		Jsonb *json;

		req->protocol = API_JSON;
		req->service = API_SQS;
		req->root.protocol = API_JSON;
		if (target == NULL || strncmp(target, "AmazonSQS.", 10) != 0)
			api_error_shape("UnknownOperationException",
							"com.amazon.coral.service#"
							"UnknownOperationException",
							400, "Unknown operation %s.",
							target ? target : "(no X-Amz-Target)");
		req->action = pstrdup(target + 10);
		if (!pg_verifymbstr(c->body.data, c->body.len, true) ||
			strlen(c->body.data) != (size_t) c->body.len)
			api_error_shape("SerializationException",
							"com.amazon.coral.service#SerializationException",
							400, "The request body is not valid UTF-8.");
		PG_TRY();
		{
			json = DatumGetJsonbP(DirectFunctionCall1(
				jsonb_in, CStringGetDatum(c->body.len ? c->body.data : "{}")));
		}
		PG_CATCH();
		{
			FlushErrorState();
			api_error_shape("SerializationException",
							"com.amazon.coral.service#SerializationException",
							400, "The request body is not valid JSON.");
		}
		PG_END_TRY();
		if (!JB_ROOT_IS_OBJECT(json))
			api_error_shape("SerializationException",
							"com.amazon.coral.service#SerializationException",
							400, "The request body must be a JSON object.");
		req->root.json = &json->root;
		return;
	}

	req->protocol = API_QUERY;
	req->root.protocol = API_QUERY;
	req->root.params = query_params;
	if (strcmp(method, "POST") == 0 && c->body.len > 0)
		req->root.params =
			list_concat(list_copy(query_params),
						api_parse_form(c->body.data, c->body.len));
	else if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		api_error("InvalidAction", 400, "Method %s is not supported.", method);

	req->action = api_param(&req->root, "Action");
	version = api_param(&req->root, "Version");
	if (version && strcmp(version, "2010-03-31") == 0)
		req->service = API_SNS;
	else if (version && strcmp(version, "2012-11-05") == 0)
		req->service = API_SQS;
	else if (authorization && strstr(authorization, "/sns/aws4_request"))
		req->service = API_SNS;
	else if (authorization && strstr(authorization, "/sqs/aws4_request"))
		req->service = API_SQS;
	else
		req->service =
			(req->action && is_sns_action(req->action)) ? API_SNS : API_SQS;
	if (req->action == NULL)
		api_error("MissingAction", 400, "The request must contain an Action.");
}

static ApiResponse *
new_response(int status, const char *content_type)
{
	ApiResponse *r = palloc0(sizeof(ApiResponse));

	r->status = status;
	r->content_type = content_type;
	r->body = makeStringInfo();
	return r;
}

/* wraps the result members the action wrote */
static ApiResponse *
success_response(ApiRequest *req)
{
	ApiResponse *r;

	if (req->protocol == API_JSON)
	{
		r = new_response(200, "application/x-amz-json-1.0");
		appendStringInfoChar(r->body, '{');
		appendBinaryStringInfo(r->body, req->out->data, req->out->len);
		appendStringInfoChar(r->body, '}');
		return r;
	}
	r = new_response(200, "text/xml");
	appendStringInfo(r->body,
					 "<?xml version=\"1.0\"?>\n<%sResponse xmlns=\"%s\">"
					 "<%sResult>",
					 req->action,
					 req->service == API_SNS
						 ? "http://sns.amazonaws.com/doc/2010-03-31/"
						 : "http://queue.amazonaws.com/doc/2012-11-05/",
					 req->action);
	appendBinaryStringInfo(r->body, req->out->data, req->out->len);
	appendStringInfo(r->body,
					 "</%sResult><ResponseMetadata><RequestId>%s</RequestId>"
					 "</ResponseMetadata></%sResponse>",
					 req->action, req->request_id, req->action);
	return r;
}

static ApiResponse *
error_response(ApiRequest *req, ApiError *err, const char *message)
{
	ApiResponse *r;
	const char  *fault = err->status >= 500 ? "Receiver" : "Sender";

	if (req->protocol == API_JSON)
	{
		const char *shape = err->shape ? err->shape : err->code;

		r = new_response(err->status, "application/x-amz-json-1.0");
		appendStringInfoString(r->body, "{\"__type\":");
		escape_json(r->body, shape);
		appendStringInfoString(r->body, ",\"message\":");
		escape_json(r->body, message);
		appendStringInfoChar(r->body, '}');
		r->query_error = psprintf("%s;%s", err->code, fault);
		return r;
	}
	r = new_response(err->status, "text/xml");
	appendStringInfo(r->body,
					 "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"%s\">"
					 "<Error><Type>%s</Type>",
					 req->service == API_SNS
						 ? "http://sns.amazonaws.com/doc/2010-03-31/"
						 : "http://queue.amazonaws.com/doc/2012-11-05/",
					 fault);
	api_xml_element(r->body, "Code", err->code);
	api_xml_element(r->body, "Message", message);
	appendStringInfo(r->body,
					 "<Detail/></Error><RequestId>%s</RequestId>"
					 "</ErrorResponse>",
					 req->request_id);
	return r;
}

static char *
new_request_id(void)
{
	pg_uuid_t *id = sqsn_new_uuid();

	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(id)));
}

/*
 * Commits with synchronous_commit off, and notes up to where the WAL must be
 * flushed before the answer may leave (nothing when synchronous_commit is
 * off anyway).
 */
static void
commit_without_waiting(ApiConn *c)
{
	int        configured = synchronous_commit;
	XLogRecPtr before = XactLastCommitEnd;

	synchronous_commit = SYNCHRONOUS_COMMIT_OFF;
	PG_TRY();
	{
		CommitTransactionCommand();
	}
	PG_FINALLY();
	{
		synchronous_commit = configured;
	}
	PG_END_TRY();
	/* a transaction that wrote nothing has no commit record to wait for */
	c->flush_lsn =
		(configured > SYNCHRONOUS_COMMIT_OFF && XactLastCommitEnd != before)
			? XactLastCommitEnd
			: InvalidXLogRecPtr;
}

static bool
flushed(ApiConn *c)
{
	return c->flush_lsn == InvalidXLogRecPtr ||
		   c->flush_lsn <= GetFlushRecPtr(NULL);
}

/* the answer is ready; it leaves with the next flush */
static void
wait_for_flush(ApiConn *c)
{
	c->flushing = true;
	dlist_push_tail(&flushing, &c->flush_node);
}

/*
 * Flushes the WAL the waiting answers depend on, waits for synchronous
 * standbys as a commit would, and lets the answers go.
 */
static bool
flush_answers(void)
{
	XLogRecPtr         upto = InvalidXLogRecPtr;
	dlist_iter         it;
	dlist_mutable_iter iter;

	if (dlist_is_empty(&flushing))
		return false;
	dlist_foreach(it, &flushing)
	{
		ApiConn *c = dlist_container(ApiConn, flush_node, it.cur);

		upto = Max(upto, c->flush_lsn);
	}
	XLogFlush(upto);
	if (synchronous_commit > SYNCHRONOUS_COMMIT_LOCAL_FLUSH)
		SyncRepWaitForLSN(upto, true);
	dlist_foreach_modify(iter, &flushing)
	{
		ApiConn *c = dlist_container(ApiConn, flush_node, iter.cur);

		dlist_delete(&c->flush_node);
		c->flushing = false;
		c->flush_lsn = InvalidXLogRecPtr;
		MHD_resume_connection(c->connection);
	}
	return true;
}

/*
 * Runs the request (again, for a long poll being retried) in its own
 * transaction and leaves the response, or a wish to wait, in c.
 */
static void
run_request(ApiConn *c, bool retry)
{
	MemoryContext cxt = c->cxt;
	ApiRequest   *req = c->req;
	volatile bool role_set = false;
	ApiError      stale;

	MemoryContextSwitchTo(cxt);
	(void) api_thrown_error(&stale);
	resetStringInfo(req->out);
	req->depth = 0;
	req->need_comma[0] = false;
	req->wait_queue_id = 0;
	req->wait_ms = 0;

	/* a long poll's looks count as one receive (queue/metrics.c) */
	sqsn_metrics_defer_empty_receives(true);
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		MemoryContextSwitchTo(cxt);
		/* a worker that served many queues gives their memory back */
		sqsn_queue_cache_limit(API_QUEUE_CACHE_LIMIT);

		if (!retry)
		{
			List *headers = NIL;
			List *query_params = NIL;

			MHD_get_connection_values(c->connection, MHD_HEADER_KIND,
									  collect_header, &headers);
			MHD_get_connection_values(c->connection, MHD_GET_ARGUMENT_KIND,
									  collect_argument, &query_params);
			parse_request(c, req, req->method, headers, query_params);
			if (api_auth_is_none() && !c->daemon->loopback)
				api_error("AccessDenied", 403,
						  "sqsn.api_auth = none is allowed only on loopback "
						  "addresses.");
			api_authenticate(req, req->method, req->path, query_params,
							 headers, c->body.data, c->body.len);
		}
		pgstat_report_activity(STATE_RUNNING, req->action);

		SetCurrentRoleId(req->roleid, superuser_arg(req->roleid));
		role_set = true;
		sqsn_spi_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (!(req->service == API_SNS ? api_sns_dispatch(req)
									  : api_sqs_dispatch(req)))
		{
			if (req->protocol == API_JSON)
				api_error_shape("UnknownOperationException",
								"com.amazon.coral.service#"
								"UnknownOperationException",
								400, "Unknown operation %s.", req->action);
			api_error("InvalidAction", 400,
					  "The action %s is not valid for this endpoint.",
					  req->action);
		}
		PopActiveSnapshot();
		SPI_finish();
		commit_without_waiting(c);
		SetCurrentRoleId(InvalidOid, false);
		role_set = false;
		MemoryContextSwitchTo(cxt);
		c->response = success_response(req);
	}
	PG_CATCH();
	{
		ErrorData *edata;
		ApiError   err;
		char      *message;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		if (role_set)
			SetCurrentRoleId(InvalidOid, false);
		MemoryContextSwitchTo(cxt);

		if (!api_thrown_error(&err))
		{
			memset(&err, 0, sizeof(err));
			if (req->service == API_SNS)
				api_sns_map_error(edata, &err);
			else
				api_sqs_map_error(edata, &err);
		}
		/* (a standby's refusals: api_run_action logs the first one) */
		if (err.status >= 500 && err.status != 503)
			ereport(LOG, (errmsg("sqsn api: %s failed: %s",
								 req->action ? req->action : "request",
								 edata->message)));
		if (edata->message == NULL)
			edata->message = pstrdup("internal error");
		message = edata->detail
					  ? psprintf("%s: %s", edata->message, edata->detail)
					  : edata->message;
		req->wait_queue_id = 0;
		c->flush_lsn = 0;
		c->response = error_response(req, &err, message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	sqsn_metrics_defer_empty_receives(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

static enum MHD_Result
queue_response(ApiConn *c)
{
	ApiResponse         *r = c->response;
	struct MHD_Response *response;
	enum MHD_Result      result;
	ListCell            *lc;

	response = MHD_create_response_from_buffer(r->body->len, r->body->data,
											   MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
		return MHD_NO;
	MHD_add_response_header(response, "Content-Type", r->content_type);
	MHD_add_response_header(response, "x-amzn-RequestId", c->req->request_id);
	if (r->query_error)
		MHD_add_response_header(response, "x-amzn-query-error",
								r->query_error);
	foreach (lc, r->headers)
	{
		ApiParam *h = lfirst(lc);

		MHD_add_response_header(response, h->name, h->value);
	}
	result = MHD_queue_response(c->connection, r->status, response);
	MHD_destroy_response(response);
	return result;
}

/*
 * Answers a request for one of the endpoint's own pages (pages.c), in its
 * own transaction.
 */
static void
run_page(ApiConn *c)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		c->connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	ApiPageRequest  page;
	ApiPageResponse answer;
	ApiResponse    *r;

	memset(&page, 0, sizeof(page));
	memset(&answer, 0, sizeof(answer));
	page.method = c->req->method;
	page.path = c->req->path;
	page.body = c->too_large ? NULL : c->body.data;
	page.body_len = c->too_large ? 0 : c->body.len;
	page.too_large = c->too_large;
	page.loopback_client = info != NULL && info->client_addr != NULL &&
						   is_loopback(info->client_addr);
	MHD_get_connection_values(c->connection, MHD_HEADER_KIND, collect_header,
							  &page.headers);
	MHD_get_connection_values(c->connection, MHD_GET_ARGUMENT_KIND,
							  collect_argument, &page.query);
	api_page_run(&page, &answer);

	r = new_response(answer.status, answer.content_type);
	r->body = answer.body;
	r->headers = answer.headers;
	c->response = r;
}

/* a receive with nothing to return that may wait: suspend it */
static void
suspend_long_poll(ApiConn *c)
{
	TimestampTz now = GetCurrentTimestamp();

	c->deadline = TimestampTzPlusMilliseconds(now, c->req->wait_ms);
	/* look again at once: a commit may have come before the watch */
	c->next_look = now;
	sqsn_longpoll_watch(c->req->wait_queue_id, true);
	c->suspended = true;
	dlist_push_tail(&waiting, &c->wait_node);
	MHD_suspend_connection(c->connection);
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *connection, const char *url,
			   const char *method, const char *version,
			   const char *upload_data, size_t *upload_data_size,
			   void **con_cls)
{
	ApiConn      *c = *con_cls;
	MemoryContext old;

	if (c == NULL)
	{
		MemoryContext cxt = AllocSetContextCreate(
			TopMemoryContext, "sqsn api request", ALLOCSET_DEFAULT_SIZES);

		old = MemoryContextSwitchTo(cxt);
		c = palloc0(sizeof(ApiConn));
		c->cxt = cxt;
		c->connection = connection;
		c->daemon = cls;
		initStringInfo(&c->body);
		c->req = palloc0(sizeof(ApiRequest));
		c->req->out = makeStringInfo();
		c->req->method = pstrdup(method);
		c->req->path = pstrdup(url ? url : "/");
		c->req->request_id = new_request_id();
		MemoryContextSwitchTo(old);
		*con_cls = c;
		return MHD_YES;
	}
	if (c->response != NULL)
		return queue_response(c); /* a long poll resumed */

	if (*upload_data_size > 0)
	{
		if (!c->too_large && (size_t) c->body.len + *upload_data_size <=
								 (size_t) api_max_request_size)
			appendBinaryStringInfo(&c->body, upload_data, *upload_data_size);
		else
		{
			c->too_large = true;
			resetStringInfo(&c->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	/* the request is whole */
	set_owing(connection, false);
	old = MemoryContextSwitchTo(c->cxt);
	if (api_is_page(c->req->path))
	{
		run_page(c);
		MemoryContextSwitchTo(old);
		return queue_response(c);
	}
	run_request(c, false);
	MemoryContextSwitchTo(old);
	if (c->req->wait_queue_id != 0 && can_watch)
	{
		/* the empty answer is kept for when the wait is over */
		sqsn_metrics_settle_empty_receive(false);
		suspend_long_poll(c);
		return MHD_YES;
	}
	sqsn_metrics_settle_empty_receive(true);
	if (!flushed(c))
	{
		MHD_suspend_connection(c->connection);
		wait_for_flush(c);
		return MHD_YES;
	}
	return queue_response(c);
}

/*
 * Runs again the long polls whose queue had a commit or whose time to look
 * again has come; resumes those that are done. Returns how long until the
 * next look (ms), 0 to run libmicrohttpd at once, -1 for no long polls.
 */
static long
serve_long_polls(void)
{
	uint64             fired[SQSN_LONGPOLL_SLOTS / 64];
	TimestampTz        now = GetCurrentTimestamp();
	TimestampTz        next = 0;
	bool               resumed = false;
	dlist_mutable_iter iter;

	if (dlist_is_empty(&waiting))
		return -1;
	sqsn_longpoll_take_fired(fired);
	dlist_foreach_modify(iter, &waiting)
	{
		ApiConn *c = dlist_container(ApiConn, wait_node, iter.cur);
		int      slot = sqsn_longpoll_slot(c->req->wait_queue_id);
		bool     hit = (fired[slot / 64] >> (slot % 64)) & 1;
		int64    queue_id = c->req->wait_queue_id;

		CHECK_FOR_INTERRUPTS();
		if (hit || now >= c->next_look || now >= c->deadline)
		{
			MemoryContext old = CurrentMemoryContext;

			/* run_request leaves c->cxt current, freed when c completes */
			run_request(c, true);
			MemoryContextSwitchTo(old);
			sqsn_metrics_settle_empty_receive(
				!(c->req->wait_queue_id != 0 && now < c->deadline));
			if (c->req->wait_queue_id != 0 && now < c->deadline)
			{
				/* still nothing: keep waiting */
				c->req->wait_queue_id = queue_id;
				c->next_look =
					Min(TimestampTzPlusMilliseconds(now, LONGPOLL_RECHECK_MS),
						c->deadline);
			}
			else
			{
				sqsn_longpoll_watch(queue_id, false);
				dlist_delete(&c->wait_node);
				c->suspended = false;
				c->req->wait_queue_id = 0;
				if (flushed(c))
				{
					MHD_resume_connection(c->connection);
					resumed = true;
				}
				else
					wait_for_flush(c);
				continue;
			}
		}
		if (next == 0 || c->next_look < next)
			next = c->next_look;
	}
	if (resumed)
		return 0; /* let libmicrohttpd send the answers now */
	if (next == 0)
		return -1;
	now = GetCurrentTimestamp();
	return next <= now ? 0 : (long) ((next - now) / 1000) + 1;
}

/* Main loop ------------------------------------------------------------- */

/*
 * Reports what the requests did to tables (rows inserted, updated and
 * deleted) to the cumulative statistics, at most once a second. A
 * background worker must do it itself; autovacuum decides from these
 * counts when a message table needs vacuuming, and a queue used only
 * through the endpoint would otherwise never be vacuumed.
 */
static void
report_table_stats(void)
{
	static TimestampTz last_report = 0;
	TimestampTz        now = GetCurrentTimestamp();

	if (now - last_report < USECS_PER_SEC)
		return;
	last_report = now;
	(void) pgstat_report_stat(true);
}

void
sqsn_api_main(Datum main_arg)
{
	int           index = DatumGetInt32(main_arg);
	WaitEventSet *events;
	bool          standby;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(sqsn_database_name, NULL, 0);

	can_watch = sqsn_longpoll_attach_watcher(first_watcher + index);
	MHD_set_panic_func(mhd_panic, NULL);
	start_daemons();
	standby = RecoveryInProgress();
	ereport(LOG, (errmsg("sqsn api worker %d listening on port %d in "
						 "database \"%s\"%s",
						 index + 1, sqsn_api_port, sqsn_database_name,
						 standby ? " (a standby: reads only)" : "")));

	events = CreateWaitEventSet(NULL, ndaemons + 2);
	AddWaitEventToSet(events, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(events, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL,
					  NULL);
	for (int i = 0; i < ndaemons; i++)
	{
		const union MHD_DaemonInfo *info =
			MHD_get_daemon_info(daemons[i].mhd, MHD_DAEMON_INFO_EPOLL_FD);

		AddWaitEventToSet(events, WL_SOCKET_READABLE, info->epoll_fd, NULL,
						  NULL);
	}

	for (;;)
	{
		WaitEvent occurred[SQSN_API_MAX_ADDRESSES + 2];
		long      timeout = 1000;
		long      poll_timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (standby && !RecoveryInProgress())
		{
			standby = false;
			ereport(LOG, (errmsg("sqsn api worker %d: the server was "
								 "promoted; actions that write are served",
								 index + 1)));
		}

		for (int i = 0; i < ndaemons; i++)
		{
			MHD_UNSIGNED_LONG_LONG mhd_timeout;

			MHD_run(daemons[i].mhd);
			if (MHD_get_timeout(daemons[i].mhd, &mhd_timeout) == MHD_YES)
				timeout = Min(timeout, (long) mhd_timeout);
		}
		close_overdue();
		poll_timeout = serve_long_polls();
		if (poll_timeout >= 0)
			timeout = Min(timeout, poll_timeout);
		report_table_stats();
		if (flush_answers() || poll_timeout == 0)
			continue; /* let libmicrohttpd send the answers now */

		(void) WaitEventSetWait(events, timeout, occurred, lengthof(occurred),
								PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
