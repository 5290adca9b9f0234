-- Tags of queues and topics (sq_tag_queue, sq_untag_queue,
-- sq_list_queue_tags, sn_tag_resource, sn_untag_resource,
-- sn_list_tags_for_resource): stored, replaced, removed, their limits and
-- characters, the reserved prefix, who may tag, and tags going away with
-- their queue or topic.

-- err(stmt): 'ok', or 'SQLSTATE: message' when it fails.
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_tag_sender;
RESET client_min_messages;
CREATE ROLE regress_tag_sender IN ROLE sqsn_producer;

SELECT sqsn.sq_create_queue('tg_q');
SELECT sqsn.sn_create_topic('tg_t');

-- a_new_queue_has_no_tags
SELECT sqsn.sq_list_queue_tags('tg_q') AS tags;

-- tags_are_added_and_a_key_tagged_again_gets_the_new_value
SELECT sqsn.sq_tag_queue('tg_q', '{"team": "orders", "env": "prod", "empty": ""}');
SELECT sqsn.sq_tag_queue('tg_q', '{"env": "staging", "cost-center": "42"}');
SELECT sqsn.sq_list_queue_tags('tg_q') AS tags;
-- (read as a value, more than once: a small result outlives the call)
SELECT key, value FROM jsonb_each_text(sqsn.sq_list_queue_tags('tg_q')) ORDER BY key;
SELECT key, value FROM jsonb_each_text(sqsn.sq_list_queue_tags('tg_q')) ORDER BY key;

-- untag_removes_the_keys_and_ignores_keys_the_queue_lacks
SELECT sqsn.sq_untag_queue('tg_q', ARRAY['empty', 'not-there']);
SELECT sqsn.sq_list_queue_tags('tg_q') AS tags;

-- keys_and_values_of_any_script_and_the_allowed_punctuation
SELECT sqsn.sq_tag_queue('tg_q', '{"clé é": "värde 値", "a_b.c:d/e=f+g-h@i": "x y"}');
SELECT sqsn.sq_list_queue_tags('tg_q') ? 'clé é' AS unicode_key_kept;
SELECT sqsn.sq_untag_queue('tg_q', ARRAY['clé é', 'a_b.c:d/e=f+g-h@i']);

-- limits_and_characters_are_checked_and_a_refused_call_stores_nothing
SELECT v.what, pg_temp.err(v.stmt) AS result
FROM (VALUES
	('key of 128', format($$SELECT sqsn.sq_tag_queue('tg_q', jsonb_build_object(%L, 'v'))$$, repeat('k', 128))),
	('key of 129', format($$SELECT sqsn.sq_tag_queue('tg_q', jsonb_build_object(%L, 'v'))$$, repeat('k', 129))),
	('empty key', $$SELECT sqsn.sq_tag_queue('tg_q', '{"": "v"}')$$),
	('value of 256', format($$SELECT sqsn.sq_tag_queue('tg_q', jsonb_build_object('v256', %L))$$, repeat('é', 256))),
	('value of 257', format($$SELECT sqsn.sq_tag_queue('tg_q', jsonb_build_object('v257', %L))$$, repeat('v', 257))),
	('key with !', $$SELECT sqsn.sq_tag_queue('tg_q', '{"bad!": "v"}')$$),
	('value with a control character', $$SELECT sqsn.sq_tag_queue('tg_q', '{"ok": "a\u0001b"}')$$),
	('aws: prefix', $$SELECT sqsn.sq_tag_queue('tg_q', '{"aws:created": "v"}')$$),
	('AWS: prefix', $$SELECT sqsn.sq_tag_queue('tg_q', '{"AWS:x": "v"}')$$),
	('number value', $$SELECT sqsn.sq_tag_queue('tg_q', '{"n": 1}')$$),
	('array', $$SELECT sqsn.sq_tag_queue('tg_q', '["a"]')$$),
	('NULL tags', $$SELECT sqsn.sq_tag_queue('tg_q', NULL)$$),
	('NULL key to remove', $$SELECT sqsn.sq_untag_queue('tg_q', ARRAY[NULL])$$),
	('unknown queue', $$SELECT sqsn.sq_tag_queue('tg_none', '{"a": "b"}')$$),
	('unknown queue, list', $$SELECT sqsn.sq_list_queue_tags('tg_none')$$),
	('a good and a bad tag', $$SELECT sqsn.sq_tag_queue('tg_q', '{"good": "1", "bad#": "2"}')$$)
) AS v(what, stmt);
SELECT sqsn.sq_list_queue_tags('tg_q') - repeat('k', 128) - 'v256' AS tags_unchanged;
SELECT sqsn.sq_untag_queue('tg_q', ARRAY[repeat('k', 128), 'v256']);

