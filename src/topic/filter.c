/*-------------------------------------------------------------------------
 *
 * filter.c
 *	  Subscription filter policies: validation when a policy is set, and
 *	  matching a published message against it.
 *
 * A filter policy is a JSON object, as in the managed service. Each key
 * names a message attribute (scope MessageAttributes, the default) or a
 * key of the message body parsed as JSON (scope MessageBody, where an
 * object value descends into a nested key). The value of a key is an array
 * of conditions, any of which may match (OR); all keys must match (AND);
 * the key "$or" holds an array of policies of which one must match, in
 * addition to the keys beside it. A condition is a string, number, boolean
 * or null matched exactly, or an object with one operator:
 *
 *	  {"prefix": "s"}  {"suffix": "s"}  {"equals-ignore-case": "s"}
 *	  {"anything-but": v | [v, ...] | {"prefix": "s"}}
 *	  {"numeric": ["=", 5]}  {"numeric": [">", 0, "<=", 10]}
 *	  {"exists": true | false}
 *
 * Every operator except exists false needs the key to be present. An
 * attribute of type Number is matched as a number, String (and custom
 * String.x) as a string, String.Array as the elements of the JSON array in
 * its value (the key matches when any element does), Binary only by
 * exists. A body value that is an array is matched the same way.
 *
 * Validation runs when a subscription is created or changed, so a policy
 * stored in sqsn.subscription is always well-formed: matching, which runs
 * for every subscription of every published message, interprets the stored
 * jsonb directly and never raises an error about the policy.
 *
 * Limits, as in the managed service: at most 5 keys (counted along the
 * deepest $or alternative, nested body keys by their leaves) and at most
 * 150 combinations (the product of each key's number of conditions, $or
 * alternatives adding up).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "topic/topic.h"

#include "catalog/pg_collation.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/numeric.h"

#define MAX_POLICY_KEYS         5
#define MAX_POLICY_COMBINATIONS 150

/* What validating a (sub-)policy found. */
typedef struct PolicyCost
{
	int    keys;
	double combinations;
} PolicyCost;

/* A value a condition is matched against. */
typedef struct Candidates
{
	bool        present; /* the key exists */
	int         n;
	JsonbValue *values; /* scalars only */
} Candidates;

pg_noreturn static void invalid_filter_policy(const char *detail,
											  const char *hint);

static PolicyCost validate_object(JsonbContainer *obj, bool body_scope,
								  int depth);
static bool       match_object(JsonbContainer *policy, bool body_scope,
							   JsonbContainer *source);

static void
invalid_filter_policy(const char *detail, const char *hint)
{
	sqsn_invalid_policy("filter", detail, hint);
}

static bool
is_key(JsonbValue *key, const char *name)
{
	return key->val.string.len == strlen(name) &&
		   memcmp(key->val.string.val, name, key->val.string.len) == 0;
}

/*
 * Reads the single key of an operator object {"op": operand}; returns false
 * when the object does not have exactly one key.
 */
static bool
operator_of(JsonbContainer *obj, JsonbValue *op, JsonbValue *operand)
{
	JsonbIterator     *it = JsonbIteratorInit(obj);
	JsonbIteratorToken tok;
	JsonbValue         v;
	int                nkeys = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			*op = v;
			nkeys++;
		}
		else if (tok == WJB_VALUE)
			*operand = v;
	}
	return nkeys == 1;
}

/* The elements of a JSON array container, nested ones as jbvBinary. */
static int
array_elements(JsonbContainer *array, JsonbValue **elems)
{
	JsonbIterator     *it = JsonbIteratorInit(array);
	JsonbIteratorToken tok;
	JsonbValue         v;
	int                n = 0;
	int                size = 8;

	*elems = palloc(sizeof(JsonbValue) * size);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (n == size)
		{
			size *= 2;
			*elems = repalloc(*elems, sizeof(JsonbValue) * size);
		}
		(*elems)[n++] = v;
	}
	return n;
}

