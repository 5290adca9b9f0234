/*-------------------------------------------------------------------------
 *
 * encryption.c
 *	  Encrypted queues and topics: the catalog flag, the attribute
 *	  SqsManagedSseEnabled, sealing messages as they are stored, and
 *	  sq_rotate_queue_key.
 *
 * A queue created with encrypted => true (or set to SqsManagedSseEnabled
 * = true) stores every new message sealed (crypto.c): the body column holds
 * the envelope and the attributes column the marker "encrypted". Rows are
 * opened where they leave the table: the receive result (standard and
 * FIFO), and moves into another queue (dead-letter moves and redrives),
 * where the destination seals them again under its own data key if it is
 * encrypted. Whether a row is sealed is a property of the row, not of the
 * queue, so switching the attribute off or on leaves stored messages
 * readable; sq_rotate_queue_key rewrites them all in the queue's current
 * mode under the current master key.
 *
 * An encrypted topic seals its push outbox rows (sqsn.delivery) for the
 * delivery worker, which opens them just before the POST. Its fan-out into
 * queues follows each queue's own setting, as in the managed service.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sqsn.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"

PG_FUNCTION_INFO_V1(sq_rotate_queue_key);

#define ROTATE_BATCH 500

static SPIPlanPtr topic_encrypted_plan = NULL;

/*
 * Whether the catalog has the encryption columns (the SQL objects may be
 * those of an older version until ALTER EXTENSION sqsn UPDATE).
 */
bool
sqsn_catalog_has_encryption(void)
{
	Oid nsp = get_namespace_oid(SQSN_SCHEMA, true);
	Oid relid = OidIsValid(nsp) ? get_relname_relid("queue", nsp) : InvalidOid;

	return OidIsValid(relid) &&
		   get_attnum(relid, "encrypted") != InvalidAttrNumber;
}

/*
 * Replaces the body and attributes of n messages about to be inserted into
 * an encrypted queue by their sealed form.
 */
void
sqsn_seal_outgoing(SqsnQueue *queue, OutgoingMessage *msgs, int n)
{
	Jsonb *marker = sqsn_sealed_marker();

	for (int i = 0; i < n; i++)
	{
		msgs[i].body = PointerGetDatum(
			sqsn_seal('q', queue->queue_id, NULL, msgs[i].message_id,
					  DatumGetTextPP(msgs[i].body), msgs[i].attributes, NULL));
		msgs[i].attributes = marker;
	}
}

/* Whether the topic seals its push outbox rows. Requires SPI. */
bool
sqsn_topic_encrypted(int64 topic_id)
{
	Datum value = Int64GetDatum(topic_id);
	bool  isnull;

	if (!sqsn_catalog_has_encryption())
		return false;
	if (topic_encrypted_plan == NULL)
	{
		Oid argtypes[1] = {INT8OID};

		topic_encrypted_plan =
			sqsn_prepare_plan("SELECT encrypted FROM sqsn.topic"
							  " WHERE topic_id OPERATOR(pg_catalog.=) $1",
							  1, argtypes);
	}
	sqsn_spi_check(
		SPI_execute_plan(topic_encrypted_plan, &value, NULL, false, 1),
		SPI_OK_SELECT, "reading sqsn.topic");
	return SPI_processed == 1 &&
		   DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull));
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
	bool  is_queue = strcmp(table, "queue") == 0;

	if (!sqsn_catalog_has_encryption())
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
		bool isnull;

		sqsn_spi_check(
			SPI_execute_with_args(
				psprintf(
					"SELECT encrypted = $2 FROM sqsn.%s WHERE %s_name = $1",
					table, table),
				2, argtypes, values, NULL, false, 1),
			SPI_OK_SELECT, "reading the encryption setting");
		if (SPI_processed == 1 &&
			!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
										SPI_tuptable->tupdesc, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("%s \"%s\" already exists with different "
							"attributes",
							table, name),
					 errdetail("It is %sencrypted.", encrypted ? "not " : ""),
					 is_queue ? errhint("Use sqsn.sq_set_queue_attributes() "
										"to change them.")
							  : 0));
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
 * sq_rotate_queue_key(queue_name): rewrites the stored messages of a queue
 * in its current mode under the current master key: in an encrypted queue,
 * messages sealed with a previous key (or stored before the queue became
 * encrypted) are sealed again with the current one; in a queue that is no
 * longer encrypted, sealed messages are stored in the clear. Returns how
 * many messages were rewritten. Works in batches in msg_seq order within
 * the caller's transaction; a message a consumer holds keeps its lease.
 */
