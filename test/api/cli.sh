#!/usr/bin/env bash
#
# SQS and SNS through the endpoint with Debian's AWS CLI 2.9 (the query
# protocol). Run by test/api/run, which exports SQSN_API_URL, the access
# keys and the region; $AWS names the CLI (default /usr/bin/aws).
# Prints "ok N - what" / "not ok N - what" and exits 1 if a check failed.

set -u -o pipefail
AWS=${AWS:-/usr/bin/aws}
: "${SQSN_API_URL:?run me from test/api/run}"
ACCOUNT=${SQSN_API_ACCOUNT_ID:-000000000000}
REGION=${AWS_DEFAULT_REGION:-us-east-1}
P=apitest-cli-$$-
N=0
FAILS=0

aws() { "$AWS" --endpoint-url "$SQSN_API_URL" --output json "$@"; }
# jq is not on every machine: read JSON with Python
jget() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

ok() {
	N=$((N + 1))
	echo "ok $N - $1"
}
not_ok() {
	N=$((N + 1))
	FAILS=$((FAILS + 1))
	echo "not ok $N - $1"
	[ -n "${2:-}" ] && printf '#   %s\n' "$2"
	return 0
}
# is GOT WANT WHAT
is() {
	if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3" "got '$1', want '$2'"; fi
}
# run WHAT CMD...: CMD must succeed; its stdout lands in $OUT
run() {
	local what=$1
	shift
	if OUT=$("$@" 2>/tmp/cli-err.$$); then
		ok "$what"
	else
		not_ok "$what" "exit $?: $(cat /tmp/cli-err.$$)"
		OUT='{}'
	fi
}
trap 'rm -f /tmp/cli-err.$$' EXIT
# one value from the endpoint's database, as the superuser (test/api/run
# exports PGHOST, PGPORT, PGUSER, PGDATABASE)
sql() { psql -X -At -v ON_ERROR_STOP=1 -c "$1"; }
# fails WHAT CODE CMD...: CMD must exit 254 (a service error) naming CODE
fails() {
	local what=$1 code=$2
	shift 2
	"$@" >/dev/null 2>/tmp/cli-err.$$
	local rc=$?
	if [ "$rc" = 254 ] && grep -q "($code)" /tmp/cli-err.$$; then
		ok "$what"
	else
		not_ok "$what" "exit $rc: $(cat /tmp/cli-err.$$)"
	fi
}

# Without the CLI every check would fail the same way: say so once
if [ ! -x "$AWS" ]; then
	echo "not ok 1 - no AWS CLI at $AWS (Debian's awscli; scripts/setup.sh installs it)"
	echo "1..1"
	exit 1
fi

# --- queues
run "create-queue" aws sqs create-queue --queue-name "${P}q" \
	--attributes VisibilityTimeout=40,DelaySeconds=0
Q=$(jget 'd["QueueUrl"]' <<<"$OUT")
is "$Q" "$SQSN_API_URL/$ACCOUNT/${P}q" "create-queue returns the queue URL"
run "get-queue-url" aws sqs get-queue-url --queue-name "${P}q"
is "$(jget 'd["QueueUrl"]' <<<"$OUT")" "$Q" "get-queue-url"
run "create-queue (second)" aws sqs create-queue --queue-name "${P}r"
R=$(jget 'd["QueueUrl"]' <<<"$OUT")
run "list-queues --queue-name-prefix" aws sqs list-queues --queue-name-prefix "$P"
is "$(jget '" ".join(sorted(d["QueueUrls"]))' <<<"$OUT")" "$Q $R" "list-queues lists both"
run "list-queues --max-results 1" aws sqs list-queues --queue-name-prefix "$P" --max-results 1 --no-paginate
is "$(jget 'len(d["QueueUrls"])' <<<"$OUT")" 1 "one queue per page"
is "$(jget '"NextToken" in d' <<<"$OUT")" True "a NextToken for the next page"
run "list-queues with the CLI's pagination" aws sqs list-queues --queue-name-prefix "$P" --page-size 1
is "$(jget 'len(d["QueueUrls"])' <<<"$OUT")" 2 "the CLI followed NextToken to both queues"

