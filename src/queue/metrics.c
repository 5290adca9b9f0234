/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  What happened to each queue (messages sent, received, deleted, empty
 *	  receives, bytes sent, dead-lettered, redriven), counted in shared
 *	  memory, and the view sqsn.queue_metrics that shows it next to the
 *	  queue's depth under the managed service's metric names.
 *
 * Counting costs the hot path no write and no lock: a send, receive or
 * delete adds to a small backend-local array (one entry per queue and
 * subtransaction level touched by the transaction), and the commit callback
 * adds those numbers to the queue's slot of a counter table in shared
 * memory with one atomic add each (common/counters.c). A rolled-back
 * transaction or subtransaction counts nothing, so the counters tell what
 * committed. sqsn.metrics = off (superuser, per session or server-wide)
 * turns counting off; the bench measures the difference.
 *
 * The table has sqsn.metrics_queues slots, keyed by (database, queue id,
 * message table). When it is full, a queue that has no slot yet is not
 * counted and its increments go to the table's overflow counter (shown as
 * sqsn_metrics_overflow_total by /metrics). A dropped queue frees its slot
 * at commit. Counters start from zero at every server start.
 *
 * Depth figures (visible, in flight, delayed, the age of the oldest
 * message, and for FIFO queues the groups with messages in flight) are
 * read from the message table, with bounded work: a table the statistics
 * put under twice sqsn.metrics_scan_rows rows is counted, up to that many
 * rows; a larger one is measured on a page sample of about that many rows
 * (TABLESAMPLE SYSTEM) scaled to the table's live-row estimate, and the
 * oldest message is looked for among the first rows from the low-water
 * mark on. Those
 * figures are approximate, as the managed service's are; depth_exact says
 * which kind a row has. They are cached in the queue's slot for
 * sqsn.metrics_cache_time, so that scrapes, dashboards and SQL users
 * sharing a server read each table at most once per period; purge and
 * redrive drop the cached figures of their queues at commit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(sq_queue_metrics_rows);

/* queues touched by one transaction before the rest are counted at once */
#define MAX_PENDING 16

/* rows read from the head of a table for the age of its oldest message */
#define OLDEST_HEAD_ROWS 1000

/* Depth figures cached in a queue's slot. */
typedef struct DepthCache
{
	TimestampTz measured_at; /* 0: nothing cached */
	int64       visible;
	int64       in_flight;
	int64       delayed;
	int64       groups_in_flight; /* FIFO; -1 for standard queues */
	TimestampTz oldest_sent_at;   /* 0: the queue is empty */
	bool        exact;
} DepthCache;

/* Counts of one queue at one subtransaction level, not yet committed. */
typedef struct PendingCounts
{
	int64  queue_id;
	Oid    relid;
	int    level;
	bool   forget;     /* the queue is dropped: free its slot at commit */
	bool   invalidate; /* drop its cached depth at commit */
	uint64 counts[QMETRIC_COUNT];
} PendingCounts;

/* settings */
bool        sqsn_metrics_enabled = true;
static int  sqsn_metrics_cache_time = 5000;
static int  sqsn_metrics_scan_rows = 100000;

static SqsnCounterTable queue_counters = {
	"sqsn queue metrics", 10000, QMETRIC_COUNT, sizeof(DepthCache), NULL};

static PendingCounts pending[MAX_PENDING];
static int           npending = 0;

/* empty receives the endpoint decides about (sqsn_metrics_defer_...) */
static bool           defer_empty = false;
static SqsnCounterKey deferred_key;
static bool           deferred = false;

static void metrics_xact_callback(XactEvent event, void *arg);
static void metrics_subxact_callback(SubXactEvent     event,
									 SubTransactionId mySubid,
									 SubTransactionId parentSubid, void *arg);

/*
 * Settings, the counter table and the transaction callbacks; called from
 * QueueInit.
 */
