/*-------------------------------------------------------------------------
 *
 * platform.c
 *	  Mobile push: platform applications (GCM, APNS, APNS_SANDBOX) and
 *	  their endpoints (device tokens), the catalog sqsn.platform_application
 *	  and sqsn.platform_endpoint and the sn_* functions on it.
 *
 * An application is named by its ARN, arn:aws:sns:<region>:<account>:
 * app/<platform>/<name>, an endpoint by arn:aws:sns:<region>:<account>:
 * endpoint/<platform>/<application name>/<endpoint id>, as the managed
 * service forms them; only the part after the last colon is read, so any
 * region or account is accepted.
 *
 * Credentials: PlatformCredential (GCM: the Firebase service account's key
 * file, JSON; APNS: the .p8 signing key, PEM) and PlatformPrincipal (APNS:
 * the key id) are checked when set (the key must load), then sealed with
 * the master key (security/crypto.c, owner kind 'a', bound to the
 * application's id) into the credentials column; they are never shown
 * back. ApplePlatformTeamID and ApplePlatformBundleID, and the event and
 * feedback attributes the managed service knows, are kept as given.
 *
 * Endpoints: creating one for a token the application already has returns
 * the existing endpoint when its CustomUserData is the same, and fails
 * otherwise, as the managed service does. Attributes: Token, Enabled,
 * CustomUserData. A provider answer calling the token invalid disables the
 * endpoint (the delivery worker, sqsn_platform_disable_endpoint); a
 * publish to a disabled endpoint fails (sqsn_platform_target).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "push/push.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sn_create_platform_application);
PG_FUNCTION_INFO_V1(sn_get_platform_application_attributes);
PG_FUNCTION_INFO_V1(sn_set_platform_application_attributes);
PG_FUNCTION_INFO_V1(sn_delete_platform_application);
PG_FUNCTION_INFO_V1(sn_list_platform_applications);
PG_FUNCTION_INFO_V1(sn_create_platform_endpoint);
PG_FUNCTION_INFO_V1(sn_get_endpoint_attributes);
PG_FUNCTION_INFO_V1(sn_set_endpoint_attributes);
PG_FUNCTION_INFO_V1(sn_delete_endpoint);
PG_FUNCTION_INFO_V1(sn_list_endpoints_by_platform_application);

#define MAX_APPLICATION_NAME 256
#define MAX_TOKEN            4096
#define MAX_CUSTOM_USER_DATA 2048
#define MAX_CREDENTIAL       16384
#define SEAL_KIND            'a'

/* The attributes an application keeps as given (besides the credentials). */
static const char *const plain_attributes[] = {
	"ApplePlatformTeamID",      "ApplePlatformBundleID",
	"EventEndpointCreated",     "EventEndpointDeleted",
	"EventEndpointUpdated",     "EventDeliveryFailure",
	"SuccessFeedbackRoleArn",   "FailureFeedbackRoleArn",
	"SuccessFeedbackSampleRate"};

/* An application's row, as the functions here read it. */
typedef struct Application
{
	pg_uuid_t id;
	char     *name;
	char     *platform;
	Jsonb    *attributes;
	text     *credentials; /* sealed */
} Application;

static SqsnStatement insert_application_stmt = {
	"INSERT INTO sqsn.platform_application (application_id, name, platform,"
	" attributes, credentials, owner, created_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, now())"
	" ON CONFLICT (platform, name) DO NOTHING",
	6,
	{UUIDOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, NAMEOID},
	SPI_OK_INSERT,
	"inserting into sqsn.platform_application"};

static SqsnStatement find_application_stmt = {
	"SELECT application_id, name, platform, attributes, credentials"
	" FROM sqsn.platform_application"
	" WHERE platform OPERATOR(pg_catalog.=) $1"
	" AND name OPERATOR(pg_catalog.=) $2",
	2,
	{TEXTOID, TEXTOID},
	SPI_OK_SELECT,
	"reading sqsn.platform_application"};

static SqsnStatement lock_application_stmt = {
	"SELECT application_id, name, platform, attributes, credentials"
	" FROM sqsn.platform_application"
	" WHERE platform OPERATOR(pg_catalog.=) $1"
	" AND name OPERATOR(pg_catalog.=) $2 FOR UPDATE",
	2,
	{TEXTOID, TEXTOID},
	SPI_OK_SELECT,
	"reading sqsn.platform_application"};

static SqsnStatement update_application_stmt = {
	"UPDATE sqsn.platform_application SET attributes = $2, credentials = $3"
	" WHERE application_id OPERATOR(pg_catalog.=) $1",
	3,
	{UUIDOID, JSONBOID, TEXTOID},
	SPI_OK_UPDATE,
	"updating sqsn.platform_application"};

static SqsnStatement delete_application_stmt = {
	"DELETE FROM sqsn.platform_application"
	" WHERE application_id OPERATOR(pg_catalog.=) $1",
	1,
	{UUIDOID},
	SPI_OK_DELETE,
	"deleting from sqsn.platform_application"};

static SqsnStatement list_applications_stmt = {
	"SELECT platform, name, attributes FROM sqsn.platform_application"
	" ORDER BY platform, name",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"reading sqsn.platform_application",
	true};

