/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The settings more than one subsystem reads, and the names built from
 *	  them.
 *
 *	  - sqsn.database_name, sqsn.poll_interval, sqsn.retention_batch_size:
 *	    where and how often the background workers (maintenance, push
 *	    delivery, endpoint) work, and how much one batch of a sweep does;
 *	  - sqsn.api_port, sqsn.api_listen_addresses, sqsn.api_public_url,
 *	    sqsn.api_tls_cert_file, sqsn.api_tls_key_file, sqsn.api_region,
 *	    sqsn.api_account_id: where and how (HTTP or HTTPS) the
 *	    AWS-compatible endpoint is reached, and the region and account in
 *	    every ARN.
 *
 * Files that settings name (certificates, keys) and the dashboard's assets
 * are read whole with sqsn_read_file.
 *
 * Every ARN sqsn shows (in the endpoint's responses, in the envelopes of
 * pushed notifications, in sn_get_topic_attributes) is built here, from
 * sqsn.api_region and sqsn.api_account_id alone, so that one topic has one
 * ARN whatever region a client signed its request for.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/common.h"

#include "storage/fd.h"
#include "utils/guc.h"
#include "utils/varlena.h"

char *sqsn_database_name = NULL;
int   sqsn_poll_interval = 1000;
int   sqsn_retention_batch_size = 1000;
int   sqsn_api_port = 0;
char *sqsn_api_listen_addresses = NULL;
char *sqsn_api_tls_cert_file = NULL;
char *sqsn_api_tls_key_file = NULL;

static char *api_region = NULL;
static char *api_account_id = NULL;
static char *api_public_url = NULL;

static bool check_listen_addresses(char **newval, void **extra,
								   GucSource source);
static bool check_public_url(char **newval, void **extra, GucSource source);

/*
 * Defines the settings; called from _PG_init. They exist whether or not
 * the library is preloaded, so that SHOW and postgresql.conf work the same
 * either way.
 */
