"""The monthly indicator engine on a small hand-built dataset, on DuckDB and on PostgreSQL.

Every expected number below is worked out by hand from the rows of `seed_core`. Working days
(docs/indicators.md): office hours 08:30–12:00 (3.5 h) and 13:30–18:00 (4.5 h), 8 h = 1 working day,
China's statutory calendar. June 2024: 06-01/02, 06-08/09, 06-15/16, 06-22/23, 06-29/30 are
weekends and Monday 06-10 is the Dragon Boat holiday (端午节, no make-up day); 05-31 is a Friday.

Regions: A = 152921 阿拉善左旗, B = 152922 阿拉善右旗, C = 152923 额济纳旗 (no data at all),
P = 152900 阿拉善盟 (the prefecture; U14 and a few records carry its code themselves, so they
count in the prefecture row only).

The month holds the cases the old duration view got wrong (lodged and finished on a weekend, on
a holiday, overnight, in the lunch break: 0 working days, not their wall-clock time) and cases
delivered with a date but no time of day (no duration: left out of the median and counted).
Percentiles are percentile_cont: p of n sorted values sits at position p * (n - 1).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from core_rows import insert_core_rows
from sqlalchemy import Engine, text

from bizenv import indicators
from bizenv.calendar import CalendarCoverageError
from bizenv.indicators import SnapshotInvalid
from bizenv.settings import Settings
from bizenv.warehouse import make_engine

A, B, C, P = "152921", "152922", "152923", "152900"
REGIONS = [P, A, B, C]
D = dt.date
T = dt.datetime
NAT = pd.NaT
SEEDED_AT = T(2024, 7, 10, 12, 0)

# ---------------------------------------------------------------------------------------------
# the dataset
#
# entity versions: (uscc, type, region, established, status, status_date, valid_from)
# (valid_from is the department's updated_at; valid_to is the next version's valid_from)
ENTITY_VERSIONS = [
    ("U01", "企业", A, D(2024, 6, 3), "存续", None, T(2024, 6, 3, 11, 30)),
    ("U02", "企业", A, D(2024, 6, 7), "存续", None, T(2024, 6, 11, 11, 0)),
    ("U03", "个体工商户", A, D(2024, 6, 12), "在业", None, T(2024, 6, 12, 18, 30)),
    ("U04", "企业", A, D(2020, 5, 1), "存续", None, T(2020, 5, 1, 10, 0)),
    # cancelled 06-20: not surviving at the end of June, surviving at the end of May (its only
    # version was recorded after May, so May uses its first version and the exit date)
    ("U05", "企业", A, D(2021, 1, 1), "注销", D(2024, 6, 20), T(2024, 6, 20, 15, 0)),
    # cancelled 07-05: surviving at the end of June (the version valid then is 存续)
    ("U06", "企业", A, D(2019, 1, 1), "存续", None, T(2019, 1, 1, 10, 0)),
    ("U06", "企业", A, D(2019, 1, 1), "注销", D(2024, 7, 5), T(2024, 7, 5, 10, 0)),
    # revoked 06-28 but only recorded on 07-02: not surviving at the end of June
    ("U07", "企业", A, D(2018, 1, 1), "存续", None, T(2018, 1, 1, 10, 0)),
    ("U07", "企业", A, D(2018, 1, 1), "吊销", D(2024, 6, 28), T(2024, 7, 2, 9, 0)),
    # moved from B to A on 06-15: B at the end of May, A at the end of June
    ("U08", "企业", B, D(2022, 1, 1), "存续", None, T(2022, 1, 1, 10, 0)),
    ("U08", "企业", A, D(2022, 1, 1), "存续", None, T(2024, 6, 15, 10, 0)),
    ("U09", "企业", B, D(2024, 6, 5), "存续", None, T(2024, 6, 5, 10, 0)),
    ("U10", "农民专业合作社", B, D(2024, 6, 26), "存续", None, T(2024, 6, 26, 9, 0)),
    ("U11", "企业", B, D(2023, 9, 1), "存续", None, T(2023, 9, 1, 10, 0)),
    # established in July: in no June figure
    ("U12", "企业", B, D(2024, 7, 2), "存续", None, T(2024, 7, 2, 10, 0)),
    # established 06-28 but delivered on 07-01: its first version is its state at June's end
    ("U13", "企业", B, D(2024, 6, 28), "存续", None, T(2024, 7, 1, 9, 0)),
    # carries the prefecture's own code: counts in the prefecture row only
    ("U14", "企业", P, D(2024, 6, 18), "存续", None, T(2024, 6, 17, 13, 30)),
]

# registration applications: uscc -> (submitted_at, issued_at, channel, 业务类型); working days
# by hand. core keeps one application per entity (its latest).
REGISTRATION_TIMES = {
    # 06-03 09:00–11:00 = 2 h = 0.25
    "U01": (T(2024, 6, 3, 9, 0), T(2024, 6, 3, 11, 0), "全程电子化", "设立"),
    # Fri 06-07 16:00–18:00 = 2 h; Sat, Sun, Mon 06-10 (holiday) 0; Tue 08:30–10:30 = 2 h -> 0.5
    "U02": (T(2024, 6, 7, 16, 0), T(2024, 6, 11, 10, 30), "窗口", "设立"),
    # 核准时间 delivered as the date 2024-06-12 without a time of day: no duration
    "U03": (T(2024, 6, 12, 8, 30), T(2024, 6, 12), "全程电子化", "设立"),
    # a change (变更) approved in June: never a start-up case, nor in the full-e rate
    "U04": (T(2024, 6, 20, 9, 0), T(2024, 6, 20, 10, 0), "窗口", "变更"),
    # overnight: Tue 06-04 18:30 -> Wed 06-05 08:00 touches no office hour -> 0 (the old view
    # counted its 13.5 wall-clock hours as 1.6875)
    "U09": (T(2024, 6, 4, 18, 30), T(2024, 6, 5, 8, 0), "窗口", "设立"),
    # Mon 06-24 and Tue 06-25 full days = 16 h; Wed 06-26 ends at 08:30 -> 2.0
    "U10": (T(2024, 6, 24, 8, 30), T(2024, 6, 26, 8, 30), "窗口", "设立"),
    "U12": (T(2024, 7, 1, 9, 0), T(2024, 7, 2, 9, 30), "全程电子化", "设立"),
    # Thu 06-27 14:00–18:00 = 4 h; Fri 08:30–12:00 = 3.5 h + 13:30–14:00 = 0.5 h -> 1.0
    "U13": (T(2024, 6, 27, 14, 0), T(2024, 6, 28, 14, 0), "全程电子化", "设立"),
    # Mon 06-17 09:00–12:00 = 3 h (13:00 falls in the lunch break) -> 0.375
    "U14": (T(2024, 6, 17, 9, 0), T(2024, 6, 17, 13, 0), "全程电子化", "设立"),
}
# timestamps delivered as a date without a time of day: record key -> column
DATE_ONLY = {"U03": "issued_at", "T05": "refund_requested_at", "R10": "completed_at"}

# tax filings: (filing_id, uscc, region, filed_at, channel, refund_requested_at, refund_completed_at)
TAX_FILINGS = [
    # refund Wed 06-05 10:00–12:00 2 h + 13:30–18:00 4.5 h; Thu 08:30–10:00 1.5 h = 8 h -> 1.0
    ("T01", "U01", A, T(2024, 6, 5, 10, 0), "电子税务局", T(2024, 6, 5, 10, 0), T(2024, 6, 6, 10, 0)),
    # refund on the Dragon Boat holiday Mon 06-10 09:00–16:00 -> 0 (the old view: 7 h = 0.875)
    ("T02", "U04", A, T(2024, 6, 10, 20, 0), "移动端", T(2024, 6, 10, 9, 0), T(2024, 6, 10, 16, 0)),
    # refund Fri 05-31 16:00–18:00 2 h; Mon 06-03 08:30–12:00 3.5 h = 5.5 h -> 0.6875
    ("T03", "U06", A, T(2024, 6, 12, 9, 0), "办税服务厅", T(2024, 5, 31, 16, 0), T(2024, 6, 3, 12, 0)),
    # X97 is not in core; refund 06-14 08:30–10:30 = 2 h -> 0.25
    ("T04", "X97", A, T(2024, 6, 14, 9, 0), "自助终端", T(2024, 6, 14, 8, 30), T(2024, 6, 14, 10, 30)),
    # refund requested on the date 2024-06-17 without a time of day: no duration
    ("T05", "U09", B, T(2024, 6, 15, 10, 0), "办税服务厅", T(2024, 6, 17), T(2024, 6, 18, 10, 0)),
    # refund Fri 06-07 full 8 h; Sat, Sun, holiday Mon 0; Tue 06-11 full 8 h = 16 h -> 2.0
    ("T06", "U11", B, T(2024, 6, 18, 10, 0), "自助终端", T(2024, 6, 7, 8, 30), T(2024, 6, 11, 18, 0)),
    # a May filing; its refund (Tue 05-28, one full day -> 1.0) completed in May
    ("T07", "U11", B, T(2024, 5, 20, 10, 0), "电子税务局", T(2024, 5, 28, 8, 30), T(2024, 5, 29, 8, 30)),
    ("T08", "U14", P, T(2024, 6, 19, 10, 0), "电子税务局", None, None),
]

# credit records: (record_id, uscc, region, record_type, record_date, removal_date)
DISHONEST, FULFIL = "严重失信主体名单", "履约践诺"
CREDIT_RECORDS = [
    ("C01", "U04", A, DISHONEST, D(2024, 3, 1), None),  # listed at the end of June
    ("C02", "U02", A, DISHONEST, D(2024, 6, 20), D(2024, 6, 25)),  # removed before the end
    ("C03", "U06", A, DISHONEST, D(2024, 6, 29), D(2024, 7, 15)),  # removed only later: listed
    ("C04", "U05", A, DISHONEST, D(2024, 5, 1), None),  # U05 is no longer surviving
    ("C05", "X99", B, DISHONEST, D(2024, 6, 10), None),  # not in core
    ("C06", "U01", A, FULFIL, D(2024, 6, 15), None),
    ("C07", "U09", B, FULFIL, D(2024, 4, 10), None),
    ("C08", "X98", B, FULFIL, D(2024, 6, 12), None),  # not in core: still a record of B
    ("C09", "U11", B, FULFIL, D(2024, 7, 3), None),  # after the month end
    ("C10", "U14", P, FULFIL, D(2024, 6, 20), None),
]

# real-estate cases: (case_id, applicant_type, applicant_uscc, region, 登记类型, submitted_at,
# completed_at)
TRANSFER, SEIZURE, DISCHARGE = "转移登记", "查封登记", "注销抵押"
REAL_ESTATE_CASES = [
    # 06-03 08:30–12:00 = 3.5 h -> 0.4375
    ("R01", "企业", "U01", A, TRANSFER, T(2024, 6, 3, 8, 30), T(2024, 6, 3, 12, 0)),
    # X96 not in core; Fri 06-07 14:00–18:00 4 h; Tue 06-11 08:30–12:00 3.5 h = 7.5 h -> 0.9375
    ("R02", "企业", "X96", A, TRANSFER, T(2024, 6, 7, 14, 0), T(2024, 6, 11, 12, 0)),
    # a person: not counted
    ("R03", "个人", None, A, TRANSFER, T(2024, 6, 4, 9, 0), T(2024, 6, 20, 9, 0)),
    # 06-17 08:30–10:30 = 2 h -> 0.25
    ("R04", "企业", "U09", B, TRANSFER, T(2024, 6, 17, 8, 30), T(2024, 6, 17, 10, 30)),
    # completed in July: open at the end of June, lodged Fri 06-28 16:00: 2 h = 0.25 by then
    ("R05", "企业", "U11", B, TRANSFER, T(2024, 6, 28, 16, 0), T(2024, 7, 1, 10, 0)),
    # 06-24 13:30–18:00 = 4.5 h -> 0.5625
    ("R06", "企业", "U13", B, TRANSFER, T(2024, 6, 24, 13, 30), T(2024, 6, 24, 18, 0)),
    # Saturday 06-15 10:00–11:00 -> 0 (the old view: 1 h = 0.125)
    ("R07", "企业", "U04", A, SEIZURE, T(2024, 6, 15, 10, 0), T(2024, 6, 15, 11, 0)),
    # the Dragon Boat holiday Mon 06-10 09:00–17:00 -> 0 (the old view: 8 h = 1.0)
    ("R08", "企业", "U04", A, SEIZURE, T(2024, 6, 10, 9, 0), T(2024, 6, 10, 17, 0)),
    # overnight Tue 06-18 18:30 -> Wed 06-19 08:00 -> 0 (the old view: 13.5 h = 1.6875)
    ("R09", "企业", "U11", B, DISCHARGE, T(2024, 6, 18, 18, 30), T(2024, 6, 19, 8, 0)),
    # 办结时间 delivered as the date 2024-06-21 without a time of day: no duration
    ("R10", "企业", "U11", B, TRANSFER, T(2024, 6, 20, 9, 0), T(2024, 6, 21)),
    # in the lunch break Wed 06-19 12:10–12:50 -> 0
    ("R11", "企业", "U01", A, DISCHARGE, T(2024, 6, 19, 12, 10), T(2024, 6, 19, 12, 50)),
    # still open: lodged Thu 06-27 09:00; by 07-01 00:00 Thu 3 h + 4.5 h, Fri 8 h = 15.5 h = 1.9375
    ("R12", "企业", "U01", A, TRANSFER, T(2024, 6, 27, 9, 0), None),
]

# ---------------------------------------------------------------------------------------------
# expected June 2024: (region, indicator) -> (value, numerator, denominator, sample_size);
# anything not listed is "no data": value, numerator and denominator null, sample size 0.
# C has no rows at all, but the registration department delivered for June: its counts are 0.
EXPECTED_JUNE = {
    (C, "new_entities"): (0, None, None, 0),
    (C, "surviving_entities"): (0, None, None, 0),
    # new_entities, established in June: A U01 U02 U03 = 3; B U09 U10 U13 = 3; P + U14 = 7
    (A, "new_entities"): (3, None, None, 3),
    (B, "new_entities"): (3, None, None, 3),
    (P, "new_entities"): (7, None, None, 7),
    # surviving at 06-30: A U01 U02 U03 U04 U06 U08 = 6 (U05 cancelled 06-20, U07 revoked 06-28);
    # B U09 U10 U11 U13 = 4 (U12 established in July); P = 6 + 4 + U14 = 11
    (A, "surviving_entities"): (6, None, None, 6),
    (B, "surviving_entities"): (4, None, None, 4),
    (P, "surviving_entities"): (11, None, None, 11),
    # 设立 registrations (U04's 变更 never counts): A {0.25, 0.5} (U03 has no time) -> 0.375;
    # B {0 (U09), 2.0, 1.0} -> 1.0; P {0, 0.25, 0.375, 0.5, 1.0, 2.0} -> (0.375 + 0.5) / 2 = 0.4375
    (A, "startup_workdays_median"): (0.375, None, None, 2),
    (B, "startup_workdays_median"): (1.0, None, None, 3),
    (P, "startup_workdays_median"): (0.4375, None, None, 6),
    # 全程电子化 of the 设立 approvals: A U01 U03 of 3 (not U04's 变更); B U13 of 3;
    # P U01 U03 U13 U14 of 7
    (A, "full_e_registration_rate"): (2 / 3, 2, 3, 3),
    (B, "full_e_registration_rate"): (1 / 3, 1, 3, 3),
    (P, "full_e_registration_rate"): (4 / 7, 4, 7, 7),
    # 企业 real estate: A {0, 0, 0, 0.4375, 0.9375} -> 0; B {0, 0.25, 0.5625} (R10 has no time)
    # -> 0.25; P {0, 0, 0, 0, 0.25, 0.4375, 0.5625, 0.9375} -> (0 + 0.25) / 2 = 0.125
    (A, "re_enterprise_workdays_median"): (0.0, None, None, 5),
    (B, "re_enterprise_workdays_median"): (0.25, None, None, 3),
    (P, "re_enterprise_workdays_median"): (0.125, None, None, 8),
    # online filings: A T01 T02 of T01–T04 = 2/4; B none of T05 T06 = 0/2 = 0; P + T08 = 3/7
    (A, "tax_online_rate"): (0.5, 2, 4, 4),
    (B, "tax_online_rate"): (0.0, 0, 2, 2),
    (P, "tax_online_rate"): (3 / 7, 3, 7, 7),
    # refunds completed in June: A {1.0, 0 (T02, holiday), 0.6875, 0.25} -> 0.46875;
    # B {2.0} (T05 has no time) -> 2.0; P {0, 0.25, 0.6875, 1.0, 2.0} -> 0.6875
    (A, "tax_refund_workdays_median"): (0.46875, None, None, 4),
    (B, "tax_refund_workdays_median"): (2.0, None, None, 1),
    (P, "tax_refund_workdays_median"): (0.6875, None, None, 5),
    # surviving local market entities of every type (个体工商户 included): A U01 U02 U03 U04 U06
    # U08 = 6, listed U04 (C01) and U06 (C03) = 2; B U09 U10 U11 U13 = 4, none listed (X99 is
    # not an entity) -> 0 of 4 = 0; P 2 of 11 (+ U14)
    (A, "dishonest_share"): (2 / 6, 2, 6, 6),
    (B, "dishonest_share"): (0.0, 0, 4, 4),
    (P, "dishonest_share"): (2 / 11, 2, 11, 11),
    # 履约践诺 records to 06-30 of surviving local entities: A C06 (U01) = 1 of 6; B C07 (U09)
    # = 1 of 4 (C08's X98 is no local entity, C09 is dated in July); P + C10 (U14) = 3 of 11
    (A, "fulfilment_share"): (1 / 6, 1, 6, 6),
    (B, "fulfilment_share"): (0.25, 1, 4, 4),
    (P, "fulfilment_share"): (3 / 11, 3, 11, 11),
    # June rows by record region, USCC in core: A tax T01 T02 T03 (T04 X97 not), credit C02 C03
    # C06, real estate R01 R07 R08 R11 (R02 X96 not; R12 is open) = 10 of 12; B tax T05 T06,
    # credit none of C05 C08, real estate R04 R06 R09 R10 = 6 of 8; P + T08 + C10 = 18 of 22
    (A, "cross_dept_match_rate"): (10 / 12, 10, 12, 12),
    (B, "cross_dept_match_rate"): (6 / 8, 6, 8, 8),
    (P, "cross_dept_match_rate"): (18 / 22, 18, 22, 22),
}

# beside each June median: (region, indicator, breakdown) -> (within_limit_share, p90_value,
# cases_without_time, backlog_open, backlog_oldest_workdays). Limits: 0.5 working days for
# start-up and real estate, 3 for refunds.
EXPECTED_JUNE_DURATIONS = {
    # start-up A {0.25, 0.5}: p90 0.25 + 0.9 * 0.25; U03 without time
    (A, "startup_workdays_median", ""): (1.0, 0.475, 1, 0, None),
    # B {0, 1.0, 2.0}: p90 at 1.8 -> 1.0 + 0.8 * 1.0
    (B, "startup_workdays_median", ""): (1 / 3, 1.8, 0, 0, None),
    # P {0, 0.25, 0.375, 0.5, 1.0, 2.0}: p90 at 4.5 -> 1.0 + 0.5 * 1.0; 4 of 6 within 0.5
    (P, "startup_workdays_median", ""): (4 / 6, 1.5, 1, 0, None),
    # real estate A {0, 0, 0, 0.4375, 0.9375}: p90 at 3.6 -> 0.4375 + 0.6 * 0.5; R12 open
    (A, "re_enterprise_workdays_median", ""): (0.8, 0.7375, 0, 1, 1.9375),
    # B {0, 0.25, 0.5625}: p90 at 1.8 -> 0.25 + 0.8 * 0.3125; R10 without time; R05 open
    (B, "re_enterprise_workdays_median", ""): (2 / 3, 0.5, 1, 1, 0.25),
    # P {0, 0, 0, 0, 0.25, 0.4375, 0.5625, 0.9375}: p90 at 6.3 -> 0.5625 + 0.3 * 0.375; the
    # oldest open case is R12
    (P, "re_enterprise_workdays_median", ""): (0.75, 0.675, 1, 2, 1.9375),
    # per 登记类型
    (A, "re_enterprise_workdays_median", TRANSFER): (0.5, 0.8875, 0, 1, 1.9375),
    (A, "re_enterprise_workdays_median", SEIZURE): (1.0, 0.0, 0, 0, None),
    (A, "re_enterprise_workdays_median", DISCHARGE): (1.0, 0.0, 0, 0, None),
    (B, "re_enterprise_workdays_median", TRANSFER): (0.5, 0.53125, 1, 1, 0.25),
    (B, "re_enterprise_workdays_median", DISCHARGE): (1.0, 0.0, 0, 0, None),
    # P 转移登记 {0.25, 0.4375, 0.5625, 0.9375}: p90 at 2.7 -> 0.5625 + 0.7 * 0.375
    (P, "re_enterprise_workdays_median", TRANSFER): (0.5, 0.825, 1, 2, 1.9375),
    (P, "re_enterprise_workdays_median", SEIZURE): (1.0, 0.0, 0, 0, None),
    (P, "re_enterprise_workdays_median", DISCHARGE): (1.0, 0.0, 0, 0, None),
    # refunds A {0, 0.25, 0.6875, 1.0}: p90 at 2.7 -> 0.6875 + 0.7 * 0.3125
    (A, "tax_refund_workdays_median", ""): (1.0, 0.90625, 0, 0, None),
    (B, "tax_refund_workdays_median", ""): (1.0, 2.0, 1, 0, None),
    # P {0, 0.25, 0.6875, 1.0, 2.0}: p90 at 3.6 -> 1.0 + 0.6 * 1.0
    (P, "tax_refund_workdays_median", ""): (1.0, 1.6, 1, 0, None),
}
# the breakdown rows: (region, 登记类型) -> (median, sample size)
EXPECTED_JUNE_BREAKDOWN = {
    (A, TRANSFER): (0.6875, 2),
    (A, SEIZURE): (0.0, 2),
    (A, DISCHARGE): (0.0, 1),
    (B, TRANSFER): (0.40625, 2),
    (B, DISCHARGE): (0.0, 1),
    (P, TRANSFER): (0.5, 4),
    (P, SEIZURE): (0.0, 2),
    (P, DISCHARGE): (0.0, 2),
}
OVERALL_ROWS = 40
JUNE_ROWS = OVERALL_ROWS + len(EXPECTED_JUNE_BREAKDOWN)

# May 2024 (for previous_value), everything that has data:
# nobody was established in May: new entities 0 everywhere (registration covers May);
# surviving at 05-31: A U04 U05 U06 U07 = 4, B U08 U11 = 2, C 0, P 6;
# listed at 05-31: U04 (C01) and U05 (C04) -> A 2/4, B 0/2, P 2/6;
# 履约践诺 to 05-31 of surviving entities: none (C07's U09 was established in June) -> 0 of N;
# filings in May: T07 (B, online, U11 in core) -> tax_online B 1/1; its refund (Tue 05-28, one
# full day) -> 1.0; credit records dated in May: C04 (A, U05 in core) -> cross-dept A 1/1, B 1/1
NO_NEW_ENTITIES = {(region, "new_entities"): 0 for region in REGIONS}
EXPECTED_MAY_VALUES = {
    **NO_NEW_ENTITIES,
    (C, "surviving_entities"): 0,
    (A, "surviving_entities"): 4,
    (B, "surviving_entities"): 2,
    (P, "surviving_entities"): 6,
    (B, "tax_online_rate"): 1.0,
    (P, "tax_online_rate"): 1.0,
    (B, "tax_refund_workdays_median"): 1.0,
    (P, "tax_refund_workdays_median"): 1.0,
    (A, "dishonest_share"): 0.5,
    (B, "dishonest_share"): 0.0,
    (P, "dishonest_share"): 2 / 6,
    (A, "fulfilment_share"): 0.0,
    (B, "fulfilment_share"): 0.0,
    (P, "fulfilment_share"): 0.0,
    (A, "cross_dept_match_rate"): 1.0,
    (B, "cross_dept_match_rate"): 1.0,
    (P, "cross_dept_match_rate"): 1.0,
}
# June 2023 (for last_year_value): surviving at 2023-06-30: A U04 U05 U06 U07 = 4, B U08 = 1
# (U11 was established in 2023-09), P = 5; nobody listed yet and no 履约践诺 records -> 0 of N
EXPECTED_JUNE_2023_VALUES = {
    **NO_NEW_ENTITIES,
    (C, "surviving_entities"): 0,
    (A, "surviving_entities"): 4,
    (B, "surviving_entities"): 1,
    (P, "surviving_entities"): 5,
    (A, "dishonest_share"): 0.0,
    (B, "dishonest_share"): 0.0,
    (P, "dishonest_share"): 0.0,
    (A, "fulfilment_share"): 0.0,
    (B, "fulfilment_share"): 0.0,
    (P, "fulfilment_share"): 0.0,
}

TARGETS = {
    "startup_workdays_median": 0.5,
    "re_enterprise_workdays_median": 0.5,
    "full_e_registration_rate": 0.95,
    "tax_online_rate": 0.9,
}


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows)


def seed_core(engine: Engine) -> None:
    """Write the hand-built rows straight into core (as merged batches would have)."""
    by_uscc: dict[str, list[tuple]] = {}
    for version in ENTITY_VERSIONS:
        by_uscc.setdefault(version[0], []).append(version)
    entity_rows, registration_rows = [], []
    for uscc, versions in by_uscc.items():
        versions.sort(key=lambda v: v[6])
        for i, (_, kind, region, established, status, status_date, valid_from) in enumerate(versions):
            valid_to = versions[i + 1][6] if i + 1 < len(versions) else NAT
            entity_rows.append(
                {
                    "uscc": uscc,
                    "valid_from": valid_from,
                    "valid_to": valid_to,
                    "is_current": i + 1 == len(versions),
                    "name": f"测试主体{uscc}",
                    "name_key": f"测试主体{uscc}",
                    "entity_type": kind,
                    "region_code": region,
                    "status": status,
                    "status_date": status_date,
                    "established_date": established,
                    "batch_id": "seed",
                    "changed_at": SEEDED_AT,
                }
            )
        _, kind, region, established, status, status_date, updated_at = versions[-1]
        submitted, issued, channel, event_type = REGISTRATION_TIMES.get(uscc, (NAT, NAT, None, "设立"))
        registration_rows.append(
            {
                "uscc": uscc,
                "name": f"测试主体{uscc}",
                "name_key": f"测试主体{uscc}",
                "entity_type": kind,
                "region_code": region,
                "established_date": established,
                "submitted_at": submitted,
                "issued_at": issued,
                "submitted_at_date_only": DATE_ONLY.get(uscc) == "submitted_at",
                "issued_at_date_only": DATE_ONLY.get(uscc) == "issued_at",
                "event_type": event_type,
                "channel": channel,
                "status": status,
                "status_date": status_date,
                "updated_at": updated_at,
                "batch_id": "seed",
                "changed_at": SEEDED_AT,
            }
        )
    tax_rows = [
        {
            "filing_id": fid,
            "uscc": uscc,
            "region_code": region,
            "tax_period": "2024-05",
            "filed_at": filed,
            "channel": channel,
            "refund_requested_at": requested or NAT,
            "refund_completed_at": completed or NAT,
            "refund_requested_at_date_only": DATE_ONLY.get(fid) == "refund_requested_at",
            "refund_completed_at_date_only": DATE_ONLY.get(fid) == "refund_completed_at",
            "updated_at": (completed or filed) + dt.timedelta(hours=1),
            "batch_id": "seed",
            "changed_at": SEEDED_AT,
        }
        for fid, uscc, region, filed, channel, requested, completed in TAX_FILINGS
    ]
    credit_rows = [
        {
            "record_id": rid,
            "uscc": uscc,
            "region_code": region,
            "record_type": kind,
            "record_date": day,
            "removal_date": removal,
            "updated_at": T.combine(removal or day, dt.time(18)),
            "batch_id": "seed",
            "changed_at": SEEDED_AT,
        }
        for rid, uscc, region, kind, day, removal in CREDIT_RECORDS
    ]
    case_rows = [
        {
            "case_id": cid,
            "unit_code": f"152921001001GB{n:05d}F00010001",
            "applicant_type": kind,
            "applicant_uscc": applicant,
            "registration_type": case_type,
            "region_code": region,
            "submitted_at": submitted,
            "completed_at": completed or NAT,
            "submitted_at_date_only": DATE_ONLY.get(cid) == "submitted_at",
            "completed_at_date_only": DATE_ONLY.get(cid) == "completed_at",
            "updated_at": (completed or submitted) + dt.timedelta(hours=1),
            "batch_id": "seed",
            "changed_at": SEEDED_AT,
        }
        for n, (cid, kind, applicant, region, case_type, submitted, completed) in enumerate(REAL_ESTATE_CASES)
    ]
    with engine.begin() as conn:
        for table, rows in (
            ("core.market_entity", entity_rows),
            ("core.registration", registration_rows),
            ("core.tax_filing", tax_rows),
            ("core.credit_record", credit_rows),
            ("core.real_estate_case", case_rows),
        ):
            frame = _frame(rows)
            for column in frame.columns:
                if column.endswith("_date"):
                    frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
            insert_core_rows(conn, table, frame)


@pytest.fixture
def engine(warehouse_settings: Settings):
    engine = make_engine(warehouse_settings.warehouse_url)
    seed_core(engine)
    yield engine
    engine.dispose()


def _rows(engine: Engine, run_id: str) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(
            text("select * from mart.indicator_snapshot where run_id = :run_id"), {"run_id": run_id}
        )
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _change_run_row(engine: Engine, change: str, run_id: str, region: str, indicator: str) -> None:
    """Tamper with one row of a computed run: `change` is an update … set or a delete from."""
    with engine.begin() as conn:
        conn.execute(
            text(f"{change} where run_id = :run_id and region_code = :region and indicator_code = :indicator"),
            {"run_id": run_id, "region": region, "indicator": indicator},
        )


def _status(engine: Engine, run_id: str) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            text("select status, reason from ops.snapshot_run where run_id = :run_id"), {"run_id": run_id}
        ).one()
    return row[0], row[1]


def _none_if_nan(value):
    return None if value is None or pd.isna(value) else value


# ---------------------------------------------------------------------------------------------


def test_june_snapshot_matches_hand_computed_values(engine: Engine) -> None:
    run = indicators.compute_snapshot(engine, "2024-06")
    assert (run.month, run.version, run.status, run.row_count) == ("2024-06", 1, "published", JUNE_ROWS)
    every = indicators.show(engine, "2024-06")
    assert len(every) == JUNE_ROWS
    shown = every[every["breakdown"] == ""]
    catalog = [d.code for d in indicators.load_catalog()]
    # sorted by region, then catalog order
    assert list(shown["region_code"]) == [r for r in sorted(REGIONS) for _ in catalog]
    assert list(shown["indicator_code"][:10]) == catalog
    assert set(every["version"]) == {1}
    for row in shown.itertuples(index=False):
        key = (row.region_code, row.indicator_code)
        value, numerator, denominator, sample_size = EXPECTED_JUNE.get(key, (None, None, None, 0))
        got = (_none_if_nan(row.value), _none_if_nan(row.numerator), _none_if_nan(row.denominator))
        assert got == (
            pytest.approx(value) if value is not None else None,
            numerator,
            denominator,
        ), key
        assert row.sample_size == sample_size, key
        assert _none_if_nan(row.target) == TARGETS.get(row.indicator_code), key
        assert row.previous_value is None or pd.isna(row.previous_value), key  # May not published
    _assert_duration_columns(every)


def _assert_duration_columns(every: pd.DataFrame) -> None:
    columns = ["within_limit_share", "p90_value", "cases_without_time", "backlog_open", "backlog_oldest_workdays"]
    for row in every.itertuples(index=False):
        key = (row.region_code, row.indicator_code, row.breakdown)
        got = tuple(_none_if_nan(getattr(row, column)) for column in columns)
        want = EXPECTED_JUNE_DURATIONS.get(key, (None,) * len(columns))
        assert got == tuple(pytest.approx(v) if v is not None else None for v in want), key
        if row.breakdown:
            assert (row.value, row.sample_size) == pytest.approx(
                EXPECTED_JUNE_BREAKDOWN[(row.region_code, row.breakdown)]), key
            assert row.indicator_code == "re_enterprise_workdays_median", key


def test_no_data_is_null_and_zero_of_n_is_zero(engine: Engine) -> None:
    indicators.compute_snapshot(engine, "2024-06")
    shown = indicators.show(engine, "2024-06", region=C).set_index("indicator_code")
    assert len(shown) == 10
    counts = ["new_entities", "surviving_entities"]
    # 额济纳旗 has no rows: no value, never zero, except a count whose department delivered
    assert (shown.loc[counts, "value"] == 0.0).all()
    assert shown.drop(index=counts)["value"].isna().all()
    assert (shown["sample_size"] == 0).all()
    assert shown["meets_target"].isna().all()
    b = indicators.show(engine, "2024-06", region=B).set_index("indicator_code")
    b = b[b["breakdown"] == ""]
    assert b.loc["tax_online_rate", "value"] == 0.0  # 0 of 2
    assert b.loc["dishonest_share", "value"] == 0.0  # 0 of 4


def test_a_count_is_no_data_when_its_department_did_not_deliver(engine: Engine) -> None:
    # nobody delivered registrations after 2024-07-05: August is not covered, so its counts are
    # "no data" (null), not 0 and not a stock of stale rows, in every region
    indicators.compute_snapshot(engine, "2024-08")
    shown = indicators.show(engine, "2024-08").set_index(["region_code", "indicator_code"])
    for region in REGIONS:
        for count in ("new_entities", "surviving_entities"):
            assert pd.isna(shown.loc[(region, count), "value"]), (region, count)
    assert shown.loc[(A, "surviving_entities"), "sample_size"] == 5  # U06 left on 07-05
    assert shown.loc[(A, "dishonest_share"), "value"] == pytest.approx(1 / 5)  # a ratio still has its rows


def test_meets_target(engine: Engine) -> None:
    indicators.compute_snapshot(engine, "2024-06")
    shown = indicators.show(engine, "2024-06").set_index(["region_code", "indicator_code"])
    shown = shown[shown["breakdown"] == ""]
    meets = shown["meets_target"]
    # fewer than 5 cases (minimum_sample in indicators.yaml): 样本不足, whatever the value
    assert meets[(A, "startup_workdays_median")] is None  # 0.375 of 2 cases
    assert meets[(B, "startup_workdays_median")] is None  # 1.0 of 3 cases
    assert meets[(P, "startup_workdays_median")] is True  # 0.4375 <= 0.5, 6 cases
    assert meets[(A, "re_enterprise_workdays_median")] is True  # 0 <= 0.5, 5 cases
    assert meets[(B, "re_enterprise_workdays_median")] is None  # 3 cases
    assert meets[(P, "re_enterprise_workdays_median")] is True  # 0.125, 8 cases
    assert meets[(P, "full_e_registration_rate")] is False  # 4/7 < 0.95, 7 approvals
    assert meets[(A, "full_e_registration_rate")] is None  # 3 approvals
    assert meets[(P, "tax_online_rate")] is False  # 3/7 < 0.9
    assert meets[(B, "tax_online_rate")] is None  # 0 of 2 filings
    assert meets[(A, "new_entities")] is None  # no target
    assert meets[(C, "startup_workdays_median")] is None  # no value


def test_rerun_writes_a_new_version_and_keeps_the_old_one(engine: Engine) -> None:
    first = indicators.compute_snapshot(engine, "2024-06")
    before = _rows(engine, first.run_id)
    second = indicators.compute_snapshot(engine, "2024-06")
    assert (second.version, second.status) == (2, "published")
    assert second.run_id != first.run_id
    shown = indicators.show(engine, "2024-06")
    assert set(shown["version"]) == {2}
    assert set(shown["run_id"]) == {second.run_id}
    after = _rows(engine, first.run_id)
    pd.testing.assert_frame_equal(
        before.sort_values(["region_code", "indicator_code"]).reset_index(drop=True),
        after.sort_values(["region_code", "indicator_code"]).reset_index(drop=True),
    )


def _assert_values(shown: pd.DataFrame, column: str, expected: dict) -> None:
    """Every region x indicator of `shown` has the expected value in `column`, else null."""
    shown = shown[shown["breakdown"] == ""]
    assert len(shown) == OVERALL_ROWS
    for row in shown.itertuples(index=False):
        key = (row.region_code, row.indicator_code)
        want = expected.get(key)
        got = _none_if_nan(getattr(row, column))
        assert got == (pytest.approx(want) if want is not None else None), (column, key)


def test_previous_month_and_last_year_values(engine: Engine) -> None:
    indicators.compute_snapshot(engine, "2023-06")
    _assert_values(indicators.show(engine, "2023-06"), "value", EXPECTED_JUNE_2023_VALUES)
    may = indicators.compute_snapshot(engine, "2024-05")
    assert may.status == "published"
    _assert_values(indicators.show(engine, "2024-05"), "value", EXPECTED_MAY_VALUES)
    indicators.compute_snapshot(engine, "2024-06")
    june = indicators.show(engine, "2024-06")
    _assert_values(june, "previous_value", EXPECTED_MAY_VALUES)
    _assert_values(june, "last_year_value", EXPECTED_JUNE_2023_VALUES)


def test_a_snapshot_reads_one_state_of_core_while_ingests_commit(engine: Engine, monkeypatch) -> None:
    undisturbed = _rows(engine, indicators.compute(engine, "2024-06").run_id)
    real_indicator_rows = indicators.snapshot._indicator_rows
    moved = []

    def rows_while_an_ingest_commits(conn, indicator, params):
        if not moved:  # after the first indicator, another session moves every June entity to May
            with engine.begin() as other:
                moved.append(other.execute(text(
                    "update core.market_entity set established_date = date '2024-05-15' "
                    "where established_date >= date '2024-06-01'")).rowcount)
        return real_indicator_rows(conn, indicator, params)

    monkeypatch.setattr(indicators.snapshot, "_indicator_rows", rows_while_an_ingest_commits)
    disturbed = _rows(engine, indicators.compute(engine, "2024-06").run_id)
    assert moved and moved[0] > 0
    columns = ["region_code", "indicator_code", "value", "numerator", "denominator", "sample_size"]

    def ordered(rows: pd.DataFrame) -> pd.DataFrame:
        return rows[columns].sort_values(["region_code", "indicator_code"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(ordered(disturbed), ordered(undisturbed))
    # the change is real: the next snapshot sees it
    monkeypatch.setattr(indicators.snapshot, "_indicator_rows", real_indicator_rows)
    after = _rows(engine, indicators.compute(engine, "2024-06").run_id)
    assert not ordered(after).equals(ordered(undisturbed))


def test_broken_snapshot_is_not_published(engine: Engine) -> None:
    good = indicators.compute_snapshot(engine, "2024-06")
    run = indicators.compute(engine, "2024-06", triggered_by="test")
    assert (run.version, run.status) == (2, "computed")
    # corrupt the computed run: a rate above 1
    _change_run_row(engine, "update mart.indicator_snapshot set value = 1.5", run.run_id, A, "tax_online_rate")
    with pytest.raises(SnapshotInvalid) as caught:
        indicators.validate_snapshot(engine, run.run_id)
    message = str(caught.value)
    assert run.run_id in message and "tax_online_rate" in message and A in message
    assert "\n" not in message
    status, reason = _status(engine, run.run_id)
    assert status == "failed" and reason == message
    with pytest.raises(ValueError, match="only a computed run that passed validation"):
        indicators.publish(engine, run.run_id)
    # dashboards still see the last good version
    assert set(indicators.show(engine, "2024-06")["run_id"]) == {good.run_id}


def test_records_per_entity_may_exceed_one(engine: Engine) -> None:
    """fulfilment_share counts records, not entities: a region with more 履约践诺 records than
    surviving entities is a valid month, not a broken ratio."""
    run = indicators.compute(engine, "2024-06")
    _change_run_row(engine, "update mart.indicator_snapshot set value = 2.5", run.run_id, A, "fulfilment_share")
    indicators.validate_snapshot(engine, run.run_id)
    assert indicators.publish(engine, run.run_id).status == "published"


def test_missing_row_blocks_publishing(engine: Engine) -> None:
    run = indicators.compute(engine, "2024-06")
    _change_run_row(engine, "delete from mart.indicator_snapshot", run.run_id, C, "dishonest_share")
    with pytest.raises(SnapshotInvalid, match=f"{run.run_id}.*dishonest_share.*{C}"):
        indicators.validate_snapshot(engine, run.run_id)
    assert _status(engine, run.run_id)[0] == "failed"
    assert indicators.show(engine, "2024-06").empty


def test_publish_needs_validation(engine: Engine) -> None:
    run = indicators.compute(engine, "2024-06")
    with pytest.raises(ValueError, match="computed"):
        indicators.publish(engine, run.run_id)
    indicators.validate_snapshot(engine, run.run_id)
    assert _status(engine, run.run_id)[0] == "validated"
    assert indicators.publish(engine, run.run_id).status == "published"
    with pytest.raises(ValueError):
        indicators.validate_snapshot(engine, run.run_id)  # published runs are final


def test_reference_tables_are_idempotent(engine: Engine) -> None:
    def counts() -> tuple[int, int, int]:
        with engine.connect() as conn:
            return tuple(
                conn.execute(text(f"select count(*) from {table}")).scalar_one()
                for table in ("mart.indicator_catalog", "ops.work_calendar", "ops.office_period")
            )

    for _ in range(2):
        with engine.begin() as conn:
            indicators.refresh_reference_tables(conn, "2024-06")
    # catalog 10; calendar 2023-01-01..2024-06-30 = 365 + 182 days; two office periods
    assert counts() == (10, 365 + 182, 2)
    with engine.connect() as conn:
        flags = dict(conn.execute(text("select day, is_working_day from ops.work_calendar")).all())
        sources = set(conn.execute(text("select distinct source from ops.work_calendar")).scalars())
    assert flags[D(2024, 6, 10)] is False  # 端午节
    assert flags[D(2024, 6, 11)] is True
    assert len(sources) == 1 and "chinesecalendar" in sources.pop()


def test_a_snapshot_run_records_its_calendar_source(engine: Engine) -> None:
    run = indicators.compute_snapshot(engine, "2024-06")
    with engine.connect() as conn:
        source = conn.execute(
            text("select calendar_source from ops.snapshot_run where run_id = :run_id"), {"run_id": run.run_id}
        ).scalar_one()
    assert source.startswith("2023: chinesecalendar") and "; 2024: chinesecalendar" in source


def test_calendar_gap_is_an_error(engine: Engine) -> None:
    with pytest.raises(CalendarCoverageError, match="2099"):
        indicators.compute(engine, "2099-06")
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from ops.snapshot_run")).scalar_one() == 0


def test_dataset_freshness(engine: Engine) -> None:
    # seeded updated_at: registration = its last version, tax = an hour after filing or refund
    # completion, credit = 18:00 on the record (or removal) day, real estate = an hour after
    # completion
    assert indicators.dataset_freshness(engine, "2024-06") == {
        "registration": T(2024, 7, 5, 10, 0),  # U06 注销
        "tax_filing": T(2024, 6, 19, 11, 0),  # T08
        "credit_record": T(2024, 7, 15, 18, 0),  # C03 removed
        "real_estate_case": T(2024, 7, 1, 11, 0),  # R05
    }
    # June's last working day is Friday 06-28: the tax department has not delivered up to it
    assert indicators.stale_datasets(engine, "2024-06") == ["tax_filing"]
    assert indicators.stale_datasets(engine, "2024-05") == []  # all updated after Fri 05-31
    assert indicators.stale_datasets(engine, "2024-08") == [
        "registration",
        "tax_filing",
        "credit_record",
        "real_estate_case",
    ]


def test_duckdb_and_postgres_agree(duckdb_settings: Settings, postgres_settings: Settings) -> None:
    frames = []
    for settings in (duckdb_settings, postgres_settings):
        engine = make_engine(settings.warehouse_url)
        try:
            seed_core(engine)
            indicators.compute_snapshot(engine, "2024-05")
            indicators.compute_snapshot(engine, "2024-06")
            frames.append(indicators.show(engine, "2024-06").drop(columns=["computed_at"]))
        finally:
            engine.dispose()
    duck, postgres = frames
    assert len(duck) == JUNE_ROWS
    pd.testing.assert_frame_equal(duck, postgres, check_dtype=False, check_exact=False, rtol=1e-12)
