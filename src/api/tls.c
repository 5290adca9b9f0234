/*-------------------------------------------------------------------------
 *
 * tls.c
 *	  HTTPS on the endpoint: the certificate and key files named by
 *	  sqsn.api_tls_cert_file and sqsn.api_tls_key_file (common/settings.c),
 *	  checked when the server starts and read by each endpoint worker.
 *
 * With both files set, every address of the endpoint speaks HTTPS only
 * (libmicrohttpd's TLS, on GnuTLS), and the URLs the endpoint hands out
 * start with https://. The key file is a secret like the master key: it is
 * refused when the group or others may read it (security/crypto.c). A
 * problem found when the server starts leaves the endpoint off, with a
 * warning, rather than serving plain HTTP where HTTPS was asked for.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "api/api.h"

#include <microhttpd.h>
#include <sys/stat.h>

#include "storage/fd.h"
#include "utils/memutils.h"

#define TLS_FILE_MAX (1024 * 1024) /* a certificate chain, or a key */

/*
 * Why the TLS settings cannot be used, or NULL (also when HTTPS is off).
 */
char *
api_tls_problem(void)
{
	bool        cert = sqsn_api_tls_cert_file[0] != '\0';
	bool        key = sqsn_api_tls_key_file[0] != '\0';
	struct stat st;

	if (!cert && !key)
		return NULL;
	if (cert != key)
		return psprintf(
			"%s is set but %s is not",
			cert ? "sqsn.api_tls_cert_file" : "sqsn.api_tls_key_file",
			cert ? "sqsn.api_tls_key_file" : "sqsn.api_tls_cert_file");
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return pstrdup("the HTTP server library was built without TLS");
	if (stat(sqsn_api_tls_cert_file, &st) != 0)
		return psprintf("could not read TLS certificate file \"%s\": %m",
						sqsn_api_tls_cert_file);
	return sqsn_secret_file_problem(sqsn_api_tls_key_file, "TLS key file");
}

/* A whole PEM file, NUL-terminated, in TopMemoryContext; FATAL if not. */
static char *
read_pem(const char *path, const char *what, const char *marker,
		 const char *noun)
{
	StringInfoData buf;
	MemoryContext  old = MemoryContextSwitchTo(TopMemoryContext);

	initStringInfo(&buf);
	MemoryContextSwitchTo(old);
	if (!sqsn_read_file(path, TLS_FILE_MAX, &buf))
		ereport(FATAL, (errcode_for_file_access(),
						errmsg("sqsn api: could not open %s \"%s\": %m", what,
							   path)));
	if (buf.len > TLS_FILE_MAX || strstr(buf.data, marker) == NULL)
		ereport(FATAL, (errcode(ERRCODE_CONFIG_FILE_ERROR),
						errmsg("sqsn api: %s \"%s\" holds no PEM %s", what,
							   path, noun)));
	return buf.data;
}

/*
 * Fills options (room for three) with what MHD_start_daemon needs for
 * HTTPS, ending with MHD_OPTION_END; only the end when HTTPS is off.
 * Returns the daemon flag to add. Called by an endpoint worker before it
 * listens; the contents stay in memory while it runs.
 */
unsigned int
api_tls_options(struct MHD_OptionItem *options)
{
	static char *cert = NULL;
	static char *key = NULL;
	char        *problem;

	options[0] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	if (!sqsn_api_tls())
		return 0;
	if ((problem = api_tls_problem()) != NULL)
		ereport(FATAL, (errcode(ERRCODE_CONFIG_FILE_ERROR),
						errmsg("sqsn api: HTTPS cannot start: %s", problem)));
	if (cert == NULL)
	{
		cert = read_pem(sqsn_api_tls_cert_file, "TLS certificate file",
						"-----BEGIN CERTIFICATE-----", "certificate");
		key = read_pem(sqsn_api_tls_key_file, "TLS key file",
					   "PRIVATE KEY-----", "private key");
	}
	options[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, key};
	options[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, cert};
	options[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	return MHD_USE_TLS;
}
