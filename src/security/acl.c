/*-------------------------------------------------------------------------
 *
 * acl.c
 *	  Access policies: who may send to, receive from and administer each
 *	  queue, and publish to, subscribe to and administer each topic
 *	  (sqsn.queue_grant, sqsn.topic_grant), the checks every function makes
 *	  before it does any work, and the body of the grant API (sq_grant,
 *	  sq_revoke, sq_set_queue_owner in queue/admin.c and their topic
 *	  counterparts in topic/topic.c).
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
 * Queues: the owner and the grants (an SqsnAcl) are part of the per-backend
 * queue cache entry (queue/cache.c), read together with the queue's
 * settings, so the hot
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
 * docs/security.md, "Access policies").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "security/security.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"

static const char *const queue_action_names[] = {"send", "receive", "admin"};
static const char *const topic_action_names[] = {"publish", "subscribe",
												 "admin"};

/* Statements on the grant catalogs, run by sqsn_execute */

static SqsnStatement queue_grants_stmt = {
	"SELECT g.grantee::pg_catalog.text, g.action FROM sqsn.queue_grant g"
	" WHERE g.queue_id OPERATOR(pg_catalog.=) $1",
	1,
	{INT8OID},
	SPI_OK_SELECT,
	"reading sqsn.queue_grant"};

static SqsnStatement topic_grants_stmt = {
	"SELECT t.owner::pg_catalog.text, g.grantee::pg_catalog.text"
	" FROM sqsn.topic t LEFT JOIN sqsn.topic_grant g"
	"  ON g.topic_id OPERATOR(pg_catalog.=) t.topic_id"
	"  AND g.action OPERATOR(pg_catalog.=) $2"
	" WHERE t.topic_id OPERATOR(pg_catalog.=) $1",
	2,
	{INT8OID, TEXTOID},
	SPI_OK_SELECT,
	"reading sqsn.topic_grant"};

static bool  role_matches(Oid roleid, const char *grantee);
static char *role_name(Oid roleid);
static int   action_bit(const char *action, bool topic);
static int   actions_arg(FunctionCallInfo fcinfo, int argno, bool topic);
static char *grantee_arg(FunctionCallInfo fcinfo, int argno,
						 bool allow_public);

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
 * Whether roleid has the privileges of the role named owner (a role that
 * no longer exists owns nothing).
 */
bool
sqsn_role_owns(const char *owner, Oid roleid)
{
	Oid owner_oid = owner ? get_role_oid(owner, true) : InvalidOid;

	return OidIsValid(owner_oid) && has_privs_of_role(roleid, owner_oid);
}

/*
 * Whether a grant to grantee (a role name, or "public") applies to roleid.
 */
static bool
role_matches(Oid roleid, const char *grantee)
{
	return strcmp(grantee, "public") == 0 || sqsn_role_owns(grantee, roleid);
}

static char *
role_name(Oid roleid)
{
	return GetUserNameFromId(roleid, false);
}

/*
 * The name of the calling role, for the owner column of what it creates.
 */
char *
sqsn_caller_name(void)
{
	return role_name(GetOuterUserId());
}

/*
 * Makes the calling role (SET ROLE included) the owner of what a function
 * has just created: stmt is its "UPDATE ... SET owner = $2 WHERE <key> =
 * $1", key the new row's key. Nothing before the catalog has grants (0.3).
 */
void
sqsn_set_caller_owner(SqsnStatement *stmt, Datum key)
{
	Datum values[2];

	if (!sqsn_catalog_has(SQSN_CATALOG_GRANTS))
		return;
	values[0] = key;
	values[1] =
		DirectFunctionCall1(namein, CStringGetDatum(sqsn_caller_name()));
	sqsn_execute(stmt, values, NULL, 0);
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

/* The bit of an action name, or 0 when there is no such action. */
static int
action_bit(const char *action, bool topic)
{
	const char *const *names = topic ? topic_action_names : queue_action_names;

	for (int b = 0; b < 3; b++)
		if (strcmp(action, names[b]) == 0)
			return 1 << b;
	return 0;
}

/*
 * Reads the grants of a queue into *acl, in memory context cxt; owner is
 * the queue's owner column. Called when the queue cache reads a queue's
 * row. Requires SPI; replaces SPI_tuptable.
 */
void
sqsn_acl_load(SqsnAcl *acl, int64 queue_id, const char *owner,
			  MemoryContext cxt)
{
	Datum         value = Int64GetDatum(queue_id);
	MemoryContext oldcxt;

	acl->owner = owner ? get_role_oid(owner, true) : InvalidOid;
	acl->ngrants = 0;
	acl->grants = NULL;
	acl->enforced = sqsn_catalog_has(SQSN_CATALOG_GRANTS);
	if (!acl->enforced)
		return;

	if (sqsn_execute(&queue_grants_stmt, &value, NULL, 0) == 0)
		return;

	oldcxt = MemoryContextSwitchTo(cxt);
	acl->grants = palloc0(sizeof(SqsnGrant) * SPI_processed);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char *grantee =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char *action =
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		SqsnGrant *g = &acl->grants[acl->ngrants];
		int        bit = action_bit(action, false);

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
		acl->ngrants++;
	}
	MemoryContextSwitchTo(oldcxt);
}

