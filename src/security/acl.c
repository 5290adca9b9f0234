/*-------------------------------------------------------------------------
 *
 * acl.c
 *	  Access policies: who may send to, receive from and administer each
 *	  queue, and publish to, subscribe to and administer each topic
 *	  (sqsn.queue_grant, sqsn.topic_grant), the checks every function makes
 *	  before it does any work, and sq_grant / sq_revoke /
 *	  sq_set_queue_owner and their topic counterparts.
 *
 * A call needs EXECUTE on the function (the sqsn_* roles) and the action on
 * the queue or topic. The owner of a queue or topic (the role that created
 * it, or the one it was handed to), superusers and members of sqsn_admin
 * may do everything; anyone else needs a grant of the action to a role
 * whose privileges they have (has_privs_of_role, so grants to group roles
 * work; NOLOGIN groups included) or to PUBLIC. The caller is the current
 * role outside the function (GetOuterUserId, so SET ROLE counts), as in the
 * rest of the API.
 *
 * Queues: the owner and the grants are part of the per-backend queue cache
 * entry (catalog.c), read together with the queue's settings, so the hot
 * paths check without any query: has_privs_of_role uses PostgreSQL's own
 * cache of role memberships. A grant, revoke or owner change sends a
 * relcache invalidation for the queue's message table, like an attribute
 * change, so every session drops its copy at the next statement.
 *
 * Topics have no cache (a publish reads the subscriptions anyway): a check
 * reads the owner and the grants of the action with one saved plan.
 *
 * Roles are recorded by name, as the owner columns always were: a role
 * renamed keeps neither its ownerships nor its grants, and a role dropped
 * leaves rows behind that would apply to a new role of the same name (see
 * README, "Access policies").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sqsn.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(sq_grant);
PG_FUNCTION_INFO_V1(sq_revoke);
PG_FUNCTION_INFO_V1(sq_set_queue_owner);
PG_FUNCTION_INFO_V1(sn_grant);
PG_FUNCTION_INFO_V1(sn_revoke);
PG_FUNCTION_INFO_V1(sn_set_topic_owner);

/* The action names, by bit (queue and topic actions share the bits). */
static const char *const queue_action_names[] = {"send", "receive", "admin"};
static const char *const topic_action_names[] = {"publish", "subscribe",
												 "admin"};

static SPIPlanPtr queue_grants_plan = NULL;
static SPIPlanPtr topic_grants_plan = NULL;

static bool  role_matches(Oid roleid, const char *grantee);
static char *role_name(Oid roleid);
static int   actions_arg(FunctionCallInfo fcinfo, int argno, bool topic);
static char *grantee_arg(FunctionCallInfo fcinfo, int argno,
						 bool allow_public);
static void  change_grants(FunctionCallInfo fcinfo, bool topic, bool grant);
static void  set_owner(FunctionCallInfo fcinfo, bool topic);

/*
 * Whether the catalog has the grant tables of version 0.3. A library of 0.3
 * may run with the SQL objects of 0.2 until ALTER EXTENSION sqsn UPDATE;
 * until then only the roles decide, as in 0.2.
 */
bool
sqsn_catalog_has_grants(void)
{
	Oid nsp = get_namespace_oid(SQSN_SCHEMA, true);

	return OidIsValid(nsp) &&
		   OidIsValid(get_relname_relid("queue_grant", nsp));
}

/*
 * Superusers and members of sqsn_admin manage every queue and topic.
 */
bool
sqsn_is_admin(Oid roleid)
{
	Oid admin = get_role_oid("sqsn_admin", true);

	return superuser_arg(roleid) ||
		   (OidIsValid(admin) && has_privs_of_role(roleid, admin));
}

/*
 * Whether a grant to grantee (a role name, or "public") applies to roleid.
 */
static bool
role_matches(Oid roleid, const char *grantee)
{
	Oid oid;

	if (strcmp(grantee, "public") == 0)
		return true;
	oid = get_role_oid(grantee, true);
	return OidIsValid(oid) && has_privs_of_role(roleid, oid);
}

