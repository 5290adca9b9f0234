/*-------------------------------------------------------------------------
 *
 * email.c
 *	  Email and email-json subscriptions: their addresses, the mail the
 *	  delivery worker sends them (push_worker.c) and the SMTP settings.
 *
 * A mail is one text/plain part in UTF-8, its body base64-encoded in
 * lines of 76 characters, every line ending in CRLF. The body is
 * canonicalised before encoding (a lone LF or CR becomes CRLF), so a
 * receiver decodes exactly the message that was published, with CRLF line
 * ends. Base64 has no dots and no long lines, so the body needs no dot
 * stuffing (libcurl does it anyway) and passes any relay unchanged.
 *
 * Headers come only from the settings and the subscription: From
 * (sqsn.smtp_from), To (the address, checked when subscribing), Subject,
 * Date, Message-ID (the notification's message id, the same on every
 * attempt) and the MIME headers. The subject is the only text a
 * publisher chooses: its control characters (CR and LF included) become
 * spaces before anything else, so it can never end its header line, and
 * a subject with non-ASCII characters, or "=?", is written as RFC 2047
 * encoded-words (B encoding), split on character boundaries and folded.
 * Message attributes never become headers.
 *
 * TLS: an smtps:// relay is TLS from the start. With smtp://, the setting
 * sqsn.smtp_require_starttls (on by default) makes STARTTLS mandatory
 * (libcurl's CURLUSESSL_ALL): a relay that does not offer it, or fails
 * it, fails the attempt before any credentials or mail are sent. Turned
 * off, STARTTLS is still used when offered (CURLUSESSL_TRY), but libcurl
 * then goes on in plain text when a relay that advertised STARTTLS answers
 * the command with an error, and a man in the middle can strip the
 * advertisement: that is only for a relay on a trusted path (loopback).
 *
 * Every mail has its own SMTP session (no connection reuse), so a change
 * of these settings applies to the next mail.
 *
 * Credentials: sqsn.smtp_credentials_file names a file holding
 * "user:password" on its first line; it is refused, like the master key
 * file (security/crypto.c), when group or others may access it. It is
 * read for every mail, so a changed file needs no reload.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include <curl/curl.h>

#include "push/push.h"

#include "common/base64.h"
#include "mb/pg_wchar.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#define MAX_EMAIL_LENGTH     254
#define MAX_LOCAL_PART       64
#define BASE64_LINE          76
#define ENCODED_WORD_BYTES   45 /* 60 base64 characters: " " + 72 */
#define FIRST_WORD_BYTES     39 /* 52 characters: "Subject: " + 64 */
#define PLAIN_SUBJECT_LENGTH 900

/* settings */
static char *sqsn_smtp_url = NULL;
static char *sqsn_smtp_from = NULL;
static char *sqsn_smtp_credentials_file = NULL;
static bool  sqsn_smtp_require_starttls = true;

/* Registers the SMTP settings; called from PushInit. */
void
EmailInit(void)
{
	DefineCustomStringVariable(
		"sqsn.smtp_url",
		"SMTP relay that email and email-json subscriptions are sent "
		"through (smtp://host:port or smtps://host:port).",
		"Empty: mail is not sent; the deliveries wait and are retried.",
		&sqsn_smtp_url, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("sqsn.smtp_from",
							   "Sender address of the mail sqsn sends.", NULL,
							   &sqsn_smtp_from, "no-reply@localhost",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable(
		"sqsn.smtp_credentials_file",
		"File holding user:password for the SMTP relay.",
		"Empty: no authentication. The file must not be accessible to "
		"group or others.",
		&sqsn_smtp_credentials_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL,
		NULL, NULL);
	DefineCustomBoolVariable(
		"sqsn.smtp_require_starttls",
		"Whether an smtp:// relay must accept STARTTLS.",
		"Off: STARTTLS is used when offered, plain text otherwise.",
		&sqsn_smtp_require_starttls, true, PGC_SIGHUP, GUC_SUPERUSER_ONLY,
		NULL, NULL, NULL);
}

/* Whether c may appear in the local part of an address we send to. */
static bool
local_part_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		   (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL;
}

/*
 * Why addr is not an address sqsn sends mail to, or NULL: a dot-atom
 * local part of at most 64 characters, "@", and a domain of letters,
 * digits and hyphens in dot-separated labels; at most 254 characters,
 * ASCII only (no SMTPUTF8), nothing that could end an SMTP command or a
 * header line.
 */
char *
sqsn_email_address_problem(const char *addr)
{
	const char *at = strchr(addr, '@');
	size_t      len = strlen(addr);
	const char *label;

	if (len > MAX_EMAIL_LENGTH)
		return psprintf("An address has at most %d characters.",
						MAX_EMAIL_LENGTH);
	if (at == NULL || strchr(at + 1, '@') != NULL)
		return pstrdup("An address has exactly one \"@\".");
	if (at == addr || at - addr > MAX_LOCAL_PART)
		return psprintf("The part before \"@\" has 1 to %d characters.",
						MAX_LOCAL_PART);
	if (addr[0] == '.' || at[-1] == '.' ||
		(strstr(addr, "..") != NULL && strstr(addr, "..") < at))
		return pstrdup("The part before \"@\" neither starts nor ends with "
					   "a dot, nor has two in a row.");
	for (const char *p = addr; p < at; p++)
		if (!local_part_char(*p))
			return psprintf("The part before \"@\" may not contain \"%s\".",
							(unsigned char) *p < 0x20 ||
									(unsigned char) *p >= 0x7f
								? "control or non-ASCII characters"
								: pnstrdup(p, 1));
	label = at + 1;
	if (*label == '\0')
		return pstrdup("The domain after \"@\" is missing.");
	for (const char *p = label;; p++)
	{
		if (*p == '.' || *p == '\0')
		{
			if (p == label || *label == '-' || p[-1] == '-' || p - label > 63)
				return pstrdup("Each label of the domain has 1 to 63 letters, "
							   "digits or hyphens, not at its ends.");
			if (*p == '\0')
				break;
			label = p + 1;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '-'))
			return pstrdup("The domain has letters, digits, hyphens and "
						   "dots only.");
	}
	return NULL;
}

/* The endpoint of an email subscription, checked (errors with 22023). */
void
sqsn_validate_email_address(const char *addr)
{
	char *problem = sqsn_email_address_problem(addr);

	if (problem != NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("invalid email address \"%s\"", addr),
						errdetail("%s", problem),
						errhint("Use an address such as user@example.com.")));
}

