/*-------------------------------------------------------------------------
 *
 * mobile.c
 *	  Mobile push delivery: the requests the delivery worker
 *	  (push_worker.c) sends to Firebase Cloud Messaging (platform GCM) and
 *	  to the Apple Push Notification service (APNS, APNS_SANDBOX), their
 *	  credentials, and what a provider's answer means.
 *
 * FCM, HTTP v1: POST <sqsn.fcm_url>/v1/projects/<project_id>/messages:send
 * with {"message": {"token": <device token>, ...payload}} and
 * "Authorization: Bearer <access token>". The access token comes from the
 * service account's key: a JWT (RS256, signed with the key's private_key;
 * iss the client_email, scope firebase.messaging, aud the token URL, one
 * hour) exchanged at the key's token_uri, or at sqsn.fcm_token_url when
 * set, for an access token (grant type jwt-bearer). The token is cached per
 * application until a minute before it expires, or until FCM answers 401.
 * The payload is the platform text of the publish (platform.c); a
 * {"fcmV1Message": {"message": {...}}} payload gives the message's members
 * itself.
 *
 * APNs: POST <sqsn.apns_url or sqsn.apns_sandbox_url>/3/device/<token>
 * over HTTP/2 (with prior knowledge for an http:// URL, as a local test
 * server speaks it, one connection per push with libcurl before 8.0;
 * negotiated by TLS for https://, multiplexed), with
 * "authorization: bearer <JWT>", the JWT being ES256-signed with the .p8
 * key (kid the key id, iss the team id, iat), cached for 50 minutes;
 * apns-topic is the bundle id, apns-push-type alert (background for a
 * payload with content-available and no alert), apns-id the message id.
 *
 * Answers: 2xx is delivered. A token the provider calls invalid or
 * unregistered (FCM: UNREGISTERED, or INVALID_ARGUMENT about the token;
 * APNs: 410, BadDeviceToken, Unregistered, DeviceTokenNotForTopic)
 * disables the endpoint and the delivery fails for good; 429 and 5xx are
 * retried as the delivery policy says; other 4xx fail for good
 * (dead-lettered when the subscription has a dead-letter queue).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "push/push.h"

#include "common/base64.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define FCM_SCOPE             "https://www.googleapis.com/auth/firebase.messaging"
#define FCM_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"
#define JWT_BEARER            "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define APNS_JWT_SECONDS      (50 * 60)
#define TOKEN_MARGIN_SECONDS  60
#define MAX_TOKEN_ANSWER      16384

/* settings */
static char *sqsn_fcm_url = NULL;
static char *sqsn_fcm_token_url = NULL;
static char *sqsn_apns_url = NULL;
static char *sqsn_apns_sandbox_url = NULL;

/*
 * A cached bearer token: an FCM access token or an APNs JWT, for one
 * application and the credentials it was made from.
 */
typedef struct CachedToken
{
	pg_uuid_t   application_id;
	char        fingerprint[65]; /* SHA-256 of the credentials, hex */
	char       *token;           /* TopMemoryContext */
	TimestampTz expires;
} CachedToken;

static List *token_cache = NIL; /* of CachedToken, TopMemoryContext */