static bool
is_scalar(JsonbValue *v)
{
	return v->type == jbvString || v->type == jbvNumeric ||
		   v->type == jbvBool || v->type == jbvNull;
}

static const char *
numeric_operator(JsonbValue *v)
{
	static const char *const ops[] = {"=", "<", "<=", ">", ">="};

	if (v->type != jbvString)
		return NULL;
	for (int i = 0; i < lengthof(ops); i++)
		if (is_key(v, ops[i]))
			return ops[i];
	return NULL;
}

static int
numeric_compare(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a),
											 NumericGetDatum(b)));
}

/*
 * {"numeric": ["=", 5]}, {"numeric": [">", 0]} or a range
 * {"numeric": [">", 0, "<=", 10]}.
 */
static void
validate_numeric(const char *key, JsonbValue *operand)
{
	JsonbValue *e;
	int         n;
	const char *op1;
	const char *op2;

	if (!sqsn_jsonb_is_array(operand))
		invalid_filter_policy(
			psprintf("The operand of \"numeric\" for key \"%s\" must be "
					 "an array such as [\">\", 0, \"<=\", 10].",
					 key),
			NULL);
	n = array_elements(operand->val.binary.data, &e);
	if (n != 2 && n != 4)
		invalid_filter_policy(
			psprintf("The operand of \"numeric\" for key \"%s\" must "
					 "have 2 or 4 elements.",
					 key),
			"Write [\"=\", 5], [\">=\", 1] or a range such as "
			"[\">\", 0, \"<=\", 10].");
	for (int i = 0; i < n; i += 2)
	{
		if (numeric_operator(&e[i]) == NULL)
			invalid_filter_policy(
				psprintf("Unknown numeric operator for key \"%s\".", key),
				"Use =, <, <=, > or >=.");
		if (e[i + 1].type != jbvNumeric)
			invalid_filter_policy(
				psprintf("Numeric operator \"%s\" for key \"%s\" needs "
						 "a number.",
						 sqsn_jsonb_string(&e[i]), key),
				NULL);
	}
	if (n == 4)
	{
		op1 = numeric_operator(&e[0]);
		op2 = numeric_operator(&e[2]);
		if (op1[0] != '>' || op2[0] != '<')
			invalid_filter_policy(
				psprintf("A numeric range for key \"%s\" must be a "
						 "lower bound (> or >=) followed by an upper "
						 "bound (< or <=).",
						 key),
				NULL);
		if (numeric_compare(e[1].val.numeric, e[3].val.numeric) >= 0)
			invalid_filter_policy(
				psprintf("The numeric range for key \"%s\" is empty: "
						 "its lower bound is not below its upper "
						 "bound.",
						 key),
				NULL);
	}
}

static void
validate_anything_but(const char *key, JsonbValue *operand)
{
	if (operand->type == jbvString || operand->type == jbvNumeric)
		return;
	if (sqsn_jsonb_is_array(operand))
	{
		JsonbValue *e;
		int         n = array_elements(operand->val.binary.data, &e);

		if (n == 0)
			invalid_filter_policy(
				psprintf("The \"anything-but\" list for key \"%s\" is "
						 "empty.",
						 key),
				NULL);
		for (int i = 0; i < n; i++)
			if (e[i].type != jbvString && e[i].type != jbvNumeric)
				invalid_filter_policy(
					psprintf("The \"anything-but\" list for key \"%s\" "
							 "may contain only strings and numbers.",
							 key),
					NULL);
		return;
	}
	if (sqsn_jsonb_is_object(operand))
	{
		JsonbValue op;
		JsonbValue arg;

		if (operator_of(operand->val.binary.data, &op, &arg) &&
			is_key(&op, "prefix"))
		{
			if (arg.type != jbvString)
				invalid_filter_policy(
					psprintf("The \"anything-but\" prefix for key "
							 "\"%s\" must be a string.",
							 key),
					NULL);
			return;
		}
	}
	invalid_filter_policy(
		psprintf("The operand of \"anything-but\" for key \"%s\" must "
				 "be a string, a number, a list of them or "
				 "{\"prefix\": \"...\"}.",
				 key),
		NULL);
}