void
QueueMetricsInit(void)
{
	DefineCustomBoolVariable(
		"sqsn.metrics",
		"Whether sends, receives and deletes are counted for the queue "
		"metrics.",
		NULL, &sqsn_metrics_enabled, true, PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable(
		"sqsn.metrics_queues",
		"Queues whose operations can be counted in shared memory.",
		"Queues beyond it are not counted (sqsn_metrics_overflow_total).",
		&queue_counters.nslots, 10000, 0, 1000000, PGC_POSTMASTER, 0, NULL,
		NULL, NULL);
	DefineCustomIntVariable("sqsn.metrics_cache_time",
							"How long the depth figures of a queue are reused "
							"by sqsn.queue_metrics "
							"and /metrics.",
							NULL, &sqsn_metrics_cache_time, 5000, 0,
							3600 * 1000, PGC_SUSET, GUC_UNIT_MS, NULL, NULL,
							NULL);
	DefineCustomIntVariable(
		"sqsn.metrics_scan_rows",
		"Rows of a message table read at most to measure its depth.",
		"A larger table is measured on a sample of about that many rows.",
		&sqsn_metrics_scan_rows, 100000, 100, 100000000, PGC_SUSET, 0, NULL,
		NULL, NULL);

	sqsn_counters_define(&queue_counters);
	RegisterXactCallback(metrics_xact_callback, NULL);
	RegisterSubXactCallback(metrics_subxact_callback, NULL);
}

static inline SqsnCounterKey
queue_key(int64 queue_id, Oid relid)
{
	return sqsn_counter_key(MyDatabaseId, (uint64) queue_id, relid);
}

/* The pending entry of a queue at the current level, made if need be. */
static PendingCounts *
pending_entry(int64 queue_id, Oid relid)
{
	int            level = GetCurrentTransactionNestLevel();
	PendingCounts *p;

	for (int i = 0; i < npending; i++)
		if (pending[i].queue_id == queue_id && pending[i].relid == relid &&
			pending[i].level == level)
			return &pending[i];
	if (npending == MAX_PENDING)
		return NULL;
	p = &pending[npending++];
	memset(p, 0, sizeof(PendingCounts));
	p->queue_id = queue_id;
	p->relid = relid;
	p->level = level;
	return p;
}

/*
 * Counts n of what (QMETRIC_*) for the queue when this transaction
 * commits.
 */
void
sqsn_metrics_count(SqsnQueue *queue, int what, uint64 n)
{
	PendingCounts *p;

	if (!sqsn_metrics_enabled || queue_counters.shared == NULL || n == 0)
		return;
	p = pending_entry(queue->queue_id, queue->relid);
	if (p != NULL)
		p->counts[what] += n;
	else
	{
		/* a transaction touching very many queues: count at once */
		SqsnCounterKey key = queue_key(queue->queue_id, queue->relid);

		sqsn_counters_add(&queue_counters, &key, what, n);
	}
}

/* A receive that returned nothing. */
void
sqsn_metrics_count_empty_receive(SqsnQueue *queue)
{
	if (defer_empty)
	{
		/* the endpoint decides at the end of the request */
		if (sqsn_metrics_enabled && queue_counters.shared != NULL)
		{
			deferred_key = queue_key(queue->queue_id, queue->relid);
			deferred = true;
		}
		return;
	}
	sqsn_metrics_count(queue, QMETRIC_EMPTY_RECEIVES, 1);
}

/*
 * The endpoint runs a ReceiveMessage that long-polls as several receives,
 * one per look: only its answer counts. Between
 * sqsn_metrics_defer_empty_receives(true) and (false) an empty receive is
 * remembered, not counted; sqsn_metrics_settle_empty_receive(true) then
 * counts the one remembered (when the answer is empty and final).
 */
void
sqsn_metrics_defer_empty_receives(bool defer)
{
	defer_empty = defer;
	if (defer)
		deferred = false;
}

void
sqsn_metrics_settle_empty_receive(bool count)
{
	if (count && deferred)
		sqsn_counters_add(&queue_counters, &deferred_key,
						  QMETRIC_EMPTY_RECEIVES, 1);
	deferred = false;
}

/* The queue is dropped (at commit): its slot is freed. */
void
sqsn_metrics_forget_queue(int64 queue_id, Oid relid)
{
	PendingCounts *p;

	if (queue_counters.shared == NULL)
		return;
	p = pending_entry(queue_id, relid);
	if (p != NULL)
		p->forget = true;
}

/* The queue's depth changed at once (purge, redrive): drop cached figures. */
void
sqsn_metrics_depth_changed(SqsnQueue *queue)
{
	PendingCounts *p;

	if (queue_counters.shared == NULL)
		return;
	p = pending_entry(queue->queue_id, queue->relid);
	if (p != NULL)
		p->invalidate = true;
}

static void
invalidate_depth(SqsnCounterSlot *slot)
{
	DepthCache *cache = sqsn_counters_extra(&queue_counters, slot);

	sqsn_counters_lock(slot);
	cache->measured_at = 0;
	sqsn_counters_unlock(slot);
}

/* Adds the committed counts to shared memory. */
static void
flush_pending(void)
{
	for (int i = 0; i < npending; i++)
	{
		PendingCounts   *p = &pending[i];
		SqsnCounterKey   key = queue_key(p->queue_id, p->relid);
		SqsnCounterSlot *slot;

		if (p->forget)
		{
			sqsn_counters_forget(&queue_counters, &key);
			continue;
		}
		for (int c = 0; c < QMETRIC_COUNT; c++)
			sqsn_counters_add(&queue_counters, &key, c, p->counts[c]);
		if (p->invalidate &&
			(slot = sqsn_counters_slot(&queue_counters, &key, false)) != NULL)
			invalidate_depth(slot);
	}
	npending = 0;
}

static void
metrics_xact_callback(XactEvent event, void *arg)
{
	if (npending == 0)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			flush_pending();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			npending = 0;
			break;
		default:
			break;
	}
}