void
SettingsInit(void)
{
	DefineCustomStringVariable(
		"sqsn.database_name", "Database the sqsn background workers work in.",
		NULL, &sqsn_database_name, "postgres", PGC_POSTMASTER,
		GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"sqsn.poll_interval",
		"Time between two rounds of the sqsn background workers.", NULL,
		&sqsn_poll_interval, 1000, 10, 3600 * 1000, PGC_SIGHUP, GUC_UNIT_MS,
		NULL, NULL, NULL);
	DefineCustomIntVariable("sqsn.retention_batch_size",
							"Messages deleted or moved per queue in one batch "
							"of a maintenance sweep.",
							NULL, &sqsn_retention_batch_size, 1000, 1, 1000000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"sqsn.api_port", "TCP port of the AWS-compatible endpoint (0: off).",
		NULL, &sqsn_api_port, 0, 0, 65535, PGC_POSTMASTER, 0, NULL, NULL,
		NULL);
	DefineCustomStringVariable(
		"sqsn.api_listen_addresses",
		"Comma-separated addresses the endpoint listens on (* for all).", NULL,
		&sqsn_api_listen_addresses, "127.0.0.1", PGC_POSTMASTER,
		GUC_LIST_INPUT, check_listen_addresses, NULL, NULL);
	DefineCustomStringVariable(
		"sqsn.api_region", "Region put into every ARN.",
		"ARNs carry this region whatever region a request was signed for.",
		&api_region, "us-east-1", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("sqsn.api_account_id",
							   "Account id put into queue URLs and ARNs.",
							   NULL, &api_account_id, "000000000000",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable(
		"sqsn.api_public_url",
		"Base URL of the endpoint as its clients reach it.",
		"Used in the SubscribeURL and UnsubscribeURL links of push "
		"deliveries; empty: http(s)://<first listen address>:<port>.",
		&api_public_url, "", PGC_SIGHUP, 0, check_public_url, NULL, NULL);
	DefineCustomStringVariable(
		"sqsn.api_tls_cert_file",
		"PEM certificate (chain) the endpoint serves HTTPS with.",
		"With sqsn.api_tls_key_file set too the endpoint speaks HTTPS only; "
		"empty: plain HTTP.",
		&sqsn_api_tls_cert_file, "", PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL,
		NULL, NULL);
	DefineCustomStringVariable("sqsn.api_tls_key_file",
							   "PEM private key of sqsn.api_tls_cert_file.",
							   "Refused when the group or others can read it.",
							   &sqsn_api_tls_key_file, "", PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
}

/* "https" when the endpoint speaks HTTPS, else "http". */
const char *
sqsn_api_scheme(void)
{
	return sqsn_api_tls() ? "https" : "http";
}

/* Whether the endpoint speaks HTTPS (both TLS files are set). */
bool
sqsn_api_tls(void)
{
	return sqsn_api_tls_cert_file != NULL &&
		   sqsn_api_tls_cert_file[0] != '\0' &&
		   sqsn_api_tls_key_file != NULL && sqsn_api_tls_key_file[0] != '\0';
}

static bool
check_listen_addresses(char **newval, void **extra, GucSource source)
{
	char *copy = pstrdup(*newval);
	List *names;
	bool  ok = SplitGUCList(copy, ',', &names) && names != NIL;

	if (!ok)
		GUC_check_errdetail("List the addresses separated by commas.");
	else if (list_length(names) > SQSN_API_MAX_ADDRESSES)
	{
		GUC_check_errdetail("At most %d addresses.", SQSN_API_MAX_ADDRESSES);
		ok = false;
	}
	list_free(names);
	pfree(copy);
	return ok;
}

static bool
check_public_url(char **newval, void **extra, GucSource source)
{
	const char *url = *newval;

	if (url[0] != '\0' && strncmp(url, "http://", 7) != 0 &&
		strncmp(url, "https://", 8) != 0)
	{
		GUC_check_errdetail("The URL must start with http:// or https://.");
		return false;
	}
	return true;
}

static const char *
region(void)
{
	return api_region && api_region[0] ? api_region : "us-east-1";
}

/* sqsn.api_account_id, or the default when it is empty. */
char *
sqsn_account_id(void)
{
	return pstrdup(api_account_id && api_account_id[0] ? api_account_id
													   : "000000000000");
}

/* arn:aws:sns:<region>:<account>:<topic> */
char *
sqsn_topic_arn(const char *topic_name)
{
	return psprintf("arn:aws:sns:%s:%s:%s", region(), sqsn_account_id(),
					topic_name);
}

/* A subscription's ARN: its topic's ARN and its id. */
char *
sqsn_subscription_arn(const char *topic_name, const char *subscription_id)
{
	return psprintf("%s:%s", sqsn_topic_arn(topic_name), subscription_id);
}

/* arn:aws:sqs:<region>:<account>:<queue> */
char *
sqsn_queue_arn(const char *queue_name)
{
	return psprintf("arn:aws:sqs:%s:%s:%s", region(), sqsn_account_id(),
					queue_name);
}

/*
 * The name at the end of an ARN (arn:aws:<service>:<region>:<account>:
 * <name>), or NULL when arn is not one.
 */
char *
sqsn_arn_name(const char *arn)
{
	const char *colon = strrchr(arn, ':');

	if (strncmp(arn, "arn:", 4) != 0 || colon == NULL || colon[1] == '\0')
		return NULL;
	return pstrdup(colon + 1);
}

/*
 * Where clients reach the endpoint: sqsn.api_public_url, else the first
 * listen address and the port; NULL when the endpoint is off. No
 * trailing slash.
 */
char *
sqsn_endpoint_base_url(void)
{
	char *copy;
	List *names;
	char *first;

	if (api_public_url && api_public_url[0] != '\0')
	{
		size_t len = strlen(api_public_url);

		while (len > 0 && api_public_url[len - 1] == '/')
			len--;
		return pnstrdup(api_public_url, len);
	}
	if (sqsn_api_port == 0)
		return NULL;
	copy = pstrdup(sqsn_api_listen_addresses);
	if (!SplitGUCList(copy, ',', &names) || names == NIL)
		return NULL;
	first = linitial(names);
	if (strcmp(first, "*") == 0 || strcmp(first, "0.0.0.0") == 0)
		first = "localhost";
	if (strchr(first, ':') != NULL)
		return psprintf("%s://[%s]:%d", sqsn_api_scheme(), first,
						sqsn_api_port);
	return psprintf("%s://%s:%d", sqsn_api_scheme(), first, sqsn_api_port);
}

/* A queue's URL under a base URL: <base>/<account>/<queue> */
char *
sqsn_queue_url(const char *base_url, const char *queue_name)
{
	return psprintf("%s/%s/%s", base_url, sqsn_account_id(), queue_name);
}

/*
 * Appends the contents of the file at path to buf, up to limit bytes and
 * one chunk more, so that buf->len > limit tells a file too large. Returns
 * false, with errno set, when the file cannot be opened. The read buffer
 * is cleared afterwards: the file may hold a private key.
 */
bool
sqsn_read_file(const char *path, Size limit, StringInfo buf)
{
	FILE  *f = AllocateFile(path, PG_BINARY_R);
	char   chunk[4096];
	size_t n;

	if (f == NULL)
		return false;
	while (buf->len <= limit && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		appendBinaryStringInfo(buf, chunk, n);
	FreeFile(f);
	explicit_bzero(chunk, sizeof(chunk));
	return true;
}
