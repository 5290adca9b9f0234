/*-------------------------------------------------------------------------
 *
 * api_auth.c
 *	  Authentication of endpoint requests.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sqsn.h"
#include "api.h"

#include "catalog/pg_authid.h"
#include "utils/guc.h"

static int api_auth = 0;

static const struct config_enum_entry auth_options[] = {
	{"sigv4", 0, false},
	{"none", 1, false},
	{NULL, 0, false},
};

void
ApiAuthInit(void)
{
	DefineCustomEnumVariable("sqsn.api_auth",
							 "How the endpoint authenticates requests.", NULL,
							 &api_auth, 0, auth_options, PGC_SIGHUP,
							 GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
}

bool
api_auth_is_none(void)
{
	return api_auth == 1;
}

void
api_authenticate(ApiRequest *req, const char *method, const char *path,
				 List *query_params, List *headers, const char *body,
				 size_t body_len)
{
	if (!api_auth_is_none())
		api_error("MissingAuthenticationToken", 403,
				  "Request is missing Authentication Token");
	req->roleid = BOOTSTRAP_SUPERUSERID;
}
