# ALTER EXTENSION sqsn UPDATE from every shipped version gives the same
# catalog as a fresh CREATE EXTENSION of the current version, and queues,
# messages, topics and subscriptions made under the old version keep working.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('sqsn_upgrade');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
sqsn.worker_enabled = off
});
$node->start;

my $current = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'sqsn'});

# Every object the extension owns, described by what a user or the C code
# can observe: function signatures and settings, table columns, constraints,
# indexes and options, views, sequences, event triggers, config-dump rows,
# and privileges.
sub extension_catalog
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
		WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'sqsn'),
		member AS (
			SELECT classid, objid FROM pg_depend
			WHERE refclassid = 'pg_extension'::regclass
			  AND refobjid = (SELECT oid FROM ext) AND deptype = 'e')
		SELECT line FROM (
			SELECT format('function %s(%s) returns %s secdef=%s vol=%s strict=%s config=%s acl=%s src=%s',
					p.oid::regproc, pg_get_function_arguments(p.oid),
					pg_get_function_result(p.oid), p.prosecdef, p.provolatile,
					p.proisstrict, p.proconfig, p.proacl,
					CASE WHEN p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'c') THEN p.prosrc ELSE md5(p.prosrc) END) AS line
			FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
			UNION ALL
			SELECT format('relation %s kind=%s options=%s acl=%s', c.oid::regclass, c.relkind,
					c.reloptions, c.relacl)
			FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
			UNION ALL
			SELECT format('column %s.%s %s notnull=%s default=%s identity=%s', c.oid::regclass,
					a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
					pg_get_expr(d.adbin, d.adrelid), a.attidentity)
			FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
			JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
			LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
			UNION ALL
			SELECT format('constraint %s %s', co.conrelid::regclass, pg_get_constraintdef(co.oid))
			FROM member m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
			UNION ALL
			SELECT format('index %s', regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \S+ ON', 'INDEX ON'))
			FROM member m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
			UNION ALL
			SELECT format('view %s %s', c.oid::regclass, pg_get_viewdef(c.oid))
			FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
			WHERE c.relkind = 'v'
			UNION ALL
			SELECT format('trigger %s on %s %s', t.tgname, t.tgrelid::regclass, t.tgfoid::regproc)
			FROM member m JOIN pg_trigger t ON m.classid = 'pg_class'::regclass AND t.tgrelid = m.objid
			WHERE NOT t.tgisinternal
			UNION ALL
			SELECT format('event trigger %s %s %s %s', e.evtname, e.evtevent, e.evttags, e.evtfoid::regproc)
			FROM member m JOIN pg_event_trigger e ON m.classid = 'pg_event_trigger'::regclass AND e.oid = m.objid
			UNION ALL
			SELECT format('type %s', t.oid::regtype)
			FROM member m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
			UNION ALL
			SELECT format('config dump %s where %s', c::regclass, cond)
			FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS u(c, cond)
			WHERE e.extname = 'sqsn'
		) lines
		ORDER BY line COLLATE "C"
	});
}

my @shipped = map { /sqsn--([0-9.]+)\.sql$/ ? $1 : () }
	glob($node->config_data('--sharedir') . '/extension/sqsn--*.sql');
@shipped = grep { $_ ne $current } @shipped;
ok(scalar(@shipped) >= 1, "shipped versions to update from: @shipped");

$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION sqsn');
my $fresh = extension_catalog('fresh');