/* Frees what sqsn_acl_load allocated. */
void
sqsn_acl_free(SqsnAcl *acl)
{
	if (acl->grants)
		pfree(acl->grants);
	acl->grants = NULL;
	acl->ngrants = 0;
}

/*
 * Whether roleid may do action (SQSN_SEND, ...; SQSN_ANY_ACTION: any of
 * them) under the ACL. No query: the ACL holds the owner and the grants.
 */
bool
sqsn_acl_allows(const SqsnAcl *acl, Oid roleid, int action)
{
	if (!acl->enforced)
		return true;
	if (OidIsValid(acl->owner) && has_privs_of_role(roleid, acl->owner))
		return true;
	for (int i = 0; i < acl->ngrants; i++)
	{
		const SqsnGrant *g = &acl->grants[i];

		if ((g->actions & action) != 0 &&
			(!OidIsValid(g->grantee) || has_privs_of_role(roleid, g->grantee)))
			return true;
	}
	return sqsn_is_admin(roleid);
}

/*
 * Errors with 42501 unless the calling role may do action on the queue
 * named queue_name, whose ACL acl is.
 */
void
sqsn_acl_check(const SqsnAcl *acl, const char *queue_name, int action)
{
	Oid         roleid = GetOuterUserId();
	const char *what;

	if (sqsn_acl_allows(acl, roleid, action))
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
		 errmsg("permission denied to %s queue \"%s\"", what, queue_name),
		 action == SQSN_ANY_ACTION
			 ? errdetail("Role \"%s\" has no grant on the queue.",
						 role_name(roleid))
			 : errdetail("Role \"%s\" lacks the action \"%s\" on the queue.",
						 role_name(roleid), sqsn_action_name(action, false)),
		 errhint("The queue's owner or a member of sqsn_admin can grant "
				 "it with sqsn.sq_grant('%s', '%s', '{%s}').",
				 queue_name, role_name(roleid),
				 action == SQSN_ANY_ACTION
					 ? "send"
					 : sqsn_action_name(action, false))));
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

	if (!sqsn_catalog_has(SQSN_CATALOG_GRANTS))
		return true;
	values[0] = Int64GetDatum(topic_id);
	values[1] = CStringGetTextDatum(sqsn_action_name(action, true));
	if (sqsn_execute(&topic_grants_stmt, values, NULL, 0) == 0)
		return sqsn_is_admin(roleid);

	if (sqsn_role_owns(
			SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1),
			roleid))
		return true;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		(void) SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2,
							 &isnull);
		if (!isnull &&
			role_matches(roleid, SPI_getvalue(SPI_tuptable->vals[i],
											  SPI_tuptable->tupdesc, 2)))
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
 * The actions argument: a non-empty array of action names without NULLs;
 * returns the bits.
 */
static int
actions_arg(FunctionCallInfo fcinfo, int argno, bool topic)
{
	const char *hint = topic
						   ? "The topic actions are publish, subscribe and "
							 "admin."
						   : "The queue actions are send, receive and admin.";
	Datum      *elems;
	bool       *nulls;
	int         n;
	int         bits = 0;

	if (PG_ARGISNULL(argno))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("actions must not be NULL")));
	n = sqsn_array_arg(fcinfo, argno, "actions", TEXTOID, &elems, &nulls);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("actions must not be empty"), errhint("%s", hint)));
	for (int i = 0; i < n; i++)
	{
		char *action;
		int   bit;

		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("actions must not contain NULL")));
		action = TextDatumGetCString(elems[i]);
		bit = action_bit(action, topic);
		if (bit == 0)
			ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							errmsg("unknown %s action \"%s\"",
								   topic ? "topic" : "queue", action),
							errhint("%s", hint)));
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
 * Reads argument 0, the name of the queue or topic, and opens it for a
 * change of its grants or owner. Requires SPI.
 */
static void
open_target(FunctionCallInfo fcinfo, bool topic, SqsnOpenForChange open,
			SqsnSecurable *target)
{
	memset(target, 0, sizeof(*target));
	target->topic = topic;
	target->name =
		sqsn_text_arg(fcinfo, 0, topic ? "topic_name" : "queue_name");
	target->relid = InvalidOid;
	open(target);
}

