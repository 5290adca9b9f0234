/*-------------------------------------------------------------------------
 *
 * apiload.c
 *	  Load client of bench/api: drives sqsn's AWS-compatible HTTP endpoint
 *	  with N concurrent keep-alive clients on libcurl's multi interface (one
 *	  thread, one easy handle and connection per simulated client), signing
 *	  every request with AWS SigV4 (or not, for sqsn.api_auth = 'none').
 *
 *	  apiload --mode send     SendMessage, one message per request
 *	  apiload --mode recvdel  ReceiveMessage (MaxNumberOfMessages=1), then
 *	                          DeleteMessage with the ReceiptHandle returned
 *	  apiload --mode longpoll K clients long-poll ReceiveMessage
 *	                          (WaitTimeSeconds); a sender thread commits
 *	                          one message at a time through libpq at random
 *	                          intervals; wake latency = arrival of the
 *	                          response - the sender's clock right after its
 *	                          COMMIT returned
 *	  apiload --sign-test     print a SigV4 signature for fixed inputs (the
 *	                          runner checks it against botocore's)
 *
 *	  --protocol query|json selects the SQS query protocol (form body, XML
 *	  responses) or AWS JSON 1.0. Results go to stdout as key=value lines;
 *	  --latencies FILE gets one latency in microseconds per line (per
 *	  message: the send, or the receive+delete pair; per wake).
 *
 *	  At the deadline no new request starts; the ones in flight are
 *	  waited for (at most 30 s), so that every request has an outcome:
 *	  acked= counts the SendMessage or DeleteMessage requests answered with
 *	  200 over the whole run (warm-up included), unanswered= those that
 *	  failed without an answer, whose outcome the client cannot know.
 *	  bench/api's load phase compares the queues' contents with these.
 *
 *	  Exit status: 0 when every request succeeded, 1 otherwise (an HTTP
 *	  error, an unexpected response, an empty receive in recvdel mode, a
 *	  wake that never arrived), 2 on bad arguments.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

typedef enum
{
	MODE_SEND,
	MODE_RECVDEL,
	MODE_LONGPOLL,
} Mode;

typedef enum
{
	STEP_SEND,
	STEP_RECEIVE,
	STEP_DELETE,
} Step;

/* A growable byte buffer. */
typedef struct
{
	char  *data;
	size_t len;
	size_t cap;
} Buf;

typedef struct
{
	int                id;
	CURL              *easy;
	struct curl_slist *headers;
	Buf                request;  /* the request body being sent */
	Buf                response; /* the response body being received */
	Step               step;
	char              *handle;  /* ReceiptHandle to delete */
	char              *body;    /* the received message's body */
	int64_t            started; /* the send, or the receive of the pair */
	bool               busy;
	bool               warmed; /* its first message is done */
} Client;

/* Command line. */
static Mode        mode = MODE_SEND;
static bool        json = false;
static const char *endpoint = NULL; /* http://127.0.0.1:PORT */
static const char *queue_url = NULL;
static const char *access_key = NULL;
static const char *secret_key = NULL;
static const char *region = "us-east-1";
static const char *message_body = "hello";
static const char *latency_file = NULL;
static const char *conninfo = NULL;
static const char *sql_queue = NULL;
static int         nclients = 8;
static double      seconds = 5.0;
static int         wakes = 200;
static int         min_gap_ms = 10;
static int         max_gap_ms = 90;
static int         wait_seconds = 20;

static char host_header[256]; /* host[:port] of the endpoint */

/* Results. */
static int64_t  *latencies;
static size_t    nlatencies, latencies_cap;
static long long requests, messages, errors, empties, warmups;
static long long acked, unanswered;
static int       errors_shown;

