/*-------------------------------------------------------------------------
 *
 * auth.c
 *	  Authentication of the AWS-compatible endpoint: the access keys
 *	  (sqsn.api_credentials, api_create_credentials, api_drop_credentials),
 *	  the setting sqsn.api_auth, and the verification of AWS Signature
 *	  Version 4 on every request.
 *
 * An access key maps to a PostgreSQL role: a request signed with it runs
 * as that role, so the role's sqsn roles and the per-queue and per-topic
 * grants decide what it may do. Roles are recorded by name, like the
 * owners and grantees elsewhere: a request whose key's role has been
 * dropped is refused, and a new role of the same name would take the key
 * over (drop the key with the role).
 *
 * Verification follows AWS's description of Signature Version 4: the
 * canonical request (method, canonical URI, canonical query string,
 * canonical headers, signed headers, SHA-256 of the payload), the string
 * to sign with the credential scope <date>/<region>/<service>/aws4_request,
 * the signing key derived from the secret by a chain of HMAC-SHA256, and a
 * constant-time comparison of the signatures. The signature travels in
 * the Authorization header or, for a presigned URL, in the query string
 * (X-Amz-Signature and friends). A request dated more than 15 minutes away
 * from the server's clock is refused, as AWS does, and so is a presigned
 * URL past its X-Amz-Expires.
 *
 * With sqsn.api_auth = 'none' nothing is verified: a request runs as the
 * role of the access key it names when that key is known, else as the
 * bootstrap superuser. The server refuses to listen on anything but
 * loopback addresses in that mode (server.c).
 *
 * In both modes an unsigned GET of ConfirmSubscription or Unsubscribe runs
 * as the bootstrap superuser: those are the links that SNS's confirmation
 * messages and notification envelopes carry, and their token or random
 * subscription id is the credential, as at AWS.
 *
 * Secrets never leave this file: they are not logged, not put in error
 * messages, and the copies made for a verification are wiped afterwards.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "api/api.h"

#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(api_create_credentials);
PG_FUNCTION_INFO_V1(api_drop_credentials);

#define SIGV4_ALGORITHM     "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR    "aws4_request"
#define SIGV4_MAX_SKEW_SECS (15 * 60)
#define SIGV4_MAX_EXPIRES   604800 /* 7 days, AWS's limit for presigned URLs */
#define SHA256_HEX_LEN      64

#define MIN_KEY_ID_LEN        16
#define MAX_KEY_ID_LEN        128
#define MIN_SECRET_LEN        8
#define MAX_SECRET_LEN        128
#define MAX_SESSION_TOKEN_LEN 2048 /* STS tokens run to about 1,000 */
#define GENERATED_KEY_ID_LEN  20
#define GENERATED_SECRET_LEN  40

#define SIGNATURE_MISMATCH_MESSAGE                                            \
	"The request signature we calculated does not match the signature you "   \
	"provided. Check your AWS Secret Access Key and signing method. Consult " \
	"the service documentation for details."

typedef enum ApiAuthMode
{
	API_AUTH_SIGV4,
	API_AUTH_NONE,
} ApiAuthMode;

static const struct config_enum_entry api_auth_options[] = {
	{"sigv4", API_AUTH_SIGV4, false},
	{"none", API_AUTH_NONE, false},
	{NULL, 0, false},
};

static int api_auth_mode = API_AUTH_SIGV4;

static SqsnStatement credential_stmt = {
	"SELECT secret_access_key, role::pg_catalog.text, session_token"
	" FROM sqsn.api_credentials"
	" WHERE access_key_id OPERATOR(pg_catalog.=) $1",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading sqsn.api_credentials",
	true};

/* the same before ALTER EXTENSION sqsn UPDATE brought session tokens */
static SqsnStatement credential_without_token_stmt = {
	"SELECT secret_access_key, role::pg_catalog.text, NULL::pg_catalog.text"
	" FROM sqsn.api_credentials"
	" WHERE access_key_id OPERATOR(pg_catalog.=) $1",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading sqsn.api_credentials",
	true};

/* What a request says about its signature, from the header or the query. */
typedef struct SigV4Request
{
	bool        presigned; /* from the query string */
	char       *access_key_id;
	char       *scope_date; /* yyyymmdd */
	char       *scope_region;
	char       *scope_service;
	char       *scope_terminator;
	char       *signed_headers; /* "content-type;host;x-amz-date" */
	char       *signature;      /* hex */
	const char *amz_date;       /* yyyymmddThhmmssZ */
	const char *expires;        /* presigned only */
} SigV4Request;

/* A credential read from sqsn.api_credentials. */
typedef struct ApiCredential
{
	char *secret;
	char *role;
	char *session_token; /* NULL: none */
} ApiCredential;

/* ASCII only, whatever the database's locale says */
#define is_blank(c) ((c) == ' ' || (c) == '\t')
#define is_ascii_alnum(c)                                                     \
	(((c) >= 'A' && (c) <= 'Z') || ((c) >= 'a' && (c) <= 'z') ||              \
	 ((c) >= '0' && (c) <= '9'))

static const char *find_param(List *params, const char *name);
static char       *sigv4_header_value(List *headers, const char *name);
static bool        parse_authorization(const char *header, SigV4Request *sig);
static bool        parse_presigned(List *query_params, SigV4Request *sig);
static bool        split_credential(const char *credential, SigV4Request *sig);
static bool  lookup_credential(const char *access_key_id, ApiCredential *cred);
static Oid   credential_role(const char *access_key_id, const char *role);
static void  verify_signature(SigV4Request *sig, ApiCredential *cred,
							  const char *method, const char *path,
							  List *query_params, List *headers,
							  const char *body, size_t body_len);
