/*-------------------------------------------------------------------------
 *
 * mapping_metrics.c
 *	  Counters of event source mapping invocations, in shared memory:
 *	  invocations, how many failed or timed out (or reported some of their
 *	  messages failed), messages passed to the function, and a histogram
 *	  of invocation durations.
 *
 * A batch counts its invocation once the function has returned (batch.c):
 * an atomic add per counter on the mapping's slot (common/counters.c), no
 * table write. The table has sqsn.metrics_mappings slots keyed by
 * (database, mapping id); a mapping without a slot once it is full is not
 * counted (its increments go to the overflow counter). Deleting a mapping
 * frees its slot. sqsn.metrics = off stops the counting, as for queues.
 *
 * These counters start from zero at every server start and count an
 * invocation whether or not its transaction later commits. The exact,
 * persistent figures of sqsn.event_source_mapping_stats are kept apart,
 * in sqsn.event_source_mapping_counter, written in each batch's own
 * transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "function/function.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sq_event_source_mapping_counters);

/* read with sqsn_counters_read, keyed by sqsn_mapping_key */
SqsnCounterTable sqsn_mapping_counters = {"sqsn mapping metrics", 1000,
										  FMETRIC_COUNT, 0, NULL};

/* Its setting and its table; called from FunctionInit. */
void
FunctionMetricsInit(void)
{
	DefineCustomIntVariable(
		"sqsn.metrics_mappings",
		"Event source mappings whose invocations can be counted in shared "
		"memory.",
		"Mappings beyond it are not counted (sqsn_metrics_overflow_total).",
		&sqsn_mapping_counters.nslots, 1000, 0, 1000000, PGC_POSTMASTER, 0, NULL,
		NULL, NULL);
	sqsn_counters_define(&sqsn_mapping_counters);
}

/*
 * Counts one invocation of a mapping: how it ended, the messages it was
 * given, and how long it took.
 */
void
sqsn_mapping_metrics_count(const pg_uuid_t *mapping_id, SqsnOutcome outcome,
						   int messages, double duration_ms)
{
	SqsnCounterKey    key;
	SqsnCounterSlot  *slot;
	pg_atomic_uint64 *values;

	if (sqsn_mapping_counters.shared == NULL || !sqsn_metrics_enabled)
		return;
	key = sqsn_mapping_key(mapping_id);
	slot = sqsn_counters_slot(&sqsn_mapping_counters, &key, true);
	if (slot == NULL)
	{
		sqsn_counters_add(&sqsn_mapping_counters, &key, 0, 1); /* an overflow */
		return;
	}
	values = sqsn_counters_values(slot);
	pg_atomic_fetch_add_u64(&values[FMETRIC_INVOCATIONS], 1);
	if (outcome == SQSN_FAILED)
		pg_atomic_fetch_add_u64(&values[FMETRIC_FAILED], 1);
	else if (outcome == SQSN_TIMED_OUT)
		pg_atomic_fetch_add_u64(&values[FMETRIC_TIMED_OUT], 1);
	else if (outcome == SQSN_PARTIALLY_FAILED)
		pg_atomic_fetch_add_u64(&values[FMETRIC_PARTIALLY_FAILED], 1);
	if (messages > 0)
		pg_atomic_fetch_add_u64(&values[FMETRIC_MESSAGES], messages);
	sqsn_counters_observe(values, FMETRIC_DURATION_SUM_US,
						  FMETRIC_DURATION_BUCKET, duration_ms);
}

/*
 * sqsn.event_source_mapping_counters(mapping_id): the shared-memory
 * counters of a mapping since the server started. Zeros for a mapping not
 * invoked since; NULLs without the preload. The histogram's buckets are
 * cumulative, as Prometheus has them, for the upper bounds (seconds) in
 * duration_bucket_le (the last one, infinity, counts every invocation).
 */
Datum
sq_event_source_mapping_counters(PG_FUNCTION_ARGS)
{
	pg_uuid_t *id = PG_GETARG_UUID_P(0);
	TupleDesc  tupdesc;
	Datum      values[8];
	bool       nulls[8] = {false};
	uint64     counts[FMETRIC_COUNT] = {0};
	Datum      le[SQSN_DURATION_BUCKETS];
	Datum      buckets[SQSN_DURATION_BUCKETS];
	uint64     total = 0;
	SqsnCounterKey key;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	if (sqsn_mapping_counters.shared == NULL)
	{
		for (int i = 0; i < lengthof(nulls); i++)
			nulls[i] = true;
		PG_RETURN_DATUM(
			HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
	}
	key = sqsn_mapping_key(id);
	(void) sqsn_counters_read(&sqsn_mapping_counters, &key, counts);
	for (int b = 0; b < SQSN_DURATION_BUCKETS; b++)
	{
		total += counts[FMETRIC_DURATION_BUCKET + b];
		buckets[b] = Int64GetDatum((int64) total);
		le[b] = Float8GetDatum(sqsn_duration_buckets[b] < 0
								   ? get_float8_infinity()
								   : sqsn_duration_buckets[b]);
	}
	values[0] = Int64GetDatum((int64) counts[FMETRIC_INVOCATIONS]);
	values[1] = Int64GetDatum((int64) counts[FMETRIC_FAILED]);
	values[2] = Int64GetDatum((int64) counts[FMETRIC_TIMED_OUT]);
	values[3] = Int64GetDatum((int64) counts[FMETRIC_PARTIALLY_FAILED]);
	values[4] = Int64GetDatum((int64) counts[FMETRIC_MESSAGES]);
	values[5] = Float8GetDatum(counts[FMETRIC_DURATION_SUM_US] / 1e6);
	values[6] = PointerGetDatum(construct_array(
		le, SQSN_DURATION_BUCKETS, FLOAT8OID, sizeof(float8),
		FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[7] = PointerGetDatum(construct_array(
		buckets, SQSN_DURATION_BUCKETS, INT8OID, sizeof(int64),
		FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
