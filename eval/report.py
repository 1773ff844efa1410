"""The evaluation report: ``report.md`` and a single-file ``report.html`` (plots embedded as base64),
with the BD-rate table against each anchor, encode/decode times and a per-image breakdown."""
from __future__ import annotations

import base64
import html
from pathlib import Path

from ncodec.eval.comparison import BDRow, bd_table, per_image_table
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


def build(ev, everything: dict[str, dict], plots: dict[str, Path], wall_seconds: float) -> list[tuple]:
    """The report as a list of blocks: ("h", level, text), ("p", text), ("table", Table), ("img", path, alt)."""
    blocks: list[tuple] = [("h", 1, f"ncodec evaluation: {ev.dataset.name}")]
    skipped = ", ".join(f"{n} ({why})" for n, why in ev.skipped_files)
    first = next(iter(everything.values()), {}).get("meta", {})
    blocks += [
        ("p", f"Command: `{ev.command}`"),
        ("p", f"Dataset: {ev.dataset} — {len(ev.images)} images"
              + (f"; {len(ev.skipped_files)} other file(s) skipped: {skipped}" if ev.skipped_files else "; no files skipped")),
        ("p", f"Measured {ev.computed} (codec, setting, image) points, reused {ev.cached} from the cache; "
              f"{ev.jobs} parallel job(s); wall time {wall_seconds:.1f} s. "
              f"Machine: {first.get('machine', {}).get('cpu', '?')}, {first.get('machine', {}).get('cpus', '?')} CPUs. "
              "Every measured number comes from a real file (bpp = file size × 8 / pixels) decoded and compared "
              "on RGB 8-bit; PSNR and MS-SSIM are means over the images. Published curves are "
              "CompressAI's Kodak results, not re-measured here."),
    ]
    rows = []
    for name, data in everything.items():
        r, meta = data["results"], data.get("meta", {})
        published = meta.get("published", False)
        rows.append([name, "published (not re-measured)" if published else meta.get("kind", "?"),
                     data.get("description", ""), str(len(r.get("bpp", []))), _range(r.get("bpp")),
                     _range(r.get("psnr-rgb")), _range(r.get("ms-ssim-rgb")),
                     _seconds(r.get("encoding_time")) if not published else "–",
                     _seconds(r.get("decoding_time")) if not published else "–",
                     meta.get("version", meta.get("source", ""))])
    blocks += [("h", 2, "Codecs"),
               ("table", Table(["codec", "kind", "what", "points", "bpp", "PSNR-RGB (dB)", "MS-SSIM",
                                "encode s/img", "decode s/img", "version / source"], rows, "lllrrrrrrl"))]
    if ev.unavailable:
        blocks += [("h", 2, "Skipped (tool not available)"),
                   ("table", Table(["codec", "how to enable"], [[n, h] for n, h in ev.unavailable.items()], "ll"))]
    table = bd_table(everything, ev.anchors)
    for anchor in ev.anchors:
        by = {(row.codec, row.metric): row for row in table if row.anchor == anchor}
        kind = "published curve" if everything[anchor].get("meta", {}).get("published") else "measured"
        rows = []
        for name in everything:
            if name == anchor:
                continue
            p, m = by.get((name, "psnr")), by.get((name, "ms-ssim"))
            rows.append([name, _bd_cell(p), "–" if p is None or p.error else f"{p.bd_quality:+.2f}", _overlap(p),
                         _bd_cell(m), _overlap(m)])
        blocks += [("h", 2, f"BD-rate vs {anchor} ({kind})"),
                   ("p", "PCHIP over log-rate on the overlapping quality interval only (no extrapolation); "
                         "negative = fewer bits than the anchor at equal quality. Overlap: the interval "
                         "(dB or MS-SSIM) and its share of the anchor's / the codec's range."),
                   ("table", Table(["codec", "BD-rate (PSNR)", "BD-PSNR (dB)", "overlap (PSNR)",
                                    "BD-rate (MS-SSIM)", "overlap (MS-SSIM)"], rows, "lrrrrr"))]
    blocks.append(("h", 2, "Rate-distortion"))
    for metric, path in plots.items():
        blocks.append(("img", path, f"RD curves, {metric}"))
    measured_anchor = next((a for a in ev.anchors if a in ev.codecs), next(iter(ev.codecs), None))
    if measured_anchor:
        per = per_image_table(everything, measured_anchor)
        names = [n for n in everything if n != measured_anchor and n in ev.codecs]
        if per and names:
            rows = [[image] + [_bd_cell(per[image].get(n)) for n in names] for image in per]
            blocks += [("h", 2, f"Per image: BD-rate (PSNR) vs {measured_anchor}"),
                       ("p", "Each image's own curve against the anchor's curve on the same image. "
                             "Every per-image point (bytes, bpp, PSNR, MS-SSIM, times) is in <codec>.json under "
                             "\"per_image\"."),
                       ("table", Table(["image"] + names, rows))]
    times = []
    for name, info in ev.codecs.items():
        r = everything[name]["results"]
        for label, s, bpp, enc, dec in zip(everything[name]["meta"]["labels"], r["setting"], r["bpp"],
                                           r["encoding_time"], r["decoding_time"]):
            times.append([name, label, f"{bpp:.4f}", f"{enc:.3f}", f"{dec:.3f}"])
    if times:
        blocks += [("h", 2, "Encode / decode times per image"),
                   ("p", f"Seconds per image, mean over the images, wall clock of the tool or model call "
                         f"(with {ev.jobs} parallel job(s) on a shared machine, so indicative)."),
                   ("table", Table(["codec", "setting", "bpp", "encode s", "decode s"], times, "llrrr"))]
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