static void  check_date(SigV4Request *sig);
static void  check_scope_service(ApiRequest *req, SigV4Request *sig);
static void  check_session_token(SigV4Request *sig, ApiCredential *cred,
								 List *query_params, List *headers);
static char *date_header_as_amz_date(const char *date);
static bool  header_is_signed(const char *signed_headers, const char *name);
static bool  parse_amz_date(const char *s, TimestampTz *result);
static char *format_amz_date(TimestampTz t);
static void  uri_encode(StringInfo buf, const char *s, bool keep_slash);
static char *canonical_uri(const char *path);
static char *canonical_query(List *query_params, bool presigned);
static bool  canonical_headers(StringInfo buf, List *headers,
							   const char *signed_headers);
static void  sha256_hex(const void *data, size_t len, char *hex);
static void  hmac_sha256(const void *key, size_t key_len, const char *data,
						 unsigned char *out);
static void  wipe_string(char *s);
static bool  valid_key_id(const char *s);
static bool  valid_secret(const char *s);
static bool  valid_session_token(const char *s);
static char *random_string(const char *alphabet, int alphabet_len, int len);

/*
 * The setting sqsn.api_auth; called by ApiInit.
 */
void
ApiAuthInit(void)
{
	DefineCustomEnumVariable(
		"sqsn.api_auth",
		"How the AWS-compatible endpoint authenticates requests.",
		"sigv4: every request must carry a valid AWS Signature Version 4 "
		"made with an access key of sqsn.api_credentials. none: no "
		"verification (loopback addresses only).",
		&api_auth_mode, API_AUTH_SIGV4, api_auth_options, PGC_SIGHUP,
		GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
}

bool
api_auth_is_none(void)
{
	return api_auth_mode == API_AUTH_NONE;
}

/*
 * Authenticates a request: sets req->roleid and req->access_key_id, or
 * throws the AWS error that refuses it. Runs inside the
 * request's transaction, as the bootstrap superuser, before the switch to
 * the request's role; connects to SPI itself.
 */
void
api_authenticate(ApiRequest *req, const char *method, const char *path,
				 List *query_params, List *headers, const char *body,
				 size_t body_len)
{
	char         *authorization = sigv4_header_value(headers, "authorization");
	const char   *action = find_param(query_params, "Action");
	SigV4Request  sig;
	ApiCredential cred;
	bool          have_signature;
	bool          known;

	memset(&sig, 0, sizeof(sig));
	req->access_key_id = NULL;

	have_signature = authorization != NULL ||
					 find_param(query_params, "X-Amz-Signature") != NULL ||
					 find_param(query_params, "X-Amz-Credential") != NULL;

	/* the links in SNS's messages: their token is the credential */
	if (!have_signature && strcmp(method, "GET") == 0 && action != NULL &&
		(strcmp(action, "ConfirmSubscription") == 0 ||
		 strcmp(action, "Unsubscribe") == 0))
	{
		req->roleid = BOOTSTRAP_SUPERUSERID;
		return;
	}

	if (!have_signature)
	{
		if (api_auth_mode == API_AUTH_NONE)
		{
			req->roleid = BOOTSTRAP_SUPERUSERID;
			return;
		}
		api_error("MissingAuthenticationToken", 403,
				  "The request must contain either a valid (registered) AWS "
				  "access key ID or X.509 certificate.");
	}

	if (authorization != NULL ? !parse_authorization(authorization, &sig)
							  : !parse_presigned(query_params, &sig))
	{
		if (api_auth_mode == API_AUTH_NONE)
		{
			/* whatever it says, nothing is checked: use what could be read */
			if (sig.access_key_id == NULL)
			{
				req->roleid = BOOTSTRAP_SUPERUSERID;
				return;
			}
		}
		else if (authorization != NULL)
			api_error("IncompleteSignature", 400,
					  "Authorization header requires 'Credential', "
					  "'Signature' and 'SignedHeaders' parameters, and the "
					  "algorithm %s.",
					  SIGV4_ALGORITHM);
		else
			api_error("IncompleteSignature", 400,
					  "AWS query-string parameters must include "
					  "'X-Amz-Algorithm' (%s), 'X-Amz-Credential', "
					  "'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders' "
					  "and 'X-Amz-Expires'.",
					  SIGV4_ALGORITHM);
	}

	req->access_key_id = sig.access_key_id;

	known = lookup_credential(sig.access_key_id, &cred);
	if (api_auth_mode == API_AUTH_NONE)
	{
		req->roleid = known ? credential_role(sig.access_key_id, cred.role)
							: BOOTSTRAP_SUPERUSERID;
		if (known)
			wipe_string(cred.secret);
		if (known && cred.session_token)
			wipe_string(cred.session_token);
		return;
	}

	if (!known)
		api_error("InvalidClientTokenId", 403,
				  "The security token included in the request is invalid.");

	PG_TRY();
	{
		check_scope_service(req, &sig);
		verify_signature(&sig, &cred, method, path, query_params, headers,
						 body, body_len);
		check_session_token(&sig, &cred, query_params, headers);
	}
	PG_FINALLY();
	{
		wipe_string(cred.secret);
		if (cred.session_token)
			wipe_string(cred.session_token);
	}
	PG_END_TRY();

	req->roleid = credential_role(sig.access_key_id, cred.role);
}

/*
 * The value of the first query parameter called name, or NULL.
 */
static const char *
find_param(List *params, const char *name)
{
	ListCell *lc;

	foreach (lc, params)
	{
		ApiParam *p = (ApiParam *) lfirst(lc);

		if (strcmp(p->name, name) == 0)
			return p->value;
	}
	return NULL;
}

/*
 * The value of a header (name in lower case), the values of repeated
 * headers joined by commas as SigV4 wants them; NULL when absent.
 */
static char *
sigv4_header_value(List *headers, const char *name)
{
	StringInfoData buf;
	bool           found = false;
	ListCell      *lc;

	initStringInfo(&buf);
	foreach (lc, headers)
	{
		ApiParam *h = (ApiParam *) lfirst(lc);

		if (pg_strcasecmp(h->name, name) != 0)
			continue;
		if (found)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, h->value);
		found = true;
	}
	if (!found)
	{
		pfree(buf.data);
		return NULL;
	}
	return buf.data;
}

