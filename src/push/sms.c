/*-------------------------------------------------------------------------
 *
 * sms.c
 *	  SMS subscriptions: phone numbers (E.164), the opt-out list, and the
 *	  request the delivery worker (push_worker.c) sends to an HTTP SMS
 *	  gateway.
 *
 * The gateway speaks the widely used messaging-API form: a POST of
 * application/x-www-form-urlencoded fields To (the E.164 number), From
 * (the sender id) and Body (the message) to sqsn.sms_gateway_url, with
 * HTTP Basic authentication (account sid and auth token, from the file
 * named by sqsn.sms_credentials_file: "sid:token" on its first line,
 * refused when group or others may access it). Any 2xx answer is
 * delivered; the JSON answer's "sid" is recorded as the gateway's message
 * id. The sender id is the message attribute AWS.SNS.SMS.SenderID when
 * given, else sqsn.sms_sender_id; AWS.SNS.SMS.SMSType (Transactional or
 * Promotional) is checked and recorded with the delivery.
 *
 * A message longer than one segment is sent as one concatenated message;
 * its segments are counted as a phone counts them: GSM 03.38 text (7-bit)
 * takes 160 characters in one segment and 153 per segment beyond, anything
 * else is UCS-2, 70 and 67 UTF-16 code units.
 *
 * Opt-out: a number in sqsn.phone_number_opt_out gets nothing; the
 * delivery worker checks the list when it claims a delivery.
 *
 * SMS to a phone number (sn_publish_sms, the endpoint's Publish with
 * PhoneNumber): there is no topic and no subscription, so the outbox row
 * has no subscription_id but the number itself (outbox.c), and the worker
 * sends it like an sms subscription's, with the default delivery policy
 * and no dead-letter queue; its attempts are recorded with no
 * subscription. The row is written in the caller's transaction: a rollback
 * sends nothing. A number on the opt-out list is refused at once (55000),
 * as the managed service answers OptedOut; one opted out after the publish
 * is still not sent to. With sqsn.sms_encrypt_direct the pending row is
 * sealed like an encrypted topic's. EXECUTE on sn_publish_sms is
 * sqsn_admin's alone: no topic grant covers a phone number, and SMS cost
 * money, so an administrator grants it to the roles that may send them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "push/push.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(sn_opt_out_phone_number);
PG_FUNCTION_INFO_V1(sn_opt_in_phone_number);
PG_FUNCTION_INFO_V1(sn_check_if_phone_number_is_opted_out);
PG_FUNCTION_INFO_V1(sn_list_phone_numbers_opted_out);
PG_FUNCTION_INFO_V1(sn_publish_sms);

#define MAX_E164_DIGITS 15
#define MAX_SENDER_ID   11

/* settings */
static char *sqsn_sms_gateway_url = NULL;
static char *sqsn_sms_credentials_file = NULL;
static char *sqsn_sms_sender_id = NULL;
static bool  sqsn_sms_encrypt_direct = false;

static SqsnStatement opt_out_stmt = {
	"INSERT INTO sqsn.phone_number_opt_out (phone_number, opted_out_at)"
	" VALUES ($1, now()) ON CONFLICT (phone_number) DO NOTHING",
	1,
	{TEXTOID},
	SPI_OK_INSERT,
	"inserting into sqsn.phone_number_opt_out"};

static SqsnStatement opt_in_stmt = {
	"DELETE FROM sqsn.phone_number_opt_out WHERE phone_number = $1",
	1,
	{TEXTOID},
	SPI_OK_DELETE,
	"deleting from sqsn.phone_number_opt_out"};

static SqsnStatement list_opted_out_stmt = {
	"SELECT phone_number FROM sqsn.phone_number_opt_out ORDER BY phone_number",
	0,
	{InvalidOid},
	SPI_OK_SELECT,
	"reading sqsn.phone_number_opt_out"};

static SqsnStatement opted_out_stmt = {
	"SELECT FROM sqsn.phone_number_opt_out WHERE phone_number = $1",
	1,
	{TEXTOID},
	SPI_OK_SELECT,
	"reading sqsn.phone_number_opt_out"};

