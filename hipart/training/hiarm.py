"""``hipart train hiarm``: fit the autoregressive densifier on MSST tokens of a built dataset.

The frozen MSST turns every clean fine pose (normalized by the observed sparse pose's frame) into token indices
once; they are cached beside the checkpoint (``tokens_{split}.pt``, keyed by the MSST checkpoint's sha256 and what
the observed pose is). The condition is the observed sparse 2D pose (the true one, or a detector's with
``keypoints: detected``), optionally corrupted by the keypoint occlusion model (``hiarm.occlusion_augment``).
Stage folder (layout in :mod:`hipart.runs`): checkpoint, config, metrics, summary, and the token caches. A cache
that fails to load is recomputed (and said so). The tokens depend on the clean fine poses and the observed pose's
frame only, never on the confidence, so their key leaves it out.

A HiARM built with ``hiarm.confidence`` reads the observed pose's per-joint confidence c beside it
(``SplitFrames.confidence``): the detector's for ``keypoints: detected``, and with true keypoints 1 everywhere,
so that without occlusion augmentation such a model sees c = 1 in every training frame. The occlusion augmentation
(:func:`observed_condition`) gives c as the keypoint occlusion model says a detector would
(``hipart.occlusion.OcclusionModel.observe``): hidden joints a draw from the detector's scores on hidden joints, 0
beyond a crop's cut; visible joints keep a detector's own score, and true keypoints' visible joints get a draw from
the detector's scores on visible joints. No frame is lost: a test frame without a detection is held from a
neighbour with the neighbour's confidence, which a batch of single frames cannot imitate.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from hipart import __version__
from hipart.config import Config
from hipart.data.build import MANIFEST
from hipart.data.dataset import PoseDataset
from hipart.errors import HipartError
from hipart.io import atomic_path, file_sha256, write_json_atomic
from hipart.models.complexity import count_params_flops
from hipart.models.hiarm import KIND, HiARM, hiarm_loss
from hipart.models.hipart import HiPART
from hipart.models.msst import MSST, PoseNormalizer
from hipart.occlusion import OcclusionModel
from hipart.runs import StageDir
from hipart.skeleton import H36M
from hipart.training.engine import Runtime, Stage, fit, provenance, resume_state, run_stage, seed_all, warmup_cosine
from hipart.training.msst import PoseTensors, complexity, evenly_spaced, load_pose_tensors


@torch.no_grad()
def load_cache(path: Path, key: str, fields: tuple[str, ...], log: Callable[[str], None] = print
               ) -> dict[str, torch.Tensor] | None:
    """A cache file's tensors when it exists, loads and was made for ``key``; None otherwise (recompute it). A cache
    that does not load (truncated, corrupt, foreign) is reported and recomputed, never trusted."""
    if not path.is_file():
        return None
    try:
        cached = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(cached, dict) and cached.get("key") == key and all(
                isinstance(cached.get(f), torch.Tensor) for f in fields):
            return {f: cached[f] for f in fields}
    except Exception as exc:  # torch raises many types for truncated or foreign files
        log(f"{path}: unreadable cache ({type(exc).__name__}); recomputing it")
    return None


def cached_tokens(msst: MSST, msst_path: Path, split: str, data: PoseTensors, out: StageDir, device: torch.device,
                  batch_size: int = 2048, log: Callable[[str], None] = print) -> tuple[torch.Tensor, torch.Tensor]:
    """Token indices (N, 17), (N, 17, r) of the clean fine poses, from the cache when it matches (never cached when
    ``data.source`` is empty: inputs made on the fly)."""
    key = f"{file_sha256(msst_path)}:{data.source}:{len(data)}"
    path = out.file(f"tokens_{split}_{data.source.split(':')[0]}.pt")
    cached = load_cache(path, key, ("q_s", "q_d"), log) if data.source else None
    if cached is not None and len(cached["q_s"]) == len(data):
        return cached["q_s"], cached["q_d"]
    msst = msst.to(device).eval()
    q_s, q_d = [], []
    for start in range(0, len(data), batch_size):
        s, d = msst.tokenize(data.x_f[start:start + batch_size].to(device))
        q_s.append(s.cpu())
        q_d.append(d.cpu())
    q_s, q_d = torch.cat(q_s), torch.cat(q_d).reshape(len(data), H36M.num_joints, msst.cfg.tokens_per_part)
    if data.source:
        with atomic_path(path) as tmp:
            torch.save({"key": key, "q_s": q_s, "q_d": q_d}, tmp)
    return q_s, q_d


def observed_condition(x_s: torch.Tensor, root: torch.Tensor, scale: torch.Tensor, c: torch.Tensor,
                       rng: np.random.Generator, model: OcclusionModel, detected: bool = False
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Occlude the clean sparse pose x_s (B, 17, 2) normalized by (root, scale) in pixels, then normalize it by its
    own (observed) frame, as at test time -> the occluded x_s (B, 17, 2) and its confidence (B, 17) as ``model``
    says a detector reports it (module docstring): ``detected`` keeps ``c`` for the visible joints (a detector's own
    scores), otherwise they get drawn scores."""
    px = PoseNormalizer.denormalize(x_s, root, scale).cpu().numpy()
    seen = model.augment(px, rng, confidence=c.cpu().numpy() if detected else None, lose=False)
    x = torch.as_tensor(seen.x, dtype=x_s.dtype)
    r, s = PoseNormalizer.frame(x)
    return PoseNormalizer.normalize(x, r, s).to(x_s.device), torch.as_tensor(seen.confidence, device=c.device)


