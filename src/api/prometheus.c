/*-------------------------------------------------------------------------
 *
 * prometheus.c
 *	  GET /metrics: the Prometheus text exposition format (version 0.0.4)
 *	  of the endpoint's database.
 *
 * One scrape reads, as the endpoint worker's own role:
 *	 - each queue's depth and counters (the view sqsn.queue_metrics, whose
 *	   depth figures are bounded in work and cached, queue/metrics.c), its
 *	   kind and dead-letter queue, and its message table's size and live
 *	   and dead tuples (the statistics collector's counts);
 *	 - each push subscription's outbox backlog and finished deliveries
 *	   (sqsn.subscription_stats) and its POST counters and latency
 *	   histogram from shared memory (push/delivery_metrics.c);
 *	 - each event source mapping's state, and its invocations, errors,
 *	   messages and duration histogram from shared memory
 *	   (function/mapping_metrics.c);
 *	 - whether the maintenance, delivery and endpoint workers run, and when
 *	   the maintenance worker last swept;
 *	 - what holds the xmin horizon back: the age of the oldest transaction
 *	   (or prepared transaction) with a snapshot, and the xid age of each
 *	   kind of holder, replication slots included;
 *	 - how full the counter tables in shared memory are.
 * Counters restart from zero with the server; Prometheus reads that as a
 * counter reset.
 *
 * Access: with sqsn.metrics_token empty (the default) only clients on a
 * loopback address are answered; with a token, every client must send
 * "Authorization: Bearer <token>" (compared in constant time).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "api/api.h"
#include "function/function.h"

#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

static char *sqsn_metrics_token = NULL;

/* Columns of the queue query */
enum
{
	QC_NAME = 1,
	QC_VISIBLE,
	QC_NOT_VISIBLE,
	QC_DELAYED,
	QC_AGE,
	QC_SENT, /* the counters follow in QMETRIC order */
	QC_GROUPS = QC_SENT + QMETRIC_COUNT,
	QC_KIND,
	QC_DLQ,
	QC_IS_DLQ,
	QC_SIZE,
	QC_DEAD_TUPLES,
	QC_LIVE_TUPLES,
	QC_HARD_AFTER,
};

static const char *const queue_sql =
	"SELECT m.queue_name, m.\"ApproximateNumberOfMessagesVisible\","
	" m.\"ApproximateNumberOfMessagesNotVisible\","
	" m.\"ApproximateNumberOfMessagesDelayed\","
	" m.\"ApproximateAgeOfOldestMessage\", m.\"NumberOfMessagesSent\","
	" m.\"NumberOfMessagesReceived\", m.\"NumberOfMessagesDeleted\","
	" m.\"NumberOfEmptyReceives\", m.\"SentMessageSize\","
	" m.messages_dead_lettered, m.messages_redriven,"
	" m.\"ApproximateNumberOfGroupsWithInflightMessages\","
	" q.kind, d.queue_name,"
	" EXISTS (SELECT FROM sqsn.queue s"
	"  WHERE s.dead_letter_queue_id = q.queue_id)"
	" OR EXISTS (SELECT FROM sqsn.subscription s"
	"  WHERE s.dead_letter_queue_id = q.queue_id),"
	" pg_catalog.pg_total_relation_size(c.oid),"
	" pg_catalog.pg_stat_get_dead_tuples(c.oid),"
	" pg_catalog.pg_stat_get_live_tuples(c.oid),"
	" lw.hard_after"
	" FROM sqsn.queue_metrics m"
	" JOIN sqsn.queue q ON q.queue_name = m.queue_name"
	" LEFT JOIN sqsn.queue d ON d.queue_id = q.dead_letter_queue_id"
	" JOIN pg_catalog.pg_class c ON c.relname = 'q_' || q.queue_id"
	"  AND c.relnamespace = 'sqsn'::regnamespace"
	" LEFT JOIN sqsn.queue_low_water lw ON lw.queue_name = q.queue_name"
	" ORDER BY 1";

/* Columns of the subscription query */
enum
{
	SC_ID = 1,
	SC_TOPIC,
	SC_PROTOCOL,
	SC_CONFIRMED,
	SC_PAUSED,
	SC_PENDING,
	SC_OLDEST_PENDING,
	SC_DELIVERED,
	SC_FAILED,
	SC_DEAD_LETTERED,
};