/* One element of a key's array of conditions. */
static void
validate_condition(const char *key, JsonbValue *cond)
{
	JsonbValue op;
	JsonbValue operand;
	char      *opname;

	if (is_scalar(cond))
		return;
	if (sqsn_jsonb_is_array(cond))
		invalid_filter_policy(
			psprintf("The conditions of key \"%s\" must not contain an "
					 "array.",
					 key),
			NULL);
	if (!operator_of(cond->val.binary.data, &op, &operand))
		invalid_filter_policy(
			psprintf("A condition object for key \"%s\" must have "
					 "exactly one operator.",
					 key),
			NULL);
	opname = sqsn_jsonb_string(&op);

	if (strcmp(opname, "prefix") == 0 || strcmp(opname, "suffix") == 0 ||
		strcmp(opname, "equals-ignore-case") == 0)
	{
		if (operand.type != jbvString)
			invalid_filter_policy(
				psprintf("The operand of \"%s\" for key \"%s\" must be "
						 "a string.",
						 opname, key),
				NULL);
	}
	else if (strcmp(opname, "anything-but") == 0)
		validate_anything_but(key, &operand);
	else if (strcmp(opname, "numeric") == 0)
		validate_numeric(key, &operand);
	else if (strcmp(opname, "exists") == 0)
	{
		if (operand.type != jbvBool)
			invalid_filter_policy(
				psprintf("The operand of \"exists\" for key \"%s\" must "
						 "be true or false.",
						 key),
				NULL);
	}
	else
		invalid_filter_policy(
			psprintf("Unknown operator \"%s\" for key \"%s\".", opname, key),
			"Use prefix, suffix, equals-ignore-case, anything-but, "
			"numeric or exists.");
}

/*
 * Checks one policy object (the whole policy, a nested body key or a $or
 * alternative) and returns its number of keys and combinations.
 */
static PolicyCost
validate_object(JsonbContainer *obj, bool body_scope, int depth)
{
	JsonbIterator     *it = JsonbIteratorInit(obj);
	JsonbIteratorToken tok;
	JsonbValue         v;
	char              *key = NULL;
	PolicyCost         cost = {0, 1};

	check_stack_depth();
	if (JsonContainerSize(obj) == 0)
		invalid_filter_policy(
			depth == 0
				? "A filter policy must have at least one key."
				: "A nested policy or $or alternative must have at least one "
				  "key.",
			NULL);

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = sqsn_jsonb_string(&v);
			continue;
		}
		if (tok != WJB_VALUE)
			continue;

		if (strcmp(key, "$or") == 0)
		{
			JsonbValue *alts;
			int         n;
			PolicyCost  or_cost = {0, 0};

			if (!sqsn_jsonb_is_array(&v) ||
				(n = array_elements(v.val.binary.data, &alts)) < 2)
				invalid_filter_policy(
					"\"$or\" must be an array of at least two policy "
					"objects.",
					NULL);
			for (int i = 0; i < n; i++)
			{
				PolicyCost c;

				if (!sqsn_jsonb_is_object(&alts[i]))
					invalid_filter_policy(
						"\"$or\" must be an array of at least two "
						"policy objects.",
						NULL);
				c = validate_object(alts[i].val.binary.data, body_scope,
									depth + 1);
				or_cost.keys = Max(or_cost.keys, c.keys);
				or_cost.combinations += c.combinations;
			}
			cost.keys += or_cost.keys;
			cost.combinations *= or_cost.combinations;
		}
		else if (sqsn_jsonb_is_object(&v))
		{
			PolicyCost c;

			if (!body_scope)
				invalid_filter_policy(
					psprintf("Key \"%s\" holds a nested policy, which "
							 "only a policy on the message body can "
							 "have.",
							 key),
					"Set filter_policy_scope to MessageBody to filter "
					"on nested keys of a JSON body.");
			c = validate_object(v.val.binary.data, body_scope, depth + 1);
			cost.keys += c.keys;
			cost.combinations *= c.combinations;
		}
		else if (sqsn_jsonb_is_array(&v))
		{
			JsonbValue *conds;
			int         n = array_elements(v.val.binary.data, &conds);

			if (n == 0)
				invalid_filter_policy(
					psprintf("Key \"%s\" has no conditions.", key), NULL);
			for (int i = 0; i < n; i++)
				validate_condition(key, &conds[i]);
			cost.keys += 1;
			cost.combinations *= n;
		}
		else
			invalid_filter_policy(
				psprintf("The value of key \"%s\" must be an array of "
						 "conditions.",
						 key),
				psprintf("Write {\"%s\": [...]}.", key));
	}
	return cost;
}