/* Registers the SMS settings; called from PushInit. */
void
SmsInit(void)
{
	DefineCustomStringVariable(
		"sqsn.sms_gateway_url",
		"HTTP SMS gateway that sms subscriptions are sent through.",
		"Empty: SMS are not sent; the deliveries wait and are retried.",
		&sqsn_sms_gateway_url, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL,
		NULL);
	DefineCustomStringVariable(
		"sqsn.sms_credentials_file",
		"File holding account_sid:auth_token for the SMS gateway.",
		"Empty: no authentication. The file must not be accessible to "
		"group or others.",
		&sqsn_sms_credentials_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL,
		NULL, NULL);
	DefineCustomStringVariable("sqsn.sms_sender_id",
							   "Sender id (From) of SMS without the "
							   "AWS.SNS.SMS.SenderID attribute.",
							   NULL, &sqsn_sms_sender_id, "", PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	DefineCustomBoolVariable(
		"sqsn.sms_encrypt_direct",
		"Whether SMS published to a phone number wait in the outbox "
		"encrypted.",
		"Needs sqsn.master_key_file; the phone number stays readable.",
		&sqsn_sms_encrypt_direct, false, PGC_SIGHUP, 0, NULL, NULL, NULL);
}

/* Whether number is an E.164 phone number: "+", then 2 to 15 digits. */
bool
sqsn_is_e164(const char *number)
{
	size_t len = strlen(number);

	return len >= 3 && len <= MAX_E164_DIGITS + 1 && number[0] == '+' &&
		   number[1] >= '1' && number[1] <= '9' &&
		   strspn(number + 1, "0123456789") == len - 1;
}

/* A phone number argument, checked (errors with 22023). */
void
sqsn_validate_phone_number(const char *number)
{
	if (!sqsn_is_e164(number))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid phone number \"%s\"", number),
				 errdetail("A phone number is in E.164 form: \"+\", the "
						   "country code and the number, at most 15 digits, "
						   "no spaces or punctuation."),
				 errhint("Write for example +15555550100.")));
}

/* Whether c is in the GSM 03.38 basic character set or its extension. */
static bool
gsm7_char(pg_wchar c, bool *extension)
{
	static const char *basic =
		"@$\n\r _!\"#%&'()*+,-./0123456789:;<=>?"
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	static const pg_wchar basic_other[] = {
		0xA3,  0xA5,  0xE8,  0xE9,  0xF9,  0xEC,  0xF2,  0xC7,  0xD8,  0xF8,
		0xC5,  0xE5,  0x394, 0x3A6, 0x393, 0x39B, 0x3A9, 0x3A0, 0x3A8, 0x3A3,
		0x398, 0x39E, 0xC6,  0xE6,  0xDF,  0xC9,  0xA4,  0xA1,  0xC4,  0xD6,
		0xD1,  0xDC,  0xA7,  0xBF,  0xE4,  0xF6,  0xF1,  0xFC,  0xE0};

	*extension = false;
	if (c < 0x80 && c != 0 && strchr(basic, (int) c) != NULL)
		return true;
	for (int i = 0; i < lengthof(basic_other); i++)
		if (basic_other[i] == c)
			return true;
	if (c < 0x80 && c != 0 && strchr("^{}\\[~]|\f", (int) c) != NULL)
	{
		*extension = true;
		return true;
	}
	if (c == 0x20AC) /* euro sign */
	{
		*extension = true;
		return true;
	}
	return false;
}

/*
 * The segments a message takes: GSM-7 160 in one, 153 each beyond (an
 * extension character counts twice); else UCS-2, 70 and 67 code units.
 */
int
sqsn_sms_segments(const char *message)
{
	const char *utf8 = pg_server_to_any(message, strlen(message), PG_UTF8);
	int         len = strlen(utf8);
	pg_wchar   *wide = palloc(sizeof(pg_wchar) * (len + 1));
	int         n = pg_encoding_mb2wchar_with_len(PG_UTF8, utf8, wide, len);
	int         septets = 0;
	int         units = 0;
	bool        gsm = true;

	for (int i = 0; i < n; i++)
	{
		bool extension;

		if (gsm && gsm7_char(wide[i], &extension))
			septets += extension ? 2 : 1;
		else
			gsm = false;
		units += wide[i] > 0xFFFF ? 2 : 1;
	}
	if (gsm)
		return septets <= 160 ? 1 : (septets + 152) / 153;
	return units <= 70 ? 1 : (units + 66) / 67;
}

