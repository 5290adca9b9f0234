/*-------------------------------------------------------------------------
 *
 * sqsn.h
 *	  Declarations shared by the sqsn modules: queue limits, the per-backend
 *	  queue cache, message attributes and receipt handles.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SQSN_H
#define SQSN_H

#include "postgres.h"

#include <sys/socket.h>

#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "storage/lockdefs.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#define SQSN_SCHEMA "sqsn"

/* Limits of the managed service (see SEMANTICS.md), in seconds or bytes. */
#define SQSN_MAX_QUEUE_NAME         80
#define SQSN_MAX_VISIBILITY_TIMEOUT 43200
#define SQSN_MIN_RETENTION          60
#define SQSN_MAX_RETENTION          1209600
#define SQSN_MAX_DELAY              900
#define SQSN_MIN_MESSAGE_SIZE       1024
#define SQSN_MAX_MESSAGE_SIZE       262144
#define SQSN_MAX_RECEIVE_COUNT      1000
#define SQSN_MAX_ATTRIBUTES         10
#define SQSN_MAX_BATCH              1000
#define SQSN_MAX_WAIT_TIME          20
#define SQSN_DEDUP_WINDOW           300

/*
 * Whether argument n was given and is not NULL. Arguments added in a later
 * version are absent while the SQL definitions are still those of an
 * older version (between installing a new library and ALTER EXTENSION
 * UPDATE), so the C functions read them through this.
 */
#define SQSN_ARG_GIVEN(n) (PG_NARGS() > (n) && !PG_ARGISNULL(n))
#define SQSN_MAX_FIFO_TAG 128

/*
 * Actions of access policies (acl.c). Queues: send; receive (also delete
 * and change visibility); admin (attributes, purge, delete, grants). Topics
 * use the same bits for publish, subscribe and admin.
 */
#define SQSN_SEND       0x01
#define SQSN_RECEIVE    0x02
#define SQSN_ADMIN      0x04
#define SQSN_PUBLISH    0x01
#define SQSN_SUBSCRIBE  0x02
#define SQSN_ANY_ACTION 0x07

/* One grant of a queue, as cached: InvalidOid stands for PUBLIC. */
typedef struct SqsnGrant
{
	Oid grantee;
	int actions;
} SqsnGrant;

/*
 * What a backend remembers about one queue: its attributes, its message
 * table and the saved plans that work on that table. Entries are keyed by
 * name and dropped when a relcache invalidation for the message table
 * arrives (any change of the queue's catalog row sends one), so a backend
 * never acts on attributes another session has changed and committed.
 */
typedef struct SqsnQueue
{
	char  name[SQSN_MAX_QUEUE_NAME + 1]; /* hash key */
	bool  valid;
	int64 queue_id;
	Oid   relid;           /* sqsn.q_<queue_id> */
	char *qualified_table; /* "sqsn.q_<queue_id>", for SQL text */
	int32 visibility_timeout;
	int32 message_retention_period;
	int32 delay_seconds;
	int32 maximum_message_size;
	int32 max_receive_count; /* 0: no redrive policy */
	int32 receive_wait_time_seconds;
	char *dead_letter_queue; /* NULL: no redrive policy */
	bool  fifo;              /* name ends in ".fifo" */
	bool  content_based_deduplication;
	bool  deduplicate_per_group; /* deduplication_scope */
	bool  encrypted;             /* new messages are sealed (crypto.c) */

	/* saved plans, prepared on first use */
	SPIPlanPtr insert_plan;
	SPIPlanPtr insert_many_plan;
	SPIPlanPtr receive_plan;
	SPIPlanPtr delete_plan;
	SPIPlanPtr delete_many_plan;
	SPIPlanPtr delete_leased_plan;
	SPIPlanPtr change_visibility_plan;
	SPIPlanPtr expire_plan;
	SPIPlanPtr overdue_plan;
	SPIPlanPtr next_visible_plan;
	SPIPlanPtr redrive_plan;
	SPIPlanPtr fifo_heads_plan;
	SPIPlanPtr fifo_lease_plan;
	SPIPlanPtr fifo_lock_plan;

	/* access policy (acl.c) */
	bool       check_grants; /* false: 0.2 catalog, the roles alone decide */
	Oid        owner;        /* InvalidOid: the owner role does not exist */
	int        ngrants;
	SqsnGrant *grants;
} SqsnQueue;

