"""Tables for the terminal (rich): evaluation results in mm."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

EVAL_COLUMNS = (
    ("mpjpe", "MPJPE"),
    ("pa_mpjpe", "PA-MPJPE"),
    ("mpjpe_visible", "MPJPE vis"),
    ("mpjpe_occluded", "MPJPE occ"),
    ("pa_mpjpe_visible", "PA vis"),
    ("pa_mpjpe_occluded", "PA occ"),
    ("auc", "AUC"),
    ("count", "n"),
)
UNCERTAINTY_COLUMNS = (
    ("coverage_visible", "cover vis"),
    ("radius_visible_mm", "radius vis"),
    ("coverage_occluded", "cover occ"),
    ("radius_occluded_mm", "radius occ"),
)
SEQUENCE_COLUMNS = (("accel_error", "accel err"), ("accel", "accel"))  # mm/frame^2, where hands are in sequences


def _fmt(key, value):
    if value is None:  # a metric this row does not have (a group's motion)
        return "-"
    if key == "count":
        return str(value)
    if value != value:  # NaN: no joints in this subset
        return "-"
    return f"{value:.3f}" if key == "auc" or key.startswith("coverage") else f"{value:.2f}"


def evaluation_table(rows: dict[str, dict], title: str = "", first: str = "") -> Table:
    """Return a rich Table with one row per named metric dict (mm, 2 decimals; AUC 3 decimals)."""
    table = Table(title=title or None)
    table.add_column(first or "")
    # Coverage columns appear when the predictions carry joint_uncertainty_mm.
    columns = EVAL_COLUMNS + tuple(c for c in UNCERTAINTY_COLUMNS if all(c[0] in m for m in rows.values()))
    # Motion columns (mm/frame^2) appear where any row has them: the overall row of hands in sequences.
    columns += tuple(c for c in SEQUENCE_COLUMNS if any(c[0] in m for m in rows.values()))
    for _, label in columns:
        table.add_column(label, justify="right")
    for name, m in rows.items():
        table.add_row(name, *[_fmt(k, m.get(k)) for k, _ in columns])
    return table


def print_table(table: Table) -> None:
    """Print a table to stdout, wide enough not to wrap."""
    Console(width=max(120, Console().width)).print(table)


def markdown_row(cells) -> str:
    """Return one Markdown table line of cells (each as str): for tables printed row by row as measured."""
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def markdown_table(header: list[str] | tuple[str, ...], rows) -> str:
    """Return a Markdown table: the header, its separator and one line per row of cells (each cell as str);
    with no rows, the header and separator that markdown_row's lines follow."""
    return "\n".join([markdown_row(header), "|" + "---|" * len(header), *(markdown_row(row) for row in rows)])
