"""A restricted unpickler for the published pickle formats (SMPL models, 3DPW sequences).

Those files were written by Python 2 with numpy, scipy.sparse and chumpy objects. Only the classes listed
here may be constructed, so a pickle cannot run arbitrary code; chumpy arrays become plain numpy arrays,
so chumpy is not needed.
"""

from __future__ import annotations

import copyreg
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from hipart.errors import HipartError

_NUMPY_NAMES = {"_reconstruct", "scalar", "ndarray", "dtype", "_frombuffer"}
_SPARSE_NAMES = {"csc_matrix", "csr_matrix", "coo_matrix"}
_BUILTIN_NAMES = {"object", "set", "frozenset", "complex", "slice", "list", "dict", "tuple"}


class ChumpyArray:
    """Stand-in for a pickled chumpy object: keeps its state; ``value`` is the array it wrapped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = state if isinstance(state, dict) else {"x": state}

    @property
    def value(self) -> np.ndarray:
        if "x" not in self.state:
            raise HipartError("pickle holds a derived chumpy expression, not a stored array; re-save it with plain numpy")
        return np.asarray(self.state["x"])


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        root = module.split(".")[0]
        if root == "chumpy":
            return ChumpyArray
        if root == "numpy" and name in _NUMPY_NAMES:
            if name in ("ndarray", "dtype"):
                return getattr(np, name)
            core = np._core if hasattr(np, "_core") else np.core  # numpy 2 moved numpy.core to numpy._core
            sub = module.split(".")[-1]
            return getattr(getattr(core, sub), name)
        if root == "scipy" and name in _SPARSE_NAMES:
            return getattr(scipy.sparse, name)
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return copyreg._reconstructor
        if module == "_codecs" and name == "encode":  # how protocol-2 pickles written by Python 3 store bytes
            import codecs

            return codecs.encode
        if module in ("__builtin__", "builtins") and name in _BUILTIN_NAMES:
            import builtins

            return getattr(builtins, name)
        raise pickle.UnpicklingError(f"refusing to load '{module}.{name}'")


def unchumpy(obj: Any) -> Any:
    """Replace chumpy stand-ins by numpy arrays, recursively through dicts and lists."""
    if isinstance(obj, ChumpyArray):
        return obj.value
    if isinstance(obj, dict):
        return {k: unchumpy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unchumpy(v) for v in obj]
    return obj


def load_pickle(path: str | Path, what: str) -> Any:
    """Load a published pickle safely (latin1 for Python 2 files); errors name the file and the expected format."""
    path = Path(path)
    if not path.is_file():
        raise HipartError(f"{path}: file not found (expected {what})")
    try:
        with path.open("rb") as fh:
            obj = RestrictedUnpickler(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError) as exc:
        raise HipartError(f"{path}: not a readable {what} ({type(exc).__name__}: {exc})") from exc
    return unchumpy(obj)


def load_npz_entry(path: str | Path, key: str, what: str) -> tuple[Any, list[str]]:
    """One array of an .npz archive; object arrays (VideoPose3D's dicts) go through the restricted unpickler.

    np.load(allow_pickle=True) would unpickle anything, including a non-zip file handed to it by mistake.
    Returns (the array, or the object an object array wraps; the archive's keys).
    """
    path = Path(path)
    if not path.is_file():
        raise HipartError(f"{path}: file not found (expected {what})")
    if not zipfile.is_zipfile(path):
        raise HipartError(f"{path}: not a readable .npz archive (expected {what})")
    try:
        with zipfile.ZipFile(path) as archive:
            keys = [n[:-4] for n in archive.namelist() if n.endswith(".npy")]
            if key not in keys:
                raise HipartError(f"{path}: no '{key}' array (found {keys}); expected {what}")
            with archive.open(f"{key}.npy") as fh:
                version = np.lib.format.read_magic(fh)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _fortran, dtype = read_header(fh)
                if not dtype.hasobject:
                    return np.lib.format.read_array(archive.open(f"{key}.npy"), allow_pickle=False), keys
                value = RestrictedUnpickler(fh, encoding="latin1").load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError, OSError) as exc:
        raise HipartError(f"{path}: not a readable .npz archive ({type(exc).__name__}: {exc}); expected {what}") from exc
    value = np.asarray(value)
    return (value.item() if value.shape == () else value), keys
