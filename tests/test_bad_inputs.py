"""The table of bad inputs in docs/errors.md, kept true: every row runs through the CLI and must give exit code 1,
one output line starting with "Error:" that contains the row's text, and no output file or folder; a row without a
case here (or a case without a row) fails `test_every_table_row_has_a_case`.

A case is the command line with placeholders: {out} is a path under the test's folder that must not exist afterwards,
{data} the tiny dataset, {run} the trained tiny run (rows marked * in the table: slow), and {NAME} a bad file made by
FILES[NAME] in the test's folder.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import trimesh
from click.testing import CliRunner

from hipart_cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
TABLE_FILE = ROOT / "docs" / "errors.md"
HEADING = "# Bad input, command by command"


def table_text() -> str:
    """The table's section of docs/errors.md, up to the next heading."""
    text = TABLE_FILE.read_text()
    if HEADING not in text:
        raise AssertionError(f"no '{HEADING}' section in {TABLE_FILE}")
    return re.split(r"\n#{2,3} ", text.split(HEADING, 1)[1], maxsplit=1)[0]


def table_rows() -> dict[tuple[str, str], tuple[str, bool]]:
    """{(command, bad input): (the text the error must hold, needs a trained run)} from the markdown table."""
    rows = {}
    for line in table_text().splitlines():
        if not line.startswith("| `hipart "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        assert len(cells) == 3, line
        command, bad, says = cells
        needs_run = bad.endswith(" *")
        key = (command.strip("`"), bad.removesuffix(" *"))
        assert key not in rows, f"row listed twice: {key}"
        assert says.startswith("`") and says.endswith("`"), line
        rows[key] = (says[1:-1], needs_run)
    return rows


# ---------------------------------------------------------------------------------------------- bad files
POSE = np.random.default_rng(0).uniform(300, 700, size=(4, 17, 2)).astype(np.float32)


def with_value(value: float) -> np.ndarray:
    x = POSE.copy()
    x[1, 5, 0] = value
    return x


def sphere(path: Path, ctx) -> None:
    trimesh.creation.icosphere(2).export(path)  # 162 vertices


def regressor(values: np.ndarray) -> Callable[[Path, object], None]:
    return lambda path, ctx: np.save(path, values)


def text(content: str | bytes) -> Callable[[Path, object], None]:
    def write(path: Path, ctx) -> None:
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return write


def array(x: np.ndarray, **kw) -> Callable[[Path, object], None]:
    return lambda path, ctx: np.save(path, x, **kw)


def config(body: str) -> Callable[[Path, object], None]:
    return text(f"base: tiny\n{body}\n")


def manifest_without_shards(path: Path, ctx) -> None:
    path.mkdir()
    manifest = json.loads((ctx.data / "manifest.json").read_text())
    del manifest["shards"]
    (path / "manifest.json").write_text(json.dumps(manifest))


def corrupted_dataset(path: Path, ctx) -> None:
    shutil.copytree(ctx.data, path, ignore=shutil.ignore_patterns("images", "detections"))
    shard = sorted((path / "train").glob("*.npz"))[0]
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte: same size, another sha256
    shard.write_bytes(bytes(data))


def checkpoint(payload) -> Callable[[Path, object], None]:
    return lambda path, ctx: torch.save(payload, path)


def truncated_checkpoint(path: Path, ctx) -> None:
    torch.save({"kind": "msst", "model": {"w": torch.zeros(1000)}, "model_args": {}, "hierarchy_hash": ""}, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


class RunsCode:
    """Unpickling this creates the file MARKER: a loader that runs pickled code would leave it behind."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


MARKER = "ran-code.txt"


def malicious_checkpoint(path: Path, ctx) -> None:
    torch.save({"kind": "msst", "model": RunsCode(path.parent / MARKER)}, path)


def run_without(stage: str) -> Callable[[Path, object], None]:
    return lambda path, ctx: shutil.copytree(ctx.run, path, ignore=shutil.ignore_patterns(stage, "results"))


def corrupted_run(path: Path, ctx) -> None:
    shutil.copytree(ctx.run, path, ignore=shutil.ignore_patterns("results"))
    (path / "msst" / "checkpoint.pt").write_bytes(b"not a checkpoint")


def results_with_meta(content: str) -> Callable[[Path, object], None]:
    def write(path: Path, ctx) -> None:
        (path / "speed").mkdir(parents=True)
        (path / "speed" / "meta.json").write_text(content)
    return write


def other_mesh_hierarchy(path: Path, ctx) -> None:
    from hipart.coarsen.hierarchy import build_hierarchy

    mesh = trimesh.creation.icosphere(2)
    build_hierarchy(mesh.vertices, mesh.faces, None, (20, 10)).save(path)


FILES: dict[str, Callable[[Path, object], None]] = {
    "sphere.obj": sphere,
    "nan.obj": text("v nan 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"),
    "reg_shape.npy": regressor(np.full((17, 5), 0.2)),
    "reg_str.npy": regressor(np.full((17, 162), "a")),
    "reg_nan.npy": regressor(np.full((17, 162), np.nan)),
    "reg_text.npy": text("not an array"),
    "not_zip.npz": text("not a zip archive"),
    "cfg_binary.yaml": text(b"\xff\xfe\x00\x01binary"),
    "cfg_broken.yaml": text("msst: [unclosed\n"),
    "cfg_unknown_key.yaml": config("msst: {nope: 1}"),
    "cfg_typed.yaml": config("msst: {epochs: two}"),
    "cfg_codebook.yaml": config("msst: {codebook_size_sparse: 0}"),
    "cfg_lr.yaml": config("msst: {lr: -1}"),
    "cfg_lr_nan.yaml": config("msst: {lr: .nan}"),
    "cfg_dropout.yaml": config("hiarm: {dropout: 1.5}"),
    "cfg_lifter_lr.yaml": config("lifter: {lr: -0.001}"),
    "cfg_baseline_setting.yaml": config("baselines: {diffpose: {foo: 1}}"),
    "cfg_baseline_name.yaml": config("baselines: {nosuch: {epochs: 1}}"),
    "other_mesh.npz": other_mesh_hierarchy,
    "empty_folder": lambda path, ctx: path.mkdir(),
    "manifest_not_json": lambda path, ctx: (path.mkdir(), (path / "manifest.json").write_text("{broken")),
    "manifest_no_shards": manifest_without_shards,
    "corrupted_dataset": corrupted_dataset,
    "a_file": text("I am a file"),
    "ckpt_text.pt": text("not a checkpoint"),
    "ckpt_truncated.pt": truncated_checkpoint,
    "ckpt_malicious.pt": malicious_checkpoint,
    "ckpt_lifter.pt": checkpoint({"kind": "lifter", "model": {}, "model_args": {}, "hierarchy_hash": ""}),
    "kp_shape.npy": array(POSE[:, :16]),
    "kp_str.npy": array(np.full((4, 17, 2), "a")),
    "kp_complex.npy": array(POSE.astype(np.complex64)),
    "kp_empty.npy": array(np.zeros((0, 17, 2), np.float32)),
    "kp_nan.npy": array(with_value(np.nan)),
    "kp_inf.npy": array(with_value(np.inf)),
    "kp_huge.npy": array(with_value(1e30)),
    "kp_objects.npy": array(np.array([{"a": 1}, None], dtype=object), allow_pickle=True),
    "kp.npy": array(POSE),
    "kp_other_names.npz": lambda path, ctx: np.savez(path, a=POSE, b=POSE),
    "kp_broken.json": text("{not json"),
    "kp_strings.json": text(json.dumps({"keypoints": [[["a", "b"]] * 17]})),
    "kp_size.json": text(json.dumps({"keypoints": POSE.tolist(), "image_size": "big"})),
    "coco_16.json": text(json.dumps([{"keypoints": POSE[0, :16].tolist(), "keypoint_scores": [0.9] * 16}])),
    "openpose_60.json": text(json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": [1.0] * 60}]})),
    "openpose_nobody.json": text(json.dumps({"version": 1.3, "people": []})),
    "coco_nobody.json": text("[]"),
    "openpose_conf.json": text(json.dumps({"version": 1.3, "people": [
        {"pose_keypoints_2d": np.c_[POSE[0, :1].repeat(25, 0), np.full(25, 3.0)].reshape(-1).tolist()}]})),
    "coco_null.json": text(json.dumps([{"image_id": 1, "keypoints": [None, None, 1.0] * 17, "score": 0.9}])),
    "coco.json": text(json.dumps([{"keypoints": POSE[0].tolist(), "keypoint_scores": [0.9] * 17}])),
    "kp_unknown.json": text(json.dumps({"points": [1, 2]})),
    "run_without_hiarm": run_without("hiarm"),
    "run_corrupted": corrupted_run,
    "keypoint_model.json": text("{broken"),
    "results_meta_broken": results_with_meta("{broken"),
    "results_meta_list": results_with_meta("[1, 2]"),
}

# ---------------------------------------------------------------------------------------------- the cases
CASES: dict[tuple[str, str], list[str]] = {
    ("hipart coarsen", "`--mesh` path that does not exist"):
        ["coarsen", "--mesh", "{out}/missing.obj", "--out", "{out}/h.npz"],
    ("hipart coarsen", "`--mesh` file of an unsupported format (an `.npz`)"):
        ["coarsen", "--mesh", "{not_zip.npz}", "--out", "{out}/h.npz"],
    ("hipart coarsen", "`--levels` that are not strictly decreasing (48 then 96)"):
        ["coarsen", "--mesh", "{sphere.obj}", "--levels", "48", "--levels", "96", "--out", "{out}/h.npz"],
    ("hipart coarsen", "`--levels 0`"): ["coarsen", "--mesh", "{sphere.obj}", "--levels", "0", "--out", "{out}/h.npz"],
    ("hipart coarsen", "more `--levels` clusters than the mesh has vertices"):
        ["coarsen", "--mesh", "{sphere.obj}", "--levels", "999", "--out", "{out}/h.npz"],
    ("hipart coarsen", "a mesh whose vertices hold NaN"):
        ["coarsen", "--mesh", "{nan.obj}", "--levels", "2", "--levels", "1", "--out", "{out}/h.npz"],
    ("hipart coarsen", "`--joints-regressor` of the wrong shape"):
        ["coarsen", "--mesh", "{sphere.obj}", "--joints-regressor", "{reg_shape.npy}", "--levels", "20", "--out",
         "{out}/h.npz"],
    ("hipart coarsen", "`--joints-regressor` of strings"):
        ["coarsen", "--mesh", "{sphere.obj}", "--joints-regressor", "{reg_str.npy}", "--levels", "20", "--out",
         "{out}/h.npz"],
    ("hipart coarsen", "`--joints-regressor` holding NaN"):
        ["coarsen", "--mesh", "{sphere.obj}", "--joints-regressor", "{reg_nan.npy}", "--levels", "20", "--out",
         "{out}/h.npz"],
    ("hipart coarsen", "`--joints-regressor` that is not an `.npy` file (text)"):
        ["coarsen", "--mesh", "{sphere.obj}", "--joints-regressor", "{reg_text.npy}", "--levels", "20", "--out",
         "{out}/h.npz"],
    ("hipart coarsen", "`--joints-regressor` without `--mesh` (the Anny template has its own joints)"):
        ["coarsen", "--joints-regressor", "{reg_shape.npy}", "--out", "{out}/h.npz"],
    ("hipart data build", "`--config` that is neither a preset nor a file"):
        ["data", "build", "--config", "nosuch", "--out", "{out}"],
    ("hipart data build", "`--config` file that is not text (binary)"):
        ["data", "build", "--config", "{cfg_binary.yaml}", "--out", "{out}"],
    ("hipart data build", "`--config` file with broken YAML"):
        ["data", "build", "--config", "{cfg_broken.yaml}", "--out", "{out}"],
    ("hipart data build", "`--config` file with an unknown key"):
        ["data", "build", "--config", "{cfg_unknown_key.yaml}", "--out", "{out}"],
    ("hipart data build", "`--config` file with a wrongly typed value (`epochs: two`)"):
        ["data", "build", "--config", "{cfg_typed.yaml}", "--out", "{out}"],
    ("hipart data build", "`--config` file with a codebook size of 0"):
        ["data", "build", "--config", "{cfg_codebook.yaml}", "--out", "{out}"],
    ("hipart data build", "`--shard-size 0`"):
        ["data", "build", "--config", "tiny", "--shard-size", "0", "--out", "{out}"],
    ("hipart data build", "`--train-stride 0`"):
        ["data", "build", "--config", "tiny", "--train-stride", "0", "--out", "{out}"],
    ("hipart data build", "`--workers 0`"):  # with the dataset's hierarchy: no 'coarsening ...' note first
        ["data", "build", "--config", "tiny", "--hierarchy", "{data}/hierarchy.npz", "--workers", "0", "--out",
         "{out}"],
    ("hipart data build", "`--hierarchy` file that does not exist"):
        ["data", "build", "--config", "tiny", "--hierarchy", "{out}/h.npz", "--out", "{out}"],
    ("hipart data build", "`--hierarchy` file that is not a zip archive"):
        ["data", "build", "--config", "tiny", "--hierarchy", "{not_zip.npz}", "--out", "{out}"],
    ("hipart data build", "`--hierarchy` made for another mesh"):
        ["data", "build", "--config", "tiny", "--hierarchy", "{other_mesh.npz}", "--out", "{out}"],
    ("hipart data build", "`--source` folder that does not exist"):
        ["data", "build", "--config", "tiny", "--source", "{out}/nowhere", "--out", "{out}"],
    ("hipart data build", "`--source` folder without an SMPL model"):
        ["data", "build", "--config", "tiny", "--source", "{empty_folder}", "--out", "{out}"],
    ("hipart data info", "a folder that does not exist"): ["data", "info", "{out}"],
    ("hipart data info", "a folder without `manifest.json`"): ["data", "info", "{empty_folder}"],
    ("hipart data info", "a `manifest.json` that is not JSON"): ["data", "info", "{manifest_not_json}"],
    ("hipart data info", "a `manifest.json` without `shards`"): ["data", "info", "{manifest_no_shards}"],
    ("hipart data info", "`--verify` with a corrupted shard"): ["data", "info", "{corrupted_dataset}", "--verify"],
    ("hipart data render", "`--shard 3/2`"):
        ["data", "render", "--data", "{out}/data", "--shard", "3/2", "--out", "{out}"],
    ("hipart data render", "`--shard abc`"):
        ["data", "render", "--data", "{out}/data", "--shard", "abc", "--out", "{out}"],
    ("hipart data render", "`--quality 0`"):
        ["data", "render", "--data", "{data}", "--format", "jpeg", "--quality", "0", "--out", "{out}"],
    ("hipart data render", "an unknown `--subject`"):
        ["data", "render", "--data", "{data}", "--subject", "S99", "--out", "{out}"],
    ("hipart train msst", "a negative learning rate"):
        ["train", "msst", "--config", "{cfg_lr.yaml}", "--data", "{data}", "--out", "{out}"],
    ("hipart train msst", "a NaN learning rate"):
        ["train", "msst", "--config", "{cfg_lr_nan.yaml}", "--data", "{data}", "--out", "{out}"],
    ("hipart train msst", "`--data` folder that does not exist"):
        ["train", "msst", "--config", "tiny", "--data", "{out}/data", "--out", "{out}"],
    ("hipart train msst", "`--resume` without a checkpoint"):
        ["train", "msst", "--config", "tiny", "--data", "{data}", "--out", "{out}", "--resume"],
    ("hipart train msst", "`--out` that is a file"):
        ["train", "msst", "--config", "tiny", "--data", "{data}", "--out", "{a_file}"],
    ("hipart train msst", "`--device tpu`"):
        ["train", "msst", "--config", "tiny", "--data", "{data}", "--out", "{out}", "--device", "tpu"],
    ("hipart train hiarm", "dropout 1.5"):
        ["train", "hiarm", "--config", "{cfg_dropout.yaml}", "--data", "{data}", "--out", "{out}"],
    ("hipart train hiarm", "`--msst` checkpoint that does not exist"):
        ["train", "hiarm", "--config", "tiny", "--data", "{data}", "--msst", "{out}/msst.pt", "--out", "{out}"],
    ("hipart train hiarm", "`--msst` checkpoint that is not a checkpoint (text)"):
        ["train", "hiarm", "--config", "tiny", "--data", "{data}", "--msst", "{ckpt_text.pt}", "--out", "{out}"],
    ("hipart train hiarm", "`--msst` checkpoint cut in half"):
        ["train", "hiarm", "--config", "tiny", "--data", "{data}", "--msst", "{ckpt_truncated.pt}", "--out", "{out}"],
    ("hipart train hiarm", "`--msst` checkpoint holding a pickle that would run code"):
        ["train", "hiarm", "--config", "tiny", "--data", "{data}", "--msst", "{ckpt_malicious.pt}", "--out", "{out}"],
    ("hipart train hiarm", "`--msst` checkpoint of another stage (a lifter's)"):
        ["train", "hiarm", "--config", "tiny", "--data", "{data}", "--msst", "{ckpt_lifter.pt}", "--out", "{out}"],
    ("hipart train lifter", "a negative learning rate"):
        ["train", "lifter", "--config", "{cfg_lifter_lr.yaml}", "--data", "{data}", "--out", "{out}"],
    ("hipart train lifter", "`--input hier` on a run without HiARM"):
        ["train", "lifter", "--config", "tiny", "--data", "{data}", "--input", "hier", "--run", "{empty_folder}",
         "--out", "{out}"],
    ("hipart train diffpose", "an unknown setting in the config's `baselines.diffpose`"):
        ["train", "diffpose", "--config", "{cfg_baseline_setting.yaml}", "--data", "{data}", "--run", "{out}"],
    ("hipart train diffpose", "an unknown baseline name in the config's `baselines`"):
        ["train", "diffpose", "--config", "{cfg_baseline_name.yaml}", "--data", "{data}", "--run", "{out}"],
    ("hipart train diffpose", "`--epochs 0`"):
        ["train", "diffpose", "--config", "tiny", "--data", "{data}", "--run", "{out}", "--epochs", "0"],
    ("hipart train mixste", "`--input foo`"):
        ["train", "mixste", "--config", "tiny", "--data", "{data}", "--run", "{out}", "--input", "foo"],
    ("hipart train all", "dropout 1.5"):
        ["train", "all", "--config", "{cfg_dropout.yaml}", "--data", "{data}", "--out", "{out}"],
    ("hipart train all", "`--with-baselines` and an unknown baseline setting"):
        ["train", "all", "--config", "{cfg_baseline_setting.yaml}", "--data", "{data}", "--out", "{out}",
         "--with-baselines"],
    ("hipart predict", "none of `--input`, `--image`, `--video`"):
        ["predict", "--run", "{out}/run", "--out", "{out}/p.npz"],
    ("hipart predict", "`--run` folder without checkpoints"):
        ["predict", "--run", "{empty_folder}", "--input", "{kp.npy}", "--out", "{out}/p.npz"],
    ("hipart predict", "a COCO-17 file with 16 keypoints per person"):
        ["predict", "--run", "{out}/run", "--input", "{coco_16.json}", "--out", "{out}/p.npz"],
    ("hipart predict", "an OpenPose file with 60 numbers per person"):
        ["predict", "--run", "{out}/run", "--input", "{openpose_60.json}", "--out", "{out}/p.npz"],
    ("hipart predict", "an OpenPose file without people"):
        ["predict", "--run", "{out}/run", "--input", "{openpose_nobody.json}", "--out", "{out}/p.npz"],
    ("hipart predict", "a COCO-17 file without people (`[]`, as mmpose writes)"):
        ["predict", "--run", "{out}/run", "--input", "{coco_nobody.json}", "--out", "{out}/p.npz"],
    ("hipart predict", "OpenPose confidences of 3"):
        ["predict", "--run", "{out}/run", "--input", "{openpose_conf.json}", "--out", "{out}/p.npz"],
    ("hipart predict", "COCO-17 keypoints holding null (NaN)"):
        ["predict", "--run", "{out}/run", "--input", "{coco_null.json}", "--out", "{out}/p.npz"],
    ("hipart predict", "`--format openpose` with a COCO-17 file"):
        ["predict", "--run", "{out}/run", "--input", "{coco.json}", "--format", "openpose", "--out", "{out}/p.npz"],
    ("hipart predict", "`--format coco` with an `.npy` array"):
        ["predict", "--run", "{out}/run", "--input", "{kp.npy}", "--format", "coco", "--out", "{out}/p.npz"],
    ("hipart predict", "a `.json` of no known keypoint layout"):
        ["predict", "--run", "{out}/run", "--input", "{kp_unknown.json}", "--out", "{out}/p.npz"],
    ("hipart densify", "`--out` that is not `.npz`"):
        ["densify", "--run", "{empty_folder}", "--input", "{kp.npy}", "--out", "{out}/d.txt"],
    ("hipart densify", "`--run` folder without checkpoints"):
        ["densify", "--run", "{empty_folder}", "--input", "{kp.npy}", "--out", "{out}/d.npz"],
    ("hipart detect", "`--shard 3/2`"): ["detect", "--data", "{out}/data", "--shard", "3/2"],
    ("hipart detect", "a dataset without rendered images"): ["detect", "--data", "{out}/data"],
    ("hipart detect", "`--videos` with an `--adapter` that is not a zip archive"):
        ["detect", "--videos", "{empty_folder}", "--adapter", "{not_zip.npz}", "--out", "{out}/v.npz"],
    ("hipart detect", "`--videos` with an `--out` that is not `.npz`"):
        ["detect", "--videos", "{empty_folder}", "--adapter", "{not_zip.npz}", "--out", "{out}/v.txt"],
    ("hipart detect", "`--videos` with `--every 0`"):
        ["detect", "--videos", "{empty_folder}", "--adapter", "{not_zip.npz}", "--every", "0", "--out", "{out}/v.npz"],
    ("hipart detect", "`--package-adapter` on a dataset without finished detections"):
        ["detect", "--data", "{out}/data", "--package-adapter"],
    ("hipart detect", "`--package-adapter` with `--videos`"):
        ["detect", "--data", "{out}/data", "--package-adapter", "--videos", "{empty_folder}"],
    ("hipart bench occlusion", "`--error-scale -1`"):
        ["bench", "occlusion", "--run", "{out}/run", "--error-scale", "-1", "--out", "{out}"],
    ("hipart bench occlusion", "`--error-scale nan`"):
        ["bench", "occlusion", "--run", "{out}/run", "--error-scale", "nan", "--out", "{out}"],
    ("hipart bench occlusion", "`--detections` without `--truth`"):
        ["bench", "occlusion", "--run", "{out}/run", "--detections", "{kp.npy}", "--out", "{out}"],
    ("hipart bench occlusion", "`--keypoint-model` that is not JSON"):
        ["bench", "occlusion", "--run", "{out}/run", "--keypoint-model", "{keypoint_model.json}", "--out", "{out}"],
    ("hipart bench occlusion", "`--run` folder that is not a run"):
        ["bench", "occlusion", "--run", "{empty_folder}", "--out", "{out}"],
    ("hipart bench speed", "`--batch 0`"): ["bench", "speed", "--run", "{out}/run", "--batch", "0", "--out", "{out}"],
    ("hipart bench ablation", "`--setting 1,2`"):
        ["bench", "ablation", "--setting", "1,2", "--no-train", "--out", "{out}"],
    ("hipart bench ablation", "`--setting 0,1,32,32`"):
        ["bench", "ablation", "--setting", "0,1,32,32", "--no-train", "--out", "{out}"],
    ("hipart report", "a folder that does not exist"): ["report", "{out}"],
    ("hipart report", "a `meta.json` that is not JSON"): ["report", "{results_meta_broken}"],
    ("hipart report", "a `meta.json` that is not a JSON object"): ["report", "{results_meta_list}"],
}

# rows that need the trained tiny run (marked * in the table)
KEYPOINT_FILES = {
    "`--input` file that does not exist": "{out}/missing.npy",
    "keypoints of the wrong shape (N, 16, 2)": "{kp_shape.npy}",
    "keypoints of strings": "{kp_str.npy}", "complex keypoints": "{kp_complex.npy}",
    "an empty array (0, 17, 2)": "{kp_empty.npy}", "keypoints holding NaN": "{kp_nan.npy}",
    "keypoints of 1e30 px": "{kp_huge.npy}", "an `.npz` that is not a zip archive": "{not_zip.npz}",
}
for bad, path in KEYPOINT_FILES.items():
    CASES[("hipart predict", bad)] = ["predict", "--run", "{run}", "--input", path, "--image-size", "1000", "1002",
                                      "--out", "{out}/p.npz"]
    CASES[("hipart densify", bad)] = ["densify", "--run", "{run}", "--input", path, "--out", "{out}/d.npz"]
PREDICT = ["predict", "--run", "{run}", "--out", "{out}/p.npz", "--input"]
CASES.update({
    ("hipart predict", "keypoints holding inf"): PREDICT + ["{kp_inf.npy}", "--image-size", "1000", "1002"],
    ("hipart predict", "`--image-size 0 0`"): PREDICT + ["{kp.npy}", "--image-size", "0", "0"],
    ("hipart predict", "`--image-size -10 5`"): PREDICT + ["{kp.npy}", "--image-size", "-10", "5"],
    ("hipart predict", "an `.npz` without a keypoint array"):
        PREDICT + ["{kp_other_names.npz}", "--image-size", "1000", "1002"],
    ("hipart predict", "a `.json` that is not JSON"): PREDICT + ["{kp_broken.json}"],
    ("hipart predict", "a `.json` whose keypoints are strings"): PREDICT + ["{kp_strings.json}"],
    ("hipart predict", "a `.json` whose `image_size` is not two numbers"): PREDICT + ["{kp_size.json}"],
    ("hipart predict", "`--out` that is neither `.npz` nor `.json`"):
        ["predict", "--run", "{run}", "--input", "{kp.npy}", "--image-size", "1000", "1002", "--out", "{out}/p.txt"],
    ("hipart predict", "a run without HiARM"):
        ["predict", "--run", "{run_without_hiarm}", "--input", "{kp.npy}", "--out", "{out}/p.npz"],
    ("hipart predict", "a run with a corrupted checkpoint"):
        ["predict", "--run", "{run_corrupted}", "--input", "{kp.npy}", "--out", "{out}/p.npz"],
    ("hipart densify", "an `.npy` of Python objects (a pickle)"):
        ["densify", "--run", "{run}", "--input", "{kp_objects.npy}", "--out", "{out}/d.npz"],
    ("hipart bench occlusion", "`--mask 1.5`"):
        ["bench", "occlusion", "--run", "{run}", "--level", "keypoint", "--mask", "1.5", "--out", "{out}"],
    ("hipart bench occlusion", "`--crop nan`"):
        ["bench", "occlusion", "--run", "{run}", "--level", "keypoint", "--crop", "nan", "--out", "{out}"],
    ("hipart bench speed", "`--data` whose manifest lacks `shards`"):
        ["bench", "speed", "--run", "{run}", "--data", "{manifest_no_shards}", "--out", "{out}"],
    ("hipart bench codebook", "`--codes 0`"): ["bench", "codebook", "--run", "{run}", "--codes", "0", "--out", "{out}"],
    ("hipart bench qualitative", "`--frame` beyond the test split"):
        ["bench", "qualitative", "--run", "{run}", "--frame", "960", "--out", "{out}"],
    ("hipart bench qualitative", "`--ratio nan`"):
        ["bench", "qualitative", "--run", "{run}", "--ratio", "nan", "--out", "{out}"],
    ("hipart bench qualitative", "`--ratio -0.5`"):
        ["bench", "qualitative", "--run", "{run}", "--ratio", "-0.5", "--out", "{out}"],
    ("hipart bench densify", "a run without HiARM"):
        ["bench", "densify", "--run", "{run_without_hiarm}", "--out", "{out}"],
    ("hipart bench 3dpw", "`--root` that does not exist"):
        ["bench", "3dpw", "--run", "{run}", "--root", "{out}/3DPW", "--out", "{out}"],
})


@dataclass
class Context:
    """What a case's placeholders stand for; the dataset and the run are fixtures fetched only when used."""

    folder: Path
    request: pytest.FixtureRequest
    made: dict[str, Path] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.request.getfixturevalue("tiny_dataset")

    @property
    def run(self) -> Path:
        return self.request.getfixturevalue("pipeline_run")[0]

    def fill(self, arg: str) -> str:
        def one(match: re.Match) -> str:
            name = match.group(1)
            if name == "out":
                return str(self.folder / "out")
            if name in ("data", "run"):
                return str(getattr(self, name))
            if name not in self.made:
                self.made[name] = self.folder / "inputs" / name
                self.made[name].parent.mkdir(exist_ok=True)
                FILES[name](self.made[name], self)
            return str(self.made[name])

        return re.sub(r"\{([^}]+)\}", one, arg)


ROWS = table_rows()


def test_every_table_row_has_a_case():
    assert sorted(set(ROWS) - set(CASES)) == [], "rows of the table without a case in this file"
    assert sorted(set(CASES) - set(ROWS)) == [], "cases in this file without a row in the table"
    uses_run = {key for key, args in CASES.items() if any("{run" in a for a in args)}
    assert uses_run == {key for key, (_, needs_run) in ROWS.items() if needs_run}, "rows marked * are the slow ones"
    assert {c for c, _ in ROWS} >= {"hipart coarsen", "hipart data build", "hipart data info", "hipart data render",
                                    "hipart train msst", "hipart train hiarm", "hipart train lifter", "hipart predict",
                                    "hipart densify", "hipart detect", "hipart bench occlusion", "hipart report"}


def case_params():
    for key, args in CASES.items():
        marks = [pytest.mark.slow] if any("{run" in a for a in args) else []
        yield pytest.param(key, args, id=f"{key[0][7:]}: {key[1]}", marks=marks)


@pytest.mark.parametrize("key, args", list(case_params()))
def test_bad_input_is_one_error_line_and_writes_nothing(key, args, tmp_path, request):
    says = ROWS[key][0] if key in ROWS else pytest.fail(f"no table row for {key}")
    ctx = Context(tmp_path, request)
    argv = [ctx.fill(a) for a in args]
    inputs = tmp_path / "inputs"
    before = {p: p.stat().st_mtime_ns for p in inputs.rglob("*")} if inputs.exists() else {}
    result = CliRunner().invoke(cli, argv)
    lines = result.output.strip().splitlines()
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert says in lines[0], lines[0]
    assert not (tmp_path / "out").exists(), sorted(str(p) for p in (tmp_path / "out").rglob("*"))
    after = {p: p.stat().st_mtime_ns for p in inputs.rglob("*")} if before else {}
    assert after == before, "the command changed or added files among its inputs"
    assert not (inputs / MARKER).exists()  # the malicious checkpoint ran no code
