/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  Queues: their catalog and per-backend cache, the hot paths, FIFO
 *	  groups, long polling, low-water marks, dead letters and redrive, and
 *	  the maintenance sweeps.
 *
 *	  cache.c        the per-backend queue cache (sqsn_open_queue)
 *	  admin.c        create, delete, purge, list, attributes, statistics,
 *	                 grants; the extension's own housekeeping
 *	  message.c      send, receive, delete, change visibility; moves
 *	                 between queues
 *	  attributes.c   message attributes: validation, the typed form
 *	  handle.c       receipt handles
 *	  fifo.c         FIFO groups and deduplication
 *	  longpoll.c     receives that wait for messages
 *	  due.c          when each queue next needs the maintenance worker
 *	  lowwater.c     where a receive starts its walk
 *	  redrive.c      sq_redrive: out of a dead-letter queue
 *	  move_task.c    message move tasks: redrives in the background
 *	  queue_tags.c   the tags of a queue
 *	  stored_attributes.c  Policy, RedriveAllowPolicy, the KMS attributes
 *	                 and FifoThroughputLimit: kept as given
 *	  maintenance.c  retention and dead-letter sweeps, run_maintenance
 *	  rotate.c       sq_rotate_queue_key
 *	  schedule.c     recurring sends through pg_cron
 *	  metrics.c      counters of sends, receives and deletes in shared
 *	                 memory; the view sqsn.queue_metrics
 *	  citus.c        queues on a Citus cluster: message tables placed on
 *	                 the nodes, sqsn.citus_distribute
 *
 *-------------------------------------------------------------------------
 */
#ifndef SQSN_QUEUE_H
#define SQSN_QUEUE_H

#include "security/security.h"

#include "nodes/execnodes.h"
#include "storage/lockdefs.h"

/*
 * The saved plans a cached queue holds for its message table, prepared on
 * first use by the file that runs them.
 */
typedef enum SqsnQueuePlan
{
	QPLAN_INSERT,
	QPLAN_INSERT_MANY,
	QPLAN_RECEIVE,
	QPLAN_DELETE,
	QPLAN_DELETE_MANY,
	QPLAN_DELETE_LEASED,
	QPLAN_CHANGE_VISIBILITY,
	QPLAN_NEXT_VISIBLE,
	QPLAN_COUNT_VISIBLE,
	QPLAN_EXPIRE,
	QPLAN_OVERDUE,
	QPLAN_NEXT_EXPIRY,
	QPLAN_NEXT_OVERDUE,
	QPLAN_REDRIVE,
	QPLAN_FIFO_HEADS,
	QPLAN_FIFO_LEASE,
	QPLAN_FIFO_LOCK,
	QPLAN_FAIR_LEASE,
	QPLAN_HAS_GROUPS,
	QPLAN_ORIGINS,
	QPLAN_COUNT
} SqsnQueuePlan;

/*
 * What a backend remembers about one queue: its attributes, its message
 * table, its owner and grants, and the saved plans that work on that
 * table. Entries are keyed by name and dropped when a relcache
 * invalidation for the message table arrives (any change of the queue's
 * catalog row sends one), so a backend never acts on attributes another
 * session has changed and committed.
 */
typedef struct SqsnQueue
{
	char       name[SQSN_MAX_QUEUE_NAME + 1]; /* hash key */
	bool       valid;
	int64      queue_id;
	Oid        relid;           /* sqsn.q_<queue_id> */
	char      *qualified_table; /* "sqsn.q_<queue_id>", for SQL text */
	int32      visibility_timeout;
	int32      message_retention_period;
	int32      delay_seconds;
	int32      maximum_message_size;
	int32      max_receive_count; /* 0: no redrive policy */
	int32      receive_wait_time_seconds;
	char      *dead_letter_queue; /* NULL: no redrive policy */
	bool       fifo;              /* name ends in ".fifo" */
	bool       content_based_deduplication;
	bool       deduplicate_per_group; /* deduplication_scope */
	bool       encrypted;             /* new messages are sealed */
	bool       has_sender;            /* the table has sender_id */
	bool       distributed;           /* a Citus distributed table */
	SqsnAcl    acl;
	SPIPlanPtr plans[QPLAN_COUNT];
	int64      plan_blocks; /* table size the plans were made for; -1 none */
	uint32     executions;  /* of the plans, to look at the size now and then */
	/* fair receives of a standard queue (message.c) */
	bool        fair;            /* it holds messages with a group id */
	TimestampTz fair_checked_at; /* when that was last looked at */
	char       *fair_cursor;     /* group of this session's last turn */
} SqsnQueue;

/*
 * A statement on a queue's message table, run through the queue's saved
 * plan by sqsn_queue_execute.
 */
