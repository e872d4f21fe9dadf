-- the calendar months indicators are computed for, as [month_start, month_end) timestamps (month_end
-- is the first moment of the next month, like the :month_end parameter of sql/indicators). a view
-- that answers "per month" joins this and the caller picks its month with month_end = :month_end;
-- both warehouses push that filter down to the series, so only the month asked for is built.
-- the range is fixed (not derived from the data) so that a month's value never depends on what
-- else the warehouse holds.
create or replace view core.v_month as
select
    g.month_end - interval '1 month' as month_start,
    g.month_end
from generate_series(
        cast('1950-02-01' as timestamp), cast('2200-01-01' as timestamp), interval '1 month'
    ) as g (month_end)
