-- the key that first hashes resident IDs in this warehouse is recorded once (by its fingerprint,
-- never the key); every later load compares against it (bizenv.pii)
insert into ops.pii_key (fingerprint, first_used_at)
select cast(:fingerprint as varchar), cast(:first_used_at as timestamp)
where not exists (select 1 from ops.pii_key)
-- two first loads under one key at once: the second finds the first's row (not an error)
on conflict (fingerprint) do nothing