/* Long polling: per wake, the sender's commit time and the arrival. */
static int64_t *commit_us;
static int64_t *arrival_us;
static volatile int sender_done;
static int          sender_failed;
static int          arrivals, unexpected;

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("apiload: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* An error of one request: counted; the first few are shown. */
static void
request_error(const char *fmt, ...)
{
	va_list ap;

	errors++;
	if (errors_shown++ >= 5)
		return;
	va_start(ap, fmt);
	fputs("apiload: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fail("out of memory");
	return p;
}

static void
buf_reserve(Buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	b->cap = (b->len + extra + 1) * 2;
	b->data = realloc(b->data, b->cap);
	if (b->data == NULL)
		fail("out of memory");
}

static void
buf_reset(Buf *b)
{
	buf_reserve(b, 0);
	b->len = 0;
	b->data[0] = '\0';
}

static void
buf_add(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_puts(Buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* application/x-www-form-urlencoded value: unreserved characters kept. */
static void
buf_urlencode(Buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
			buf_add(b, (const char *) &c, 1);
		else
		{
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};

			buf_add(b, e, 3);
		}
	}
}

/* A JSON string literal, quotes included. */
static void
buf_json_string(Buf *b, const char *s)
{
	buf_add(b, "\"", 1);
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c == '"' || c == '\\')
		{
			char e[2] = {'\\', (char) c};

			buf_add(b, e, 2);
		}
		else if (c < 0x20)
		{
			char e[8];

			snprintf(e, sizeof(e), "\\u%04x", c);
			buf_puts(b, e);
		}
		else
			buf_add(b, (const char *) &c, 1);
	}
	buf_add(b, "\"", 1);
}

static void
record_latency(int64_t us)
{
	if (nlatencies == latencies_cap)
	{
		latencies_cap = latencies_cap ? latencies_cap * 2 : 65536;
		latencies = realloc(latencies, latencies_cap * sizeof(int64_t));
		if (latencies == NULL)
			fail("out of memory");
	}
	latencies[nlatencies++] = us;
}

/* ------------------------------------------------------------------------
 * AWS Signature Version 4
 */

static void
hex_encode(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
sha256_hex(const char *data, size_t n, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *) data, n, md);
	hex_encode(md, sizeof(md), out);
}

static void
hmac256(const unsigned char *key, size_t keylen, const char *msg,
		unsigned char out[32])
{
	unsigned int len = 32;

	if (HMAC(EVP_sha256(), key, (int) keylen, (const unsigned char *) msg,
			 strlen(msg), out, &len) == NULL)
		fail("HMAC failed");
}

/*
 * The Authorization header of a POST / with this body, signed at
 * amz_date (yyyymmddThhmmssZ) over content-type, host, x-amz-date and, for
 * JSON, x-amz-target.
 */
static void
sigv4_authorization(const char *amz_date, const char *content_type,
					const char *target, const char *body, size_t body_len,
					Buf *out)
{
	static char          key_date[9];
	static unsigned char signing_key[32];
	char                 date[9];
	char                 payload_hash[65], canonical_hash[65], sig_hex[65];
	unsigned char        sig[32];
	Buf                  canonical = {0}, sts = {0};

	memcpy(date, amz_date, 8);
	date[8] = '\0';
	/* The signing key changes once a day: cached. */
	if (strcmp(date, key_date) != 0)
	{
		unsigned char k[32];
		char         *first = xmalloc(strlen(secret_key) + 5);

		sprintf(first, "AWS4%s", secret_key);
		hmac256((unsigned char *) first, strlen(first), date, k);
		hmac256(k, 32, region, k);
		hmac256(k, 32, "sqs", k);
		hmac256(k, 32, "aws4_request", signing_key);
		memcpy(key_date, date, 9);
		free(first);
	}

	sha256_hex(body, body_len, payload_hash);
	buf_puts(&canonical, "POST\n/\n\ncontent-type:");
	buf_puts(&canonical, content_type);
	buf_puts(&canonical, "\nhost:");
	buf_puts(&canonical, host_header);
	buf_puts(&canonical, "\nx-amz-date:");
	buf_puts(&canonical, amz_date);
	if (target)
	{
		buf_puts(&canonical, "\nx-amz-target:");
		buf_puts(&canonical, target);
	}
	buf_puts(&canonical, target ? "\n\ncontent-type;host;x-amz-date;x-amz-target\n"
								: "\n\ncontent-type;host;x-amz-date\n");
	buf_puts(&canonical, payload_hash);
	sha256_hex(canonical.data, canonical.len, canonical_hash);

	buf_puts(&sts, "AWS4-HMAC-SHA256\n");
	buf_puts(&sts, amz_date);
	buf_puts(&sts, "\n");
	buf_puts(&sts, date);
	buf_puts(&sts, "/");
	buf_puts(&sts, region);
	buf_puts(&sts, "/sqs/aws4_request\n");
	buf_puts(&sts, canonical_hash);
	hmac256(signing_key, 32, sts.data, sig);
	hex_encode(sig, 32, sig_hex);

	buf_reset(out);
	buf_puts(out, "Authorization: AWS4-HMAC-SHA256 Credential=");
	buf_puts(out, access_key);
	buf_puts(out, "/");
	buf_puts(out, date);
	buf_puts(out, "/");
	buf_puts(out, region);
	buf_puts(out, "/sqs/aws4_request, SignedHeaders=");
	buf_puts(out, target ? "content-type;host;x-amz-date;x-amz-target"
						 : "content-type;host;x-amz-date");
	buf_puts(out, ", Signature=");
	buf_puts(out, sig_hex);
	free(canonical.data);
	free(sts.data);
}