static char *
role_name(Oid roleid)
{
	return GetUserNameFromId(roleid, false);
}

const char *
sqsn_action_name(int action, bool topic)
{
	const char *const *names = topic ? topic_action_names : queue_action_names;

	for (int i = 0; i < 3; i++)
		if (action == (1 << i))
			return names[i];
	return "any";
}

/*
 * Reads the owner and the grants of a queue into its cache entry; called by
 * load_queue after it has read the queue's row. Requires SPI; replaces
 * SPI_tuptable.
 */
void
sqsn_load_queue_grants(SqsnQueue *queue, const char *owner)
{
	Datum         value = Int64GetDatum(queue->queue_id);
	MemoryContext oldcxt;

	queue->owner = owner ? get_role_oid(owner, true) : InvalidOid;
	queue->ngrants = 0;
	queue->grants = NULL;
	queue->check_grants = sqsn_catalog_has_grants();
	if (!queue->check_grants)
		return;

	if (queue_grants_plan == NULL)
	{
		Oid argtypes[1] = {INT8OID};

		queue_grants_plan =
			sqsn_prepare_plan("SELECT g.grantee::pg_catalog.text, g.action "
							  "FROM sqsn.queue_grant g"
							  " WHERE g.queue_id OPERATOR(pg_catalog.=) $1",
							  1, argtypes);
	}
	sqsn_spi_check(SPI_execute_plan(queue_grants_plan, &value, NULL, false, 0),
				   SPI_OK_SELECT, "reading sqsn.queue_grant");
	if (SPI_processed == 0)
		return;

	oldcxt = MemoryContextSwitchTo(CacheMemoryContext);
	queue->grants = palloc0(sizeof(SqsnGrant) * SPI_processed);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char *grantee =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char *action =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		SqsnGrant *g = &queue->grants[queue->ngrants];
		int        bit = 0;

		for (int b = 0; b < 3; b++)
			if (strcmp(action, queue_action_names[b]) == 0)
				bit = 1 << b;
		if (bit == 0)
			continue;
		if (strcmp(grantee, "public") == 0)
			g->grantee = InvalidOid;
		else
		{
			g->grantee = get_role_oid(grantee, true);
			if (!OidIsValid(g->grantee))
				continue; /* a role that no longer exists */
		}
		g->actions = bit;
		queue->ngrants++;
	}
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Whether roleid may do action (SQSN_SEND, ...; SQSN_ANY_ACTION: any of
 * them) on the queue. No query: the cache entry has the owner and grants.
 */
bool
sqsn_queue_allows(SqsnQueue *queue, Oid roleid, int action)
{
	if (!queue->check_grants)
		return true;
	if (OidIsValid(queue->owner) && has_privs_of_role(roleid, queue->owner))
		return true;
	for (int i = 0; i < queue->ngrants; i++)
	{
		SqsnGrant *g = &queue->grants[i];

		if ((g->actions & action) != 0 &&
			(!OidIsValid(g->grantee) || has_privs_of_role(roleid, g->grantee)))
			return true;
	}
	return sqsn_is_admin(roleid);
}

/*
 * Errors with 42501 unless the calling role may do action on the queue.
 */
void
sqsn_check_queue(SqsnQueue *queue, int action)
{
	Oid         roleid = GetOuterUserId();
	const char *what;

	if (sqsn_queue_allows(queue, roleid, action))
		return;

	switch (action)
	{
		case SQSN_SEND:
			what = "send to";
			break;
		case SQSN_RECEIVE:
			what = "receive from";
			break;
		case SQSN_ADMIN:
			what = "administer";
			break;
		default:
			what = "use";
			break;
	}
	ereport(
		ERROR,
		(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
		 errmsg("permission denied to %s queue \"%s\"", what, queue->name),
		 action == SQSN_ANY_ACTION
			 ? errdetail("Role \"%s\" has no grant on the queue.",
						 role_name(roleid))
			 : errdetail("Role \"%s\" lacks the action \"%s\" on the queue.",
						 role_name(roleid), sqsn_action_name(action, false)),
		 errhint("The queue's owner or a member of sqsn_admin can grant "
				 "it with sqsn.sq_grant('%s', '%s', '{%s}').",
				 queue->name, role_name(roleid),
				 action == SQSN_ANY_ACTION
					 ? "send"
					 : sqsn_action_name(action, false))));
}