static const char *const subscription_sql =
	"SELECT st.subscription_id, st.topic_name, st.protocol, st.confirmed,"
	" COALESCE((to_jsonb(s)->>'paused')::boolean, false),"
	" st.pending, extract(epoch FROM st.oldest_pending_age)::float8,"
	" st.delivered, st.failed, st.dead_lettered"
	" FROM sqsn.subscription_stats st"
	" JOIN sqsn.subscription s USING (subscription_id)"
	" WHERE st.protocol <> 'sqs'"
	" ORDER BY st.topic_name, st.subscription_id";

static const char *const mapping_sql =
	"SELECT m.mapping_id, q.queue_name, m.function_name,"
	" CASE WHEN NOT m.enabled THEN 'disabled'"
	"  WHEN m.paused_reason IS NOT NULL THEN 'paused' ELSE 'enabled' END"
	" FROM sqsn.event_source_mapping m"
	" JOIN sqsn.queue q ON q.queue_id = m.queue_id"
	" ORDER BY q.queue_name, m.function_name";

/* The token setting; called from ApiPagesInit. */
void
ApiPrometheusInit(void)
{
	DefineCustomStringVariable(
		"sqsn.metrics_token", "Bearer token a client of /metrics must send.",
		"Empty: /metrics answers only clients on a loopback address.",
		&sqsn_metrics_token, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL,
		NULL);
}

/* A label value, escaped as the text format asks. */
static void
append_label_value(StringInfo buf, const char *value)
{
	for (const char *p = value ? value : ""; *p; p++)
	{
		if (*p == '\\')
			appendStringInfoString(buf, "\\\\");
		else if (*p == '"')
			appendStringInfoString(buf, "\\\"");
		else if (*p == '\n')
			appendStringInfoString(buf, "\\n");
		else
			appendStringInfoChar(buf, *p);
	}
}

/* # HELP and # TYPE of a metric family */
static void
family(StringInfo buf, const char *name, const char *type, const char *help)
{
	appendStringInfo(buf, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
					 type);
}

/*
 * One sample: name{labels} value, with labels given as name, value pairs
 * ending in NULL.
 */
static void
sample_labels(StringInfo buf, const char *name, double value,
			  const char *const *labels)
{
	bool first = true;

	appendStringInfoString(buf, name);
	for (int i = 0; labels[i] != NULL; i += 2)
	{
		appendStringInfoString(buf, first ? "{" : ",");
		appendStringInfo(buf, "%s=\"", labels[i]);
		append_label_value(buf, labels[i + 1]);
		appendStringInfoChar(buf, '"');
		first = false;
	}
	if (!first)
		appendStringInfoChar(buf, '}');
	if (value == (double) (int64) value)
		appendStringInfo(buf, " " INT64_FORMAT "\n", (int64) value);
	else
		appendStringInfo(buf, " %.6f\n", value);
}

#define MAX_LABELS 8

static void
sample(StringInfo buf, const char *name, double value, ...)
{
	va_list     ap;
	const char *labels[2 * MAX_LABELS + 1];
	int         n = 0;

	va_start(ap, value);
	while ((labels[n] = va_arg(ap, const char *)) != NULL)
	{
		if (n == 2 * MAX_LABELS)
			elog(ERROR, "too many labels for %s", name);
		labels[n + 1] = va_arg(ap, const char *);
		n += 2;
	}
	va_end(ap);
	sample_labels(buf, name, value, labels);
}

/*
 * The samples of a histogram kept as counters (common/counters.c): its
 * SQSN_DURATION_BUCKETS bucket counts, cumulated, its sum and its count,
 * with the labels (pairs, then NULL; MAX_LABELS - 1 pairs at most).
 */