/* Registers the mobile push settings; called from PushInit. */
void
MobileInit(void)
{
	DefineCustomStringVariable(
		"sqsn.fcm_url", "Base URL of Firebase Cloud Messaging (HTTP v1).",
		NULL, &sqsn_fcm_url, "https://fcm.googleapis.com", PGC_SIGHUP,
		GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable(
		"sqsn.fcm_token_url",
		"Where service account keys are exchanged for access tokens.",
		"Empty: the token_uri of each key.", &sqsn_fcm_token_url, "",
		PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable(
		"sqsn.apns_url", "Base URL of the Apple Push Notification service.",
		NULL, &sqsn_apns_url, "https://api.push.apple.com", PGC_SIGHUP,
		GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable(
		"sqsn.apns_sandbox_url",
		"Base URL of the APNs sandbox (platform APNS_SANDBOX).", NULL,
		&sqsn_apns_sandbox_url, "https://api.sandbox.push.apple.com",
		PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
}

/* JWTs ----------------------------------------------------------------- */

/* base64url without padding (RFC 7515) */
static void
append_base64url(StringInfo buf, const uint8 *data, int len)
{
	int   enclen = pg_b64_enc_len(len);
	char *enc = palloc(enclen + 1);

	enclen = pg_b64_encode((const char *) data, len, enc, enclen);
	if (enclen < 0)
		elog(ERROR, "could not encode a JWT part");
	for (int i = 0; i < enclen; i++)
	{
		if (enc[i] == '=')
			break;
		appendStringInfoChar(buf, enc[i] == '+'   ? '-'
								  : enc[i] == '/' ? '_'
												  : enc[i]);
	}
	pfree(enc);
}

/*
 * header.claims.signature, signed with pem (RS256 for an RSA key, ES256
 * for an EC P-256 key: the raw 64-byte r||s of JWS, not DER). Returns
 * NULL and *error when the key cannot sign.
 */
static char *
sign_jwt(const char *header, const char *claims, const char *pem, char **error)
{
	StringInfoData buf;
	EVP_PKEY      *key = sqsn_load_private_key(pem);
	EVP_MD_CTX    *md = NULL;
	uint8         *sig = NULL;
	size_t         siglen = 0;
	bool           ok;

	if (key == NULL)
	{
		*error = pstrdup("the private key of the credentials does not load");
		return NULL;
	}
	initStringInfo(&buf);
	append_base64url(&buf, (const uint8 *) header, strlen(header));
	appendStringInfoChar(&buf, '.');
	append_base64url(&buf, (const uint8 *) claims, strlen(claims));

	md = EVP_MD_CTX_new();
	ok = md != NULL &&
		 EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
		 EVP_DigestSign(md, NULL, &siglen, (const uint8 *) buf.data,
						buf.len) == 1;
	if (ok)
	{
		sig = palloc(siglen);
		ok = EVP_DigestSign(md, sig, &siglen, (const uint8 *) buf.data,
							buf.len) == 1;
	}
	if (ok && EVP_PKEY_base_id(key) == EVP_PKEY_EC)
	{
		/* DER ECDSA-Sig-Value to JWS's fixed-length r||s */
		const uint8 *p = sig;
		ECDSA_SIG   *es = d2i_ECDSA_SIG(NULL, &p, (long) siglen);
		uint8        raw[64];

		ok = es != NULL && BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, 32) == 32 &&
			 BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + 32, 32) == 32;
		ECDSA_SIG_free(es);
		if (ok)
		{
			memcpy(sig, raw, 64);
			siglen = 64;
		}
	}
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	ERR_clear_error();
	if (!ok)
	{
		*error = pstrdup("could not sign a JWT with the credentials' key");
		return NULL;
	}
	appendStringInfoChar(&buf, '.');
	append_base64url(&buf, sig, (int) siglen);
	return buf.data;
}

/* Token cache ----------------------------------------------------------- */

static void
fingerprint(const char *a, const char *b, char *out)
{
	uint8        hash[32];
	unsigned int len = 0;
	EVP_MD_CTX  *md = EVP_MD_CTX_new();

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, a, strlen(a) + 1);
	if (b)
		EVP_DigestUpdate(md, b, strlen(b));
	EVP_DigestFinal_ex(md, hash, &len);
	EVP_MD_CTX_free(md);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", hash[i]);
}

static CachedToken *
cached_token(const pg_uuid_t *app, const char *print)
{
	ListCell *lc;

	foreach (lc, token_cache)
	{
		CachedToken *t = lfirst(lc);

		if (memcmp(&t->application_id, app, sizeof(pg_uuid_t)) == 0)
			return strcmp(t->fingerprint, print) == 0 ? t : NULL;
	}
	return NULL;
}

static void
remember_token(const pg_uuid_t *app, const char *print, const char *token,
			   TimestampTz expires)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	ListCell     *lc;
	CachedToken  *t = NULL;

	foreach (lc, token_cache)
	{
		CachedToken *c = lfirst(lc);

		if (memcmp(&c->application_id, app, sizeof(pg_uuid_t)) == 0)
			t = c;
	}
	if (t == NULL)
	{
		t = palloc0(sizeof(CachedToken));
		memcpy(&t->application_id, app, sizeof(pg_uuid_t));
		token_cache = lappend(token_cache, t);
	}
	else if (t->token)
	{
		explicit_bzero(t->token, strlen(t->token));
		pfree(t->token);
	}
	strlcpy(t->fingerprint, print, sizeof(t->fingerprint));
	t->token = pstrdup(token);
	t->expires = expires;
	MemoryContextSwitchTo(old);
}

