# Trace context through push delivery, against a real HTTP server on
# 127.0.0.1 (test/http_sink.py): a message's AWSTraceHeader (the attribute
# AWS.TraceHeader) becomes the X-Amzn-Trace-Id header of its POSTs, a W3C
# traceparent attribute is sent as the traceparent header and, without a
# trace header, as X-Amzn-Trace-Id in X-Ray's form; the trace header is no
# message attribute of the envelope; a value that would break a header
# line is not sent; a message without trace context gets neither header.
use strict;
use warnings;

use JSON::PP;
use PostgreSQL::Test::Utils;
use SqsnPush;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $sink = SqsnPush::start_sink("$tmp/sink");
my $base = "http://127.0.0.1:$sink->{port}";

my $node = SqsnPush::push_node('sqsn_trace', qq{
sqsn.http_auto_confirm_hosts = '127.0.0.1'
});

sub query { return $node->safe_psql('postgres', $_[0]); }

my $trace = 'Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1';
my $traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

query(qq{
	CREATE EXTENSION sqsn;
	SELECT sqsn.sn_create_topic('traced');
	SELECT sqsn.sn_subscribe('traced', 'http', '$base/ok/envelope');
	SELECT sqsn.sn_subscribe('traced', 'http', '$base/ok/raw', raw_message_delivery => true);
});
is(query(q{SELECT count(*) FROM sqsn.subscription WHERE confirmed}),
	'2', 'both subscriptions are confirmed (sqsn.http_auto_confirm_hosts)');

# publish(body, attributes json)
sub publish
{
	my ($body, $attributes) = @_;
	query("SELECT sqsn.sn_publish('traced', '$body', '$attributes'::jsonb)");
}

publish('both', encode_json({
	'AWS.TraceHeader' => { DataType => 'String', StringValue => $trace },
	traceparent => { DataType => 'String', StringValue => $traceparent },
	colour => { DataType => 'String', StringValue => 'blue' } }));
publish('w3c only', encode_json({
	traceparent => { DataType => 'String', StringValue => $traceparent } }));
publish('none', encode_json({
	colour => { DataType => 'String', StringValue => 'red' } }));
publish('broken', encode_json({
	'AWS.TraceHeader' => { DataType => 'String', StringValue => "Root=1\r\nX-Injected: 1" },
	traceparent => { DataType => 'String', StringValue => "00-x\nX-Injected: 2" } }));

my @posts = SqsnPush::wait_for_requests($sink, '/ok/', 8);
is(scalar(@posts), 8, 'four messages POSTed to each of two subscriptions');

# the POST of a message to a path: the envelope's Message or the raw body
sub post_of
{
	my ($path, $body) = @_;
	for my $p (@posts)
	{
		next unless $p->{path} eq $path;
		my $text = $path eq '/ok/raw' ? $p->{body} : decode_json($p->{body})->{Message};
		return $p if $text eq $body;
	}
	return undef;
}

for my $path ('/ok/envelope', '/ok/raw')
{
	my $p = post_of($path, 'both');
	is($p->{headers}{'x-amzn-trace-id'}, $trace,
		"$path: AWSTraceHeader is sent unchanged as X-Amzn-Trace-Id");
	is($p->{headers}{traceparent}, $traceparent, "$path: traceparent is sent unchanged");

	$p = post_of($path, 'w3c only');
	is($p->{headers}{traceparent}, $traceparent, "$path: traceparent alone is sent");
	is($p->{headers}{'x-amzn-trace-id'},
		'Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1',
		"$path: without a trace header, X-Amzn-Trace-Id is the traceparent in X-Ray's form");

	$p = post_of($path, 'none');
	ok(!exists $p->{headers}{'x-amzn-trace-id'} && !exists $p->{headers}{traceparent},
		"$path: a message without trace context gets no trace headers");

	$p = post_of($path, 'broken');
	ok(defined $p, "$path: a message with a multi-line trace value is still delivered");
	ok(!exists $p->{headers}{'x-amzn-trace-id'} && !exists $p->{headers}{traceparent}
		  && !exists $p->{headers}{'x-injected'},
		"$path: trace values that would break a header line are not sent");
}

my $env = decode_json(post_of('/ok/envelope', 'both')->{body});
is_deeply([ sort keys %{ $env->{MessageAttributes} } ], [ 'colour', 'traceparent' ],
	'the envelope carries the message attributes, the trace header is none of them');
is($env->{MessageAttributes}{traceparent}{Value}, $traceparent,
	'the envelope carries traceparent as it was published');

SqsnPush::stop_sink($sink);
$node->stop;
done_testing();