/*
 * A subtransaction's counts go to its parent when it commits and are
 * dropped when it rolls back.
 */
static void
metrics_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	int level;
	int kept = 0;

	if (npending == 0 || (event != SUBXACT_EVENT_COMMIT_SUB &&
						  event != SUBXACT_EVENT_ABORT_SUB))
		return;
	level = GetCurrentTransactionNestLevel();
	for (int i = 0; i < npending; i++)
	{
		PendingCounts *p = &pending[i];
		bool           merged = false;

		if (p->level >= level && event == SUBXACT_EVENT_ABORT_SUB)
			continue;
		if (p->level >= level)
		{
			p->level = level - 1;
			for (int j = 0; j < kept; j++)
			{
				PendingCounts *q = &pending[j];

				if (q->queue_id == p->queue_id && q->relid == p->relid &&
					q->level == p->level)
				{
					for (int c = 0; c < QMETRIC_COUNT; c++)
						q->counts[c] += p->counts[c];
					q->forget |= p->forget;
					q->invalidate |= p->invalidate;
					merged = true;
					break;
				}
			}
		}
		if (!merged)
			pending[kept++] = *p;
	}
	npending = kept;
}

/*
 * What the counter table holds, for /metrics: false without the preload.
 */
bool
sqsn_metrics_queue_table_usage(int *used, int *nslots, uint64 *overflow)
{
	return sqsn_counters_usage(&queue_counters, used, nslots, overflow);
}

/* Depth ------------------------------------------------------------------ */

/*
 * The depth figures (columns) of the first scan_rows rows of a message
 * table, in physical order: the row, its descriptor in *desc and the rows
 * read in *scanned.
 */
static HeapTuple
first_rows(const char *table, const char *columns, Datum *values,
		   TupleDesc *desc, int64 *scanned)
{
	Oid argtypes[2] = {TIMESTAMPTZOID, INT8OID};

	sqsn_spi_check(
		SPI_execute_with_args(
			psprintf("SELECT %s FROM (SELECT expires_at, visible_at,"
					 " lease_token, sent_at, message_group_id FROM %s"
					 " LIMIT $2) s",
					 columns, table),
			2, argtypes, values, NULL, true, 1),
		SPI_OK_SELECT, "measuring a queue");
	*desc = SPI_tuptable->tupdesc;
	*scanned = sqsn_spi_int64(SPI_tuptable->vals[0], *desc, 1);
	return SPI_tuptable->vals[0];
}

/*
 * Measures a queue's depth (see the file's comment). Requires SPI; the
 * message table is locked in AccessShareLock by the caller.
 */
