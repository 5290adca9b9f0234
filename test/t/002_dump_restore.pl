# pg_dump of a database with queues (one the dead-letter queue of the other,
# both with custom attributes) and messages (with attributes, delayed, in
# flight) restores into a fresh database, as a plain script and with
# pg_restore, with queues, attributes, grants and messages intact and
# usable. Then DROP EXTENSION sqsn (no CASCADE) leaves nothing behind.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('sqsn_dump');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'sqsn'
restart_after_crash = on
});
$node->start;

my $tempdir = PostgreSQL::Test::Utils::tempdir;
my $lease = 30;    # seconds the in-flight message stays invisible

# Counts of the catalog rows an extension could leave behind in a database.
sub catalog_fingerprint
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
		SELECT concat_ws(' ',
			'class=' || (SELECT count(*) FROM pg_class),
			'proc=' || (SELECT count(*) FROM pg_proc),
			'type=' || (SELECT count(*) FROM pg_type),
			'namespace=' || (SELECT count(*) FROM pg_namespace),
			'depend=' || (SELECT count(*) FROM pg_depend),
			'description=' || (SELECT count(*) FROM pg_description),
			'init_privs=' || (SELECT count(*) FROM pg_init_privs),
			'event_trigger=' || (SELECT count(*) FROM pg_event_trigger),
			'extension=' || (SELECT count(*) FROM pg_extension),
			'attrdef=' || (SELECT count(*) FROM pg_attrdef),
			'constraint=' || (SELECT count(*) FROM pg_constraint),
			'sequence=' || (SELECT count(*) FROM pg_sequence),
			'shdepend=' || (SELECT count(*) FROM pg_shdepend
			                WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())))
	});
}

# Everything about the queues that a dump must keep: the catalog rows, the
# attributes (timestamps included) and every message table's rows.
sub queue_state
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
		SELECT format(E'%s\n%s\n%s', q::text,
			sqsn.sq_get_queue_attributes(q.queue_name)
				- 'ApproximateNumberOfMessages'
				- 'ApproximateNumberOfMessagesNotVisible'
				- 'ApproximateNumberOfMessagesDelayed',
			query_to_xml(format('SELECT * FROM sqsn.q_%s t ORDER BY t::text', q.queue_id),
				true, false, ''))
		FROM sqsn.queue q ORDER BY q.queue_id
	});
}

# Runs sql in db and returns its output; unlike safe_psql, a failure is
# reported but does not end the test (if the server went down it is waited
# for), so that the checks after it still run.
sub query
{
	my ($db, $sql) = @_;
	my ($rc, $out, $err) = $node->psql($db, $sql);
	if ($rc != 0)
	{
		diag("query failed: $err");
		$node->poll_query_until('postgres', 'SELECT 1', '1')
		  or BAIL_OUT('the server did not come back');
	}
	return $out;
}

sub stats
{
	my ($db, $queue) = @_;
	return $node->safe_psql($db,
		"SELECT visible || '|' || in_flight || '|' || delayed FROM sqsn.queue_stats WHERE queue_name = '$queue'"
	);
}

# A pristine database, to compare the catalogs with after DROP EXTENSION.
$node->safe_psql('postgres', 'CREATE DATABASE pristine');
my $pristine = catalog_fingerprint('pristine');

#
# The source database
#
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION sqsn');
is(catalog_fingerprint('src') ne $pristine, 1, 'CREATE EXTENSION adds catalog rows');