/*
 * Checks a filter policy; errors (22023) naming the problem.
 */
void
sqsn_validate_filter_policy(Jsonb *policy, bool body_scope)
{
	PolicyCost cost;

	if (!JB_ROOT_IS_OBJECT(policy) || JB_ROOT_IS_SCALAR(policy))
		invalid_filter_policy("A filter policy must be a JSON object.",
							  "Write {\"attribute\": [\"value\", ...]}.");
	cost = validate_object(&policy->root, body_scope, 0);
	if (cost.keys > MAX_POLICY_KEYS)
		invalid_filter_policy(
			psprintf("A filter policy has at most %d keys; this one "
					 "has %d.",
					 MAX_POLICY_KEYS, cost.keys),
			NULL);
	if (cost.combinations > MAX_POLICY_COMBINATIONS)
		invalid_filter_policy(
			psprintf("A filter policy has at most %d combinations of "
					 "values; this one has %.0f.",
					 MAX_POLICY_COMBINATIONS, cost.combinations),
			NULL);
}

/* Adds the scalar v, or the scalar elements of the array v. */
static void
add_candidates(Candidates *c, JsonbValue *v)
{
	if (is_scalar(v))
	{
		c->values = palloc(sizeof(JsonbValue));
		c->values[0] = *v;
		c->n = 1;
	}
	else if (sqsn_jsonb_is_array(v))
	{
		JsonbValue *e;
		int         n = array_elements(v->val.binary.data, &e);

		c->values = e;
		c->n = 0;
		for (int i = 0; i < n; i++)
			if (is_scalar(&e[i]))
				c->values[c->n++] = e[i];
	}
}

/*
 * A Number attribute's value as a numeric. Values with a long text or a
 * large exponent go through double precision instead, so that no value a
 * send accepts (such as 1e999999) can overflow numeric here: they become
 * +/-Infinity or 0, which compare as their magnitude suggests.
 */
static Numeric
attribute_number(const char *s)
{
	const char *e = strpbrk(s, "eE");

	if (strlen(s) <= 1000 &&
		(e == NULL || labs(strtol(e + 1, NULL, 10)) <= 1000))
		return DatumGetNumeric(DirectFunctionCall3(
			numeric_in, CStringGetDatum(s), ObjectIdGetDatum(InvalidOid),
			Int32GetDatum(-1)));
	return DatumGetNumeric(
		DirectFunctionCall1(float8_numeric, Float8GetDatum(strtod(s, NULL))));
}

