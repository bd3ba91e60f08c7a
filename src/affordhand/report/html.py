"""A small self-contained HTML summary: metric tables, figures (embedded) and the settings used."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from affordhand.data.atomic import atomic_write_text
from affordhand.report.tables import EVAL_COLUMNS, _fmt


def metrics_html(rows: dict[str, dict], first: str = "") -> str:
    """Return an HTML table with one row per named metric dict (mm)."""
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in EVAL_COLUMNS)
    body = "".join(
        f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{_fmt(k, m[k])}</td>" for k, _ in EVAL_COLUMNS) + "</tr>"
        for name, m in rows.items()
    )
    return f"<table><tr><th>{html.escape(first)}</th>{head}</tr>{body}</table>"


def write_summary(
    path: str | Path, title: str, sections: list[tuple[str, str]], images: list[Path], settings: dict
) -> Path:
    """Write an HTML page with the given (heading, html) sections, embedded PNGs and the settings."""
    imgs = "".join(
        f'<img alt="{html.escape(p.name)}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        for p in images
    )
    parts = "".join(f"<h2>{html.escape(h)}</h2>{body}" for h, body in sections)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}
img{{max-width:100%}}pre{{background:#f4f4f4;padding:1em}}</style></head><body>
<h1>{html.escape(title)}</h1>{parts}{imgs}<h2>Settings</h2><pre>{html.escape(json.dumps(settings, indent=2))}</pre>
</body></html>"""
    atomic_write_text(path, page)
    return Path(path)


def batch_report(path: str | Path, entries: list[dict]) -> Path:
    """Write one HTML page for a batch of photos: overlay, 3D figure, text, metrics and links per hand."""

    def img(p):
        data = base64.b64encode(Path(p).read_bytes()).decode()
        return f'<img style="max-height:360px" src="data:image/png;base64,{data}">'

    rows = []
    for e in entries:
        before, after = e["reprojection_px"]
        spread = f"{e['spread_mm']:.1f} mm" if e["spread_mm"] is not None else "-"
        files = e["files"]
        links = " ".join(
            f'<a href="{html.escape(Path(files[k]).name)}">{k}</a>' for k in ("viewer", "mesh") if k in files
        )
        rows.append(f"""<section><h2>{html.escape(e["record"]["id"])} ({e["record"]["side"]} hand)</h2>
<p><b>Text:</b> {html.escape(e["text"] or "-")}{"<br><i>" + html.escape(e["note"]) + "</i>" if e["note"] else ""}</p>
<p>mode {e["mode"]}; occluded joints {e["occluded"]}; 2D error of visible joints {before:.1f} px before,
{after:.1f} px after; mean joint spread over samples {spread}; {links}</p>
{img(files["overlay"])} {img(files["figure"]) if "figure" in files else ""}</section>""")
    body = "".join(rows) or "<p>No hand was found in these images.</p>"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>affordhand report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}section{{border-top:1px solid #ccc}}</style>
</head><body><h1>affordhand: refined hands</h1>
<p>Red: initial fit to the detected landmarks; blue: refined with the affordance prior;
yellow rings: occluded joints.</p>
{body}</body></html>"""
    atomic_write_text(path, page)
    return Path(path)


def video_report(path: str | Path, clip: str, result, video_file: str) -> Path:
    """Write one HTML page for a clip: the overlay video (beside the page), what was found and each track's
    frames, side, sentence and acceleration (photo/video.py: VideoResult)."""
    import numpy as np
    import torch

    from affordhand.eval.metrics import acceleration

    tracks: dict[str, list[dict]] = {}
    for rec in result.records:
        tracks.setdefault(rec["sequence"], []).append(rec)
    rows = []
    for name, recs in tracks.items():
        recs = sorted(recs, key=lambda r: r["frame"])
        joints = torch.as_tensor(np.stack([r["joints3d"] for r in recs]))
        accel = 1000 * float(acceleration(joints).norm(dim=-1).mean()) if len(recs) > 2 else None
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{recs[0]['side']}</td><td>{len(recs)}</td>"
            f"<td>{recs[0]['frame']}-{recs[-1]['frame']}</td><td>{html.escape(recs[0].get('text') or '-')}</td>"
            f"<td>{'-' if accel is None else f'{accel:.1f}'}</td></tr>"
        )
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>affordhand: {html.escape(clip)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px}}video{{max-width:100%}}</style></head><body>
<h1>affordhand: {html.escape(clip)}</h1>
<video src="{html.escape(video_file)}" controls loop muted></video>
<p>{result.frames} frames read; {result.with_hand} with a hand, {result.frames - result.with_hand} without;
{result.tracks} tracks; {timing}. Blue: each hand refined as one sequence; yellow rings: joints taken as
hidden.</p>
<table><tr><th>track</th><th>side</th><th>frames</th><th>from-to</th><th>text</th>
<th>acceleration, mm/frame&sup2;</th></tr>{"".join(rows)}</table>
</body></html>"""
    atomic_write_text(path, page)
    return Path(path)