/*
 * The check for a queue known by id (a dead-letter queue in a redrive
 * policy); no check when the id is 0.
 */
void
sqsn_check_queue_id(int64 queue_id, int action)
{
	Datum value = Int64GetDatum(queue_id);
	char *name;

	if (queue_id == 0)
		return;
	sqsn_spi_check(
		SPI_execute_with_args("SELECT queue_name FROM sqsn.queue"
							  " WHERE queue_id OPERATOR(pg_catalog.=) $1",
							  1, (Oid[]){INT8OID}, &value, NULL, false, 1),
		SPI_OK_SELECT, "reading sqsn.queue");
	if (SPI_processed == 0)
		return;
	name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	sqsn_check_queue(sqsn_open_queue(name, RowExclusiveLock), action);
}

/*
 * Whether roleid may do action on a topic (SQSN_PUBLISH, ...). One query:
 * the owner and the grants of that action. Requires SPI.
 */
bool
sqsn_topic_allows(int64 topic_id, Oid roleid, int action)
{
	Datum values[2];
	bool  isnull;
	char *owner;
	Oid   owner_oid;

	if (!sqsn_catalog_has_grants())
		return true;
	if (topic_grants_plan == NULL)
	{
		Oid argtypes[2] = {INT8OID, TEXTOID};

		topic_grants_plan = sqsn_prepare_plan(
			"SELECT t.owner::pg_catalog.text, g.grantee::pg_catalog.text"
			" FROM sqsn.topic t LEFT JOIN sqsn.topic_grant g"
			"  ON g.topic_id OPERATOR(pg_catalog.=) t.topic_id"
			"  AND g.action OPERATOR(pg_catalog.=) $2"
			" WHERE t.topic_id OPERATOR(pg_catalog.=) $1",
			2, argtypes);
	}
	values[0] = Int64GetDatum(topic_id);
	values[1] = CStringGetTextDatum(sqsn_action_name(action, true));
	sqsn_spi_check(SPI_execute_plan(topic_grants_plan, values, NULL, false, 0),
				   SPI_OK_SELECT, "reading sqsn.topic_grant");
	if (SPI_processed == 0)
		return sqsn_is_admin(roleid);

	owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	owner_oid = get_role_oid(owner, true);
	if (OidIsValid(owner_oid) && has_privs_of_role(roleid, owner_oid))
		return true;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char *grantee;

		(void) SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2,
							 &isnull);
		if (isnull)
			continue;
		grantee =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		if (role_matches(roleid, grantee))
			return true;
	}
	return sqsn_is_admin(roleid);
}

/*
 * Errors with 42501 unless the calling role may do action on the topic.
 */
void
sqsn_check_topic(int64 topic_id, const char *topic_name, int action)
{
	Oid         roleid = GetOuterUserId();
	const char *what;

	if (sqsn_topic_allows(topic_id, roleid, action))
		return;
	what = action == SQSN_PUBLISH     ? "publish to"
		   : action == SQSN_SUBSCRIBE ? "subscribe to"
									  : "administer";
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s topic \"%s\"", what, topic_name),
			 errdetail("Role \"%s\" lacks the action \"%s\" on the topic.",
					   role_name(roleid), sqsn_action_name(action, true)),
			 errhint("The topic's owner or a member of sqsn_admin can grant "
					 "it with sqsn.sn_grant('%s', '%s', '{%s}').",
					 topic_name, role_name(roleid),
					 sqsn_action_name(action, true))));
}

