/*-------------------------------------------------------------------------
 *
 * crypto.c
 *	  Encryption at rest of message bodies and attributes: the master keys,
 *	  the data keys derived from them, and the sealed envelope that takes
 *	  the place of a message's body.
 *
 * The master key is 32 random bytes, written as 64 hexadecimal digits in
 * the file named by sqsn.master_key_file (superuser-only, read again after
 * a reload when the setting or the file changed). Files named by
 * sqsn.previous_master_key_files hold retired keys, still accepted for
 * decryption. A key file must not be accessible to group or others (group
 * read is allowed when root owns the file, as for PostgreSQL's ssl key).
 * The keys live only in this process's memory and are wiped
 * (OPENSSL_cleanse) when they are replaced or dropped.
 *
 * A key is known by its id: the first 4 bytes of SHA-256 of the key. Each
 * owner of messages (a queue, or the push outbox) gets its own data key,
 * HKDF-SHA256 of the master key with the owner in the info string, so the
 * master key itself never encrypts anything.
 *
 * A message is sealed with AES-256-GCM under a fresh random 96-bit nonce;
 * the associated data binds the ciphertext to its owner and message id (a
 * row copied into another queue, or into another message's place, fails
 * authentication). The plaintext is the body, the attributes (binary
 * jsonb) and an optional extra text (a push notification's subject), each
 * length-prefixed. The envelope is text:
 *
 *		sqsn1:base64(key id (4) | nonce (12) | ciphertext | tag (16))
 *
 * and the row's attributes column holds the jsonb string "encrypted",
 * which no plaintext message can have (its attributes are a JSON object or
 * NULL): that is what marks a row as sealed.
 *
 * Which rows are sealed is a property of the row, not of its queue: a
 * queue or topic created with encrypted => true (or set to
 * SqsManagedSseEnabled = true) seals every new message, and switching the
 * setting leaves stored messages readable (queue/rotate.c rewrites them).
 * Rows are opened where they leave the table: the receive result, moves
 * into another queue (which seals them again under its own data key), and
 * the push worker just before a POST. An encrypted topic seals its push
 * outbox rows; its fan-out into queues follows each queue's own setting.
 *
 * OpenSSL does all the cryptography, as PostgreSQL itself links it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "security/security.h"

#include "common/base64.h"
#include "port/pg_bswap.h"
#include "storage/fd.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#define KEY_LEN            32
#define KEY_ID_LEN         4
#define NONCE_LEN          12
#define TAG_LEN            16
#define MAX_PREVIOUS_KEYS  8
#define DERIVED_CACHE_SIZE 16
#define ENVELOPE_PREFIX    "sqsn1:"
#define ENVELOPE_MARKER    "encrypted"

static char *sqsn_master_key_file = NULL;
static char *sqsn_previous_master_key_files = NULL;

/* One loaded master key and the file it came from. */
typedef struct MasterKey
{
	uint8  key[KEY_LEN];
	uint8  id[KEY_ID_LEN];
	char   path[MAXPGPATH];
	time_t mtime;
	off_t  size;
} MasterKey;

/* A data key derived for one owner. */
typedef struct DerivedKey
{
	bool  valid;
	uint8 master_id[KEY_ID_LEN];
	char  owner_kind;
	int64 owner_id;
	uint8 key[KEY_LEN];
} DerivedKey;

static MasterKey          current_key;
static bool               have_current_key = false;
static char              *current_key_error = NULL; /* in TopMemoryContext */
static MasterKey          previous_keys[MAX_PREVIOUS_KEYS];
static int                nprevious_keys = 0;
static char              *previous_keys_error = NULL; /* in TopMemoryContext */
static char              *loaded_previous_setting = NULL;
static DerivedKey         derived_cache[DERIVED_CACHE_SIZE];
static int                derived_next = 0;
static LocalTransactionId checked_lxid = InvalidLocalTransactionId;

static void forget_derived_keys(void);

