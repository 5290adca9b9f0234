#!/usr/bin/perl
# Amazon::SQS::Simple (Debian's libamazon-sqs-simple-perl) on sqsn,
# unmodified. It sends every queue request as a signed POST to the queue's
# URL, naming the queue by the path, with no QueueUrl parameter.
#
# test/apps/run makes the queue SQSN_APP_QUEUE and a role that may only send
# to it and receive from it. A worker script's loop: send single messages
# and a batch, receive them in batches, extend one message's visibility,
# delete one by one and in a batch; the queue's attributes count what is
# left; the queue ends empty, as SQL sees it.
use strict;
use warnings;
use Test::More;
use Digest::MD5 qw(md5_hex);
use Amazon::SQS::Simple;

my $endpoint = $ENV{SQSN_API_URL} or die "SQSN_API_URL is not set: run me from test/apps/run";
my $account  = $ENV{SQSN_API_ACCOUNT_ID} || '000000000000';
my $name     = $ENV{SQSN_APP_QUEUE};

# what a user writes: the key, and the queue's URL
my $sqs = Amazon::SQS::Simple->new($ENV{SQSN_APP_KEY_ID}, $ENV{SQSN_APP_SECRET},
    Endpoint => $endpoint, Timeout => 30);
my $queue = $sqs->GetQueue("$endpoint/$account/$name");

sub in_queue {
    my $attrs = `psql -X -At -c "SELECT sqsn.sq_get_queue_attributes('$name')"`;
    my ($visible)  = $attrs =~ /"ApproximateNumberOfMessages": (\d+)/;
    my ($inflight) = $attrs =~ /"ApproximateNumberOfMessagesNotVisible": (\d+)/;
    return ($visible, $inflight);
}

my $sent = $queue->SendMessage('hello from perl', MessageAttributes => {});
like($sent->MessageId, qr/^[0-9a-f-]{36}$/, 'SendMessage returns a message id');
is($sent->MD5OfMessageBody, md5_hex('hello from perl'), 'SendMessage returns the MD5 of the body');
my @batch = $queue->SendMessageBatch([map { "batch message $_" } 1 .. 5]);
is(scalar(@batch), 5, 'SendMessageBatch sends five');
is_deeply([in_queue()], [6, 0], 'six messages are in the queue');

# GetQueueAttributes with "AttributeName=All", SetQueueAttributes with
# "Attribute.Name" / "Attribute.Value": the lists' unindexed form
my $attrs = $queue->GetAttributes();
is($attrs->{ApproximateNumberOfMessages}, 6, 'GetAttributes counts them');
like($attrs->{QueueArn}, qr/:\Q$name\E$/, 'GetAttributes gives the queue ARN');

my @got = $queue->ReceiveMessageBatch;
ok(@got >= 1 && @got <= 10, 'ReceiveMessageBatch gets a batch');
my %bodies;
while (@got) {
    for my $m (@got) {
        $bodies{ $m->MessageBody }++;
    }
    my $first = shift @got;
    $queue->ChangeMessageVisibility($first->ReceiptHandle, 60);
    $queue->DeleteMessage($first);
    $queue->DeleteMessageBatch(\@got) if @got;
    @got = $queue->ReceiveMessageBatch;
}
is_deeply(\%bodies, { 'hello from perl' => 1, map { ("batch message $_" => 1) } 1 .. 5 },
          'every message was received once');
is_deeply([in_queue()], [0, 0], 'the queue is empty');

my $again = $queue->ReceiveMessage(WaitTimeSeconds => 1);
ok(!defined $again, 'a long poll of the empty queue gets nothing');

done_testing();
