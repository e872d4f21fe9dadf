-- one office period of include/config/office_hours.yaml
insert into ops.office_period (period_no, start_time, end_time)
values (:period_no, cast(:start_time as time), cast(:end_time as time))
on conflict (period_no) do update set
    start_time = excluded.start_time,
    end_time = excluded.end_time
