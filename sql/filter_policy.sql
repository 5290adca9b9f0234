-- Filter policies: a table of cases (policy x message -> delivered or not)
-- covering every operator, on attributes and on the JSON body, then the
-- policies that are refused when a subscription is created or changed.

-- err(stmt): 'ok', or 'SQLSTATE: message (detail)' when it fails.
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || coalesce(nullif(' (' || detail || ')', ' ()'), '');
END
$$;

SELECT sqsn.sq_create_queue('fp_queue');
SELECT sqsn.sn_create_topic('fp_topic');
CREATE TEMP TABLE fp_sub AS
SELECT sqsn.sn_subscribe('fp_topic', 'sqs', 'fp_queue', raw_message_delivery => true) AS id;

-- delivered(policy, scope, attributes, body): sets the subscription's
-- policy, publishes the message, and says whether the queue got a copy.
CREATE FUNCTION pg_temp.delivered(policy jsonb, scope text, attributes jsonb, body text)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM sqsn.sn_set_subscription_attributes((SELECT id FROM fp_sub),
		jsonb_build_object('FilterPolicy', policy, 'FilterPolicyScope', scope));
	PERFORM sqsn.sn_publish('fp_topic', body, attributes);
	RETURN sqsn.sq_purge_queue('fp_queue') = 1;
END
$$;

CREATE TEMP TABLE fp_case (
	n serial PRIMARY KEY,
	note text NOT NULL,
	scope text NOT NULL,
	policy jsonb NOT NULL,
	attributes jsonb,
	body text NOT NULL,
	expected boolean NOT NULL);