void
CryptoInit(void)
{
	DefineCustomStringVariable(
		"sqsn.master_key_file",
		"File with the master key that encrypts messages of encrypted "
		"queues and topics (64 hexadecimal digits).",
		"Empty: no key; encrypted queues and topics cannot be used.",
		&sqsn_master_key_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, NULL, NULL,
		NULL);
	DefineCustomStringVariable(
		"sqsn.previous_master_key_files",
		"Comma-separated files with retired master keys, still accepted "
		"for decryption.",
		NULL, &sqsn_previous_master_key_files, "", PGC_SIGHUP,
		GUC_SUPERUSER_ONLY | GUC_LIST_INPUT, NULL, NULL, NULL);
}

static void
set_error(char **slot, char *message)
{
	if (*slot)
		pfree(*slot);
	*slot = message ? MemoryContextStrdup(TopMemoryContext, message) : NULL;
}

/*
 * Why a file of secrets (a master key, credentials) cannot be used, or
 * NULL: it must be a regular file of the database user with no group or
 * world access, or root's with at most group read. what names the file in
 * the message, e.g. "master key file".
 */
char *
sqsn_secret_file_problem(const char *path, const char *what)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return psprintf("could not read %s \"%s\": %m", what, path);
	if (!S_ISREG(st.st_mode))
		return psprintf("%s \"%s\" is not a regular file", what, path);
	if ((st.st_uid == geteuid() && (st.st_mode & (S_IRWXG | S_IRWXO))) ||
		(st.st_uid == 0 && (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO))) ||
		(st.st_uid != geteuid() && st.st_uid != 0))
		return psprintf("%s \"%s\" has group or world access, or does not "
						"belong to the database user or root (chmod 600 it)",
						what, path);
	return NULL;
}

/*
 * Reads one key file into *key. Returns NULL, or why the file cannot be
 * used.
 */
static char *
read_key_file(const char *path, MasterKey *key)
{
	struct stat  st;
	FILE        *f;
	char         buf[256];
	size_t       n;
	int          digits = 0;
	uint8        hash[32];
	unsigned int hashlen = 0;
	char        *result = NULL;

	if ((result = sqsn_secret_file_problem(path, "master key file")) != NULL)
		return result;
	if (stat(path, &st) != 0)
		return psprintf("could not read master key file \"%s\": %m", path);
	f = AllocateFile(path, "r");
	if (f == NULL)
		return psprintf("could not open master key file \"%s\": %m", path);
	n = fread(buf, 1, sizeof(buf), f);
	FreeFile(f);
	for (size_t i = 0; i < n && result == NULL; i++)
	{
		int hi;

		if (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' ||
			buf[i] == '\t')
			continue;
		hi = sqsn_hex_value(buf[i]);
		if (hi < 0 || i + 1 >= n || sqsn_hex_value(buf[i + 1]) < 0 ||
			digits >= 2 * KEY_LEN)
		{
			digits = -1;
			break;
		}
		key->key[digits / 2] = (uint8) (hi << 4 | sqsn_hex_value(buf[i + 1]));
		digits += 2;
		i++;
	}
	explicit_bzero(buf, sizeof(buf));
	if (digits != 2 * KEY_LEN)
	{
		OPENSSL_cleanse(key->key, KEY_LEN);
		return psprintf("master key file \"%s\" must hold exactly %d "
						"hexadecimal digits (%d random bytes, e.g. from "
						"\"openssl rand -hex %d\")",
						path, 2 * KEY_LEN, KEY_LEN, KEY_LEN);
	}
	if (EVP_Digest(key->key, KEY_LEN, hash, &hashlen, EVP_sha256(), NULL) != 1)
	{
		ERR_clear_error();
		OPENSSL_cleanse(key->key, KEY_LEN);
		return psprintf("could not hash master key \"%s\"", path);
	}
	memcpy(key->id, hash, KEY_ID_LEN);
	strlcpy(key->path, path, sizeof(key->path));
	key->mtime = st.st_mtime;
	key->size = st.st_size;
	return NULL;
}

/* Whether the file behind a loaded key is still the one that was read. */
static bool
key_file_unchanged(const MasterKey *key, const char *path)
{
	struct stat st;

	return strcmp(key->path, path) == 0 && stat(path, &st) == 0 &&
		   st.st_mtime == key->mtime && st.st_size == key->size;
}

static void
drop_current_key(void)
{
	OPENSSL_cleanse(&current_key, sizeof(current_key));
	have_current_key = false;
}

