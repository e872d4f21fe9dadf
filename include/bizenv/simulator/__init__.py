"""Tooling, not production: synthetic department data and what is built on it.

`simulate` draws the four department datasets, `department_api` and `department_db` serve them
the way a department would (a REST API, a source database), `demo` runs one month end to end
through Airflow, `bench` (`bizenv bench`) times every command of a month from process start to
exit beside `read_csv` + `to_sql` and COPY (docs/performance.md) and `benchmark` times the
validation and merge stages warm. They read regions, office hours and
the file contracts from the same config and `bizenv.datasets` as production, so simulated data
changes when the contract does.

No production module imports this package (tests/unit/test_simulator_boundary.py); only the
command line's tooling commands reach it, lazily inside their command functions.
"""
