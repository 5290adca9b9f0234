/*-------------------------------------------------------------------------
 *
 * policy.c
 *	  The Policy attribute of queues and topics, evaluated into grants:
 *	  each statement of the access policy document becomes grants of
 *	  sqsn.queue_grant / sqsn.topic_grant marked from_policy, or is refused.
 *
 * sqsn decides access with grants (acl.c): a role, or PUBLIC, may do an
 * action (send, receive, admin; publish, subscribe, admin). A policy
 * statement is honoured when it says exactly that: Effect Allow, a
 * Principal that names roles, Actions that make up whole grants, and a
 * Resource that is the queue or topic itself. Anything a grant cannot
 * express (Deny, NotPrincipal, conditions, other accounts, an action set
 * that covers part of a grant whose other actions it would let through) is
 * refused with 22023, naming the statement and the reason, before anything
 * changes. docs/security.md, "Policy documents", has the mapping table.
 *
 * One statement is accepted without a grant: the one every tool writes so
 * that a topic may deliver to a queue (sqs:SendMessage for the SNS service
 * principal under an aws:SourceArn condition). In sqsn a subscription
 * delivers while its owner may send to the queue, so it needs none.
 *
 * Grants made from a policy are replaced as a whole whenever the Policy is
 * set (removed with it); grants made with sq_grant/sn_grant are separate
 * rows that a policy never touches.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "security/security.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"

/* How the actions of one grant must appear in a statement to make it */
#define CORE     0x01 /* any one of the grant's core actions makes it */
#define REQUIRED 0x02 /* the grant needs every one of its REQUIRED actions */

typedef struct PolicyAction
{
	const char *name;  /* without the service prefix */
	int         grant; /* SQSN_SEND, ...; 0: allowed by any grant */
	int         flags;
} PolicyAction;

/*
 * The actions on one queue: send and receive are made by their core
 * actions (the others act on what those give: a batch of sends, receipt
 * handles); admin needs all of its actions, since each alone would let the
 * others through.
 */
static const PolicyAction queue_actions[] = {
	{"SendMessage", SQSN_SEND, CORE},
	{"SendMessageBatch", SQSN_SEND, CORE},
	{"ReceiveMessage", SQSN_RECEIVE, CORE},
	{"DeleteMessage", SQSN_RECEIVE, 0},
	{"DeleteMessageBatch", SQSN_RECEIVE, 0},
	{"ChangeMessageVisibility", SQSN_RECEIVE, 0},
	{"ChangeMessageVisibilityBatch", SQSN_RECEIVE, 0},
	{"SetQueueAttributes", SQSN_ADMIN, REQUIRED},
	{"PurgeQueue", SQSN_ADMIN, REQUIRED},
	{"DeleteQueue", SQSN_ADMIN, REQUIRED},
	{"AddPermission", SQSN_ADMIN, REQUIRED},
	{"RemovePermission", SQSN_ADMIN, REQUIRED},
	{"TagQueue", SQSN_ADMIN, REQUIRED},
	{"UntagQueue", SQSN_ADMIN, REQUIRED},
	{"StartMessageMoveTask", SQSN_ADMIN, REQUIRED},
	{"CancelMessageMoveTask", SQSN_ADMIN, REQUIRED},
	{"GetQueueAttributes", 0, 0},
	{"GetQueueUrl", 0, 0},
	{"ListQueueTags", 0, 0},
	{"ListDeadLetterSourceQueues", 0, 0},
	{"ListMessageMoveTasks", 0, 0},
};

static const PolicyAction topic_actions[] = {
	{"Publish", SQSN_PUBLISH, CORE},
	{"Subscribe", SQSN_SUBSCRIBE, CORE},
	{"Receive", SQSN_SUBSCRIBE, 0},
	{"SetTopicAttributes", SQSN_ADMIN, REQUIRED},
	{"DeleteTopic", SQSN_ADMIN, REQUIRED},
	{"AddPermission", SQSN_ADMIN, REQUIRED},
	{"RemovePermission", SQSN_ADMIN, REQUIRED},
	{"TagResource", SQSN_ADMIN, REQUIRED},
	{"UntagResource", SQSN_ADMIN, REQUIRED},
	{"GetTopicAttributes", 0, 0},
	{"ListSubscriptionsByTopic", 0, 0},
	{"ListTagsForResource", 0, 0},
};

