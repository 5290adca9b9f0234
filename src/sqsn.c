/*-------------------------------------------------------------------------
 *
 * sqsn.c
 *	  Module entry point: _PG_init only hands over to the modules.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sqsn.h"
#include "api.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);

void
_PG_init(void)
{
	CatalogInit();
	WorkerInit();
	LongPollInit();
	LowWaterInit();
	DeliveryInit();
	CryptoInit();
	ApiInit();

	/* typos of sqsn.* settings in postgresql.conf get a warning */
	MarkGUCPrefixReserved("sqsn");
}