/* The value(s) of one message attribute in the typed form. */
static void
attribute_candidates(JsonbContainer *attributes, JsonbValue *key,
					 Candidates *c)
{
	JsonbValue *attr;
	JsonbValue *type;
	JsonbValue *value;
	char       *data_type;
	char       *s;

	c->present = false;
	c->n = 0;
	if (attributes == NULL)
		return;
	attr = getKeyJsonValueFromContainer(attributes, key->val.string.val,
										key->val.string.len, NULL);
	if (attr == NULL || !sqsn_jsonb_is_object(attr))
		return;
	c->present = true;
	type = getKeyJsonValueFromContainer(attr->val.binary.data, "DataType", 8,
										NULL);
	value = getKeyJsonValueFromContainer(attr->val.binary.data, "StringValue",
										 11, NULL);
	if (type == NULL || value == NULL || type->type != jbvString ||
		value->type != jbvString)
		return; /* Binary: matched by exists only */

	data_type = sqsn_jsonb_string(type);
	s = sqsn_jsonb_string(value);
	if (strcmp(data_type, "String.Array") == 0)
	{
		Jsonb     *array = sqsn_json_or_null(s, strlen(s));
		JsonbValue v;

		if (array != NULL && JB_ROOT_IS_ARRAY(array) &&
			!JB_ROOT_IS_SCALAR(array))
		{
			v.type = jbvBinary;
			v.val.binary.data = &array->root;
			v.val.binary.len = VARSIZE(array) - VARHDRSZ;
			add_candidates(c, &v);
		}
	}
	else if (strncmp(data_type, "Number", 6) == 0)
	{
		JsonbValue v;

		v.type = jbvNumeric;
		v.val.numeric = attribute_number(s);
		add_candidates(c, &v);
	}
	else
		add_candidates(c, value);
}

static bool
scalar_equal(JsonbValue *a, JsonbValue *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type)
	{
		case jbvString:
			return a->val.string.len == b->val.string.len &&
				   memcmp(a->val.string.val, b->val.string.val,
						  a->val.string.len) == 0;
		case jbvNumeric:
			return numeric_compare(a->val.numeric, b->val.numeric) == 0;
		case jbvBool:
			return a->val.boolean == b->val.boolean;
		case jbvNull:
			return true;
		default:
			return false;
	}
}

static bool
has_prefix(JsonbValue *s, JsonbValue *prefix)
{
	return s->type == jbvString &&
		   s->val.string.len >= prefix->val.string.len &&
		   memcmp(s->val.string.val, prefix->val.string.val,
				  prefix->val.string.len) == 0;
}

static bool
has_suffix(JsonbValue *s, JsonbValue *suffix)
{
	return s->type == jbvString &&
		   s->val.string.len >= suffix->val.string.len &&
		   memcmp(s->val.string.val + s->val.string.len -
					  suffix->val.string.len,
				  suffix->val.string.val, suffix->val.string.len) == 0;
}

static bool
equals_ignore_case(JsonbValue *s, JsonbValue *other)
{
	char *a;
	char *b;

	if (s->type != jbvString)
		return false;
	a = str_tolower(s->val.string.val, s->val.string.len,
					DEFAULT_COLLATION_OID);
	b = str_tolower(other->val.string.val, other->val.string.len,
					DEFAULT_COLLATION_OID);
	return strcmp(a, b) == 0;
}

static bool
anything_but(JsonbValue *cand, JsonbValue *operand)
{
	if (is_scalar(operand))
		return !scalar_equal(cand, operand);
	if (sqsn_jsonb_is_array(operand))
	{
		JsonbValue *e;
		int         n = array_elements(operand->val.binary.data, &e);

		for (int i = 0; i < n; i++)
			if (scalar_equal(cand, &e[i]))
				return false;
		return true;
	}
	else
	{
		JsonbValue op;
		JsonbValue prefix;

		(void) operator_of(operand->val.binary.data, &op, &prefix);
		return cand->type == jbvString && !has_prefix(cand, &prefix);
	}
}

static bool
numeric_matches(JsonbValue *cand, JsonbValue *operand)
{
	JsonbValue *e;
	int         n;

	if (cand->type != jbvNumeric)
		return false;
	n = array_elements(operand->val.binary.data, &e);
	for (int i = 0; i + 1 < n; i += 2)
	{
		const char *op = numeric_operator(&e[i]);
		int  cmp = numeric_compare(cand->val.numeric, e[i + 1].val.numeric);
		bool ok;

		if (strcmp(op, "=") == 0)
			ok = (cmp == 0);
		else if (strcmp(op, "<") == 0)
			ok = (cmp < 0);
		else if (strcmp(op, "<=") == 0)
			ok = (cmp <= 0);
		else if (strcmp(op, ">") == 0)
			ok = (cmp > 0);
		else
			ok = (cmp >= 0);
		if (!ok)
			return false;
	}
	return true;
}