#define MAX_POLICY_ACTIONS lengthof(queue_actions)

/* What is evaluated: one queue's or one topic's policy */
typedef struct PolicyTarget
{
	bool                topic;
	const char         *kind; /* "queue" or "topic" */
	const char         *arn;
	const PolicyAction *actions;
	int                 nactions;
	char               *label; /* the statement: "Sid" or its number */
} PolicyTarget;

/* Statements on sqsn's catalogs, run by sqsn_execute */

static SqsnStatement key_role_stmt = {
	"SELECT c.role::pg_catalog.text FROM sqsn.api_credentials c"
	" WHERE c.access_key_id OPERATOR(pg_catalog.=) $1",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading sqsn.api_credentials"};

static SqsnStatement delete_stmts[2] = {
	{"DELETE FROM sqsn.queue_grant WHERE queue_id OPERATOR(pg_catalog.=) $1"
	 " AND from_policy",
	 1,
	 {INT8OID},
	 SPI_OK_DELETE,
	 "deleting the grants of a policy"},
	{"DELETE FROM sqsn.topic_grant WHERE topic_id OPERATOR(pg_catalog.=) $1"
	 " AND from_policy",
	 1,
	 {INT8OID},
	 SPI_OK_DELETE,
	 "deleting the grants of a policy"},
};

static SqsnStatement insert_stmts[2] = {
	{"INSERT INTO sqsn.queue_grant (queue_id, grantee, action, granted_by,"
	 " granted_at, from_policy)"
	 " VALUES ($1, $2, $3, $4, pg_catalog.clock_timestamp(), true)",
	 4,
	 {INT8OID, NAMEOID, TEXTOID, NAMEOID},
	 SPI_OK_INSERT,
	 "inserting the grants of a policy"},
	{"INSERT INTO sqsn.topic_grant (topic_id, grantee, action, granted_by,"
	 " granted_at, from_policy)"
	 " VALUES ($1, $2, $3, $4, pg_catalog.clock_timestamp(), true)",
	 4,
	 {INT8OID, NAMEOID, TEXTOID, NAMEOID},
	 SPI_OK_INSERT,
	 "inserting the grants of a policy"},
};

pg_noreturn static void refuse(const PolicyTarget *t, const char *reason,
							   const char *detail);
static bool  wildcard_match(const char *pattern, const char *s, bool nocase);
static List *string_values(const PolicyTarget *t, JsonbValue *v,
						   const char *key);
static int   statement_actions(const PolicyTarget *t, JsonbValue *v,
							   bool *matched);
static int   grants_of_actions(const PolicyTarget *t, const bool *matched);
static void  check_resource(const PolicyTarget *t, JsonbValue *v);
static List *principal_grantees(const PolicyTarget *t, JsonbValue *v,
								bool *service, bool *anyone);
static char *aws_principal_role(const PolicyTarget *t, const char *p);
static void  check_delivery_condition(const PolicyTarget *t, JsonbValue *v);
static List *add_grant(List *grants, const char *grantee, int actions);

/*
 * Errors with 22023: the statement of t cannot be honoured (reason names
 * why; detail, if any, says what would be).
 */
static void
refuse(const PolicyTarget *t, const char *reason, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for %s attribute Policy: statement %s: %s",
					t->kind, t->label, reason),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("A policy statement becomes grants: Effect Allow, a "
					 "Principal of access keys, roles or \"*\", actions "
					 "that make whole grants and this %s as the Resource.",
					 t->kind)));
}

/* Whether s matches pattern, where * is any run of characters and ? one. */
static bool
wildcard_match(const char *pattern, const char *s, bool nocase)
{
	for (; *pattern != '\0'; pattern++, s++)
	{
		if (*pattern == '*')
		{
			for (;; s++)
			{
				if (wildcard_match(pattern + 1, s, nocase))
					return true;
				if (*s == '\0')
					return false;
			}
		}
		if (*s == '\0')
			return false;
		if (*pattern != '?' &&
			(nocase ? pg_tolower((unsigned char) *pattern) !=
						  pg_tolower((unsigned char) *s)
					: *pattern != *s))
			return false;
	}
	return *s == '\0';
}