/* Forgets an application's token (FCM answered 401). */
void
sqsn_mobile_forget_token(const pg_uuid_t *application_id)
{
	ListCell *lc;

	foreach (lc, token_cache)
	{
		CachedToken *t = lfirst(lc);

		if (memcmp(&t->application_id, application_id, sizeof(pg_uuid_t)) == 0)
			t->expires = 0;
	}
}

/* FCM ------------------------------------------------------------------ */

/* libcurl writes a token answer here, up to MAX_TOKEN_ANSWER bytes. */
static size_t
collect_answer(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	StringInfo buf = (StringInfo) userdata;
	size_t     n = size * nmemb;

	if (buf->len + n > MAX_TOKEN_ANSWER)
		return 0;
	appendBinaryStringInfo(buf, ptr, n);
	return n;
}

/*
 * An FCM access token for the application's service account: cached, or
 * obtained now (a blocking exchange at the token URL; configure(easy)
 * applies the worker's options: timeouts, TLS, the SSRF guard). NULL and
 * *error when it cannot be had.
 */
static char *
fcm_access_token(const pg_uuid_t *app, Jsonb *account, const char *credential,
				 void (*configure)(void *easy, void *arg, const char *host),
				 void *arg, char **error)
{
	char           print[65];
	CachedToken   *t;
	const char    *token_url = sqsn_fcm_token_url && sqsn_fcm_token_url[0]
								   ? sqsn_fcm_token_url
								   : sqsn_json_member(account, "token_uri");
	StringInfoData claims;
	StringInfoData answer;
	char          *jwt;
	char          *form;
	char          *e;
	CURL          *easy;
	CURLcode       rc;
	long           status = 0;
	int64          now = (int64) time(NULL);
	Jsonb         *json;
	char          *access;
	JsonbValue    *expires_in;
	int64          lifetime = 3600;

	if (token_url == NULL)
		token_url = FCM_DEFAULT_TOKEN_URI;
	fingerprint(credential, token_url, print);
	t = cached_token(app, print);
	if (t != NULL && t->expires > GetCurrentTimestamp())
		return pstrdup(t->token);

	initStringInfo(&claims);
	appendStringInfoChar(&claims, '{');
	sqsn_json_string(&claims, "iss",
					 sqsn_json_member(account, "client_email"));
	sqsn_json_string(&claims, "scope", FCM_SCOPE);
	sqsn_json_string(&claims, "aud", token_url);
	appendStringInfo(&claims,
					 ",\"iat\":" INT64_FORMAT ",\"exp\":" INT64_FORMAT "}",
					 now, now + 3600);
	jwt = sign_jwt("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", claims.data,
				   sqsn_json_member(account, "private_key"), error);
	if (jwt == NULL)
		return NULL;

	easy = curl_easy_init();
	if (easy == NULL)
	{
		*error = pstrdup("could not create a libcurl handle");
		return NULL;
	}
	e = curl_easy_escape(easy, jwt, 0);
	form = psprintf("grant_type=%s&assertion=%s", JWT_BEARER, e);
	curl_free(e);
	initStringInfo(&answer);
	configure(easy, arg, sqsn_url_host(token_url));
	curl_easy_setopt(easy, CURLOPT_URL, token_url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(form));
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect_answer);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &answer);
	rc = curl_easy_perform(easy);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(easy);
	if (rc != CURLE_OK || status != 200)
	{
		*error = rc != CURLE_OK
					 ? psprintf("access token request to %s failed: %s",
								token_url, curl_easy_strerror(rc))
					 : psprintf("access token request to %s answered HTTP "
								"status %ld",
								token_url, status);
		return NULL;
	}
	json = sqsn_json_or_null(answer.data, answer.len);
	access = sqsn_json_member(json, "access_token");
	if (access == NULL)
	{
		*error = psprintf("the answer of %s has no access_token", token_url);
		return NULL;
	}
	expires_in = json ? getKeyJsonValueFromContainer(&json->root, "expires_in",
													 10, NULL)
					  : NULL;
	if (expires_in != NULL && expires_in->type == jbvNumeric)
		lifetime = DatumGetInt64(DirectFunctionCall1(
			numeric_int8, NumericGetDatum(expires_in->val.numeric)));
	remember_token(app, print, access,
				   GetCurrentTimestamp() +
					   (Max(lifetime - TOKEN_MARGIN_SECONDS, 0)) *
						   USECS_PER_SEC);
	return access;
}