static void
drop_previous_keys(void)
{
	OPENSSL_cleanse(previous_keys, sizeof(previous_keys));
	nprevious_keys = 0;
}

/*
 * Brings the loaded keys in line with the settings and the files, at most
 * once per transaction (settings change only between transactions).
 */
static void
refresh_keys(void)
{
	const char *path = sqsn_master_key_file ? sqsn_master_key_file : "";
	const char *list =
		sqsn_previous_master_key_files ? sqsn_previous_master_key_files : "";

	if (MyProc != NULL && sqsn_proc_lxid(MyProc) == checked_lxid &&
		checked_lxid != InvalidLocalTransactionId)
		return;
	if (MyProc != NULL)
		checked_lxid = sqsn_proc_lxid(MyProc);

	if (path[0] == '\0')
	{
		if (have_current_key)
			forget_derived_keys();
		drop_current_key();
		set_error(&current_key_error, NULL);
	}
	else if (!have_current_key || !key_file_unchanged(&current_key, path))
	{
		MasterKey key;
		char     *error;

		memset(&key, 0, sizeof(key));
		error = read_key_file(path, &key);
		forget_derived_keys();
		drop_current_key();
		set_error(&current_key_error, error);
		if (error == NULL)
		{
			current_key = key;
			have_current_key = true;
		}
		OPENSSL_cleanse(&key, sizeof(key));
	}

	/* the previous keys: reread when the list or any file changed */
	{
		bool reload = loaded_previous_setting == NULL ||
					  strcmp(loaded_previous_setting, list) != 0;
		char     *copy = pstrdup(list);
		List     *paths = NIL;
		ListCell *lc;
		int       i = 0;

		if (!SplitGUCList(copy, ',', &paths))
		{
			drop_previous_keys();
			set_error(&previous_keys_error,
					  "sqsn.previous_master_key_files is not a valid list");
			return;
		}
		if (!reload)
		{
			foreach (lc, paths)
			{
				if (i >= nprevious_keys ||
					!key_file_unchanged(&previous_keys[i], lfirst(lc)))
					reload = true;
				i++;
			}
		}
		if (!reload)
			return;
		forget_derived_keys();
		drop_previous_keys();
		set_error(&previous_keys_error, NULL);
		if (loaded_previous_setting)
			pfree(loaded_previous_setting);
		loaded_previous_setting = MemoryContextStrdup(TopMemoryContext, list);
		foreach (lc, paths)
		{
			char *error;

			if (nprevious_keys >= MAX_PREVIOUS_KEYS)
			{
				set_error(&previous_keys_error,
						  psprintf("at most %d previous master keys are "
								   "read",
								   MAX_PREVIOUS_KEYS));
				break;
			}
			error = read_key_file(lfirst(lc), &previous_keys[nprevious_keys]);
			if (error)
			{
				ereport(WARNING,
						(errcode(ERRCODE_CONFIG_FILE_ERROR),
						 errmsg("%s", error),
						 errdetail("Messages sealed with that key cannot be "
								   "decrypted.")));
				set_error(&previous_keys_error, error);
			}
			else
				nprevious_keys++;
		}
	}
}

static void
forget_derived_keys(void)
{
	OPENSSL_cleanse(derived_cache, sizeof(derived_cache));
	derived_next = 0;
}

/*
 * Whether a current master key is loaded; when there is none, *why says
 * why (palloc'd), if why is not NULL.
 */
static bool
master_key_available(char **why)
{
	refresh_keys();
	if (!have_current_key && why)
		*why = current_key_error ? pstrdup(current_key_error)
								 : pstrdup("sqsn.master_key_file is not set");
	return have_current_key;
}

/*
 * Errors unless a current master key is loaded. what says what needs it
 * ("queue \"x\" is encrypted").
 */
void
sqsn_require_master_key(const char *what)
{
	char *why = NULL;

	if (!master_key_available(&why))
		ereport(
			ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s, but no master key is loaded", what),
			 errdetail("%s.", why),
			 errhint("Set sqsn.master_key_file to a file with 64 "
					 "hexadecimal digits (openssl rand -hex 32), readable "
					 "only by the server, and reload the configuration.")));
}

