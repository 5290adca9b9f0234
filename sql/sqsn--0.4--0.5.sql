\echo Use "ALTER EXTENSION sqsn UPDATE TO '0.5'" to load this file. \quit

-- sqsn 0.4 -> 0.5. Every change to sql/sqsn.sql (the 0.5 install script)
-- since 0.4 has its counterpart here; test/t/007_upgrade.pl checks that an
-- updated installation and a fresh one have the same catalog. So far the
-- SQL objects of 0.5 are those of 0.4: what changed is in the library.