/* What one maintenance pass did (maintenance.c). */
typedef struct SqsnSweepCounts
{
	int64 messages_expired;
	int64 messages_moved_to_dlq;
} SqsnSweepCounts;

/* One message about to be inserted into a queue. */
typedef struct OutgoingMessage
{
	pg_uuid_t  *message_id;
	Datum       body;
	Jsonb      *attributes; /* typed form, or NULL */
	TimestampTz sent_at;
	TimestampTz visible_at;
	TimestampTz expires_at;
	int64       source_queue_id;  /* 0: none */
	char       *group_id;         /* message_group_id, or NULL */
	char       *deduplication_id; /* or NULL */
} OutgoingMessage;

/*
 * Columns of a receive result (message.c), also produced by the other
 * statements whose rows are moved between queues (dead-letter sweep,
 * redrive, FIFO receive).
 */
enum
{
	RCOL_MSG_SEQ = 1,
	RCOL_MESSAGE_ID,
	RCOL_BODY,
	RCOL_ATTRIBUTES,
	RCOL_SENT_AT,
	RCOL_RECEIVE_COUNT,
	RCOL_FIRST_RECEIVED_AT,
	RCOL_GROUP_ID,
	RCOL_DEDUPLICATION_ID,
};

/* The receive result columns as SQL, for a table aliased "alias" */
#define SQSN_RECEIVE_COLUMNS(alias)                                           \
	alias ".msg_seq, " alias ".message_id, " alias ".body, " alias            \
		  ".message_attributes, " alias ".sent_at, " alias                    \
		  ".receive_count, " alias ".first_received_at, " alias               \
		  ".message_group_id, " alias ".message_deduplication_id"

/* catalog.c */
extern void CatalogInit(void);
extern void sqsn_validate_name(const char *kind, const char *name, int max_len,
							   const char *fifo_hint);
extern void sqsn_validate_queue_name(const char *name);
extern bool sqsn_is_fifo_name(const char *name);
extern char *sqsn_text_arg(FunctionCallInfo fcinfo, int argno,
						   const char *argname);
extern bool sqsn_jsonb_int(JsonbValue *v, int32 min, int32 max, int32 *result);
extern bool sqsn_jsonb_bool(JsonbValue *v, bool *result);
extern bool sqsn_jsonb_next_pair(JsonbIterator **it, char **key,
								 JsonbValue *v);
extern int32      sqsn_int_arg(FunctionCallInfo fcinfo, int argno,
							   const char *argname, int32 min, int32 max,
							   int32 default_value);
extern SqsnQueue *sqsn_open_queue(const char *name, LOCKMODE lockmode);
extern void       sqsn_begin_result(FunctionCallInfo fcinfo);
extern int        sqsn_array_arg(FunctionCallInfo fcinfo, int argno,
								 const char *argname, Oid elemtype, Datum **elems,
								 bool **nulls);
extern int        sqsn_batch_args(FunctionCallInfo fcinfo, const char *argname,
								  const char *singular, const char *plural,
								  Datum **texts, bool **text_nulls,
								  Datum **attributes, bool **attribute_nulls);
extern void       sqsn_spi_check(int ret, int expected, const char *what);
extern Datum      sqsn_return_names(FunctionCallInfo fcinfo, const char *sql,
									const char *what);
extern SPIPlanPtr sqsn_prepare_plan(const char *sql, int nargs, Oid *argtypes);
extern Oid        sqsn_schema_oid(void);
extern bool       sqsn_catalog_has_fifo(void);
extern int        sqsn_pin_search_path(void);
extern void       sqsn_unpin_search_path(int nestlevel);

/* acl.c */
extern bool        sqsn_catalog_has_grants(void);
extern bool        sqsn_is_admin(Oid roleid);
extern const char *sqsn_action_name(int action, bool topic);
extern void        sqsn_load_queue_grants(SqsnQueue *queue, const char *owner);
extern bool        sqsn_queue_allows(SqsnQueue *queue, Oid roleid, int action);
extern void        sqsn_check_queue(SqsnQueue *queue, int action);
extern void        sqsn_check_queue_id(int64 queue_id, int action);
extern bool        sqsn_topic_allows(int64 topic_id, Oid roleid, int action);
extern void sqsn_check_topic(int64 topic_id, const char *topic_name, int action);
extern void sqsn_check_subscription(Datum subscription_id,
									bool queue_admin_too);