/* The hex form of a key id, for messages. */
static char *
key_id_hex(const uint8 *id)
{
	return sqsn_hex(id, KEY_ID_LEN);
}

static const MasterKey *
find_master_key(const uint8 *id)
{
	if (have_current_key && memcmp(current_key.id, id, KEY_ID_LEN) == 0)
		return &current_key;
	for (int i = 0; i < nprevious_keys; i++)
		if (memcmp(previous_keys[i].id, id, KEY_ID_LEN) == 0)
			return &previous_keys[i];
	return NULL;
}

/*
 * The data key of one owner under a master key: HKDF-SHA256 with info
 * "sqsn data key <kind> <id>". Returns false if OpenSSL fails.
 */
static bool
derive_key(const MasterKey *master, char kind, int64 owner_id, uint8 *out)
{
	EVP_PKEY_CTX *ctx;
	char          info[64];
	size_t        outlen = KEY_LEN;
	bool          ok;

	for (int i = 0; i < DERIVED_CACHE_SIZE; i++)
	{
		DerivedKey *d = &derived_cache[i];

		if (d->valid && d->owner_kind == kind && d->owner_id == owner_id &&
			memcmp(d->master_id, master->id, KEY_ID_LEN) == 0)
		{
			memcpy(out, d->key, KEY_LEN);
			return true;
		}
	}

	snprintf(info, sizeof(info), "sqsn data key %c " INT64_FORMAT, kind,
			 owner_id);
	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	ok = ctx != NULL && EVP_PKEY_derive_init(ctx) == 1 &&
		 EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) == 1 &&
		 EVP_PKEY_CTX_set1_hkdf_salt(ctx, (const unsigned char *) "sqsn", 4) ==
			 1 &&
		 EVP_PKEY_CTX_set1_hkdf_key(ctx, master->key, KEY_LEN) == 1 &&
		 EVP_PKEY_CTX_add1_hkdf_info(ctx, (unsigned char *) info,
									 strlen(info)) == 1 &&
		 EVP_PKEY_derive(ctx, out, &outlen) == 1 && outlen == KEY_LEN;
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
	{
		ERR_clear_error();
		return false;
	}

	{
		DerivedKey *d = &derived_cache[derived_next];

		derived_next = (derived_next + 1) % DERIVED_CACHE_SIZE;
		d->valid = true;
		memcpy(d->master_id, master->id, KEY_ID_LEN);
		d->owner_kind = kind;
		d->owner_id = owner_id;
		memcpy(d->key, out, KEY_LEN);
	}
	return true;
}

/* The associated data: envelope version, owner and message id. */
static int
build_aad(uint8 *aad, char kind, int64 owner_id, const pg_uuid_t *message_id,
		  const pg_uuid_t *owner_uuid)
{
	uint64 id = pg_hton64((uint64) owner_id);
	int    len = 0;

	memcpy(aad, "sqsn1", 5);
	len = 5;
	aad[len++] = (uint8) kind;
	memcpy(aad + len, &id, 8);
	len += 8;
	if (owner_uuid)
		memcpy(aad + len, owner_uuid->data, UUID_LEN);
	else
		memset(aad + len, 0, UUID_LEN);
	len += UUID_LEN;
	memcpy(aad + len, message_id->data, UUID_LEN);
	len += UUID_LEN;
	return len;
}

static void
append_part(StringInfo buf, const char *data, int len, bool present)
{
	uint32 n = pg_hton32(present ? (uint32) len + 1 : 0);

	appendBinaryStringInfo(buf, (const char *) &n, 4);
	if (present)
		appendBinaryStringInfo(buf, data, len);
}

/*
 * AES-256-GCM over len bytes of in into out, with aad authenticated too:
 * encrypting writes the tag into tag, decrypting checks the one in tag.
 * False on any failure (OpenSSL's error queue is left to the caller).
 */