static SqsnStatement insert_endpoint_stmt = {
	"INSERT INTO sqsn.platform_endpoint (endpoint_id, application_id, token,"
	" custom_user_data, enabled, created_at)"
	" VALUES ($1, $2, $3, $4, $5, now())"
	" ON CONFLICT (application_id, token) DO NOTHING",
	5,
	{UUIDOID, UUIDOID, TEXTOID, TEXTOID, BOOLOID},
	SPI_OK_INSERT,
	"inserting into sqsn.platform_endpoint"};

static SqsnStatement endpoint_by_token_stmt = {
	"SELECT endpoint_id, custom_user_data, enabled"
	" FROM sqsn.platform_endpoint"
	" WHERE application_id OPERATOR(pg_catalog.=) $1"
	" AND token OPERATOR(pg_catalog.=) $2",
	2,
	{UUIDOID, TEXTOID},
	SPI_OK_SELECT,
	"reading sqsn.platform_endpoint"};

/* columns: endpoint id, token, custom data, enabled, platform, app name */
#define ENDPOINT_COLUMNS                                                      \
	"SELECT e.endpoint_id, e.token, e.custom_user_data, e.enabled,"           \
	" a.platform, a.name, e.application_id"                                   \
	" FROM sqsn.platform_endpoint e JOIN sqsn.platform_application a"         \
	" ON a.application_id OPERATOR(pg_catalog.=) e.application_id"

static SqsnStatement find_endpoint_stmt = {
	ENDPOINT_COLUMNS " WHERE e.endpoint_id OPERATOR(pg_catalog.=) $1",
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"reading sqsn.platform_endpoint"};

static SqsnStatement lock_endpoint_stmt = {
	ENDPOINT_COLUMNS " WHERE e.endpoint_id OPERATOR(pg_catalog.=) $1"
					 " FOR UPDATE OF e",
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"reading sqsn.platform_endpoint"};

static SqsnStatement list_endpoints_stmt = {
	ENDPOINT_COLUMNS " WHERE e.application_id OPERATOR(pg_catalog.=) $1"
					 " ORDER BY e.created_at, e.endpoint_id",
	1,
	{UUIDOID},
	SPI_OK_SELECT,
	"reading sqsn.platform_endpoint",
	true};

static SqsnStatement update_endpoint_stmt = {
	"UPDATE sqsn.platform_endpoint SET token = $2, custom_user_data = $3,"
	" enabled = $4, disabled_reason = CASE WHEN $4 THEN NULL"
	" ELSE disabled_reason END"
	" WHERE endpoint_id OPERATOR(pg_catalog.=) $1",
	4,
	{UUIDOID, TEXTOID, TEXTOID, BOOLOID},
	SPI_OK_UPDATE,
	"updating sqsn.platform_endpoint"};

static SqsnStatement delete_endpoint_stmt = {
	"DELETE FROM sqsn.platform_endpoint"
	" WHERE endpoint_id OPERATOR(pg_catalog.=) $1",
	1,
	{UUIDOID},
	SPI_OK_DELETE,
	"deleting from sqsn.platform_endpoint"};

static SqsnStatement disable_endpoint_stmt = {
	"UPDATE sqsn.platform_endpoint SET enabled = false, disabled_reason = $2"
	" WHERE endpoint_id OPERATOR(pg_catalog.=) $1 AND enabled",
	2,
	{UUIDOID, TEXTOID},
	SPI_OK_UPDATE,
	"disabling a platform endpoint"};

/* ARNs ------------------------------------------------------------------ */

static bool
valid_platform(const char *platform)
{
	return strcmp(platform, "GCM") == 0 || strcmp(platform, "APNS") == 0 ||
		   strcmp(platform, "APNS_SANDBOX") == 0;
}

/* arn:aws:sns:<region>:<account>:app/<platform>/<name> */
static char *
application_arn(const char *platform, const char *name)
{
	return sqsn_topic_arn(psprintf("app/%s/%s", platform, name));
}

/* arn:aws:sns:<region>:<account>:endpoint/<platform>/<name>/<id> */
char *
sqsn_platform_endpoint_arn(const char *platform, const char *name,
						   const char *endpoint_id)
{
	return sqsn_topic_arn(
		psprintf("endpoint/%s/%s/%s", platform, name, endpoint_id));
}

/* Checks an application name: 1 to 256 of [A-Za-z0-9_.-]. */
static void
validate_application_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > MAX_APPLICATION_NAME ||
		strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789_.-") != len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid platform application name \"%s\"", name),
				 errdetail("A name has 1 to %d characters: letters, digits, "
						   "underscores, hyphens and periods.",
						   MAX_APPLICATION_NAME)));
}

static void
validate_platform(const char *platform)
{
	if (!valid_platform(platform))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("unsupported platform \"%s\"", platform),
						errhint("Use GCM (Firebase Cloud Messaging), APNS or "
								"APNS_SANDBOX.")));
}

/*
 * Splits "<kind>/<platform>/<rest>" at the end of an ARN; errors (22023)
 * when arn is not one of kind.
 */
static void
split_arn(const char *arn, const char *kind, const char *what, char **platform,
		  char **rest)
{
	char  *tail = sqsn_arn_name(arn);
	size_t klen = strlen(kind);
	char  *slash;

	if (tail == NULL || strncmp(tail, kind, klen) != 0 || tail[klen] != '/' ||
		(slash = strchr(tail + klen + 1, '/')) == NULL || slash[1] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not the ARN of a %s", arn, what),
				 errhint("A %s ARN ends in \":%s/<platform>/<name>%s\".", what,
						 kind, strcmp(kind, "endpoint") == 0 ? "/<id>" : "")));
	*slash = '\0';
	*platform = tail + klen + 1;
	*rest = slash + 1;
}