/* ------------------------------------------------------------------------
 * Requests and responses
 */

static const char *
action_name(Step step)
{
	switch (step)
	{
		case STEP_SEND:
			return "SendMessage";
		case STEP_RECEIVE:
			return "ReceiveMessage";
		case STEP_DELETE:
			return "DeleteMessage";
	}
	return "?";
}

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	Buf *b = arg;

	buf_add(b, data, size * nmemb);
	return size * nmemb;
}

/* Build the client's next request (its step and body) and queue it. */
static void
start_request(CURLM *multi, Client *c, Step step)
{
	const char *action = action_name(step);
	const char *content_type;
	char        target[64];
	char        amz_date[17];
	char        line[128];
	time_t      t = time(NULL);
	struct tm   tm;
	Buf         auth = {0};
	int         wait = mode == MODE_LONGPOLL ? wait_seconds : 0;

	c->step = step;
	buf_reset(&c->request);
	buf_reset(&c->response);
	if (json)
	{
		content_type = "application/x-amz-json-1.0";
		snprintf(target, sizeof(target), "AmazonSQS.%s", action);
		buf_puts(&c->request, "{\"QueueUrl\":");
		buf_json_string(&c->request, queue_url);
		if (step == STEP_SEND)
		{
			buf_puts(&c->request, ",\"MessageBody\":");
			buf_json_string(&c->request, message_body);
		}
		else if (step == STEP_RECEIVE)
		{
			snprintf(line, sizeof(line),
					 ",\"MaxNumberOfMessages\":1,\"WaitTimeSeconds\":%d", wait);
			buf_puts(&c->request, line);
		}
		else
		{
			buf_puts(&c->request, ",\"ReceiptHandle\":");
			buf_json_string(&c->request, c->handle);
		}
		buf_puts(&c->request, "}");
	}
	else
	{
		content_type = "application/x-www-form-urlencoded; charset=utf-8";
		buf_puts(&c->request, "Action=");
		buf_puts(&c->request, action);
		buf_puts(&c->request, "&Version=2012-11-05&QueueUrl=");
		buf_urlencode(&c->request, queue_url);
		if (step == STEP_SEND)
		{
			buf_puts(&c->request, "&MessageBody=");
			buf_urlencode(&c->request, message_body);
		}
		else if (step == STEP_RECEIVE)
		{
			snprintf(line, sizeof(line),
					 "&MaxNumberOfMessages=1&WaitTimeSeconds=%d", wait);
			buf_puts(&c->request, line);
		}
		else
		{
			buf_puts(&c->request, "&ReceiptHandle=");
			buf_urlencode(&c->request, c->handle);
		}
	}

	curl_slist_free_all(c->headers);
	c->headers = NULL;
	snprintf(line, sizeof(line), "Content-Type: %s", content_type);
	c->headers = curl_slist_append(c->headers, line);
	c->headers = curl_slist_append(c->headers, "Expect:");
	if (json)
	{
		snprintf(line, sizeof(line), "X-Amz-Target: %s", target);
		c->headers = curl_slist_append(c->headers, line);
	}
	if (access_key)
	{
		gmtime_r(&t, &tm);
		strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
		snprintf(line, sizeof(line), "X-Amz-Date: %s", amz_date);
		c->headers = curl_slist_append(c->headers, line);
		sigv4_authorization(amz_date, content_type, json ? target : NULL,
							c->request.data, c->request.len, &auth);
		c->headers = curl_slist_append(c->headers, auth.data);
		free(auth.data);
	}

	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->request.data);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long) c->request.len);
	curl_multi_add_handle(multi, c->easy);
	c->busy = true;
}