/*
 * The body of sq_grant, sq_revoke, sn_grant and sn_revoke: arguments
 * (name, role, actions). open finds and locks the queue or topic and
 * checks that the caller administers it. Grants made from a Policy
 * (policy.c) are separate rows, which these never change.
 */
void
sqsn_change_grants(FunctionCallInfo fcinfo, bool topic, bool grant,
				   SqsnOpenForChange open)
{
	char         *grantee = grantee_arg(fcinfo, 1, true);
	int           bits = actions_arg(fcinfo, 2, topic);
	int           nestlevel;
	SqsnSecurable target;
	const char   *table = topic ? "sqsn.topic_grant" : "sqsn.queue_grant";
	const char   *idcol = topic ? "topic_id" : "queue_id";
	bool          policy_grants;

	nestlevel = sqsn_admin_begin();
	policy_grants = sqsn_catalog_has(SQSN_CATALOG_POLICY_GRANTS);
	if (!sqsn_catalog_has(SQSN_CATALOG_GRANTS))
		ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						errmsg("grants need version 0.3 of extension sqsn"),
						errhint("Run ALTER EXTENSION sqsn UPDATE.")));
	open_target(fcinfo, topic, open, &target);

	for (int b = 0; b < 3; b++)
	{
		Oid   argtypes[4] = {INT8OID, NAMEOID, TEXTOID, NAMEOID};
		Datum values[4];

		if ((bits & (1 << b)) == 0)
			continue;
		values[0] = Int64GetDatum(target.id);
		values[1] = DirectFunctionCall1(namein, CStringGetDatum(grantee));
		values[2] = CStringGetTextDatum(sqsn_action_name(1 << b, topic));
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
		else if (!policy_grants)
			sqsn_spi_check(
				SPI_execute_with_args(
					psprintf("DELETE FROM %s WHERE %s = $1 AND grantee = $2"
							 " AND action = $3",
							 table, idcol),
					3, argtypes, values, NULL, false, 0),
				SPI_OK_DELETE, "deleting a grant");
		else
		{
			/* the Policy's grant of the same stays: say so */
			sqsn_spi_check(
				SPI_execute_with_args(
					psprintf("WITH revoked AS (DELETE FROM %s WHERE %s = $1"
							 " AND grantee = $2 AND action = $3"
							 " AND NOT from_policy)"
							 " SELECT EXISTS (SELECT FROM %s WHERE %s = $1"
							 " AND grantee = $2 AND action = $3"
							 " AND from_policy)",
							 table, idcol, table, idcol),
					3, argtypes, values, NULL, false, 1),
				SPI_OK_SELECT, "deleting a grant");
			if (sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))
				ereport(NOTICE,
						(errmsg("\"%s\" keeps the action \"%s\" on %s \"%s\" "
								"through its Policy",
								grantee, sqsn_action_name(1 << b, topic),
								topic ? "topic" : "queue", target.name),
						 errhint("Grants made from the Policy attribute "
								 "change with it; set the Policy without "
								 "this grant to take it back.")));
		}
	}

	/* every backend drops its cached copy of this queue at commit */
	if (OidIsValid(target.relid))
		CacheInvalidateRelcacheByRelid(target.relid);

	sqsn_admin_end(nestlevel);
}

/*
 * The body of sq_set_queue_owner and sn_set_topic_owner: arguments (name,
 * new_owner). The owner, a superuser or a member of sqsn_admin hands the
 * queue or topic to another role (a grant of admin is not enough).
 */
void
sqsn_change_owner(FunctionCallInfo fcinfo, bool topic, SqsnOpenForChange open)
{
	char         *new_owner = grantee_arg(fcinfo, 1, false);
	Oid           roleid = GetOuterUserId();
	int           nestlevel;
	SqsnSecurable target;
	Datum         values[2];
	char         *owner;
	const char   *kind = topic ? "topic" : "queue";

	nestlevel = sqsn_admin_begin();
	open_target(fcinfo, topic, open, &target);

	values[0] = Int64GetDatum(target.id);
	sqsn_spi_check(
		SPI_execute_with_args(
			topic ? "SELECT owner::text FROM sqsn.topic WHERE topic_id = $1"
				  : "SELECT owner::text FROM sqsn.queue WHERE queue_id = $1",
			1, (Oid[]){INT8OID}, values, NULL, false, 1),
		SPI_OK_SELECT, "reading the owner");
	owner = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (!sqsn_role_owns(owner, roleid) && !sqsn_is_admin(roleid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to change the owner of %s \"%s\"",
						kind, target.name),
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
	if (OidIsValid(target.relid))
		CacheInvalidateRelcacheByRelid(target.relid);

	sqsn_admin_end(nestlevel);
}