run "get-queue-attributes All" aws sqs get-queue-attributes --queue-url "$Q" --attribute-names All
is "$(jget 'd["Attributes"]["VisibilityTimeout"]' <<<"$OUT")" 40 "VisibilityTimeout from create"
is "$(jget 'd["Attributes"]["QueueArn"]' <<<"$OUT")" "arn:aws:sqs:$REGION:$ACCOUNT:${P}q" "QueueArn"
run "set-queue-attributes" aws sqs set-queue-attributes --queue-url "$Q" --attributes VisibilityTimeout=50
run "get-queue-attributes by name" aws sqs get-queue-attributes --queue-url "$Q" --attribute-names VisibilityTimeout
is "$(jget 'd["Attributes"]' <<<"$OUT")" "{'VisibilityTimeout': '50'}" "only the attribute asked for, changed"

# --- dead-letter source queues, paged by the CLI
REDRIVE=$(/usr/bin/python3 -c 'import json,sys; print(json.dumps({"RedrivePolicy": json.dumps({"deadLetterTargetArn": sys.argv[1], "maxReceiveCount": "3"})}))' "arn:aws:sqs:$REGION:$ACCOUNT:${P}q")
run "create-queue with a redrive policy" aws sqs create-queue --queue-name "${P}src1" --attributes "$REDRIVE"
S1=$(jget 'd["QueueUrl"]' <<<"$OUT")
run "create-queue with a redrive policy (second)" aws sqs create-queue --queue-name "${P}src2" --attributes "$REDRIVE"
S2=$(jget 'd["QueueUrl"]' <<<"$OUT")
run "list-dead-letter-source-queues" aws sqs list-dead-letter-source-queues --queue-url "$Q" --page-size 1
is "$(jget '" ".join(sorted(d["queueUrls"]))' <<<"$OUT")" "$S1 $S2" "the CLI followed NextToken to both sources"
run "delete the source queues" aws sqs delete-queue --queue-url "$S1"
run "delete the source queues (second)" aws sqs delete-queue --queue-url "$S2"

# --- tags
run "tag-queue" aws sqs tag-queue --queue-url "$Q" --tags team=orders,env=prod
run "untag-queue" aws sqs untag-queue --queue-url "$Q" --tag-keys env
run "list-queue-tags" aws sqs list-queue-tags --queue-url "$Q"
is "$(jget 'd["Tags"]' <<<"$OUT")" "{'team': 'orders'}" "the tags left"

# --- messages
run "send-message with attributes" aws sqs send-message --queue-url "$Q" --message-body "hello cli" \
	--message-attributes '{"color":{"DataType":"String","StringValue":"blue"},"n":{"DataType":"Number","StringValue":"7"}}'
is "$(jget 'd["MD5OfMessageBody"]' <<<"$OUT")" "$(printf %s "hello cli" | md5sum | cut -d' ' -f1)" "MD5OfMessageBody"
is "$(jget 'len(d["MD5OfMessageAttributes"])' <<<"$OUT")" 32 "MD5OfMessageAttributes"
MID=$(jget 'd["MessageId"]' <<<"$OUT")
run "receive-message" aws sqs receive-message --queue-url "$Q" --attribute-names All \
	--message-attribute-names All --visibility-timeout 600
is "$(jget 'd["Messages"][0]["MessageId"]' <<<"$OUT")" "$MID" "the message sent"
is "$(jget 'd["Messages"][0]["Body"]' <<<"$OUT")" "hello cli" "its body"
is "$(jget 'd["Messages"][0]["MessageAttributes"]["color"]["StringValue"]' <<<"$OUT")" blue "its attribute"
is "$(jget 'd["Messages"][0]["Attributes"]["ApproximateReceiveCount"]' <<<"$OUT")" 1 "its receive count"
if [ "${SQSN_API_AUTH:-sigv4}" = sigv4 ]; then
	is "$(jget 'd["Messages"][0]["Attributes"]["SenderId"]' <<<"$OUT")" sqsn_api_tester \
		"its SenderId: the role of the access key"
