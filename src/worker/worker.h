/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The maintenance background worker (worker.c): retention and
 *	  dead-letter sweeps of every queue, low-water marks, the FIFO topics'
 *	  deduplication records, and its health in sqsn.worker_status.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SQSN_WORKER_H
#define SQSN_WORKER_H

#include "queue/queue.h"

extern void WorkerInit(void);

#endif /* SQSN_WORKER_H */
