-- 一企一档: one row per enterprise (current version of the golden record) with what the four
-- departments know about it. registration is authoritative for name, type, region and status;
-- department facts are aggregates keyed on the uscc. no personal data: no legal representative
-- name, id hash or masked id, no individual real-estate applicants.
create or replace view mart.v_enterprise_profile as
with tax as (
    select
        t.uscc,
        count(*) as tax_filing_count,
        max(t.tax_period) as latest_tax_period,
        sum(t.tax_amount) as total_tax_amount,
        sum(case when t.channel in ('电子税务局', '移动端') then 1 else 0 end) as online_filing_count
    from core.tax_filing as t
    group by t.uscc
),
credit as (
    select
        c.uscc,
        sum(
            case
                when c.record_type = '严重失信主体名单'
                    and c.record_date <= current_date
                    and (c.removal_date is null or c.removal_date > current_date)
                    then 1
                else 0
            end
        ) as dishonest_listings,
        sum(case when c.record_type = '履约践诺' then 1 else 0 end) as fulfilment_count
    from core.credit_record as c
    group by c.uscc
),
real_estate as (
    select
        r.applicant_uscc as uscc,
        count(*) as real_estate_case_count,
        count(r.completed_at) as real_estate_completed_count,
        max(r.completed_at) as latest_real_estate_completed_at
    from core.real_estate_case as r
    where r.applicant_type = '企业'
        and r.applicant_uscc is not null
    group by r.applicant_uscc
)
select
    m.uscc,
    m.name,
    m.entity_type,
    m.region_code,
    m.industry_code,
    m.status,
    m.status_date,
    m.established_date,
    cast(coalesce(t.tax_filing_count, 0) as bigint) as tax_filing_count,
    t.latest_tax_period,
    cast(t.total_tax_amount as numeric(20, 2)) as total_tax_amount,
    cast(t.online_filing_count as double precision)
    / cast(nullif(t.tax_filing_count, 0) as double precision) as online_filing_share,
    coalesce(c.dishonest_listings, 0) > 0 as on_dishonest_list,
    cast(coalesce(c.fulfilment_count, 0) as bigint) as fulfilment_count,
    cast(coalesce(r.real_estate_case_count, 0) as bigint) as real_estate_case_count,
    cast(coalesce(r.real_estate_completed_count, 0) as bigint) as real_estate_completed_count,
    r.latest_real_estate_completed_at,
    m.valid_from as record_valid_from,
    m.batch_id,
    m.changed_at
from core.market_entity as m
left join tax as t on t.uscc = m.uscc
left join credit as c on c.uscc = m.uscc
left join real_estate as r on r.uscc = m.uscc
where m.is_current