Datum
sq_rotate_queue_key(PG_FUNCTION_ARGS)
{
	char      *name = sqsn_text_arg(fcinfo, 0, "queue_name");
	int        nestlevel;
	SqsnQueue *queue;
	int64      after = 0;
	int64      rewritten = 0;
	int64      queue_id;
	bool       encrypted;
	char      *table;
	SPIPlanPtr select_plan;
	SPIPlanPtr update_plan;
	Jsonb     *marker = sqsn_sealed_marker();

	sqsn_validate_queue_name(name);
	nestlevel = sqsn_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	queue = sqsn_open_queue(name, RowExclusiveLock);
	queue_id = queue->queue_id;
	encrypted = queue->encrypted;
	table = pstrdup(queue->qualified_table);
	if (encrypted)
		sqsn_require_master_key(psprintf("queue \"%s\" is encrypted", name));

	{
		Oid selargs[1] = {INT8OID};
		Oid updargs[4] = {INT8OID, TEXTOID, JSONBOID, TEXTOID};

		select_plan = SPI_prepare(
			psprintf("SELECT msg_seq, message_id, body, message_attributes"
					 " FROM %s WHERE msg_seq > $1 ORDER BY msg_seq LIMIT %d",
					 table, ROTATE_BATCH),
			1, selargs);
		update_plan = SPI_prepare(
			psprintf("UPDATE %s SET body = $2, message_attributes = $3"
					 " WHERE msg_seq = $1 AND body = $4",
					 table),
			4, updargs);
		if (select_plan == NULL || update_plan == NULL)
			elog(ERROR, "preparing the key rotation of queue \"%s\" failed",
				 name);
	}

	for (;;)
	{
		Datum          value = Int64GetDatum(after);
		SPITupleTable *rows;
		uint64         nrows;

		CHECK_FOR_INTERRUPTS();
		sqsn_spi_check(SPI_execute_plan(select_plan, &value, NULL, false, 0),
					   SPI_OK_SELECT, "reading messages to rotate");
		rows = SPI_tuptable;
		nrows = SPI_processed;
		if (nrows == 0)
			break;

		for (uint64 i = 0; i < nrows; i++)
		{
			HeapTuple  row = rows->vals[i];
			bool       isnull;
			pg_uuid_t *message_id;
			Datum      body;
			Datum      stored_body;
			Datum      attributes;
			Jsonb     *plain_attributes;
			bool       sealed;
			Datum      values[4];
			char       nulls[4] = {' ', ' ', ' ', ' '};

			after =
				DatumGetInt64(SPI_getbinval(row, rows->tupdesc, 1, &isnull));
			message_id =
				DatumGetUUIDP(SPI_getbinval(row, rows->tupdesc, 2, &isnull));
			stored_body = body = SPI_getbinval(row, rows->tupdesc, 3, &isnull);
			attributes = SPI_getbinval(row, rows->tupdesc, 4, &isnull);
			plain_attributes = isnull ? NULL : DatumGetJsonbP(attributes);
			sealed = sqsn_is_sealed(plain_attributes);

			if (sealed && encrypted)
			{
				if (sqsn_sealed_with_current_key(DatumGetTextPP(body)))
					continue;
			}
			else if (!sealed && !encrypted)
				continue;

			if (sealed)
				sqsn_open_queue_message(queue_id, name, message_id, &body,
										&plain_attributes);
			if (encrypted)
			{
				values[1] = PointerGetDatum(
					sqsn_seal('q', queue_id, NULL, message_id,
							  DatumGetTextPP(body), plain_attributes, NULL));
				values[2] = JsonbPGetDatum(marker);
			}
			else
			{
				values[1] = body;
				values[2] =
					plain_attributes ? JsonbPGetDatum(plain_attributes) : 0;
				nulls[2] = plain_attributes ? ' ' : 'n';
			}
			values[0] = Int64GetDatum(after);
			values[3] = stored_body;
			sqsn_spi_check(
				SPI_execute_plan(update_plan, values, nulls, false, 0),
				SPI_OK_UPDATE, "rewriting a message");
			rewritten += SPI_processed;
		}
	}

	SPI_finish();
	sqsn_unpin_search_path(nestlevel);
	PG_RETURN_INT64(rewritten);
}
