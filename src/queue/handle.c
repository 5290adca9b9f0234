/*-------------------------------------------------------------------------
 *
 * handle.c
 *	  Receipt handles: what a consumer gets with each received message and
 *	  passes back to delete it or change its visibility.
 *
 * A handle names the queue, the message (its ordering id) and the lease
 * token written by the receive that produced it, and carries an
 * HMAC-SHA256 tag over those bytes keyed by a per-database secret
 * (sqsn.handle_key, readable by no role but the extension owner). So a
 * handle cannot be forged or pointed at another message or queue, and a
 * handle of an older lease is recognised as stale rather than invalid:
 * the message row no longer carries its token.
 *
 * Layout before base64: version (1 byte) | queue id (8) | ordering id (8)
 * | lease token (8) | first 16 bytes of the HMAC.
 *
 * The lease token only has to differ from one lease of a message to the
 * next; it comes from the backend's PRNG (seeded from strong randomness).
 * What makes a handle unguessable is the tag. The HMAC runs on OpenSSL
 * with a context keyed once per backend and re-initialised per handle,
 * which keeps it cheap enough for the receive path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "common/base64.h"
#include "common/pg_prng.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#define HANDLE_VERSION  1
#define HANDLE_MAC_LEN  16
#define HANDLE_BODY_LEN (1 + 8 + 8 + 8)
#define HANDLE_RAW_LEN  (HANDLE_BODY_LEN + HANDLE_MAC_LEN)
#define HANDLE_KEY_LEN  32
/* base64 of HANDLE_RAW_LEN bytes, padded */
#define HANDLE_TEXT_LEN (4 * ((HANDLE_RAW_LEN + 2) / 3))

static EVP_MAC_CTX *keyed_hmac = NULL;
static bool         handle_key_loaded = false;
static Oid          handle_key_relid = InvalidOid;

static void load_handle_key(void);
static void compute_mac(const uint8 *body, uint8 *mac);

pg_noreturn static void invalid_handle(const char *detail);

/*
 * Called from the relcache callback: the key table was dropped or
 * rewritten (the extension was recreated), so read the key again.
 */
void
sqsn_forget_handle_key(Oid relid)
{
	if (relid == InvalidOid || relid == handle_key_relid)
		handle_key_loaded = false;
}

int64
sqsn_new_lease_token(void)
{
	return (int64) pg_prng_uint64(&pg_global_prng_state);
}

/*
 * Reads the secret through SPI (the caller is connected).
 */
static void
load_handle_key(void)
{
	bool   isnull;
	bytea *secret;

	sqsn_spi_check(SPI_execute("SELECT secret FROM sqsn.handle_key"
							   " WHERE id OPERATOR(pg_catalog.=) 1",
							   false, 1),
				   SPI_OK_SELECT, "reading sqsn.handle_key");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the receipt handle key of sqsn is missing"),
				 errhint("Run SELECT sqsn.init_handle_key(); as the extension "
						 "owner.")));

	secret = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));
	if (VARSIZE_ANY_EXHDR(secret) != HANDLE_KEY_LEN)
		elog(ERROR, "sqsn.handle_key has a secret of the wrong length");

	if (keyed_hmac == NULL)
	{
		EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);

		keyed_hmac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
		EVP_MAC_free(hmac); /* the context keeps its own reference */
		if (keyed_hmac == NULL)
			elog(ERROR, "could not create an HMAC context");
	}
	{
		char       digest[] = "SHA256";
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
			OSSL_PARAM_construct_end()};

		if (!EVP_MAC_init(keyed_hmac,
						  (const unsigned char *) VARDATA_ANY(secret),
						  HANDLE_KEY_LEN, params))
			elog(ERROR, "could not key the receipt handle HMAC");
	}
	handle_key_relid = get_relname_relid("handle_key", sqsn_schema_oid());
	handle_key_loaded = true;
}

static void
compute_mac(const uint8 *body, uint8 *mac)
{
	unsigned char full[EVP_MAX_MD_SIZE];
	size_t        len;

	if (!handle_key_loaded)
		load_handle_key();

	/* a NULL key re-initialises the context with the key it already has */
	if (!EVP_MAC_init(keyed_hmac, NULL, 0, NULL) ||
		!EVP_MAC_update(keyed_hmac, body, HANDLE_BODY_LEN) ||
		!EVP_MAC_final(keyed_hmac, full, &len, sizeof(full)) ||
		len < HANDLE_MAC_LEN)
		elog(ERROR, "could not compute receipt handle tag");
	memcpy(mac, full, HANDLE_MAC_LEN);
}

static void
put_int64(uint8 *dst, int64 value)
{
	uint64 be = pg_hton64((uint64) value);

	memcpy(dst, &be, sizeof(be));
}

static int64
get_int64(const uint8 *src)
{
	uint64 be;

	memcpy(&be, src, sizeof(be));
	return (int64) pg_ntoh64(be);
}

char *
sqsn_make_receipt_handle(int64 queue_id, int64 msg_seq, int64 lease_token)
{
	uint8 raw[HANDLE_RAW_LEN];
	char *handle = palloc(HANDLE_TEXT_LEN + 1);
	int   len;

	raw[0] = HANDLE_VERSION;
	put_int64(raw + 1, queue_id);
	put_int64(raw + 9, msg_seq);
	put_int64(raw + 17, lease_token);
	compute_mac(raw, raw + HANDLE_BODY_LEN);

	len = pg_b64_encode(raw, HANDLE_RAW_LEN, handle, HANDLE_TEXT_LEN);
	if (len < 0)
		elog(ERROR, "could not encode receipt handle");
	handle[len] = '\0';
	return handle;
}

static void
invalid_handle(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("receipt handle is invalid"), errdetail("%s", detail),
			 errhint("Use the receipt_handle returned by sqsn.sq_receive() "
					 "for this queue.")));
}

/*
 * Checks a handle against its tag and the queue it is used with, and
 * returns the message's ordering id and the lease token it was issued with.
 */
void
sqsn_parse_receipt_handle(const char *handle, int64 queue_id, int64 *msg_seq,
						  int64 *lease_token)
{
	uint8 raw[HANDLE_RAW_LEN + 3];
	uint8 mac[HANDLE_MAC_LEN];
	int   len = strlen(handle);
	int   declen;
	uint8 diff = 0;

	if (len != HANDLE_TEXT_LEN)
		invalid_handle("The handle has the wrong length.");

	declen = pg_b64_decode(handle, len, raw, sizeof(raw));
	if (declen != HANDLE_RAW_LEN || raw[0] != HANDLE_VERSION)
		invalid_handle("The handle is not well-formed.");

	compute_mac(raw, mac);
	for (int i = 0; i < HANDLE_MAC_LEN; i++)
		diff |= mac[i] ^ raw[HANDLE_BODY_LEN + i];
	if (diff != 0)
		invalid_handle("The handle was not issued by this database.");

	if (get_int64(raw + 1) != queue_id)
		invalid_handle("The handle belongs to another queue.");

	*msg_seq = get_int64(raw + 9);
	*lease_token = get_int64(raw + 17);
}