/* sqsn.sms_gateway_url, or NULL when SMS are off. */
const char *
sqsn_sms_gateway(void)
{
	if (sqsn_sms_gateway_url == NULL || sqsn_sms_gateway_url[0] == '\0')
		return NULL;
	return sqsn_sms_gateway_url;
}

/*
 * Sets the options of a libcurl handle that sends one SMS: the gateway's
 * URL, Basic authentication and the form body (To, From, Body), which is
 * returned in *form (the caller keeps it until the transfer ends).
 * Returns NULL, or why the SMS cannot be sent.
 */
char *
sqsn_sms_setup(void *handle, const char *to, const char *sender,
			   const char *message, char **form)
{
	CURL          *easy = (CURL *) handle;
	const char    *gateway = sqsn_sms_gateway();
	StringInfoData buf;
	char          *e;

	if (gateway == NULL)
		return pstrdup("sqsn.sms_gateway_url is not set");
	if (sqsn_sms_credentials_file && sqsn_sms_credentials_file[0])
	{
		char *error = NULL;
		char *line = sqsn_read_credentials(sqsn_sms_credentials_file,
										   "SMS credentials file", &error);
		char *colon;

		if (line == NULL)
			return error;
		colon = strchr(line, ':');
		*colon = '\0';
		curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(easy, CURLOPT_USERNAME, line);
		curl_easy_setopt(easy, CURLOPT_PASSWORD, colon + 1);
		explicit_bzero(line, strlen(line) + strlen(colon + 1) + 1);
	}
	if (sender == NULL || sender[0] == '\0')
		sender = sqsn_sms_sender_id;

	initStringInfo(&buf);
	e = curl_easy_escape(easy, to, 0);
	appendStringInfo(&buf, "To=%s", e);
	curl_free(e);
	if (sender != NULL && sender[0] != '\0')
	{
		e = curl_easy_escape(easy, sender, 0);
		appendStringInfo(&buf, "&From=%s", e);
		curl_free(e);
	}
	e = curl_easy_escape(easy, message, 0);
	appendStringInfo(&buf, "&Body=%s", e);
	curl_free(e);
	*form = buf.data;

	curl_easy_setopt(easy, CURLOPT_URL, gateway);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, *form);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, (long) strlen(*form));
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	return NULL;
}

/* The phone number argument (the first), checked. */
static text *
phone_number_arg(FunctionCallInfo fcinfo)
{
	char *number = sqsn_text_arg(fcinfo, 0, "phone_number");

	sqsn_validate_phone_number(number);
	return cstring_to_text(number);
}

/*
 * sn_opt_out_phone_number(phone_number): nothing is sent to the number
 * any more (until sn_opt_in_phone_number).
 */
