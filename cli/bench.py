"""`hipart bench ...` and `hipart report`: parse arguments, call hipart.bench."""

from __future__ import annotations

from pathlib import Path

import click

from hipart.runs import DEMO_RUN
from hipart_cli.common import HipartGroup


@click.group(cls=HipartGroup)
def bench() -> None:
    """Benchmarks on a trained run: occlusion, speed, ablation, densification, the levels probe, codebooks,
    qualitative figures, and 3DPW (bench 3dpw --root, not part of bench all: it needs the licensed data).

    Each writes CSV + Markdown tables, PNG plots and meta.json (config, dataset hash, git revision) into
    RESULTS/<name>/ (default RESULTS: <run>/results); 'hipart report RESULTS' gathers them.
    """


def run_options(fn):
    for opt in reversed([
        click.option("--run", type=click.Path(path_type=Path), default=DEMO_RUN, show_default=True,
                     help="Run folder from 'hipart train all' (or 'hipart demo')."),
        click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
                     help="The run's dataset. Default: the one its stages record."),
        click.option("--out", type=click.Path(path_type=Path), default=None,
                     help="Results folder. Default: <run>/results."),
        click.option("--device", default="auto", show_default=True, help="auto (cuda when present), cpu, cuda:N."),
    ]):
        fn = opt(fn)
    return fn


def _open(run: Path, data_dir: Path | None, out: Path | None, device: str):
    from hipart.bench.common import BenchRun
    from hipart.device import pick_device

    bench_run = BenchRun.open(run, data_dir)
    return bench_run, (out if out is not None else bench_run.layout.results), pick_device(device)


def _done(results) -> None:
    click.echo(f"wrote {', '.join(results.files)} in {results.folder}")
    for name in results.files:
        if name.endswith(".md") and not name.startswith("paper"):
            click.echo((results.folder / name).read_text())


@bench.command("occlusion")
@run_options
@click.option("--mask", "masks", type=float, multiple=True,
              help="Mask ratio r: random square patches cover r of the person box. Repeatable.")
@click.option("--crop", "crops", type=float, multiple=True,
              help="Crop ratio c: a band of c of the box cut from a side drawn per frame. Repeatable.")
@click.option("--level", type=click.Choice(["auto", "image", "keypoint"]), default="auto", show_default=True,
              help="image: occlude the rendered test images and detect (the paper's protocol); keypoint: occlude the "
                   "true 2D poses and give hidden joints a detector's errors. auto: image when the dataset has renders, "
                   "the detector is installed and its adapter fitted.")
@click.option("--frames", type=int, default=1000, show_default=True,
              help="Image level: test frames used (whole sequences, evenly spread); 0 = every rendered test frame.")
@click.option("--compare", type=click.Path(path_type=Path), default=None,
              help="Another run whose methods read the same inputs (e.g. trained on true keypoints when --run was "
                   "trained on detections).")
@click.option("--seed", type=int, default=0, show_default=True, help="Occluder seed (same inputs for every method).")
@click.option("--keypoint-model", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Keypoint level: the hidden-joint model (keypoint_model.json written by an image-level run). "
                   "Default: the one fitted on the default data, shipped with hipart.")
@click.option("--error-scale", type=float, default=None,
              help="Keypoint level: displace every hidden joint by this std in box diagonals instead (single scale).")
