/*-------------------------------------------------------------------------
 *
 * common.h
 *	  What every subsystem of sqsn uses: argument readers of the
 *	  SQL-callable functions, SPI helpers, the JSON writer and jsonb
 *	  readers, hex/percent encoding, UUIDs and timestamps, the transaction
 *	  brackets of the background workers, and the settings read by more
 *	  than one subsystem with the names (ARNs, URLs) built from them.
 *
 *	  args.c      argument readers (batch arrays included), name
 *	              validation, set-returning results
 *	  spi.c       sqsn_spi_connect, statements on sqsn's tables run with
 *	              saved plans (SqsnStatement), typed column reads,
 *	              search_path pinning, the catalog-version probe
 *	  json.c      the JSON writers (text and jsonb), the jsonb readers,
 *	              the error of an invalid policy document
 *	  encode.c    hex, percent-encoding, UUIDs, timestamps
 *	  xact.c      the workers' transaction bracket and subtransactions;
 *	              the refusal of writes on a standby
 *	  shmem.c     shared-memory areas and background worker registration
 *	  counters.c  tables of counters in shared memory (queue, subscription
 *	              and mapping metrics), duration histograms in them
 *	  settings.c  sqsn.database_name, poll_interval, retention_batch_size,
 *	              the endpoint's address, TLS files, region and account;
 *	              ARNs and URLs; reading a file whole
 *	  tags.c      tags of queues and topics: their limits, adding,
 *	              removing and reading them
 *
 *-------------------------------------------------------------------------
 */
#ifndef SQSN_COMMON_H
#define SQSN_COMMON_H

#include "sqsn.h"
#include "common/compat.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "port/atomics.h"
#include "storage/lockdefs.h"
#include "storage/lwlock.h"
#include "utils/array.h"
#include "utils/elog.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/*
 * Whether argument n was given and is not NULL. Arguments added in a later
 * version are absent while the SQL definitions are still those of an
 * older version (between installing a new library and ALTER EXTENSION
 * UPDATE), so the C functions read them through this.
 */
#define SQSN_ARG_GIVEN(n) (PG_NARGS() > (n) && !PG_ARGISNULL(n))

/* args.c */

/*
 * The array arguments of a batch call (sq_send_batch, sn_publish_batch),
 * one element per text; an optional array not given is NULL.
 */
typedef struct SqsnBatch
{
	int         n;
	const char *singular; /* one text in messages: "message body" */
	const char *plural;   /* "bodies" */
	Datum      *texts;
	bool       *text_nulls;
	Datum      *attributes;
	bool       *attribute_nulls;
	Datum      *group_ids;
	bool       *group_id_nulls;
	Datum      *deduplication_ids;
	bool       *deduplication_id_nulls;
} SqsnBatch;

pg_noreturn extern void sqsn_exists_differently(const char *kind,
												const char *name,
												const char *detail);

extern void sqsn_validate_name(const char *kind, const char *name, int max_len,
							   const char *fifo_hint);
extern bool sqsn_is_fifo_name(const char *name);
extern char  *sqsn_text_arg(FunctionCallInfo fcinfo, int argno,
							const char *argname);
extern int32  sqsn_int_arg(FunctionCallInfo fcinfo, int argno,
						   const char *argname, int32 min, int32 max,
						   int32 default_value);
extern Jsonb *sqsn_attributes_arg(FunctionCallInfo fcinfo, int argno,
								  const char *kind);
extern int    sqsn_array_arg(FunctionCallInfo fcinfo, int argno,
							 const char *argname, Oid elemtype, Datum **elems,
							 bool **nulls);
extern void   sqsn_batch_args(FunctionCallInfo fcinfo, const char *argname,
							  const char *singular, const char *plural,
							  SqsnBatch *batch);
extern void   sqsn_batch_fifo_args(FunctionCallInfo fcinfo, int argno,
								   SqsnBatch *batch);
extern Jsonb *sqsn_batch_attributes(SqsnBatch *batch, int i);
extern char  *sqsn_batch_group_id(SqsnBatch *batch, int i);
extern char  *sqsn_batch_deduplication_id(SqsnBatch *batch, int i);
extern void   sqsn_begin_result(FunctionCallInfo fcinfo);
extern void   sqsn_return_rows(FunctionCallInfo fcinfo, const char *sql,
							   Datum arg, bool arg_null, const char *what);
extern Datum  sqsn_return_names(FunctionCallInfo fcinfo, const char *sql,
								const char *what);

/* spi.c */