/* Does one condition match the key's values? */
static bool
condition_matches(JsonbValue *cond, Candidates *c)
{
	JsonbValue op;
	JsonbValue operand;

	if (is_scalar(cond))
	{
		for (int i = 0; i < c->n; i++)
			if (scalar_equal(&c->values[i], cond))
				return true;
		return false;
	}

	(void) operator_of(cond->val.binary.data, &op, &operand);
	if (is_key(&op, "exists"))
		return operand.val.boolean == c->present;

	for (int i = 0; i < c->n; i++)
	{
		JsonbValue *cand = &c->values[i];
		bool        ok;

		if (is_key(&op, "prefix"))
			ok = has_prefix(cand, &operand);
		else if (is_key(&op, "suffix"))
			ok = has_suffix(cand, &operand);
		else if (is_key(&op, "equals-ignore-case"))
			ok = equals_ignore_case(cand, &operand);
		else if (is_key(&op, "anything-but"))
			ok = anything_but(cand, &operand);
		else if (is_key(&op, "numeric"))
			ok = numeric_matches(cand, &operand);
		else
			ok = false;
		if (ok)
			return true;
	}
	return false;
}

/*
 * Does the message match a policy object? source is the attributes in the
 * typed form, or the body object at this nesting level; NULL when absent.
 */
static bool
match_object(JsonbContainer *policy, bool body_scope, JsonbContainer *source)
{
	JsonbIterator     *it = JsonbIteratorInit(policy);
	JsonbIteratorToken tok;
	JsonbValue         key = {0};
	JsonbValue         v;

	check_stack_depth();
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = v;
			continue;
		}
		if (tok != WJB_VALUE)
			continue;

		if (is_key(&key, "$or"))
		{
			JsonbValue *alts;
			int         n = array_elements(v.val.binary.data, &alts);
			bool        any = false;

			for (int i = 0; i < n && !any; i++)
				any =
					match_object(alts[i].val.binary.data, body_scope, source);
			if (!any)
				return false;
		}
		else if (sqsn_jsonb_is_object(&v))
		{
			JsonbValue *sub = NULL;

			if (source != NULL)
				sub = getKeyJsonValueFromContainer(source, key.val.string.val,
												   key.val.string.len, NULL);
			if (!match_object(v.val.binary.data, body_scope,
							  (sub != NULL && sqsn_jsonb_is_object(sub))
								  ? sub->val.binary.data
								  : NULL))
				return false;
		}
		else
		{
			Candidates  c = {false, 0, NULL};
			JsonbValue *conds;
			int         n;
			bool        any = false;

			if (!body_scope)
				attribute_candidates(source, &key, &c);
			else if (source != NULL)
			{
				JsonbValue *value;

				value = getKeyJsonValueFromContainer(
					source, key.val.string.val, key.val.string.len, NULL);
				if (value != NULL)
				{
					c.present = true;
					add_candidates(&c, value);
				}
			}

			n = array_elements(v.val.binary.data, &conds);
			for (int i = 0; i < n && !any; i++)
				any = condition_matches(&conds[i], &c);
			if (!any)
				return false;
		}
	}
	return true;
}

/*
 * Does a message match a (validated) filter policy? attributes: the
 * message attributes in the typed form, or NULL; body: the message body as
 * jsonb when it is JSON, or NULL. A policy on the body never matches a
 * body that is not a JSON object.
 */
bool
sqsn_filter_matches(Jsonb *policy, bool body_scope, Jsonb *attributes,
					Jsonb *body)
{
	if (body_scope)
	{
		if (body == NULL || !JB_ROOT_IS_OBJECT(body) ||
			JB_ROOT_IS_SCALAR(body))
			return false;
		return match_object(&policy->root, true, &body->root);
	}
	return match_object(&policy->root, false,
						attributes ? &attributes->root : NULL);
}