fi
H=$(jget 'd["Messages"][0]["ReceiptHandle"]' <<<"$OUT")
run "receive-message while in flight" aws sqs receive-message --queue-url "$Q"
is "$(jget 'len(d.get("Messages", []))' <<<"${OUT:-{\}}")" 0 "nothing visible"
run "change-message-visibility" aws sqs change-message-visibility --queue-url "$Q" \
	--receipt-handle "$H" --visibility-timeout 0
run "receive-message again" aws sqs receive-message --queue-url "$Q" --attribute-names ApproximateReceiveCount
is "$(jget 'd["Messages"][0]["Attributes"]["ApproximateReceiveCount"]' <<<"$OUT")" 2 "visible again, received twice"
is "$(jget 'sorted(d["Messages"][0]["Attributes"])' <<<"$OUT")" "['ApproximateReceiveCount']" "only the attribute asked for"
H=$(jget 'd["Messages"][0]["ReceiptHandle"]' <<<"$OUT")
run "delete-message" aws sqs delete-message --queue-url "$Q" --receipt-handle "$H"
run "get-queue-attributes counters" aws sqs get-queue-attributes --queue-url "$Q" \
	--attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible
is "$(jget 'd["Attributes"]["ApproximateNumberOfMessages"] + "/" + d["Attributes"]["ApproximateNumberOfMessagesNotVisible"]' <<<"$OUT")" \
	0/0 "the queue is empty"

# --- batches
run "send-message-batch" aws sqs send-message-batch --queue-url "$Q" \
	--entries '[{"Id":"a","MessageBody":"b1"},{"Id":"b","MessageBody":"b2"},{"Id":"c","MessageBody":"b3"}]'
is "$(jget 'len(d["Successful"])' <<<"$OUT")" 3 "three sent"
run "receive-message --max-number-of-messages 10" aws sqs receive-message --queue-url "$Q" \
	--max-number-of-messages 10 --visibility-timeout 600
is "$(jget '" ".join(sorted(m["Body"] for m in d["Messages"]))' <<<"$OUT")" "b1 b2 b3" "the batch received"
ENTRIES=$(jget 'json.dumps([{"Id": "e%d" % i, "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(d["Messages"])])' <<<"$OUT")
run "change-message-visibility-batch" aws sqs change-message-visibility-batch --queue-url "$Q" --entries "$ENTRIES"
is "$(jget 'len(d["Successful"])' <<<"$OUT")" 3 "three changed"
run "receive the batch again" aws sqs receive-message --queue-url "$Q" --max-number-of-messages 10 --visibility-timeout 600
ENTRIES=$(jget 'json.dumps([{"Id": "e%d" % i, "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(d["Messages"])] + [{"Id": "bad", "ReceiptHandle": "garbage"}])' <<<"$OUT")
run "delete-message-batch" aws sqs delete-message-batch --queue-url "$Q" --entries "$ENTRIES"
is "$(jget 'len(d["Successful"])' <<<"$OUT")" 3 "three deleted"
is "$(jget 'd["Failed"][0]["Id"] + " " + d["Failed"][0]["Code"]' <<<"$OUT")" "bad ReceiptHandleIsInvalid" \
	"the invalid handle in Failed"

# --- purge, delete
run "send before purge" aws sqs send-message --queue-url "$Q" --message-body purged
run "purge-queue" aws sqs purge-queue --queue-url "$Q"
run "counters after purge" aws sqs get-queue-attributes --queue-url "$Q" --attribute-names ApproximateNumberOfMessages
is "$(jget 'd["Attributes"]["ApproximateNumberOfMessages"]' <<<"$OUT")" 0 "purged"
run "delete-queue" aws sqs delete-queue --queue-url "$R"