static void
measure_depth(int64 queue_id, Oid relid, bool fifo, TimestampTz now,
			  DepthCache *d)
{
	const char *table = psprintf("sqsn.q_" INT64_FORMAT, queue_id);
	const char *columns =
		" count(*),"
		" count(*) FILTER (WHERE expires_at > $1 AND visible_at <= $1),"
		" count(*) FILTER (WHERE expires_at > $1 AND visible_at > $1"
		"  AND lease_token IS NOT NULL),"
		" count(*) FILTER (WHERE expires_at > $1 AND visible_at > $1"
		"  AND lease_token IS NULL),"
		" min(sent_at) FILTER (WHERE expires_at > $1),"
		" count(DISTINCT message_group_id) FILTER (WHERE expires_at > $1"
		"  AND visible_at > $1 AND lease_token IS NOT NULL)";
	Oid       argtypes[2] = {TIMESTAMPTZOID, INT8OID};
	Datum     values[2];
	HeapTuple row = NULL;
	TupleDesc desc = NULL;
	int64     scanned = 0;
	double    scale = 1.0;
	double    estimate;
	double    percent;
	bool      head_read = false;
	bool      isnull;
	Datum     oldest;

	values[0] = TimestampTzGetDatum(now);
	values[1] = Int64GetDatum(sqsn_metrics_scan_rows);

	/* the statistics' estimate of the live rows */
	sqsn_spi_check(
		SPI_execute_with_args(
			"SELECT greatest(pg_catalog.pg_stat_get_live_tuples($1),"
			" c.reltuples::bigint, 1)"
			" FROM pg_catalog.pg_class c WHERE c.oid = $1",
			1, (Oid[]){OIDOID}, (Datum[]){ObjectIdGetDatum(relid)}, NULL, true,
			1),
		SPI_OK_SELECT, "estimating a queue's size");
	estimate = SPI_processed == 1
				   ? (double) sqsn_spi_int64(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1)
				   : 1.0;

	/*
	 * A table that may be small is counted, up to scan_rows rows; one the
	 * statistics call large goes straight to the sample.
	 */
	d->exact = false;
	if (estimate < 2.0 * sqsn_metrics_scan_rows)
	{
		row = first_rows(table, columns, values, &desc, &scanned);
		head_read = true;
		d->exact = scanned < sqsn_metrics_scan_rows;
	}

	if (!d->exact)
	{
		/* a page sample of about scan_rows rows, scaled to the estimate */
		if (head_read)
			estimate = Max(estimate, (double) scanned);
		percent = Min(100.0, 100.0 * sqsn_metrics_scan_rows / estimate);
		sqsn_spi_check(
			SPI_execute_with_args(
				psprintf("SELECT %s FROM %s TABLESAMPLE SYSTEM (%.6f)",
						 columns, table, percent),
				1, argtypes, values, NULL, true, 1),
			SPI_OK_SELECT, "sampling a queue");
		if (sqsn_spi_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) >=
			sqsn_metrics_scan_rows / 4)
		{
			row = SPI_tuptable->vals[0];
			desc = SPI_tuptable->tupdesc;
			scanned = sqsn_spi_int64(row, desc, 1);
		}
		else if (!head_read)
		{
			/* too few rows came up: the statistics were out of date */
			row = first_rows(table, columns, values, &desc, &scanned);
			head_read = true;
			d->exact = scanned < sqsn_metrics_scan_rows;
			estimate = Max(estimate, (double) scanned);
		}
		/* else too few pages came up: scale the rows read first instead */
		if (!d->exact)
			scale = estimate / Max(scanned, 1);
	}

	d->visible = (int64) (sqsn_spi_int64(row, desc, 2) * scale + 0.5);
	d->in_flight = (int64) (sqsn_spi_int64(row, desc, 3) * scale + 0.5);
	d->delayed = (int64) (sqsn_spi_int64(row, desc, 4) * scale + 0.5);
	oldest = SPI_getbinval(row, desc, 5, &isnull);
	d->oldest_sent_at = isnull ? 0 : DatumGetTimestampTz(oldest);
	d->groups_in_flight = fifo ? sqsn_spi_int64(row, desc, 6) : -1;
	if (fifo && !d->exact)
		d->groups_in_flight =
			Min((int64) (d->groups_in_flight * scale + 0.5), d->in_flight);

	if (!d->exact)
	{
		/* the oldest message is near the head of the msg_seq order */
		Oid       head_types[3] = {TIMESTAMPTZOID, INT8OID, INT4OID};
		Datum     head_values[3];
		SqsnQueue marks;

		/* from the hard low-water mark: every row below it is deleted */
		memset(&marks, 0, sizeof(marks));
		marks.queue_id = queue_id;
		marks.relid = relid;
		marks.fifo = fifo;
		head_values[0] = TimestampTzGetDatum(now);
		head_values[1] = Int64GetDatum(sqsn_lowwater_start(&marks, DT_NOEND));
		head_values[2] = Int32GetDatum(OLDEST_HEAD_ROWS);
		sqsn_spi_check(
			SPI_execute_with_args(
				psprintf("SELECT min(sent_at) FROM (SELECT sent_at FROM %s"
						 " WHERE msg_seq > $2 AND expires_at > $1"
						 " ORDER BY msg_seq LIMIT $3) h",
						 table),
				3, head_types, head_values, NULL, true, 1),
			SPI_OK_SELECT, "reading the head of a queue");
		oldest = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							   &isnull);
		if (!isnull && (d->oldest_sent_at == 0 ||
						DatumGetTimestampTz(oldest) < d->oldest_sent_at))
			d->oldest_sent_at = DatumGetTimestampTz(oldest);
	}
	d->measured_at = now;
}

