"""Shard files: plain ``.npz`` archives written so that they are reproducible and memory-mappable.

``np.savez`` stamps every member with the current time, so two builds of the same data differ in bytes. Shards
here are written member by member with a fixed timestamp and no compression (``ZIP_STORED``): the same arrays give
the same bytes, and each member's array data sits contiguously in the file, so a reader can ``np.memmap`` it
instead of loading the shard. Any npz reader (``np.load``) still opens them.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from hipart.errors import HipartError
from hipart.io import atomic_path

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip header can hold
_LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field


def write_shard(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` to ``path`` atomically and reproducibly (member order as given)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, value in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.ascontiguousarray(value), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_FIXED_TIME)
                info.external_attr = 0o644 << 16
                zf.writestr(info, buf.getvalue(), compress_type=zipfile.ZIP_STORED)
    return path


def memmap_shard(path: str | Path) -> dict[str, np.ndarray]:
    """Every member of a shard written by :func:`write_shard` as a read-only memory map (no data is read)."""
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
            for info in zf.infolist():
                if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                    raise ValueError(f"member {info.filename} is compressed or not an array")
                fh.seek(info.header_offset)
                header = fh.read(_LOCAL_HEADER)
                if header[:4] != b"PK\x03\x04":
                    raise ValueError("bad local header")
                name_len = int.from_bytes(header[26:28], "little")
                extra_len = int.from_bytes(header[28:30], "little")
                fh.seek(info.header_offset + _LOCAL_HEADER + name_len + extra_len)
                version = np.lib.format.read_magic(fh)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read_header(fh)
                if dtype.hasobject:
                    raise ValueError(f"member {info.filename} holds Python objects")
                name = info.filename[: -len(".npy")]
                if int(np.prod(shape)) == 0:
                    out[name] = np.zeros(shape, dtype=dtype)
                else:
                    out[name] = np.memmap(path, dtype=dtype, mode="r", offset=fh.tell(), shape=shape,
                                          order="F" if fortran else "C")
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise HipartError(f"{path}: unreadable shard ({exc}); rebuild the dataset with 'hipart data build'") from exc
    return out
