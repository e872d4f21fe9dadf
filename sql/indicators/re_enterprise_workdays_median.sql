-- 企业不动产登记时长: the real-estate cases of 企业 applicants that touch the month (completed in it, or
-- lodged and still open at its end), by the case's own region, 受理→办结, broken down by 登记类型 so
-- that near-instant types (注销抵押, 查封) do not hide slow ones. the median, p90, within-limit share
-- and backlog (overall and per type) come from shared/workdays_median.sql; working days from
-- core.v_case_workdays (docs/indicators.md, "Working days").
-- params: :month_start, :month_end (first day of the next month)
select
    w.region_code,
    w.case_type as breakdown,
    w.started_at,
    w.completed_at,
    w.workdays,
    w.lacks_time_of_day
from core.v_case_workdays as w
where w.dataset = 'real_estate_case'
    and w.applicant_type = '企业'
    and w.started_at < cast(:month_end as timestamp)
    and (w.completed_at is null or w.completed_at >= cast(:month_start as timestamp))