-- fifty_tags_at_most_counting_those_the_queue_has
SELECT sqsn.sq_tag_queue('tg_q',
	(SELECT jsonb_object_agg('k' || i, 'v') FROM generate_series(1, 47) i));
SELECT (SELECT count(*) FROM jsonb_object_keys(sqsn.sq_list_queue_tags('tg_q'))) AS tags;
SELECT pg_temp.err($$SELECT sqsn.sq_tag_queue('tg_q', '{"k48": "v"}')$$) AS fifty_first;
SELECT pg_temp.err($$SELECT sqsn.sq_tag_queue('tg_q', '{"k1": "new value"}')$$) AS replacing_one;
SELECT pg_temp.err($$SELECT sqsn.sq_tag_queue('tg_q',
	(SELECT jsonb_object_agg('n' || i, 'v') FROM generate_series(1, 51) i))$$) AS fifty_one_at_once;
SELECT (SELECT count(*) FROM jsonb_object_keys(sqsn.sq_list_queue_tags('tg_q'))) AS tags,
	sqsn.sq_list_queue_tags('tg_q')->>'k1' AS k1;

-- tagging_needs_the_admin_action_reading_any_action
SELECT sqsn.sq_grant('tg_q', 'regress_tag_sender', ARRAY['send']);
SELECT sqsn.sn_grant('tg_t', 'regress_tag_sender', ARRAY['publish']);
SET ROLE regress_tag_sender;
SELECT pg_temp.err($$SELECT sqsn.sq_tag_queue('tg_q', '{"a": "b"}')$$) AS tag_queue,
	pg_temp.err($$SELECT sqsn.sq_untag_queue('tg_q', ARRAY['k1'])$$) AS untag_queue,
	pg_temp.err($$SELECT sqsn.sq_list_queue_tags('tg_q')$$) AS list_queue_tags,
	pg_temp.err($$SELECT sqsn.sn_tag_resource('tg_t', '{"a": "b"}')$$) AS tag_topic,
	pg_temp.err($$SELECT sqsn.sn_list_tags_for_resource('tg_t')$$) AS list_topic_tags;
SELECT pg_temp.err($$SELECT * FROM sqsn.queue_tag$$) AS read_table;
RESET ROLE;

-- topics_have_tags_with_the_same_rules
SELECT sqsn.sn_list_tags_for_resource('tg_t') AS tags;
SELECT sqsn.sn_tag_resource('tg_t', '{"team": "billing", "tier": "1"}');
SELECT sqsn.sn_tag_resource('tg_t', '{"tier": "2"}');
SELECT sqsn.sn_untag_resource('tg_t', ARRAY['team']);
SELECT sqsn.sn_list_tags_for_resource('tg_t') AS tags;
SELECT key, value FROM jsonb_each_text(sqsn.sn_list_tags_for_resource('tg_t'));
SELECT pg_temp.err($$SELECT sqsn.sn_tag_resource('tg_t', '{"aws:x": "v"}')$$) AS reserved,
	pg_temp.err($$SELECT sqsn.sn_tag_resource('tg_t',
		(SELECT jsonb_object_agg('n' || i, 'v') FROM generate_series(1, 50) i))$$) AS over_fifty,
	pg_temp.err($$SELECT sqsn.sn_tag_resource('tg_none', '{"a": "b"}')$$) AS unknown_topic;

-- deleting_the_queue_or_topic_deletes_its_tags
SELECT sqsn.sq_delete_queue('tg_q');
SELECT sqsn.sn_delete_topic('tg_t');
SELECT (SELECT count(*) FROM sqsn.queue_tag) AS queue_tags,
	(SELECT count(*) FROM sqsn.topic_tag) AS topic_tags;
SELECT sqsn.sq_create_queue('tg_q');
SELECT sqsn.sq_list_queue_tags('tg_q') AS recreated_queue_tags;

-- clean up
SELECT sqsn.sq_delete_queue('tg_q');
DROP ROLE regress_tag_sender;