/* XML text with the five entities and &#N; / &#xN; decoded (ASCII only). */
static char *
xml_unescape(const char *s, size_t n)
{
	char  *out = xmalloc(n + 1), *o = out;
	size_t i = 0;

	while (i < n)
	{
		if (s[i] == '&')
		{
			const char *semi = memchr(s + i, ';', n - i);
			size_t      len = semi ? (size_t) (semi - (s + i)) + 1 : 0;

			if (len && strncmp(s + i, "&amp;", len) == 0)
				*o++ = '&';
			else if (len && strncmp(s + i, "&lt;", len) == 0)
				*o++ = '<';
			else if (len && strncmp(s + i, "&gt;", len) == 0)
				*o++ = '>';
			else if (len && strncmp(s + i, "&quot;", len) == 0)
				*o++ = '"';
			else if (len && strncmp(s + i, "&apos;", len) == 0)
				*o++ = '\'';
			else if (len > 3 && s[i + 1] == '#')
			{
				long v = (s[i + 2] == 'x' || s[i + 2] == 'X')
							 ? strtol(s + i + 3, NULL, 16)
							 : strtol(s + i + 2, NULL, 10);

				*o++ = (char) v;
			}
			else
			{
				*o++ = s[i++];
				continue;
			}
			i += len;
		}
		else
			*o++ = s[i++];
	}
	*o = '\0';
	return out;
}

/* The decoded text of the first <name>...</name> in xml, or NULL. */
static char *
xml_element_text(const char *xml, const char *name)
{
	char        open[64], close[64];
	const char *a, *b;

	snprintf(open, sizeof(open), "<%s>", name);
	snprintf(close, sizeof(close), "</%s>", name);
	a = strstr(xml, open);
	if (a == NULL)
		return NULL;
	a += strlen(open);
	b = strstr(a, close);
	if (b == NULL)
		return NULL;
	return xml_unescape(a, (size_t) (b - a));
}

/* The decoded string member "name" of a JSON text, or NULL. */
static char *
json_member_string(const char *text, const char *name)
{
	char        key[64];
	const char *p;
	Buf         out = {0};

	snprintf(key, sizeof(key), "\"%s\"", name);
	p = strstr(text, key);
	if (p == NULL)
		return NULL;
	p += strlen(key);
	while (isspace((unsigned char) *p))
		p++;
	if (*p++ != ':')
		return NULL;
	while (isspace((unsigned char) *p))
		p++;
	if (*p++ != '"')
		return NULL;
	buf_reset(&out);
	while (*p && *p != '"')
	{
		if (*p == '\\' && p[1])
		{
			char c = p[1];

			p += 2;
			switch (c)
			{
				case 'n':
					buf_add(&out, "\n", 1);
					break;
				case 'r':
					buf_add(&out, "\r", 1);
					break;
				case 't':
					buf_add(&out, "\t", 1);
					break;
				case 'b':
					buf_add(&out, "\b", 1);
					break;
				case 'f':
					buf_add(&out, "\f", 1);
					break;
				case 'u':
					{
						/* ASCII is all a handle or a bench body holds */
						char h[5] = {0};
						char v;

						strncpy(h, p, 4);
						v = (char) strtol(h, NULL, 16);
						buf_add(&out, &v, 1);
						p += strlen(h);
						break;
					}
				default:
					buf_add(&out, &c, 1);
			}
		}
		else
			buf_add(&out, p++, 1);
	}
	if (*p != '"')
	{
		free(out.data);
		return NULL;
	}
	return out.data;
}