# --- an error: the exit status and the code
aws sqs get-queue-url --queue-name "${P}r" >/dev/null 2>/tmp/cli-err.$$
rc=$?
is "$rc" 254 "get-queue-url of a deleted queue exits 254"
if grep -q 'AWS.SimpleQueueService.NonExistentQueue' /tmp/cli-err.$$; then
	ok "stderr names AWS.SimpleQueueService.NonExistentQueue"
else
	not_ok "stderr names AWS.SimpleQueueService.NonExistentQueue" "$(cat /tmp/cli-err.$$)"
fi
aws sqs send-message --queue-url "$R" --message-body x >/dev/null 2>/tmp/cli-err.$$
is "$?" 254 "send-message to a deleted queue exits 254"

# --- SNS fan-out into a queue
run "sns create-topic" aws sns create-topic --name "${P}topic"
T=$(jget 'd["TopicArn"]' <<<"$OUT")
is "$T" "arn:aws:sns:$REGION:$ACCOUNT:${P}topic" "the topic ARN"
run "create the subscribed queue" aws sqs create-queue --queue-name "${P}fan"
F=$(jget 'd["QueueUrl"]' <<<"$OUT")
run "create the raw subscribed queue" aws sqs create-queue --queue-name "${P}fanraw"
FR=$(jget 'd["QueueUrl"]' <<<"$OUT")
run "sns subscribe" aws sns subscribe --topic-arn "$T" --protocol sqs \
	--notification-endpoint "arn:aws:sqs:$REGION:$ACCOUNT:${P}fan"
case $(jget 'd["SubscriptionArn"]' <<<"$OUT") in
"$T":*) ok "a confirmed subscription ARN" ;;
*) not_ok "a confirmed subscription ARN" "$OUT" ;;
esac
run "sns subscribe (raw, filtered)" aws sns subscribe --topic-arn "$T" --protocol sqs \
	--notification-endpoint "arn:aws:sqs:$REGION:$ACCOUNT:${P}fanraw" \
	--attributes '{"RawMessageDelivery":"true","FilterPolicy":"{\"kind\":[\"keep\"]}"}'
run "sns publish (kept)" aws sns publish --topic-arn "$T" --message "fan out" --subject "hi" \
	--message-attributes '{"kind":{"DataType":"String","StringValue":"keep"}}'
PMID=$(jget 'd["MessageId"]' <<<"$OUT")
run "sns publish (filtered out of the raw queue)" aws sns publish --topic-arn "$T" --message "second" \
	--message-attributes '{"kind":{"DataType":"String","StringValue":"drop"}}'
# SQS subscriptions are delivered to in the publishing transaction
run "receive the envelopes" aws sqs receive-message --queue-url "$F" --max-number-of-messages 10 --wait-time-seconds 2
ENV=$(jget 'json.dumps(sorted([json.loads(m["Body"]) for m in d.get("Messages", [])], key=lambda e: e["Message"]))' <<<"$OUT")
is "$(jget '[e["Message"] for e in d]' <<<"$ENV")" "['fan out', 'second']" "both published messages in the queue"
is "$(jget 'd[0]["Type"] + " " + d[0]["TopicArn"] + " " + d[0]["Subject"] + " " + d[0]["MessageId"]' <<<"$ENV")" \
	"Notification $T hi $PMID" "the SNS envelope"
is "$(jget 'd[0]["MessageAttributes"]["kind"]["Value"]' <<<"$ENV")" keep "the attribute in the envelope"
run "receive from the raw, filtered queue" aws sqs receive-message --queue-url "$FR" \
	--max-number-of-messages 10 --wait-time-seconds 5 --message-attribute-names All
is "$(jget '[m["Body"] for m in d["Messages"]]' <<<"$OUT")" "['fan out']" "raw delivery, only what the filter lets through"
is "$(jget 'd["Messages"][0]["MessageAttributes"]["kind"]["StringValue"]' <<<"$OUT")" keep \
	"the SNS attribute became an SQS attribute"