/* text in UTF-8, from the server encoding */
static const char *
to_utf8(const char *s)
{
	return pg_server_to_any(s, strlen(s), PG_UTF8);
}

/* Appends bytes as base64 in lines of 76 characters, each ended by CRLF. */
static void
append_base64_lines(StringInfo buf, const char *bytes, int len)
{
	int   enclen = pg_b64_enc_len(len);
	char *enc = palloc(enclen + 1);
	int   n = pg_b64_encode(bytes, len, enc, enclen);

	if (n < 0)
		elog(ERROR, "could not encode a mail body");
	for (int i = 0; i < n; i += BASE64_LINE)
	{
		appendBinaryStringInfo(buf, enc + i, Min(BASE64_LINE, n - i));
		appendStringInfoString(buf, "\r\n");
	}
}

/*
 * The Subject header line (with its CRLF): control characters become
 * spaces; ASCII without "=?" stays as it is, anything else becomes
 * encoded-words of at most 45 bytes each (39 for the first, never
 * splitting a character), folded onto continuation lines: no line is
 * longer than 76 characters (RFC 2047).
 */
static void
append_subject(StringInfo buf, const char *subject)
{
	char *s = pstrdup(to_utf8(subject));
	bool  ascii = true;
	int   len;

	for (char *p = s; *p; p++)
	{
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = ' ';
		else if ((unsigned char) *p >= 0x80)
			ascii = false;
	}
	len = strlen(s);
	appendStringInfoString(buf, "Subject: ");
	if (ascii && strstr(s, "=?") == NULL && len <= PLAIN_SUBJECT_LENGTH)
	{
		appendStringInfoString(buf, s);
		appendStringInfoString(buf, "\r\n");
		return;
	}
	for (int i = 0; i < len;)
	{
		int  n = Min(i == 0 ? FIRST_WORD_BYTES : ENCODED_WORD_BYTES, len - i);
		char enc[64];
		int  enclen;

		/* back off to the start of a character */
		while (i + n < len && n > 1 &&
			   ((unsigned char) s[i + n] & 0xC0) == 0x80)
			n--;
		enclen = pg_b64_encode(s + i, n, enc, sizeof(enc));
		if (enclen < 0)
			elog(ERROR, "could not encode a mail subject");
		if (i > 0)
			appendStringInfoString(buf, "\r\n ");
		appendStringInfo(buf, "=?UTF-8?B?%.*s?=", enclen, enc);
		i += n;
	}
	appendStringInfoString(buf, "\r\n");
}

/* An RFC 5322 date in UTC, independent of the server's locale. */
static char *
mail_date(TimestampTz t)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
									   "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
										 "May", "Jun", "Jul", "Aug",
										 "Sep", "Oct", "Nov", "Dec"};
	time_t                   secs = timestamptz_to_time_t(t);
	struct tm                tm;

	gmtime_r(&secs, &tm);
	return psprintf("%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
					tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
					tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * The whole mail to one address: headers and the base64 body, CRLF line
 * ends. message_id is the notification's (or confirmation's) uuid.
 */