static char *
response_member(Client *c, const char *name)
{
	return json ? json_member_string(c->response.data, name)
				: xml_element_text(c->response.data, name);
}

/* A long-poll wake arrived: its body names the wake ("wake-<n>"). */
static void
wake_arrived(const char *body, int64_t t)
{
	int n;

	if (body == NULL || sscanf(body, "wake-%d", &n) != 1 || n < 0 ||
		n >= wakes || arrival_us[n] != 0)
	{
		unexpected++;
		return;
	}
	arrival_us[n] = t;
	arrivals++;
}

/*
 * A request of client c finished: check it, record it and return the
 * client's next step.
 */
static Step
finish_request(Client *c, CURLcode rc, bool timing)
{
	long    status = 0;
	int64_t t = now_us();

	requests++;
	c->busy = false;
	if (rc != CURLE_OK)
	{
		if (c->step != STEP_RECEIVE)
			unanswered++;
		request_error("%s: %s", action_name(c->step), curl_easy_strerror(rc));
		return mode == MODE_SEND ? STEP_SEND : STEP_RECEIVE;
	}
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	/* what the server acknowledged: a message stored, or deleted */
	if (status == 200 && c->step != STEP_RECEIVE)
		acked++;
	if (status != 200)
	{
		request_error("%s: HTTP %ld: %.300s", action_name(c->step), status,
					  c->response.data);
		return mode == MODE_SEND ? STEP_SEND : STEP_RECEIVE;
	}
	switch (c->step)
	{
		case STEP_SEND:
			{
				char *id = response_member(c, "MessageId");

				if (id == NULL)
					request_error("SendMessage: no MessageId in: %.300s",
								  c->response.data);
				else if (timing)
				{
					messages++;
					record_latency(t - c->started);
				}
				else
					warmups++;
				free(id);
				c->started = now_us();
				return STEP_SEND;
			}
		case STEP_RECEIVE:
			free(c->handle);
			free(c->body);
			c->handle = response_member(c, "ReceiptHandle");
			c->body = response_member(c, "Body");
			if (c->handle == NULL)
			{
				if (mode == MODE_RECVDEL)
				{
					/* the queue ran dry: a failure, as in the SQL baseline */
					empties++;
					request_error("ReceiveMessage: no message (the queue ran "
								  "empty?): %.200s",
								  c->response.data);
				}
				c->started = now_us();
				return STEP_RECEIVE;
			}
			if (mode == MODE_LONGPOLL)
				wake_arrived(c->body, t);
			return STEP_DELETE;
		case STEP_DELETE:
			if (mode == MODE_RECVDEL)
			{
				if (timing)
				{
					messages++;
					record_latency(t - c->started);
				}
				else
					warmups++;
			}
			else
				messages++;
			c->started = now_us();
			return STEP_RECEIVE;
	}
	return STEP_RECEIVE;
}

/* ------------------------------------------------------------------------
 * The long-polling sender
 */

static void *
sender_main(void *arg)
{
	PGconn      *conn = PQconnectdb(conninfo);
	unsigned int seed = (unsigned int) now_us();

	(void) arg;
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "apiload: sender: %s", PQerrorMessage(conn));
		sender_failed = 1;
		sender_done = 1;
		return NULL;
	}
	/* Let every long-poll request reach the server first. */
	usleep(1000000);
	for (int i = 0; i < wakes && !sender_failed; i++)
	{
		char        sql[256];
		PGresult   *res;
		int         gap = min_gap_ms + (int) (rand_r(&seed) %
											  (unsigned) (max_gap_ms -
														  min_gap_ms + 1));
		const char *params[2];
		char        body[32];

		usleep((useconds_t) gap * 1000);
		snprintf(body, sizeof(body), "wake-%d", i);
		params[0] = sql_queue;
		params[1] = body;
		/* autocommit: PQexecParams returns after the COMMIT */
		snprintf(sql, sizeof(sql), "SELECT sqsn.sq_send($1, $2)");
		res = PQexecParams(conn, sql, 2, NULL, params, NULL, NULL, 0);
		commit_us[i] = now_us();
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			fprintf(stderr, "apiload: sender: %s", PQerrorMessage(conn));
			sender_failed = 1;
		}
		PQclear(res);
	}
	PQfinish(conn);
	sender_done = 1;
	return NULL;
}

