"""Corrupt, truncated, foreign and malicious checkpoints and caches: a checkpoint is refused in one line with nothing
run; a cache (HiARM's tokens_*.pt, the hier lifter's hier_*.pt) is reported, recomputed and rewritten."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from hipart.checkpoints import load_checkpoint, load_model, save_checkpoint
from hipart.errors import HipartError
from hipart.training.hiarm import load_cache


class RunsCode:
    """Unpickling this calls ``open(marker, "w")``: a loader that runs pickled code leaves the marker file."""

    def __init__(self, marker: Path, how: str = "open"):
        self.marker, self.how = marker, how

    def __reduce__(self):
        if self.how == "exec":
            return (exec, (f"open({str(self.marker)!r}, 'w').close()",))
        return (open, (str(self.marker), "w"))


GOOD = {"kind": "msst", "model": {"weight": torch.arange(2000.0).reshape(40, 50)}, "model_args": {"width": 50},
        "hierarchy_hash": "a" * 64, "epoch": 3}


def write_variants(folder: Path) -> dict[str, Path]:
    """Bad files beside one good checkpoint: name -> path."""
    good = folder / "good.pt"
    save_checkpoint(good, GOOD)
    data = good.read_bytes()
    files = {"good": good}
    for name, content in (("empty", b""), ("text", b"not a checkpoint"), ("first_byte", data[:1]),
                          ("tenth", data[: len(data) // 10]), ("half", data[: len(data) // 2]),
                          ("all_but_the_last_byte", data[:-1])):
        files[name] = folder / f"{name}.pt"
        files[name].write_bytes(content)
    for how in ("open", "exec"):
        files[f"runs_code_{how}"] = folder / f"runs_code_{how}.pt"
        torch.save({**GOOD, "model": RunsCode(folder / f"ran_{how}.txt", how)}, files[f"runs_code_{how}"])
    return files


def test_a_good_checkpoint_round_trips(tmp_path):
    files = write_variants(tmp_path)
    ckpt = load_checkpoint(files["good"], "msst")
    assert torch.equal(ckpt["model"]["weight"], GOOD["model"]["weight"]) and ckpt["epoch"] == 3


@pytest.mark.parametrize("name", ["empty", "text", "first_byte", "tenth", "half", "all_but_the_last_byte",
                                  "runs_code_open", "runs_code_exec"])
def test_corrupt_truncated_and_malicious_checkpoints_are_one_line_errors_and_run_nothing(tmp_path, name):
    files = write_variants(tmp_path)
    with pytest.raises(HipartError) as err:
        load_checkpoint(files[name], "msst")
    assert re.fullmatch(re.escape(str(files[name])) + r": unreadable checkpoint \(\w+\); retrain with --force",
                        str(err.value)), str(err.value)
    assert not (tmp_path / "ran_open.txt").exists() and not (tmp_path / "ran_exec.txt").exists()


def test_malicious_checkpoint_is_refused_by_the_restricted_unpickler(tmp_path):
    files = write_variants(tmp_path)
    with pytest.raises(HipartError, match=r"unreadable checkpoint \(UnpicklingError\)"):
        load_checkpoint(files["runs_code_open"], "msst")
    assert not (tmp_path / "ran_open.txt").exists()
    # the same file under a plain torch.load (weights_only=False) would run the code: the test can tell
    torch.load(files["runs_code_open"], weights_only=False)
    assert (tmp_path / "ran_open.txt").exists()


@pytest.mark.parametrize("payload, message", [
    ({**GOOD, "kind": "lifter"}, "a 'lifter' checkpoint, expected 'msst'"),
    ({"model": {}}, "a 'None' checkpoint, expected 'msst'"),
    ([1, 2, 3], "a 'list' checkpoint, expected 'msst'"),
    (torch.zeros(3), "a 'Tensor' checkpoint, expected 'msst'"),
    ({"kind": "msst", "model": {}}, "the checkpoint lacks model_args, hierarchy_hash; retrain the stage with --force"),
])
def test_foreign_checkpoints_are_named(tmp_path, payload, message):
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    with pytest.raises(HipartError) as err:
        load_checkpoint(path, "msst")
    assert str(err.value) == f"{path}: {message}"


def test_missing_checkpoint_and_weights_that_do_not_fit(tmp_path):
    with pytest.raises(HipartError, match="checkpoint not found; train the stage first \\(hipart train hiarm\\)"):
        load_checkpoint(tmp_path / "none.pt", "hiarm")
    save_checkpoint(tmp_path / "good.pt", GOOD)
    with pytest.raises(HipartError, match="the weights do not fit the model they describe"):
        load_model(tmp_path / "good.pt", "msst", lambda args: torch.nn.Linear(args["width"], 41))
    model, ckpt = load_model(tmp_path / "good.pt", "msst", lambda args: torch.nn.Linear(args["width"], 40, bias=False))
    assert torch.equal(model.weight, GOOD["model"]["weight"]) and not model.training


# ---------------------------------------------------------------------------------------------- caches
def test_load_cache_recomputes_whatever_it_cannot_trust(tmp_path):
    files = write_variants(tmp_path)
    lines: list[str] = []
    tensors = {"key": "k1", "q_s": torch.arange(6).reshape(2, 3), "q_d": torch.ones(2, 3, 2, dtype=torch.long)}
    torch.save(tensors, tmp_path / "cache.pt")
    got = load_cache(tmp_path / "cache.pt", "k1", ("q_s", "q_d"), lines.append)
    assert torch.equal(got["q_s"], tensors["q_s"]) and torch.equal(got["q_d"], tensors["q_d"]) and lines == []
    # made for another key, missing a field, holding a non-tensor, absent: recomputed without a word
    assert load_cache(tmp_path / "cache.pt", "k2", ("q_s", "q_d"), lines.append) is None
    assert load_cache(tmp_path / "cache.pt", "k1", ("q_s", "x_f"), lines.append) is None
    torch.save({"key": "k1", "q_s": [1, 2], "q_d": torch.ones(1)}, tmp_path / "list.pt")
    assert load_cache(tmp_path / "list.pt", "k1", ("q_s", "q_d"), lines.append) is None
    assert load_cache(tmp_path / "absent.pt", "k1", ("q_s",), lines.append) is None
    assert lines == []
    # unreadable: reported in one line each, then recomputed; a pickle that would run code is not run
    for name in ("empty", "text", "half", "all_but_the_last_byte", "runs_code_open", "runs_code_exec"):
        assert load_cache(files[name], "k1", ("q_s",), lines.append) is None
    assert len(lines) == 6 and all(line.startswith(str(tmp_path)) and line.endswith("; recomputing it")
                                   and "unreadable cache" in line for line in lines)
    assert not (tmp_path / "ran_open.txt").exists() and not (tmp_path / "ran_exec.txt").exists()


@pytest.fixture()
def run_copy(pipeline_run, tmp_path):
    """The trained tiny run's msst/, hiarm/ and lifter_hier/ (with their caches) in a folder of our own."""
    run = tmp_path / "run"
    for stage in ("msst", "hiarm", "lifter_hier"):
        shutil.copytree(pipeline_run[0] / stage, run / stage)
    shutil.copy(pipeline_run[0] / "config.yaml", run / "config.yaml")
    return run


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "runs_code", "foreign"])
def test_a_damaged_token_cache_is_recomputed_with_a_message(run_copy, tiny_dataset, damage):
    from hipart.models.msst import MSST
    from hipart.runs import StageDir
    from hipart.training.hiarm import cached_tokens
    from hipart.training.msst import load_pose_tensors

    cache = run_copy / "hiarm" / "tokens_test_gt.pt"
    original = torch.load(cache, weights_only=True)
    damage_file(cache, damage)
    msst_path = run_copy / "msst" / "checkpoint.pt"
    msst, _ = MSST.load(msst_path)
    test = load_pose_tensors(tiny_dataset, "test")
    lines: list[str] = []
    q_s, q_d = cached_tokens(msst, msst_path, "test", test, StageDir(run_copy / "hiarm"), torch.device("cpu"),
                             log=lines.append)
    assert torch.equal(q_s, original["q_s"]) and torch.equal(q_d, original["q_d"])
    assert len(lines) == (0 if damage == "foreign" else 1)
    assert all(re.fullmatch(re.escape(str(cache)) + r": unreadable cache \(\w+\); recomputing it", line)
               for line in lines)
    assert not (cache.parent / "ran.txt").exists()
    rewritten = torch.load(cache, weights_only=True)  # the cache is whole again, under the right key
    assert rewritten["key"] == original["key"] and torch.equal(rewritten["q_d"], original["q_d"])


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "runs_code", "foreign"])
def test_a_damaged_hier_cache_is_recomputed_with_a_message(run_copy, tiny_dataset, damage):
    from hipart.runs import RunLayout
    from hipart.training.inputs import split_frames
    from hipart.training.lifter import densified_levels

    layout = RunLayout(run_copy)
    cache = run_copy / "lifter_hier" / "hier_test_gt.pt"
    original = torch.load(cache, weights_only=True)
    damage_file(cache, damage)
    lines: list[str] = []
    frames = split_frames(tiny_dataset, "test", log=lambda m: None)
    x_d, x_f = densified_levels(frames, "test", layout, layout.lifter("hier"), torch.device("cpu"), lines.append)
    assert torch.equal(torch.from_numpy(x_d), original["x_d"]) and torch.equal(torch.from_numpy(x_f), original["x_f"])
    assert len(lines) == (0 if damage == "foreign" else 1)
    assert all(re.fullmatch(re.escape(str(cache)) + r": unreadable cache \(\w+\); recomputing it", line)
               for line in lines)
    assert not (cache.parent / "ran.txt").exists()
    assert torch.load(cache, weights_only=True)["key"] == original["key"]


def damage_file(path: Path, how: str) -> None:
    if how == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "runs_code":
        torch.save({"key": "whatever", "q_s": RunsCode(path.parent / "ran.txt")}, path)
    else:  # a well-formed cache made for other inputs
        torch.save({"key": "another MSST:another dataset:1", "q_s": torch.zeros(1), "q_d": torch.zeros(1),
                    "x_d": torch.zeros(1), "x_f": torch.zeros(1)}, path)