# --- email and sms subscriptions
run "sns subscribe email" aws sns subscribe --topic-arn "$T" --protocol email \
	--notification-endpoint "cli@example.com"
is "$(jget 'd["SubscriptionArn"]' <<<"$OUT")" "pending confirmation" "an email subscription waits for confirmation"
run "sns subscribe sms" aws sns subscribe --topic-arn "$T" --protocol sms \
	--notification-endpoint "+15555550720"
SMS_SUB=$(jget 'd["SubscriptionArn"]' <<<"$OUT")
case $SMS_SUB in
"$T":*) ok "an sms subscription is confirmed at once" ;;
*) not_ok "an sms subscription is confirmed at once" "$OUT" ;;
esac
run "sns get-subscription-attributes (sms)" aws sns get-subscription-attributes --subscription-arn "$SMS_SUB"
is "$(jget 'd["Attributes"]["Protocol"] + " " + d["Attributes"]["Endpoint"] + " " + d["Attributes"]["PendingConfirmation"]' <<<"$OUT")" \
	"sms +15555550720 false" "the sms subscription's attributes"
run "sns list-subscriptions-by-topic" aws sns list-subscriptions-by-topic --topic-arn "$T"
is "$(jget '" ".join(sorted(s["Protocol"] + "=" + s["Endpoint"] for s in d["Subscriptions"] if s["Protocol"] != "sqs"))' <<<"$OUT")" \
	"email=cli@example.com sms=+15555550720" "both listed with their endpoints"
fails "sns subscribe sms with a number not in E.164" InvalidParameter \
	aws sns subscribe --topic-arn "$T" --protocol sms --notification-endpoint "555-0720"
fails "sns subscribe email with a bad address" InvalidParameter \
	aws sns subscribe --topic-arn "$T" --protocol email --notification-endpoint "not an address"

# --- the opt-out list (opting out is the recipient's: done in SQL here)
sql "SELECT sqsn.sn_opt_out_phone_number('+15555550721')" >/dev/null
run "sns check-if-phone-number-is-opted-out" aws sns check-if-phone-number-is-opted-out \
	--phone-number "+15555550721"
is "$(jget 'd["isOptedOut"]' <<<"$OUT")" True "an opted-out number"
run "sns list-phone-numbers-opted-out" aws sns list-phone-numbers-opted-out
is "$(jget '"+15555550721" in d["phoneNumbers"]' <<<"$OUT")" True "the opted-out number is listed"
fails "sns publish --phone-number to an opted-out number" OptedOut \
	aws sns publish --phone-number "+15555550721" --message "refused"
run "sns opt-in-phone-number" aws sns opt-in-phone-number --phone-number "+15555550721"
run "sns check-if-phone-number-is-opted-out (after opt-in)" aws sns check-if-phone-number-is-opted-out \
	--phone-number "+15555550721"
is "$(jget 'd["isOptedOut"]' <<<"$OUT")" False "opted in again"
fails "sns check-if-phone-number-is-opted-out with a number not in E.164" InvalidParameter \
	aws sns check-if-phone-number-is-opted-out --phone-number "555-0721"

# --- publish straight to a phone number
run "sns publish --phone-number" aws sns publish --phone-number "+15555550722" --message "Your code is 1234" \
	--message-attributes '{"AWS.SNS.SMS.SenderID":{"DataType":"String","StringValue":"MyBank"},"AWS.SNS.SMS.SMSType":{"DataType":"String","StringValue":"Transactional"}}'
SMS_ID=$(jget 'd["MessageId"]' <<<"$OUT")
is "$(sql "SELECT concat_ws(' ', phone_number, message, message_attributes->'AWS.SNS.SMS.SenderID'->>'StringValue')
	FROM sqsn.delivery WHERE message_id = '$SMS_ID' AND subscription_id IS NULL")" \
	"+15555550722 Your code is 1234 MyBank" "the SMS is in the outbox, with its sender id"
fails "sns publish --phone-number with a number not in E.164" InvalidParameter \
	aws sns publish --phone-number "555-0722" --message "x"