/* ------------------------------------------------------------------------
 * Main loop
 */

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

	return x < y ? -1 : x > y;
}

static double
percentile_ms(int64_t *sorted, size_t n, double p)
{
	double k, lo_v, hi_v;
	size_t lo, hi;

	if (n == 0)
		return -1;
	k = (double) (n - 1) * p / 100.0;
	lo = (size_t) k;
	hi = lo + 1 < n ? lo + 1 : n - 1;
	lo_v = (double) sorted[lo];
	hi_v = (double) sorted[hi];
	return (lo_v + (hi_v - lo_v) * (k - (double) lo)) / 1000.0;
}

static void
usage(void)
{
	fputs(
		"usage: apiload --mode send|recvdel|longpoll --endpoint URL "
		"--queue-url URL\n"
		"               [--protocol query|json] [--clients N] [--seconds S]\n"
		"               [--access-key AK --secret-key SK] [--region R]\n"
		"               [--body TEXT] [--latencies FILE]\n"
		"               longpoll: --conninfo STR --sql-queue NAME [--wakes N]\n"
		"                         [--min-gap-ms A] [--max-gap-ms B] "
		"[--wait-seconds W]\n"
		"       apiload --sign-test --endpoint URL --access-key AK "
		"--secret-key SK\n",
		stderr);
	exit(2);
}