/*
 * The body of an FCM send: {"message": {"token": <device token>, <the
 * payload's members>}}, the members spliced in as the payload spells them;
 * those of its fcmV1Message.message when it has one (as jsonb prints it).
 * NULL when the payload is not a JSON object.
 */
static char *
fcm_body(const char *token, const char *payload)
{
	Jsonb         *obj = sqsn_json_or_null(payload, strlen(payload));
	JsonbValue    *v1;
	const char    *members;
	StringInfoData buf;

	if (obj == NULL || !JB_ROOT_IS_OBJECT(obj) || JB_ROOT_IS_SCALAR(obj))
		return NULL;
	v1 = getKeyJsonValueFromContainer(&obj->root, "fcmV1Message", 12, NULL);
	if (v1 != NULL)
	{
		JsonbValue *msg =
			v1->type == jbvBinary && JsonContainerIsObject(v1->val.binary.data)
				? getKeyJsonValueFromContainer(v1->val.binary.data, "message",
											   7, NULL)
				: NULL;

		if (msg == NULL || msg->type != jbvBinary ||
			!JsonContainerIsObject(msg->val.binary.data))
			return NULL;
		payload =
			JsonbToCString(NULL, msg->val.binary.data, msg->val.binary.len);
	}
	/* what follows the object's opening brace */
	members = strchr(payload, '{') + 1;
	while (*members == ' ' || *members == '\t' || *members == '\n' ||
		   *members == '\r')
		members++;
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"message\":{");
	sqsn_json_string(&buf, "token", token);
	if (*members != '}')
		appendStringInfoChar(&buf, ',');
	appendStringInfoString(&buf, members);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* APNs ------------------------------------------------------------------ */

/* The APNs provider JWT of an application: cached, or signed now. */
static char *
apns_jwt(const pg_uuid_t *app, const char *credential, const char *key_id,
		 const char *team_id, char **error)
{
	char         print[65];
	CachedToken *t;
	char        *jwt;

	fingerprint(credential, psprintf("%s/%s", key_id, team_id), print);
	t = cached_token(app, print);
	if (t != NULL && t->expires > GetCurrentTimestamp())
		return pstrdup(t->token);
	jwt = sign_jwt(psprintf("{\"alg\":\"ES256\",\"kid\":\"%s\"}", key_id),
				   psprintf("{\"iss\":\"%s\",\"iat\":" INT64_FORMAT "}",
							team_id, (int64) time(NULL)),
				   credential, error);
	if (jwt != NULL)
		remember_token(app, print, jwt,
					   GetCurrentTimestamp() +
						   (TimestampTz) APNS_JWT_SECONDS * USECS_PER_SEC);
	return jwt;
}

/* Whether an APNs payload asks for a background push. */
static bool
apns_background(const char *payload)
{
	Jsonb      *obj = sqsn_json_or_null(payload, strlen(payload));
	JsonbValue *aps;

	if (obj == NULL || !JB_ROOT_IS_OBJECT(obj))
		return false;
	aps = getKeyJsonValueFromContainer(&obj->root, "aps", 3, NULL);
	if (aps == NULL || aps->type != jbvBinary ||
		!JsonContainerIsObject(aps->val.binary.data))
		return false;
	return getKeyJsonValueFromContainer(
			   aps->val.binary.data, "content-available", 17, NULL) != NULL &&
		   getKeyJsonValueFromContainer(aps->val.binary.data, "alert", 5,
										NULL) == NULL;
}

/* Requests -------------------------------------------------------------- */

/* The provider's base URL for a platform. */
const char *
sqsn_mobile_base_url(const char *platform)
{
	if (strcmp(platform, "GCM") == 0)
		return sqsn_fcm_url;
	if (strcmp(platform, "APNS_SANDBOX") == 0)
		return sqsn_apns_sandbox_url;
	return sqsn_apns_url;
}

/*
 * Sets up the libcurl handle of one push to a device: URL, HTTP version,
 * headers (appended to *headers) and body (returned in *body, kept by the
 * caller until the transfer ends). configure applies the worker's options
 * to a token request's handle. Returns NULL, or why the push cannot be
 * sent.
 */
