/*-------------------------------------------------------------------------
 *
 * signing.c
 *	  Signatures of pushed messages, like the managed service's
 *	  SignatureVersion 2: RSA PKCS#1 v1.5 with SHA-256 over the
 *	  string-to-sign, base64-encoded.
 *
 * The private key is a PEM file named by sqsn.signing_key_file
 * (superuser-only, reloaded on SIGHUP); receivers verify with the public
 * certificate in sqsn.signing_certificate_file, which
 * sqsn.signing_certificate() returns and which sqsn.signing_certificate_url
 * (the envelope's SigningCertURL) should serve. `make demo` generates both
 * with openssl. Without a key, messages go out unsigned (no Signature
 * fields) and the delivery worker says so once in the log.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "push/push.h"

#include "common/base64.h"
#include "fmgr.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"

PG_FUNCTION_INFO_V1(sn_signing_certificate);

#define CERTIFICATE_FILE_MAX (1024 * 1024)

static char *sqsn_signing_key_file = NULL;
static char *sqsn_signing_certificate_file = NULL;
static char *sqsn_signing_certificate_url = NULL;

/* the loaded key and what it was loaded from */
static EVP_PKEY   *signing_key = NULL;
static char        loaded_path[MAXPGPATH];
static time_t      loaded_mtime = 0;
static bool        warned_no_key = false;
static EVP_MD_CTX *sign_template = NULL; /* initialised with the key */

void
SigningInit(void)
{
	DefineCustomStringVariable(
		"sqsn.signing_key_file",
		"PEM file with the private key that signs pushed "
		"messages.",
		"Empty: messages are pushed unsigned.", &sqsn_signing_key_file, "",
		PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("sqsn.signing_certificate_file",
							   "PEM file with the certificate of the signing "
							   "key, returned by sqsn.signing_certificate().",
							   NULL, &sqsn_signing_certificate_file, "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL,
							   NULL);
	DefineCustomStringVariable("sqsn.signing_certificate_url",
							   "SigningCertURL of pushed messages: where "
							   "receivers fetch the signing certificate.",
							   NULL, &sqsn_signing_certificate_url, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
}

static void
free_key(void)
{
	if (sign_template)
		EVP_MD_CTX_free(sign_template);
	sign_template = NULL;
	if (signing_key)
		EVP_PKEY_free(signing_key);
	signing_key = NULL;
	loaded_path[0] = '\0';
	loaded_mtime = 0;
}

/*
 * Loads the key when the setting or the file changed. A missing or bad
 * file is a WARNING (the worker goes on, unsigned), never an error.
 */
static void
refresh_key(void)
{
	const char *path = sqsn_signing_key_file ? sqsn_signing_key_file : "";
	struct stat st;
	FILE       *f;
	EVP_PKEY   *key;

	if (path[0] == '\0')
	{
		free_key();
		if (!warned_no_key)
			ereport(LOG, (errmsg("sqsn.signing_key_file is not set: pushed "
								 "messages are not signed")));
		warned_no_key = true;
		return;
	}
	if (stat(path, &st) != 0)
	{
		if (loaded_path[0] != '\0' || !warned_no_key)
			ereport(
				WARNING,
				(errcode_for_file_access(),
				 errmsg("could not read signing key file \"%s\": %m", path)));
		free_key();
		warned_no_key = true;
		return;
	}
	if (signing_key && strcmp(path, loaded_path) == 0 &&
		st.st_mtime == loaded_mtime)
		return;

	free_key();
	f = AllocateFile(path, "r");
	if (f == NULL)
	{
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not open signing key file \"%s\": %m", path)));
		warned_no_key = true;
		return;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	FreeFile(f);
	if (key == NULL || EVP_PKEY_base_id(key) != EVP_PKEY_RSA)
	{
		if (key)
			EVP_PKEY_free(key);
		ERR_clear_error();
		ereport(WARNING,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("signing key file \"%s\" does not hold a PEM RSA "
						"private key",
						path)));
		warned_no_key = true;
		return;
	}
	signing_key = key;
	strlcpy(loaded_path, path, sizeof(loaded_path));
	loaded_mtime = st.st_mtime;
	warned_no_key = false;
	ereport(LOG, (errmsg("sqsn loaded signing key \"%s\"", path)));
}