/* --sign-test: the signature of a fixed request, for a known-answer check */
static int
sign_test(void)
{
	const char *body = "Action=SendMessage&Version=2012-11-05&QueueUrl="
					   "http%3A%2F%2F127.0.0.1%2F000000000000%2Fq&"
					   "MessageBody=hello";
	Buf         auth = {0};

	sigv4_authorization("20261125T101500Z",
						"application/x-www-form-urlencoded; charset=utf-8",
						NULL, body, strlen(body), &auth);
	printf("%s\n", auth.data);
	sigv4_authorization("20261125T101500Z", "application/x-amz-json-1.0",
						"AmazonSQS.SendMessage", "{\"QueueUrl\":\"x\"}", 16,
						&auth);
	printf("%s\n", auth.data);
	free(auth.data);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct option opts[] = {
		{"mode", required_argument, NULL, 'm'},
		{"protocol", required_argument, NULL, 'p'},
		{"endpoint", required_argument, NULL, 'e'},
		{"queue-url", required_argument, NULL, 'q'},
		{"access-key", required_argument, NULL, 'a'},
		{"secret-key", required_argument, NULL, 's'},
		{"region", required_argument, NULL, 'r'},
		{"body", required_argument, NULL, 'b'},
		{"latencies", required_argument, NULL, 'l'},
		{"clients", required_argument, NULL, 'c'},
		{"seconds", required_argument, NULL, 'T'},
		{"conninfo", required_argument, NULL, 'C'},
		{"sql-queue", required_argument, NULL, 'Q'},
		{"wakes", required_argument, NULL, 'w'},
		{"min-gap-ms", required_argument, NULL, 'g'},
		{"max-gap-ms", required_argument, NULL, 'G'},
		{"wait-seconds", required_argument, NULL, 'W'},
		{"sign-test", no_argument, NULL, 'S'},
		{NULL, 0, NULL, 0}};
	bool      signtest = false;
	int       o;
	CURLM    *multi;
	Client   *clients;
	int64_t   start = 0, deadline = 0, end;
	int       warm_left;
	bool      timing = false;
	pthread_t sender;
	int       status = 0;
	const char *p;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		switch (o)
		{
			case 'm':
				if (strcmp(optarg, "send") == 0)
					mode = MODE_SEND;
				else if (strcmp(optarg, "recvdel") == 0)
					mode = MODE_RECVDEL;
				else if (strcmp(optarg, "longpoll") == 0)
					mode = MODE_LONGPOLL;
				else
					usage();
				break;
			case 'p':
				if (strcmp(optarg, "json") != 0 && strcmp(optarg, "query") != 0)
					usage();
				json = strcmp(optarg, "json") == 0;
				break;
			case 'e':
				endpoint = optarg;
				break;
			case 'q':
				queue_url = optarg;
				break;
			case 'a':
				access_key = optarg;
				break;
			case 's':
				secret_key = optarg;
				break;
			case 'r':
				region = optarg;
				break;
			case 'b':
				message_body = optarg;
				break;
			case 'l':
				latency_file = optarg;
				break;
			case 'c':
				nclients = atoi(optarg);
				break;
			case 'T':
				seconds = atof(optarg);
				break;
			case 'C':
				conninfo = optarg;
				break;
			case 'Q':
				sql_queue = optarg;
				break;
			case 'w':
				wakes = atoi(optarg);
				break;
			case 'g':
				min_gap_ms = atoi(optarg);
				break;
			case 'G':
				max_gap_ms = atoi(optarg);
				break;
			case 'W':
				wait_seconds = atoi(optarg);
				break;
			case 'S':
				signtest = true;
				break;
			default:
				usage();
		}
	}
	if (endpoint == NULL || (access_key == NULL) != (secret_key == NULL))
		usage();
	/* host[:port] of the endpoint, as curl sends it in Host */
	p = strstr(endpoint, "://");
	p = p ? p + 3 : endpoint;
	snprintf(host_header, sizeof(host_header), "%.*s",
			 (int) strcspn(p, "/"), p);
	if (signtest)
	{
		if (access_key == NULL)
			usage();
		return sign_test();
	}
	if (queue_url == NULL || nclients < 1 || seconds <= 0 ||
		min_gap_ms < 0 || max_gap_ms < min_gap_ms || wakes < 1)
		usage();
	if (mode == MODE_LONGPOLL && (conninfo == NULL || sql_queue == NULL))
		usage();

	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();
	/* one connection per client, all kept alive */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) nclients + 4);
	clients = calloc((size_t) nclients, sizeof(Client));
	if (clients == NULL)
		fail("out of memory");
	for (int i = 0; i < nclients; i++)
	{
		Client *c = &clients[i];

		c->id = i;
		c->easy = curl_easy_init();
		curl_easy_setopt(c->easy, CURLOPT_URL, endpoint);
		curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, write_cb);
		curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &c->response);
		curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
		curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
		curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS,
						 (long) (wait_seconds + 30) * 1000);
		c->started = now_us();
		start_request(multi, c, mode == MODE_SEND ? STEP_SEND : STEP_RECEIVE);
	}

	if (mode == MODE_LONGPOLL)
	{
		commit_us = calloc((size_t) wakes, sizeof(int64_t));
		arrival_us = calloc((size_t) wakes, sizeof(int64_t));
		if (commit_us == NULL || arrival_us == NULL)
			fail("out of memory");
		if (pthread_create(&sender, NULL, sender_main, NULL) != 0)
			fail("cannot start the sender thread");
		timing = true;
		start = now_us();
	}

	/*
	 * Throughput modes: every client first completes one message outside
	 * the measurement (connection set-up), then the clock starts.
	 */
	warm_left = mode == MODE_LONGPOLL ? 0 : nclients;
	for (;;)
	{
		int      running, numfds, left;
		CURLMsg *msg;
		int64_t  t;

		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		{
			Client *c;
			Step    next;
			bool    counted;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
							  (char **) &c);
			curl_multi_remove_handle(multi, c->easy);
			/* what completes after the deadline is not measured */
			counted = timing && (mode == MODE_LONGPOLL || now_us() < deadline);
			next = finish_request(c, msg->data.result, counted);
			if (!timing && !c->warmed && msg->data.result == CURLE_OK &&
				(mode == MODE_SEND ? next == STEP_SEND
								   : c->step == STEP_DELETE))
			{
				c->warmed = true;
				/* this client's warm-up message is done */
				if (--warm_left == 0)
				{
					timing = true;
					start = now_us();
					deadline = start + (int64_t) (seconds * 1e6);
					messages = 0;
					nlatencies = 0;
				}
			}
			if (mode != MODE_LONGPOLL && timing && now_us() >= deadline)
				continue; /* stop issuing */
			if (mode == MODE_LONGPOLL && sender_done &&
				(arrivals >= wakes || sender_failed))
				continue;
			start_request(multi, c, next);
		}
		t = now_us();
		if (mode != MODE_LONGPOLL && timing && t >= deadline)
		{
			/* the requests in flight get their answers (30 s at most) */
			bool any = false;

			for (int i = 0; i < nclients; i++)
				any |= clients[i].busy;
			if (!any || t - deadline > 30000000)
				break;
		}
		if (mode == MODE_LONGPOLL && sender_done)
		{
			/* every wake arrived, or the last one had 5 s to */
			static int64_t done_at;

			if (done_at == 0)
				done_at = t;
			if (arrivals >= wakes || sender_failed || t - done_at > 5000000)
				break;
		}
		if (errors > 0 && mode != MODE_LONGPOLL && errors >= 100)
			break;
		if (running == 0 && !timing && warm_left > 0)
		{
			/* every client failed its warm-up */
			bool any = false;

			for (int i = 0; i < nclients; i++)
				any |= clients[i].busy;
			if (!any)
				break;
		}
		curl_multi_poll(multi, NULL, 0, 20, &numfds);
	}
	end = now_us();
	/* still no answer: nobody knows whether it was done */
	for (int i = 0; i < nclients; i++)
		if (clients[i].busy && clients[i].step != STEP_RECEIVE)
			unanswered++;
	if (mode != MODE_LONGPOLL && timing && end > deadline)
		end = deadline;
	if (mode == MODE_LONGPOLL)
		pthread_join(sender, NULL);

	if (mode == MODE_LONGPOLL)
	{
		int negative = 0;

		nlatencies = 0;
		for (int i = 0; i < wakes; i++)
			if (commit_us[i] && arrival_us[i])
			{
				record_latency(arrival_us[i] - commit_us[i]);
				negative += arrival_us[i] < commit_us[i];
			}
		printf("wakes=%d\narrived=%d\nunexpected=%d\nsender_failed=%d\n",
			   wakes, arrivals, unexpected, sender_failed);
		printf("arrived_before_commit_returned=%d\n", negative);
		if (arrivals < wakes || unexpected || sender_failed)
			status = 1;
	}

	qsort(latencies, nlatencies, sizeof(int64_t), cmp_i64);
	if (latency_file)
	{
		FILE *f = fopen(latency_file, "w");

		if (f == NULL)
			fail("cannot write %s: %s", latency_file, strerror(errno));
		for (size_t i = 0; i < nlatencies; i++)
			fprintf(f, "%lld\n", (long long) latencies[i]);
		fclose(f);
	}
	printf("mode=%s\nprotocol=%s\nclients=%d\nsigned=%d\n",
		   mode == MODE_SEND	  ? "send"
		   : mode == MODE_RECVDEL ? "recvdel"
								  : "longpoll",
		   json ? "json" : "query", nclients, access_key != NULL);
	printf("seconds=%.3f\nrequests=%lld\nmessages=%lld\nerrors=%lld\n"
		   "empty_receives=%lld\n",
		   timing ? (double) (end - start) / 1e6 : 0.0, requests, messages,
		   errors, empties);
	printf("acked=%lld\nunanswered=%lld\n", acked, unanswered);
	printf("msgs_per_s=%.1f\n",
		   timing && end > start ? (double) messages * 1e6 / (double) (end - start)
								 : 0.0);
	printf("p50_ms=%.3f\np90_ms=%.3f\np99_ms=%.3f\nmax_ms=%.3f\n",
		   percentile_ms(latencies, nlatencies, 50),
		   percentile_ms(latencies, nlatencies, 90),
		   percentile_ms(latencies, nlatencies, 99),
		   nlatencies ? (double) latencies[nlatencies - 1] / 1000.0 : -1.0);
	if (errors > 0 || (!timing && mode != MODE_LONGPOLL) ||
		(mode != MODE_LONGPOLL && messages == 0))
		status = 1;

	for (int i = 0; i < nclients; i++)
	{
		if (clients[i].busy)
			curl_multi_remove_handle(multi, clients[i].easy);
		curl_easy_cleanup(clients[i].easy);
		curl_slist_free_all(clients[i].headers);
	}
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return status;
}