extern char *sqsn_caller_name(void);

/* attributes.c */
extern Jsonb *sqsn_normalize_attributes(Jsonb *attributes, int64 *size);

/* handle.c */
extern char *sqsn_make_receipt_handle(int64 queue_id, int64 msg_seq,
									  int64 lease_token);
extern void  sqsn_parse_receipt_handle(const char *handle, int64 queue_id,
									   int64 *msg_seq, int64 *lease_token);
extern int64 sqsn_new_lease_token(void);
extern void  sqsn_forget_handle_key(Oid relid);

/* message.c */
extern TimestampTz sqsn_add_seconds(TimestampTz t, int32 seconds);
extern pg_uuid_t  *sqsn_new_message_id(void);
extern void sqsn_send_messages(SqsnQueue *queue, OutgoingMessage *msgs, int n);
extern void sqsn_move_messages(SqsnQueue *queue, const char *dest_name,
							   HeapTuple *rows, TupleDesc tupdesc, int n,
							   TimestampTz now, bool redrive);
extern void sqsn_move_to_dead_letter_queue(SqsnQueue *queue, HeapTuple *rows,
										   TupleDesc tupdesc, int n,
										   TimestampTz now);

extern void sqsn_emit_received(SqsnQueue *queue, ReturnSetInfo *rsinfo,
							   HeapTuple row, TupleDesc tupdesc,
							   int64 lease_token);

/* fifo.c */
extern void  sqsn_validate_fifo_tag(const char *argname, const char *value);
extern char *sqsn_content_deduplication_id(text *body);
extern pg_uuid_t *sqsn_fifo_deduplicate(SqsnQueue       *queue,
										OutgoingMessage *msg);
extern pg_uuid_t *sqsn_fifo_deduplicate_publish(int64       topic_id,
												const char *deduplication_id,
												pg_uuid_t  *message_id);
extern int        sqsn_fifo_receive_batch(const char    *queue_name,
										  ReturnSetInfo *rsinfo, int max_messages,
										  TimestampTz now, TimestampTz lease_until,
										  int64 lease_token);
extern int   sqsn_fifo_lock_heads(SqsnQueue *queue, TimestampTz now, int limit,
								  int64 *after, HeapTuple **rows,
								  TupleDesc *tupdesc);
extern int64 sqsn_fifo_expire_deduplication(SqsnQueue *queue, TimestampTz now,
											int batch_size);
extern void  sqsn_fifo_forget_queue(int64 queue_id);
extern bool  sqsn_sweep_topic_deduplication(int batch_size);
extern void  sqsn_fifo_lock_groups_for_send(SqsnQueue       *queue,
											OutgoingMessage *msgs, int n);

/* maintenance.c */
extern List *sqsn_list_queue_names(void);
extern bool  sqsn_sweep_queue(const char *queue_name, int batch_size,
							  SqsnSweepCounts *counts);

/* lowwater.c */
extern void  LowWaterInit(void);
extern int64 sqsn_lowwater_start(SqsnQueue *queue, TimestampTz now);
extern void  sqsn_lowwater_visibility_changed(SqsnQueue *queue, int64 msg_seq,
											  TimestampTz visible_at);
extern void  sqsn_lowwater_forget(Oid relid);
extern void  sqsn_lowwater_step(SqsnQueue *queue, bool force);

/* longpoll.c */
extern void LongPollInit(void);
extern void sqsn_longpoll_note_send(int64 queue_id);
extern bool sqsn_longpoll_can_wait(void);
extern void sqsn_longpoll_begin(int64 queue_id);
extern void sqsn_longpoll_sleep(long timeout_ms);
extern void sqsn_longpoll_end(void);
extern bool sqsn_longpoll_attach_watcher(int index);
extern int  sqsn_longpoll_slot(int64 queue_id);
extern void sqsn_longpoll_watch(int64 queue_id, bool watch);
extern void sqsn_longpoll_take_fired(uint64 *fired);
#define SQSN_LONGPOLL_SLOTS 1024

/* worker.c */
extern int   sqsn_retention_batch_size;
extern void  WorkerInit(void);
extern char *sqsn_worker_database_name(void);
extern int   sqsn_worker_poll_interval(void);