/* Whether arn names a platform endpoint (a publish's TargetArn). */
bool
sqsn_is_platform_endpoint_arn(const char *arn)
{
	char *tail = sqsn_arn_name(arn);

	return tail != NULL && strncmp(tail, "endpoint/", 9) == 0;
}

/* The endpoint id of an endpoint ARN; errors when it is not one. */
static pg_uuid_t *
endpoint_id_of_arn(const char *arn, char **platform, char **name)
{
	char *rest;
	char *slash;

	split_arn(arn, "endpoint", "platform endpoint", platform, &rest);
	slash = strrchr(rest, '/');
	if (slash == NULL || !valid_platform(*platform))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is not the ARN of a platform endpoint", arn)));
	*slash = '\0';
	*name = rest;
	return DatumGetUUIDP(
		DirectFunctionCall1(uuid_in, CStringGetDatum(slash + 1)));
}

/* Reads an application row of find_application_stmt's shape. */
static void
read_application(Application *app, HeapTuple tuple, TupleDesc desc)
{
	bool isnull;

	memcpy(&app->id, DatumGetUUIDP(SPI_getbinval(tuple, desc, 1, &isnull)),
		   sizeof(pg_uuid_t));
	app->name = SPI_getvalue(tuple, desc, 2);
	app->platform = SPI_getvalue(tuple, desc, 3);
	app->attributes = sqsn_spi_jsonb(tuple, desc, 4);
	app->credentials =
		DatumGetTextPCopy(SPI_getbinval(tuple, desc, 5, &isnull));
}

/*
 * The application an ARN names (SPI connected); errors 42704 when it does
 * not exist. lock: FOR UPDATE.
 */
static void
find_application(const char *arn, bool lock, Application *app)
{
	char *platform;
	char *name;
	Datum values[2];

	split_arn(arn, "app", "platform application", &platform, &name);
	values[0] = CStringGetTextDatum(platform);
	values[1] = CStringGetTextDatum(name);
	if (sqsn_execute(lock ? &lock_application_stmt : &find_application_stmt,
					 values, NULL, 1) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("platform application \"%s\" does not exist", arn)));
	read_application(app, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
}

/* Credentials --------------------------------------------------------- */

/* Loads a PEM private key; NULL when it does not parse. */
EVP_PKEY *
sqsn_load_private_key(const char *pem)
{
	BIO      *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *key = NULL;

	if (bio != NULL)
	{
		key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *) "");
		BIO_free(bio);
	}
	ERR_clear_error();
	return key;
}

/* A string member of a JSON object, or NULL. */
char *
sqsn_json_member(Jsonb *obj, const char *key)
{
	JsonbValue *v;

	if (obj == NULL || !JB_ROOT_IS_OBJECT(obj))
		return NULL;
	v = getKeyJsonValueFromContainer(&obj->root, key, strlen(key), NULL);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return sqsn_jsonb_string(v);
}

pg_noreturn static void
bad_credential(const char *platform, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid PlatformCredential for platform %s", platform),
			 errdetail("%s", detail),
			 errhint(strcmp(platform, "GCM") == 0
						 ? "Give the Firebase service account's key file "
						   "(JSON) as PlatformCredential."
						 : "Give the APNs signing key (the .p8 file) as "
						   "PlatformCredential and its key id as "
						   "PlatformPrincipal.")));
}

/* Whether s is 10 letters and digits (an Apple key or team id). */
static bool
apple_id(const char *s)
{
	return s != NULL && strlen(s) == 10 &&
		   strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					 "0123456789") == 10;
}

/*
 * Checks an application's credentials and Apple attributes (errors
 * 22023): GCM, a service account key with project_id, client_email and an
 * RSA private_key; APNS, an EC P-256 key, a key id, a team id and a bundle
 * id.
 */
