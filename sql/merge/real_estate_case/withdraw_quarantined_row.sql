-- a quarantined row about to be quarantined again with every failure it has (one found in a later chunk)
delete from quarantine.real_estate_case
where batch_id = :batch_id and source_row = :source_row