/* A string, or a non-empty array of strings, as a list of C strings. */
static List *
string_values(const PolicyTarget *t, JsonbValue *v, const char *key)
{
	List *result = NIL;

	if (v->type == jbvString)
		return list_make1(sqsn_jsonb_string(v));
	if (sqsn_jsonb_is_array(v))
	{
		int n = JsonContainerSize(v->val.binary.data);

		for (int i = 0; i < n; i++)
		{
			JsonbValue *e =
				getIthJsonbValueFromContainer(v->val.binary.data, i);

			if (e->type != jbvString)
				break;
			result = lappend(result, sqsn_jsonb_string(e));
		}
		if (n > 0 && list_length(result) == n)
			return result;
	}
	refuse(t, psprintf("%s must be a string or an array of strings", key),
		   NULL);
}

/*
 * Marks in matched the known actions an Action value names ("sqs:Send*",
 * "*", ...; case-insensitive) and returns how many it named; an action
 * that names none of them is refused.
 */
static int
statement_actions(const PolicyTarget *t, JsonbValue *v, bool *matched)
{
	const char *service = t->topic ? "sns" : "sqs";
	List       *names = string_values(t, v, "Action");
	ListCell   *lc;
	int         count = 0;

	foreach (lc, names)
	{
		char *action = lfirst(lc);
		char *colon = strchr(action, ':');
		char *pattern;
		bool  any = false;

		if (strcmp(action, "*") == 0)
			pattern = "*";
		else if (colon != NULL && colon - action == 3 &&
				 pg_strncasecmp(action, service, 3) == 0)
			pattern = colon + 1;
		else
			refuse(
				t,
				psprintf("action \"%s\" is not a %s action", action, t->kind),
				psprintf("%s actions are written \"%s:Name\".",
						 t->topic ? "Topic" : "Queue", service));
		for (int i = 0; i < t->nactions; i++)
			if (wildcard_match(pattern, t->actions[i].name, true))
			{
				count += matched[i] ? 0 : 1;
				matched[i] = any = true;
			}
		if (!any)
			refuse(t,
				   psprintf("action \"%s\" is not an action on a %s", action,
							t->kind),
				   NULL);
	}
	return count;
}

/*
 * The grants (SQSN_SEND, ...) the matched actions make; refuses a set that
 * covers part of a grant whose other actions it would let through.
 */
static int
grants_of_actions(const PolicyTarget *t, const bool *matched)
{
	int grants = 0;

	for (int bit = 1; bit <= SQSN_ADMIN; bit <<= 1)
	{
		bool        some = false;
		bool        core = false;
		const char *missing = NULL; /* the first action it would add */

		for (int i = 0; i < t->nactions; i++)
		{
			const PolicyAction *a = &t->actions[i];

			if (a->grant != bit)
				continue;
			some |= matched[i];
			core |= (a->flags & CORE) && matched[i];
			if (!matched[i] && missing == NULL &&
				(a->flags & (CORE | REQUIRED)))
				missing = a->name;
		}
		if (!some)
			continue;
		if (bit == SQSN_ADMIN ? missing != NULL : !core)
			refuse(
				t,
				psprintf("its actions cover part of the grant \"%s\"",
						 sqsn_action_name(bit, t->topic)),
				psprintf("The grant \"%s\" would also allow %s:%s, which the "
						 "statement does not; %s.",
						 sqsn_action_name(bit, t->topic),
						 t->topic ? "sns" : "sqs", missing,
						 bit == SQSN_ADMIN
							 ? "administering needs every administrative "
							   "action (e.g. a wildcard)"
							 : "add it to the statement's Action"));
		grants |= bit;
	}
	return grants;
}

/* The Resource must be this queue or topic: its ARN, "*" or a pattern. */
static void
check_resource(const PolicyTarget *t, JsonbValue *v)
{
	ListCell *lc;

	foreach (lc, string_values(t, v, "Resource"))
	{
		char *resource = lfirst(lc);

		if (!wildcard_match(resource, t->arn, false))
			refuse(
				t,
				psprintf("Resource \"%s\" is not this %s", resource, t->kind),
				psprintf("The %s's ARN is %s.", t->kind, t->arn));
	}
}

/*
 * The role an AWS principal names: an access key id of
 * sqsn.api_credentials, or an IAM user or role ARN of sqsn's account
 * naming a PostgreSQL role; NULL for "*" (PUBLIC).
 */