/*
 * Splits <key id>/<date>/<region>/<service>/aws4_request. False when it
 * has not five parts; the key id is set whenever there is one.
 */
static bool
split_credential(const char *credential, SigV4Request *sig)
{
	char *copy = pstrdup(credential);
	char *parts[5];
	int   n = 0;
	char *p = copy;

	while (n < 5)
	{
		char *slash = strchr(p, '/');

		parts[n++] = p;
		if (slash == NULL)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	if (n >= 1 && parts[0][0] != '\0')
		sig->access_key_id = parts[0];
	if (n != 5 || strchr(parts[4], '/') != NULL)
		return false;
	sig->scope_date = parts[1];
	sig->scope_region = parts[2];
	sig->scope_service = parts[3];
	sig->scope_terminator = parts[4];
	return true;
}

/*
 * Reads "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
 * False when something is missing (sig->access_key_id may still be set).
 */
static bool
parse_authorization(const char *header, SigV4Request *sig)
{
	size_t alg_len = strlen(SIGV4_ALGORITHM);
	char  *copy;
	char  *p;
	char  *credential = NULL;
	bool   scope_ok = false;

	while (is_blank(*header))
		header++;
	if (strncmp(header, SIGV4_ALGORITHM, alg_len) != 0 ||
		!is_blank(header[alg_len]))
		return false;

	copy = pstrdup(header + alg_len);
	p = copy;
	while (*p != '\0')
	{
		char *end;
		char *eq;

		while (*p == ',' || is_blank(*p))
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, ',');
		if (end != NULL)
			*end = '\0';
		eq = strchr(p, '=');
		if (eq != NULL)
		{
			char *value = eq + 1;
			char *tail = value + strlen(value);

			*eq = '\0';
			while (tail > value && is_blank(tail[-1]))
				*--tail = '\0';
			if (strcmp(p, "Credential") == 0)
				credential = value;
			else if (strcmp(p, "SignedHeaders") == 0)
				sig->signed_headers = value;
			else if (strcmp(p, "Signature") == 0)
				sig->signature = value;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}

	if (credential != NULL)
		scope_ok = split_credential(credential, sig);
	sig->presigned = false;
	return credential != NULL && sig->signed_headers != NULL &&
		   sig->signature != NULL && sig->access_key_id != NULL && scope_ok;
}

/*
 * Reads the X-Amz-* parameters of a presigned URL.
 */
static bool
parse_presigned(List *query_params, SigV4Request *sig)
{
	const char *algorithm = find_param(query_params, "X-Amz-Algorithm");
	const char *credential = find_param(query_params, "X-Amz-Credential");
	const char *signed_headers =
		find_param(query_params, "X-Amz-SignedHeaders");
	const char *signature = find_param(query_params, "X-Amz-Signature");
	bool        scope_ok = false;

	sig->presigned = true;
	if (credential != NULL)
		scope_ok = split_credential(credential, sig);
	sig->signed_headers = signed_headers ? pstrdup(signed_headers) : NULL;
	sig->signature = signature ? pstrdup(signature) : NULL;
	sig->amz_date = find_param(query_params, "X-Amz-Date");
	sig->expires = find_param(query_params, "X-Amz-Expires");
	return algorithm != NULL && strcmp(algorithm, SIGV4_ALGORITHM) == 0 &&
		   scope_ok && sig->signed_headers != NULL && sig->signature != NULL &&
		   sig->amz_date != NULL && sig->expires != NULL &&
		   sig->access_key_id != NULL;
}

/*
 * Reads the secret and role of an access key, in the caller's memory.
 * False when the key is unknown (or the catalog has no credentials yet,
 * before ALTER EXTENSION sqsn UPDATE).
 */
static bool
lookup_credential(const char *access_key_id, ApiCredential *cred)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Oid           nsp = get_namespace_oid(SQSN_SCHEMA, true);
	Datum         arg;
	bool          found = false;

	cred->secret = NULL;
	cred->role = NULL;
	cred->session_token = NULL;
	if (!OidIsValid(nsp) ||
		!OidIsValid(get_relname_relid("api_credentials", nsp)) ||
		!valid_key_id(access_key_id))
		return false;

	/* the server calls before it has a snapshot of its own */
	PushActiveSnapshot(GetTransactionSnapshot());
	sqsn_spi_connect();
	arg = CStringGetTextDatum(access_key_id);
	if (sqsn_execute(sqsn_catalog_has(SQSN_CATALOG_SESSION_TOKENS)
						 ? &credential_stmt
						 : &credential_without_token_stmt,
					 &arg, NULL, 1) == 1)
	{
		HeapTuple tuple = SPI_tuptable->vals[0];
		TupleDesc desc = SPI_tuptable->tupdesc;
		char     *secret = SPI_getvalue(tuple, desc, 1);
		char     *token = SPI_getvalue(tuple, desc, 3);

		cred->secret = MemoryContextStrdup(callercxt, secret);
		cred->role =
			MemoryContextStrdup(callercxt, SPI_getvalue(tuple, desc, 2));
		if (token != NULL)
		{
			cred->session_token = MemoryContextStrdup(callercxt, token);
			wipe_string(token);
		}
		wipe_string(secret);
		found = true;
	}
	SPI_finish();
	PopActiveSnapshot();
	return found;
}