foreach my $from (@shipped)
{
	my $db = "from_" . ($from =~ tr/./_/r);
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION sqsn VERSION '$from'");

	# State made by the old version: a queue with a dead-letter queue,
	# a visible, a delayed and an in-flight message, a topic with a
	# filtered queue subscription.
	$node->safe_psql($db, q{
		SELECT sqsn.sq_create_queue('old-dlq');
		SELECT sqsn.sq_create_queue('old', visibility_timeout => 60);
		SELECT sqsn.sq_set_queue_attributes('old',
			'{"RedrivePolicy": {"deadLetterTargetArn": "old-dlq", "maxReceiveCount": 3}}');
		SELECT sqsn.sq_send('old', 'in flight');
		SELECT count(*) FROM sqsn.sq_receive('old', 1);
		SELECT sqsn.sq_send('old', 'visible');
		SELECT sqsn.sq_send('old', 'delayed', delay_seconds => 600);
		SELECT sqsn.sn_create_topic('old-topic');
		SELECT sqsn.sn_subscribe('old-topic', 'sqs', 'old',
			filter_policy => '{"kind": ["keep"]}', raw_message_delivery => true);
	});

	# From 0.3 on, queues and topics are private from the start: grant what
	# the update to 0.3 grants on existing ones, which must survive.
	if ($from !~ /^0\.[12]$/)
	{
		$node->safe_psql($db, q{
			SELECT sqsn.sq_grant(q, 'sqsn_producer', ARRAY['send']),
				sqsn.sq_grant(q, 'sqsn_consumer', ARRAY['receive'])
			FROM unnest(ARRAY['old', 'old-dlq']) AS q;
			SELECT sqsn.sn_grant('old-topic', 'sqsn_publisher', ARRAY['publish']);
		});
	}

	# An endpoint access key made through the new library on the old
	# catalog (0.4 has keys, but no session tokens yet).
	if ($from eq '0.4')
	{
		is($node->safe_psql($db, q{SELECT access_key_id FROM sqsn.api_create_credentials(
				current_user, 'AKIAUPGRADE0000001')}),
			'AKIAUPGRADE0000001', "$from: an access key is made on the old catalog");
	}

	$node->safe_psql($db, 'ALTER EXTENSION sqsn UPDATE');
	is($node->safe_psql($db,
			q{SELECT extversion FROM pg_extension WHERE extname = 'sqsn'}),
		$current, "$from updated to $current");
	is(extension_catalog($db), $fresh,
		"catalog after updating from $from is the fresh $current catalog");

	if ($from eq '0.4')
	{
		is($node->safe_psql($db, q{SELECT with_session_token FROM sqsn.api_access_keys
				WHERE access_key_id = 'AKIAUPGRADE0000001'}),
			'f', "$from: the old access key is kept, without a session token");
	}

	# The update makes the index of grouped messages only for the standard
	# queues that hold some (none here); a send with a group id asks for
	# it, and the maintenance sweep makes it.
	my $group_indexes = q{
			SELECT count(*) FROM pg_indexes
			WHERE schemaname = 'sqsn' AND indexdef LIKE '%(message_group_id, msg_seq) WHERE%'
			  AND tablename IN (SELECT 'q_' || queue_id FROM sqsn.queue
				WHERE queue_name IN ('old', 'old-dlq'))};
	is($node->safe_psql($db, $group_indexes), '0',
		"$from: no group index on old standard queues without groups");

	# Old state still works under the new version.
	is($node->safe_psql($db, q{SELECT body FROM sqsn.sq_receive('old', 10)}),
		'visible', "$from: visible message received, in-flight and delayed ones not");
	$node->safe_psql($db, q{
		SELECT sqsn.sn_publish('old-topic', 'kept',
			message_attributes => '{"kind": "keep"}');
		SELECT sqsn.sn_publish('old-topic', 'dropped',
			message_attributes => '{"kind": "other"}');
	});
	is($node->safe_psql($db,
			q{SELECT body FROM sqsn.sq_receive('old', 10, visibility_timeout => 0)}),
		'kept', "$from: old subscription's filter still applies");
	is($node->safe_psql($db,
			q{SELECT (sqsn.sq_get_queue_attributes('old') ->> 'ApproximateNumberOfMessagesDelayed')}),
		'1', "$from: delayed message kept");
	$node->safe_psql($db, q{
		SELECT sqsn.sq_send('old-dlq', 'grouped', message_group_id => 'g');
		SELECT count(*) FROM sqsn.run_maintenance();
		SELECT count(*) FROM sqsn.sq_receive('old-dlq', 10, 0);
	});
	is($node->safe_psql($db, $group_indexes), '1',
		"$from: a grouped message makes the group index of an old queue");
	$node->safe_psql($db, q{SELECT sqsn.sq_create_queue('new-after-update')});
	$node->safe_psql($db, q{SELECT sqsn.sq_send('new-after-update', 'x')});
	is($node->safe_psql($db, q{SELECT body FROM sqsn.sq_receive('new-after-update')}),
		'x', "$from: a queue created after the update works");

	# Access policies: the roles keep what they could do on the queues and
	# topics that existed; a queue created after the update is private.
	my $role = "upgrade_user_$db";
	$node->safe_psql($db, qq{
		CREATE ROLE $role IN ROLE sqsn_producer, sqsn_consumer, sqsn_publisher;
	});
	is($node->safe_psql($db, qq{
			SET ROLE $role;
			SELECT sqsn.sq_send('old', 'by a producer') IS NOT NULL;
			SELECT count(*) FROM sqsn.sq_receive('old', 10, 0);
			SELECT sqsn.sn_publish('old-topic', 'by a publisher') IS NOT NULL;
		}), "t\n2\nt", "$from: producers, consumers and publishers keep using old queues and topics");

	# An old queue's message table has the columns of a new one's, and a
	# send recorded its sender in it.
	my $columns = q{SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', '
			ORDER BY attnum) FROM pg_attribute
		WHERE attrelid = format('sqsn.q_%s', (SELECT queue_id FROM sqsn.queue
			WHERE queue_name = '%s'))::regclass AND attnum > 0 AND NOT attisdropped};
	is($node->safe_psql($db, sprintf($columns, '%s', 'old')),
		$node->safe_psql($db, sprintf($columns, '%s', 'new-after-update')),
		"$from: an old queue's message table has the columns of a new one's");
	is($node->safe_psql($db, qq{SELECT format(
			'SELECT sender_id::regrole FROM sqsn.q_%s WHERE body = %L', queue_id, 'by a producer')
			FROM sqsn.queue WHERE queue_name = 'old' \\gexec}),
		$role, "$from: a send to an old queue records its sender after the update");
	is($node->safe_psql($db, q{
			SELECT string_agg(queue_name || ':' || grantee || ':' || action, ' '
				ORDER BY queue_name, grantee, action)
			FROM sqsn.queue_grants WHERE action <> 'owner'}),
		'old:sqsn_consumer:receive old:sqsn_producer:send '
		. 'old-dlq:sqsn_consumer:receive old-dlq:sqsn_producer:send',
		"$from: send and receive granted on every existing queue after the update");
	my ($rc, $out, $err) = $node->psql($db, qq{
		SET ROLE $role;
		SELECT sqsn.sq_send('new-after-update', 'x');
	});
	like($err, qr/permission denied to send to queue "new-after-update"/,
		"$from: a queue created after the update is private to its owner");
	$node->safe_psql($db, qq{DROP ROLE $role});
}

$node->stop;
done_testing();
