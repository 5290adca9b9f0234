-- PgQ: one event per transaction.
SELECT pgq.insert_event('send', 'bench', :body);
