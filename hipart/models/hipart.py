"""The HiPART model for inference: sparse 2D pose -> HiARM tokens -> MSST decoders -> dense (48) and fine (96) 2D
joints -> lifter -> 3D pose. The one object every command, benchmark and trainer uses to run a trained run.

    model = HiPART.from_run("runs/demo", device="cpu")
    out = model(x_s_px, image_size)          # {"x_d", "x_f" (px), "X" (N, 17, 3) root-relative mm, tokens}
    levels = model.densify(x_s_px)           # {"q_s", "q_d", "x_d", "x_f"}: stages 1-2 only
    X = model.lift(joints_px, image_size)    # stage 3 only, joints = x_s | x_d | x_f stacked (N, 161, 2) px
    out = model(x_s_px, image_size, confidence=c)  # c (N, 17): the detector's per-joint confidence

``confidence`` (every call takes it): the detector's per-joint confidence c (N, 17) in [0, 1], 0 for joints
outside the picture (``hipart.occlusion.observed_confidence``). A HiARM or lifter trained with it
(``hiarm.confidence``, ``lifter.confidence``) reads it, ones where none is given (true keypoints); one trained
without it ignores it, and a call whose models all ignore a given confidence warns once per HiPART object.

``from_run`` checks that the three checkpoints belong together: HiARM was trained on this MSST checkpoint (its
sha256), and the lifter reads HiPART's levels on the same hierarchy.

HiARM's tokens come from one of three decodings (``decoding=``), all greedy and giving the same tokens on CPU fp32:
``"fast"`` (default: static key/value cache under inference mode, compiled and on CUDA graphed according to
``compile``, autocast to ``precision``; see ``hipart.models.fast``), ``"cached"`` (eager, the cache grows by
concatenation) and ``"uncached"`` (eager, the whole sequence rerun every step: the reference).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hipart.camera import normalize_pixels
from hipart.device import pick_device
from hipart.errors import HipartError
from hipart.io import file_sha256
from hipart.models.fast import Compiled, CompilePolicy, FastDecoder
from hipart.models.hiarm import HiARM
from hipart.models.lifter import Lifter
from hipart.models.msst import MSST, PoseNormalizer
from hipart.runs import RunLayout
from hipart.skeleton import H36M

DENSIFY_BATCH = 1024  # frames per decoding pass: bounds memory, large enough to keep the cores busy
LIFT_BATCH = 2048
DECODINGS = ("fast", "cached", "uncached")


class HiPART(nn.Module):
    """``compile`` (True, False, "auto") and ``precision`` (fp32, bf16, fp16) configure the fast path: see
    ``hipart.models.fast``; "auto" compiles once the model has spent ``AUTO_EAGER_SECONDS`` running eagerly. The
    fast path compiles HiARM's decoding (one program on the CPU, pieces in a CUDA graph on CUDA) and, under the
    same policy, MSST's decoders with the denormalization and the lifter: equal tokens give levels equal to the
    eager path's within a few float32 ulps (a compiled reduction rounds differently; ~1e-6 of the 300-px
    coordinates), and at batch 1 the two compiled calls save ~0.45 ms of a ~4.3 ms frame (2 CPU cores). ``policy``
    says what runs compiled (``policy.warned``: the fallbacks taken)."""

    def __init__(self, msst: MSST, hiarm: HiARM, lifter: Lifter | None = None, compile: bool | str = "auto",
                 precision: str = "fp32") -> None:
        super().__init__()
        if hiarm.r != msst.cfg.tokens_per_part or (hiarm.K_s, hiarm.K_d) != (msst.cfg.codebook_size_sparse,
                                                                           msst.cfg.codebook_size_dense):
            raise HipartError("HiARM and MSST disagree on tokens per part or codebook sizes; train HiARM on this MSST")
        num_levels = H36M.num_joints + msst.num_dense + msst.num_fine
        if lifter is not None and lifter.num_inputs != num_levels:
            raise HipartError(f"the lifter reads {lifter.num_inputs} joints but HiPART produces {num_levels}; use the "
                              "run's hier lifter")
        self.msst, self.hiarm, self.lifter = msst.eval(), hiarm.eval(), lifter.eval() if lifter is not None else None
        self.policy = CompilePolicy(compile)
        self.decoder = FastDecoder(hiarm, precision=precision, policy=self.policy)
        self._lift = Compiled(self._lift_px, self.policy)
        self._levels = Compiled(self._levels_px, self.policy)
        self.confidence_warned = False  # a given confidence went unread (warned once per object)

    @classmethod
    def from_run(cls, run: str | Path, device: str | torch.device = "auto", with_lifter: bool = True,
                 compile: bool | str = "auto", precision: str = "fp32") -> "HiPART":
        """The run's MSST, HiARM and (``with_lifter``) hier lifter, checked to belong together, on ``device``.
        ``compile``: "auto" (compile the fast decoding once it is hot, fall back to eager with one warning if that
        fails), True (compile from the first call; a failure raises), False (eager); ``precision``: fp32, bf16 or
        fp16 (CUDA) for HiARM's fast decoding."""
        layout = RunLayout(run)
        msst, msst_ckpt = MSST.load(layout.msst.checkpoint)
        hiarm, hiarm_ckpt = HiARM.load(layout.hiarm.checkpoint)
        if hiarm_ckpt.get("msst_sha256") != file_sha256(layout.msst.checkpoint):
            raise HipartError(f"{run}: hiarm/ was trained on another MSST checkpoint than msst/; retrain HiARM (or "
                              "'hipart train all --force')")
        lifter = None
        if with_lifter:
            lifter, lifter_ckpt = Lifter.load(layout.lifter("hier").checkpoint)
            if lifter_ckpt["hierarchy_hash"] != msst_ckpt["hierarchy_hash"]:
                raise HipartError(f"{run}: lifter_hier/ and msst/ were trained with different hierarchies; retrain "
                                  "the lifter")
        model = cls(msst, hiarm, lifter, compile, precision)
        model.hierarchy_hash = msst_ckpt["hierarchy_hash"]
        dev = device if isinstance(device, torch.device) else pick_device(device)
        return model.to(dev)

    @property
    def device(self) -> torch.device:
        return next(self.msst.parameters()).device

    @property
    def reads_confidence(self) -> bool:
        """Whether HiARM or the lifter reads the detector's per-joint confidence (module docstring)."""
        return self.hiarm.cfg.confidence or (self.lifter is not None and self.lifter.cfg.confidence)

    def _confidence(self, confidence: torch.Tensor | np.ndarray | None, n: int, reads: bool, what: str
                    ) -> torch.Tensor | None:
        """The confidence (n, 17) on the model's device for a model that ``reads`` it (ones where none is given);
        None for one that does not (a given confidence then warns, once per object, naming ``what``: the model and
        its setting)."""
        if not reads:
            if confidence is not None and not self.confidence_warned:
                self.confidence_warned = True
                warnings.warn(f"HiPART: {what} was trained without the detector's confidence; the confidence given is "
                              "ignored", UserWarning, stacklevel=3)
            return None
        if confidence is None:
            return torch.ones(n, H36M.num_joints, device=self.device)
        c = torch.as_tensor(confidence, dtype=torch.float32).to(self.device)
        if tuple(c.shape) != (n, H36M.num_joints):
            raise HipartError(f"confidence has shape {tuple(c.shape)}; give one per joint of the {n} poses, "
                              f"({n}, {H36M.num_joints})")
        return c

    def densify(self, x_s_px: torch.Tensor | np.ndarray, decoding: str = "fast", batch_size: int = DENSIFY_BATCH,
                temperature: float = 0.0, seed: int = 0, confidence: torch.Tensor | np.ndarray | None = None
                ) -> dict[str, torch.Tensor]:
        """Observed sparse 2D poses (N, 17, 2) px -> token indices q_s (N, 17), q_d (N, 17, r) and the decoded
        dense x_d (N, 48, 2) and fine x_f (N, 96, 2) levels in px, on the model's device. ``decoding``: fast,
        cached or uncached (module docstring). ``temperature`` > 0 draws every token from HiARM's
        softmax(logits / temperature) instead of taking the argmax (eager decodings only; a generator seeded with
        ``seed``, so the draw is repeatable). ``confidence`` (N, 17): the detector's per-joint confidence, read by
        a HiARM trained with it (module docstring)."""
        if decoding not in DECODINGS:
            raise HipartError(f"decoding must be one of {', '.join(DECODINGS)}, got {decoding!r}")
        if temperature > 0 and decoding == "fast":
            raise HipartError("sampling tokens (temperature > 0) runs an eager decoding: use decoding 'cached'")
        generator = torch.Generator(self.device).manual_seed(seed) if temperature > 0 else None
        x_s = torch.as_tensor(x_s_px, dtype=torch.float32)
        c = self._confidence(confidence, len(x_s), self.hiarm.cfg.confidence, "HiARM (hiarm.confidence off)")
        fast = decoding == "fast"
        outs: dict[str, list[torch.Tensor]] = {"q_s": [], "q_d": [], "x_d": [], "x_f": []}
        with torch.inference_mode() if fast else torch.no_grad():
            for start in range(0, len(x_s), batch_size):
                px = x_s[start:start + batch_size].to(self.device)
                c_batch = None if c is None else c[start:start + batch_size]
                normalized, root, scale = self._normalized_frame(px)
                if fast:
                    q_s, q_d = self.decoder(normalized, c_batch)
                else:
                    q_s, q_d = self.hiarm.generate(normalized, decoding == "cached", temperature, generator, c_batch)
                x_d, x_f = (self._levels if fast else self._levels_px)(q_s, q_d, root, scale)
                for k, v in (("q_s", q_s), ("q_d", q_d), ("x_d", x_d), ("x_f", x_f)):
                    outs[k].append(v)
            out = {k: torch.cat(v) for k, v in outs.items()}
        # inference tensors cannot be saved for backward: hand out ordinary copies (made outside inference mode)
        return {k: v.clone() for k, v in out.items()} if fast else out

    @staticmethod
    def _normalized_frame(px: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 17, 2) px -> normalized poses, and the root and scale that undo it."""
        root, scale = PoseNormalizer.frame(px)
        return PoseNormalizer.normalize(px, root, scale), root, scale

    def _levels_px(self, q_s: torch.Tensor, q_d: torch.Tensor, root: torch.Tensor, scale: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, 17), (B, 17, r) -> MSST's dense (B, 48, 2) and fine (B, 96, 2) levels in px."""
        x_d, x_f = self.msst.decode(q_s, q_d.reshape(len(q_s), -1))
        return PoseNormalizer.denormalize(x_d, root, scale), PoseNormalizer.denormalize(x_f, root, scale)

    def _lift_px(self, joints: torch.Tensor, size: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        return self.lifter(normalize_pixels(joints, size), c)

    def levels(self, x_s_px: torch.Tensor | np.ndarray, decoding: str = "fast",
               batch_size: int = DENSIFY_BATCH, confidence: torch.Tensor | np.ndarray | None = None
               ) -> torch.Tensor:
        """x_s with HiPART's dense and fine levels stacked: (N, 17 + 48 + 96, 2) px, the lifter's input.
        ``confidence`` (N, 17): as ``densify`` reads it."""
        out = self.densify(x_s_px, decoding, batch_size, confidence=confidence)
        x_s = torch.as_tensor(x_s_px, dtype=torch.float32, device=self.device)
        return torch.cat([x_s, out["x_d"], out["x_f"]], dim=1)

    def lift(self, joints_px: torch.Tensor | np.ndarray, image_size: Any, batch_size: int = LIFT_BATCH,
             confidence: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """Stacked levels (N, 161, 2) px in images of ``image_size`` ((2,) or (N, 2): width, height) -> 3D pose
        (N, 17, 3), root-relative mm, on the model's device. ``confidence`` (N, 17): the sparse joints' detector
        confidence, read by a lifter trained with it (module docstring)."""
        if self.lifter is None:
            raise HipartError("this HiPART was loaded without its lifter (with_lifter=False)")
        joints = torch.as_tensor(joints_px, dtype=torch.float32, device=self.device)
        size = torch.as_tensor(image_size, dtype=torch.float32, device=self.device).expand(len(joints), 2)
        c = self._confidence(confidence, len(joints), self.lifter.cfg.confidence, "the lifter (lifter.confidence off)")
        if not len(joints):
            return joints.new_zeros(0, H36M.num_joints, 3)
        with torch.inference_mode():
            X = torch.cat([self._lift(joints[i:i + batch_size], size[i:i + batch_size],
                                      None if c is None else c[i:i + batch_size])
                           for i in range(0, len(joints), batch_size)])
        return X.clone()  # an ordinary tensor, made outside inference mode

    def forward(self, x_s_px: torch.Tensor | np.ndarray, image_size: Any, decoding: str = "fast",
                confidence: torch.Tensor | np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """The whole path: sparse 2D (N, 17, 2) px and (optional) the detector's per-joint confidence (N, 17) ->
        tokens, x_d, x_f (px) and X (N, 17, 3) root-relative mm. A given confidence goes to whichever of HiARM and
        the lifter reads it; it warns (once) only where neither does."""
        if not self.reads_confidence:
            self._confidence(confidence, 0, False, "this model (hiarm.confidence and lifter.confidence off)")
            confidence = None
        out = self.densify(x_s_px, decoding, confidence=confidence if self.hiarm.cfg.confidence else None)
        x_s = torch.as_tensor(x_s_px, dtype=torch.float32, device=self.device)
        lifter_reads = self.lifter is not None and self.lifter.cfg.confidence
        out["X"] = self.lift(torch.cat([x_s, out["x_d"], out["x_f"]], dim=1), image_size,
                             confidence=confidence if lifter_reads else None)
        return out