static void
check_credentials(const char *platform, const char *credential,
				  const char *principal, Jsonb *attributes)
{
	EVP_PKEY *key;

	if (credential == NULL)
		bad_credential(platform, "PlatformCredential is required.");
	if (strlen(credential) > MAX_CREDENTIAL)
		bad_credential(platform, "PlatformCredential is too long.");
	if (strcmp(platform, "GCM") == 0)
	{
		Jsonb *account = sqsn_json_or_null(credential, strlen(credential));
		char  *pem = sqsn_json_member(account, "private_key");
		char  *type = sqsn_json_member(account, "type");

		if (account == NULL || !JB_ROOT_IS_OBJECT(account))
			bad_credential(platform, "The credential is not a JSON object.");
		if (type == NULL || strcmp(type, "service_account") != 0)
			bad_credential(platform, "The credential's \"type\" must be "
									 "\"service_account\".");
		if (sqsn_json_member(account, "project_id") == NULL ||
			sqsn_json_member(account, "client_email") == NULL || pem == NULL)
			bad_credential(platform, "The credential needs \"project_id\", "
									 "\"client_email\" and \"private_key\".");
		key = sqsn_load_private_key(pem);
		if (key == NULL || EVP_PKEY_base_id(key) != EVP_PKEY_RSA)
		{
			EVP_PKEY_free(key);
			bad_credential(platform,
						   "The credential's \"private_key\" is not an RSA "
						   "private key in PEM form.");
		}
		EVP_PKEY_free(key);
		return;
	}

	key = sqsn_load_private_key(credential);
	if (key == NULL || EVP_PKEY_base_id(key) != EVP_PKEY_EC ||
		EVP_PKEY_bits(key) != 256)
	{
		EVP_PKEY_free(key);
		bad_credential(platform, "The credential is not an EC P-256 private "
								 "key in PEM form (a .p8 file).");
	}
	EVP_PKEY_free(key);
	if (!apple_id(principal))
		bad_credential(platform,
					   "PlatformPrincipal must be the key's 10-character "
					   "key id.");
	if (!apple_id(sqsn_json_member(attributes, "ApplePlatformTeamID")))
		ereport(
			ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("ApplePlatformTeamID must be a 10-character team id")));
	if (sqsn_json_member(attributes, "ApplePlatformBundleID") == NULL ||
		sqsn_json_member(attributes, "ApplePlatformBundleID")[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ApplePlatformBundleID is required for platform %s",
						platform),
				 errhint("It is the app's bundle id, sent as apns-topic.")));
}

/* The sealed form of the credentials. */
static text *
seal_credentials(const pg_uuid_t *id, const char *credential,
				 const char *principal)
{
	StringInfoData buf;
	text          *plain;
	text          *sealed;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	sqsn_json_string(&buf, "PlatformCredential", credential);
	if (principal != NULL)
		sqsn_json_string(&buf, "PlatformPrincipal", principal);
	appendStringInfoChar(&buf, '}');
	plain = cstring_to_text(buf.data);
	sealed = sqsn_seal(SEAL_KIND, 0, id, id, plain, NULL, NULL);
	explicit_bzero(buf.data, buf.len);
	explicit_bzero(VARDATA(plain), VARSIZE(plain) - VARHDRSZ);
	return sealed;
}

/*
 * Opens an application's sealed credentials: *credential and *principal
 * (NULL: none). Returns false with *error when they cannot be opened (the
 * key is missing, or the row was altered).
 */
bool
sqsn_platform_open_credentials(const pg_uuid_t *id, text *sealed,
							   char **credential, char **principal,
							   char **error)
{
	text  *plain;
	Jsonb *attrs;
	Jsonb *obj;
	int    sqlstate;

	if (!sqsn_open(SEAL_KIND, 0, id, id, sealed, &plain, &attrs, NULL,
				   &sqlstate, error))
		return false;
	obj = sqsn_json_or_null(VARDATA_ANY(plain), VARSIZE_ANY_EXHDR(plain));
	*credential = sqsn_json_member(obj, "PlatformCredential");
	*principal = sqsn_json_member(obj, "PlatformPrincipal");
	explicit_bzero(VARDATA_ANY(plain), VARSIZE_ANY_EXHDR(plain));
	if (*credential == NULL)
	{
		*error = pstrdup("the stored credentials are malformed");
		return false;
	}
	return true;
}

/*
 * Applies an attributes argument to an application: plain attributes into
 * *plain (a JSON object), PlatformCredential and PlatformPrincipal into
 * *credential and *principal. A value of "" or null removes a plain
 * attribute. Errors on unknown names and values that are not strings.
 */
static Jsonb *
apply_application_attributes(Jsonb *current, Jsonb *given, char **credential,
							 char **principal)
{
	StringInfoData buf;
	JsonbIterator *it;
	JsonbValue     v;
	char          *key = NULL;
	const char    *values[lengthof(plain_attributes)];

	for (int i = 0; i < lengthof(plain_attributes); i++)
		values[i] = sqsn_json_member(current, plain_attributes[i]);
	if (given != NULL)
	{
		if (!JB_ROOT_IS_OBJECT(given) || JB_ROOT_IS_SCALAR(given))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("attributes must be a JSON object of strings")));
		it = JsonbIteratorInit(&given->root);
		while (sqsn_jsonb_next_pair(&it, &key, &v))
		{
			int  i;
			bool empty = v.type == jbvNull ||
						 (v.type == jbvString && v.val.string.len == 0);

			if (v.type != jbvString && v.type != jbvNull)
				ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								errmsg("attribute %s must be a string", key)));
			if (strcmp(key, "PlatformCredential") == 0)
			{
				*credential = empty ? NULL : sqsn_jsonb_string(&v);
				continue;
			}
			if (strcmp(key, "PlatformPrincipal") == 0)
			{
				*principal = empty ? NULL : sqsn_jsonb_string(&v);
				continue;
			}
			for (i = 0; i < lengthof(plain_attributes); i++)
				if (strcmp(key, plain_attributes[i]) == 0)
					break;
			if (i == lengthof(plain_attributes))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown platform application attribute "
								"\"%s\"",
								key),
						 errhint("Attributes: PlatformCredential, "
								 "PlatformPrincipal, ApplePlatformTeamID, "
								 "ApplePlatformBundleID, the Event* and "
								 "*Feedback* attributes.")));
			values[i] = empty ? NULL : sqsn_jsonb_string(&v);
		}
	}
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < lengthof(plain_attributes); i++)
	{
		if (values[i] == NULL)
			continue;
		sqsn_json_string(&buf, plain_attributes[i], values[i]);
	}
	appendStringInfoChar(&buf, '}');
	return sqsn_json_to_jsonb(&buf);
}