typedef struct SqsnQueueStatement
{
	SqsnQueuePlan plan; /* where the saved plan is kept */
	const char   *sql;  /* %1$s stands for the message table */
	int           nargs;
	Oid           argtypes[SQSN_MAX_STATEMENT_ARGS];
	int           expected; /* the SPI result of success */
	const char   *what;     /* "inserting into", ... ("... queue x") */
} SqsnQueueStatement;

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
	Oid         sender_id;        /* the role that sent it; InvalidOid: unknown */
	char       *group_id;         /* message_group_id, or NULL */
	char       *deduplication_id; /* or NULL */
	int64       size;             /* body and attributes; 0: a move */
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

/* cache.c */
extern void       QueueInit(void);
extern void       sqsn_queue_cache_trim(void);
extern void       sqsn_queue_cache_limit(int limit);
extern SqsnQueue *sqsn_open_queue(const char *name, LOCKMODE lockmode);
extern void       sqsn_validate_queue_name(const char *name);
extern uint64     sqsn_queue_execute(SqsnQueue                *queue,
									 const SqsnQueueStatement *stmt, Datum *values,
									 const char *nulls, long count);
extern bool       sqsn_queue_allows(SqsnQueue *queue, Oid roleid, int action);
extern bool  sqsn_queue_allows_role(SqsnQueue *queue, const char *role_name,
									int action);
extern void  sqsn_check_queue(SqsnQueue *queue, int action);
extern char *sqsn_queue_name_of(int64 queue_id);
extern bool  sqsn_has_group_index(int64 queue_id);
extern void  sqsn_create_group_index(SqsnQueue *queue);
extern void  sqsn_index_groups(SqsnQueue *queue);
extern bool  sqsn_queue_has_groups(SqsnQueue *queue);

/* stored_attributes.c */
extern bool  sqsn_is_stored_queue_attribute(const char *key);
extern Jsonb *sqsn_stored_attribute_set(Jsonb *attrs, const char *key,
										JsonbValue *v, bool fifo);
extern Jsonb *sqsn_stored_queue_attributes(int64 queue_id);
extern void  sqsn_store_queue_attributes(int64 queue_id, Jsonb *attrs);
extern void  sqsn_check_redrive_allowed(int64 dlq_id, const char *dlq,
										const char *source);

/* move_task.c */
extern int  sqsn_active_move_tasks(MemoryContext cxt, pg_uuid_t **handles);
extern bool sqsn_move_task_step(pg_uuid_t *handle);
extern void sqsn_fail_move_task(pg_uuid_t *handle, const char *message);
extern int64 sqsn_redrive_batch(const char *dlq_name, const char *dest_name,
								int limit, bool check_sources, int64 *after,
								int *taken);
extern void  sqsn_check_queue_id(int64 queue_id, int action);

/* admin.c */
extern SPITupleTable *sqsn_begin_queue_rows(FunctionCallInfo fcinfo,
											int *nestlevel, uint64 *nqueues);

/* attributes.c */
#define SQSN_TRACE_ATTRIBUTE  "AWS.TraceHeader" /* AWSTraceHeader */
#define SQSN_TRACEPARENT      "traceparent"     /* W3C trace context */
#define SQSN_MAX_TRACE_HEADER 1024
extern Jsonb *sqsn_normalize_attributes(Jsonb *attributes, int64 *size);
extern char  *sqsn_attribute_string(Jsonb *attributes, const char *name);
extern Jsonb *sqsn_attributes_filter(Jsonb *attributes, bool system);
extern Jsonb *sqsn_attributes_with_string(Jsonb *attributes, const char *name,
										  const char *value);

/* handle.c */
extern char *sqsn_make_receipt_handle(int64 queue_id, int64 msg_seq,
									  int64 lease_token);
extern void  sqsn_parse_receipt_handle(const char *handle, int64 queue_id,
									   int64 *msg_seq, int64 *lease_token);
extern int64 sqsn_new_lease_token(void);
extern void  sqsn_forget_handle_key(Oid relid);

/* message.c */
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
extern void sqsn_sort_by_msg_seq(HeapTuple *rows, uint64 n, TupleDesc tupdesc);
extern void sqsn_message_origins(SqsnQueue *queue, const int64 *msg_seqs,
								 int n, Oid *senders, int64 *sources);
extern int  sqsn_receive_batch(const char *queue_name, ReturnSetInfo *rsinfo,
							   int max_messages, int32 visibility_timeout,
							   int64 lease_token);
extern TupleDesc   sqsn_received_tupdesc(void);
extern void        sqsn_delete_leased(SqsnQueue *queue, Datum *msg_seqs,
									  Datum *tokens, int n, bool *deleted);
extern TimestampTz sqsn_next_visible_at(const char *queue_name,
										TimestampTz now);
extern int         sqsn_count_visible(const char *queue_name, int limit);

/* fifo.c */
extern void  sqsn_validate_fifo_tag(const char *argname, const char *value);
extern char *sqsn_content_deduplication_id(text *body);
extern pg_uuid_t *sqsn_fifo_deduplicate(SqsnQueue       *queue,
										OutgoingMessage *msg);