$node->safe_psql('src', q{
	SELECT sqsn.sq_create_queue('orders_dlq', visibility_timeout => 45,
		message_retention_period => 86400, maximum_message_size => 8192);
	SELECT sqsn.sq_create_queue('orders', visibility_timeout => 20,
		message_retention_period => 7200, delay_seconds => 2, maximum_message_size => 65536,
		dead_letter_queue => 'orders_dlq', max_receive_count => 3);
	SELECT sqsn.sq_send('orders', 'o1',
		'{"customer": "c1", "amount": 10.5, "kind": {"DataType": "String.custom", "StringValue": "rush"}}', 0);
	SELECT sqsn.sq_send('orders', 'o2',
		'{"blob": {"DataType": "Binary", "BinaryValue": "AAECAwQ="}}', 0);
	SELECT sqsn.sq_send('orders', E'o3 with\nnewline, \'quotes\' and tab\t', NULL, 0);
	SELECT sqsn.sq_send('orders', 'o4 delayed', NULL, 900);
	SELECT sqsn.sq_send('orders_dlq', 'dead on arrival', '{"reason": "manual"}');
});
my $lease_start = time;
my $handle = $node->safe_psql('src',
	"SELECT receipt_handle FROM sqsn.sq_receive('orders', 1, $lease)");
isnt($handle, '', 'o1 received and in flight');
is(stats('src', 'orders'), '2|1|1', 'source: 2 visible, 1 in flight, 1 delayed');
is(stats('src', 'orders_dlq'), '1|0|0', 'source DLQ: 1 visible');
my $state = queue_state('src');

# Topics and subscriptions are dumped too.
sub topic_state
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
		SELECT string_agg(t, ',') FROM sqsn.sn_list_topics() AS t;
		SELECT subscription_id, topic_name, protocol, endpoint, filter_policy,
			raw_message_delivery, status
		FROM sqsn.sn_list_subscriptions();
		SELECT sqsn.sn_list_tags_for_resource('events'), sqsn.sq_list_queue_tags('orders')
	});
}
$node->safe_psql('src', q{
	SELECT sqsn.sn_create_topic('events');
	SELECT sqsn.sn_create_topic('unused');
	SELECT sqsn.sn_subscribe('events', 'sqs', 'orders_dlq', '{"kind": ["audit"]}',
		raw_message_delivery => true);
	SELECT sqsn.sn_tag_resource('events', '{"team": "audit", "tier": "1"}');
	SELECT sqsn.sq_tag_queue('orders', '{"team": "orders"}');
});
my $topics = topic_state('src');
like($topics, qr/"team": "audit".*"team": "orders"/, 'the source has topic and queue tags');

# Grants, those made from a Policy and those made with sq_grant/sn_grant,
# are dumped with where they come from.
sub grant_state
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
		SELECT string_agg(format('%s %s %s %s', name, grantee, action, from_policy), ','
			ORDER BY name, grantee, action, from_policy)
		FROM (SELECT queue_name AS name, grantee, action, from_policy FROM sqsn.queue_grants
			UNION ALL SELECT topic_name, grantee, action, from_policy FROM sqsn.topic_grants) g
		WHERE action <> 'owner'
	});
}
$node->safe_psql('src', q{
	CREATE ROLE dump_app;
	SELECT sqsn.sq_set_queue_attributes('orders', '{"Policy": {"Statement": {"Effect": "Allow",
		"Principal": {"AWS": "arn:aws:iam::000000000000:user/dump_app"}, "Action": "sqs:SendMessage"}}}');
	SELECT sqsn.sq_grant('orders', 'dump_app', '{receive}');
	SELECT sqsn.sn_set_topic_attributes('events', '{"Policy": {"Statement": {"Effect": "Allow",
		"Principal": "*", "Action": "sns:Publish"}}}');
});
my $grants = grant_state('src');
$state = queue_state('src');    # with the Policy
is($grants, 'events public publish t,orders dump_app receive f,orders dump_app send t',
	'the source has grants from policies and from sq_grant');

#
# Plain dump, restored with psql into a fresh database
#
my $plain = "$tempdir/src.sql";
$node->command_ok([ 'pg_dump', '-d', $node->connstr('src'), '-f', $plain ],
	'pg_dump (plain) succeeds');