char *
sqsn_email_message(const char *to, const char *subject, const char *body,
				   const char *message_id, TimestampTz date)
{
	StringInfoData buf;
	StringInfoData text;
	const char    *from = sqsn_email_from();
	const char    *b = to_utf8(body);

	initStringInfo(&buf);
	appendStringInfo(&buf, "From: %s\r\n", from);
	appendStringInfo(&buf, "To: %s\r\n", to);
	append_subject(&buf, subject);
	appendStringInfo(&buf, "Date: %s\r\n", mail_date(date));
	appendStringInfo(&buf, "Message-ID: <%s@%s>\r\n", message_id,
					 strchr(from, '@') + 1);
	appendStringInfoString(&buf, "MIME-Version: 1.0\r\n"
								 "Content-Type: text/plain; charset=UTF-8\r\n"
								 "Content-Transfer-Encoding: base64\r\n"
								 "\r\n");

	/* canonical line ends: CRLF */
	initStringInfo(&text);
	for (const char *p = b; *p; p++)
	{
		if (*p == '\r' || *p == '\n')
		{
			appendStringInfoString(&text, "\r\n");
			if (*p == '\r' && p[1] == '\n')
				p++;
		}
		else
			appendStringInfoChar(&text, *p);
	}
	append_base64_lines(&buf, text.data, text.len);
	return buf.data;
}

/* The sender address; a setting that is no address becomes a plain one. */
const char *
sqsn_email_from(void)
{
	if (sqsn_smtp_from == NULL ||
		sqsn_email_address_problem(sqsn_smtp_from) != NULL)
		return "no-reply@localhost";
	return sqsn_smtp_from;
}

/* sqsn.smtp_url, or NULL when mail is off. */
const char *
sqsn_email_relay(void)
{
	if (sqsn_smtp_url == NULL || sqsn_smtp_url[0] == '\0')
		return NULL;
	return sqsn_smtp_url;
}

/*
 * The first line of a credentials file, "user:password" (what names the
 * file in messages); NULL and *error when the file is unsafe (group or
 * world access, security/), unreadable or has no colon on that line.
 */
char *
sqsn_read_credentials(const char *path, const char *what, char **error)
{
	char   line[1024];
	FILE  *f;
	size_t n;
	char  *result;

	if ((*error = sqsn_secret_file_problem(path, what)) != NULL)
		return NULL;
	f = AllocateFile(path, "r");
	if (f == NULL)
	{
		*error = psprintf("could not open %s \"%s\": %m", what, path);
		return NULL;
	}
	n = fread(line, 1, sizeof(line) - 1, f);
	FreeFile(f);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strchr(line, ':') == NULL)
	{
		explicit_bzero(line, sizeof(line));
		*error = psprintf("%s \"%s\" must hold user:password on its first "
						  "line",
						  what, path);
		return NULL;
	}
	result = pstrdup(line);
	explicit_bzero(line, sizeof(line));
	return result;
}

/*
 * Sets the SMTP options of a libcurl handle that sends one mail to
 * recipient; *rcpt gets the recipient list the caller frees after the
 * transfer. Returns NULL, or why the mail cannot be sent (no relay, a
 * credentials file that is unsafe or unreadable).
 */
char *
sqsn_email_setup(void *handle, const char *recipient, struct curl_slist **rcpt)
{
	CURL       *easy = (CURL *) handle;
	const char *relay = sqsn_email_relay();

	if (relay == NULL)
		return pstrdup("sqsn.smtp_url is not set");
	if (pg_strncasecmp(relay, "smtp://", 7) != 0 &&
		pg_strncasecmp(relay, "smtps://", 8) != 0)
		return psprintf("sqsn.smtp_url \"%s\" is neither smtp:// nor smtps://",
						relay);
	if (sqsn_smtp_credentials_file && sqsn_smtp_credentials_file[0])
	{
		char *error = NULL;
		char *line = sqsn_read_credentials(sqsn_smtp_credentials_file,
										   "SMTP credentials file", &error);
		char *colon;

		if (line == NULL)
			return error;
		colon = strchr(line, ':');
		*colon = '\0';
		curl_easy_setopt(easy, CURLOPT_USERNAME, line);
		curl_easy_setopt(easy, CURLOPT_PASSWORD, colon + 1);
		explicit_bzero(line, strlen(line) + strlen(colon + 1) + 1);
	}
	curl_easy_setopt(easy, CURLOPT_URL, relay);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	curl_easy_setopt(easy, CURLOPT_USE_SSL,
					 sqsn_smtp_require_starttls ? (long) CURLUSESSL_ALL
												: (long) CURLUSESSL_TRY);
	curl_easy_setopt(easy, CURLOPT_MAIL_FROM,
					 psprintf("<%s>", sqsn_email_from()));
	*rcpt = curl_slist_append(NULL, psprintf("<%s>", recipient));
	curl_easy_setopt(easy, CURLOPT_MAIL_RCPT, *rcpt);
	curl_easy_setopt(easy, CURLOPT_UPLOAD, 1L);
	/*
	 * One SMTP session per mail: libcurl would otherwise hand a cached
	 * plain-text session to a mail sent after sqsn.smtp_require_starttls
	 * or the credentials changed, without STARTTLS or a new login.
	 */
	curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
	return NULL;
}
