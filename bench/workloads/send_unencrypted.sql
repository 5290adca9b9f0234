-- Baseline of the encrypted send: sq_send to 'enc_base', an unencrypted
-- queue created with 'enc_send' and just as empty when the workload starts.
SELECT sqsn.sq_send('enc_base', :body);
