"""Device choice shared by every command: CUDA when present, CPU otherwise."""

from __future__ import annotations

import torch

from hipart.errors import HipartError


def pick_device(preference: str = "auto") -> torch.device:
    """'auto' -> cuda if available else cpu; 'cpu'/'cuda'/'cuda:N' are honoured or refused clearly."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise HipartError(f"device '{preference}' requested but CUDA is not available; use --device cpu or auto")
    try:
        return torch.device(preference)
    except RuntimeError as exc:
        raise HipartError(f"unknown device '{preference}'; use auto, cpu, cuda or cuda:N") from exc