extern pg_uuid_t *sqsn_fifo_deduplicate_publish(int64       topic_id,
												const char *deduplication_id,
												pg_uuid_t  *message_id,
												int64      *sequence_number);
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
extern TimestampTz sqsn_fifo_next_expiry(SqsnQueue *queue);
extern bool        sqsn_sweep_topic_deduplication(int batch_size);
extern void        sqsn_fifo_lock_groups_for_send(SqsnQueue       *queue,
												  OutgoingMessage *msgs, int n);

/* maintenance.c */
extern List       *sqsn_list_queue_names(void);
extern int         sqsn_list_queue_ids(int64 after, int limit, int64 **ids);
extern bool        sqsn_sweep_queue(const char *queue_name, int batch_size,
									bool check_overdue, SqsnSweepCounts *counts);
extern TimestampTz sqsn_queue_next_due(const char *queue_name,
									   bool check_overdue, bool *overdue_left);

/* due.c */
#define DUE_CHECK_OVERDUE 0x01 /* messages over the receive limit to move */
#define DUE_GROUP_INDEX   0x02 /* a standard queue's group index to make */
extern void DueInit(void);
extern bool sqsn_due_tracked(void);
extern void sqsn_due_note(int64 queue_id, TimestampTz at, uint32 flags);
extern bool sqsn_due_full_round_wanted(void);
extern int sqsn_due_take(Oid dbid, TimestampTz now, int64 **ids, int *tracked);
extern bool   sqsn_due_take_one(Oid dbid, int64 queue_id);
extern uint32 sqsn_due_flags(Oid dbid, int64 queue_id);
extern void   sqsn_due_reschedule(Oid dbid, int64 queue_id, TimestampTz next,
								  uint32 flags, bool gone);

/* citus.c */
extern bool sqsn_citus_present(void);
extern bool sqsn_citus_distributed(Oid relid);
extern void sqsn_citus_place_queue(Oid relid);
extern void sqsn_citus_check_coordinator(void);

/* lowwater.c */
extern void  LowWaterInit(void);
extern int64 sqsn_lowwater_start(SqsnQueue *queue, TimestampTz now);
extern int64 sqsn_lowwater_receive_start(SqsnQueue *queue, TimestampTz now,
										 int64 *head_after, bool *head);
extern void  sqsn_lowwater_received(SqsnQueue *queue, int64 last_leased,
									int nleased, bool head);
extern void  sqsn_lowwater_visibility_changed(SqsnQueue *queue, int64 msg_seq,
											  TimestampTz visible_at);
extern void  sqsn_lowwater_forget(Oid relid);
extern void  sqsn_lowwater_step(SqsnQueue *queue, bool force);

/* metrics.c: what is counted per queue, in the order of sqsn.queue_metrics */
enum
{
	QMETRIC_SENT,           /* NumberOfMessagesSent */
	QMETRIC_RECEIVED,       /* NumberOfMessagesReceived */
	QMETRIC_DELETED,        /* NumberOfMessagesDeleted */
	QMETRIC_EMPTY_RECEIVES, /* NumberOfEmptyReceives */
	QMETRIC_SENT_BYTES,     /* SentMessageSize, summed */
	QMETRIC_DEAD_LETTERED,  /* moved to the dead-letter queue */
	QMETRIC_REDRIVEN,       /* moved out of this dead-letter queue */
	QMETRIC_COUNT
};
extern void QueueMetricsInit(void);
extern bool sqsn_metrics_enabled; /* sqsn.metrics */
extern void sqsn_metrics_count(SqsnQueue *queue, int what, uint64 n);
extern void sqsn_metrics_count_empty_receive(SqsnQueue *queue);
extern void sqsn_metrics_defer_empty_receives(bool defer);
extern void sqsn_metrics_settle_empty_receive(bool count);
extern void sqsn_metrics_forget_queue(int64 queue_id, Oid relid);
extern void sqsn_metrics_depth_changed(SqsnQueue *queue);
extern bool sqsn_metrics_queue_table_usage(int *used, int *nslots,
										   uint64 *overflow);

/* longpoll.c */
#define SQSN_LONGPOLL_SLOTS 1024
extern void LongPollInit(void);
extern int  sqsn_longpoll_reserve_watchers(int n);
extern void sqsn_longpoll_note_send(int64 queue_id);
extern bool sqsn_longpoll_can_wait(void);
extern void sqsn_longpoll_begin(int64 queue_id);
extern void sqsn_longpoll_sleep(long timeout_ms);
extern void sqsn_longpoll_end(void);
extern bool sqsn_longpoll_attach_watcher(int index);
extern int  sqsn_longpoll_slot(int64 queue_id);
extern void sqsn_longpoll_watch(int64 queue_id, bool watch);
extern void sqsn_longpoll_take_fired(uint64 *fired);

#endif /* SQSN_QUEUE_H */