/* Applications -------------------------------------------------------- */

/* The attributes argument (the second) of a change; not NULL. */
static Jsonb *
attributes_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("attributes must not be NULL")));
	sqsn_refuse_on_standby(fcinfo);
	return PG_GETARG_JSONB_P(1);
}

/*
 * sn_create_platform_application(name, platform, attributes): returns the
 * application's ARN. The credentials are checked and sealed; an
 * application of that platform and name must not exist yet (42710).
 */
Datum
sn_create_platform_application(PG_FUNCTION_ARGS)
{
	char      *name = sqsn_text_arg(fcinfo, 0, "name");
	char      *platform = sqsn_text_arg(fcinfo, 1, "platform");
	Jsonb     *given = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	char      *credential = NULL;
	char      *principal = NULL;
	Jsonb     *plain;
	pg_uuid_t *id = sqsn_new_uuid();
	Datum      values[6];
	int        nestlevel;

	sqsn_refuse_on_standby(fcinfo);
	validate_application_name(name);
	validate_platform(platform);
	plain = apply_application_attributes(NULL, given, &credential, &principal);
	check_credentials(platform, credential, principal, plain);

	nestlevel = sqsn_admin_begin();
	values[0] = UUIDPGetDatum(id);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(platform);
	values[3] = JsonbPGetDatum(plain);
	values[4] = PointerGetDatum(seal_credentials(id, credential, principal));
	values[5] =
		DirectFunctionCall1(namein, CStringGetDatum(sqsn_caller_name()));
	if (sqsn_execute(&insert_application_stmt, values, NULL, 0) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("platform application \"%s\" already exists",
						application_arn(platform, name)),
				 errhint("Change it with "
						 "sqsn.sn_set_platform_application_attributes.")));
	sqsn_admin_end(nestlevel);
	PG_RETURN_TEXT_P(cstring_to_text(application_arn(platform, name)));
}

/*
 * The attributes shown of an application: the plain ones and Enabled
 * (always "true"); never the credentials.
 */
static Jsonb *
shown_attributes(Jsonb *plain)
{
	StringInfoData buf;
	JsonbIterator *it = JsonbIteratorInit(&plain->root);
	JsonbValue     v;
	char          *key = NULL;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	sqsn_json_string(&buf, "Enabled", "true");
	while (sqsn_jsonb_next_pair(&it, &key, &v))
		sqsn_json_string(&buf, key, sqsn_jsonb_string(&v));
	appendStringInfoChar(&buf, '}');
	return sqsn_json_to_jsonb(&buf);
}

/* sn_get_platform_application_attributes(application_arn) */
Datum
sn_get_platform_application_attributes(PG_FUNCTION_ARGS)
{
	char       *arn = sqsn_text_arg(fcinfo, 0, "application_arn");
	Application app;
	Jsonb      *result;
	int         nestlevel = sqsn_admin_begin();

	find_application(arn, false, &app);
	result = shown_attributes(app.attributes);
	/* out of SPI's memory, which sqsn_admin_end frees */
	result =
		DatumGetJsonbP(SPI_datumTransfer(JsonbPGetDatum(result), false, -1));
	sqsn_admin_end(nestlevel);
	PG_RETURN_JSONB_P(result);
}

/*
 * sn_set_platform_application_attributes(application_arn, attributes):
 * changes the given attributes; new credentials are checked with the
 * stored ones they complete, and sealed again.
 */
Datum
sn_set_platform_application_attributes(PG_FUNCTION_ARGS)
{
	char       *arn = sqsn_text_arg(fcinfo, 0, "application_arn");
	Jsonb      *given;
	Application app;
	char       *credential = NULL;
	char       *principal = NULL;
	char       *error;
	Jsonb      *plain;
	Datum       values[3];
	int         nestlevel;

	given = attributes_arg(fcinfo);
	nestlevel = sqsn_admin_begin();
	find_application(arn, true, &app);
	if (!sqsn_platform_open_credentials(&app.id, app.credentials, &credential,
										&principal, &error))
	{
		/* unreadable credentials can only be replaced */
		credential = NULL;
		principal = NULL;
	}
	plain = apply_application_attributes(app.attributes, given, &credential,
										 &principal);
	check_credentials(app.platform, credential, principal, plain);
	values[0] = UUIDPGetDatum(&app.id);
	values[1] = JsonbPGetDatum(plain);
	values[2] =
		PointerGetDatum(seal_credentials(&app.id, credential, principal));
	sqsn_execute(&update_application_stmt, values, NULL, 0);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sn_delete_platform_application(application_arn): deletes it with its
 * endpoints; deleting one that does not exist does nothing, as the
 * managed service's DeletePlatformApplication.
 */
Datum
sn_delete_platform_application(PG_FUNCTION_ARGS)
{
	char *arn = sqsn_text_arg(fcinfo, 0, "application_arn");
	char *platform;
	char *name;
	Datum values[2];
	int   nestlevel;

	sqsn_refuse_on_standby(fcinfo);
	split_arn(arn, "app", "platform application", &platform, &name);
	nestlevel = sqsn_admin_begin();
	values[0] = CStringGetTextDatum(platform);
	values[1] = CStringGetTextDatum(name);
	if (sqsn_execute(&lock_application_stmt, values, NULL, 1) > 0)
	{
		bool isnull;

		values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								  1, &isnull);
		sqsn_execute(&delete_application_stmt, values, NULL, 0);
	}
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/* sn_list_platform_applications(): (platform_application_arn, attributes) */
Datum
sn_list_platform_applications(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int            nestlevel;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = sqsn_admin_begin();
	sqsn_execute(&list_applications_stmt, NULL, NULL, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		Datum     values[2];
		bool      nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(application_arn(
			SPI_getvalue(tuple, desc, 1), SPI_getvalue(tuple, desc, 2)));
		values[1] =
			JsonbPGetDatum(shown_attributes(sqsn_spi_jsonb(tuple, desc, 3)));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
	sqsn_admin_end(nestlevel);
	return (Datum) 0;
}

/* Endpoints ----------------------------------------------------------- */

static void
validate_token(const char *token)
{
	size_t len = strlen(token);

	if (len == 0 || len > MAX_TOKEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token must have 1 to %d characters", MAX_TOKEN)));
	for (const char *p = token; *p; p++)
		if ((unsigned char) *p <= 0x20 || *p == 0x7f || *p == '/')
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("token must not contain spaces, slashes or "
								   "control characters")));
}

static void
validate_custom_user_data(const char *data)
{
	if (data != NULL && strlen(data) > MAX_CUSTOM_USER_DATA)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("CustomUserData must have at most %d bytes",
							   MAX_CUSTOM_USER_DATA)));
}