/*
 * The role an access key runs as; refused when it no longer exists.
 */
static Oid
credential_role(const char *access_key_id, const char *role)
{
	Oid roleid = get_role_oid(role, true);

	if (!OidIsValid(roleid))
	{
		ereport(LOG, (errmsg("access key \"%s\" belongs to role \"%s\", which "
							 "does not exist",
							 access_key_id, role)));
		api_error("InvalidClientTokenId", 403,
				  "The security token included in the request is invalid.");
	}
	return roleid;
}

/*
 * Checks the request's date and its signature against the secret; throws
 * SignatureDoesNotMatch when anything differs.
 */
static void
verify_signature(SigV4Request *sig, ApiCredential *cred, const char *method,
				 const char *path, List *query_params, List *headers,
				 const char *body, size_t body_len)
{
	char          *creq;
	StringInfoData sts;
	char           payload_hash[SHA256_HEX_LEN + 1];
	char           creq_hash[SHA256_HEX_LEN + 1];
	char          *content_sha256;
	char          *key;
	unsigned char  k1[32], k2[32], k3[32], k4[32], mac[32];
	char           hex[SHA256_HEX_LEN + 1];
	bool           ok;

	if (strcmp(sig->scope_terminator, SIGV4_TERMINATOR) != 0)
		api_error("SignatureDoesNotMatch", 403,
				  "Credential should be scoped with a valid terminator: "
				  "'aws4_request', not '%s'.",
				  sig->scope_terminator);
	if (sig->scope_region[0] == '\0' || sig->scope_service[0] == '\0')
		api_error(
			"SignatureDoesNotMatch", 403,
			"Credential should be scoped to a valid region and service.");

	if (!sig->presigned)
	{
		char *amz_date = sigv4_header_value(headers, "x-amz-date");
		char *date = sigv4_header_value(headers, "date");

		/* the older form: a signed Date header in HTTP's format */
		if (amz_date == NULL && date != NULL &&
			header_is_signed(sig->signed_headers, "date"))
			amz_date = date_header_as_amz_date(date);
		if (amz_date == NULL)
			api_error("SignatureDoesNotMatch", 403,
					  "Authorization header requires existence of either a "
					  "'X-Amz-Date' or a 'Date' header.");
		sig->amz_date = amz_date;
	}
	check_date(sig);

	/* the body must be what the signature covers */
	sha256_hex(body, body_len, payload_hash);
	content_sha256 = sigv4_header_value(headers, "x-amz-content-sha256");
	if (content_sha256 != NULL &&
		pg_strcasecmp(content_sha256, payload_hash) != 0)
		api_error("SignatureDoesNotMatch", 403,
				  "The provided 'x-amz-content-sha256' header does not match "
				  "what was computed.");

	/* the canonical request */
	creq = api_sigv4_canonical_request(
		method, path, query_params, sig->presigned, headers,
		sig->signed_headers,
		content_sha256 != NULL ? content_sha256 : payload_hash);
	if (creq == NULL)
		api_error("SignatureDoesNotMatch", 403,
				  "'Host' must be a 'SignedHeader', and every signed header "
				  "must be present in the request.");
	sha256_hex(creq, strlen(creq), creq_hash);

	/* the string to sign */
	initStringInfo(&sts);
	appendStringInfo(&sts, "%s\n%s\n%s/%s/%s/%s\n%s", SIGV4_ALGORITHM,
					 sig->amz_date, sig->scope_date, sig->scope_region,
					 sig->scope_service, sig->scope_terminator, creq_hash);

	/* the signing key, then the signature */
	key = psprintf("AWS4%s", cred->secret);
	hmac_sha256(key, strlen(key), sig->scope_date, k1);
	wipe_string(key);
	hmac_sha256(k1, sizeof(k1), sig->scope_region, k2);
	hmac_sha256(k2, sizeof(k2), sig->scope_service, k3);
	hmac_sha256(k3, sizeof(k3), SIGV4_TERMINATOR, k4);
	hmac_sha256(k4, sizeof(k4), sts.data, mac);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", mac[i]);
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	OPENSSL_cleanse(k3, sizeof(k3));
	OPENSSL_cleanse(k4, sizeof(k4));

	ok = strlen(sig->signature) == SHA256_HEX_LEN;
	if (ok)
	{
		char given[SHA256_HEX_LEN];

		for (int i = 0; i < SHA256_HEX_LEN; i++)
			given[i] = pg_ascii_tolower((unsigned char) sig->signature[i]);
		ok = CRYPTO_memcmp(given, hex, SHA256_HEX_LEN) == 0;
	}
	if (!ok)
		api_error("SignatureDoesNotMatch", 403, SIGNATURE_MISMATCH_MESSAGE);
}

