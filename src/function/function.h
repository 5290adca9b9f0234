/*-------------------------------------------------------------------------
 *
 * function.h
 *	  Function consumers: SQL functions that sqsn itself invokes, for the
 *	  batches of a queue (event source mappings) and for the messages of a
 *	  topic (function subscriptions), in a pool of background workers.
 *
 *	  mapping.c          the API of event source mappings; reading one,
 *	                     checking its owner's rights, pausing it
 *	  batch.c            one batch of a mapping: receive, invoke, delete,
 *	                     in one transaction; the event the function gets
 *	  invoke.c           calling a function as a role, with a time limit,
 *	                     in a subtransaction
 *	  delivery.c         function subscriptions: their rows of the push
 *	                     outbox, invoked one per transaction, retried,
 *	                     dead-lettered
 *	  launcher.c         the launcher: settings, shared memory, starting
 *	                     workers and handing them work; the views' rows
 *	  mapping_metrics.c  counters of each mapping's invocations in shared
 *	                     memory (outcomes, messages, duration histogram)
 *	  function_worker.c  the function workers
 *
 * The function runs in the same transaction as the delete of its batch (or
 * the outcome of its notification), so what it writes to the database
 * commits together with the acknowledgement, or not at all.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SQSN_FUNCTION_H
#define SQSN_FUNCTION_H

#include "topic/topic.h"

#include "port/atomics.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/spin.h"

/* Limits of event source mappings (those of the managed service). */
#define SQSN_MAX_MAPPING_BATCH       10000
#define SQSN_MAX_BATCHING_WINDOW     300
#define SQSN_MIN_MAPPING_CONCURRENCY 2
#define SQSN_MAX_MAPPING_CONCURRENCY 1000
#define SQSN_MAX_FUNCTION_TIMEOUT    900

/* How an invocation ended. */
typedef enum SqsnOutcome
{
	SQSN_SUCCEEDED,
	SQSN_PARTIALLY_FAILED, /* reported item failures */
	SQSN_FAILED,
	SQSN_TIMED_OUT,
	SQSN_EXPIRED, /* an event too old to invoke (subscriptions) */
} SqsnOutcome;

/* An event source mapping, as a batch needs it (mapping.c). */
typedef struct SqsnMapping
{
	pg_uuid_t id;
	char     *queue_name;
	char     *function_name; /* "schema.name(jsonb)" */
	char     *owner;
	int       batch_size;
	int       window; /* maximum_batching_window_seconds */
	int       concurrency;
	int       timeout; /* seconds */
	bool      report_item_failures;
	bool      enabled;
	char     *paused_reason; /* NULL: not paused */
	/* filled in by sqsn_mapping_problem */
	Oid function;
	Oid owner_id;
} SqsnMapping;

/* What one batch did (batch.c). */
typedef struct SqsnBatchResult
{
	int         messages; /* received and passed to the function */
	int         deleted;
	SqsnOutcome outcome;
	char       *error; /* NULL: none */
} SqsnBatchResult;

/*
 * One call of a function with one jsonb argument (invoke.c). after, when
 * set, runs in the same subtransaction once the function has returned, as
 * the worker and without the time limit: what must commit with the
 * function's effects (the delete of a batch). It may raise an error, which
 * fails the invocation.
 */
typedef struct SqsnInvocation
{
	Oid    function;
	Oid    role;
	int    timeout_ms;
	Jsonb *event;
	void (*after)(void *arg, Datum result, bool isnull);
	void *after_arg;
	/* out */
	TimestampTz started;
	double      duration_ms;
	SqsnOutcome outcome; /* SUCCEEDED, FAILED or TIMED_OUT */
	char       *error;   /* NULL: succeeded */
} SqsnInvocation;

/*
 * A function worker as the launcher and the views see it, in shared
 * memory (launcher.c). The launcher hands a worker a task (a mapping, or
 * the function subscriptions' deliveries) by setting task and its latch;
 * the worker runs it for up to a time slice, reports, and sets the
 * launcher's latch.
 */
typedef enum SqsnTaskState
{
	SQSN_TASK_NONE,     /* idle */
	SQSN_TASK_ASSIGNED, /* handed over, not yet started */
	SQSN_TASK_RUNNING,
	SQSN_TASK_DONE, /* reported, not yet collected by the launcher */
} SqsnTaskState;

