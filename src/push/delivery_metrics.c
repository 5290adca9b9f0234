/*-------------------------------------------------------------------------
 *
 * delivery_metrics.c
 *	  Counters of push deliveries per subscription, in shared memory:
 *	  deliveries that succeeded, attempts that failed, retries, deliveries
 *	  dead-lettered or dropped, and a histogram of POST latencies.
 *
 * The delivery worker counts each POST when it records its outcome (an
 * atomic add per counter on the subscription's slot, common/counters.c);
 * nothing is written to a table for them. The table has
 * sqsn.metrics_subscriptions slots keyed by (database, subscription id);
 * a subscription without a slot once it is full is not counted (its
 * increments go to the overflow counter). Unsubscribing frees the slot.
 * Counters start from zero at every server start. The persistent totals
 * of sqsn.subscription_stats are kept apart, in sqsn.subscription_counter.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "push/push.h"

#include "miscadmin.h"
#include "utils/guc.h"

static SqsnCounterTable delivery_counters = {"sqsn delivery metrics", 10000,
											 PMETRIC_COUNT, 0, NULL};

/* Its setting and its table; called from PushInit. */
void
DeliveryMetricsInit(void)
{
	DefineCustomIntVariable(
		"sqsn.metrics_subscriptions",
		"Subscriptions whose push deliveries can be counted in shared memory.",
		"Subscriptions beyond it are not counted "
		"(sqsn_metrics_overflow_total).",
		&delivery_counters.nslots, 10000, 0, 1000000, PGC_POSTMASTER, 0, NULL,
		NULL, NULL);
	sqsn_counters_define(&delivery_counters);
}

static inline SqsnCounterKey
subscription_key(const pg_uuid_t *id)
{
	return sqsn_counter_key_bytes(MyDatabaseId, id->data);
}

/*
 * Counts one POST to a subscription: its outcome (PMETRIC_DELIVERED or
 * PMETRIC_FAILED_ATTEMPTS), whether it was a retry, what became of the
 * delivery when it ended (PMETRIC_DEAD_LETTERED, PMETRIC_DROPPED, or -1)
 * and its latency.
 */
void
sqsn_delivery_metrics_count(const pg_uuid_t *subscription_id, bool delivered,
							bool retry, int final, double latency_ms)
{
	SqsnCounterKey    key = subscription_key(subscription_id);
	SqsnCounterSlot  *slot;
	pg_atomic_uint64 *values;

	if (delivery_counters.shared == NULL)
		return;
	slot = sqsn_counters_slot(&delivery_counters, &key, true);
	if (slot == NULL)
	{
		sqsn_counters_add(&delivery_counters, &key, 0, 1); /* an overflow */
		return;
	}
	values = sqsn_counters_values(slot);
	pg_atomic_fetch_add_u64(
		&values[delivered ? PMETRIC_DELIVERED : PMETRIC_FAILED_ATTEMPTS], 1);
	if (retry)
		pg_atomic_fetch_add_u64(&values[PMETRIC_RETRIES], 1);
	if (final >= 0)
		pg_atomic_fetch_add_u64(&values[final], 1);
	sqsn_counters_observe(values, PMETRIC_LATENCY_SUM_US, PMETRIC_LATENCY_BUCKET,
						  latency_ms);
}

/*
 * Reads the counters of a subscription into values[PMETRIC_COUNT]; false
 * when it has none (never counted, or no preload).
 */
bool
sqsn_delivery_metrics_read(const pg_uuid_t *subscription_id, uint64 *values)
{
	SqsnCounterKey key = subscription_key(subscription_id);

	return sqsn_counters_read(&delivery_counters, &key, values);
}

/* The subscription is gone: its slot is freed. */
void
sqsn_delivery_metrics_forget(const pg_uuid_t *subscription_id)
{
	SqsnCounterKey key = subscription_key(subscription_id);

	if (delivery_counters.shared != NULL)
		sqsn_counters_forget(&delivery_counters, &key);
}

/* What the table holds, for /metrics; false without the preload. */
bool
sqsn_delivery_metrics_usage(int *used, int *nslots, uint64 *overflow)
{
	return sqsn_counters_usage(&delivery_counters, used, nslots, overflow);
}