/*
 * SigV4's canonical request: method, canonical URI, canonical query string
 * (without X-Amz-Signature when presigned), the signed headers' canonical
 * lines, the signed header list and the payload hash. NULL when host is
 * not signed or a signed header is missing.
 */
char *
api_sigv4_canonical_request(const char *method, const char *path,
							List *query_params, bool presigned, List *headers,
							const char *signed_headers,
							const char *payload_hash)
{
	StringInfoData creq;

	initStringInfo(&creq);
	appendStringInfo(&creq, "%s\n", method);
	appendStringInfo(&creq, "%s\n", canonical_uri(path));
	appendStringInfo(&creq, "%s\n", canonical_query(query_params, presigned));
	if (!canonical_headers(&creq, headers, signed_headers))
		return NULL;
	appendStringInfo(&creq, "\n%s\n%s", signed_headers, payload_hash);
	return creq.data;
}

/*
 * A credential scope that names sqsn's other service is refused: a
 * signature made for SNS does not run an SQS action, nor the other way
 * round, as at AWS. Other service names are let through: signers that take
 * the service from the host name (AWS::Signature4 and the like) find none
 * in an endpoint's own name and fall back to one of their own, and the
 * signature itself still covers the scope.
 */
static void
check_scope_service(ApiRequest *req, SigV4Request *sig)
{
	const char *service = req->service == API_SNS ? "sns" : "sqs";
	const char *other = req->service == API_SNS ? "sqs" : "sns";

	if (strcmp(sig->scope_service, other) == 0)
		api_error("SignatureDoesNotMatch", 403,
				  "Credential should be scoped to correct service: '%s'.",
				  service);
}

/*
 * A key with a session token (temporary credentials) takes only requests
 * that carry it, in the X-Amz-Security-Token header or, presigned, query
 * parameter; a key without one takes no request that carries one.
 */
static void
check_session_token(SigV4Request *sig, ApiCredential *cred, List *query_params,
					List *headers)
{
	const char *token = find_param(query_params, "X-Amz-Security-Token");

	if (token == NULL && !sig->presigned)
		token = sigv4_header_value(headers, "x-amz-security-token");
	if (token == NULL && cred->session_token == NULL)
		return;
	if (token != NULL && cred->session_token != NULL &&
		strlen(token) == strlen(cred->session_token) &&
		CRYPTO_memcmp(token, cred->session_token, strlen(token)) == 0)
		return;
	api_error("InvalidClientTokenId", 403,
			  "The security token included in the request is invalid.");
}

/* Whether name is one of the ';'-separated signed headers. */
static bool
header_is_signed(const char *signed_headers, const char *name)
{
	size_t      len = strlen(name);
	const char *p = signed_headers;

	while (p != NULL && *p != '\0')
	{
		const char *end = strchr(p, ';');
		size_t      n = end ? (size_t) (end - p) : strlen(p);

		if (n == len && pg_strncasecmp(p, name, len) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/*
 * An HTTP date ("Mon, 07 Dec 2026 18:30:00 GMT", RFC 7231's IMF-fixdate)
 * as yyyymmddThhmmssZ, which the string to sign then holds; NULL when it
 * is not one.
 */
static char *
date_header_as_amz_date(const char *date)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
										 "May", "Jun", "Jul", "Aug",
										 "Sep", "Oct", "Nov", "Dec"};
	char                     weekday[4];
	char                     month[4];
	int                      day, year, hour, minute, second;
	int                      consumed = 0;

	if (sscanf(date, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n",
			   weekday, &day, month, &year, &hour, &minute, &second,
			   &consumed) != 7 ||
		consumed != (int) strlen(date))
		return NULL;
	for (int m = 0; m < 12; m++)
		if (strcmp(month, months[m]) == 0)
			return psprintf("%04d%02d%02dT%02d%02d%02dZ", year, m + 1, day,
							hour, minute, second);
	return NULL;
}

/*
 * The request's date: well-formed, the scope's day, within 15 minutes of
 * now (a presigned URL: between 15 minutes before its date and its
 * expiry).
 */
static void
check_date(SigV4Request *sig)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz date;
	TimestampTz earliest;
	TimestampTz latest;
	int64       skew = (int64) SIGV4_MAX_SKEW_SECS * USECS_PER_SEC;

	if (!parse_amz_date(sig->amz_date, &date))
		api_error("SignatureDoesNotMatch", 403,
				  "Date must be in ISO-8601 'basic format'. Got '%s'. See "
				  "http://en.wikipedia.org/wiki/ISO_8601",
				  sig->amz_date);
	if (strlen(sig->scope_date) != 8 ||
		strncmp(sig->scope_date, sig->amz_date, 8) != 0)
		api_error("SignatureDoesNotMatch", 403,
				  "Date in Credential scope does not match YYYYMMDD from "
				  "ISO-8601 version of date from HTTP: '%s' != '%.8s', from "
				  "'%s'.",
				  sig->scope_date, sig->amz_date, sig->amz_date);

	earliest = now - skew;
	latest = now + skew;
	if (sig->presigned)
	{
		char *end;
		long  expires = strtol(sig->expires, &end, 10);

		if (*sig->expires == '\0' || *end != '\0' || expires < 1 ||
			expires > SIGV4_MAX_EXPIRES)
			api_error("SignatureDoesNotMatch", 403,
					  "X-Amz-Expires must be a whole number of seconds from "
					  "1 to %d.",
					  SIGV4_MAX_EXPIRES);
		if (now > date + (int64) expires * USECS_PER_SEC)
			api_error("SignatureDoesNotMatch", 403,
					  "Signature expired: %s plus X-Amz-Expires %ld seconds "
					  "is now earlier than %s.",
					  sig->amz_date, expires, format_amz_date(now));
	}
	else if (date < earliest)
		api_error("SignatureDoesNotMatch", 403,
				  "Signature expired: %s is now earlier than %s (%s - 15 "
				  "min.)",
				  sig->amz_date, format_amz_date(earliest),
				  format_amz_date(now));
	if (date > latest)
		api_error("SignatureDoesNotMatch", 403,
				  "Signature not yet current: %s is still later than %s (%s "
				  "+ 15 min.)",
				  sig->amz_date, format_amz_date(latest),
				  format_amz_date(now));
}

