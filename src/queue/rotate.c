/*-------------------------------------------------------------------------
 *
 * rotate.c
 *	  sq_rotate_queue_key: rewriting a queue's stored messages in its
 *	  current encryption mode under the current master key.
 *
 * Whether a row is sealed is a property of the row (security/crypto.c), so
 * a queue whose SqsManagedSseEnabled changed, or whose master key was
 * replaced, keeps rows of the other kind until they are rewritten here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "queue/queue.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(sq_rotate_queue_key);

#define ROTATE_BATCH 500

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

	sqsn_refuse_on_standby(fcinfo);
	sqsn_validate_queue_name(name);
	nestlevel = sqsn_admin_begin();

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

	sqsn_admin_end(nestlevel);
	PG_RETURN_INT64(rewritten);
}
