import configparser
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from hipart import __version__
from hipart.config import PRESETS, load_config
from hipart.data.prepare import default_out
from hipart.errors import HipartError
from hipart.models.hipart import DECODINGS
from hipart_cli.main import cli

ROOT = Path(__file__).resolve().parents[1]


def test_presets_load_and_differ():
    paper, demo, tiny = load_config("paper"), load_config("demo"), load_config("tiny")
    assert (paper.msst.num_blocks, paper.hiarm.num_blocks, paper.msst.dim, paper.hiarm.dim) == (4, 12, 128, 128)
    assert paper.msst.lr == 1e-3 and paper.hiarm.lambda_dense == 1.5 and paper.lifter.lr_decay == 0.96
    assert paper.coarsen.levels == (96, 48)
    assert tiny.msst.dim < demo.msst.dim < paper.msst.dim and tiny.name == "tiny"


def test_user_file_with_base_and_round_trip(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("base: demo\nmsst: {dim: 96}\nhiarm: {part_order: raster}\n")
    cfg = load_config(f)
    assert cfg.msst.dim == 96 and cfg.hiarm.part_order == "raster" and cfg.msst.num_blocks == 2 and cfg.name == "mine"
    cfg.save(tmp_path / "saved.yaml")
    assert load_config(tmp_path / "saved.yaml") == cfg


@pytest.mark.parametrize("text, message", [
    ("msst: {dimension: 3}", "unknown config key 'msst.dimension'"),
    ("msst: {dim: 1.5}", "'msst.dim' must be an integer"),
    ("hiarm: {part_order: spiral}", "choose one of center, raster"),
    ("coarsen: {levels: [48, 96]}", "strictly decreasing"),
    ("hiarm: {dim: 30, heads: 4}", "divisible"),
    ("- a list", "must hold a mapping"),
    ("msst: {dim: [", "not valid YAML"),
])
def test_bad_config_files_are_named(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(HipartError, match=message.replace("[", r"\[")):
        load_config(f)


def test_missing_config():
    with pytest.raises(HipartError, match="neither a preset"):
        load_config("nonexistent")


def test_help_lists_every_group_and_version():
    runner = CliRunner()
    out = runner.invoke(cli, ["--help"]).output
    for group in ("coarsen", "data", "train", "bench", "report", "demo"):
        assert f"\n  {group} " in out
    assert runner.invoke(cli, ["--version"]).output.strip() == f"hipart, version {__version__}"


@pytest.mark.parametrize("args", [["bench", "occlusion", "--crop", "0.3"], ["bench", "codebook"], ["report", "results"]])
def test_bench_and_report_without_a_run_fail_in_one_line(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written when there is nothing to read
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert not any(tmp_path.iterdir())


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "hipart_cli.main", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout


def test_setup_cfg_lists_every_package():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "hipart").rglob("__init__.py")}
    assert listed == found | {"hipart_cli"}


def test_unwritable_output_is_a_one_line_error(tmp_path):
    from hipart.io import write_text_atomic

    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(HipartError, match="cannot write there"):
        write_text_atomic(blocker / "out.txt", "y")  # a file stands where the folder should be
    with pytest.raises(HipartError, match="is a folder"):
        write_text_atomic(tmp_path, "y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command under ``group`` with its path of names."""
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append(((*path, name), command))
    return found


def test_every_command_defaults_to_the_demo_preset_and_lists_every_preset():
    with_config = {}
    for path, command in _commands(cli):
        for option in command.params:
            if "--config" in option.opts or "--train-config" in option.opts:
                with_config[(" ".join(path), option.opts[0])] = option.default
                assert f"Preset ({', '.join(PRESETS)})" in option.help, path
    assert set(with_config.values()) == {"demo"}, with_config
    assert {"data build", "data render", "detect", "train msst", "train all"} <= {p for p, _ in with_config}
    info = next(c for p, c in _commands(cli) if p == ("data", "info"))
    assert str(info.params[0].default) == str(default_out(load_config("demo")))  # where 'data build' writes


def test_densify_offers_every_decoding_of_the_model():
    decoding = next(p for p in cli.commands["densify"].params if p.name == "decoding")
    assert tuple(decoding.type.choices) == DECODINGS and decoding.default == "fast"