/* Reads "true" or "false" (errors otherwise). */
static bool
enabled_value(JsonbValue *v)
{
	char *s = v->type == jbvString ? sqsn_jsonb_string(v) : NULL;

	if (v->type == jbvBool)
		return v->val.boolean;
	if (s != NULL && pg_strcasecmp(s, "true") == 0)
		return true;
	if (s != NULL && pg_strcasecmp(s, "false") == 0)
		return false;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("Enabled must be \"true\" or \"false\"")));
}

/*
 * Applies endpoint attributes (Token, Enabled, CustomUserData) to the
 * given values; errors on unknown names.
 */
static void
apply_endpoint_attributes(Jsonb *given, char **token, bool *enabled,
						  char **custom_user_data)
{
	JsonbIterator *it;
	JsonbValue     v;
	char          *key = NULL;

	if (given == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(given) || JB_ROOT_IS_SCALAR(given))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("attributes must be a JSON object")));
	it = JsonbIteratorInit(&given->root);
	while (sqsn_jsonb_next_pair(&it, &key, &v))
	{
		if (strcmp(key, "Enabled") == 0)
			*enabled = enabled_value(&v);
		else if (strcmp(key, "Token") == 0 && v.type == jbvString)
			*token = sqsn_jsonb_string(&v);
		else if (strcmp(key, "CustomUserData") == 0 &&
				 (v.type == jbvString || v.type == jbvNull))
			*custom_user_data = v.type == jbvNull || v.val.string.len == 0
									? NULL
									: sqsn_jsonb_string(&v);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid platform endpoint attribute \"%s\"", key),
					 errhint("Attributes: Token and CustomUserData "
							 "(strings), Enabled (\"true\" or \"false\").")));
	}
	validate_token(*token);
	validate_custom_user_data(*custom_user_data);
}

/*
 * sn_create_platform_endpoint(application_arn, token, custom_user_data,
 * attributes): returns the endpoint's ARN; for a token the application
 * already has, the existing endpoint's when the CustomUserData is the same
 * (errors 42710 otherwise).
 */
Datum
sn_create_platform_endpoint(PG_FUNCTION_ARGS)
{
	char *arn = sqsn_text_arg(fcinfo, 0, "application_arn");
	char *token = sqsn_text_arg(fcinfo, 1, "token");
	char *custom =
		PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	Jsonb      *given = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	bool        enabled = true;
	Application app;
	pg_uuid_t  *id = sqsn_new_uuid();
	Datum       values[5];
	char        nulls[5] = {' ', ' ', ' ', ' ', ' '};
	char       *result;
	Datum       arn_text;
	int         nestlevel;

	sqsn_refuse_on_standby(fcinfo);
	validate_token(token);
	validate_custom_user_data(custom);
	apply_endpoint_attributes(given, &token, &enabled, &custom);
	nestlevel = sqsn_admin_begin();
	find_application(arn, false, &app);
	values[0] = UUIDPGetDatum(id);
	values[1] = UUIDPGetDatum(&app.id);
	values[2] = CStringGetTextDatum(token);
	values[3] = custom ? CStringGetTextDatum(custom) : (Datum) 0;
	nulls[3] = custom ? ' ' : 'n';
	values[4] = BoolGetDatum(enabled);
	if (sqsn_execute(&insert_endpoint_stmt, values, nulls, 0) == 0)
	{
		HeapTuple tuple;
		char     *stored;

		/* the token is known: the same endpoint, or a conflict */
		sqsn_execute(&endpoint_by_token_stmt, &values[1], NULL, 1);
		if (SPI_processed == 0)
			elog(ERROR, "platform endpoint vanished while being created");
		tuple = SPI_tuptable->vals[0];
		stored = SPI_getvalue(tuple, SPI_tuptable->tupdesc, 2);
		if ((stored == NULL) != (custom == NULL) ||
			(stored != NULL && strcmp(stored, custom) != 0))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("an endpoint with the same token but different "
							"attributes already exists"),
					 errdetail(
						 "Endpoint %s already has this token.",
						 sqsn_platform_endpoint_arn(
							 app.platform, app.name,
							 SPI_getvalue(tuple, SPI_tuptable->tupdesc, 1)))));
		result = sqsn_platform_endpoint_arn(
			app.platform, app.name,
			SPI_getvalue(tuple, SPI_tuptable->tupdesc, 1));
	}
	else
		result = sqsn_platform_endpoint_arn(app.platform, app.name,
											sqsn_uuid_text(UUIDPGetDatum(id)));
	/* out of SPI's memory, which sqsn_admin_end frees */
	arn_text = SPI_datumTransfer(CStringGetTextDatum(result), false, -1);
	sqsn_admin_end(nestlevel);
	PG_RETURN_DATUM(arn_text);
}