@torch.no_grad()
def evaluate_hiarm(hiarm: HiARM, msst: MSST, data: PoseTensors, q_s: torch.Tensor, q_d: torch.Tensor,
                   max_generate: int = 2000) -> dict[str, float]:
    """Greedy decoding from the clean sparse pose on (up to) ``max_generate`` frames: token accuracy and the 2D
    error (px) of the decoded dense and fine levels; plus teacher-forced accuracy on every frame."""
    was = hiarm.training
    keep = evenly_spaced(len(data), max_generate)
    pick = torch.as_tensor(np.arange(len(data)) if keep is None else keep, device=data.x_s.device)
    n = len(pick)
    den = PoseNormalizer.denormalize
    x_s_px = den(data.x_s[pick], data.root[pick], data.scale[pick])
    confidence = data.confidence[pick] if hiarm.cfg.confidence else None
    out = HiPART(msst, hiarm).densify(x_s_px, confidence=confidence)  # puts both in eval mode; restored below
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
    x = torch.randn(batch, H36M.num_joints, 2, device=dev)
    c = torch.ones(batch, H36M.num_joints, device=dev)  # read only by a HiARM with hiarm.confidence
    result = {}
    for use_cache in (True, False):
        hiarm.generate(x, use_cache, c=c)  # warm-up
        times = []
        for _ in range(repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            hiarm.generate(x, use_cache, c=c)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        result["fps_cached" if use_cache else "fps_uncached"] = batch / float(np.median(times))
    return result


def train_hiarm(cfg: Config, data_dir: str | Path, msst_path: str | Path, out_dir: str | Path, resume: bool = False,
                force: bool = False, progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train (or resume) HiARM on the tokens of the trained MSST at ``msst_path``; returns the summary."""
    out = StageDir(Path(out_dir))
    return run_stage(out, resume, force, cfg.device,
                     lambda rt, resuming: _train(cfg, Path(data_dir), Path(msst_path), out, resuming, progress, log,
                                                 rt))


def _train(cfg: Config, data_dir: Path, msst_path: Path, out: StageDir, resume: bool, progress: bool,
           log: Callable[[str], None], rt: Runtime) -> dict[str, Any]:
    h = cfg.hiarm
    train_ds = PoseDataset(data_dir, "train", fields=("x_s",), verify=rt.is_main)
    msst, msst_ckpt = MSST.load(msst_path)
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
    train = load_pose_tensors(data_dir, "train", keypoints=cfg.keypoints, drop_undetected=True, log=log)
    test = load_pose_tensors(data_dir, "test", max_items=h.eval_frames, keypoints=cfg.keypoints, log=log)
    out.path.mkdir(parents=True, exist_ok=True)
    tokens = {split: cached_tokens(msst, msst_path, split, data, out, rt.device, log=log)
              for split, data in (("train", train), ("test", test))}
    model.to(rt.device)
    msst.to(rt.device)
    train, test = train.to(rt.device), test.to(rt.device)
    q_s, q_d = (t.to(rt.device) for t in tokens["train"])
    tq_s, tq_d = (t.to(rt.device) for t in tokens["test"])
    if rt.is_main:
        cfg.save(out.config)
        log(f"HiARM: {len(train)} train / {len(test)} test frames, {cfg.keypoints} keypoints, device {rt.device}, "
            f"part order {h.part_order}"
            + (f", decode groups {h.decode_groups if isinstance(h.decode_groups, str) else 'custom'} "
               f"({model.num_steps} steps)" if not model.single else "")
            + (", occlusion augmentation on" if h.occlusion_augment else "")
            + (", reading the keypoints' confidence" if h.confidence else "")
            + (f"; resuming after epoch {ckpt['epoch']}" if ckpt else ""))
    occlusion = OcclusionModel.fitted()

    def step(net: torch.nn.Module, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        cond, c = train.x_s[idx], train.confidence[idx]
        if h.occlusion_augment:  # numpy draws follow the per-epoch torch seed, so resume stays exact
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,))))
            cond, c = observed_condition(cond, train.root[idx], train.scale[idx], c, rng, occlusion,
                                         cfg.keypoints == "detected")
        logits_s, logits_d = net(cond, q_s[idx], q_d[idx], c if h.confidence else None)
        return hiarm_loss(logits_s, logits_d, q_s[idx], q_d[idx], model.order, h.lambda_dense)

    prov = provenance(data_dir / MANIFEST, {"msst": msst_path})
    stage = Stage(
        KIND, model, len(train), h.epochs, h.batch_size, cfg.seed, step,
        lambda core: evaluate_hiarm(core, msst, test, tq_s, tq_d, max_generate=h.eval_greedy_frames),
        lambda row: (f"loss {row['loss']:.4f}, train acc {row['acc_s']:.3f}/{row['acc_d']:.3f}, test greedy acc "
                     f"{row['test_acc_s']:.3f}/{row['test_acc_d']:.3f}, x_d {row['test_x_d_px']:.2f} px, "
                     f"x_f {row['test_x_f_px']:.2f} px"),
        lambda: {"model_args": model.model_args(), "config": cfg.to_dict(), "msst_sha256": prov["upstream"]["msst"],
                 "normalization": PoseNormalizer.describe(), "hierarchy_hash": train_ds.hierarchy_hash,
                 "hipart_version": __version__, **prov})
    state = fit(stage, rt, out, h.lr, h.weight_decay,
                lambda opt, per_epoch: warmup_cosine(opt, 0, per_epoch * h.epochs), ckpt, progress, log)
    if not rt.is_main:
        return {}
    summary = {"stage": KIND, "config": cfg.name, "epochs": h.epochs, "steps": state["step"],
               "world_size": rt.world_size, "device": str(rt.device),
               "test": evaluate_hiarm(model, msst, test, tq_s, tq_d, max_generate=None),
               "decoding": decoding_speed(model), "complexity": _complexity(model),
               "msst_complexity": complexity(msst.cpu()), "hierarchy_hash": train_ds.hierarchy_hash,
               "data": str(data_dir), "keypoints": cfg.keypoints, "hipart_version": __version__}
    write_json_atomic(out.summary, summary)
    return summary


def _complexity(model: HiARM) -> dict[str, float]:
    dev, J = next(model.parameters()).device, H36M.num_joints
    x = torch.zeros(1, J, 2, device=dev)
    q_s = torch.zeros(1, J, dtype=torch.long, device=dev)
    q_d = torch.zeros(1, J, model.r, dtype=torch.long, device=dev)
    c = torch.ones(1, J, device=dev)  # read only by a HiARM with hiarm.confidence
    return count_params_flops(model, (x, q_s, q_d, c))
