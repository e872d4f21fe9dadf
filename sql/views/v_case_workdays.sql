-- processing cases and their durations in working days (docs/indicators.md, "Working days"), written
-- once for every duration indicator: the overlap of [started_at, completed_at) with each office
-- period on each statutory working day (ops.work_calendar x ops.office_period), summed, divided
-- by the length of one working day. a case that overlaps no office slot (lodged and finished on a
-- weekend, a holiday, overnight, in the lunch break) has 0 working days: the overlap is an inner
-- join summed per case and a case without any slot gets 0, never its wall-clock time.
-- a case whose start or end came as a date without a time of day has no duration (workdays is
-- null, lacks_time_of_day is true); an open case (completed_at null) has none yet either.
-- ops.work_calendar must cover the days of the cases asked for; bizenv.indicators fills it.
-- datasets: registration (设立 events, 申请→核准), real_estate_case (受理→办结, case_type is the
-- 登记类型), tax_refund (退税申请→办结).
create or replace view core.v_case_workdays as
with cases as (
    select
        'registration' as dataset,
        r.uscc as record_key,
        r.region_code,
        r.entity_type as applicant_type,
        cast(null as varchar) as case_type,
        r.submitted_at as started_at,
        r.issued_at as completed_at,
        r.submitted_at_date_only or coalesce(r.issued_at_date_only, false) as lacks_time_of_day
    from core.v_registration_as_of as r
    where r.event_type = '设立'
        and r.submitted_at is not null
    union all
    select
        'real_estate_case' as dataset,
        c.case_id as record_key,
        c.region_code,
        c.applicant_type,
        c.registration_type as case_type,
        c.submitted_at as started_at,
        c.completed_at,
        c.submitted_at_date_only or coalesce(c.completed_at_date_only, false) as lacks_time_of_day
    from core.v_real_estate_case_as_of as c
    union all
    select
        'tax_refund' as dataset,
        t.filing_id as record_key,
        t.region_code,
        cast(null as varchar) as applicant_type,
        cast(null as varchar) as case_type,
        t.refund_requested_at as started_at,
        t.refund_completed_at as completed_at,
        t.refund_requested_at_date_only or coalesce(t.refund_completed_at_date_only, false) as lacks_time_of_day
    from core.v_tax_filing_as_of as t
    where t.refund_requested_at is not null
),
consistent_cases as (
    -- a date without a time of day reads as midnight: such an end is compared by day
    select *
    from cases
    where completed_at is null
        or completed_at >= started_at
        or (lacks_time_of_day and cast(completed_at as date) >= cast(started_at as date))
),
day_length as (
    select
        sum(
            extract(epoch from (
                (cast('2000-01-03' as date) + p.end_time) - (cast('2000-01-03' as date) + p.start_time)
            ))
        ) as seconds
    from ops.office_period as p
)
select
    c.dataset,
    c.record_key,
    c.region_code,
    c.applicant_type,
    c.case_type,
    c.started_at,
    c.completed_at,
    c.lacks_time_of_day,
    case
        when c.completed_at is not null and not c.lacks_time_of_day
            then cast(coalesce(o.seconds, 0) as double precision) / cast(nullif(d.seconds, 0) as double precision)
    end as workdays
from consistent_cases as c
cross join day_length as d
-- per case, the office slots of the days it spans only (an office period lies within its day, so
-- an overlapping slot's day is between the start's and the end's): a case set that a month filter
-- narrowed is never joined with the whole calendar, and every cte above is read once, so that
-- filter reaches the tables
left join lateral (
    select
        sum(extract(epoch from (
            least(c.completed_at, w.day + p.end_time) - greatest(c.started_at, w.day + p.start_time)
        ))) as seconds
    from ops.work_calendar as w
    cross join ops.office_period as p
    where w.is_working_day
        and not c.lacks_time_of_day
        and w.day >= cast(c.started_at as date)
        and w.day <= cast(c.completed_at as date)
        and w.day + p.start_time < c.completed_at
        and w.day + p.end_time > c.started_at
) as o on true