INSERT INTO fp_case (note, scope, policy, attributes, body, expected) VALUES
	('exact string', 'MessageAttributes', '{"color": ["red"]}', '{"color": "red"}', 'x', true),
	('exact string is case-sensitive', 'MessageAttributes', '{"color": ["red"]}', '{"color": "Red"}', 'x', false),
	('exact string, attribute missing', 'MessageAttributes', '{"color": ["red"]}', '{"size": 1}', 'x', false),
	('exact string, no attributes', 'MessageAttributes', '{"color": ["red"]}', NULL, 'x', false),
	('exact string, other attribute has the value', 'MessageAttributes', '{"color": ["red"]}', '{"shade": "red"}', 'x', false),
	('exact string never matches a Number', 'MessageAttributes', '{"size": ["3"]}', '{"size": 3}', 'x', false),
	('OR across values', 'MessageAttributes', '{"color": ["red", "blue"]}', '{"color": "blue"}', 'x', true),
	('OR across values, none', 'MessageAttributes', '{"color": ["red", "blue"]}', '{"color": "green"}', 'x', false),
	('exact number', 'MessageAttributes', '{"size": [3]}', '{"size": 3}', 'x', true),
	('exact number compares numerically', 'MessageAttributes', '{"size": [3]}', '{"size": {"DataType": "Number", "StringValue": "3.00"}}', 'x', true),
	('exact number, other value', 'MessageAttributes', '{"size": [3]}', '{"size": 4}', 'x', false),
	('exact number never matches a String', 'MessageAttributes', '{"size": [3]}', '{"size": "3"}', 'x', false),
	('AND across keys', 'MessageAttributes', '{"color": ["red"], "size": [3]}', '{"color": "red", "size": 3}', 'x', true),
	('AND across keys, one missing', 'MessageAttributes', '{"color": ["red"], "size": [3]}', '{"color": "red"}', 'x', false),
	('AND across keys, one different', 'MessageAttributes', '{"color": ["red"], "size": [3]}', '{"color": "red", "size": 4}', 'x', false),
	('prefix', 'MessageAttributes', '{"color": [{"prefix": "re"}]}', '{"color": "red"}', 'x', true),
	('prefix, no match', 'MessageAttributes', '{"color": [{"prefix": "re"}]}', '{"color": "ore"}', 'x', false),
	('prefix equal to the value', 'MessageAttributes', '{"color": [{"prefix": "red"}]}', '{"color": "red"}', 'x', true),
	('prefix never matches a Number', 'MessageAttributes', '{"size": [{"prefix": "3"}]}', '{"size": 35}', 'x', false),
	('suffix', 'MessageAttributes', '{"file": [{"suffix": ".png"}]}', '{"file": "a.png"}', 'x', true),
	('suffix, no match', 'MessageAttributes', '{"file": [{"suffix": ".png"}]}', '{"file": "a.png.jpg"}', 'x', false),
	('equals-ignore-case', 'MessageAttributes', '{"color": [{"equals-ignore-case": "RED"}]}', '{"color": "red"}', 'x', true),
	('equals-ignore-case, mixed case', 'MessageAttributes', '{"color": [{"equals-ignore-case": "rEd"}]}', '{"color": "ReD"}', 'x', true),
	('equals-ignore-case, no match', 'MessageAttributes', '{"color": [{"equals-ignore-case": "RED"}]}', '{"color": "rod"}', 'x', false),
	('anything-but value', 'MessageAttributes', '{"color": [{"anything-but": "red"}]}', '{"color": "blue"}', 'x', true),
	('anything-but value, excluded', 'MessageAttributes', '{"color": [{"anything-but": "red"}]}', '{"color": "red"}', 'x', false),
	('anything-but needs the attribute', 'MessageAttributes', '{"color": [{"anything-but": "red"}]}', '{"size": 1}', 'x', false),
	('anything-but list', 'MessageAttributes', '{"color": [{"anything-but": ["red", "blue"]}]}', '{"color": "green"}', 'x', true),
	('anything-but list, excluded', 'MessageAttributes', '{"color": [{"anything-but": ["red", "blue"]}]}', '{"color": "blue"}', 'x', false),
	('anything-but numbers', 'MessageAttributes', '{"size": [{"anything-but": [1, 2]}]}', '{"size": 3}', 'x', true),
	('anything-but numbers, excluded numerically', 'MessageAttributes', '{"size": [{"anything-but": [1, 2]}]}', '{"size": {"DataType": "Number", "StringValue": "2.0"}}', 'x', false),
	('anything-but prefix', 'MessageAttributes', '{"color": [{"anything-but": {"prefix": "re"}}]}', '{"color": "blue"}', 'x', true),
	('anything-but prefix, excluded', 'MessageAttributes', '{"color": [{"anything-but": {"prefix": "re"}}]}', '{"color": "red"}', 'x', false),
	('numeric =', 'MessageAttributes', '{"price": [{"numeric": ["=", 10]}]}', '{"price": 10}', 'x', true),
	('numeric = compares numerically', 'MessageAttributes', '{"price": [{"numeric": ["=", 10]}]}', '{"price": {"DataType": "Number", "StringValue": "1.0e1"}}', 'x', true),
	('numeric =, other value', 'MessageAttributes', '{"price": [{"numeric": ["=", 10]}]}', '{"price": 11}', 'x', false),
	('numeric never matches a String', 'MessageAttributes', '{"price": [{"numeric": ["=", 10]}]}', '{"price": "10"}', 'x', false),
	('numeric <', 'MessageAttributes', '{"price": [{"numeric": ["<", 10]}]}', '{"price": 9.99}', 'x', true),
	('numeric <, equal', 'MessageAttributes', '{"price": [{"numeric": ["<", 10]}]}', '{"price": 10}', 'x', false),
	('numeric <=, equal', 'MessageAttributes', '{"price": [{"numeric": ["<=", 10]}]}', '{"price": 10}', 'x', true),
	('numeric <=, above', 'MessageAttributes', '{"price": [{"numeric": ["<=", 10]}]}', '{"price": 10.01}', 'x', false),
	('numeric >', 'MessageAttributes', '{"price": [{"numeric": [">", 0]}]}', '{"price": 0.001}', 'x', true),
	('numeric >, equal', 'MessageAttributes', '{"price": [{"numeric": [">", 0]}]}', '{"price": 0}', 'x', false),
	('numeric >, negative', 'MessageAttributes', '{"price": [{"numeric": [">", 0]}]}', '{"price": -5}', 'x', false),
	('numeric >=, equal', 'MessageAttributes', '{"price": [{"numeric": [">=", 0]}]}', '{"price": 0}', 'x', true),
	('numeric >=, below', 'MessageAttributes', '{"price": [{"numeric": [">=", 0]}]}', '{"price": -0.5}', 'x', false),
	('numeric range, lower bound open', 'MessageAttributes', '{"price": [{"numeric": [">", 0, "<=", 100]}]}', '{"price": 0}', 'x', false),
	('numeric range, inside', 'MessageAttributes', '{"price": [{"numeric": [">", 0, "<=", 100]}]}', '{"price": 50}', 'x', true),
	('numeric range, upper bound closed', 'MessageAttributes', '{"price": [{"numeric": [">", 0, "<=", 100]}]}', '{"price": 100}', 'x', true),
	('numeric range, above', 'MessageAttributes', '{"price": [{"numeric": [">", 0, "<=", 100]}]}', '{"price": 100.5}', 'x', false),
	('numeric range, >= and <', 'MessageAttributes', '{"price": [{"numeric": [">=", 1, "<", 2]}]}', '{"price": 1}', 'x', true),
	('exists true', 'MessageAttributes', '{"color": [{"exists": true}]}', '{"color": "x"}', 'x', true),
	('exists true, missing', 'MessageAttributes', '{"color": [{"exists": true}]}', '{"size": 1}', 'x', false),
	('exists true, Binary attribute', 'MessageAttributes', '{"blob": [{"exists": true}]}', '{"blob": {"DataType": "Binary", "BinaryValue": "AAE="}}', 'x', true),
	('exists false, missing', 'MessageAttributes', '{"color": [{"exists": false}]}', '{"size": 1}', 'x', true),
	('exists false, no attributes', 'MessageAttributes', '{"color": [{"exists": false}]}', NULL, 'x', true),
	('exists false, present', 'MessageAttributes', '{"color": [{"exists": false}]}', '{"color": "x"}', 'x', false),
	('value OR exists false, missing', 'MessageAttributes', '{"color": ["red", {"exists": false}]}', '{"size": 1}', 'x', true),
	('value OR exists false, value', 'MessageAttributes', '{"color": ["red", {"exists": false}]}', '{"color": "red"}', 'x', true),
	('value OR exists false, other value', 'MessageAttributes', '{"color": ["red", {"exists": false}]}', '{"color": "blue"}', 'x', false),
	('Binary matches no value', 'MessageAttributes', '{"blob": ["AAE="]}', '{"blob": {"DataType": "Binary", "BinaryValue": "AAE="}}', 'x', false),
	('$or, first alternative', 'MessageAttributes', '{"$or": [{"color": ["red"]}, {"size": [{"numeric": [">", 10]}]}]}', '{"color": "red", "size": 1}', 'x', true),
	('$or, second alternative', 'MessageAttributes', '{"$or": [{"color": ["red"]}, {"size": [{"numeric": [">", 10]}]}]}', '{"color": "blue", "size": 11}', 'x', true),
	('$or, neither', 'MessageAttributes', '{"$or": [{"color": ["red"]}, {"size": [{"numeric": [">", 10]}]}]}', '{"color": "blue", "size": 5}', 'x', false),
	('$or AND a sibling key', 'MessageAttributes', '{"kind": ["order"], "$or": [{"color": ["red"]}, {"size": [1]}]}', '{"kind": "order", "color": "red"}', 'x', true),
	('$or AND a sibling key, sibling differs', 'MessageAttributes', '{"kind": ["order"], "$or": [{"color": ["red"]}, {"size": [1]}]}', '{"kind": "other", "color": "red"}', 'x', false),
	('$or AND a sibling key, no alternative', 'MessageAttributes', '{"kind": ["order"], "$or": [{"color": ["red"]}, {"size": [1]}]}', '{"kind": "order", "color": "blue"}', 'x', false),
	('nested $or', 'MessageAttributes', '{"$or": [{"a": ["1"]}, {"$or": [{"b": ["2"]}, {"c": ["3"]}]}]}', '{"c": "3"}', 'x', true),
	('String.Array, any element', 'MessageAttributes', '{"tags": ["b"]}', '{"tags": {"DataType": "String.Array", "StringValue": "[\"a\", \"b\"]"}}', 'x', true),
	('String.Array, no element', 'MessageAttributes', '{"tags": ["b"]}', '{"tags": {"DataType": "String.Array", "StringValue": "[\"a\", \"c\"]"}}', 'x', false),
	('String.Array, prefix', 'MessageAttributes', '{"tags": [{"prefix": "pre"}]}', '{"tags": {"DataType": "String.Array", "StringValue": "[\"x\", \"prefixed\"]"}}', 'x', true),
	('String.Array, numeric element', 'MessageAttributes', '{"tags": [{"numeric": [">", 4]}]}', '{"tags": {"DataType": "String.Array", "StringValue": "[1, 5]"}}', 'x', true),
	('String.Array, exact number element', 'MessageAttributes', '{"tags": [1]}', '{"tags": {"DataType": "String.Array", "StringValue": "[\"1\"]"}}', 'x', false),
	('String.Array with a number numeric cannot hold is not an array', 'MessageAttributes', '{"tags": [{"anything-but": ["a"]}]}', '{"tags": {"DataType": "String.Array", "StringValue": "[\"b\", 0e3011111111111111118]"}}', 'x', false),
	('body with a number numeric cannot hold is not JSON', 'MessageBody', '{"n": [{"exists": true}]}', NULL, '{"n": 1e99999}', false),
	('String.Array, anything-but, all excluded', 'MessageAttributes', '{"tags": [{"anything-but": ["a"]}]}', '{"tags": {"DataType": "String.Array", "StringValue": "[\"a\"]"}}', 'x', false),
	('String.Array, anything-but, one other', 'MessageAttributes', '{"tags": [{"anything-but": ["a"]}]}', '{"tags": {"DataType": "String.Array", "StringValue": "[\"a\", \"b\"]"}}', 'x', true),
	('String.Array, not an array', 'MessageAttributes', '{"tags": ["a"]}', '{"tags": {"DataType": "String.Array", "StringValue": "a"}}', 'x', false),
	('numeric, Number attribute beyond numeric''s range', 'MessageAttributes', '{"n": [{"numeric": [">", 1000000000]}]}', '{"n": {"DataType": "Number", "StringValue": "1e999999"}}', 'x', true),
	('numeric, Number attribute too close to 0', 'MessageAttributes', '{"n": [{"numeric": [">", 0]}]}', '{"n": {"DataType": "Number", "StringValue": "1e-999999"}}', 'x', false),
	('custom String type', 'MessageAttributes', '{"kind": ["rush"]}', '{"kind": {"DataType": "String.custom", "StringValue": "rush"}}', 'x', true),
	('custom Number type', 'MessageAttributes', '{"weight": [{"numeric": [">", 3]}]}', '{"weight": {"DataType": "Number.kg", "StringValue": "3.5"}}', 'x', true),
	('body: nested key', 'MessageBody', '{"order": {"status": ["paid"]}}', NULL, '{"order": {"status": "paid", "total": 5}}', true),
	('body: nested key, other value', 'MessageBody', '{"order": {"status": ["paid"]}}', NULL, '{"order": {"status": "open"}}', false),
	('body: nested key, parent is not an object', 'MessageBody', '{"order": {"status": ["paid"]}}', NULL, '{"order": "paid"}', false),
	('body: not JSON', 'MessageBody', '{"order": {"status": ["paid"]}}', NULL, 'status paid', false),
	('body: a JSON array', 'MessageBody', '{"status": ["paid"]}', NULL, '[{"status": "paid"}]', false),
	('body: attributes are not looked at', 'MessageBody', '{"color": ["red"]}', '{"color": "red"}', '{"x": 1}', false),
	('body: nested exists false, key missing', 'MessageBody', '{"order": {"coupon": [{"exists": false}]}}', NULL, '{"order": {}}', true),
	('body: nested exists false, parent missing', 'MessageBody', '{"order": {"coupon": [{"exists": false}]}}', NULL, '{"other": 1}', true),
	('body: nested exists false, present', 'MessageBody', '{"order": {"coupon": [{"exists": false}]}}', NULL, '{"order": {"coupon": "X"}}', false),
	('body: numeric', 'MessageBody', '{"total": [{"numeric": [">=", 100]}]}', NULL, '{"total": 100}', true),
	('body: numeric never matches a string', 'MessageBody', '{"total": [{"numeric": [">=", 100]}]}', NULL, '{"total": "100"}', false),
	('body: exact string never matches a number', 'MessageBody', '{"id": ["1"]}', NULL, '{"id": 1}', false),
	('body: array value, any element', 'MessageBody', '{"tags": ["x"]}', NULL, '{"tags": ["y", "x"]}', true),
	('body: boolean', 'MessageBody', '{"paid": [true]}', NULL, '{"paid": true}', true),
	('body: boolean, other', 'MessageBody', '{"paid": [true]}', NULL, '{"paid": false}', false),
	('body: null', 'MessageBody', '{"note": [null]}', NULL, '{"note": null}', true),
	('body: null, missing key', 'MessageBody', '{"note": [null]}', NULL, '{}', false),
	('body: prefix and suffix on nested keys', 'MessageBody', '{"a": {"b": [{"prefix": "x"}], "c": [{"suffix": "z"}]}}', NULL, '{"a": {"b": "xy", "c": "yz"}}', true),
	('body: anything-but', 'MessageBody', '{"state": [{"anything-but": ["CA", "NY"]}]}', NULL, '{"state": "TX"}', true),
	('body: equals-ignore-case', 'MessageBody', '{"state": [{"equals-ignore-case": "ca"}]}', NULL, '{"state": "CA"}', true),
	('body: $or over nested keys', 'MessageBody', '{"$or": [{"a": {"b": [1]}}, {"c": [2]}]}', NULL, '{"a": {"b": 2}, "c": 2}', true),
	('body: $or over nested keys, neither', 'MessageBody', '{"$or": [{"a": {"b": [1]}}, {"c": [2]}]}', NULL, '{"a": {"b": 2}, "c": 3}', false);