/*
 * Reads yyyymmddThhmmssZ (UTC).
 */
static bool
parse_amz_date(const char *s, TimestampTz *result)
{
	struct pg_tm tm;
	int          v[6];
	const int    widths[6] = {4, 2, 2, 2, 2, 2};
	int          pos = 0;

	if (s == NULL || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
		return false;
	for (int i = 0; i < 6; i++)
	{
		v[i] = 0;
		if (i == 3)
			pos++; /* the T */
		for (int j = 0; j < widths[i]; j++, pos++)
		{
			if (s[pos] < '0' || s[pos] > '9')
				return false;
			v[i] = v[i] * 10 + (s[pos] - '0');
		}
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = v[0];
	tm.tm_mon = v[1];
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
		tm.tm_mday > day_tab[isleap(tm.tm_year)][tm.tm_mon - 1] ||
		tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return false;
	return tm2timestamp(&tm, 0, NULL, result) == 0;
}

static char *
format_amz_date(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t       fsec;

	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		return pstrdup("?");
	return psprintf("%04d%02d%02dT%02d%02d%02dZ", tm.tm_year, tm.tm_mon,
					tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * SigV4's URI encoding: every byte but the unreserved characters
 * A-Z a-z 0-9 - _ . ~ (and / when keep_slash) as %XX, upper-case hex.
 */
static void
uri_encode(StringInfo buf, const char *s, bool keep_slash)
{
	static const char hexdigits[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if (is_ascii_alnum(*p) || *p == '-' || *p == '_' || *p == '.' ||
			*p == '~' || (keep_slash && *p == '/'))
			appendStringInfoChar(buf, (char) *p);
		else
		{
			appendStringInfoChar(buf, '%');
			appendStringInfoChar(buf, hexdigits[*p >> 4]);
			appendStringInfoChar(buf, hexdigits[*p & 0x0F]);
		}
	}
}

/*
 * The canonical URI of a (percent-decoded) path: the path with its . and
 * .. segments resolved, encoded as a client puts it on the wire, then
 * encoded once more, as SigV4 wants it for every service but S3.
 */
static char *
canonical_uri(const char *path)
{
	List          *segments = NIL;
	char          *copy;
	char          *p;
	bool           trailing_slash;
	StringInfoData once;
	StringInfoData twice;
	ListCell      *lc;

	if (path == NULL || path[0] == '\0')
		return pstrdup("/");

	copy = pstrdup(path[0] == '/' ? path + 1 : path);
	trailing_slash = copy[0] != '\0' && copy[strlen(copy) - 1] == '/';
	p = copy;
	for (;;)
	{
		char *slash = strchr(p, '/');

		if (slash != NULL)
			*slash = '\0';
		if (strcmp(p, ".") == 0)
			;
		else if (strcmp(p, "..") == 0)
		{
			if (segments != NIL)
				segments = list_delete_last(segments);
		}
		else if (slash != NULL || p[0] != '\0')
			segments = lappend(segments, p);
		if (slash == NULL)
			break;
		p = slash + 1;
	}

	initStringInfo(&once);
	foreach (lc, segments)
	{
		appendStringInfoChar(&once, '/');
		uri_encode(&once, (char *) lfirst(lc), false);
	}
	if (once.len == 0 || (trailing_slash && once.data[once.len - 1] != '/'))
		appendStringInfoChar(&once, '/');

	initStringInfo(&twice);
	uri_encode(&twice, once.data, true);
	return twice.data;
}

typedef struct EncodedParam
{
	char *name;
	char *value;
} EncodedParam;

static int
compare_encoded_params(const void *a, const void *b)
{
	const EncodedParam *x = (const EncodedParam *) a;
	const EncodedParam *y = (const EncodedParam *) b;
	int                 c = strcmp(x->name, y->name);

	return c != 0 ? c : strcmp(x->value, y->value);
}

/*
 * The canonical query string: every parameter (but a presigned URL's
 * X-Amz-Signature) encoded, sorted by encoded name then value.
 */
static char *
canonical_query(List *query_params, bool presigned)
{
	EncodedParam  *params;
	int            n = 0;
	StringInfoData buf;
	ListCell      *lc;

	params = palloc(sizeof(EncodedParam) * (list_length(query_params) + 1));
	foreach (lc, query_params)
	{
		ApiParam      *p = (ApiParam *) lfirst(lc);
		StringInfoData s;

		if (presigned && strcmp(p->name, "X-Amz-Signature") == 0)
			continue;
		initStringInfo(&s);
		uri_encode(&s, p->name, false);
		params[n].name = s.data;
		initStringInfo(&s);
		uri_encode(&s, p->value ? p->value : "", false);
		params[n].value = s.data;
		n++;
	}
	if (n > 1)
		qsort(params, n, sizeof(EncodedParam), compare_encoded_params);

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%s=%s", i > 0 ? "&" : "", params[i].name,
						 params[i].value);
	return buf.data;
}

/*
 * Appends the canonical headers ("name:value\n" for each signed header,
 * each of its values trimmed, runs of blanks collapsed, a repeated
 * header's values joined by commas). False when host is not signed or a
 * signed header is missing.
 */
static bool
canonical_headers(StringInfo buf, List *headers, const char *signed_headers)
{
	char *copy = pstrdup(signed_headers);
	char *name = copy;
	bool  host_signed = false;

	if (copy[0] == '\0')
		return false;
	for (;;)
	{
		char     *semi = strchr(name, ';');
		bool      found = false;
		ListCell *lc;

		if (semi != NULL)
			*semi = '\0';
		if (strcmp(name, "host") == 0)
			host_signed = true;
		appendStringInfo(buf, "%s:", name);
		/* each value trimmed, its blanks collapsed; repeated ones joined */
		foreach (lc, headers)
		{
			ApiParam   *h = (ApiParam *) lfirst(lc);
			const char *v = h->value;
			bool        space = false;

			if (pg_strcasecmp(h->name, name) != 0)
				continue;
			if (found)
				appendStringInfoChar(buf, ',');
			found = true;
			while (*v == ' ' || *v == '\t')
				v++;
			for (; *v; v++)
			{
				if (*v == ' ' || *v == '\t')
					space = true;
				else
				{
					if (space)
						appendStringInfoChar(buf, ' ');
					space = false;
					appendStringInfoChar(buf, *v);
				}
			}
		}
		if (!found)
			return false;
		appendStringInfoChar(buf, '\n');

		if (semi == NULL)
			break;
		name = semi + 1;
	}
	return host_signed;
}

static void
sha256_hex(const void *data, size_t len, char *hex)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int  digest_len;

	if (EVP_Digest(data ? data : "", len, digest, &digest_len, EVP_sha256(),
				   NULL) != 1 ||
		digest_len != 32)
		elog(ERROR, "could not compute SHA-256");
	for (unsigned int i = 0; i < digest_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

static void
hmac_sha256(const void *key, size_t key_len, const char *data,
			unsigned char *out)
{
	unsigned int out_len = 0;

	if (HMAC(EVP_sha256(), key, (int) key_len, (const unsigned char *) data,
			 strlen(data), out, &out_len) == NULL ||
		out_len != 32)
		elog(ERROR, "could not compute HMAC-SHA256");
}

static void
wipe_string(char *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s, strlen(s));
}

/* 16 to 128 characters, each A-Z or 0-9. */
static bool
valid_key_id(const char *s)
{
	size_t len = s ? strlen(s) : 0;

	if (len < MIN_KEY_ID_LEN || len > MAX_KEY_ID_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9')))
			return false;
	return true;
}

/* min to max printable ASCII characters, no spaces. */
static bool
valid_token(const char *s, size_t min, size_t max)
{
	size_t len = strlen(s);

	if (len < min || len > max)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s > '~')
			return false;
	return true;
}

static bool
valid_secret(const char *s)
{
	return valid_token(s, MIN_SECRET_LEN, MAX_SECRET_LEN);
}

static bool
valid_session_token(const char *s)
{
	return valid_token(s, MIN_SECRET_LEN, MAX_SESSION_TOKEN_LEN);
}

/*
 * len characters drawn uniformly from alphabet (whose length is a power of
 * two, so masking the random bytes keeps them uniform).
 */
static char *
random_string(const char *alphabet, int alphabet_len, int len)
{
	unsigned char *bytes = palloc(len);
	char          *s = palloc(len + 1);

	Assert((alphabet_len & (alphabet_len - 1)) == 0);
	if (!pg_strong_random(bytes, len))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not generate random access key")));
	for (int i = 0; i < len; i++)
		s[i] = alphabet[bytes[i] & (alphabet_len - 1)];
	s[len] = '\0';
	OPENSSL_cleanse(bytes, len);
	pfree(bytes);
	return s;
}

/*
 * sqsn.api_create_credentials(role, access_key_id, secret_access_key,
 * session_token): a new access key for role, generated unless given;
 * returns the key id and the secret (the only time the secret is shown).
 * With a session token the key is a temporary credential's: requests must
 * carry the token.
 */
Datum
api_create_credentials(PG_FUNCTION_ARGS)
{
	static const char key_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	static const char secret_alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char          *role;
	Oid            roleid;
	char          *key_id;
	char          *secret;
	char          *session_token = NULL;
	Datum          args[6];
	char           argnulls[7] = "      "; /* SPI's: 'n' for NULL */
	Datum          values[2];
	bool           nulls[2] = {false, false};
	int            ret;

	sqsn_refuse_on_standby(fcinfo);
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("role must not be NULL")));
	role = pstrdup(NameStr(*PG_GETARG_NAME(0)));
	roleid = get_role_oid(role, true);
	if (!OidIsValid(roleid))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("role \"%s\" does not exist", role)));
	if (superuser_arg(roleid) && !superuser_arg(GetOuterUserId()))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("permission denied to create credentials for "
							   "superuser role \"%s\"",
							   role),
						errhint("Requests signed with them would run as a "
								"superuser; only a superuser may create such "
								"credentials.")));

	if (SQSN_ARG_GIVEN(1))
	{
		key_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
		if (!valid_key_id(key_id))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid access key id \"%s\"", key_id),
					 errdetail("An access key id has %d to %d characters, "
							   "each an upper-case letter A-Z or a digit.",
							   MIN_KEY_ID_LEN, MAX_KEY_ID_LEN)));
	}
	else
		key_id = psprintf("SQSN%s", random_string(key_alphabet, 32,
												  GENERATED_KEY_ID_LEN - 4));

	if (SQSN_ARG_GIVEN(2))
	{
		secret = text_to_cstring(PG_GETARG_TEXT_PP(2));
		if (!valid_secret(secret))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid secret access key"),
					 errdetail("A secret access key has %d to %d printable "
							   "ASCII characters, without spaces.",
							   MIN_SECRET_LEN, MAX_SECRET_LEN)));
	}
	else
		secret = random_string(secret_alphabet, 64, GENERATED_SECRET_LEN);

	if (SQSN_ARG_GIVEN(3))
	{
		session_token = text_to_cstring(PG_GETARG_TEXT_PP(3));
		if (!valid_session_token(session_token))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid session token"),
					 errdetail("A session token has %d to %d printable ASCII "
							   "characters, without spaces.",
							   MIN_SECRET_LEN, MAX_SESSION_TOKEN_LEN)));
	}

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	sqsn_spi_connect();
	args[0] = CStringGetTextDatum(key_id);
	args[1] = CStringGetTextDatum(secret);
	args[2] = DirectFunctionCall1(namein, CStringGetDatum(role));
	args[3] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	args[4] = DirectFunctionCall1(namein, CStringGetDatum(sqsn_caller_name()));
	if (session_token != NULL)
		args[5] = CStringGetTextDatum(session_token);
	else
		argnulls[5] = 'n';
	/* a catalog from before session tokens takes keys without one */
	ret = SPI_execute_with_args(
		sqsn_catalog_has(SQSN_CATALOG_SESSION_TOKENS)
			? "INSERT INTO sqsn.api_credentials"
			  " (access_key_id, secret_access_key, role, created_at,"
			  "  created_by, session_token)"
			  " VALUES ($1, $2, $3, $4, $5, $6)"
			  " ON CONFLICT (access_key_id) DO NOTHING"
			: "INSERT INTO sqsn.api_credentials"
			  " (access_key_id, secret_access_key, role, created_at,"
			  "  created_by)"
			  " VALUES ($1, $2, $3, $4, $5)"
			  " ON CONFLICT (access_key_id) DO NOTHING",
		sqsn_catalog_has(SQSN_CATALOG_SESSION_TOKENS) ? 6 : 5,
		(Oid[]){TEXTOID, TEXTOID, NAMEOID, TIMESTAMPTZOID, NAMEOID, TEXTOID},
		args, argnulls, false, 0);
	sqsn_spi_check(ret, SPI_OK_INSERT, "inserting into sqsn.api_credentials");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("access key \"%s\" already exists", key_id),
				 errhint("Choose another access key id, or leave it NULL to "
						 "have one generated.")));
	SPI_finish();

	values[0] = CStringGetTextDatum(key_id);
	values[1] = CStringGetTextDatum(secret);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	wipe_string(secret);
	if (session_token != NULL)
		wipe_string(session_token);
	return (Datum) 0;
}