static char *
aws_principal_role(const PolicyTarget *t, const char *p)
{
	char *account;
	char *rest;
	char *name;

	if (strcmp(p, "*") == 0)
		return NULL;
	if (strncmp(p, "arn:aws:iam::", 13) == 0)
	{
		account = pstrdup(p + 13);
		rest = strchr(account, ':');
		if (rest == NULL)
			refuse(t, psprintf("principal \"%s\" is not a user or role", p),
				   NULL);
		*rest++ = '\0';
		if (strcmp(account, sqsn_account_id()) != 0)
			refuse(t,
				   psprintf("principal \"%s\" belongs to another account", p),
				   psprintf("sqsn's account is %s (sqsn.api_account_id).",
							sqsn_account_id()));
		if (strncmp(rest, "user/", 5) != 0 && strncmp(rest, "role/", 5) != 0)
			refuse(t, psprintf("principal \"%s\" is not a user or role", p),
				   "Principals are access key ids, "
				   "arn:aws:iam::<account>:user/<role> or :role/<role>, "
				   "and \"*\".");
		/* a path (user/path/name) ends in the name */
		name = strrchr(rest, '/') + 1;
		if (*name == '\0' || !OidIsValid(get_role_oid(name, true)))
			refuse(t, psprintf("role \"%s\" does not exist", name), NULL);
		return pstrdup(name);
	}
	if (strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == strlen(p) &&
		strlen(p) >= 16)
	{
		Datum value = CStringGetTextDatum(p);

		if (sqsn_execute(&key_role_stmt, &value, NULL, 1) == 0)
			refuse(t, psprintf("access key \"%s\" does not exist", p), NULL);
		name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		if (!OidIsValid(get_role_oid(name, true)))
			refuse(t,
				   psprintf("the role \"%s\" of access key \"%s\" does not "
							"exist",
							name, p),
				   NULL);
		return name;
	}
	refuse(t,
		   psprintf("principal \"%s\" is not an access key, user or role", p),
		   "Principals are access key ids, "
		   "arn:aws:iam::<account>:user/<role> or :role/<role>, and \"*\".");
}

/*
 * The grantees ("public" or role names) of a Principal; *service: it names
 * the SNS service (allowed only in the delivery statement), *anyone: "*".
 */
static List *
principal_grantees(const PolicyTarget *t, JsonbValue *v, bool *service,
				   bool *anyone)
{
	List          *grantees = NIL;
	JsonbIterator *it;
	JsonbValue     value;
	char          *key = NULL;

	*service = *anyone = false;
	if (v->type == jbvString)
	{
		if (strcmp(sqsn_jsonb_string(v), "*") != 0)
			refuse(t, "a Principal string must be \"*\"",
				   "Write {\"AWS\": ...} to name access keys or roles.");
		*anyone = true;
		return list_make1("public");
	}
	if (!sqsn_jsonb_is_object(v))
		refuse(t, "Principal must be \"*\" or an object", NULL);

	it = JsonbIteratorInit(v->val.binary.data);
	while (sqsn_jsonb_next_pair(&it, &key, &value))
	{
		ListCell *lc;

		if (strcmp(key, "AWS") == 0)
		{
			foreach (lc, string_values(t, &value, "Principal.AWS"))
			{
				char *role = aws_principal_role(t, lfirst(lc));

				*anyone |= (role == NULL);
				grantees = lappend(grantees, role ? role : "public");
			}
		}
		else if (strcmp(key, "Service") == 0)
		{
			foreach (lc, string_values(t, &value, "Principal.Service"))
				if (strcmp(lfirst(lc), "sns.amazonaws.com") != 0 || t->topic)
					refuse(t,
						   psprintf("service principal \"%s\" cannot be "
									"honoured",
									(char *) lfirst(lc)),
						   "The only service principal sqsn accepts is "
						   "sns.amazonaws.com sending to a queue under an "
						   "aws:SourceArn condition.");
			*service = true;
		}
		else
			refuse(t,
				   psprintf("principal type \"%s\" cannot be honoured", key),
				   "Principals are {\"AWS\": ...} and \"*\".");
	}
	if (grantees == NIL && !*service)
		refuse(t, "Principal names no one", NULL);
	return grantees;
}

/*
 * The Condition of a topic's delivery to a queue: {"ArnEquals" or
 * "ArnLike": {"aws:SourceArn": topic ARN(s)}}, nothing else.
 */
