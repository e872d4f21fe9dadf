"""Airflow adapters over the Airflow-free `bizenv` package."""