static bool
aes_gcm(bool encrypt, const uint8 *key, const uint8 *nonce, const uint8 *aad,
		int aadlen, const uint8 *in, int len, uint8 *out, uint8 *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int             outlen = 0;
	int             finlen = 0;
	bool            ok;

	ok = ctx != NULL &&
		 EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce,
						   encrypt ? 1 : 0) == 1 &&
		 EVP_CipherUpdate(ctx, NULL, &outlen, aad, aadlen) == 1 &&
		 EVP_CipherUpdate(ctx, out, &outlen, in, len) == 1 &&
		 (encrypt ||
		  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1) &&
		 EVP_CipherFinal_ex(ctx, out + outlen, &finlen) == 1 &&
		 outlen + finlen == len &&
		 (!encrypt ||
		  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1);
	EVP_CIPHER_CTX_free(ctx);
	return ok;
}

/* Whether an attributes value marks its row as sealed. */
bool
sqsn_is_sealed(Jsonb *attributes)
{
	return attributes != NULL && JB_ROOT_IS_SCALAR(attributes);
}

/* The attributes value of a sealed row. */
Jsonb *
sqsn_sealed_marker(void)
{
	return DatumGetJsonbP(DirectFunctionCall1(
		jsonb_in, CStringGetDatum("\"" ENVELOPE_MARKER "\"")));
}

/*
 * Seals a message for an owner (kind 'q': the queue owner_id; kind 'd':
 * the push outbox of subscription owner_uuid) under the current master
 * key. Returns the envelope text; errors without a key.
 */
text *
sqsn_seal(char kind, int64 owner_id, const pg_uuid_t *owner_uuid,
		  const pg_uuid_t *message_id, text *body, Jsonb *attributes,
		  const char *extra)
{
	StringInfoData plain;
	uint8          data_key[KEY_LEN];
	uint8          aad[64];
	int            aadlen;
	uint8         *raw;
	int            rawlen;
	bool           ok;
	text          *result;
	int            enclen;
	int            prefixlen = strlen(ENVELOPE_PREFIX);

	refresh_keys();
	if (!have_current_key)
		sqsn_require_master_key("a message must be encrypted");

	initStringInfo(&plain);
	append_part(&plain, VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body), true);
	append_part(&plain, (const char *) attributes,
				attributes ? VARSIZE(attributes) : 0, attributes != NULL);
	append_part(&plain, extra, extra ? strlen(extra) : 0, extra != NULL);

	if (!derive_key(&current_key, kind, owner_id, data_key))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not derive a data key")));
	aadlen = build_aad(aad, kind, owner_id, message_id, owner_uuid);

	rawlen = KEY_ID_LEN + NONCE_LEN + plain.len + TAG_LEN;
	raw = palloc(rawlen);
	memcpy(raw, current_key.id, KEY_ID_LEN);
	if (RAND_bytes(raw + KEY_ID_LEN, NONCE_LEN) != 1)
	{
		ERR_clear_error();
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not generate random bytes")));
	}
	ok = aes_gcm(true, data_key, raw + KEY_ID_LEN, aad, aadlen,
				 (uint8 *) plain.data, plain.len, raw + KEY_ID_LEN + NONCE_LEN,
				 raw + KEY_ID_LEN + NONCE_LEN + plain.len);
	OPENSSL_cleanse(data_key, sizeof(data_key));
	OPENSSL_cleanse(plain.data, plain.len);
	pfree(plain.data);
	if (!ok)
	{
		ERR_clear_error();
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
						errmsg("could not encrypt a message")));
	}

	enclen = pg_b64_enc_len(rawlen);
	result = palloc(VARHDRSZ + prefixlen + enclen);
	memcpy(VARDATA(result), ENVELOPE_PREFIX, prefixlen);
	enclen = pg_b64_encode(raw, rawlen, VARDATA(result) + prefixlen, enclen);
	if (enclen < 0)
		elog(ERROR, "could not encode a sealed message");
	SET_VARSIZE(result, VARHDRSZ + prefixlen + enclen);
	pfree(raw);
	return result;
}

static bool
take_part(const uint8 **p, const uint8 *end, const uint8 **data, int *len)
{
	uint32 n;

	if (end - *p < 4)
		return false;
	memcpy(&n, *p, 4);
	n = pg_ntoh32(n);
	*p += 4;
	if (n == 0)
	{
		*data = NULL;
		*len = 0;
		return true;
	}
	n--;
	if ((uint64) (end - *p) < n)
		return false;
	*data = *p;
	*len = (int) n;
	*p += n;
	return true;
}

