-- the versions of core.market_entity with what a month-end stock needs (docs/indicators.md,
-- "Month-end entity state"); the state of an entity at a month end (its version then) is
-- core.v_entity_month_end.
-- is_first marks the earliest known version (the state of an entity first recorded after a month
-- end, e.g. a late delivery).
-- consecutive versions with the same exit status (注销/吊销/迁出) in the same unit are one exit. it
-- is dated by evidence, earliest first: its 状态日期; else the earliest 核准时间, else 申请时间, of an
-- application of that exit type (core.v_registration_as_of) made after the entity was last recorded
-- live in that unit and no later than the 更新时间 that first recorded the exit; only else that
-- 更新时间 (exit_dated_by says which; core.v_exit_without_date lists the last kind).
-- a 迁出 is superseded, and no exit, when the version just before it is live in another unit (the
-- 迁入 arrived first) or the version just after it is (the 迁出 arrived first): its versions take
-- that unit (region_code; recorded_region_code keeps the department's). a 迁出 out of the
-- prefecture has neither and ends the stock.
-- exit_date is the earliest exit date known from this version onwards, so an exit recorded after a
-- month end but dated on or before it still ends the entity's stock at that month.
-- facts are attached to versions by windows, never by joins back to the versions: postgresql
-- underestimates the rows of the as-of views and would nest loops over such joins.
create or replace view core.v_entity_state as
with versions as (
    select
        m.uscc,
        m.valid_from,
        m.valid_to,
        m.name,
        m.entity_type,
        m.region_code,
        m.established_date,
        m.status,
        m.status_date,
        m.batch_id,
        m.status in ('注销', '吊销', '迁出') as is_exit,
        row_number() over (partition by m.uscc order by m.valid_from) as version_no,
        -- consecutive versions with the same status in the same unit share (status, region_code,
        -- run_key)
        row_number() over (partition by m.uscc order by m.valid_from)
        - row_number() over (partition by m.uscc, m.status, m.region_code order by m.valid_from) as run_key,
        -- the latest earlier version that recorded the entity live in this version's unit
        max(case when m.status not in ('注销', '吊销', '迁出') then m.valid_from end) over (
            partition by m.uscc, m.region_code
            order by m.valid_from
            rows between unbounded preceding and 1 preceding
        ) as live_here_before,
        lag(m.status) over (partition by m.uscc order by m.valid_from) as before_status,
        lag(m.region_code) over (partition by m.uscc order by m.valid_from) as before_region_code,
        lead(m.status) over (partition by m.uscc order by m.valid_from) as after_status,
        lead(m.region_code) over (partition by m.uscc order by m.valid_from) as after_region_code
    from core.v_market_entity_as_of as m
),

exit_versions as (
    select
        v.uscc,
        v.valid_from,
        v.valid_to,
        v.version_no,
        v.name,
        v.entity_type,
        v.region_code,
        v.established_date,
        v.status,
        v.batch_id,
        v.run_key,
        min(v.valid_from) over exit_run as run_from,
        min(v.status_date) over exit_run as run_status_date,
        max(v.live_here_before) over exit_run as live_before,
        -- the unit a 迁出 went to: a live version there just before it, else just after it
        max(
            case
                when
                    v.before_status not in ('注销', '吊销', '迁出')
                    and v.before_region_code <> v.region_code
                    then v.before_region_code
            end
        ) over exit_run as moved_to_before,
        max(
            case
                when
                    v.after_status not in ('注销', '吊销', '迁出')
                    and v.after_region_code <> v.region_code
                    then v.after_region_code
            end
        ) over exit_run as moved_to_after
    from versions as v
    where v.is_exit
    window exit_run as (partition by v.uscc, v.status, v.region_code, v.run_key)
),

evidence as (
    select
        x.uscc,
        x.status,
        x.region_code,
        x.run_key,
        min(case when e.issued_at <= x.run_from then e.issued_at end) as issued_at,
        min(case when e.submitted_at <= x.run_from then e.submitted_at end) as submitted_at
    from exit_versions as x
    inner join core.v_registration_as_of as e
        on e.uscc = x.uscc and e.event_type = x.status
    where
        x.valid_from = x.run_from
        and (
            (e.issued_at <= x.run_from and (x.live_before is null or e.issued_at > x.live_before))
            or (e.submitted_at <= x.run_from and (x.live_before is null or e.submitted_at > x.live_before))
        )
    group by x.uscc, x.status, x.region_code, x.run_key
),

exit_facts as (
    select
        x.uscc,
        x.status,
        x.region_code,
        x.run_key,
        true as is_version,
        x.valid_from,
        x.valid_to,
        x.version_no,
        x.name,
        x.entity_type,
        x.established_date,
        x.batch_id,
        x.run_from,
        x.run_status_date,
        case when x.status = '迁出' then coalesce(x.moved_to_before, x.moved_to_after) end as moved_to,
        cast(null as timestamp) as issued_at,
        cast(null as timestamp) as submitted_at
    from exit_versions as x
    union all
    select
        e.uscc,
        e.status,
        e.region_code,
        e.run_key,
        false as is_version,
        null as valid_from,
        null as valid_to,
        null as version_no,
        null as name,  -- noqa: RF04
        null as entity_type,
        null as established_date,
        null as batch_id,
        null as run_from,
        null as run_status_date,
        null as moved_to,
        e.issued_at,
        e.submitted_at
    from evidence as e
),

dated_exits as (
    select
        f.*,
        max(f.issued_at) over exit_run as run_issued_at,
        max(f.submitted_at) over exit_run as run_submitted_at
    from exit_facts as f
    window exit_run as (partition by f.uscc, f.status, f.region_code, f.run_key)
),

states as (
    select
        v.uscc,
        v.valid_from,
        v.valid_to,
        v.version_no,
        v.name,
        v.entity_type,
        v.region_code,
        v.established_date,
        v.status,
        v.batch_id,
        cast(null as varchar) as moved_to,
        cast(null as date) as own_exit_date,
        cast(null as varchar) as exit_dated_by,
        cast(null as timestamp) as exit_recorded_at
    from versions as v
    where not v.is_exit
    union all
    select
        d.uscc,
        d.valid_from,
        d.valid_to,
        d.version_no,
        d.name,
        d.entity_type,
        d.region_code,
        d.established_date,
        d.status,
        d.batch_id,
        d.moved_to,
        coalesce(
            d.run_status_date, cast(d.run_issued_at as date), cast(d.run_submitted_at as date), cast(d.run_from as date)
        ) as own_exit_date,
        case
            when d.run_status_date is not null then 'status_date'
            when d.run_issued_at is not null then 'issued_at'
            when d.run_submitted_at is not null then 'submitted_at'
            else 'updated_at'
        end as exit_dated_by,
        d.run_from as exit_recorded_at
    from dated_exits as d
    where d.is_version
)

select
    s.uscc,
    s.valid_from,
    s.valid_to,
    s.version_no = 1 as is_first,
    s.name,
    s.entity_type,
    coalesce(s.moved_to, s.region_code) as region_code,
    s.region_code as recorded_region_code,
    s.established_date,
    s.status,
    s.moved_to is not null as is_superseded_move,
    s.batch_id,
    -- a superseded 迁出 is no exit
    case when s.moved_to is null then s.own_exit_date end as own_exit_date,
    case when s.moved_to is null then s.exit_dated_by end as exit_dated_by,
    case when s.moved_to is null then s.exit_recorded_at end as exit_recorded_at,
    min(case when s.moved_to is null then s.own_exit_date end) over (
        partition by s.uscc
        order by s.valid_from desc
        rows between unbounded preceding and current row
    ) as exit_date
from states as s
