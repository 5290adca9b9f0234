/*-------------------------------------------------------------------------
 *
 * sqsn.c
 *	  Module entry point: _PG_init only hands over to the subsystems, each
 *	  of which defines its own settings and registers its own hooks and
 *	  workers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sqsn.h"
#include "api/api.h"
#include "function/function.h"
#include "worker/worker.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);

void
_PG_init(void)
{
	SettingsInit();
	CryptoInit();
	QueueInit();
	PushInit();
	WorkerInit();
	ApiInit();
	FunctionInit();

	/* typos of sqsn.* settings in postgresql.conf get a warning */
	MarkGUCPrefixReserved("sqsn");
}