/*
 * Parts of the catalog that arrived after 0.1. A library may run with the
 * SQL objects of an older version until ALTER EXTENSION sqsn UPDATE, and
 * works as that version did until then.
 */
typedef enum SqsnCatalogFeature
{
	SQSN_CATALOG_FIFO,        /* 0.2: FIFO queue settings */
	SQSN_CATALOG_PUSH,        /* 0.2: the push outbox */
	SQSN_CATALOG_GRANTS,      /* 0.3: access policies */
	SQSN_CATALOG_ENCRYPTION,  /* 0.3: encrypted queues and topics */
	SQSN_CATALOG_MESSAGE_SEQ, /* 0.5: one msg_seq sequence for all queues */
	SQSN_CATALOG_FUNCTIONS,   /* 0.5: function consumers */
	SQSN_CATALOG_PAUSE,       /* 0.5: paused push subscriptions */
	SQSN_CATALOG_SMS,         /* 0.5: sms subscriptions, the opt-out list */
	SQSN_CATALOG_MOBILE,      /* 0.5: platform applications and endpoints */
	SQSN_CATALOG_MOVE_TASKS,  /* 0.5: message move tasks */
	SQSN_CATALOG_SESSION_TOKENS, /* 0.5: temporary endpoint credentials */
	SQSN_CATALOG_STORED_ATTRIBUTES, /* 0.5: Policy, RedriveAllowPolicy, ... */
	SQSN_CATALOG_DIRECT_SMS,  /* 0.5: SMS published to a phone number */
	SQSN_CATALOG_POLICY_GRANTS, /* 0.5: grants made from a Policy */
	SQSN_CATALOG_TOPIC_SEQ,   /* 0.5: sequence numbers of FIFO topics */
	SQSN_CATALOG_ARCHIVE,     /* 0.5: the archive of FIFO topics */
} SqsnCatalogFeature;

/*
 * A statement on sqsn's own tables, declared once at the top of the file
 * that runs it and run by sqsn_execute with a saved plan prepared on first
 * use. (Statements on a queue's message table are SqsnQueueStatements,
 * queue/queue.h.)
 */
#define SQSN_MAX_STATEMENT_ARGS 10
typedef struct SqsnStatement
{
	const char *sql;
	int         nargs;
	Oid         argtypes[SQSN_MAX_STATEMENT_ARGS];
	int         expected;  /* the SPI result of success */
	const char *what;      /* "reading sqsn.topic": "<what> failed: ..." */
	bool        read_only; /* SPI_execute_plan's read_only */
	SPIPlanPtr  plan;      /* saved on first use */
} SqsnStatement;

extern void       sqsn_spi_connect(void);
extern void       sqsn_spi_check(int ret, int expected, const char *what);
extern SPIPlanPtr sqsn_prepare_plan(const char *sql, int nargs, Oid *argtypes);
extern SPIPlanPtr sqsn_prepare_plan_with(const char *sql, int nargs,
										 Oid *argtypes, int cursor_options);
extern int        sqsn_run_statement(SqsnStatement *stmt, Datum *values,
									 const char *nulls, long count);
extern uint64     sqsn_execute(SqsnStatement *stmt, Datum *values,
							   const char *nulls, long count);
extern void       sqsn_free_plans(SPIPlanPtr *plans, int n);
extern void       sqsn_free_statements(SqsnStatement *const *stmts, int n);
extern Oid        sqsn_schema_oid(void);
extern bool       sqsn_catalog_has(SqsnCatalogFeature feature);
extern int        sqsn_pin_search_path(void);
extern void       sqsn_unpin_search_path(int nestlevel);
extern int        sqsn_admin_begin(void);
extern void       sqsn_admin_end(int nestlevel);
extern Datum      sqsn_spi_datum(HeapTuple tuple, TupleDesc desc, int column);
extern Jsonb     *sqsn_spi_jsonb(HeapTuple tuple, TupleDesc desc, int column);
extern Datum      sqsn_array_of(Datum *elems, bool *nulls, int n, Oid type);

/* A column of an SPI row by type; NULL reads as 0 (false). */
#define sqsn_spi_int64(tuple, desc, column)                                   \
	DatumGetInt64(sqsn_spi_datum(tuple, desc, column))
#define sqsn_spi_int32(tuple, desc, column)                                   \
	DatumGetInt32(sqsn_spi_datum(tuple, desc, column))
#define sqsn_spi_bool(tuple, desc, column)                                    \
	DatumGetBool(sqsn_spi_datum(tuple, desc, column))
