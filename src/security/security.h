/*-------------------------------------------------------------------------
 *
 * security.h
 *	  Who may do what, and encryption at rest.
 *
 *	  acl.c     access policies of queues and topics: the checks every
 *	            function makes before it does any work, and the body of
 *	            the grant API (sq_grant, sn_grant, ... call it)
 *	  crypto.c  master and data keys, sealing and opening message bodies
 *	            (AES-256-GCM), and the encrypted flag of queues and topics
 *	  policy.c  the Policy attribute of queues and topics evaluated into
 *	            grants (marked from_policy), or refused
 *
 *-------------------------------------------------------------------------
 */
#ifndef SQSN_SECURITY_H
#define SQSN_SECURITY_H

#include "common/common.h"

/*
 * Actions of access policies. Queues: send; receive (also delete and
 * change visibility); admin (attributes, purge, delete, grants). Topics
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

/* A queue's owner and grants, as the queue cache keeps them. */
typedef struct SqsnAcl
{
	bool       enforced; /* false: a 0.2 catalog, the roles alone decide */
	Oid        owner;    /* InvalidOid: the owner role does not exist */
	int        ngrants;
	SqsnGrant *grants;
} SqsnAcl;

/* The queue or topic a grant API call changes. */
typedef struct SqsnSecurable
{
	bool  topic;
	char *name;
	int64 id;    /* queue_id or topic_id */
	Oid   relid; /* a queue's message table (its relcache invalidation
				  * drops cached ACLs), or InvalidOid */
} SqsnSecurable;

/*
 * Finds target->name, locks it for the change, checks that the caller
 * administers it and fills in id and relid; errors otherwise.
 */
typedef void (*SqsnOpenForChange)(SqsnSecurable *target);

/* acl.c */
extern bool        sqsn_is_admin(Oid roleid);
extern bool        sqsn_role_owns(const char *owner, Oid roleid);
extern char       *sqsn_caller_name(void);
extern void        sqsn_set_caller_owner(SqsnStatement *stmt, Datum key);
extern const char *sqsn_action_name(int action, bool topic);
extern void sqsn_acl_load(SqsnAcl *acl, int64 queue_id, const char *owner,
						  MemoryContext cxt);
extern void sqsn_acl_free(SqsnAcl *acl);
extern bool sqsn_acl_allows(const SqsnAcl *acl, Oid roleid, int action);
extern void sqsn_acl_check(const SqsnAcl *acl, const char *queue_name,
						   int action);
extern bool sqsn_topic_allows(int64 topic_id, Oid roleid, int action);
extern void sqsn_check_topic(int64 topic_id, const char *topic_name,
							 int action);
extern void sqsn_change_grants(FunctionCallInfo fcinfo, bool topic, bool grant,
							   SqsnOpenForChange open);
extern void sqsn_change_owner(FunctionCallInfo fcinfo, bool topic,
							  SqsnOpenForChange open);

/* One grantee's grants made from a Policy: "public" or a role name. */
typedef struct SqsnPolicyGrant
{
	char *grantee;
	int   actions; /* SQSN_SEND, ... */
} SqsnPolicyGrant;

/* policy.c */
extern List *sqsn_policy_grants(Jsonb *policy, bool topic, const char *name);
extern void  sqsn_store_policy_grants(bool topic, int64 id, List *grants);

/* crypto.c */
extern void   CryptoInit(void);
extern char  *sqsn_secret_file_problem(const char *path, const char *what);
extern void   sqsn_require_master_key(const char *what);
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
extern void   sqsn_create_encrypted(const char *table, const char *name,
									bool encrypted, bool exists);
extern void   sqsn_store_encrypted(const char *table, const char *name,
								   bool encrypted, bool check_only);

#endif /* SQSN_SECURITY_H */
