"""What DAG files may read while being parsed: the department source catalog (a local YAML
file in the image), nothing from databases, Variables or Connections."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

from bizenv.sources.config import SourceConfig, load_sources_checked

log = logging.getLogger(__name__)


class SourceEntrySkipped(UserWarning):
    """An entry of sources.yaml is invalid: it gets no DAG, the others keep theirs."""


def department_sources() -> list[SourceConfig]:
    """The valid sources. An invalid entry is skipped with one line naming the file, the entry
    and the field, logged as an error and raised as a warning, which Airflow shows among the
    DAG file's import warnings; a DAG file that raised would instead drop every source's DAG."""
    sources, errors = load_sources_checked()
    for error in errors:
        message = f"{error}; no DAG for this entry until it is fixed"
        log.error("%s", message)
        warnings.warn(message, SourceEntrySkipped, stacklevel=2)
    return list(sources.values())


def dataset_asset_uri(dataset: str) -> str:
    return f"bizenv://core/{dataset}"


# The Airflow pool every task that writes the warehouse runs in. Airflow's scheduler never
# starts a task of a pool that does not exist, so deployments create it (docker-compose.yaml
# airflow-init: `airflow pools set`); `dag.test()` and `airflow dags test` ignore pools.
WAREHOUSE_POOL = "bizenv_warehouse"


# --- what the Airflow UI shows ---------------------------------------------------------------

KIND_LABELS = {  # source kind -> (Chinese, English) as the UI names it
    "file_drop": ("文件", "file drop"),
    "http": ("接口", "HTTP API"),
    "database": ("数据库", "department database"),
}
DATASET_LABELS = {
    "registration": "市场主体登记",
    "tax_filing": "纳税申报",
    "credit_record": "信用记录",
    "real_estate_case": "不动产登记业务",
}
MONTHLY_DISPLAY_NAME = "月度营商环境指标计算与发布"


def ingest_display_name(source: SourceConfig) -> str:
    """The DAG's name in the UI: department, dataset and source kind, e.g.
    "市场监管局·市场主体登记数据接入（文件）"."""
    kind_zh = KIND_LABELS.get(source.kind, (source.kind,))[0]
    return f"{source.department}·{DATASET_LABELS.get(source.dataset, source.dataset)}数据接入（{kind_zh}）"


def ingest_display_names(sources: list[SourceConfig]) -> dict[str, str]:
    """Display name per source name. Two sources of one department, dataset and kind would look
    the same in the DAG list: those get their source name added."""
    names = {source.name: ingest_display_name(source) for source in sources}
    taken = list(names.values())
    return {source: name if taken.count(name) == 1 else f"{name[:-1]}·{source}）"
            for source, name in names.items()}


def schedule_text(source: SourceConfig) -> str:
    if source.schedule is None:
        return "无定时，仅手动触发 · triggered only (no schedule)"
    return f"`{source.schedule}` (Asia/Shanghai)"


def _watermark_text(source: SourceConfig) -> str:
    field = f"`{source.incremental_field}`"
    overlap = f"minus the {source.overlap_minutes}-minute overlap" if source.overlap_minutes else "with no overlap"
    if source.kind == "file_drop":
        options = source.file_drop
        return (
            f"A file drop is read by file, not by time: each run takes the new settled files of "
            f"`{options.directory}` ({', '.join(f'`{p}`' for p in options.pattern)}; a `<file>.done` marker "
            f"or a size that stopped changing), lands each as one batch and moves it to "
            f"`{options.archive_directory}`. The watermark is the newest {field} among the merged files' rows: "
            f"it records how current the department's data is and does not choose what is read, so a late "
            f"file with older changes still loads, and a file re-delivered with the same content is not "
            f"loaded twice."
        )
    if source.kind == "http":
        options = source.http
        paging = "page by page" if options.pagination == "page" else f"following `{options.next_field}`"
        return (
            f"Each run requests `{options.path}` with `{options.since_param}` = the stored watermark "
            f"{overlap} (the first run: everything), {paging}, {options.page_size} records a page, and "
            f"lands the answer as one batch. The watermark is "
            f"the newest {field} among the merged records; the overlap re-reads changes committed late, "
            f"and the idempotent merge makes the re-read rows change nothing."
        )
    options = source.database
    relation = f"table `{options.table}`" if options.table else f"query `{options.query_file}`"
    return (
        f"Each run selects the rows of the {relation} whose {field} is after the stored watermark "
        f"{overlap} (the first run: every row), in chunks of {options.chunk_size}, and lands them as one "
        f"batch. The watermark is the newest {field} among the merged rows; the overlap re-reads rows "
        f"committed late, and the idempotent merge makes the re-read rows change nothing."
    )


def ingest_doc_md(source: SourceConfig, display_name: str, how_it_works: str) -> str:
    """The DAG's documentation in the UI: this source first (department, kind, dataset, schedule,
    what its watermark means), then `how_it_works`, the steps every ingest DAG shares."""
    kind_zh, kind_en = KIND_LABELS.get(source.kind, (source.kind, source.kind))
    dataset_zh = DATASET_LABELS.get(source.dataset, source.dataset)
    rows = [
        ("部门 · department", source.department),
        ("来源类型 · source kind", f"{kind_zh} · {kind_en} (`{source.kind}`)"),
        ("数据集 · dataset", f"{dataset_zh} `{source.dataset}` → `core`, Asset `{dataset_asset_uri(source.dataset)}`"),
        ("调度 · schedule", schedule_text(source)),
        ("连接 · Airflow Connection", f"`{source.connection_id}`" if source.connection_id else "none (a directory)"),
        ("单次时限 · task timeout", f"{source.execution_timeout_minutes} min"),
        ("拒收阈值 · batch rejected above", f"{source.max_bad_share:.0%} bad rows"),
    ]
    table = "\n".join(f"| {label} | {value} |" for label, value in rows)
    return (
        f"### {display_name}\n\n`{source.name}`: {source.department} delivers {source.dataset} "
        f"({dataset_zh}) by {kind_en}.\n\n| | |\n|---|---|\n{table}\n\n"
        f"**Watermark · 水位.** {_watermark_text(source)} Ingest follows the **stored watermark** "
        f"(`ops.watermark`), not the run's data interval: a late, cleared or manual run reads exactly what "
        f"is new.\n\n---\n\n{how_it_works.strip()}\n"
    )


@dataclass(frozen=True)
class FailureAlert:
    """`on_failure_callback` of every task of the bizenv DAGs: reports the failure through the
    alert Connection (bizenv.airflow.notify). The notifier is imported only when a task fails,
    so parsing a DAG file loads none of it."""

    source: str | None = None  # the department source of an ingest DAG

    def __call__(self, context) -> None:
        from bizenv.airflow.notify import alert_notifier

        alert_notifier(self.source)(context)
