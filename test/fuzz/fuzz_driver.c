/*-------------------------------------------------------------------------
 *
 * fuzz_driver.c
 *	  libFuzzer harnesses for the parsers that take untrusted input: filter
 *	  policies (validation and matching) and receipt handles.
 *
 * The code under test calls into the PostgreSQL backend (jsonb, numeric,
 * memory contexts, ereport), so the fuzzer runs inside a backend: this file
 * is linked with every file of src/ into one instrumented library,
 * sqsn_fuzz.so, and the SQL function sqsn_fuzz_run(target, args) hands
 * control to libFuzzer (LLVMFuzzerRunDriver) from a single-user backend
 * (scripts/fuzz.sh). Every input runs in its own subtransaction and memory
 * context: an ERROR is the expected answer to bad input and is swallowed;
 * a crash, a sanitizer report, a failed property check (abort) or memory
 * growth across inputs is a finding.
 *
 * Targets:
 *	  filter_policy	 input = scope byte, policy JSON, NUL, message attributes
 *					 JSON, NUL, message body. The policy is validated; when
 *					 valid, the message is matched against it. Matching a
 *					 validated policy must never raise an error.
 *	  receipt_handle input = a handle string, decoded against queue 1; then
 *					 the first 24 bytes as (queue, message, lease) are made
 *					 into a handle that must decode to the same numbers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "topic/topic.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

PG_FUNCTION_INFO_V1(sqsn_fuzz_run);

extern int	LLVMFuzzerRunDriver(int *argc, char ***argv,
								int (*callback) (const uint8_t *data,
												 size_t size));

typedef void (*FuzzTarget) (const char *data, size_t size);

static FuzzTarget current_target;
static MemoryContext input_context;

/* Splits data at NUL bytes into at most n NUL-terminated palloc'd parts. */
static int
split_input(const char *data, size_t size, char **parts, int n)
{
	int			found = 0;
	size_t		start = 0;

	for (size_t i = 0; i <= size && found < n; i++)
	{
		if (i == size || data[i] == '\0' || found == n - 1)
		{
			size_t		end = (found == n - 1) ? size : i;

			parts[found++] = pnstrdup(data + start, end - start);
			start = i + 1;
			if (end == size)
				break;
		}
	}
	for (int i = found; i < n; i++)
		parts[i] = NULL;
	return found;
}

/*
 * Text reaches the server's functions only after the server checked its
 * encoding; inputs that would not pass are skipped.
 */
static Jsonb *
parse_json(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return NULL;
	if (!pg_verifymbstr(s, strlen(s), true))
		return NULL;
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

static void
fuzz_filter_policy(const char *data, size_t size)
{
	char	   *parts[3];
	bool		body_scope;
	Jsonb	   *policy;
	Jsonb	   *attributes = NULL;
	Jsonb	   *body_json = NULL;
	int64		attributes_size;

	if (size < 1)
		return;
	body_scope = (data[0] & 1) != 0;
	split_input(data + 1, size - 1, parts, 3);

	policy = parse_json(parts[0]);
	if (policy == NULL)
		return;
	sqsn_validate_filter_policy(policy, body_scope);

	/*
	 * From here on the policy is one the catalog could hold. Bad attributes
	 * are refused at publish, before matching, as here; matching itself
	 * must not fail.
	 */
	if (parts[1] != NULL && parts[1][0] != '\0')
	{
		Jsonb	   *raw = parse_json(parts[1]);

		attributes = sqsn_normalize_attributes(raw, &attributes_size);
	}
	if (parts[2] != NULL && pg_verifymbstr(parts[2], strlen(parts[2]), true))
		body_json = sqsn_json_or_null(parts[2], strlen(parts[2]));

	PG_TRY();
	{
		(void) sqsn_filter_matches(policy, body_scope, attributes, body_json);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		elog(PANIC, "matching a validated filter policy raised an error");
	}
	PG_END_TRY();
}

static int64
read_int64(const char *p)
{
	int64		v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void
fuzz_receipt_handle(const char *data, size_t size)
{
	char	   *handle = pnstrdup(data, size);
	int64		msg_seq;
	int64		lease_token;

	if (size >= 24)
	{
		int64		queue_id = read_int64(data);
		int64		want_seq = read_int64(data + 8);
		int64		want_lease = read_int64(data + 16);
		char	   *made = sqsn_make_receipt_handle(queue_id, want_seq,
													  want_lease);

		sqsn_parse_receipt_handle(made, queue_id, &msg_seq, &lease_token);
		if (msg_seq != want_seq || lease_token != want_lease)
			elog(PANIC, "receipt handle round trip changed its numbers");
	}
	sqsn_parse_receipt_handle(handle, 1, &msg_seq, &lease_token);
}

/*
 * One input: its own subtransaction, so an ERROR rolls back cleanly, and
 * its own memory, reset afterwards.
 */
static int
run_one(const uint8_t *data, size_t size)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	CHECK_FOR_INTERRUPTS();
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(input_context);
	PG_TRY();
	{
		current_target((const char *) data, size);
		MemoryContextSwitchTo(caller);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	CurrentResourceOwner = owner;
	MemoryContextReset(input_context);
	return 0;
}

/*
 * sqsn_fuzz_run(target text, args text[]): runs libFuzzer on target with
 * libFuzzer's command-line arguments; returns when libFuzzer stops (a
 * bounded -max_total_time or -runs) unless it finds a crash, in which case
 * libFuzzer writes the input and exits the process.
 */
Datum
sqsn_fuzz_run(PG_FUNCTION_ARGS)
{
	char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	ArrayType  *args = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			nargs;
	int			argc;
	char	  **argv;
	int			rc;

	if (strcmp(target, "filter_policy") == 0)
		current_target = fuzz_filter_policy;
	else if (strcmp(target, "receipt_handle") == 0)
	{
		current_target = fuzz_receipt_handle;
		/* load the handle key (SPI) once, outside the fuzzed inputs */
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		(void) sqsn_make_receipt_handle(1, 1, 1);
		SPI_finish();
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown fuzz target \"%s\"", target)));

	deconstruct_array(args, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls,
					  &nargs);
	argv = palloc0(sizeof(char *) * (nargs + 2));
	argv[0] = pstrdup("sqsn_fuzz");
	for (int i = 0; i < nargs; i++)
		argv[i + 1] = nulls[i] ? pstrdup("") : TextDatumGetCString(elems[i]);
	argc = nargs + 1;

	input_context = AllocSetContextCreate(TopMemoryContext, "sqsn fuzz input",
										  ALLOCSET_DEFAULT_SIZES);
	rc = LLVMFuzzerRunDriver(&argc, &argv, run_one);
	MemoryContextDelete(input_context);
	PG_RETURN_INT32(rc);
}