/*
 * Changing or deleting a subscription: its owner, an administrator of its
 * topic, or (with queue_admin_too, for unsubscribing) an administrator of
 * the queue it delivers to. Errors with 42501 otherwise. Requires SPI.
 */
void
sqsn_check_subscription(Datum subscription_id, bool queue_admin_too)
{
	Oid   roleid = GetOuterUserId();
	bool  isnull;
	int64 topic_id;
	char *topic_name;
	char *owner;
	char *queue_name;
	Oid   owner_oid;

	if (!sqsn_catalog_has_grants())
		return;
	sqsn_spi_check(
		SPI_execute_with_args(
			"SELECT s.topic_id, t.topic_name, s.owner::pg_catalog.text,"
			" q.queue_name"
			" FROM sqsn.subscription s"
			" JOIN sqsn.topic t ON t.topic_id OPERATOR(pg_catalog.=) "
			"s.topic_id"
			" LEFT JOIN sqsn.queue q"
			"  ON q.queue_id OPERATOR(pg_catalog.=) s.queue_id"
			" WHERE s.subscription_id OPERATOR(pg_catalog.=) $1",
			1, (Oid[]){UUIDOID}, &subscription_id, NULL, false, 1),
		SPI_OK_SELECT, "reading sqsn.subscription");
	if (SPI_processed == 0)
		return; /* the caller says it does not exist */
	topic_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
	topic_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	queue_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4);

	owner_oid = get_role_oid(owner, true);
	if (OidIsValid(owner_oid) && has_privs_of_role(roleid, owner_oid))
		return;
	if (sqsn_topic_allows(topic_id, roleid, SQSN_ADMIN))
		return;
	if (queue_admin_too && queue_name != NULL &&
		sqsn_queue_allows(sqsn_open_queue(queue_name, RowExclusiveLock),
						  roleid, SQSN_ADMIN))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to change a subscription of topic "
					"\"%s\"",
					topic_name),
			 errdetail("Subscription %s belongs to role \"%s\"; role \"%s\" "
					   "lacks the action \"admin\" on the topic.",
					   DatumGetCString(
						   DirectFunctionCall1(uuid_out, subscription_id)),
					   owner, role_name(roleid)),
			 errhint("The subscription's owner or an administrator of the "
					 "topic can change it.")));
}

/*
 * The actions argument: a non-empty array of action names without NULLs;
 * returns the bits.
 */
static int
actions_arg(FunctionCallInfo fcinfo, int argno, bool topic)
{
	const char *const *names = topic ? topic_action_names : queue_action_names;
	Datum             *elems;
	bool              *nulls;
	int                n;
	int                bits = 0;

	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("actions must not be NULL")));
	n = sqsn_array_arg(fcinfo, argno, "actions", TEXTOID, &elems, &nulls);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("actions must not be empty"),
				 errhint(topic ? "The topic actions are publish, subscribe "
								 "and admin."
							   : "The queue actions are send, receive and "
								 "admin.")));
	for (int i = 0; i < n; i++)
	{
		char *action;
		int   bit = 0;

		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("actions must not contain NULL")));
		action = TextDatumGetCString(elems[i]);
		for (int b = 0; b < 3; b++)
			if (strcmp(action, names[b]) == 0)
				bit = 1 << b;
		if (bit == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown %s action \"%s\"",
							topic ? "topic" : "queue", action),
					 errhint(topic ? "The topic actions are publish, "
									 "subscribe and admin."
								   : "The queue actions are send, receive "
									 "and admin.")));
		bits |= bit;
	}
	return bits;
}

/*
 * A role argument: an existing role, or (allow_public) PUBLIC, returned as
 * "public".
 */
