/*-------------------------------------------------------------------------
 *
 * sqsn.h
 *	  The names and limits every part of sqsn shares: the schema, and the
 *	  limits of the managed services sqsn follows (see SEMANTICS.md).
 *
 * Each subsystem has its own folder and header under src/:
 *
 *	  common/    argument, SPI, JSON and encoding helpers; shared settings
 *	  security/  access policies and grants; encryption at rest
 *	  queue/     queues: catalog cache, admin, send/receive/delete, FIFO,
 *	             long polling, low-water marks, redrive, maintenance sweeps
 *	  push/      push delivery: the outbox, envelopes, the delivery worker
 *	  topic/     topics, subscriptions, publish and fan-out, filter policies
 *	  function/  function consumers: event source mappings and function
 *	             subscriptions, invoked by the function workers
 *	  worker/    the maintenance background worker
 *	  api/       the AWS-compatible HTTP endpoint
 *
 * A header may include only the headers of the subsystems before it in
 * that list (worker/ only common, security and queue); the check is
 * scripts/check-layers.sh, run by make test.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SQSN_H
#define SQSN_H

#include "postgres.h"

#define SQSN_SCHEMA "sqsn"

/* Limits of the managed service (see SEMANTICS.md), in seconds or bytes. */
#define SQSN_MAX_QUEUE_NAME         80
#define SQSN_MAX_TOPIC_NAME         256
#define SQSN_MAX_VISIBILITY_TIMEOUT 43200
#define SQSN_MIN_RETENTION          60
#define SQSN_MAX_RETENTION          1209600
#define SQSN_MAX_DELAY              900
#define SQSN_MIN_MESSAGE_SIZE       1024
#define SQSN_MAX_MESSAGE_SIZE       262144 /* a publish; a queue's default */
#define SQSN_MAX_QUEUE_MESSAGE_SIZE 1048576 /* a queue's maximum_message_size */
#define SQSN_MAX_RECEIVE_COUNT      1000
#define SQSN_MAX_ATTRIBUTES         10
#define SQSN_MAX_BATCH              1000
#define SQSN_MAX_WAIT_TIME          20
#define SQSN_DEDUP_WINDOW           300
#define SQSN_MAX_FIFO_TAG           128

#endif /* SQSN_H */
