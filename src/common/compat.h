/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  What differs between the PostgreSQL major versions sqsn builds
 *	  against (15, 16, 17 and 18): every #if PG_VERSION_NUM of sqsn is here
 *	  and nowhere else. Each shim is written in the newest version's terms,
 *	  so that the code reads as code for the newest release, and says what
 *	  changed in which version.
 *
 *	  common.h includes it; every file of src/ gets it through its
 *	  subsystem's header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SQSN_COMPAT_H
#define SQSN_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "sqsn needs PostgreSQL 15 or later"
#endif

/*
 * 18 replaced the attribute pg_attribute_noreturn(), written after a
 * declaration, with the C11 specifier pg_noreturn, written before it.
 */
#if PG_VERSION_NUM < 180000
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * The declarations the shims below stand in front of come first, so that
 * no later #include of theirs meets a macro of the same name.
 */
#include "access/genam.h"
#include "catalog/dependency.h"
#include "catalog/pg_proc.h"
#include "utils/acl.h"
#include "common/base64.h"
#include "common/jsonapi.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"

/*
 * 16 made the callbacks of the JSON parser return a JsonParseErrorType
 * (they returned nothing before): a callback is declared returning
 * SqsnJsonActionResult and ends with "return SQSN_JSON_ACTION_DONE;".
 */
#if PG_VERSION_NUM >= 160000
typedef JsonParseErrorType SqsnJsonActionResult;
#define SQSN_JSON_ACTION_DONE JSON_SUCCESS
#else
typedef void SqsnJsonActionResult;
#define SQSN_JSON_ACTION_DONE
#endif

/*
 * 17 gave makeJsonLexContextCstringLen a first argument, a context to fill
 * in (NULL: allocate one); before, it always allocated. Pass NULL.
 */
#if PG_VERSION_NUM < 170000
#define makeJsonLexContextCstringLen(lex, json, len, encoding, need_escapes)  \
	(makeJsonLexContextCstringLen)(unconstify(char *, (json)), (len),         \
								   (encoding), (need_escapes))
#endif

/*
 * 17 moved a backend's local transaction id into PGPROC's vxid
 * (proc->vxid.lxid; proc->lxid before).
 */
#if PG_VERSION_NUM >= 170000
#define sqsn_proc_lxid(proc) ((proc)->vxid.lxid)
#else
#define sqsn_proc_lxid(proc) ((proc)->lxid)
#endif

/*
 * 16 replaced the per-kind privilege checks (pg_proc_aclcheck, ...) with
 * object_aclcheck(class, object, role, mode); sqsn checks functions only.
 */
#if PG_VERSION_NUM < 160000
#define object_aclcheck(classid, objectid, roleid, mode)                      \
	(AssertMacro((classid) == ProcedureRelationId),                           \
	 pg_proc_aclcheck((objectid), (roleid), (mode)))
#endif
/* 17: getIdentitySequence takes the relation (its OID before). */
#if PG_VERSION_NUM < 170000
#define getIdentitySequence(rel, attnum, missing_ok)                          \
	(getIdentitySequence)(RelationGetRelid(rel), (attnum), (missing_ok))
#endif

/*
 * 17: a WaitEventSet belongs to a resource owner (NULL: to nobody, freed
 * only by hand or at exit); before, it was allocated in a memory context.
 * sqsn's sets live as long as their process: pass NULL.
 */
#if PG_VERSION_NUM < 170000
#define CreateWaitEventSet(resowner, nevents)                                 \
	(CreateWaitEventSet)(TopMemoryContext, (nevents))
#endif

/*
 * 18: RelationGetPrimaryKeyIndex says whether a deferrable primary key
 * will do; before, the argument did not exist (and such a key did not
 * count). sqsn's message tables have plain primary keys: pass false.
 */
#if PG_VERSION_NUM < 180000
#define RelationGetPrimaryKeyIndex(rel, deferrable_ok)                        \
	(RelationGetPrimaryKeyIndex)(rel)
#endif

/* 18: index_beginscan takes the instrumentation of EXPLAIN (NULL: none). */
#if PG_VERSION_NUM < 180000
#define index_beginscan(heap, index, snapshot, instrument, nkeys, norderbys)  \
	(index_beginscan)((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/* 18: base64 encodes from and decodes into uint8 (char before). */
#if PG_VERSION_NUM < 180000
#define pg_b64_encode(src, len, dst, dstlen)                                  \
	(pg_b64_encode)((const char *) (src), (len), (dst), (dstlen))
#define pg_b64_decode(src, len, dst, dstlen)                                  \
	(pg_b64_decode)((src), (len), (char *) (dst), (dstlen))
#endif

#endif /* SQSN_COMPAT_H */