/* Whether a key is loaded; (re)loads it as needed. */
bool
sqsn_signing_available(void)
{
	refresh_key();
	return signing_key != NULL;
}

/*
 * The base64 SHA256withRSA signature of data, or NULL without a key.
 */
static char *
sign(const char *data, size_t len)
{
	EVP_MD_CTX    *ctx;
	unsigned char *sig;
	size_t         siglen = 0;
	char          *out;
	int            outlen;
	bool           ok;

	if (signing_key == NULL)
		return NULL;
	/*
	 * Setting up a signing context (fetching SHA-256 and preparing the key
	 * in OpenSSL 3) costs more than the signature itself: it is done once
	 * per key, and each signature starts from a copy.
	 */
	if (sign_template == NULL)
	{
		sign_template = EVP_MD_CTX_new();
		if (sign_template == NULL ||
			EVP_DigestSignInit(sign_template, NULL, EVP_sha256(), NULL,
							   signing_key) != 1)
		{
			EVP_MD_CTX_free(sign_template);
			sign_template = NULL;
			ERR_clear_error();
			ereport(WARNING, (errmsg("could not sign a pushed message")));
			return NULL;
		}
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return NULL;
	siglen = (size_t) EVP_PKEY_get_size(signing_key);
	sig = palloc(Max(siglen, 1));
	ok = EVP_MD_CTX_copy_ex(ctx, sign_template) == 1 &&
		 EVP_DigestSignUpdate(ctx, data, len) == 1 &&
		 EVP_DigestSignFinal(ctx, sig, &siglen) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok)
	{
		ERR_clear_error();
		ereport(WARNING, (errmsg("could not sign a pushed message")));
		return NULL;
	}
	out = palloc(pg_b64_enc_len(siglen) + 1);
	outlen = pg_b64_encode(sig, siglen, out, pg_b64_enc_len(siglen));
	out[Max(outlen, 0)] = '\0';
	pfree(sig);
	return out;
}

/*
 * Signs an envelope: its Signature, and its SigningCertURL when
 * sqsn.signing_certificate_url is set; both stay NULL without a key.
 */
void
sqsn_sign_envelope(SqsnEnvelope *envelope)
{
	char *sts = sqsn_envelope_string_to_sign(envelope);

	envelope->signature = sign(sts, strlen(sts));
	envelope->signature_version = envelope->signature ? "2" : NULL;
	envelope->signing_cert_url = NULL;
	if (envelope->signature && sqsn_signing_certificate_url &&
		sqsn_signing_certificate_url[0])
		envelope->signing_cert_url = sqsn_signing_certificate_url;
}

/*
 * sqsn.signing_certificate(): the PEM certificate receivers verify
 * signatures with.
 */
Datum
sn_signing_certificate(PG_FUNCTION_ARGS)
{
	const char    *path = sqsn_signing_certificate_file;
	StringInfoData buf;

	if (path == NULL || path[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no signing certificate is configured"),
				 errhint("Set sqsn.signing_certificate_file (and "
						 "sqsn.signing_key_file) in postgresql.conf; make "
						 "demo generates a pair.")));
	initStringInfo(&buf);
	if (!sqsn_read_file(path, CERTIFICATE_FILE_MAX, &buf))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open signing certificate file \"%s\": %m",
						path)));
	if (buf.len > CERTIFICATE_FILE_MAX ||
		strstr(buf.data, "-----BEGIN CERTIFICATE-----") == NULL)
		ereport(ERROR, (errcode(ERRCODE_CONFIG_FILE_ERROR),
						errmsg("signing certificate file \"%s\" holds no PEM "
							   "certificate",
							   path)));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(buf.data, buf.len));
}