/*
 * Opens an envelope made by sqsn_seal for the same owner and message.
 * Fills *body, *attributes (NULL: none) and *extra (NULL: none). On
 * failure returns false with *sqlstate and *error (palloc'd) saying why:
 * the key is not loaded (55000), or the envelope is malformed or fails
 * authentication (XX001, data_corrupted).
 */
bool
sqsn_open(char kind, int64 owner_id, const pg_uuid_t *owner_uuid,
		  const pg_uuid_t *message_id, text *envelope, text **body,
		  Jsonb **attributes, char **extra, int *sqlstate, char **error)
{
	int              prefixlen = strlen(ENVELOPE_PREFIX);
	const char      *src = VARDATA_ANY(envelope);
	int              srclen = VARSIZE_ANY_EXHDR(envelope);
	uint8           *raw;
	int              rawlen;
	const MasterKey *master;
	uint8            data_key[KEY_LEN];
	uint8            aad[64];
	int              aadlen;
	uint8           *plain;
	int              plainlen;
	bool             ok;
	const uint8     *p;
	const uint8     *part;
	int              partlen;

	refresh_keys();
	*sqlstate = ERRCODE_DATA_CORRUPTED;
	if (srclen < prefixlen || memcmp(src, ENVELOPE_PREFIX, prefixlen) != 0)
	{
		*error = pstrdup("the stored message is not a sealed envelope");
		return false;
	}
	raw = palloc(pg_b64_dec_len(srclen - prefixlen) + 1);
	rawlen = pg_b64_decode(src + prefixlen, srclen - prefixlen, raw,
						   pg_b64_dec_len(srclen - prefixlen) + 1);
	if (rawlen < KEY_ID_LEN + NONCE_LEN + TAG_LEN)
	{
		*error = pstrdup("the sealed envelope is truncated or malformed");
		return false;
	}
	master = find_master_key(raw);
	if (master == NULL)
	{
		*sqlstate = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
		*error = psprintf(
			"the message was encrypted with master key %s, which is not "
			"loaded (current key: %s%s%s)",
			key_id_hex(raw),
			have_current_key ? key_id_hex(current_key.id) : "none",
			current_key_error ? "; " : "",
			current_key_error ? current_key_error : "");
		return false;
	}
	if (!derive_key(master, kind, owner_id, data_key))
	{
		*sqlstate = ERRCODE_INTERNAL_ERROR;
		*error = pstrdup("could not derive a data key");
		return false;
	}
	aadlen = build_aad(aad, kind, owner_id, message_id, owner_uuid);
	plainlen = rawlen - KEY_ID_LEN - NONCE_LEN - TAG_LEN;
	plain = palloc(Max(plainlen, 1));
	ok = aes_gcm(false, data_key, raw + KEY_ID_LEN, aad, aadlen,
				 raw + KEY_ID_LEN + NONCE_LEN, plainlen, plain,
				 raw + rawlen - TAG_LEN);
	OPENSSL_cleanse(data_key, sizeof(data_key));
	ERR_clear_error();
	pfree(raw);
	if (!ok)
	{
		OPENSSL_cleanse(plain, plainlen);
		*error = pstrdup("the sealed message failed authentication: it was "
						 "altered, or moved from another queue or message");
		return false;
	}

	p = plain;
	if (!take_part(&p, plain + plainlen, &part, &partlen) || part == NULL)
		goto malformed;
	*body = cstring_to_text_with_len((const char *) part, partlen);
	if (!take_part(&p, plain + plainlen, &part, &partlen))
		goto malformed;
	if (part == NULL)
		*attributes = NULL;
	else
	{
		if (partlen < VARHDRSZ)
			goto malformed;
		*attributes = palloc(partlen);
		memcpy(*attributes, part, partlen);
		if (VARSIZE(*attributes) != (Size) partlen)
			goto malformed;
	}
	if (!take_part(&p, plain + plainlen, &part, &partlen))
		goto malformed;
	if (extra)
		*extra = part ? pnstrdup((const char *) part, partlen) : NULL;
	OPENSSL_cleanse(plain, plainlen);
	return true;

malformed:
	OPENSSL_cleanse(plain, plainlen);
	*error = pstrdup("the sealed message is malformed");
	return false;
}