CREATE TEMP TABLE fp_result AS
SELECT n, note, expected, pg_temp.delivered(policy, scope, attributes, body) AS delivered
FROM fp_case ORDER BY n;

-- every case, and then the ones that went wrong (none)
SELECT n, note, expected, delivered FROM fp_result ORDER BY n;
SELECT c.* FROM fp_case c JOIN fp_result r USING (n)
WHERE r.delivered IS DISTINCT FROM c.expected;
-- a Number attribute of 1500 digits compares by its magnitude
SELECT pg_temp.delivered('{"n": [{"numeric": [">", 1e300]}]}', 'MessageAttributes',
	jsonb_build_object('n', jsonb_build_object('DataType', 'Number', 'StringValue', repeat('9', 1500))), 'x');
SELECT pg_temp.delivered('{"n": [{"numeric": ["<", 1]}]}', 'MessageAttributes',
	jsonb_build_object('n', jsonb_build_object('DataType', 'Number', 'StringValue', '0.' || repeat('0', 1500) || '1')), 'x');
-- a body jsonb cannot store (\u0000) is not JSON to a body policy
SELECT pg_temp.delivered('{"a": [{"exists": true}]}', 'MessageBody', NULL, '{"a": "\u0000"}');
SELECT pg_temp.delivered('{"a": [{"exists": true}]}', 'MessageBody', NULL, '{"a": "\ud800"}');
SELECT pg_temp.delivered('{"a": [{"exists": true}]}', 'MessageBody', NULL, '{"a": "\u00e9"}');
-- without a policy everything is delivered
SELECT sqsn.sn_set_subscription_attributes(id, '{"FilterPolicy": null, "FilterPolicyScope": "MessageAttributes"}')
FROM fp_sub;
SELECT sqsn.sn_publish('fp_topic', 'x') IS NOT NULL, sqsn.sn_publish('fp_topic', 'y', '{"a": "b"}') IS NOT NULL;
SELECT sqsn.sq_purge_queue('fp_queue');

