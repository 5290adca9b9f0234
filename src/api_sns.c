/*-------------------------------------------------------------------------
 *
 * api_sns.c
 *	  The SNS actions of the endpoint.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sqsn.h"
#include "api.h"

bool
api_sns_dispatch(ApiRequest *req)
{
	return false;
}

void
api_sns_map_error(ErrorData *edata, ApiError *err)
{
	err->code = "InternalError";
	err->shape = NULL;
	err->status = 500;
}