@click.option("--detections", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Keypoint level: fit the single scale to real detections, a VideoPose3D 2D archive (e.g. "
                   "data_2d_h36m_cpn_ft_h36m_dbb.npz); needs --truth.")
@click.option("--truth", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="VideoPose3D ground-truth 2D archive (data_2d_h36m_gt.npz) matching --detections.")
def occlusion(run: Path, data_dir: Path | None, out: Path | None, device: str, masks: tuple[float, ...],
              crops: tuple[float, ...], level: str, frames: int, compare: Path | None, seed: int,
              keypoint_model: Path | None, error_scale: float | None, detections: Path | None,
              truth: Path | None) -> None:
    """MPJPE of every method under occlusion (Table 1). No --mask / --crop: both default sweeps (mask 0.2 0.4 0.6
    0.8, crop 0 0.1 0.2 0.3 0.4 0.5)."""
    from hipart.bench.occlusion import run_occlusion
    from hipart.data.videopose3d import paired_detections
    from hipart.errors import HipartError
    from hipart.occlusion import OcclusionModel, calibrate_error_scale
    from hipart.runs import read_json

    if (detections is None) != (truth is None):
        raise HipartError("--detections and --truth go together: the error model is fitted to their difference")
    if sum(x is not None for x in (keypoint_model, error_scale, detections)) > 1:
        raise HipartError("give at most one of --keypoint-model, --error-scale and --detections/--truth")
    model = None
    if keypoint_model is not None:
        model = OcclusionModel.from_dict(read_json(keypoint_model, "write one with 'hipart bench occlusion --level "
                                                                   "image'"))
    elif error_scale is not None:
        model = OcclusionModel.uniform(error_scale)
    elif detections is not None:
        fit = calibrate_error_scale(*paired_detections(str(detections), str(truth)))
        click.echo(f"calibrated: {fit['failed_fraction']:.1%} of detections failed; error scale "
                   f"{fit['error_scale']:.3f} box diagonals")
        model = OcclusionModel.uniform(fit["error_scale"])
    bench_run, out, dev = _open(run, data_dir, out, device)
    _done(run_occlusion(bench_run, out, masks, crops, seed, level, frames or None, model, compare, dev, click.echo))


@bench.command("speed")
@run_options
@click.option("--batch", "batches", type=int, multiple=True, help="Frames per forward pass (default 1 and 256).")
@click.option("--frames", "frames", type=int, multiple=True, help="Temporal lengths f (default 1, 81, 243).")
@click.option("--repeats", type=int, default=5, show_default=True,
              help="Timed rounds. In each round every entry, in turn, runs back to back for at least 50 ms and its "
                   "time is the mean per call; FPS is the median over the rounds.")
@click.option("--warmup", type=int, default=2, show_default=True,
              help="Runs per entry and batch before the rounds; the first is timed alone ('first call s', it "
                   "compiles), the others are not timed.")
@click.option("--compile/--no-compile", "compile_", default=None,
              help="Compile HiPART's fast decoding (torch.compile; a failure is an error) or not. Default: try, "
                   "and fall back to eager decoding with a warning if compiling fails.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True,
              help="HiARM's fast decoding in this precision (autocast; fp16 on CUDA only); the table reports its "
                   "token agreement and x_f difference with eager fp32.")
@click.option("--peak-size", type=int, default=2048, show_default=True,
              help="Size of the square fp32 matmul timed as the device's peak.")
@click.option("--no-profile", is_flag=True, help="Skip the profile of HiARM's fast decoding (top ops).")
@click.option("--threads", type=int, default=None, help="CPU threads torch uses (default: torch's default).")
def speed(run: Path, data_dir: Path | None, out: Path | None, device: str, batches: tuple[int, ...],
          frames: tuple[int, ...], repeats: int, warmup: int, compile_: bool | None, precision: str, peak_size: int,
          no_profile: bool, threads: int | None) -> None:
    """Frames per second, FLOPs per frame and share of the device's matmul peak of HiPART (fast, eager with and
    without the key/value cache), HiARM's decoding alone, the sparse lifter, the diffusion baseline and MixSTE-style
    lifters, on one device in one process (Tables 2, 4), with the ratios between them."""
    from hipart.bench.speed import run_speed
    from hipart.errors import HipartError

    if any(v < 1 for v in (*batches, *frames, repeats, warmup, peak_size, *([] if threads is None else [threads]))):
        raise HipartError("--batch, --frames, --repeats, --warmup, --peak-size and --threads must be positive")
    bench_run, out, dev = _open(run, data_dir, out, device)
    _done(run_speed(bench_run, out, batches or (1, 256), frames or (1, 81, 243), repeats, dev, click.echo,
                    compile="auto" if compile_ is None else compile_, precision=precision, warmup=warmup,
                    peak_size=peak_size, profile_ops=not no_profile, threads=threads))


@bench.command("ablation")
@click.option("--config", "config", default="demo", show_default=True,
              help="Preset (tiny, demo, bench, paper, pretrained) or YAML file whose architecture the parameter / FLOP counts "
                   "use; Table 3's counts: --config paper.")
@click.option("--train-config", default="demo", show_default=True,
              help="Preset (tiny, demo, bench, paper, pretrained) or YAML file each setting is trained with for its MPJPE.")
@click.option("--no-train", is_flag=True, help="Parameters and FLOPs only.")
@click.option("--data", "data_dir", type=click.Path(path_type=Path), default=None,
              help="Dataset for training. Default: data/<source>-<train config>.")
@click.option("--out", type=click.Path(path_type=Path), default=DEMO_RUN / "results", show_default=True,
              help="Results folder.")
@click.option("--setting", "grid", multiple=True, help="L1,L2,D1,D2 to run instead of Table 3's grid (repeatable); "
              "with it the order / projection variants are left out.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def ablation(config: str, train_config: str, no_train: bool, data_dir: Path | None, out: Path, grid: tuple[str, ...],
             quiet: bool) -> None:
    """L1/L2/D1/D2 grid of Table 3 plus part order and token projection: parameters, FLOPs per frame, and
    MPJPE from training every setting (resumable; --no-train to skip)."""
    from hipart.bench.ablation import GRID, parse_setting, run_ablation

    parsed = tuple(parse_setting(g) for g in grid)
    _done(run_ablation(out, config, train_config, not no_train, data_dir, variants=not parsed, grid=parsed or GRID,
                       progress=not quiet, log=click.echo))


@bench.command("densify")
@run_options
def densify(run: Path, data_dir: Path | None, out: Path | None, device: str) -> None:
    """Dense / fine 2D error per action from the true sparse pose for HiPART and the densification baselines, the
    hier lifter fed each, and the toy experiment (Fig. 4)."""
    from hipart.bench.densify import run_densify

    bench_run, out, dev = _open(run, data_dir, out, device)
    _done(run_densify(bench_run, out, dev, click.echo))


@bench.command("probe")
@run_options
@click.option("--components", type=int, default=64, show_default=True,
              help="Principal components whose pairwise products are the quadratic features.")
@click.option("--max-frames", type=int, default=60000, show_default=True,
              help="Training frames the ridge regressions are fitted on (evenly spaced); 0 = all.")
@click.option("--hipart-levels", is_flag=True,
              help="Also probe the true sparse pose with the run's HiARM + MSST levels, made as its hier lifter "
                   "gets them (densifies both splits once; cached beside the hier lifter).")
def probe(run: Path, data_dir: Path | None, out: Path | None, device: str, components: int,
          max_frames: int, hipart_levels: bool) -> None:
    """The levels probe: closed-form ridge regressions (linear and quadratic features) from the sparse, sparse +
    dense and all 2D levels to the 3D pose, in seconds on a CPU, beside the run's trained lifters. Shows how much
    the dense and fine levels can add before any lifter is trained. Runs on a dataset alone: --data DIR with no
    trained run (results then go to DIR/results unless --out)."""
    from hipart.bench.common import BenchRun
    from hipart.bench.probe import run_probe
    from hipart.device import pick_device
    from hipart.errors import HipartError
    from hipart.runs import RunLayout

    if components < 1 or max_frames < 0:
        raise HipartError("--components must be positive and --max-frames at least 0")
    bench_run = None
    if data_dir is None or RunLayout(run).config_file() is not None:
        bench_run = BenchRun.open(run, data_dir)
        data_dir = bench_run.data_dir
    results = out if out is not None else (bench_run.layout.results if bench_run is not None else data_dir / "results")
    _done(run_probe(data_dir, results, bench_run, components, max_frames or None, hipart_levels, pick_device(device),
                    click.echo))


@bench.command("codebook")
@run_options
@click.option("--codes", type=int, default=100, show_default=True, help="Random codes per similarity matrix.")
@click.option("--seed", type=int, default=0, show_default=True)
def codebook(run: Path, data_dir: Path | None, out: Path | None, device: str, codes: int, seed: int) -> None:
    """Cosine similarity within and across the sparse and dense codebooks, usage and perplexity (Fig. 6)."""
    from hipart.bench.codebook import run_codebook

    bench_run, out, dev = _open(run, data_dir, out, device)
    _done(run_codebook(bench_run, out, codes, seed, dev, click.echo))


@bench.command("qualitative")
@run_options
@click.option("--frame", "frames", type=int, multiple=True, help="Test frame index (repeatable). Default: 4 spread.")
@click.option("--kind", type=click.Choice(["crop", "mask"]), default="crop", show_default=True)
@click.option("--ratio", type=float, default=0.3, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def qualitative(run: Path, data_dir: Path | None, out: Path | None, device: str, frames: tuple[int, ...], kind: str,
                ratio: float, seed: int) -> None:
    """Occluded input, hierarchical 2D and 3D predictions (HiPART, diffusion baseline) for chosen frames (Figs. 7-8)."""
    from hipart.bench.qualitative import run_qualitative

    bench_run, out, dev = _open(run, data_dir, out, device)
    _done(run_qualitative(bench_run, out, frames, kind=kind, ratio=ratio, seed=seed, device=dev, log=click.echo))


@bench.command("3dpw")
@run_options
@click.option("--root", type=click.Path(path_type=Path), default=Path("3DPW"), show_default=True,
              help="3DPW folder holding sequenceFiles/{train,validation,test}/ and imageFiles/<sequence>/.")
@click.option("--smpl-dir", type=click.Path(path_type=Path), default=None,
              help="Folder with the female and male SMPL pickles (basicModel_f_lbs_10_207_0_v1.0.0.pkl, "
                   "basicModel_m_lbs_10_207_0_v1.0.0.pkl or SMPL_FEMALE.pkl / SMPL_MALE.pkl), searched recursively. "
                   "Default: --root.")
@click.option("--regressor", type=click.Path(path_type=Path), default=None,
              help="Pose2Mesh's J_regressor_h36m_correct.npy (17 x 6890). Default: searched below --smpl-dir.")
@click.option("--occ-list", type=click.Path(path_type=Path), default=None,
              help="Text file of 3DPW-OCC sequence names (one per line; 'courtyard_backpack' selects all its takes), "
                   "looked up in every split: adds the OCC columns and tables.")
@click.option("--twod", type=click.Choice(["auto", "detector", "pickle", "gt"]), default="auto", show_default=True,
              help="The 2D input: BlazePose on the images (detector), the pickles' COCO-18 2D (pickle), or the "
                   "ground truth's projection (gt, an upper bound). auto: detector when mediapipe is installed.")
@click.option("--adapter", type=click.Path(path_type=Path), default=None,
              help="Joint adapter for the detector. Default: <dataset>/detections/blazepose/adapter.npz if the run's "
                   "dataset has one, else the packaged adapter (fitted on the default data's renders).")
@click.option("--normalize", type=click.Choice(["box", "image"]), default="box", show_default=True,
              help="box: move and scale each 2D pose to the training split's median person box and image size "
                   "(3DPW's phone videos frame people unlike Human3.6M); image: 3DPW's pixels as they are.")
@click.option("--frames", "max_frames", type=int, default=None,
              help="Only the first N frames of each sequence (a quick look). Default: all.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def pw3d(run: Path, data_dir: Path | None, out: Path | None, device: str, root: Path, smpl_dir: Path | None,
         regressor: Path | None, occ_list: Path | None, twod: str, adapter: Path | None, normalize: str,
         max_frames: int | None, quiet: bool) -> None:
    """MPJPE and PA-MPJPE (mm, 14 joints) of every method on 3DPW's test sequences, per sequence, and on 3DPW-OCC
    with --occ-list. Ground truth as Pose2Mesh: gender-specific SMPL in camera space, H36M joints regressed from the
    mesh, campose_valid frames only. Detections are cached in RESULTS/3dpw/detections (an interrupted run resumes)."""
    from hipart.bench.pw3d import resolve_twod, run_3dpw
    from hipart.detect.packaged import choose_adapter

    bench_run, out, dev = _open(run, data_dir, out, device)
    said: list[str] = []
    if resolve_twod(twod) == "detector":
        if adapter is None:  # the dataset's own adapter, else the packaged one
            choice = choose_adapter(None, bench_run.data_dir)
            adapter, said = choice.path, [choice.describe()]
        else:
            said = [f"joint adapter: {adapter} (given with --adapter)"]

    def log(line: str) -> None:
        """run_3dpw's lines, after the adapter's once run_3dpw has checked its arguments (an error stays one line)."""
        while said:
            click.echo(said.pop())
        click.echo(line)

    _done(run_3dpw(bench_run, root, out, smpl_dir, regressor, occ_list, twod, adapter, normalize, max_frames, dev,
                   not quiet, log))


@bench.command("all")
@run_options
@click.option("--train-ablation", is_flag=True, help="Also train every ablation setting (long); default: counts only.")
@click.option("--quick", is_flag=True, help="A smoke run: occlusion at mask 0.4 and crop 0.3 only, speed at batch 1 "
              "and 16 with f = 1 and 9, 2 repeats, two ablation settings.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def all_(run: Path, data_dir: Path | None, out: Path | None, device: str, train_ablation: bool, quick: bool,
         quiet: bool) -> None:
    """Every benchmark with its defaults on one run, then the report."""
    from hipart.bench.suite import SuiteSettings, run_all

    bench_run, out, dev = _open(run, data_dir, out, device)
    md, page = run_all(bench_run, out, dev, SuiteSettings.quick() if quick else SuiteSettings(), train_ablation,
                       not quiet, click.echo)
    click.echo(f"report: {md} and {page}")


@click.command("report")
@click.argument("results", type=click.Path(path_type=Path), default=DEMO_RUN / "results")
def report(results: Path) -> None:
    """Gather every benchmark in RESULTS (default runs/demo/results) into report.md and report.html."""
    from hipart.bench.report import build_report

    md, page = build_report(results)
    click.echo(f"wrote {md} and {page}")