my $dump_text = slurp_file($plain);
unlike($dump_text, qr/COPY sqsn\.handle_key/, 'the receipt-handle key is not dumped');
like($dump_text, qr/CREATE EXTENSION IF NOT EXISTS sqsn/, 'the dump creates the extension');

$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('dst'), '-f', $plain ],
	'the plain dump restores without errors');
is(queue_state('dst'), $state, 'restored queues, attributes and messages equal the source');
is(topic_state('dst'), $topics, 'restored topics and subscriptions equal the source');
is(grant_state('dst'), $grants, 'restored grants keep where they come from');
is($node->safe_psql('dst', 'SELECT string_agg(q, \',\') FROM sqsn.sq_list_queues() AS q'),
	'orders,orders_dlq', 'both queues are listed');

#
# Custom-format dump, restored with pg_restore
#
my $custom = "$tempdir/src.dump";
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $custom ],
	'pg_dump (custom) succeeds');
$node->safe_psql('postgres', 'CREATE DATABASE dst2');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst2'), $custom ],
	'pg_restore succeeds');
is(queue_state('dst2'), $state, 'pg_restore: queues, attributes and messages equal the source');
is(topic_state('dst2'), $topics, 'pg_restore: topics and subscriptions equal the source');
is(grant_state('dst2'), $grants, 'pg_restore: grants keep where they come from');
is($node->safe_psql('dst2', q{
		SELECT sqsn.sn_publish('events', 'restored fan-out', '{"kind": "audit"}') IS NOT NULL;
		SELECT sqsn.sn_publish('events', 'filtered out', '{"kind": "other"}') IS NOT NULL;
		SELECT count(*) FROM sqsn.sq_receive('orders_dlq', 10) WHERE body = 'restored fan-out';}),
	"t\nt\n1", 'pg_restore: publishing fans out to the restored subscription');

# counts, while o1's lease still holds
SKIP:
{
	skip 'the dump took longer than the lease', 2 if time - $lease_start > $lease - 5;
	is(stats('dst', 'orders'), '2|1|1', 'restored: 2 visible, 1 in flight, 1 delayed');
	is(stats('dst', 'orders_dlq'), '1|0|0', 'restored DLQ: 1 visible');
}

#
# The restored queues work
#
my ($rc, $out, $err) = $node->psql('dst', "SELECT sqsn.sq_delete('orders', '$handle')");
like($err, qr/receipt handle is invalid/,
	'a receipt handle from before the dump is rejected by the restored database (new key)');

is($node->safe_psql('dst', q{
		SELECT string_agg(body || ':' || receive_count, ',')
		FROM sqsn.sq_receive('orders', 10, 0)}),
	"o2:1,o3 with\nnewline, 'quotes' and tab\t:1", 'restored visible messages are received in order');
is($node->safe_psql('dst', q{
		SELECT message_attributes FROM sqsn.sq_receive('orders', 10, 0) WHERE body = 'o2'}),
	'{"blob": {"DataType": "Binary", "BinaryValue": "AAECAwQ="}}', 'restored Binary attribute');

# o1 comes back when its lease ends, with its attributes and receive count
$node->poll_query_until('dst',
	"SELECT visible = 3 FROM sqsn.queue_stats WHERE queue_name = 'orders'")
  or die 'the in-flight message never became visible';
is($node->safe_psql('dst', q{
		SELECT body || ':' || receive_count || ' ' || message_attributes::text
		FROM sqsn.sq_receive('orders', 10, 0) WHERE body = 'o1'}),
	'o1:2 {"kind": {"DataType": "String.custom", "StringValue": "rush"}, "amount": {"DataType": "Number", "StringValue": "10.5"}, "customer": {"DataType": "String", "StringValue": "c1"}}',
	'the message in flight at dump time is received after its lease, count and attributes kept');

