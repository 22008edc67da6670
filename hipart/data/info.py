"""What ``hipart data info`` prints: a dataset's manifest as a summary and a frames table."""

from __future__ import annotations

from typing import Any

import pandas as pd

from hipart.skeleton import H36M_ACTIONS


def frames_table(manifest: dict[str, Any]) -> pd.DataFrame:
    """Frames per subject (rows, with their split) and action (columns), with totals."""
    shards = pd.DataFrame(manifest["shards"])
    table = shards.pivot_table(index=["split", "subject"], columns="action", values="frames", aggfunc="sum",
                               fill_value=0)
    table = table.reindex(columns=[a for a in H36M_ACTIONS if a in table.columns])
    subject_order = sorted(table.index, key=lambda k: (k[0] != "train", int(str(k[1]).lstrip("S"))))
    table = table.loc[subject_order]
    table["total"] = table.sum(axis=1)
    table.columns.name = None
    return table


def summary_lines(manifest: dict[str, Any]) -> list[str]:
    shards = manifest["shards"]
    size = sum(r["bytes"] for r in shards)
    src = manifest["settings"]["source"]
    data = manifest["settings"]["data"]
    levels = manifest["levels"]
    return [
        f"source: {src['body']}" + (f" ({src['path']})" if "path" in src else ""),
        f"note: {manifest['note']}",
        f"levels: sparse {levels['s']}, dense {levels['d']}, fine {levels['f']}; hierarchy {manifest['hierarchy']['hash'][:12]}",
        f"frames: {manifest['counts']['train']} train, {manifest['counts']['test']} test; "
        f"{len(shards)} shards, {size / 1e6:.1f} MB",
        f"strides: train {data['train_stride']}, test {data['test_stride']}; distortion "
        f"{'on' if data['distortion'] else 'off'}; sparse joints from {src['sparse_from']}",
        f"2D normalization: {manifest['normalization']['formula']}",
        f"build path: {manifest['settings']['path']}",
    ]