/* The attributes of an endpoint row (ENDPOINT_COLUMNS). */
static Jsonb *
endpoint_attributes(HeapTuple tuple, TupleDesc desc)
{
	StringInfoData buf;
	char          *custom = SPI_getvalue(tuple, desc, 3);

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	sqsn_json_string(&buf, "Enabled",
					 sqsn_spi_bool(tuple, desc, 4) ? "true" : "false");
	sqsn_json_string(&buf, "Token", SPI_getvalue(tuple, desc, 2));
	if (custom != NULL)
		sqsn_json_string(&buf, "CustomUserData", custom);
	appendStringInfoChar(&buf, '}');
	return sqsn_json_to_jsonb(&buf);
}

/* Finds an endpoint by ARN (SPI connected); errors 42704 when missing. */
static void
find_endpoint(const char *arn, bool lock)
{
	char      *platform;
	char      *name;
	pg_uuid_t *id = endpoint_id_of_arn(arn, &platform, &name);
	Datum      value = UUIDPGetDatum(id);

	if (sqsn_execute(lock ? &lock_endpoint_stmt : &find_endpoint_stmt, &value,
					 NULL, 1) == 0 ||
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5),
			   platform) != 0 ||
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6),
			   name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("platform endpoint \"%s\" does not exist", arn)));
}

/* sn_get_endpoint_attributes(endpoint_arn): Enabled, Token, CustomUserData */
Datum
sn_get_endpoint_attributes(PG_FUNCTION_ARGS)
{
	char  *arn = sqsn_text_arg(fcinfo, 0, "endpoint_arn");
	Jsonb *result;
	int    nestlevel = sqsn_admin_begin();

	find_endpoint(arn, false);
	result = endpoint_attributes(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	/* out of SPI's memory, which sqsn_admin_end frees */
	result =
		DatumGetJsonbP(SPI_datumTransfer(JsonbPGetDatum(result), false, -1));
	sqsn_admin_end(nestlevel);
	PG_RETURN_JSONB_P(result);
}

/*
 * sn_set_endpoint_attributes(endpoint_arn, attributes): Token, Enabled,
 * CustomUserData. Enabling an endpoint clears why it was disabled.
 */
Datum
sn_set_endpoint_attributes(PG_FUNCTION_ARGS)
{
	char     *arn = sqsn_text_arg(fcinfo, 0, "endpoint_arn");
	Jsonb    *given;
	HeapTuple tuple;
	TupleDesc desc;
	char     *token;
	char     *custom;
	bool      enabled;
	bool      isnull;
	Datum     values[4];
	char      nulls[4] = {' ', ' ', ' ', ' '};
	int       nestlevel;

	given = attributes_arg(fcinfo);
	nestlevel = sqsn_admin_begin();
	find_endpoint(arn, true);
	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	values[0] =
		datumCopy(SPI_getbinval(tuple, desc, 1, &isnull), false, UUID_LEN);
	token = SPI_getvalue(tuple, desc, 2);
	custom = SPI_getvalue(tuple, desc, 3);
	enabled = sqsn_spi_bool(tuple, desc, 4);
	apply_endpoint_attributes(given, &token, &enabled, &custom);
	values[1] = CStringGetTextDatum(token);
	values[2] = custom ? CStringGetTextDatum(custom) : (Datum) 0;
	nulls[2] = custom ? ' ' : 'n';
	values[3] = BoolGetDatum(enabled);
	PG_TRY();
	{
		sqsn_execute(&update_endpoint_stmt, values, nulls, 0);
	}
	PG_CATCH();
	{
		if (geterrcode() == ERRCODE_UNIQUE_VIOLATION)
		{
			FlushErrorState();
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("another endpoint of the application has token "
							"\"%s\"",
							token)));
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sn_delete_endpoint(endpoint_arn): deletes it and its pending direct
 * publishes; deleting one that does not exist does nothing, as the
 * managed service's DeleteEndpoint.
 */
Datum
sn_delete_endpoint(PG_FUNCTION_ARGS)
{
	char      *arn = sqsn_text_arg(fcinfo, 0, "endpoint_arn");
	char      *platform;
	char      *name;
	pg_uuid_t *id;
	Datum      value;
	int        nestlevel;

	sqsn_refuse_on_standby(fcinfo);
	id = endpoint_id_of_arn(arn, &platform, &name);
	value = UUIDPGetDatum(id);
	nestlevel = sqsn_admin_begin();
	sqsn_execute(&delete_endpoint_stmt, &value, NULL, 0);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/*
 * sn_list_endpoints_by_platform_application(application_arn):
 * (endpoint_arn, attributes), oldest first.
 */
Datum
sn_list_endpoints_by_platform_application(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char          *arn = sqsn_text_arg(fcinfo, 0, "application_arn");
	Application    app;
	Datum          value;
	int            nestlevel;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = sqsn_admin_begin();
	find_application(arn, false, &app);
	value = UUIDPGetDatum(&app.id);
	sqsn_execute(&list_endpoints_stmt, &value, NULL, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple tuple = SPI_tuptable->vals[i];
		TupleDesc desc = SPI_tuptable->tupdesc;
		Datum     values[2];
		bool      nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(sqsn_platform_endpoint_arn(
			app.platform, app.name, SPI_getvalue(tuple, desc, 1)));
		values[1] = JsonbPGetDatum(endpoint_attributes(tuple, desc));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
	sqsn_admin_end(nestlevel);
	return (Datum) 0;
}

/* For subscriptions and publishes ------------------------------------- */

/*
 * The endpoint an ARN names, for a subscription or a publish (SPI
 * connected): errors 42704 when it does not exist and, with
 * must_be_enabled, 55000 when it is disabled (the managed service's
 * EndpointDisabled). Returns the endpoint's id and sets *platform.
 */
pg_uuid_t *
sqsn_platform_target(const char *arn, bool must_be_enabled, char **platform)
{
	pg_uuid_t *id;

	find_endpoint(arn, false);
	id = palloc(sizeof(pg_uuid_t));
	{
		bool isnull;

		memcpy(id,
			   DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull)),
			   sizeof(pg_uuid_t));
	}
	*platform = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5);
	if (must_be_enabled &&
		!sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("endpoint is disabled"),
				 errdetail("Platform endpoint %s is disabled.", arn),
				 errhint("Enable it with sqsn.sn_set_endpoint_attributes "
						 "and {\"Enabled\": \"true\"} once its token is "
						 "valid again.")));
	return id;
}

