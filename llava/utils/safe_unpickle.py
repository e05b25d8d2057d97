"""Unpickle checkpoint files without running code from them.

DeepSpeed reads its ZeRO files (`global_step*/*_model_states.pt`, `*_optim_states.pt`) with
`torch.load(weights_only=False)`, so a crafted file runs whatever its pickle names. While
`restricted_torch_load()` is active, every `torch.load` in this process unpickles only tensors,
plain containers and ALLOWLIST: the few other objects that DeepSpeed's and the Trainer's own
checkpoint files hold. Anything else is refused with a one-line message naming the file and the
flag that gives consent.

Why a temporary replacement of `torch.load`, and not a patch of DeepSpeed: DeepSpeed's two readers
(its checkpoint engine, used to resume, and zero_to_fp32, used to export) and the Trainer all call
the public `torch.load` at call time, so one hook around the load covers all of them without
depending on their internals. `check_loaders()` refuses to go on when an installed version reads
checkpoints some other way, and `Guard.require_read()` checks afterwards that the files really went
through the hook: a version change fails loudly instead of loading unrestricted.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import os
import pickle
import re
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

# Found by loading real checkpoints of this project (2-process ZeRO-3 on CPU: fp32, bf16 with CPU
# offload, fp16, LoRA, the text-only reasoner; a single process without DeepSpeed) weights-only:
# torch.serialization.get_unsafe_globals_in_checkpoint lists the names in a pickle, but not the
# numpy dtype class the RNG state builds. Tensors, storages, torch.Size and OrderedDict are allowed
# by torch itself.
ALLOWLIST = {
    "deepspeed.runtime.zero.config.ZeroStageEnum": "ZeRO stage, in *_optim_states.pt",
    "deepspeed.runtime.fp16.loss_scaler.LossScaler": "static loss scale (fp32, bf16), in *_optim_states.pt",
    "deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler": "fp16 loss scale, in *_optim_states.pt",
    "numpy._core.multiarray._reconstruct": "numpy RNG state, in rng_state*.pth",
    "numpy.ndarray": "numpy RNG state, in rng_state*.pth",
    "numpy.dtype": "numpy RNG state, in rng_state*.pth",
    "numpy.dtypes.UInt32DType": "numpy RNG state, in rng_state*.pth (built, not named, in the pickle)",
}
# numpy 1.x pickles the same function under its old module name.
ALIASES = {"numpy.core.multiarray._reconstruct": "numpy._core.multiarray._reconstruct"}

# The modules that unpickle checkpoints during resume and export; each must reach torch.load
# through the torch module, or the hook would not apply.
LOADER_MODULES = ("deepspeed.runtime.checkpoint_engine.torch_checkpoint_engine", "deepspeed.utils.zero_to_fp32",
                  "transformers.trainer")


class UntrustedCheckpointError(ValueError):
    """A checkpoint file holds objects outside the allowlist (loading it could run code)."""


class CorruptCheckpointError(ValueError):
    """A checkpoint file that cannot be unpickled at all (truncated or damaged)."""


class UnsafeLoaderError(RuntimeError):
    """An installed library reads checkpoints in a way the restriction cannot reach."""


def _resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None  # not installed / renamed: files naming it are refused, with its name


def allowed_globals() -> list:
    """ALLOWLIST (and ALIASES) as `torch.serialization.safe_globals` takes them: (object, pickled name)."""
    out = []
    for name in ALLOWLIST:
        obj = _resolve(name)
        if obj is not None:
            out.append((obj, name))
    for alias, name in ALIASES.items():
        obj = _resolve(name)
        if obj is not None:
            out.append((obj, alias))
    return out


def refusal(path: str, error: str, consent: str) -> str:
    """One line for a weights-only refusal (torch's message is a paragraph)."""
    m = re.search(r"GLOBAL ([\w.]+)|but got <class '([\w.]+)'>", error)
    what = (m.group(1) or m.group(2)) if m else "pickle instructions beyond tensors and plain containers"
    return (f"{path}: not loaded: its pickle names {what}, which is neither a tensor nor an object that DeepSpeed or "
            f"the Trainer write into checkpoints; unpickling it could run code. If you trust this file, rerun "
            f"with {consent}")


def _corrupt(path: str, error: Exception) -> str:
    lines = str(error).splitlines()
    detail = f"{type(error).__name__}: {lines[0][:160] if lines else ''}"
    return f"{path} cannot be unpickled ({detail}): the file is truncated or damaged; use another checkpoint"


def _original_load():
    return getattr(torch.load, "__wrapped_original__", torch.load)


def check_loaders(consent: str, modules: tuple[str, ...] | None = None) -> None:
    """Fail loudly when a library no longer reaches `torch.load` through the torch module."""
    original = _original_load()
    for name in LOADER_MODULES if modules is None else modules:
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            raise UnsafeLoaderError(f"{name} cannot be imported ({e}); checkpoints cannot be restricted to weights "
                                    f"with this installation: rerun with {consent} to load them anyway") from None
        direct = [k for k, v in vars(module).items() if v is original]
        if getattr(module, "torch", None) is not torch or direct:
            raise UnsafeLoaderError(f"{name} does not call torch.load through the torch module (installed version "
                                    f"changed?), so its checkpoint loads cannot be restricted to weights: rerun with "
                                    f"{consent} to load them anyway, or install the versions in setup.py")


class Guard:
    """The active hook: a weights-only `torch.load` that remembers what it read; with the user's
    consent (`trusted`), a plain one, for the Trainer's own weights-only loads too."""

    def __init__(self, consent: str, original, trusted: bool = False) -> None:
        self.consent, self.original, self.trusted = consent, original, trusted
        self.files: list[Path] = []

    def load(self, f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **kwargs):
        name = os.fspath(f) if isinstance(f, (str, os.PathLike)) else str(getattr(f, "name", f))
        self.files.append(Path(name).resolve())
        if self.trusted:
            return self.original(f, map_location=map_location, weights_only=False, mmap=mmap, **kwargs)
        # pickle_module is dropped: weights-only loading uses torch's own restricted unpickler.
        with torch.serialization.safe_globals(allowed_globals()):
            try:
                return self.original(f, map_location=map_location, weights_only=True, mmap=mmap, **kwargs)
            except pickle.UnpicklingError as e:
                if "Weights only load failed" in str(e):
                    raise UntrustedCheckpointError(refusal(name, str(e), self.consent)) from None
                raise CorruptCheckpointError(_corrupt(name, e)) from None
            except (OSError, UntrustedCheckpointError):
                raise
            except Exception as e:  # noqa: BLE001 - struct/zip/key errors of a damaged file: name it
                raise CorruptCheckpointError(_corrupt(name, e)) from None

    def require_read(self, paths, what: str) -> None:
        """After the load: each of `paths` went through this guard (else the hook was bypassed)."""
        seen = set(self.files)
        missed = [str(p) for p in paths if Path(p).resolve() not in seen]
        if missed and not self.trusted:
            raise UnsafeLoaderError(f"{what} read {missed[0]} without going through the restricted torch.load "
                                    f"(installed version changed?): not using it; rerun with {self.consent} if "
                                    "you trust the checkpoint")


_active: Guard | None = None


@contextlib.contextmanager
def restricted_torch_load(consent: str, trust: bool = False, what: str = "checkpoint"):
    """Within the block, `torch.load` unpickles tensors and ALLOWLIST only (see the module docstring).

    `consent` is the flag that lifts it, as the user types it; with `trust=True` every load in the
    block unpickles without restriction. Re-entrant: an inner block shares the outer block's guard."""
    global _active
    if _active is not None:
        yield _active
        return
    if trust:
        logger.warning("unpickling %s without restriction: the user trusts it (%s)", what, consent)
    else:
        check_loaders(consent)
    guard = Guard(consent, torch.load, trusted=trust)
    torch.load = torch.serialization.load = _hook(guard)
    _active = guard
    try:
        yield guard
    finally:
        torch.load = torch.serialization.load = guard.original
        _active = None


def _hook(guard: Guard):
    def load(*args, **kwargs):
        return guard.load(*args, **kwargs)

    load.__wrapped_original__ = guard.original
    return load
