-- a quarantined row about to be quarantined again with every failure it has (one found in a later chunk)
delete from quarantine.credit_record
where batch_id = :batch_id and source_row = :source_row
