-- the warehouse's latest change (changed_at) a transaction can read, at its cut-off
-- (core.read_as_of(), docs/history.md) or in the present: a snapshot's data cut-off, and the
-- time the next merge's changes must come after
with changes as (
    select max(m.changed_at) as changed_at
    from core.market_entity as m
    where core.read_as_of() is null or m.changed_at <= core.read_as_of()
    union all
    select max(r.changed_at) as changed_at
    from core.registration_version as r
    where core.read_as_of() is null or r.changed_at <= core.read_as_of()
    union all
    select max(t.changed_at) as changed_at
    from core.tax_filing_version as t
    where core.read_as_of() is null or t.changed_at <= core.read_as_of()
    union all
    select max(c.changed_at) as changed_at
    from core.credit_record_version as c
    where core.read_as_of() is null or c.changed_at <= core.read_as_of()
    union all
    select max(e.changed_at) as changed_at
    from core.real_estate_case_version as e
    where core.read_as_of() is null or e.changed_at <= core.read_as_of()
)
select max(c.changed_at) as latest_changed_at
from changes as c