/*
 * sqsn_open for a queue's row: errors (see sqsn_open) instead of returning
 * false.
 */
void
sqsn_open_queue_message(int64 queue_id, const char *queue_name,
						const pg_uuid_t *message_id, Datum *body,
						Jsonb **attributes)
{
	text *plain_body;
	int   sqlstate;
	char *error;

	if (!sqsn_open('q', queue_id, NULL, message_id, DatumGetTextPP(*body),
				   &plain_body, attributes, NULL, &sqlstate, &error))
		ereport(
			ERROR,
			(errcode(sqlstate),
			 errmsg("cannot decrypt a message of queue \"%s\"", queue_name),
			 errdetail("Message %s: %s.",
					   sqsn_uuid_text(UUIDPGetDatum(message_id)), error),
			 sqlstate == ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE
				 ? errhint("Set sqsn.master_key_file (or "
						   "sqsn.previous_master_key_files) to the key "
						   "the message was encrypted with and reload "
						   "the configuration.")
				 : 0));
	*body = PointerGetDatum(plain_body);
}

/*
 * Whether an envelope was sealed with the current master key (its key id
 * follows the prefix).
 */
bool
sqsn_sealed_with_current_key(text *envelope)
{
	int   prefixlen = strlen(ENVELOPE_PREFIX);
	int   len = VARSIZE_ANY_EXHDR(envelope);
	uint8 raw[8];

	refresh_keys();
	if (!have_current_key || len < prefixlen + 8 ||
		memcmp(VARDATA_ANY(envelope), ENVELOPE_PREFIX, prefixlen) != 0)
		return false;
	/* 8 base64 digits are 6 bytes, the key id and more */
	if (pg_b64_decode(VARDATA_ANY(envelope) + prefixlen, 8, raw, sizeof(raw)) <
		KEY_ID_LEN)
		return false;
	return memcmp(raw, current_key.id, KEY_ID_LEN) == 0;
}

/*
 * Sets the encrypted flag of a queue or topic (table "queue" or "topic",
 * row by name) after sq_create_queue, sn_create_topic or a change of the
 * attribute. With check_only, compares instead: an existing queue or topic
 * created again must have the same setting. Requires SPI.
 */
void
sqsn_store_encrypted(const char *table, const char *name, bool encrypted,
					 bool check_only)
{
	Oid   argtypes[2] = {TEXTOID, BOOLOID};
	Datum values[2] = {CStringGetTextDatum(name), BoolGetDatum(encrypted)};

	if (!sqsn_catalog_has(SQSN_CATALOG_ENCRYPTION))
	{
		if (encrypted)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("encrypted %ss need version 0.3 of extension sqsn",
							table),
					 errhint("Run ALTER EXTENSION sqsn UPDATE.")));
		return;
	}
	if (check_only)
	{
		sqsn_spi_check(
			SPI_execute_with_args(
				psprintf(
					"SELECT encrypted = $2 FROM sqsn.%s WHERE %s_name = $1",
					table, table),
				2, argtypes, values, NULL, false, 1),
			SPI_OK_SELECT, "reading the encryption setting");
		if (SPI_processed == 1 &&
			!sqsn_spi_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1))
			sqsn_exists_differently(
				table, name,
				psprintf("It is %sencrypted.", encrypted ? "not " : ""));
		return;
	}
	if (encrypted)
		sqsn_require_master_key(
			psprintf("%s \"%s\" is to be encrypted", table, name));
	sqsn_spi_check(
		SPI_execute_with_args(
			psprintf("UPDATE sqsn.%s SET encrypted = $2 WHERE %s_name = $1",
					 table, table),
			2, argtypes, values, NULL, false, 0),
		SPI_OK_UPDATE, "storing the encryption setting");
}

/*
 * The encryption setting sq_create_queue or sn_create_topic was given:
 * stored for a new queue or topic (a new unencrypted one needs nothing),
 * compared with the setting of one that existed already.
 */
void
sqsn_create_encrypted(const char *table, const char *name, bool encrypted,
					  bool exists)
{
	if (exists || encrypted)
		sqsn_store_encrypted(table, name, encrypted, exists);
}