char *
sqsn_mobile_setup(void *handle, const SqsnMobileTarget *target,
				  const char *payload, const char *message_id,
				  void (*configure)(void *easy, void *arg, const char *host),
				  void *arg, struct curl_slist **headers, char **body)
{
	CURL       *easy = (CURL *) handle;
	const char *base = sqsn_mobile_base_url(target->platform);
	char       *error = NULL;
	char       *credential;
	char       *principal;
	char       *bearer;
	char       *url;
	char       *e;

	if (target->credential == NULL)
		return pstrdup("the application has no credentials");

	if (base == NULL || base[0] == '\0')
		return psprintf("the base URL of platform %s is not set",
						target->platform);
	credential = (char *) target->credential;
	principal = (char *) target->principal;
	if (strcmp(target->platform, "GCM") == 0)
	{
		Jsonb *account = sqsn_json_or_null(credential, strlen(credential));
		char  *project = sqsn_json_member(account, "project_id");

		if (project == NULL)
			return pstrdup("the service account has no project_id");
		*body = fcm_body(target->token, payload);
		if (*body == NULL)
			return pstrdup("the GCM payload is not a JSON object");
		bearer = fcm_access_token(&target->application_id, account, credential,
								  configure, arg, &error);
		if (bearer == NULL)
			return error;
		e = curl_easy_escape(easy, project, 0);
		url = psprintf("%s%sv1/projects/%s/messages:send", base,
					   base[strlen(base) - 1] == '/' ? "" : "/", e);
		curl_free(e);
		*headers =
			curl_slist_append(*headers, "Content-Type: application/json");
	}
	else
	{
		const char *team = target->team_id;
		const char *bundle = target->bundle_id;

		if (team == NULL || bundle == NULL || principal == NULL)
			return pstrdup("the application lacks its key id, team id or "
						   "bundle id");
		bearer = apns_jwt(&target->application_id, credential, principal, team,
						  &error);
		if (bearer == NULL)
			return error;
		*body = pstrdup(payload);
		e = curl_easy_escape(easy, target->token, 0);
		url = psprintf("%s%s3/device/%s", base,
					   base[strlen(base) - 1] == '/' ? "" : "/", e);
		curl_free(e);
		*headers =
			curl_slist_append(*headers, psprintf("apns-topic: %s", bundle));
		*headers = curl_slist_append(
			*headers,
			psprintf("apns-push-type: %s",
					 apns_background(payload) ? "background" : "alert"));
		*headers =
			curl_slist_append(*headers, psprintf("apns-id: %s", message_id));
		*headers =
			curl_slist_append(*headers, "Content-Type: application/json");
		if (strncmp(base, "https:", 6) == 0)
			curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
							 (long) CURL_HTTP_VERSION_2TLS);
		else
		{
			/*
			 * libcurl before 8.0 fails a second request on a reused
			 * prior-knowledge connection ("Error in the HTTP2 framing
			 * layer"): such a push gets a connection of its own.
			 */
			curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
							 (long) CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
			if (curl_version_info(CURLVERSION_NOW)->version_num < 0x080000)
			{
				curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
				curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
			}
		}
	}
	*headers = curl_slist_append(
		*headers, strcmp(target->platform, "GCM") == 0
					  ? psprintf("Authorization: Bearer %s", bearer)
					  : psprintf("authorization: bearer %s", bearer));
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, *body);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(*body));
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	return NULL;
}

/*
 * What a provider's answer (HTTP status, start of the body) means for a
 * delivery that was not 2xx.
 */
SqsnMobileOutcome
sqsn_mobile_outcome(const char *platform, long status, const char *answer)
{
	if (status == 429 || status >= 500 || status == 0)
		return MOBILE_RETRY;
	if (strcmp(platform, "GCM") == 0)
	{
		if (status == 401)
			return MOBILE_RETRY_NEW_TOKEN;
		if (strstr(answer, "UNREGISTERED") != NULL ||
			(strstr(answer, "INVALID_ARGUMENT") != NULL &&
			 strstr(answer, "token") != NULL))
			return MOBILE_INVALID_TOKEN;
		return MOBILE_REJECTED;
	}
	if (status == 410 || strstr(answer, "BadDeviceToken") != NULL ||
		strstr(answer, "\"Unregistered\"") != NULL ||
		strstr(answer, "DeviceTokenNotForTopic") != NULL)
		return MOBILE_INVALID_TOKEN;
	if (status == 403 && strstr(answer, "ExpiredProviderToken") != NULL)
		return MOBILE_RETRY_NEW_TOKEN;
	return MOBILE_REJECTED;
}
