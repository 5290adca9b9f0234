/*-------------------------------------------------------------------------
 *
 * encode.c
 *	  Small value helpers: hex and percent-encoding, random tokens and
 *	  UUIDs, and timestamps as the managed services write them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/common.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"

/*
 * Lower-case hex of len bytes, palloc'd and NUL-terminated.
 */
char *
sqsn_hex(const void *bytes, size_t len)
{
	char *hex = palloc(len * 2 + 1);

	hex_encode((const char *) bytes, len, hex);
	hex[len * 2] = '\0';
	return hex;
}

/* The value of a hexadecimal digit, or -1. */
int
sqsn_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-encodes every byte but RFC 3986's unreserved characters
 * A-Z a-z 0-9 - _ . ~ (and / when keep_slash) as %XX, upper-case hex: the
 * form of query parameters in URLs and of AWS Signature Version 4.
 */
void
sqsn_percent_encode(StringInfo buf, const char *s, bool keep_slash)
{
	static const char hexdigits[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
			*p == '~' || (keep_slash && *p == '/'))
			appendStringInfoChar(buf, (char) *p);
		else
		{
			appendStringInfoChar(buf, '%');
			appendStringInfoChar(buf, hexdigits[*p >> 4]);
			appendStringInfoChar(buf, hexdigits[*p & 0x0F]);
		}
	}
}

/*
 * nbytes of strong randomness in hex: tokens (subscription confirmations).
 */
char *
sqsn_random_hex(int nbytes)
{
	uint8 *bytes = palloc(nbytes);

	if (!pg_strong_random(bytes, nbytes))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not generate random bytes")));
	return sqsn_hex(bytes, nbytes);
}

/*
 * A random UUID (RFC 4122 version 4): message ids, request ids.
 */
pg_uuid_t *
sqsn_new_uuid(void)
{
	pg_uuid_t *id = palloc(sizeof(pg_uuid_t));

	if (!pg_strong_random(id->data, UUID_LEN))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not generate random bytes")));
	/* RFC 4122 version 4, variant 1 */
	id->data[6] = (id->data[6] & 0x0f) | 0x40;
	id->data[8] = (id->data[8] & 0x3f) | 0x80;
	return id;
}

/* A uuid Datum as text: 8-4-4-4-12 lower-case hex digits. */
char *
sqsn_uuid_text(Datum uuid)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, uuid));
}

TimestampTz
sqsn_add_seconds(TimestampTz t, int32 seconds)
{
	return t + (int64) seconds * USECS_PER_SEC;
}

/* ISO-8601 in UTC with milliseconds: 2026-01-02T03:04:05.678Z */
char *
sqsn_iso_timestamp(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t       fsec;

	if (timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year,
					tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
					(int) (fsec / 1000));
}