/*
 * sqsn.api_drop_credentials(access_key_id): whether the key existed. A
 * request signed with it is refused from the next request on.
 */
Datum
api_drop_credentials(PG_FUNCTION_ARGS)
{
	char *key_id = sqsn_text_arg(fcinfo, 0, "access_key_id");
	Datum arg = CStringGetTextDatum(key_id);
	bool  dropped;

	sqsn_refuse_on_standby(fcinfo);
	sqsn_spi_connect();
	sqsn_spi_check(
		SPI_execute_with_args("DELETE FROM sqsn.api_credentials"
							  " WHERE access_key_id OPERATOR(pg_catalog.=) $1",
							  1, (Oid[]){TEXTOID}, &arg, NULL, false, 0),
		SPI_OK_DELETE, "deleting from sqsn.api_credentials");
	dropped = SPI_processed > 0;
	SPI_finish();
	PG_RETURN_BOOL(dropped);
}

/*
 * The dashboard's sign-in (dashboard.c): the role of an access key whose
 * secret is secret, compared in constant time; InvalidOid when the key is
 * unknown, the secret differs or the key's role no longer exists. Requires
 * a transaction.
 */
Oid
api_check_secret(const char *access_key_id, const char *secret)
{
	ApiCredential cred;
	bool          match;
	Oid           roleid;

	if (secret == NULL || !lookup_credential(access_key_id, &cred))
		return InvalidOid;
	match = strlen(cred.secret) == strlen(secret) &&
			CRYPTO_memcmp(cred.secret, secret, strlen(secret)) == 0;
	wipe_string(cred.secret);
	if (!match)
		return InvalidOid;
	roleid = get_role_oid(cred.role, true);
	return roleid;
}

/*
 * The role of an access key that still exists, else InvalidOid: a
 * dashboard session ends with its key or its role.
 */
Oid
api_key_role(const char *access_key_id)
{
	ApiCredential cred;

	if (!lookup_credential(access_key_id, &cred))
		return InvalidOid;
	wipe_string(cred.secret);
	return get_role_oid(cred.role, true);
}