static char *
grantee_arg(FunctionCallInfo fcinfo, int argno, bool allow_public)
{
	char *name;

	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("%s must not be NULL",
							   allow_public ? "role" : "new_owner")));
	name = pstrdup(NameStr(*PG_GETARG_NAME(argno)));
	if (pg_strcasecmp(name, "public") == 0)
	{
		if (!allow_public)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("PUBLIC cannot own a queue or topic")));
		return pstrdup("public");
	}
	if (!OidIsValid(get_role_oid(name, true)))
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT),
						errmsg("role \"%s\" does not exist", name)));
	return name;
}

/*
 * Opens the queue or topic named by argument 0 for a change of its grants
 * or owner and checks that the caller administers it. Returns the queue
 * (NULL for a topic) and sets *id. Requires SPI.
 */
static SqsnQueue *
open_for_change(FunctionCallInfo fcinfo, bool topic, char **name, int64 *id)
{
	*name = sqsn_text_arg(fcinfo, 0, topic ? "topic_name" : "queue_name");
	if (topic)
	{
		Datum value = CStringGetTextDatum(*name);
		bool  isnull;

		sqsn_validate_name("topic", *name, 256, NULL);
		sqsn_spi_check(
			SPI_execute_with_args("SELECT topic_id FROM sqsn.topic"
								  " WHERE topic_name OPERATOR(pg_catalog.=) $1"
								  " FOR UPDATE",
								  1, (Oid[]){TEXTOID}, &value, NULL, false, 1),
			SPI_OK_SELECT, "reading sqsn.topic");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("topic \"%s\" does not exist", *name),
					 errhint("Create it with sqsn.sn_create_topic().")));
		*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
		sqsn_check_topic(*id, *name, SQSN_ADMIN);
		return NULL;
	}
	else
	{
		SqsnQueue *queue = sqsn_open_queue(*name, ShareUpdateExclusiveLock);

		sqsn_check_queue(queue, SQSN_ADMIN);
		*id = queue->queue_id;
		return queue;
	}
}

/*
 * The body of sq_grant, sq_revoke, sn_grant and sn_revoke.
 */
static void
change_grants(FunctionCallInfo fcinfo, bool topic, bool grant)
{
	char       *grantee = grantee_arg(fcinfo, 1, true);
	int         bits = actions_arg(fcinfo, 2, topic);
	int         nestlevel;
	char       *name;
	int64       id;
	SqsnQueue  *queue;
	Oid         relid = InvalidOid;
	const char *table = topic ? "sqsn.topic_grant" : "sqsn.queue_grant";
	const char *idcol = topic ? "topic_id" : "queue_id";

	nestlevel = sqsn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!sqsn_catalog_has_grants())
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("grants need version 0.3 of extension sqsn"),
						errhint("Run ALTER EXTENSION sqsn UPDATE.")));
	queue = open_for_change(fcinfo, topic, &name, &id);
	if (queue)
		relid = queue->relid;

	for (int b = 0; b < 3; b++)
	{
		Oid   argtypes[4] = {INT8OID, NAMEOID, TEXTOID, NAMEOID};
		Datum values[4];

		if ((bits & (1 << b)) == 0)
			continue;
		values[0] = Int64GetDatum(id);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(grantee));
		values[2] = CStringGetTextDatum(topic ? topic_action_names[b]
											  : queue_action_names[b]);
		values[3] = DirectFunctionCall1(
			namein, CStringGetDatum(role_name(GetOuterUserId())));
		if (grant)
			sqsn_spi_check(
				SPI_execute_with_args(
					psprintf("INSERT INTO %s (%s, grantee, action, granted_by,"
							 " granted_at)"
							 " VALUES ($1, $2, $3, $4, clock_timestamp())"
							 " ON CONFLICT DO NOTHING",
							 table, idcol),
					4, argtypes, values, NULL, false, 0),
				SPI_OK_INSERT, "inserting a grant");
		else
			sqsn_spi_check(
				SPI_execute_with_args(
					psprintf("DELETE FROM %s WHERE %s = $1 AND grantee = $2"
							 " AND action = $3",
							 table, idcol),
					3, argtypes, values, NULL, false, 0),
				SPI_OK_DELETE, "deleting a grant");
	}

	/* every backend drops its cached copy of this queue at commit */
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);

	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
}