static void
check_delivery_condition(const PolicyTarget *t, JsonbValue *v)
{
	JsonbIterator *it;
	JsonbValue     value;
	char          *op = NULL;
	int            nops = 0;

	if (!sqsn_jsonb_is_object(v))
		refuse(t, "Condition must be an object", NULL);
	it = JsonbIteratorInit(v->val.binary.data);
	while (sqsn_jsonb_next_pair(&it, &op, &value))
	{
		JsonbIterator *inner;
		JsonbValue     arns;
		char          *key = NULL;
		int            nkeys = 0;
		ListCell      *lc;

		nops++;
		if ((strcmp(op, "ArnEquals") != 0 && strcmp(op, "ArnLike") != 0) ||
			!sqsn_jsonb_is_object(&value))
			refuse(t, psprintf("condition \"%s\" cannot be honoured", op),
				   "The only condition sqsn accepts is ArnEquals or ArnLike "
				   "on aws:SourceArn naming a topic, for a topic's "
				   "delivery to the queue.");
		inner = JsonbIteratorInit(value.val.binary.data);
		while (sqsn_jsonb_next_pair(&inner, &key, &arns))
		{
			nkeys++;
			if (pg_strcasecmp(key, "aws:SourceArn") != 0)
				refuse(
					t,
					psprintf("condition key \"%s\" cannot be honoured", key),
					"The only condition key sqsn accepts is "
					"aws:SourceArn, naming a topic.");
			foreach (lc, string_values(t, &arns, "aws:SourceArn"))
				if (strncmp(lfirst(lc), "arn:aws:sns:", 12) != 0)
					refuse(t,
						   psprintf("aws:SourceArn \"%s\" is not a topic ARN",
									(char *) lfirst(lc)),
						   NULL);
		}
		if (nkeys == 0)
			refuse(t, psprintf("condition \"%s\" is empty", op), NULL);
	}
	if (nops == 0)
		refuse(t, "Condition is empty", NULL);
}

/* grants with actions added for grantee */
static List *
add_grant(List *grants, const char *grantee, int actions)
{
	ListCell        *lc;
	SqsnPolicyGrant *g;

	foreach (lc, grants)
	{
		g = lfirst(lc);
		if (strcmp(g->grantee, grantee) == 0)
		{
			g->actions |= actions;
			return grants;
		}
	}
	g = palloc(sizeof(SqsnPolicyGrant));
	g->grantee = pstrdup(grantee);
	g->actions = actions;
	return lappend(grants, g);
}

/*
 * The grants a policy document makes on the queue or topic called name: a
 * list of SqsnPolicyGrant, one per grantee ("public" or a role name).
 * Errors with 22023 on the first statement that cannot be honoured.
 * Requires SPI (access keys are looked up).
 */
