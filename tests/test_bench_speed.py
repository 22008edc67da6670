"""The speed table's arithmetic (hipart.bench.speed): FLOPs counted per frame, achieved GFLOP/s = FLOPs x frames/s,
% of the matmul peak measured in the same rounds, one row per method and batch, paired ratios, the profile."""

from __future__ import annotations

import pytest
import torch

from hipart.bench import speed
from hipart.bench.speed import (Entry, flops_per_frame, paired_ratio, per_frame, profile_top_ops, speed_table,
                                time_rounds)
from hipart.errors import HipartError
from hipart_cli.bench import speed as speed_command


def linear_entry(label: str, width: int = 8) -> Entry:
    torch.manual_seed(0)
    layer = torch.nn.Linear(34, width)
    return Entry(label, per_frame(lambda x: layer(x.reshape(len(x), -1))), 1, None, (layer,))


def test_each_round_times_the_mean_of_back_to_back_calls_lasting_round_seconds(monkeypatch):
    ticks = iter(range(10_000))  # a clock that advances 10 ms each time it is read
    monkeypatch.setattr(speed, "perf_counter", lambda: next(ticks) / 100)
    counts = {"short": 0, "long": 0}

    def short() -> None:
        counts["short"] += 1

    def long() -> None:  # reads the clock 9 times: a 90-ms call
        counts["long"] += 1
        for _ in range(9):
            speed.perf_counter()

    first, times = time_rounds({"short": short, "long": long}, repeats=2, warmup=2, device=torch.device("cpu"),
                               log=lambda m: None, round_seconds=0.045)
    assert first == {"short": pytest.approx(0.01), "long": pytest.approx(0.1)}  # one call each, untimed warm-up
    assert times == {"short": [pytest.approx(0.01)] * 2, "long": [pytest.approx(0.1)] * 2}
    # short: 1 + 1 warm-up, then 5 calls (50 ms >= 45) per round; long: 1 + 1, then 1 per round
    assert counts == {"short": 2 + 2 * 5, "long": 2 + 2 * 1}


def test_a_linear_model_reaches_flops_times_frames_per_second():
    entries = [linear_entry("linear 8"), linear_entry("linear 16", 16)]
    x = torch.randn(4, 17, 2)
    table, timing = speed_table(entries, x, (1, 4), repeats=3, device=torch.device("cpu"), warmup=1, peak_size=64,
                                log=lambda m: None)
    assert list(zip(table.index, table["batch"])) == [("linear 8", 1), ("linear 8", 4), ("linear 16", 1),
                                                      ("linear 16", 4)]  # one row per method and batch
    assert table.loc["linear 8", "FLOPs/frame (M)"].tolist() == [2 * 34 * 8 / 1e6] * 2  # 2 x in x out, counted
    assert table.loc["linear 16", "params"].tolist() == [34 * 16 + 16] * 2
    for _, row in table.iterrows():
        assert row["GFLOP/s"] == pytest.approx(row["FLOPs/frame (M)"] * 1e6 * row["FPS"] / 1e9, rel=1e-12)
        assert row["% of peak"] == pytest.approx(row["GFLOP/s"] / timing["peak"] * 100, rel=1e-12)
    assert len(timing["fps"][("linear 8", 4)]) == 3
    with pytest.raises(HipartError, match="duplicate methods"):
        speed_table([linear_entry("a"), linear_entry("a")], x, (1,), 1, torch.device("cpu"), peak_size=8)
    with pytest.raises(HipartError, match="8 frames needed"):
        speed_table([linear_entry("a")], x, (8,), 1, torch.device("cpu"), peak_size=8)


def test_frames_per_second_spread_peak_and_ratios_of_a_hand_made_timing_table(monkeypatch):
    # seconds per call in three rounds: a batch of 4 frames, its FPS per round 40, 20, 10 ("a") and 20, 20, 4 ("b");
    # the 64^2 matmul (2 x 64^3 FLOPs) at 1, 2 and 4 ms
    rounds = {("a", 4): [0.1, 0.2, 0.4], ("b", 4): [0.2, 0.2, 1.0], "peak": [1e-3, 2e-3, 4e-3]}
    firsts = {("a", 4): 0.5, ("b", 4): 0.25, "peak": 0.1}
    monkeypatch.setattr(speed, "time_rounds", lambda calls, *args, **kw: ({k: firsts[k] for k in calls},
                                                                          {k: rounds[k] for k in calls}))
    table, timing = speed_table([linear_entry("a"), linear_entry("b")], torch.randn(4, 17, 2), (4,), repeats=3,
                                device=torch.device("cpu"), peak_size=64, log=lambda m: None)
    assert table.loc["a", "FPS"] == 20.0 and table.loc["b", "FPS"] == 20.0  # medians over the rounds
    assert table.loc["a", "spread %"] == pytest.approx(150.0) and table.loc["b", "spread %"] == pytest.approx(80.0)
    assert table.loc["a", "first call s"] == 0.5
    peak = 2 * 64 ** 3 / 2e-3 / 1e9  # GFLOP/s of the median round
    assert timing["peak"] == pytest.approx(peak)
    assert timing["peak_range"] == (pytest.approx(peak / 2), pytest.approx(peak * 2))
    assert table.loc["a", "% of peak"] == pytest.approx(2 * 34 * 8 * 20 / 1e9 / peak * 100)
    # per-round ratios a / b: 2, 1, 2.5 -> median 2 (the ratio of the median FPS would say 1)
    assert paired_ratio(timing["fps"], "a", "b", 4) == (pytest.approx(2.0), pytest.approx(1.0), pytest.approx(2.5))
    assert paired_ratio(timing["fps"], "b", "a", 4) == (pytest.approx(0.5), pytest.approx(0.4), pytest.approx(1.0))


def test_repeats_help_states_the_round_time_the_bench_uses():
    repeats = next(p for p in speed_command.params if p.name == "repeats")
    assert f"{speed.ROUND_SECONDS * 1000:g} ms" in repeats.help


def test_temporal_entries_time_whole_windows_and_count_per_frame():
    layer = torch.nn.Linear(34, 3)
    entry = Entry("windows of 3", lambda w: (lambda x: layer(x[:w * 3].reshape(w * 3, -1))), 3, None, (layer,))
    table, _ = speed_table([entry], torch.randn(6, 17, 2), (1, 4), 1, torch.device("cpu"), warmup=1, peak_size=8,
                           log=lambda m: None)
    assert table["frames per pass"].tolist() == [3, 6]  # ceil(batch / 3) windows of 3 frames
    assert flops_per_frame(entry.make(1), torch.zeros(3, 17, 2), (layer,)) == 2 * 34 * 3


def test_profile_names_the_ops_that_take_the_time():
    a = torch.randn(256, 256)
    top = profile_top_ops(lambda: a @ a, runs=2, rows=3)
    assert top.loc["aten::mm", "calls per call"] == 1.0 and len(top) <= 3
    assert top["% of self time"].sum() <= 100.0 + 1e-9