/*
 * The body of sq_set_queue_owner and sn_set_topic_owner: the owner, a
 * superuser or a member of sqsn_admin hands the queue or topic to another
 * role (a grant of admin is not enough).
 */
static void
set_owner(FunctionCallInfo fcinfo, bool topic)
{
	char       *new_owner = grantee_arg(fcinfo, 1, false);
	Oid         roleid = GetOuterUserId();
	int         nestlevel;
	char       *name;
	int64       id;
	SqsnQueue  *queue;
	Oid         relid = InvalidOid;
	Datum       values[2];
	char       *owner;
	Oid         owner_oid;
	const char *kind = topic ? "topic" : "queue";

	nestlevel = sqsn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	queue = open_for_change(fcinfo, topic, &name, &id);
	if (queue)
		relid = queue->relid;

	values[0] = Int64GetDatum(id);
	sqsn_spi_check(
		SPI_execute_with_args(
			topic ? "SELECT owner::text FROM sqsn.topic WHERE topic_id = $1"
				  : "SELECT owner::text FROM sqsn.queue WHERE queue_id = $1",
			1, (Oid[]){INT8OID}, values, NULL, false, 1),
		SPI_OK_SELECT, "reading the owner");
	owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	owner_oid = get_role_oid(owner, true);
	if (!(OidIsValid(owner_oid) && has_privs_of_role(roleid, owner_oid)) &&
		!sqsn_is_admin(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to change the owner of %s \"%s\"",
						kind, name),
				 errdetail("Only the owner (\"%s\"), a superuser or a member "
						   "of sqsn_admin can hand a %s to another role.",
						   owner, kind)));

	values[1] = DirectFunctionCall1(namein, CStringGetDatum(new_owner));
	sqsn_spi_check(
		SPI_execute_with_args(
			topic ? "UPDATE sqsn.topic SET owner = $2 WHERE topic_id = $1"
				  : "UPDATE sqsn.queue SET owner = $2,"
					" last_modified_at = clock_timestamp()"
					" WHERE queue_id = $1",
			2, (Oid[]){INT8OID, NAMEOID}, values, NULL, false, 0),
		SPI_OK_UPDATE, "changing the owner");
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);

	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
}

/*
 * sq_grant(queue_name, role, actions): allows role (or PUBLIC) the actions
 * (send, receive, admin) on the queue. Granting again changes nothing.
 */
Datum
sq_grant(PG_FUNCTION_ARGS)
{
	change_grants(fcinfo, false, true);
	PG_RETURN_VOID();
}

/*
 * sq_revoke(queue_name, role, actions): takes back grants; revoking what
 * was never granted changes nothing. Takes effect at the next statement of
 * every session.
 */
Datum
sq_revoke(PG_FUNCTION_ARGS)
{
	change_grants(fcinfo, false, false);
	PG_RETURN_VOID();
}

/*
 * sq_set_queue_owner(queue_name, new_owner)
 */
Datum
sq_set_queue_owner(PG_FUNCTION_ARGS)
{
	set_owner(fcinfo, false);
	PG_RETURN_VOID();
}

/*
 * sn_grant(topic_name, role, actions): publish, subscribe, admin.
 */
Datum
sn_grant(PG_FUNCTION_ARGS)
{
	change_grants(fcinfo, true, true);
	PG_RETURN_VOID();
}

Datum
sn_revoke(PG_FUNCTION_ARGS)
{
	change_grants(fcinfo, true, false);
	PG_RETURN_VOID();
}

Datum
sn_set_topic_owner(PG_FUNCTION_ARGS)
{
	set_owner(fcinfo, true);
	PG_RETURN_VOID();
}

/*
 * The name of the calling role, for the owner column of what it creates.
 */
char *
sqsn_caller_name(void)
{
	return role_name(GetOuterUserId());
}