-- policies that are refused, with the reason; the subscription keeps its
-- policy
SELECT sqsn.sn_set_subscription_attributes(id, '{"FilterPolicy": {"keep": ["me"]}}') FROM fp_sub;
CREATE TEMP TABLE fp_bad (n serial PRIMARY KEY, scope text NOT NULL, policy text NOT NULL);
INSERT INTO fp_bad (scope, policy) VALUES
	('MessageAttributes', '[]'),
	('MessageAttributes', '"red"'),
	('MessageAttributes', '{}'),
	('MessageAttributes', '{"a": "x"}'),
	('MessageAttributes', '{"a": 1}'),
	('MessageAttributes', '{"a": []}'),
	('MessageAttributes', '{"a": [["x"]]}'),
	('MessageAttributes', '{"a": [{"contains": "x"}]}'),
	('MessageAttributes', '{"a": [{}]}'),
	('MessageAttributes', '{"a": [{"prefix": "x", "suffix": "y"}]}'),
	('MessageAttributes', '{"a": [{"prefix": 1}]}'),
	('MessageAttributes', '{"a": [{"suffix": ["x"]}]}'),
	('MessageAttributes', '{"a": [{"equals-ignore-case": null}]}'),
	('MessageAttributes', '{"a": [{"anything-but": true}]}'),
	('MessageAttributes', '{"a": [{"anything-but": []}]}'),
	('MessageAttributes', '{"a": [{"anything-but": ["x", {"prefix": "y"}]}]}'),
	('MessageAttributes', '{"a": [{"anything-but": {"suffix": "x"}}]}'),
	('MessageAttributes', '{"a": [{"anything-but": {"prefix": 1}}]}'),
	('MessageAttributes', '{"a": [{"numeric": 5}]}'),
	('MessageAttributes', '{"a": [{"numeric": ["=", 5, "<"]}]}'),
	('MessageAttributes', '{"a": [{"numeric": ["!=", 5]}]}'),
	('MessageAttributes', '{"a": [{"numeric": [">", "5"]}]}'),
	('MessageAttributes', '{"a": [{"numeric": ["<", 10, ">", 0]}]}'),
	('MessageAttributes', '{"a": [{"numeric": [">", 0, ">", 10]}]}'),
	('MessageAttributes', '{"a": [{"numeric": [">", 5, "<", 5]}]}'),
	('MessageAttributes', '{"a": [{"exists": "yes"}]}'),
	('MessageAttributes', '{"$or": {"a": ["x"]}}'),
	('MessageAttributes', '{"$or": [{"a": ["x"]}]}'),
	('MessageAttributes', '{"$or": [{"a": ["x"]}, ["b"]]}'),
	('MessageAttributes', '{"$or": [{"a": ["x"]}, {}]}'),
	('MessageAttributes', '{"a": {"b": ["x"]}}'),
	('MessageBody', '{"a": {}}'),
	('MessageBody', '{"a": {"b": "x"}}'),
	('MessageAttributes', '{"a": [1], "b": [1], "c": [1], "d": [1], "e": [1], "f": [1]}'),
	('MessageAttributes', '{"a": [1], "b": [1], "c": [1], "d": [1], "$or": [{"e": [1]}, {"e": [2], "f": [3]}]}'),
	('MessageBody', '{"a": {"b": [1], "c": [1]}, "d": [1], "e": [1], "f": [1], "g": [1]}'),
	('MessageAttributes', '{"a": [1,2,3,4,5,6,7,8,9,10,11,12,13], "b": [1,2,3,4,5,6,7,8,9,10,11,12]}'),
	('MessageAttributes', '{"$or": [{"a": [1,2,3,4,5,6,7,8,9,10]}, {"b": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}], "c": [1,2,3,4,5,6,7,8,9,10]}');