fails "sns publish with both --phone-number and --topic-arn" InvalidParameter \
	aws sns publish --phone-number "+15555550722" --topic-arn "$T" --message "x"
sql "DELETE FROM sqsn.delivery WHERE phone_number = '+15555550722'" >/dev/null

# --- mobile push: a platform application, an endpoint, a publish to it
APNS_ATTRS=$(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
	/usr/bin/python3 -c 'import json,sys; print(json.dumps({"PlatformCredential": sys.stdin.read(),
		"PlatformPrincipal": "ABC123DEFG", "ApplePlatformTeamID": "TEAM123456",
		"ApplePlatformBundleID": "com.example.cli"}))')
run "sns create-platform-application" aws sns create-platform-application --name "${P}ios" \
	--platform APNS --attributes "$APNS_ATTRS"
APP=$(jget 'd["PlatformApplicationArn"]' <<<"$OUT")
is "$APP" "arn:aws:sns:$REGION:$ACCOUNT:app/APNS/${P}ios" "the platform application ARN"
run "sns get-platform-application-attributes" aws sns get-platform-application-attributes \
	--platform-application-arn "$APP"
is "$(jget '" ".join(sorted(d["Attributes"]))' <<<"$OUT")" \
	"ApplePlatformBundleID ApplePlatformTeamID Enabled" "its attributes, without the credentials"
run "sns create-platform-endpoint" aws sns create-platform-endpoint --platform-application-arn "$APP" \
	--token "cli-token-1" --custom-user-data "user 1"
EP=$(jget 'd["EndpointArn"]' <<<"$OUT")
case $EP in
"arn:aws:sns:$REGION:$ACCOUNT:endpoint/APNS/${P}ios/"*) ok "the endpoint ARN" ;;
*) not_ok "the endpoint ARN" "$OUT" ;;
esac
run "sns get-endpoint-attributes" aws sns get-endpoint-attributes --endpoint-arn "$EP"
is "$(jget 'd["Attributes"]["Enabled"] + " " + d["Attributes"]["Token"] + " " + d["Attributes"]["CustomUserData"]' <<<"$OUT")" \
	"true cli-token-1 user 1" "the endpoint's attributes"
run "sns publish --target-arn" aws sns publish --target-arn "$EP" --message "hello"
PUSH_ID=$(jget 'd["MessageId"]' <<<"$OUT")
is "$(sql "SELECT concat_ws(' ', subscription_id IS NULL, topic_arn = '$EP', message)
	FROM sqsn.delivery WHERE message_id = '$PUSH_ID' AND endpoint_id IS NOT NULL")" \
	't t {"aps":{"alert":"hello"}}' "the push is in the outbox, for the endpoint"
fails "sns publish with both --target-arn and --phone-number" InvalidParameter \
	aws sns publish --target-arn "$EP" --phone-number "+15555550723" --message "x"
fails "sns publish with both --target-arn and --topic-arn" InvalidParameter \
	aws sns publish --target-arn "$EP" --topic-arn "$T" --message "x"
run "sns delete-endpoint" aws sns delete-endpoint --endpoint-arn "$EP"
is "$(sql "SELECT count(*) FROM sqsn.delivery WHERE message_id = '$PUSH_ID'")" 0 \
	"the endpoint's pending push went with it"
fails "sns get-endpoint-attributes of a deleted endpoint" NotFound \
	aws sns get-endpoint-attributes --endpoint-arn "$EP"
fails "sns publish --target-arn to a deleted endpoint" NotFound \
	aws sns publish --target-arn "$EP" --message "gone"
run "sns delete-platform-application" aws sns delete-platform-application --platform-application-arn "$APP"

run "sns delete-topic" aws sns delete-topic --topic-arn "$T"
run "delete-queue" aws sqs delete-queue --queue-url "$Q"

echo "1..$N"
if [ "$FAILS" -gt 0 ]; then
	echo "# $FAILS of $N checks failed"
	exit 1
fi
echo "# all $N checks passed"