/*
 * Disables an endpoint whose token the provider called invalid (the
 * delivery worker, in its recording transaction); reason is kept.
 */
void
sqsn_platform_disable_endpoint(const pg_uuid_t *endpoint_id,
							   const char      *reason)
{
	Datum values[2];

	values[0] = UUIDPGetDatum(endpoint_id);
	values[1] = CStringGetTextDatum(reason);
	sqsn_execute(&disable_endpoint_stmt, values, NULL, 0);
}

/*
 * The payload a platform endpoint gets for a published message: with
 * message_structure json and a text under the platform's key (GCM, APNS,
 * APNS_SANDBOX), that text, which must be a JSON object (errors 22023);
 * else the message (or the "default" text) in the platform's default
 * payload, {"notification": {"body": ...}} for GCM and {"aps": {"alert":
 * ...}} for APNs.
 */
text *
sqsn_platform_payload(const char *platform, text *message,
					  const char *structure)
{
	const char    *msg = VARDATA_ANY(message);
	int            len = VARSIZE_ANY_EXHDR(message);
	StringInfoData buf;

	if (structure != NULL)
	{
		Jsonb      *obj = sqsn_json_or_null(msg, len);
		JsonbValue *v = NULL;

		if (obj != NULL && JB_ROOT_IS_OBJECT(obj))
			v = getKeyJsonValueFromContainer(&obj->root, platform,
											 strlen(platform), NULL);
		if (v != NULL && v->type == jbvString)
		{
			Jsonb *payload =
				sqsn_json_or_null(v->val.string.val, v->val.string.len);

			if (payload == NULL || !JB_ROOT_IS_OBJECT(payload) ||
				JB_ROOT_IS_SCALAR(payload))
				ereport(
					ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the %s message must be a JSON object", platform),
					 errhint("Write for example {\"default\": \"text\", "
							 "\"%s\": \"%s\"}.",
							 platform,
							 strcmp(platform, "GCM") == 0
								 ? "{\\\"notification\\\": "
								   "{\\\"title\\\": \\\"Hi\\\"}}"
								 : "{\\\"aps\\\": {\\\"alert\\\": "
								   "\\\"Hi\\\"}}")));
			return cstring_to_text_with_len(v->val.string.val,
											v->val.string.len);
		}
		if (obj != NULL && JB_ROOT_IS_OBJECT(obj))
			v = getKeyJsonValueFromContainer(&obj->root, "default", 7, NULL);
		if (v == NULL || v->type != jbvString)
			elog(ERROR, "structured message without a default text");
		msg = pnstrdup(v->val.string.val, v->val.string.len);
	}
	else
		msg = text_to_cstring(message);

	initStringInfo(&buf);
	if (strcmp(platform, "GCM") == 0)
		appendStringInfoString(&buf, "{\"notification\":{");
	else
		appendStringInfoString(&buf, "{\"aps\":{");
	sqsn_json_string(&buf, strcmp(platform, "GCM") == 0 ? "body" : "alert",
					 msg);
	appendStringInfoString(&buf, "}}");
	return cstring_to_text_with_len(buf.data, buf.len);
}
