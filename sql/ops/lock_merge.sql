-- serialise the merges that read and write the same core state (postgresql only): a
-- transaction-level advisory lock on a key derived from the dataset's name, released at commit
-- or rollback, so concurrent deliveries end exactly as if loaded one after the other
select pg_advisory_xact_lock(cast(:lock_key as bigint))