static void
histogram(StringInfo buf, const char *name, const uint64 *buckets,
		  uint64 sum_us, const char *const *labels)
{
	const char *with_le[2 * MAX_LABELS + 1];
	char        metric[NAMEDATALEN];
	int         n = 0;
	uint64      total = 0;

	while (labels[n] != NULL && n < 2 * (MAX_LABELS - 1))
	{
		with_le[n] = labels[n];
		with_le[n + 1] = labels[n + 1];
		n += 2;
	}
	with_le[n] = "le";
	with_le[n + 2] = NULL;
	snprintf(metric, sizeof(metric), "%s_bucket", name);
	for (int b = 0; b < SQSN_DURATION_BUCKETS; b++)
	{
		char le[32];

		total += buckets[b];
		if (sqsn_duration_buckets[b] < 0)
			strlcpy(le, "+Inf", sizeof(le));
		else
			snprintf(le, sizeof(le), "%g", sqsn_duration_buckets[b]);
		with_le[n + 1] = le;
		sample_labels(buf, metric, total, with_le);
	}
	snprintf(metric, sizeof(metric), "%s_sum", name);
	sample_labels(buf, metric, sum_us / 1e6, labels);
	snprintf(metric, sizeof(metric), "%s_count", name);
	sample_labels(buf, metric, total, labels);
}

static double
column_double(HeapTuple tuple, TupleDesc desc, int column, bool *isnull)
{
	char *v = SPI_getvalue(tuple, desc, column);

	*isnull = (v == NULL);
	return v ? strtod(v, NULL) : 0.0;
}

/* One gauge or counter family over the rows of the queue query. */
static void
queue_family(StringInfo buf, SPITupleTable *rows, uint64 n, const char *name,
			 const char *type, const char *help, int column)
{
	bool any = false;

	for (uint64 i = 0; i < n; i++)
	{
		bool   isnull;
		double v =
			column_double(rows->vals[i], rows->tupdesc, column, &isnull);

		if (isnull)
			continue;
		if (!any)
			family(buf, name, type, help);
		any = true;
		sample(buf, name, v, "queue",
			   SPI_getvalue(rows->vals[i], rows->tupdesc, QC_NAME), NULL);
	}
}

static void
emit_queues(StringInfo buf)
{
	static const struct
	{
		const char *name;
		const char *type;
		const char *help;
		int         column;
	} families[] = {
		{"sqsn_queue_messages_visible", "gauge",
		 "Messages available for retrieval "
		 "(ApproximateNumberOfMessagesVisible; approximate for large queues).",
		 QC_VISIBLE},
		{"sqsn_queue_messages_not_visible", "gauge",
		 "Messages in flight: received, not deleted, lease not over "
		 "(ApproximateNumberOfMessagesNotVisible).",
		 QC_NOT_VISIBLE},
		{"sqsn_queue_messages_delayed", "gauge",
		 "Messages delayed and not yet available "
		 "(ApproximateNumberOfMessagesDelayed).",
		 QC_DELAYED},
		{"sqsn_queue_oldest_message_age_seconds", "gauge",
		 "Age of the oldest message in the queue "
		 "(ApproximateAgeOfOldestMessage).",
		 QC_AGE},
		{"sqsn_queue_messages_sent_total", "counter",
		 "Messages sent to the queue, fan-out included "
		 "(NumberOfMessagesSent).",
		 QC_SENT + QMETRIC_SENT},
		{"sqsn_queue_messages_received_total", "counter",
		 "Messages returned by receives (NumberOfMessagesReceived).",
		 QC_SENT + QMETRIC_RECEIVED},
		{"sqsn_queue_messages_deleted_total", "counter",
		 "Messages deleted with a current receipt handle "
		 "(NumberOfMessagesDeleted).",
		 QC_SENT + QMETRIC_DELETED},
		{"sqsn_queue_empty_receives_total", "counter",
		 "Receives that returned no message (NumberOfEmptyReceives).",
		 QC_SENT + QMETRIC_EMPTY_RECEIVES},
		{"sqsn_queue_sent_bytes_total", "counter",
		 "Bytes of body and attributes of the messages sent "
		 "(SentMessageSize, summed).",
		 QC_SENT + QMETRIC_SENT_BYTES},
		{"sqsn_queue_messages_dead_lettered_total", "counter",
		 "Messages moved to the queue's dead-letter queue after too many "
		 "receives.",
		 QC_SENT + QMETRIC_DEAD_LETTERED},
		{"sqsn_queue_messages_redriven_total", "counter",
		 "Messages moved out of this dead-letter queue by a redrive.",
		 QC_SENT + QMETRIC_REDRIVEN},
		{"sqsn_queue_groups_in_flight", "gauge",
		 "FIFO message groups with a message in flight "
		 "(ApproximateNumberOfGroupsWithInflightMessages).",
		 QC_GROUPS},
		{"sqsn_queue_table_size_bytes", "gauge",
		 "Size of the queue's message table with its index and TOAST.",
		 QC_SIZE},
		{"sqsn_queue_table_dead_tuples", "gauge",
		 "Dead tuples in the queue's message table, per the statistics "
		 "collector.",
		 QC_DEAD_TUPLES},
		{"sqsn_queue_table_live_tuples", "gauge",
		 "Live tuples in the queue's message table, per the statistics "
		 "collector.",
		 QC_LIVE_TUPLES},
		{"sqsn_queue_low_water_mark", "gauge",
		 "The msg_seq up to which every row of the queue is deleted (where "
		 "receives start their walk).",
		 QC_HARD_AFTER},
	};
	SPITupleTable *rows;
	uint64         n;

	sqsn_spi_check(SPI_execute(queue_sql, true, 0), SPI_OK_SELECT,
				   "reading the queue metrics");
	rows = SPI_tuptable;
	n = SPI_processed;

	for (int f = 0; f < lengthof(families); f++)
		queue_family(buf, rows, n, families[f].name, families[f].type,
					 families[f].help, families[f].column);

	family(buf, "sqsn_queue_info", "gauge",
		   "One per queue: its kind and its dead-letter queue (empty: none); "
		   "is_dead_letter_queue says whether a queue or subscription uses it "
		   "as one.");
	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple   t = rows->vals[i];
		const char *dlq = SPI_getvalue(t, rows->tupdesc, QC_DLQ);
		const char *is_dlq = SPI_getvalue(t, rows->tupdesc, QC_IS_DLQ);

		sample(buf, "sqsn_queue_info", 1, "queue",
			   SPI_getvalue(t, rows->tupdesc, QC_NAME), "kind",
			   SPI_getvalue(t, rows->tupdesc, QC_KIND), "dead_letter_queue",
			   dlq ? dlq : "", "is_dead_letter_queue",
			   is_dlq && is_dlq[0] == 't' ? "true" : "false", NULL);
	}
}