/*
 * The depth of a queue: the cached figures while they are fresh, else
 * measured (and cached). Requires SPI.
 */
static void
queue_depth(SqsnCounterSlot *slot, int64 queue_id, Oid relid, bool fifo,
			TimestampTz now, DepthCache *d)
{
	DepthCache *cache =
		slot ? sqsn_counters_extra(&queue_counters, slot) : NULL;

	if (cache != NULL)
	{
		sqsn_counters_lock(slot);
		*d = *cache;
		sqsn_counters_unlock(slot);
		if (d->measured_at != 0 && d->measured_at <= now &&
			now - d->measured_at <
				(TimestampTz) sqsn_metrics_cache_time * 1000)
			return;
	}
	measure_depth(queue_id, relid, fifo, now, d);
	if (cache != NULL)
	{
		sqsn_counters_lock(slot);
		*cache = *d;
		sqsn_counters_unlock(slot);
	}
}

/*
 * sqsn.queue_metrics_rows(): one row per queue, its depth and counters
 * under the managed service's metric names (the view sqsn.queue_metrics).
 * Counters are NULL without the preload.
 */
Datum
sq_queue_metrics_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz    now = GetCurrentTimestamp();
	int            nestlevel;
	uint64         nqueues;
	SPITupleTable *queues =
		sqsn_begin_queue_rows(fcinfo, &nestlevel, &nqueues);

	for (uint64 i = 0; i < nqueues; i++)
	{
		HeapTuple tuple = queues->vals[i];
		int64     queue_id = sqsn_spi_int64(tuple, queues->tupdesc, 1);
		Oid       relid =
			DatumGetObjectId(sqsn_spi_datum(tuple, queues->tupdesc, 3));
		bool             fifo = sqsn_spi_bool(tuple, queues->tupdesc, 4);
		SqsnCounterKey   key = queue_key(queue_id, relid);
		SqsnCounterSlot *slot;
		DepthCache       d;
		Datum            values[15];
		bool             nulls[15];

		CHECK_FOR_INTERRUPTS();
		/* a queue dropped since the list was read is left out */
		LockRelationOid(relid, AccessShareLock);
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		{
			UnlockRelationOid(relid, AccessShareLock);
			continue;
		}
		slot = sqsn_counters_slot(&queue_counters, &key, true);
		queue_depth(slot, queue_id, relid, fifo, now, &d);

		memset(nulls, 0, sizeof(nulls));
		values[0] = SPI_getbinval(tuple, queues->tupdesc, 2, &nulls[0]);
		values[1] = Int64GetDatum(d.visible);
		values[2] = Int64GetDatum(d.in_flight);
		values[3] = Int64GetDatum(d.delayed);
		values[4] = Int32GetDatum(
			d.oldest_sent_at == 0 || d.oldest_sent_at > now
				? 0
				: (int32) ((now - d.oldest_sent_at) / USECS_PER_SEC));
		for (int c = 0; c < QMETRIC_COUNT; c++)
		{
			/* NumberOfMessagesSent ... messages_redriven */
			nulls[5 + c] = (slot == NULL);
			values[5 + c] = slot ? Int64GetDatum((int64) pg_atomic_read_u64(
									   &sqsn_counters_values(slot)[c]))
								 : (Datum) 0;
		}
		values[12] = Int64GetDatum(d.groups_in_flight);
		nulls[12] = !fifo;
		values[13] = BoolGetDatum(d.exact);
		values[14] = TimestampTzGetDatum(d.measured_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}

	sqsn_admin_end(nestlevel);
	return (Datum) 0;
}
