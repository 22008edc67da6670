"""Fast inference for HiARM's greedy decoding: static key/value cache, inference mode, ``torch.compile`` with an
eager fallback, reduced precision (autocast); the whole decoding as one compiled program (a ``torch.while_loop``)
on the CPU and replayed as one CUDA graph on CUDA.

``CompilePolicy`` holds one model's choice and state (seconds run eagerly so far, failures); ``Compiled`` runs a
function through ``torch.compile`` while its policy says so (inductor; on the CPU with a C++ wrapper, which saves a
Python call per kernel); ``FastDecoder`` runs HiARM's fixed-shape decoding (``hipart.models.hiarm_fast``) through
such functions. ``HiPART`` shares its policy with the decoder and its compiled MSST decoders and lifter.

    decoder = FastDecoder(hiarm, compile="auto", precision="fp32")
    q_s, q_d = decoder(x_s)      # normalized (B, 17, 2) -> (B, 17), (B, 17, r); on CPU fp32 == hiarm.generate(x_s)
    q_s, q_d = decoder(x_s, c)   # a HiARM with hiarm.confidence: the per-joint confidence c (B, 17) beside x_s

``compile``:
  * ``"auto"`` (default): decode eagerly until the eager calls have taken ``compile_after`` seconds in all
    (``AUTO_EAGER_SECONDS``, about what compiling the decoding costs on two CPU cores), then compile: rent until
    the rent paid equals the price, then buy, so a job never takes much more than twice what the better choice in
    hindsight would have (a short job never waits for the compiler; a long one soon runs compiled). Compiled
    means: on the CPU ``StaticDecoder.decode_looped`` (``hipart.models.hiarm_fast``), all the steps in one program;
    on CUDA the three decoding pieces (``StaticDecoder.start``, ``step``, ``tokens``), the whole decoding captured
    as a CUDA graph per padded batch size (a compiled while_loop would read its condition back to the host every
    step). If compiling, running or capturing fails (no C++ compiler, an unsupported op, ...), it warns once and
    decodes eagerly (``StaticDecoder.decode``) from then on.
  * ``True``: compiled (and graphed on CUDA) from the first call; a failure raises ``HipartError``.
  * ``False``: eager static-cache decoding only.

``precision``: ``"fp32"``, or ``"bf16"`` / ``"fp16"`` (autocast, the cache in that type; fp16 on CUDA only).
Reduced precision can change a token where two logits lie within rounding of each other; ``hipart bench speed
--precision`` measures the token agreement and the x_f difference (px) against fp32.

Compiled code is shared by every HiARM of the same architecture in a process (parameters are graph inputs), so a
second model of that shape does not compile again. Outputs are inference tensors: clone them outside inference
mode before autograd may record them (``HiPART.densify`` does).
"""

from __future__ import annotations

import contextlib
import warnings
from time import perf_counter
from typing import Any, Callable, Iterator

import torch

from hipart.errors import HipartError
from hipart.models.hiarm import HiARM
from hipart.models.hiarm_fast import StaticDecoder

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
AUTO_EAGER_SECONDS = 30.0  # eager decoding time after which "auto" compiles (compiling the decoding: ~40 s, 2 cores)
GRAPH_WARMUP = 2  # runs on a side stream before a CUDA graph capture (they compile and settle the allocator)


def check_compile(choice: Any) -> bool | str:
    """``True``, ``False`` or ``"auto"`` (the strings true / false / auto too) -> that choice."""
    if isinstance(choice, str):
        choice = {"true": True, "false": False, "auto": "auto"}.get(choice.lower(), choice)
    if choice is True or choice is False or choice == "auto":
        return choice
    raise HipartError(f"compile must be True, False or 'auto', got {choice!r}")


