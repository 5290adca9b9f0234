\echo Use "ALTER EXTENSION sqsn UPDATE TO '0.4'" to load this file. \quit

-- sqsn 0.3 -> 0.4. Every change to sql/sqsn.sql (the 0.4 install script)
-- since 0.3 has its counterpart here; test/t/007_upgrade.pl checks that an
-- updated installation and a fresh one have the same catalog.
