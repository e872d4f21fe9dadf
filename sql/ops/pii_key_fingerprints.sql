-- the fingerprints of the keys that have hashed resident IDs here (one: first loads take a lock)
select fingerprint, first_used_at
from ops.pii_key
order by first_used_at, fingerprint