def check_precision(precision: str, device: torch.device | None = None) -> str:
    """A known precision name, and fp16 only on a CUDA ``device`` (when given)."""
    if precision not in PRECISIONS:
        raise HipartError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and device is not None and device.type != "cuda":
        raise HipartError("fp16 decoding needs a CUDA device; use bf16 or fp32 on the CPU")
    return precision


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    """Autocast to ``precision`` on ``device`` (nothing for fp32). The weight-cast cache is off: a CUDA graph
    capture must not keep cast copies made while capturing."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype, cache_enabled=False):
        yield


def padded_batch(batch: int) -> int:
    """The batch size a CUDA graph is captured for: the next power of two, so that at most log2(largest batch)
    graphs exist however many different batch sizes arrive."""
    return 1 << max(0, batch - 1).bit_length()


def pad_rows(x: torch.Tensor, rows: int) -> torch.Tensor:
    """x (B, ...) with its last row repeated up to ``rows`` rows (real poses: no NaN enters the padding)."""
    return x if len(x) == rows else torch.cat([x, x[-1:].expand(rows - len(x), *x.shape[1:])])


class CudaGraph:
    """``fn`` (tensors -> tuple of tensors) captured once as a CUDA graph for the shapes of ``examples``; calling it
    copies the inputs into the graph's buffers, replays, and returns copies of the outputs."""

    def __init__(self, fn: Callable[..., tuple[torch.Tensor, ...]], examples: tuple[torch.Tensor, ...],
                 warmup: int = GRAPH_WARMUP) -> None:
        self.inputs = tuple(x.clone() for x in examples)
        device = examples[0].device
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(warmup):
                fn(*self.inputs)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = fn(*self.inputs)

    def __call__(self, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        for buffer, x in zip(self.inputs, xs):
            buffer.copy_(x)
        self.graph.replay()
        return tuple(t.clone() for t in self.outputs)


def compile_options(device: torch.device) -> dict[str, Any] | None:
    """Inductor options: on the CPU a C++ wrapper around the kernels (no Python call per kernel: at batch 1 a
    decoding step is ~60 small kernels); elsewhere the defaults."""
    return {"cpp_wrapper": True} if device.type == "cpu" else None


class CompilePolicy:
    """When the functions of one model run compiled: the ``compile`` choice, the seconds spent running them
    eagerly so far (``"auto"`` compiles once they reach ``compile_after``), and what failed (then not tried again,
    warned about once)."""

    def __init__(self, compile: bool | str = "auto", compile_after: float | None = None, what: str = "HiPART"
                 ) -> None:
        self.choice = check_compile(compile)
        self.compile_after = (AUTO_EAGER_SECONDS if compile_after is None else compile_after) \
            if self.choice == "auto" else 0.0
        self.what = what
        self.eager_seconds = 0.0
        self.failed: set[str] = set()  # "compile", "graph"
        self.warned: list[str] = []

    @property
    def hot(self) -> bool:
        """Whether compiled code should run now (the choice allows it and ``compile_after`` eager seconds are
        spent)."""
        return self.choice is not False and self.eager_seconds >= self.compile_after

    @property
    def renting(self) -> bool:
        """Whether ``"auto"`` still runs eagerly, timing each call towards ``compile_after``."""
        return self.choice == "auto" and not self.hot

    def use(self, kind: str) -> bool:
        return self.hot and kind not in self.failed

    def fail(self, kind: str, what: str, exc: Exception) -> None:
        """Record a failure of ``kind``: raise under ``compile=True``, else warn once and stop trying it."""
        text = str(exc).strip()
        reason = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
        if self.choice is True:
            raise HipartError(f"{what} failed for {self.what} ({reason}); use compile='auto' to fall back to "
                              "eager code, or compile=False (--no-compile) not to try") from exc
        self.failed.add(kind)
        message = f"{what} failed for {self.what} ({reason}); running eagerly from now on " \
                  "(compile=False / --no-compile skips the attempt)"
        self.warned.append(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


class Compiled:
    """``fn`` run through ``torch.compile`` (made on first use) while ``policy`` says so; otherwise and after a
    failure ``eager`` (default ``fn``: a function written for the compiler may have a faster eager twin)."""

    def __init__(self, fn: Callable[..., Any], policy: CompilePolicy, eager: Callable[..., Any] | None = None
                 ) -> None:
        self.fn, self.policy, self.eager = fn, policy, eager or fn
        self.compiled: Callable[..., Any] | None = None

    @property
    def active(self) -> bool:
        return self.compiled is not None and self.policy.use("compile")

    def __call__(self, *args: Any) -> Any:
        if self.policy.renting:  # the time spent eagerly counts towards compiling
            start = perf_counter()
            out = self.eager(*args)
            self.policy.eager_seconds += perf_counter() - start
            return out
        if self.policy.use("compile"):
            try:
                if self.compiled is None:
                    device = next((a.device for a in args if isinstance(a, torch.Tensor)), torch.device("cpu"))
                    self.compiled = torch.compile(self.fn, options=compile_options(device))
                return self.compiled(*args)
            except HipartError:
                raise
            except Exception as exc:  # no C++ compiler, an op inductor cannot lower, ...
                self.policy.fail("compile", "torch.compile", exc)
        return self.eager(*args)


class FastDecoder:
    """HiARM's greedy decoding with a static key/value cache under inference mode; see the module docstring.
    ``policy`` (shared with the caller's other compiled functions) or ``compile`` / ``compile_after`` say when
    the decoding runs compiled."""

    def __init__(self, hiarm: HiARM, compile: bool | str = "auto", precision: str = "fp32",
                 compile_after: float | None = None, policy: CompilePolicy | None = None) -> None:
        self.hiarm = hiarm
        self.static = StaticDecoder(hiarm)
        self.policy = policy or CompilePolicy(compile, compile_after, "HiARM decoding")
        self.precision = check_precision(precision)
        self.looped = Compiled(self.static.decode_looped, self.policy,
                               eager=lambda x_s, cache_dtype, c: self.static.decode(x_s, cache_dtype=cache_dtype,
                                                                                    c=c))
        self.pieces = tuple(Compiled(f, self.policy) for f in (self.static.start, self.static.step,
                                                               self.static.tokens))
        self.graphs: dict[tuple[tuple[int, ...], ...], CudaGraph] = {}  # by padded input shapes

    @property
    def compiled(self) -> bool:
        """Whether calls now run compiled code (the looped decoding, or the pieces on CUDA)."""
        return self.looped.active or all(p.active for p in self.pieces)

    @property
    def warned(self) -> list[str]:
        return self.policy.warned

    def __call__(self, x_s: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalized sparse poses (B, 17, 2) and their per-joint confidence c (B, 17) (read by a HiARM with
        ``hiarm.confidence``, else ignored) -> token indices q_s (B, 17), q_d (B, 17, r), inference tensors."""
        check_precision(self.precision, x_s.device)
        c = self.hiarm.read_confidence(x_s, c)  # checked here, eagerly; None where the model ignores it
        with torch.inference_mode(), autocast(x_s.device, self.precision):
            if x_s.device.type == "cuda" and self.policy.use("graph") and len(x_s):
                try:
                    return self._graphed(x_s, c)
                except HipartError:
                    raise
                except Exception as exc:  # capture unsupported here: launch kernels one by one instead
                    self.graphs.clear()
                    self.policy.fail("graph", "CUDA graph capture", exc)
            return self.decode(x_s, c)

    def decode(self, x_s: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One static-cache decoding (call under inference mode), compiled as the policy says: looped, or on CUDA
        (where the graph replays the whole decoding) by pieces."""
        cache_dtype = PRECISIONS[self.precision] or torch.float32
        if x_s.device.type == "cuda":
            return self.static.decode(x_s, *self.pieces, cache_dtype=cache_dtype, c=c)
        return self.looped(x_s, cache_dtype, c)

    def _graphed(self, x_s: torch.Tensor, c: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        batch = len(x_s)
        # the graph's inputs: x_s, and c where the model reads it
        padded = tuple(pad_rows(t, padded_batch(batch)) for t in (x_s, c) if t is not None)
        key = tuple(tuple(t.shape) for t in padded)
        if key not in self.graphs:
            self.graphs[key] = CudaGraph(self.decode, padded)
        q_s, q_d = self.graphs[key](*padded)
        return q_s[:batch], q_d[:batch]