SELECT n, policy, pg_temp.err(format('SELECT sqsn.sn_set_subscription_attributes(%L, %L)',
	(SELECT id FROM fp_sub),
	jsonb_build_object('FilterPolicy', policy::jsonb, 'FilterPolicyScope', scope))) AS error
FROM fp_bad ORDER BY n;
SELECT filter_policy FROM sqsn.sn_list_subscriptions('fp_topic');

-- at the limits: 5 keys outside $or, 150 combinations
SELECT sqsn.sn_set_subscription_attributes(id, '{"FilterPolicy": {"a": [1], "b": [1], "c": [1], "d": [1], "e": [1]}}')
FROM fp_sub;
SELECT sqsn.sn_set_subscription_attributes(id,
	'{"FilterPolicy": {"a": [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15], "b": [1,2,3,4,5,6,7,8,9,10]}}')
FROM fp_sub;
SELECT sqsn.sn_set_subscription_attributes(id,
	'{"FilterPolicy": {"a": [1], "b": [1], "c": [1], "d": [1], "$or": [{"e": [1]}, {"f": [2]}]}}')
FROM fp_sub;
-- refused at subscribe time too, before anything is written
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('fp_topic', 'sqs', 'fp_queue', '{"a": [{"between": [1, 2]}]}')$$);
SELECT pg_temp.err($$SELECT sqsn.sn_subscribe('fp_topic', 'sqs', 'fp_queue', '{"a": {"b": ["x"]}}')$$);
SELECT count(*) FROM sqsn.sn_list_subscriptions('fp_topic');

SELECT sqsn.sn_delete_topic('fp_topic');
SELECT sqsn.sq_delete_queue('fp_queue');
