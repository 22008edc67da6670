"""``hipart report``: every benchmark folder of a results directory in one Markdown and one HTML report.

Reads only what the benchmarks wrote (``meta.json``, the ``.md`` / ``.csv`` tables and the PNG plots), so a report
can be rebuilt at any time and never shows a number that no benchmark measured. Paper numbers appear only in the
tables the benchmarks labelled as the paper's reference.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from hipart.errors import HipartError
from hipart.io import write_text_atomic
from hipart.runs import read_json

ORDER = ("occlusion", "speed", "ablation", "densify", "probe", "codebook", "qualitative", "3dpw")


def benchmark_folders(results: Path) -> list[Path]:
    found = [p.parent for p in results.glob("*/meta.json")]
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(found, key=lambda p: (rank.get(p.name, len(ORDER)), p.name))


def build_report(results: str | Path) -> tuple[Path, Path]:
    results = Path(results)
    folders = benchmark_folders(results) if results.is_dir() else []
    if not folders:
        raise HipartError(f"{results}: no benchmark results (folders with meta.json); run 'hipart bench all' first")
    md = ["# HiPART benchmark report", ""]
    body = ["<h1>HiPART benchmark report</h1>"]
    for folder in folders:
        meta = read_json(folder / "meta.json", f"rerun 'hipart bench {folder.name}' to write it again")
        head = [f"data: {meta['data_label']}" if meta.get("data_label") else "",
                f"run: {meta['run']}" if meta.get("run") else "", f"code: {meta.get('git_revision', 'unknown')}",
                f"dataset manifest sha256: {meta['manifest_sha256'][:12]}" if meta.get("manifest_sha256") else ""]
        head = [h for h in head if h]
        md += [f"## {folder.name}", "", "; ".join(head), ""]
        body += [f"<h2>{html.escape(folder.name)}</h2>", f"<p>{html.escape('; '.join(head))}</p>"]
        for name in meta.get("files", []):
            path = folder / name
            if name.endswith(".md") and path.is_file():
                md += [path.read_text().strip(), ""]
                title = path.read_text().splitlines()[0].lstrip("# ")
                csv = path.with_suffix(".csv")
                if csv.is_file():
                    table = pd.read_csv(csv, index_col=0)
                    body += [f"<h3>{html.escape(title)}</h3>",
                             table.to_html(float_format=lambda v: f"{v:.2f}", na_rep="missing", border=0)]
            elif name.endswith(".png") and path.is_file():
                md += [f"![{folder.name} {path.stem}]({folder.name}/{name})", ""]
                data = base64.b64encode(path.read_bytes()).decode()
                body.append(f'<p><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}" '
                            'style="max-width:100%"></p>')
        for note in meta.get("notes", []):
            md += [f"- {note}"]
            body.append(f"<p><em>{html.escape(note)}</em></p>")
        md.append("")
    md_path, html_path = results / "report.md", results / "report.html"
    write_text_atomic(md_path, "\n".join(md) + "\n")
    style = "body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}" \
            "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
    write_text_atomic(html_path, f"<!doctype html><html><head><meta charset='utf-8'><title>HiPART report</title>"
                                 f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
    return md_path, html_path