#define sqsn_spi_timestamptz(tuple, desc, column)                             \
	DatumGetTimestampTz(sqsn_spi_datum(tuple, desc, column))

/* json.c */
pg_noreturn extern void
sqsn_invalid_policy(const char *kind, const char *detail, const char *hint);

extern void sqsn_json_key(StringInfo buf, const char *key);
extern void sqsn_json_string(StringInfo buf, const char *key,
							 const char *value);
extern void sqsn_json_raw(StringInfo buf, const char *key, const char *value);
extern void sqsn_json_bool(StringInfo buf, const char *key, bool value);
extern void sqsn_json_jsonb(StringInfo buf, const char *key, Jsonb *value);
extern Jsonb *sqsn_json_to_jsonb(StringInfo buf);
extern void   sqsn_jsonb_push_key(JsonbParseState **state, const char *key);
extern void   sqsn_jsonb_push_string(JsonbParseState **state, const char *key,
									 const char *value);
extern Jsonb *sqsn_json_or_null(const char *s, int len);
extern bool sqsn_jsonb_int(JsonbValue *v, int32 min, int32 max, int32 *result);
extern bool sqsn_jsonb_bool(JsonbValue *v, bool *result);
extern bool sqsn_jsonb_next_pair(JsonbIterator **it, char **key,
								 JsonbValue *v);
extern bool sqsn_jsonb_is_object(JsonbValue *v);
extern bool sqsn_jsonb_is_array(JsonbValue *v);
extern bool sqsn_jsonb_is_empty(JsonbValue *v);
extern char *sqsn_jsonb_string(JsonbValue *v);

/* tags.c */
#define SQSN_MAX_TAGS          50
#define SQSN_MAX_TAG_KEY_LEN   128
#define SQSN_MAX_TAG_VALUE_LEN 256

/*
 * The statements on one resource kind's tag table (tags.c declares them):
 * lock ($1 id: locks the resource's catalog row), add ($1 id, $2 keys
 * text[], $3 values text[]), count ($1 id: one row, the number of tags),
 * remove ($1 id, $2 keys text[]) and list ($1 id: one row, the tags as a
 * jsonb object).
 */
typedef struct SqsnTagStatements
{
	SqsnStatement *lock;
	SqsnStatement *add;
	SqsnStatement *count;
	SqsnStatement *remove;
	SqsnStatement *list;
} SqsnTagStatements;

extern const SqsnTagStatements sqsn_queue_tags; /* sqsn.queue_tag */
extern const SqsnTagStatements sqsn_topic_tags; /* sqsn.topic_tag */

extern Jsonb     *sqsn_tags_arg(FunctionCallInfo fcinfo, int argno);
extern ArrayType *sqsn_tag_keys_arg(FunctionCallInfo fcinfo, int argno);
extern void   sqsn_check_tag_key(const char *key);
extern void   sqsn_tags_add(const SqsnTagStatements *stmts, int64 id,
							Jsonb *tags, const char *kind, const char *name);
extern void   sqsn_tags_remove(const SqsnTagStatements *stmts, int64 id,
							   ArrayType *keys);
extern Datum  sqsn_tags_get(const SqsnTagStatements *stmts, int64 id);

/* encode.c */
extern char       *sqsn_hex(const void *bytes, size_t len);
extern int         sqsn_hex_value(char c);
extern void        sqsn_percent_encode(StringInfo buf, const char *s,
									   bool keep_slash);
extern char       *sqsn_random_hex(int nbytes);
extern pg_uuid_t  *sqsn_new_uuid(void);
extern char       *sqsn_uuid_text(Datum uuid);
extern TimestampTz sqsn_add_seconds(TimestampTz t, int32 seconds);
extern char       *sqsn_iso_timestamp(TimestampTz t);

/* xact.c */
extern void sqsn_xact_begin(const char *activity);
extern void sqsn_xact_commit(void);
extern bool sqsn_subxact_try(void (*step)(void *arg), void *arg,
							 ErrorData **err);
extern bool sqsn_extension_lock(void);
extern bool sqsn_extension_ready(const char *relname, LOCKMODE lockmode);
extern bool sqsn_prepared_transactions_exist(void);
extern void sqsn_refuse_on_standby(FunctionCallInfo fcinfo);

/* shmem.c */
typedef void (*SqsnShmemInit)(void *ptr);
extern void sqsn_shmem_add(const char *name, Size size, Size elem_size,
						   const int *count, SqsnShmemInit init, void **ptr);
