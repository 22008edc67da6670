"""``hipart train hiarm``: fit the autoregressive densifier on MSST tokens of a built dataset.

The frozen MSST turns every clean fine pose into token indices once; they are cached beside the checkpoint
(``tokens_{split}.pt``, keyed by the MSST checkpoint's and the dataset manifest's sha256). The condition is the
sparse 2D pose, optionally corrupted by the keypoint occlusion model (``hiarm.occlusion_augment``).
Run folder: ``checkpoint.pt``, ``config.yaml``, ``metrics.csv``, ``summary.json``, the token caches.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from hipart import __version__
from hipart.occlusion import OcclusionModel
from hipart.config import Config
from hipart.data.build import MANIFEST
from hipart.data.dataset import PoseDataset
from hipart.data.shards import file_sha256
from hipart.errors import HipartError
from hipart.io import atomic_path, write_json_atomic
from hipart.models.hiarm import HiARM, hiarm_loss
from hipart.models.msst import MSST, PoseNormalizer
from hipart.training.engine import (Runtime, Stage, check_run_folder, fit, load_checkpoint, resume_state, seed_all,
                                    start_runtime, stop_runtime, warmup_cosine)
from hipart.training.msst import PoseTensors, complexity, load_msst, load_pose_tensors

KIND = "hiarm"
CHECKPOINT = "checkpoint.pt"


@torch.no_grad()
def cached_tokens(msst: MSST, msst_path: Path, data_dir: Path, split: str, data: PoseTensors, out: Path,
                  device: torch.device, batch_size: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """Token indices (N, 17), (N, 17, r) of the clean fine poses, from the cache when it matches."""
    key = f"{file_sha256(msst_path)}:{file_sha256(data_dir / MANIFEST)}:{len(data)}"
    path = out / f"tokens_{split}.pt"
    if path.is_file():
        cached = torch.load(path, weights_only=True)
        if cached.get("key") == key:
            return cached["q_s"], cached["q_d"]
    msst = msst.to(device).eval()
    q_s, q_d = [], []
    for start in range(0, len(data), batch_size):
        s, d = msst.tokenize(data.x_f[start:start + batch_size].to(device))
        q_s.append(s.cpu())
        q_d.append(d.cpu())
    q_s, q_d = torch.cat(q_s), torch.cat(q_d).reshape(len(data), 17, msst.cfg.tokens_per_part)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"key": key, "q_s": q_s, "q_d": q_d}, tmp)
    return q_s, q_d


def observed_condition(x_s: torch.Tensor, root: torch.Tensor, scale: torch.Tensor, rng: np.random.Generator,
                       model: OcclusionModel) -> torch.Tensor:
    """Occlude the clean sparse pose in pixels, then normalise it by its own (observed) frame, as at test time."""
    px = PoseNormalizer.denormalize(x_s, root, scale).cpu().numpy()
    seen = torch.as_tensor(model.augment(px, rng), dtype=x_s.dtype)
    r, s = PoseNormalizer.frame(seen)
    return PoseNormalizer.normalize(seen, r, s).to(x_s.device)


@torch.no_grad()
def densify(hiarm: HiARM, msst: MSST, x_s_px: torch.Tensor, use_cache: bool = True, batch_size: int = 1024
            ) -> dict[str, torch.Tensor]:
    """Observed sparse 2D poses (N, 17, 2) px -> tokens and x̂_d (N, 48, 2), x̂_f (N, 96, 2) px."""
    hiarm.eval()
    msst.eval()
    dev = next(hiarm.parameters()).device
    outs: dict[str, list[torch.Tensor]] = {"q_s": [], "q_d": [], "x_d": [], "x_f": []}
    for start in range(0, len(x_s_px), batch_size):
        px = x_s_px[start:start + batch_size].to(dev, torch.float32)
        root, scale = PoseNormalizer.frame(px)
        q_s, q_d = hiarm.generate(PoseNormalizer.normalize(px, root, scale), use_cache)
        x_d, x_f = msst.decode(q_s, q_d.reshape(len(px), -1))
        for k, v in (("q_s", q_s), ("q_d", q_d), ("x_d", PoseNormalizer.denormalize(x_d, root, scale)),
                     ("x_f", PoseNormalizer.denormalize(x_f, root, scale))):
            outs[k].append(v.cpu())
    return {k: torch.cat(v) for k, v in outs.items()}


@torch.no_grad()
def evaluate_hiarm(hiarm: HiARM, msst: MSST, data: PoseTensors, q_s: torch.Tensor, q_d: torch.Tensor,
                   max_generate: int = 2000) -> dict[str, float]:
    """Greedy decoding from the clean sparse pose on (up to) ``max_generate`` frames: token accuracy and the 2D
    error (px) of the decoded dense and fine levels; plus teacher-forced accuracy on every frame."""
    was = hiarm.training
    hiarm.eval()
    n = min(len(data), max_generate)
    pick = torch.as_tensor(np.linspace(0, len(data) - 1, n).round().astype(int), device=data.x_s.device)
    den = PoseNormalizer.denormalize
    x_s_px = den(data.x_s[pick], data.root[pick], data.scale[pick])
    out = densify(hiarm, msst, x_s_px)
    dev = out["x_f"].device
    gt_d = den(data.x_d[pick], data.root[pick], data.scale[pick]).to(dev)
    gt_f = den(data.x_f[pick], data.root[pick], data.scale[pick]).to(dev)
    result = {"acc_s": (out["q_s"] == q_s[pick].to(dev)).float().mean().item(),
              "acc_d": (out["q_d"] == q_d[pick].to(dev)).float().mean().item(),
              "x_d_px": (out["x_d"] - gt_d).norm(dim=-1).mean().item(),
              "x_f_px": (out["x_f"] - gt_f).norm(dim=-1).mean().item(), "frames": n}
    hiarm.train(was)
    return result


def decoding_speed(hiarm: HiARM, batch: int = 256, repeats: int = 3) -> dict[str, float]:
    """Frames per second of greedy decoding with and without the key/value cache (median of repeats)."""
    dev = next(hiarm.parameters()).device
    x = torch.randn(batch, 17, 2, device=dev)
    result = {}
    for use_cache in (True, False):
        hiarm.generate(x, use_cache)  # warm-up
        times = []
        for _ in range(repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            hiarm.generate(x, use_cache)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        result["fps_cached" if use_cache else "fps_uncached"] = batch / float(np.median(times))
    return result


def load_hiarm(path: str | Path) -> tuple[HiARM, dict[str, Any]]:
    ckpt = load_checkpoint(path, KIND)
    model = HiARM.from_args(ckpt["model_args"])
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def train_hiarm(cfg: Config, data_dir: str | Path, msst_path: str | Path, out_dir: str | Path, resume: bool = False,
                force: bool = False, progress: bool = True, log: Callable[[str], None] = print,
                max_test: int | None = 20000) -> dict[str, Any]:
    out = Path(out_dir)
    check_run_folder(out, resume, force)
    rt = start_runtime(cfg.device)
    try:
        return _train(cfg, Path(data_dir), Path(msst_path), out, resume and (out / CHECKPOINT).exists(), progress,
                      log, rt, max_test)
    finally:
        stop_runtime(rt)


def _train(cfg: Config, data_dir: Path, msst_path: Path, out: Path, resume: bool, progress: bool,
           log: Callable[[str], None], rt: Runtime, max_test: int | None) -> dict[str, Any]:
    h = cfg.hiarm
    train_ds = PoseDataset(data_dir, "train", fields=("x_s",), verify=rt.is_main)
    msst, msst_ckpt = load_msst(msst_path)
    if msst_ckpt["hierarchy_hash"] != train_ds.hierarchy_hash:
        raise HipartError(f"{msst_path} was trained with another hierarchy than {data_dir}; train MSST on this "
                          "dataset first")
    for p in msst.parameters():
        p.requires_grad_(False)
    seed_all(cfg.seed)
    model = HiARM(h, msst.cfg.tokens_per_part, msst.cfg.codebook_size_sparse, msst.cfg.codebook_size_dense)
    ckpt, finished = resume_state(out, KIND, model, train_ds.hierarchy_hash, cfg.name, resume, log)
    if finished is not None:
        return finished
    train = load_pose_tensors(data_dir, "train")
    test = load_pose_tensors(data_dir, "test", max_items=max_test)
    if rt.is_main:
        out.mkdir(parents=True, exist_ok=True)
    tokens = {split: cached_tokens(msst, msst_path, data_dir, split, data, out, rt.device)
              for split, data in (("train", train), ("test", test))}
    model.to(rt.device)
    msst.to(rt.device)
    train, test = train.to(rt.device), test.to(rt.device)
    q_s, q_d = (t.to(rt.device) for t in tokens["train"])
    tq_s, tq_d = (t.to(rt.device) for t in tokens["test"])
    if rt.is_main:
        cfg.save(out / "config.yaml")
        log(f"HiARM: {len(train)} train / {len(test)} test frames, device {rt.device}, part order {h.part_order}"
            + (", occlusion augmentation on" if h.occlusion_augment else "")
            + (f"; resuming after epoch {ckpt['epoch']}" if ckpt else ""))
    occlusion = OcclusionModel()

    def step(net: torch.nn.Module, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        cond = train.x_s[idx]
        if h.occlusion_augment:  # numpy draws follow the per-epoch torch seed, so resume stays exact
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,))))
            cond = observed_condition(cond, train.root[idx], train.scale[idx], rng, occlusion)
        logits_s, logits_d = net(cond, q_s[idx], q_d[idx])
        return hiarm_loss(logits_s, logits_d, q_s[idx], q_d[idx], model.order, h.lambda_dense)

    stage = Stage(
        KIND, model, len(train), h.epochs, h.batch_size, cfg.seed, step,
        lambda core: evaluate_hiarm(core, msst, test, tq_s, tq_d, max_generate=2000),
        lambda row: (f"loss {row['loss']:.4f}, train acc {row['acc_s']:.3f}/{row['acc_d']:.3f}, test greedy acc "
                     f"{row['test_acc_s']:.3f}/{row['test_acc_d']:.3f}, x_d {row['test_x_d_px']:.2f} px, "
                     f"x_f {row['test_x_f_px']:.2f} px"),
        lambda: {"model_args": model.model_args(), "config": cfg.to_dict(), "msst_sha256": file_sha256(msst_path),
                 "normalisation": PoseNormalizer.describe(), "hierarchy_hash": train_ds.hierarchy_hash,
                 "hipart_version": __version__})
    state = fit(stage, rt, out, h.lr, h.weight_decay,
                lambda opt, per_epoch: warmup_cosine(opt, 0, per_epoch * h.epochs), ckpt, progress, log)
    if not rt.is_main:
        return {}
    summary = {"stage": KIND, "config": cfg.name, "epochs": h.epochs, "steps": state["step"],
               "world_size": rt.world_size, "device": str(rt.device),
               "test": evaluate_hiarm(model, msst, test, tq_s, tq_d, max_generate=len(test)),
               "decoding": decoding_speed(model), "complexity": _complexity(model),
               "msst_complexity": complexity(msst.cpu()), "hierarchy_hash": train_ds.hierarchy_hash,
               "data": str(data_dir), "hipart_version": __version__}
    write_json_atomic(out / "summary.json", summary)
    return summary


def _complexity(model: HiARM) -> dict[str, float]:
    from hipart.models.complexity import count_params_flops

    dev = next(model.parameters()).device
    x = torch.zeros(1, 17, 2, device=dev)
    q_s = torch.zeros(1, 17, dtype=torch.long, device=dev)
    q_d = torch.zeros(1, 17, model.r, dtype=torch.long, device=dev)
    return count_params_flops(model, (x, q_s, q_d))