typedef enum SqsnTaskKind
{
	SQSN_TASK_MAPPING,
	SQSN_TASK_DELIVERIES,
} SqsnTaskKind;

#define SQSN_FUNCTION_STATE_LEN 64
#define SQSN_FUNCTION_ERROR_LEN 256

typedef struct SqsnWorkerSlot
{
	bool          in_use;     /* a process was registered for it */
	bool          exiting;    /* its process is leaving: no more tasks */
	uint32        generation; /* of the process registered last */
	pid_t         pid;        /* 0 until it runs */
	Latch        *latch;
	SqsnTaskState task_state;
	SqsnTaskKind  task_kind;
	pg_uuid_t     mapping_id;
	/* the worker's report of a task */
	bool        more;      /* it left work behind: run again soon */
	bool        stop;      /* the mapping is gone, disabled or paused */
	TimestampTz next_look; /* look again then, by itself (0: no need) */
	/* for sqsn.worker_status */
	char        state[SQSN_FUNCTION_STATE_LEN];
	TimestampTz last_invocation_at;
	int64       invocations;
	char        last_error[SQSN_FUNCTION_ERROR_LEN];
} SqsnWorkerSlot;

typedef struct SqsnFunctionShared
{
	slock_t          mutex; /* the slots and the launcher's fields */
	pid_t            launcher_pid;
	Latch           *launcher_latch;
	char             launcher_state[SQSN_FUNCTION_STATE_LEN];
	pg_atomic_uint64 catalog_seq; /* bumped by committed mapping changes */
	int              nslots;
	SqsnWorkerSlot   slots[FLEXIBLE_ARRAY_MEMBER];
} SqsnFunctionShared;

/* launcher.c */
extern int                 sqsn_function_worker_slot; /* -1: not one */
extern int                 sqsn_max_function_workers;
extern int                 sqsn_function_retry_delay;
extern int                 sqsn_function_group_commit;
extern SqsnFunctionShared *sqsn_function_shared;
extern void                FunctionInit(void);
extern void sqsn_log_invocation(char kind, const pg_uuid_t *id, int batch_size,
								TimestampTz started, double duration_ms,
								SqsnOutcome outcome, const char *error);
extern const char *sqsn_outcome_name(SqsnOutcome outcome);
extern void        sqsn_worker_state(int slot, const char *state);

/* mapping.c */
extern void  sqsn_function_catalog_changed(void);
extern bool  sqsn_read_mapping(const pg_uuid_t *id, SqsnMapping *m);
extern char *sqsn_mapping_problem(SqsnMapping *m);
extern void  sqsn_set_mapping_paused(SqsnMapping *m, const char *reason);

/* mapping_metrics.c: counters per mapping, since the server started */
enum
{
	FMETRIC_INVOCATIONS,
	FMETRIC_FAILED,           /* the function raised an error */
	FMETRIC_TIMED_OUT,        /* it ran past the mapping's timeout */
	FMETRIC_PARTIALLY_FAILED, /* it reported item failures */
	FMETRIC_MESSAGES,         /* messages passed to the function */
	FMETRIC_DURATION_SUM_US,  /* microseconds over every invocation */
	FMETRIC_DURATION_BUCKET,  /* SQSN_DURATION_BUCKETS counts follow */
	FMETRIC_COUNT = FMETRIC_DURATION_BUCKET + SQSN_DURATION_BUCKETS
};
extern SqsnCounterTable sqsn_mapping_counters;
extern void             FunctionMetricsInit(void);
extern void sqsn_mapping_metrics_count(const pg_uuid_t *mapping_id,
									   SqsnOutcome outcome, int messages,
									   double duration_ms);

static inline SqsnCounterKey
sqsn_mapping_key(const pg_uuid_t *mapping_id)
{
	return sqsn_counter_key_bytes(MyDatabaseId, mapping_id->data);
}

/* batch.c */
extern void sqsn_run_batch(SqsnMapping *m, int worker, SqsnBatchResult *r);

/* invoke.c */
extern void sqsn_invoke(SqsnInvocation *inv);
extern Oid  sqsn_function_lookup(const char *name);

/* delivery.c */
extern bool sqsn_invoke_next_delivery(TimestampTz *next_due);

/* function_worker.c */
PGDLLEXPORT void sqsn_function_worker_main(Datum main_arg);

#endif /* SQSN_FUNCTION_H */
