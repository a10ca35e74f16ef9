"""Turn per-library outcomes into the comparison table and its notes."""

from dataclasses import dataclass, field


@dataclass
class Outcome:
    """What one library's subprocess produced for one workload."""

    status: str  # "ok", "error", "timeout", "skipped" or "n/a"
    value: float = None
    unit: str = ""
    extra: dict = field(default_factory=dict)
    message: str = ""
    seconds: float = 0.0  # wall time of the subprocess

    @property
    def ok(self):
        """True when the workload ran and produced a figure."""
        return self.status == "ok"


def format_value(value, unit):
    """Format a figure with a precision suited to its size."""
    if unit == "tasks/s" or abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def cell(outcome):
    """Table cell for one library: its figure, or why there is none."""
    if outcome is None:
        return "-"
    if outcome.ok:
        return format_value(outcome.value, outcome.unit)
    return {"error": "ERROR", "timeout": "TIMEOUT"}.get(outcome.status, outcome.status)


def ratio(workload, jf, dask):
    """jupyter_futures vs dask, expressed so that > 1 means jupyter_futures is better."""
    if not (jf and jf.ok and dask and dask.ok):
        return None
    better, worse = (jf.value, dask.value) if workload.higher_is_better else (
        dask.value, jf.value)
    if worse == 0:
        return float("inf") if better > 0 else 1.0
    return better / worse


def verdict(workload, value):
    """PASS or FAIL against the workload's target ratio, '-' when unknown."""
    if value is None:
        return "-"
    return "PASS" if value >= workload.target_ratio else "FAIL"


def absolute_verdict(workload, jf):
    """PASS or FAIL of jupyter_futures' own figure against ``workload.max_value``."""
    if not (jf and jf.ok):
        return "-"
    return "PASS" if jf.value < workload.max_value else "FAIL"


def table_rows(workloads, outcomes, libs):
    """Build the rows of the results table (header first)."""
    header = ["workload", "unit", "jupyter_futures", "dask", "ratio (>1: jf better)",
              "target", "status"]
    extra_libs = [lib for lib in ("ray", "ppe") if lib in libs]
    header += ["ray" if lib == "ray" else "ProcessPool(2)" for lib in extra_libs]
    rows = [header]
    for w in workloads:
        got = outcomes.get(w.name, {})
        if w.max_value is not None:  # an absolute target: dask's figure is for reference only
            r, status = None, absolute_verdict(w, got.get("jupyter_futures"))
        else:
            r = ratio(w, got.get("jupyter_futures"), got.get("dask"))
            status = verdict(w, r)
        row = [w.name, w.unit, cell(got.get("jupyter_futures")), cell(got.get("dask")),
               "-" if r is None else f"{r:.2f}x", w.target_text, status]
        row += [cell(got.get(lib)) for lib in extra_libs]
        rows.append(row)
    return rows


def render(rows):
    """Render rows as an aligned plain-text table."""
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def short(value):
    """Compact text for a detail value (lists of seconds, floats, ...)."""
    if isinstance(value, float):
        return format_value(value, "")
    if isinstance(value, list):
        return "[" + ", ".join(short(v) for v in value) + "]"
    return str(value)


def notes(workloads, outcomes, libs):
    """Lines explaining each figure: details of successes, reasons of failures."""
    lines = []
    for w in workloads:
        for lib in libs:
            o = outcomes.get(w.name, {}).get(lib)
            if o is None or o.status == "n/a":
                continue
            if o.ok:
                detail = ", ".join(f"{k}={short(v)}" for k, v in o.extra.items())
                lines.append(f"{w.name:9} {lib:15} {detail}")
            else:
                lines.append(f"{w.name:9} {lib:15} {o.status.upper()}: {o.message}")
    return lines