Datum
sn_opt_out_phone_number(PG_FUNCTION_ARGS)
{
	Datum value = PointerGetDatum(phone_number_arg(fcinfo));

	int nestlevel;

	sqsn_refuse_on_standby(fcinfo);
	nestlevel = sqsn_admin_begin();
	sqsn_execute(&opt_out_stmt, &value, NULL, 0);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/* sn_opt_in_phone_number(phone_number): the number gets SMS again. */
Datum
sn_opt_in_phone_number(PG_FUNCTION_ARGS)
{
	Datum value = PointerGetDatum(phone_number_arg(fcinfo));

	int nestlevel;

	sqsn_refuse_on_standby(fcinfo);
	nestlevel = sqsn_admin_begin();
	sqsn_execute(&opt_in_stmt, &value, NULL, 0);
	sqsn_admin_end(nestlevel);
	PG_RETURN_VOID();
}

/* sn_check_if_phone_number_is_opted_out(phone_number) */
Datum
sn_check_if_phone_number_is_opted_out(PG_FUNCTION_ARGS)
{
	Datum value = PointerGetDatum(phone_number_arg(fcinfo));
	bool  result;
	int   nestlevel = sqsn_admin_begin();

	result = sqsn_execute(&opted_out_stmt, &value, NULL, 1) > 0;
	sqsn_admin_end(nestlevel);
	PG_RETURN_BOOL(result);
}

/* sn_list_phone_numbers_opted_out(): the opted-out numbers, in order */
Datum
sn_list_phone_numbers_opted_out(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int            nestlevel;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	nestlevel = sqsn_admin_begin();
	sqsn_execute(&list_opted_out_stmt, NULL, NULL, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool  isnull = false;
		Datum value = CStringGetTextDatum(
			SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value,
							 &isnull);
	}
	sqsn_admin_end(nestlevel);
	return (Datum) 0;
}

/*
 * Checks the SMS attributes of a message sent to a phone number: the
 * sender id (1 to 11 letters and digits, at least one letter) and the
 * type (Transactional or Promotional).
 */
static void
check_sms_attributes(Jsonb *attributes)
{
	char *sender =
		sqsn_attribute_string(attributes, SQSN_SMS_SENDER_ID_ATTRIBUTE);
	char *type = sqsn_attribute_string(attributes, SQSN_SMS_TYPE_ATTRIBUTE);

	if (sender != NULL)
	{
		size_t len = strlen(sender);
		bool   letter = false;

		for (const char *p = sender; *p; p++)
			letter |= (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z');
		if (len == 0 || len > MAX_SENDER_ID || !letter ||
			strspn(sender,
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789") != len)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s \"%s\"", SQSN_SMS_SENDER_ID_ATTRIBUTE,
							sender),
					 errdetail("A sender id has 1 to %d letters and digits, "
							   "at least one of them a letter.",
							   MAX_SENDER_ID)));
	}
	if (type != NULL && strcmp(type, "Transactional") != 0 &&
		strcmp(type, "Promotional") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s \"%s\"", SQSN_SMS_TYPE_ATTRIBUTE, type),
				 errhint("Use Transactional or Promotional.")));
}

/*
 * sn_publish_sms(phone_number, message, message_attributes): an SMS to
 * the number, sent after commit by the delivery worker; returns the
 * message id. Refused for a number on the opt-out list.
 */
Datum
sn_publish_sms(PG_FUNCTION_ARGS)
{
	char      *number;
	text      *message;
	Jsonb     *attributes;
	int64      attributes_size;
	int64      size;
	pg_uuid_t *message_id;
	Datum      value;
	int        nestlevel;

	sqsn_refuse_on_standby(fcinfo);
	number = sqsn_text_arg(fcinfo, 0, "phone_number");
	sqsn_validate_phone_number(number);
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("message must not be NULL")));
	message = PG_GETARG_TEXT_PP(1);
	if (VARSIZE_ANY_EXHDR(message) == 0)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("message must not be empty")));
	attributes = sqsn_normalize_attributes(
		PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2), &attributes_size);
	size = VARSIZE_ANY_EXHDR(message) + attributes_size;
	if (size > SQSN_MAX_MESSAGE_SIZE)
		ereport(ERROR, (errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
						errmsg("message is too large to publish"),
						errdetail("Message and attributes take " INT64_FORMAT
								  " bytes; the limit is %d.",
								  size, SQSN_MAX_MESSAGE_SIZE)));
	check_sms_attributes(attributes);

	nestlevel = sqsn_admin_begin();
	value = CStringGetTextDatum(number);
	if (sqsn_execute(&opted_out_stmt, &value, NULL, 1) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("phone number \"%s\" has opted out of SMS", number),
				 errdetail("Nothing is sent to a number on the opt-out list."),
				 errhint("sqsn.sn_opt_in_phone_number takes it off the list "
						 "once its owner asks for SMS again.")));
	message_id = sqsn_new_uuid();
	sqsn_outbox_sms(number, message_id, message, attributes,
					GetCurrentTimestamp(), sqsn_sms_encrypt_direct);
	sqsn_admin_end(nestlevel);
	PG_RETURN_UUID_P(message_id);
}
