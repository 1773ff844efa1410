"""The evaluation report: ``report.md`` and a single-file ``report.html`` (plots embedded as base64),
with the BD-rate table against each anchor, encode/decode times and a per-sample breakdown, in the
evaluated modality's rate unit and metrics."""
from __future__ import annotations

import base64
import html
from pathlib import Path

from ncodec.eval.comparison import BDRow, bd_table, per_sample_table
from ncodec.media.atomic import write_bytes_atomic


class Table:
    def __init__(self, headers: list[str], rows: list[list[str]], align: str = ""):
        self.headers, self.rows = headers, rows
        self.align = align or "l" + "r" * (len(headers) - 1)

    def markdown(self) -> str:
        sep = ["---:" if a == "r" else "---" for a in self.align]
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "|".join(sep) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def html(self) -> str:
        style = lambda i: ' class="num"' if self.align[i] == "r" else ""  # noqa: E731
        head = "".join(f"<th{style(i)}>{html.escape(h)}</th>" for i, h in enumerate(self.headers))
        body = "".join("<tr>" + "".join(f"<td{style(i)}>{html.escape(c)}</td>" for i, c in enumerate(row)) + "</tr>"
                       for row in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def text(self) -> str:
        """Aligned plain text (the console)."""
        rows = [self.headers] + self.rows
        widths = [max(len(r[i]) for r in rows) for i in range(len(self.headers))]
        return "\n".join("  ".join(c.rjust(w) if self.align[i] == "r" else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows)


def _range(values) -> str:
    values = [v for v in values or [] if v is not None]
    return f"{min(values):.3f}–{max(values):.3f}" if values else "–"


def _seconds(values) -> str:
    values = [v for v in values or [] if v is not None]
    return f"{sum(values) / len(values):.3f}" if values else "–"


def _bd_cell(row: BDRow | None, precise: bool = True) -> str:
    if row is None:
        return "–"
    if row.error:
        return f"n/a ({row.error})"
    return f"{row.bd_rate:+.1f}%" if precise else f"{row.bd_rate:+.0f}%"


def _overlap(row: BDRow | None) -> str:
    if row is None or row.error:
        return "–"
    return f"{row.interval[0]:.2f}–{row.interval[1]:.2f} ({row.overlap_anchor:.0%} / {row.overlap_test:.0%})"


def _header(metric) -> str:
    return metric.name.upper() if metric.db else metric.label


def sample_table(ev, everything: dict[str, dict]) -> Table | None:
    """Per sample, every measured codec's record (``Modality.eval_cell``) side by side, when every
    codec was measured at one setting (a comparison at one rate parameter, e.g. one precision)."""
    names = [n for n in ev.codecs if n in everything]
    if not names or any(len(ev.codecs[n]["settings"]) != 1 for n in names):
        return None
    unit, modality = ev.modality.eval_unit, ev.modality
    records = {n: {r[unit]: r for r in ev.codecs[n]["records"]} for n in names}
    rows = [[s.name, str(s.count)] + [modality.eval_cell(records[n][s.name]) for n in names] for s in ev.samples]
    return Table([unit, modality.count_key] + names, rows)


def build(ev, everything: dict[str, dict], plots: dict[str, Path], wall_seconds: float) -> list[tuple]:
    """The report as a list of blocks: ("h", level, text), ("p", text), ("table", Table), ("img", path, alt)."""
    modality = ev.modality
    unit, rate_key = modality.eval_unit, modality.rate_key
    metrics = [m for m in modality.eval_metrics]
    curves = [m for m in metrics if m.curve]
    blocks: list[tuple] = [("h", 1, f"ncodec evaluation: {ev.dataset.name}")]
    skipped = ", ".join(f"{n} ({why})" for n, why in ev.skipped_files)
    first = next(iter(everything.values()), {}).get("meta", {})
    blocks += [
        ("p", f"Command: `{ev.command}`"),
        ("p", f"Dataset: {ev.dataset} — {len(ev.samples)} {unit}s"
              + (f"; {len(ev.skipped_files)} other file(s) skipped: {skipped}" if ev.skipped_files else "; no files skipped")),
        ("p", f"Measured {ev.computed} (codec, setting, {unit}) points, reused {ev.cached} from the cache; "
              f"{ev.jobs} parallel job(s); wall time {wall_seconds:.1f} s. "
              f"Machine: {first.get('machine', {}).get('cpu', '?')}, {first.get('machine', {}).get('cpus', '?')} CPUs. "
              f"Every measured number comes from a real file ({rate_key} = file size × 8 / {modality.count_key}) "
              f"decoded and compared with the original ({', '.join(m.label for m in metrics)}); figures are "
              f"means over the {unit}s. Published curves are CompressAI's Kodak results, not re-measured here."),
    ]
    rows = []
    for name, data in everything.items():
        r, meta = data["results"], data.get("meta", {})
        published = meta.get("published", False)
        rows.append([name, "published (not re-measured)" if published else meta.get("kind", "?"),
                     data.get("description", ""), str(len(r.get(rate_key) or r.get("bpp") or [])),
                     _range(r.get(rate_key) or r.get("bpp"))] + [_range(r.get(m.key)) for m in metrics] +
                    [_seconds(r.get("encoding_time")) if not published else "–",
                     _seconds(r.get("decoding_time")) if not published else "–",
                     meta.get("version", meta.get("source", ""))])
    blocks += [("h", 2, "Codecs"),
               ("table", Table(["codec", "kind", "what", "points", rate_key] + [_header(m) for m in metrics] +
                               [f"encode s/{unit}", f"decode s/{unit}", "version / source"], rows,
                               "lllrr" + "r" * len(metrics) + "rrl"))]
    if ev.unavailable:
        blocks += [("h", 2, "Skipped (tool not available)"),
                   ("table", Table(["codec", "how to enable"], [[n, h] for n, h in ev.unavailable.items()], "ll"))]
    table = sample_table(ev, everything)
    if table is not None:
        blocks += [("h", 2, f"Per {unit}"),
                   ("p", f"Each codec at its one setting: {' '.join(modality.eval_cell.__doc__.split())}"
                    if modality.eval_cell.__doc__ else f"Each codec at its one setting ({rate_key})."),
                   ("table", table)]
    bd = bd_table(everything, ev.anchors, curves, rate_key)
    for anchor in ev.anchors:
        by = {(row.codec, row.metric): row for row in bd if row.anchor == anchor}
        kind = "published curve" if everything[anchor].get("meta", {}).get("published") else "measured"
        rows = []
        for name in everything:
            if name == anchor:
                continue
            cells = [name]
            for i, m in enumerate(curves):
                row = by.get((name, m.name))
                cells.append(_bd_cell(row))
                if i == 0:
                    cells.append("–" if row is None or row.error or row.bd_quality is None
                                 else f"{row.bd_quality:+.2f}")
                cells.append(_overlap(row))
            rows.append(cells)
        headers = ["codec"]
        for i, m in enumerate(curves):
            headers.append(f"BD-rate ({m.name.upper()})")
            if i == 0:
                headers.append(f"BD-{m.name.upper()} (dB)")
            headers.append(f"overlap ({m.name.upper()})")
        blocks += [("h", 2, f"BD-rate vs {anchor} ({kind})"),
                   ("p", "PCHIP over log-rate on the overlapping quality interval only (no extrapolation); "
                         "negative = fewer bits than the anchor at equal quality. Overlap: the interval "
                         "(in the metric's units) and its share of the anchor's / the codec's range."),
                   ("table", Table(headers, rows, "l" + "r" * (len(headers) - 1)))]
    blocks.append(("h", 2, "Rate-distortion"))
    for metric, path in plots.items():
        blocks.append(("img", path, f"RD curves, {metric}"))
    measured_anchor = next((a for a in ev.anchors if a in ev.codecs), next(iter(ev.codecs), None))
    if measured_anchor and curves:
        per = per_sample_table(everything, measured_anchor, curves[0], rate_key, unit)
        names = [n for n in everything if n != measured_anchor and n in ev.codecs]
        if per and names and table is None:
            rows = [[sample] + [_bd_cell(per[sample].get(n)) for n in names] for sample in per]
            blocks += [("h", 2, f"Per {unit}: BD-rate ({curves[0].name.upper()}) vs {measured_anchor}"),
                       ("p", f"Each {unit}'s own curve against the anchor's curve on the same {unit}. "
                             f"Every per-{unit} point (bytes, {rate_key}, metrics, times) is in <codec>.json under "
                             f"\"per_{unit}\"."),
                       ("table", Table([unit] + names, rows))]
    times = []
    for name, info in ev.codecs.items():
        r = everything[name]["results"]
        for label, s, rate, enc, dec in zip(everything[name]["meta"]["labels"], r["setting"], r[rate_key],
                                            r["encoding_time"], r["decoding_time"]):
            times.append([name, label, f"{rate:.4f}", f"{enc:.3f}", f"{dec:.3f}"])
    if times:
        blocks += [("h", 2, f"Encode / decode times per {unit}"),
                   ("p", f"Seconds per {unit}, mean over the {unit}s, wall clock of the tool or model call "
                         f"(with {ev.jobs} parallel job(s) on a shared machine, so indicative)."),
                   ("table", Table(["codec", "setting", rate_key, "encode s", "decode s"], times, "llrrr"))]
    return blocks


def to_markdown(blocks: list[tuple]) -> str:
    parts = []
    for b in blocks:
        if b[0] == "h":
            parts.append("#" * b[1] + " " + b[2])
        elif b[0] == "p":
            parts.append(b[1])
        elif b[0] == "table":
            parts.append(b[1].markdown())
        elif b[0] == "img":
            parts.append(f"![{b[2]}]({Path(b[1]).name})")
    return "\n\n".join(parts) + "\n"


def _inline_code(text: str) -> str:
    escaped = html.escape(text)
    pieces = escaped.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def to_html(blocks: list[tuple]) -> str:
    body = []
    for b in blocks:
        if b[0] == "h":
            body.append(f"<h{b[1]}>{html.escape(b[2])}</h{b[1]}>")
        elif b[0] == "p":
            body.append(f"<p>{_inline_code(b[1])}</p>")
        elif b[0] == "table":
            body.append(b[1].html())
        elif b[0] == "img":
            data = base64.b64encode(Path(b[1]).read_bytes()).decode()
            body.append(f'<p><img alt="{html.escape(b[2])}" src="data:image/png;base64,{data}"></p>')
    title = html.escape(next((b[2] for b in blocks if b[0] == "h"), "ncodec evaluation"))
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
             "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
             "th,td{border:1px solid #ccc;padding:0.25em 0.6em}th{background:#f3f3f3}"
             "td.num,th.num{text-align:right}img{max-width:100%}code{background:#f3f3f3;padding:0 0.2em}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(ev, everything: dict[str, dict], plots: dict[str, Path], out: Path, wall_seconds: float) -> tuple[Path, Path]:
    blocks = build(ev, everything, plots, wall_seconds)
    md, page = Path(out) / "report.md", Path(out) / "report.html"
    write_bytes_atomic(md, to_markdown(blocks).encode(), force=True)
    write_bytes_atomic(page, to_html(blocks).encode(), force=True)
    return md, page
