# syntax=docker/dockerfile:1
# bizenv production image: the official Airflow image plus bizenv's pinned dependency set,
# the `bizenv` package (its Airflow adapters in bizenv.airflow), DAGs, SQL, config and expectations.
#
#   docker build -t bizenv-airflow:0.1.0 .
#
# No secrets are baked in: credentials, keys and connections come from the environment at
# run time (see docker-compose.yaml and .env.example).
# For byte-for-byte reproducible builds, pin the digest as well:
#   FROM apache/airflow:3.3.2-python3.11@sha256:<digest of the tag you tested>
FROM apache/airflow:3.3.2-python3.11

LABEL org.opencontainers.image.title="bizenv" \
      org.opencontainers.image.description="Cross-department government data pipeline and monthly business-environment indicators (Apache Airflow 3, CeleryExecutor)" \
      org.opencontainers.image.version="0.1.0"

ENV BIZENV_PROJECT_DIR=/opt/airflow/project

# Directories the airflow user owns. Named volumes mounted on them (data, auth, logs) inherit this
# ownership when Docker creates them.
USER root
RUN install -d -o airflow -g 0 -m 0775 \
        "${BIZENV_PROJECT_DIR}" /opt/airflow/var /opt/airflow/auth /opt/airflow/logs
USER airflow
WORKDIR /opt/airflow

# 1. Dependencies first (cached until requirements.lock changes). The lock pins the whole tree,
#    apache-airflow==3.3.2 included, so the base image's Airflow is never up- or downgraded; no
#    constraint file is downloaded. Test and lint tools are left out of the production image.
COPY --chown=airflow:0 requirements.lock ${BIZENV_PROJECT_DIR}/requirements.lock
RUN grep -vE '^(pytest|pytest-timeout|ruff)==' "${BIZENV_PROJECT_DIR}/requirements.lock" \
        > /tmp/requirements.prod.txt \
    && pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.prod.txt \
    && rm /tmp/requirements.prod.txt

# 2. The project tree. bizenv.settings finds sql/, expectations/ and include/config/ through
#    Path(__file__).parents[2], so the package must run from this tree: an editable install
#    (which also provides the `bizenv` command), never a copy in site-packages.
#    README.m[d]: copied when present (pyproject.toml names it as the long description).
COPY --chown=airflow:0 pyproject.toml README.m[d] ${BIZENV_PROJECT_DIR}/
COPY --chown=airflow:0 include/ ${BIZENV_PROJECT_DIR}/include/
COPY --chown=airflow:0 sql/ ${BIZENV_PROJECT_DIR}/sql/
COPY --chown=airflow:0 expectations/ ${BIZENV_PROJECT_DIR}/expectations/
COPY --chown=airflow:0 dags/ ${BIZENV_PROJECT_DIR}/dags/
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps -e "${BIZENV_PROJECT_DIR}" \
    && python -c "import bizenv.settings as s; assert (s.SQL_DIR / 'merge').is_dir(), s.SQL_DIR" \
    && python -c "import bizenv.airflow.dag_config, bizenv.airflow.ingest, bizenv.airflow.monthly" \
    && bizenv --help > /dev/null

# Airflow reads DAGs from the project tree. The adapters the DAGs call are part of the installed
# package (bizenv.airflow), so no PYTHONPATH and no plugins folder: bizenv loads no Airflow plugin.
ENV AIRFLOW__CORE__DAGS_FOLDER=${BIZENV_PROJECT_DIR}/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    BIZENV_DATA_DIR=/opt/airflow/var \
    GX_ANALYTICS_ENABLED=false

USER airflow