static void
emit_subscriptions(StringInfo buf)
{
	SPITupleTable *rows;
	uint64         n;
	uint64        *counts;
	bool          *have;

	sqsn_spi_check(SPI_execute(subscription_sql, true, 0), SPI_OK_SELECT,
				   "reading the subscription metrics");
	rows = SPI_tuptable;
	n = SPI_processed;
	counts = palloc0(sizeof(uint64) * PMETRIC_COUNT * (n + 1));
	have = palloc0(sizeof(bool) * (n + 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool  isnull;
		Datum id = SPI_getbinval(rows->vals[i], rows->tupdesc, SC_ID, &isnull);

		have[i] = sqsn_delivery_metrics_read(DatumGetUUIDP(id),
											 &counts[i * PMETRIC_COUNT]);
	}

#define SUB_LABELS(i)                                                         \
	"subscription", SPI_getvalue(rows->vals[i], rows->tupdesc, SC_ID),        \
		"topic", SPI_getvalue(rows->vals[i], rows->tupdesc, SC_TOPIC)

	family(buf, "sqsn_subscription_info", "gauge",
		   "One per HTTP/HTTPS subscription, with its protocol; confirmed and "
		   "paused as 0 or 1 in their own metrics.");
	for (uint64 i = 0; i < n; i++)
		sample(buf, "sqsn_subscription_info", 1, SUB_LABELS(i), "protocol",
			   SPI_getvalue(rows->vals[i], rows->tupdesc, SC_PROTOCOL), NULL);
	family(buf, "sqsn_subscription_confirmed", "gauge",
		   "1 when the subscription is confirmed.");
	for (uint64 i = 0; i < n; i++)
		sample(buf, "sqsn_subscription_confirmed",
			   SPI_getvalue(rows->vals[i], rows->tupdesc, SC_CONFIRMED)[0] ==
				   't',
			   SUB_LABELS(i), NULL);
	family(buf, "sqsn_subscription_paused", "gauge",
		   "1 when the subscription's deliveries are paused.");
	for (uint64 i = 0; i < n; i++)
		sample(buf, "sqsn_subscription_paused",
			   SPI_getvalue(rows->vals[i], rows->tupdesc, SC_PAUSED)[0] == 't',
			   SUB_LABELS(i), NULL);
	family(buf, "sqsn_subscription_pending_deliveries", "gauge",
		   "Deliveries waiting in the push outbox (the backlog).");
	for (uint64 i = 0; i < n; i++)
	{
		bool isnull;

		sample(
			buf, "sqsn_subscription_pending_deliveries",
			column_double(rows->vals[i], rows->tupdesc, SC_PENDING, &isnull),
			SUB_LABELS(i), NULL);
	}
	family(buf, "sqsn_subscription_oldest_pending_age_seconds", "gauge",
		   "Age of the oldest delivery waiting in the push outbox (0: none).");
	for (uint64 i = 0; i < n; i++)
	{
		bool isnull;

		sample(buf, "sqsn_subscription_oldest_pending_age_seconds",
			   column_double(rows->vals[i], rows->tupdesc, SC_OLDEST_PENDING,
							 &isnull),
			   SUB_LABELS(i), NULL);
	}
	family(buf, "sqsn_subscription_deliveries_finished_total", "counter",
		   "Deliveries finished, by outcome, as kept in "
		   "sqsn.subscription_counter (survives restarts).");
	for (uint64 i = 0; i < n; i++)
	{
		static const struct
		{
			const char *outcome;
			int         column;
		} outcomes[] = {{"delivered", SC_DELIVERED},
						{"failed", SC_FAILED},
						{"dead_lettered", SC_DEAD_LETTERED}};

		for (int o = 0; o < lengthof(outcomes); o++)
		{
			bool isnull;

			sample(buf, "sqsn_subscription_deliveries_finished_total",
				   column_double(rows->vals[i], rows->tupdesc,
								 outcomes[o].column, &isnull),
				   SUB_LABELS(i), "outcome", outcomes[o].outcome, NULL);
		}
	}
	family(buf, "sqsn_subscription_posts_total", "counter",
		   "POSTs made since the server started, by result.");
	for (uint64 i = 0; i < n; i++)
	{
		uint64 *c = &counts[i * PMETRIC_COUNT];

		sample(buf, "sqsn_subscription_posts_total", c[PMETRIC_DELIVERED],
			   SUB_LABELS(i), "result", "success", NULL);
		sample(buf, "sqsn_subscription_posts_total",
			   c[PMETRIC_FAILED_ATTEMPTS], SUB_LABELS(i), "result", "failure",
			   NULL);
	}
	family(buf, "sqsn_subscription_retries_total", "counter",
		   "POSTs that retried a delivery, since the server started.");
	for (uint64 i = 0; i < n; i++)
		sample(buf, "sqsn_subscription_retries_total",
			   counts[i * PMETRIC_COUNT + PMETRIC_RETRIES], SUB_LABELS(i),
			   NULL);
	family(buf, "sqsn_subscription_deliveries_given_up_total", "counter",
		   "Deliveries whose retries ran out since the server started, by "
		   "what became of them.");
	for (uint64 i = 0; i < n; i++)
	{
		sample(buf, "sqsn_subscription_deliveries_given_up_total",
			   counts[i * PMETRIC_COUNT + PMETRIC_DEAD_LETTERED],
			   SUB_LABELS(i), "outcome", "dead_lettered", NULL);
		sample(buf, "sqsn_subscription_deliveries_given_up_total",
			   counts[i * PMETRIC_COUNT + PMETRIC_DROPPED], SUB_LABELS(i),
			   "outcome", "dropped", NULL);
	}
	family(buf, "sqsn_subscription_post_duration_seconds", "histogram",
		   "Time a POST took, connecting included, since the server started.");
	for (uint64 i = 0; i < n; i++)
	{
		const char *labels[] = {SUB_LABELS(i), NULL};

		histogram(buf, "sqsn_subscription_post_duration_seconds",
				  &counts[i * PMETRIC_COUNT + PMETRIC_LATENCY_BUCKET],
				  counts[i * PMETRIC_COUNT + PMETRIC_LATENCY_SUM_US], labels);
	}
#undef SUB_LABELS

	/* the outbox as a whole */
	sqsn_spi_check(
		SPI_execute("SELECT count(*), COALESCE(extract(epoch FROM now() -"
					" min(published_at)), 0)::float8"
					" FROM sqsn.delivery WHERE status = 'pending'",
					true, 0),
		SPI_OK_SELECT, "reading the push outbox");
	{
		bool isnull;

		family(buf, "sqsn_push_outbox_pending", "gauge",
			   "Deliveries waiting in the push outbox, confirmations "
			   "included.");
		sample(buf, "sqsn_push_outbox_pending",
			   column_double(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							 &isnull),
			   NULL);
		family(buf, "sqsn_push_outbox_oldest_pending_age_seconds", "gauge",
			   "Age of the oldest delivery waiting in the push outbox.");
		sample(buf, "sqsn_push_outbox_oldest_pending_age_seconds",
			   column_double(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
							 &isnull),
			   NULL);
	}
}

/* The counter families of event source mappings, one sample per row each. */
static const struct
{
	const char *name;
	const char *help; /* NULL: a second sample of the family above */
	int         counter;
	const char *label; /* and its value, or NULL */
	const char *value;
} mapping_families[] = {
	{"sqsn_function_invocations_total",
	 "Invocations of the mapping's function since the server started.",
	 FMETRIC_INVOCATIONS, NULL, NULL},
	{"sqsn_function_errors_total",
	 "Invocations that failed (raised an error) or timed out, since the "
	 "server started.",
	 FMETRIC_FAILED, "error", "failed"},
	{"sqsn_function_errors_total", NULL, FMETRIC_TIMED_OUT, "error",
	 "timed_out"},
	{"sqsn_function_partial_failures_total",
	 "Invocations that reported some of their messages failed, since the "
	 "server started.",
	 FMETRIC_PARTIALLY_FAILED, NULL, NULL},
	{"sqsn_function_messages_total",
	 "Messages passed to the mapping's function since the server started.",
	 FMETRIC_MESSAGES, NULL, NULL},
};

/* Event source mappings: their state, and their counters since the start. */
static void
emit_mappings(StringInfo buf)
{
	SPITupleTable *rows;
	uint64         n;
	uint64        *counts;
	const char  ***labels;

	sqsn_spi_check(SPI_execute(mapping_sql, true, 0), SPI_OK_SELECT,
				   "reading the event source mappings");
	rows = SPI_tuptable;
	n = SPI_processed;
	counts = palloc0(sizeof(uint64) * FMETRIC_COUNT * (n + 1));
	labels = palloc0(sizeof(const char **) * (n + 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool           isnull;
		Datum          id = SPI_getbinval(rows->vals[i], rows->tupdesc, 1,
										  &isnull);
		SqsnCounterKey key = sqsn_mapping_key(DatumGetUUIDP(id));

		(void) sqsn_counters_read(&sqsn_mapping_counters, &key,
								  &counts[i * FMETRIC_COUNT]);
		/* mapping, queue, function, then room for one more pair */
		labels[i] = palloc0(sizeof(const char *) * 9);
		labels[i][0] = "mapping";
		labels[i][1] = SPI_getvalue(rows->vals[i], rows->tupdesc, 1);
		labels[i][2] = "queue";
		labels[i][3] = SPI_getvalue(rows->vals[i], rows->tupdesc, 2);
		labels[i][4] = "function";
		labels[i][5] = SPI_getvalue(rows->vals[i], rows->tupdesc, 3);
	}

	family(buf, "sqsn_function_mapping_info", "gauge",
		   "One per event source mapping, with its state (enabled, paused or "
		   "disabled).");
	for (uint64 i = 0; i < n; i++)
	{
		labels[i][6] = "state";
		labels[i][7] = SPI_getvalue(rows->vals[i], rows->tupdesc, 4);
		sample_labels(buf, "sqsn_function_mapping_info", 1, labels[i]);
	}
	for (int f = 0; f < lengthof(mapping_families); f++)
	{
		if (mapping_families[f].help != NULL)
			family(buf, mapping_families[f].name, "counter",
				   mapping_families[f].help);
		for (uint64 i = 0; i < n; i++)
		{
			labels[i][6] = mapping_families[f].label;
			labels[i][7] = mapping_families[f].value;
			sample_labels(
				buf, mapping_families[f].name,
				counts[i * FMETRIC_COUNT + mapping_families[f].counter],
				labels[i]);
		}
	}
	family(buf, "sqsn_function_duration_seconds", "histogram",
		   "Time an invocation took, since the server started.");
	for (uint64 i = 0; i < n; i++)
	{
		labels[i][6] = NULL;
		histogram(buf, "sqsn_function_duration_seconds",
				  &counts[i * FMETRIC_COUNT + FMETRIC_DURATION_BUCKET],
				  counts[i * FMETRIC_COUNT + FMETRIC_DURATION_SUM_US],
				  labels[i]);
	}
}

/* Workers and what holds the xmin horizon: facts of the server. */
static void
emit_server(StringInfo buf, bool installed)
{
	static const char *const workers[][2] = {
		{"maintenance", "sqsn worker"},
		{"delivery", "sqsn delivery worker"},
		{"endpoint", "sqsn api"}};
	bool isnull;

	family(buf, "sqsn_workers", "gauge",
		   "sqsn background processes running, by kind.");
	for (int w = 0; w < lengthof(workers); w++)
	{
		Oid   type = TEXTOID;
		Datum arg = CStringGetTextDatum(workers[w][1]);

		sqsn_spi_check(SPI_execute_with_args(
						   "SELECT count(*) FROM pg_catalog.pg_stat_activity"
						   " WHERE backend_type = $1",
						   1, &type, &arg, NULL, true, 0),
					   SPI_OK_SELECT, "reading pg_stat_activity");
		sample(buf, "sqsn_workers",
			   column_double(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
							 &isnull),
			   "worker", workers[w][0], NULL);
	}

	if (installed)
	{
		sqsn_spi_check(
			SPI_execute("SELECT extract(epoch FROM now() - last_sweep_at)"
						"::float8 FROM sqsn.worker_status"
						" WHERE last_sweep_at IS NOT NULL",
						true, 0),
			SPI_OK_SELECT, "reading sqsn.worker_status");
		if (SPI_processed > 0)
		{
			family(buf, "sqsn_maintenance_last_sweep_age_seconds", "gauge",
				   "Time since the maintenance worker last swept the queues.");
			sample(buf, "sqsn_maintenance_last_sweep_age_seconds",
				   column_double(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
								 1, &isnull),
				   NULL);
		}
	}

	sqsn_spi_check(
		SPI_execute(
			"SELECT"
			" COALESCE((SELECT max(extract(epoch FROM now() - xact_start))"
			"  FROM pg_catalog.pg_stat_activity"
			"  WHERE backend_xmin IS NOT NULL), 0)::float8,"
			" COALESCE((SELECT max(extract(epoch FROM now() - prepared))"
			"  FROM pg_catalog.pg_prepared_xacts), 0)::float8,"
			" COALESCE((SELECT max(pg_catalog.age(backend_xmin))"
			"  FROM pg_catalog.pg_stat_activity), 0),"
			" COALESCE((SELECT max(pg_catalog.age(transaction))"
			"  FROM pg_catalog.pg_prepared_xacts), 0),"
			" COALESCE((SELECT max(greatest(pg_catalog.age(xmin),"
			"  pg_catalog.age(catalog_xmin)))"
			"  FROM pg_catalog.pg_replication_slots), 0)",
			true, 0),
		SPI_OK_SELECT, "reading the xmin horizon");
	{
		HeapTuple t = SPI_tuptable->vals[0];
		TupleDesc d = SPI_tuptable->tupdesc;

		family(buf, "sqsn_xmin_horizon_age_seconds", "gauge",
			   "Age of the oldest transaction holding a snapshot, by kind: "
			   "while it runs, rows deleted from queues cannot be vacuumed.");
		sample(buf, "sqsn_xmin_horizon_age_seconds",
			   column_double(t, d, 1, &isnull), "holder", "transaction", NULL);
		sample(buf, "sqsn_xmin_horizon_age_seconds",
			   column_double(t, d, 2, &isnull), "holder",
			   "prepared_transaction", NULL);
		family(buf, "sqsn_xmin_horizon_age_xids", "gauge",
			   "Transactions since the oldest xmin each kind of holder keeps "
			   "(replication slots included).");
		sample(buf, "sqsn_xmin_horizon_age_xids",
			   column_double(t, d, 3, &isnull), "holder", "transaction", NULL);
		sample(buf, "sqsn_xmin_horizon_age_xids",
			   column_double(t, d, 4, &isnull), "holder",
			   "prepared_transaction", NULL);
		sample(buf, "sqsn_xmin_horizon_age_xids",
			   column_double(t, d, 5, &isnull), "holder", "replication_slot",
			   NULL);
	}
}

/* How full the counter tables in shared memory are. */
static void
emit_tables(StringInfo buf)
{
	int               used[3];
	int               nslots[3];
	uint64            overflow[3];
	bool              have[3];
	const char *const names[3] = {"queues", "subscriptions", "mappings"};

	have[0] =
		sqsn_metrics_queue_table_usage(&used[0], &nslots[0], &overflow[0]);
	have[1] = sqsn_delivery_metrics_usage(&used[1], &nslots[1], &overflow[1]);
	have[2] = sqsn_counters_usage(&sqsn_mapping_counters, &used[2], &nslots[2],
								  &overflow[2]);
	if (!have[0] && !have[1] && !have[2])
		return;
	family(buf, "sqsn_metrics_slots_used", "gauge",
		   "Slots of the counter tables in shared memory in use.");
	for (int i = 0; i < lengthof(names); i++)
		if (have[i])
			sample(buf, "sqsn_metrics_slots_used", used[i], "table", names[i],
				   NULL);
	family(buf, "sqsn_metrics_slots", "gauge",
		   "Slots of the counter tables in shared memory "
		   "(sqsn.metrics_queues, sqsn.metrics_subscriptions, "
		   "sqsn.metrics_mappings).");
	for (int i = 0; i < lengthof(names); i++)
		if (have[i])
			sample(buf, "sqsn_metrics_slots", nslots[i], "table", names[i],
				   NULL);
	family(buf, "sqsn_metrics_overflow_total", "counter",
		   "Increments dropped because a counter table was full.");
	for (int i = 0; i < lengthof(names); i++)
		if (have[i])
			sample(buf, "sqsn_metrics_overflow_total", (double) overflow[i],
				   "table", names[i], NULL);
}

/* Whether the request may read /metrics; answers it when not. */
static bool
allowed(ApiPageRequest *req, ApiPageResponse *resp)
{
	const char *auth;
	size_t      len;

	if (sqsn_metrics_token == NULL || sqsn_metrics_token[0] == '\0')
	{
		if (req->loopback_client)
			return true;
		api_page_text(resp, 403, "text/plain; charset=utf-8",
					  "/metrics is served to loopback clients only; set "
					  "sqsn.metrics_token to open it to others\n");
		return false;
	}
	auth = api_page_header(req, "authorization");
	len = strlen(sqsn_metrics_token);
	if (auth != NULL && pg_strncasecmp(auth, "Bearer ", 7) == 0 &&
		strlen(auth + 7) == len &&
		CRYPTO_memcmp(auth + 7, sqsn_metrics_token, len) == 0)
		return true;
	api_page_text(resp, 401, "text/plain; charset=utf-8",
				  "a bearer token is required\n");
	api_page_add_header(resp, "WWW-Authenticate", "Bearer realm=\"sqsn\"");
	return false;
}

/*
 * GET /metrics. Runs in the page's transaction (pages.c), with SPI.
 */
void
api_prometheus(ApiPageRequest *req, ApiPageResponse *resp)
{
	TimestampTz    start = GetCurrentTimestamp();
	StringInfoData buf;
	bool           installed;

	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
	{
		api_page_text(resp, 405, "text/plain; charset=utf-8",
					  "only GET is allowed\n");
		api_page_add_header(resp, "Allow", "GET");
		return;
	}
	if (!allowed(req, resp))
		return;

	initStringInfo(&buf);
	installed = OidIsValid(get_extension_oid("sqsn", true));
	family(&buf, "sqsn_up", "gauge",
		   "1 when sqsn is installed in the endpoint's database.");
	sample(&buf, "sqsn_up", installed ? 1 : 0, NULL);
	if (installed)
	{
		emit_queues(&buf);
		emit_subscriptions(&buf);
		emit_mappings(&buf);
	}
	emit_server(&buf, installed);
	emit_tables(&buf);
	family(&buf, "sqsn_scrape_duration_seconds", "gauge",
		   "Time this scrape took to compute.");
	sample(&buf, "sqsn_scrape_duration_seconds",
		   (GetCurrentTimestamp() - start) / 1e6, NULL);

	resp->status = 200;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	resp->body = makeStringInfo();
	appendBinaryStringInfo(resp->body, buf.data, buf.len);
}