/* filter.c */
extern void   sqsn_validate_filter_policy(Jsonb *policy, bool body_scope);
extern bool   sqsn_filter_matches(Jsonb *policy, bool body_scope,
								  Jsonb *attributes, Jsonb *body);
extern Jsonb *sqsn_json_or_null(const char *s, int len);

/* delivery_policy.c */
typedef enum SqsnBackoff
{
	SQSN_BACKOFF_LINEAR,
	SQSN_BACKOFF_ARITHMETIC,
	SQSN_BACKOFF_GEOMETRIC,
	SQSN_BACKOFF_EXPONENTIAL
} SqsnBackoff;

typedef struct SqsnRetryPolicy
{
	int         min_delay; /* seconds */
	int         max_delay; /* seconds */
	int         num_retries;
	int         num_no_delay;
	int         num_min_delay;
	int         num_max_delay;
	SqsnBackoff backoff;
} SqsnRetryPolicy;

typedef struct SqsnDeliveryPolicy
{
	SqsnRetryPolicy retry;
	int             max_receives_per_second; /* 0: unthrottled */
	char            content_type[64];
} SqsnDeliveryPolicy;

extern void   sqsn_default_delivery_policy(SqsnDeliveryPolicy *policy);
extern void   sqsn_validate_delivery_policy(Jsonb *policy, bool topic_form);
extern void   sqsn_effective_delivery_policy(Jsonb *subscription_policy,
											 Jsonb *topic_policy,
											 SqsnDeliveryPolicy *policy);
extern Jsonb *sqsn_effective_delivery_policy_json(Jsonb *subscription_policy,
												  Jsonb *topic_policy,
												  bool   topic_form);
extern double sqsn_retry_delay(const SqsnRetryPolicy *retry, int n,
							   const char **phase);

/* delivery.c */
extern void  DeliveryInit(void);
extern char *sqsn_http_allowed_hosts;
extern char *sqsn_http_auto_confirm_hosts;
extern void  sqsn_delivery_note_insert(void);
extern char *sqsn_validate_endpoint_url(const char *protocol, const char *url);
extern bool  sqsn_auto_confirm_host(const char *host);
extern void sqsn_append_envelope_attributes(StringInfo buf, Jsonb *attributes);
extern char *sqsn_iso_timestamp(TimestampTz t);
extern char *sqsn_topic_arn(const char *topic_name);

/* ssrf.c */
extern bool sqsn_host_pattern_matches(const char *list, const char *host);
extern bool sqsn_address_allowed(const char *list, const char *host,
								 const struct sockaddr *addr, char *why,
								 size_t whylen);

/* signing.c */
extern char *sqsn_signing_key_file;
extern char *sqsn_signing_certificate_file;
extern char *sqsn_signing_certificate_url;
extern void  SigningInit(void);
extern bool  sqsn_signing_available(void);
extern char *sqsn_sign(const char *data, size_t len);

/* crypto.c */
extern char  *sqsn_master_key_file;
extern char  *sqsn_previous_master_key_files;
extern void   CryptoInit(void);
extern int    sqsn_hex_value(char c);
extern bool   sqsn_master_key_available(char **why);
extern void   sqsn_require_master_key(const char *what);
extern char  *sqsn_key_id_hex(const uint8 *id);
extern bool   sqsn_is_sealed(Jsonb *attributes);
extern Jsonb *sqsn_sealed_marker(void);
extern text  *sqsn_seal(char kind, int64 owner_id, const pg_uuid_t *owner_uuid,
						const pg_uuid_t *message_id, text *body,
						Jsonb *attributes, const char *extra);
extern bool   sqsn_open(char kind, int64 owner_id, const pg_uuid_t *owner_uuid,
						const pg_uuid_t *message_id, text *envelope, text **body,
						Jsonb **attributes, char **extra, int *sqlstate,
						char **error);
extern void   sqsn_open_queue_message(int64 queue_id, const char *queue_name,
									  const pg_uuid_t *message_id, Datum *body,
									  Jsonb **attributes);
extern bool   sqsn_sealed_with_current_key(text *envelope);

/* encryption.c */
extern bool sqsn_catalog_has_encryption(void);
extern void sqsn_seal_outgoing(SqsnQueue *queue, OutgoingMessage *msgs, int n);
extern bool sqsn_topic_encrypted(int64 topic_id);
extern void sqsn_store_encrypted(const char *table, const char *name,
								 bool encrypted, bool check_only);

#endif /* SQSN_H */