extern void sqsn_shmem_add_hash(const char *name, Size keysize, Size entrysize,
								const int *max_entries, int partitions,
								HTAB **table, LWLockPadded **locks);
extern void sqsn_register_worker(const char *function_name, const char *name,
								 const char *type, int restart_seconds,
								 bool on_standby, Datum main_arg);

/* counters.c */

/* What a slot of a counter table is found by; build it with sqsn_counter_key. */
typedef struct SqsnCounterKey
{
	uint32 dbid;
	uint32 zero; /* padding, hashed: always 0 */
	uint64 id1;
	uint64 id2;
} SqsnCounterKey;

typedef struct SqsnCounterShared SqsnCounterShared;
typedef struct SqsnCounterSlot   SqsnCounterSlot;

/* A table of counters in shared memory (counters.c); declare it static. */
typedef struct SqsnCounterTable
{
	const char        *name;       /* of its shared-memory area */
	int                nslots;     /* read when shared memory is sized */
	int                ncounters;  /* per slot */
	Size               extra_size; /* owner's bytes per slot */
	SqsnCounterShared *shared;     /* NULL: not preloaded */
} SqsnCounterTable;

static inline SqsnCounterKey
sqsn_counter_key(Oid dbid, uint64 id1, uint64 id2)
{
	SqsnCounterKey key;

	key.dbid = dbid;
	key.zero = 0;
	key.id1 = id1;
	key.id2 = id2;
	return key;
}

/* The key of an object named by 16 bytes (a uuid) in this database. */
static inline SqsnCounterKey
sqsn_counter_key_bytes(Oid dbid, const unsigned char *bytes)
{
	uint64 a;
	uint64 b;

	memcpy(&a, bytes, 8);
	memcpy(&b, bytes + 8, 8);
	return sqsn_counter_key(dbid, a, b);
}

/*
 * Histograms of durations kept as counters: SQSN_DURATION_BUCKETS counts,
 * one per upper bound of sqsn_duration_buckets (seconds; the last, -1, is
 * +Inf), beside a counter of the microseconds observed.
 */
#define SQSN_DURATION_BUCKETS 12
extern const double sqsn_duration_buckets[SQSN_DURATION_BUCKETS];

extern void              sqsn_counters_define(SqsnCounterTable *table);
extern SqsnCounterSlot  *sqsn_counters_slot(SqsnCounterTable     *table,
											const SqsnCounterKey *key,
											bool                  create);
extern void              sqsn_counters_forget(SqsnCounterTable     *table,
											  const SqsnCounterKey *key);
extern pg_atomic_uint64 *sqsn_counters_values(SqsnCounterSlot *slot);
extern void             *sqsn_counters_extra(SqsnCounterTable *table,
											 SqsnCounterSlot  *slot);
extern void              sqsn_counters_lock(SqsnCounterSlot *slot);
extern void              sqsn_counters_unlock(SqsnCounterSlot *slot);
extern void              sqsn_counters_add(SqsnCounterTable     *table,
										   const SqsnCounterKey *key, int c, uint64 n);
extern bool sqsn_counters_usage(SqsnCounterTable *table, int *used,
								int *nslots, uint64 *overflow);
extern bool sqsn_counters_read(SqsnCounterTable     *table,
							   const SqsnCounterKey *key, uint64 *values);
extern void sqsn_counters_observe(pg_atomic_uint64 *values, int sum_us,
								  int first_bucket, double ms);

/* settings.c */
#define SQSN_API_MAX_ADDRESSES 16 /* in sqsn.api_listen_addresses */

extern char *sqsn_database_name;
extern int   sqsn_poll_interval;
extern int   sqsn_retention_batch_size;
extern int   sqsn_api_port;
extern char *sqsn_api_listen_addresses;
extern char *sqsn_api_tls_cert_file;
extern char *sqsn_api_tls_key_file;

extern void  SettingsInit(void);
extern bool  sqsn_api_tls(void);
extern const char *sqsn_api_scheme(void);
extern char *sqsn_topic_arn(const char *topic_name);
extern char *sqsn_subscription_arn(const char *topic_name,
								   const char *subscription_id);
extern char *sqsn_queue_arn(const char *queue_name);
extern char *sqsn_account_id(void);
extern char *sqsn_endpoint_base_url(void);
extern char *sqsn_queue_url(const char *base_url, const char *queue_name);
extern char *sqsn_arn_name(const char *arn);
extern bool  sqsn_read_file(const char *path, Size limit, StringInfo buf);

#endif /* SQSN_COMMON_H */