List *
sqsn_policy_grants(Jsonb *policy, bool topic, const char *name)
{
	PolicyTarget t;
	JsonbValue  *statements;
	List        *grants = NIL;
	int          n;
	bool         single;

	t.topic = topic;
	t.kind = topic ? "topic" : "queue";
	t.arn = topic ? sqsn_topic_arn(name) : sqsn_queue_arn(name);
	t.actions = topic ? topic_actions : queue_actions;
	t.nactions = topic ? lengthof(topic_actions) : lengthof(queue_actions);

	statements =
		getKeyJsonValueFromContainer(&policy->root, "Statement", 9, NULL);
	if (statements == NULL || statements->type != jbvBinary)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for %s attribute Policy", t.kind),
				 errdetail("A policy needs a Statement: an object or an "
						   "array of them.")));
	single = JsonContainerIsObject(statements->val.binary.data);
	n = single ? 1 : JsonContainerSize(statements->val.binary.data);

	for (int i = 0; i < n; i++)
	{
		JsonbValue    *s;
		JsonbValue    *sid;
		JsonbIterator *it;
		JsonbValue     v;
		char          *key = NULL;
		bool           effect = false;
		bool           has_action = false;
		bool           service = false;
		bool           anyone = false;
		JsonbValue    *condition = NULL;
		List          *grantees = NIL;
		bool           matched[MAX_POLICY_ACTIONS] = {0};
		int            bits;
		ListCell      *lc;

		if (single)
		{
			s = palloc(sizeof(JsonbValue));
			s->type = jbvBinary;
			s->val.binary.data = statements->val.binary.data;
			s->val.binary.len = 0;
		}
		else
			s = getIthJsonbValueFromContainer(statements->val.binary.data, i);
		t.label = psprintf("%d", i + 1);
		if (!sqsn_jsonb_is_object(s))
			refuse(&t, "a statement must be an object", NULL);
		sid = getKeyJsonValueFromContainer(s->val.binary.data, "Sid", 3, NULL);
		if (sid != NULL && sid->type == jbvString && sid->val.string.len > 0)
			t.label = psprintf("\"%s\"", sqsn_jsonb_string(sid));

		it = JsonbIteratorInit(s->val.binary.data);
		while (sqsn_jsonb_next_pair(&it, &key, &v))
		{
			if (strcmp(key, "Sid") == 0)
				continue;
			else if (strcmp(key, "Effect") == 0)
			{
				if (v.type != jbvString)
					refuse(&t, "Effect must be \"Allow\"", NULL);
				if (strcmp(sqsn_jsonb_string(&v), "Allow") != 0)
					refuse(&t,
						   psprintf("Effect \"%s\" cannot be honoured",
									sqsn_jsonb_string(&v)),
						   "Grants only allow: a statement maps to grants "
						   "when its Effect is Allow.");
				effect = true;
			}
			else if (strcmp(key, "Principal") == 0)
				grantees = principal_grantees(&t, &v, &service, &anyone);
			else if (strcmp(key, "Action") == 0)
			{
				statement_actions(&t, &v, matched);
				has_action = true;
			}
			else if (strcmp(key, "Resource") == 0)
				check_resource(&t, &v);
			else if (strcmp(key, "Condition") == 0)
			{
				condition = palloc(sizeof(JsonbValue));
				*condition = v;
			}
			else if (strncmp(key, "Not", 3) == 0)
				refuse(&t, psprintf("%s cannot be honoured", key),
					   "Grants name who may do what; a statement that "
					   "names what it excludes has no grant to map to.");
			else
				refuse(&t, psprintf("unknown key \"%s\"", key), NULL);
		}
		if (!effect)
			refuse(&t, "Effect is missing", NULL);
		if (grantees == NIL && !service)
			refuse(&t, "Principal is missing", NULL);
		if (!has_action)
			refuse(&t, "Action is missing", NULL);
		bits = grants_of_actions(&t, matched);

		/* a topic's delivery to this queue: accepted, no grant needed */
		if (condition != NULL || service)
		{
			if (condition == NULL)
				refuse(&t,
					   "a service principal needs an aws:SourceArn "
					   "condition",
					   NULL);
			if (bits != SQSN_SEND || t.topic || (!service && !anyone) ||
				list_length(grantees) > 1)
				refuse(&t, "a Condition cannot be honoured",
					   "sqsn accepts a Condition only in the statement "
					   "that lets a topic send to the queue: Principal "
					   "{\"Service\": \"sns.amazonaws.com\"} or \"*\", "
					   "Action sqs:SendMessage, Condition ArnEquals or "
					   "ArnLike on aws:SourceArn.");
			check_delivery_condition(&t, condition);
			continue;
		}
		if (bits == 0)
			refuse(&t, "its actions make no grant",
				   t.topic ? "Reading a topic's attributes needs any one "
							 "of the grants publish, subscribe or admin."
						   : "Reading a queue's attributes needs any one "
							 "of the grants send, receive or admin.");
		foreach (lc, grantees)
			grants = add_grant(grants, lfirst(lc), bits);
	}
	return grants;
}

/*
 * Replaces the grants made from the policy of a queue or topic (id) with
 * grants (sqsn_policy_grants; NIL: the policy was removed). The caller
 * invalidates the queue's cached ACL. Requires SPI.
 */
void
sqsn_store_policy_grants(bool topic, int64 id, List *grants)
{
	Datum     values[4];
	ListCell *lc;

	values[0] = Int64GetDatum(id);
	sqsn_execute(&delete_stmts[topic], values, NULL, 0);
	values[3] =
		DirectFunctionCall1(namein, CStringGetDatum(sqsn_caller_name()));
	foreach (lc, grants)
	{
		SqsnPolicyGrant *g = lfirst(lc);

		values[1] = DirectFunctionCall1(namein, CStringGetDatum(g->grantee));
		for (int bit = 1; bit <= SQSN_ADMIN; bit <<= 1)
		{
			if ((g->actions & bit) == 0)
				continue;
			values[2] = CStringGetTextDatum(sqsn_action_name(bit, topic));
			sqsn_execute(&insert_stmts[topic], values, NULL, 0);
		}
	}
}