# the redrive policy points at the restored DLQ: o2 and o3 have been
# received 3 times (max_receive_count) and move there on the next receive,
# which returns o1 a third time; the receive after that moves o1 as well
is(query('dst', q{
		SELECT string_agg(left(body, 2) || ':' || receive_count, ',') FROM sqsn.sq_receive('orders', 10, 0)}),
	'o1:3', 'o2 and o3 are not delivered a fourth time');
is(query('dst', q{
		SELECT string_agg(left(body, 2) || ':' || receive_count, ',') FROM sqsn.sq_receive('orders_dlq', 10, 600)}),
	'de:1,o2:1,o3:1', 'o2 and o3 moved to the restored DLQ');
is(query('dst', "SELECT count(*) FROM sqsn.sq_receive('orders', 10, 0)"),
	'0', 'o1 is not delivered a fourth time');
is(query('dst', q{
		SELECT string_agg(body || ':' || receive_count, ',') FROM sqsn.sq_receive('orders_dlq', 10, 0)}),
	'o1:1', 'o1 moved to the restored DLQ');
is(stats('dst', 'orders'), '0|0|1', 'only the delayed message is left in the restored queue');

# send, receive and delete with fresh handles, and a new queue
my $new_handle = query('dst', q{
	SELECT sqsn.sq_create_queue('after_restore');
	SELECT sqsn.sq_send('orders', 'new after restore', NULL, 0);
	SELECT receipt_handle FROM sqsn.sq_receive('orders', 10, 600) WHERE body = 'new after restore';
});
($new_handle) = (split /\n/, $new_handle)[-1];
is(query('dst', "SELECT sqsn.sq_delete('orders', '$new_handle')"), 't',
	'send, receive and delete work in the restored database');
is(query('dst', q{
		SELECT sqsn.sq_send('after_restore', 'x') IS NOT NULL;
		SELECT body FROM sqsn.sq_receive('after_restore', 1, 0);}),
	"t\nx", 'a queue created after the restore works (ids do not collide)');
is(query('dst',
		"SELECT count(DISTINCT queue_id) = count(*) FROM sqsn.queue"), 't',
	'queue ids are unique after the restore');

# the source is untouched by all this, and its handle still works
is(query('src', "SELECT sqsn.sq_delete('orders', '$handle')"), 't',
	'the source database still accepts its own handle');

#
# DROP EXTENSION sqsn leaves nothing behind
#
for my $db ('dst', 'dst2', 'src')
{
	$node->safe_psql($db, 'DROP EXTENSION sqsn');
	is($node->safe_psql($db, q{
			SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'sqsn')
			     + (SELECT count(*) FROM pg_class WHERE relname ~ '^q_[0-9]+' OR relname IN ('queue', 'handle_key', 'queue_stats', 'queue_id_seq'))
			     + (SELECT count(*) FROM pg_proc WHERE probin LIKE '%sqsn%' OR proname LIKE 'sq\_%')
			     + (SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'sqsn%')
			     + (SELECT count(*) FROM pg_extension WHERE extname = 'sqsn')
			     + (SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_extension'::regclass
			          AND refobjid NOT IN (SELECT oid FROM pg_extension))}),
		'0', "$db: no schema, table, function, event trigger or dependency of sqsn is left");
	is(catalog_fingerprint($db), $pristine,
		"$db: the catalogs are the same as in a database that never had sqsn");
}

is($node->safe_psql('postgres',
		"SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'sqsn\\_%'"),
	'sqsn_admin,sqsn_consumer,sqsn_producer,sqsn_publisher', 'the cluster-wide roles remain');

# and the extension can be installed again
$node->safe_psql('src', 'CREATE EXTENSION sqsn');
is($node->safe_psql('src', q{
		SELECT sqsn.sq_create_queue('again');
		SELECT sqsn.sq_send('again', 'reinstalled') IS NOT NULL;
		SELECT body FROM sqsn.sq_receive('again');}),
	"\nt\nreinstalled", 'CREATE EXTENSION works again after DROP EXTENSION');

$node->stop;
done_testing();
