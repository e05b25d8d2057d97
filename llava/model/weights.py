"""Read state dicts from local model folders (safetensors, sharded or not; legacy .bin safely)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

_SAFE_INDEX = "model.safetensors.index.json"
_BIN_INDEX = "pytorch_model.bin.index.json"


class CorruptWeightsError(ValueError):
    """A weight file that cannot be read (truncated, corrupt, or not plain tensors)."""


def weight_files(folder: str | Path) -> list[Path]:
    """The weight files of a model folder, safetensors preferred; raises if there are none."""
    folder = Path(folder)
    for index_name in (_SAFE_INDEX, _BIN_INDEX):
        index = folder / index_name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (ValueError, KeyError, AttributeError) as e:
                raise CorruptWeightsError(f"{index} is not a weight index ({type(e).__name__}: {e}): the file is "
                                          "truncated or corrupt; save the model again") from None
            missing = [s for s in shards if not (folder / s).is_file()]
            if missing:
                raise FileNotFoundError(f"{index} lists shards that are missing: {missing}")
            return [folder / s for s in shards]
    for name in ("model.safetensors", "pytorch_model.bin", "open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        if (folder / name).is_file():
            return [folder / name]
    singles = sorted(folder.glob("*.safetensors"))
    if singles:
        return singles
    raise FileNotFoundError(f"no model weights (*.safetensors or pytorch_model.bin) in {folder}")


def _corrupt(path: Path, error: Exception) -> CorruptWeightsError:
    detail = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
    return CorruptWeightsError(f"{path} cannot be read as safetensors ({detail}): the file is truncated or corrupt "
                               "(an interrupted copy, download or save?); copy, download or save it again")


def safetensors_keys(path: str | Path) -> list[str]:
    """Tensor names of a safetensors file; reads and checks only its header (cheap for any size)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return list(f.keys())
    except SafetensorError as e:
        raise _corrupt(Path(path), e) from None


def read_safetensors(path: str | Path, device: str = "cpu") -> dict[str, torch.Tensor]:
    """`safetensors.torch.load_file` whose errors name the file (safetensors' own do not)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device=device)
    except SafetensorError as e:
        raise _corrupt(Path(path), e) from None


def read_torch_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A pickled state dict (`pytorch_model.bin`), tensors only: anything else could run code."""
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CorruptWeightsError(f"{path} is not a plain tensor file ({str(e).splitlines()[0][:160]}); it is "
                                  "not loaded, since unpickling it could run code: convert it to safetensors where "
                                  "you trust it") from None


def check_weight_files(folder: str | Path) -> None:
    """Before an expensive load: every safetensors file of a local model folder is readable (header
    and size), so a truncated file is named now instead of failing deep inside transformers."""
    folder = Path(folder)
    if not folder.is_dir():
        return  # a Hub id: transformers downloads and checks it
    try:
        files = weight_files(folder)
    except FileNotFoundError:
        return  # the loader says which weights it needs
    for path in files:
        if path.suffix == ".safetensors":
            safetensors_keys(path)


def load_state_dict(folder: str | Path) -> dict[str, torch.Tensor]:
    """Load every tensor of a model folder into one CPU state dict."""
    state: dict[str, torch.Tensor] = {}
    for path in weight_files(folder):
        state.update(read_safetensors(path) if path.suffix == ".safetensors" else read_torch_weights(path))
    return state


def zero3_enabled() -> bool:
    try:
        from transformers.integrations import is_deepspeed_zero3_enabled
    except ImportError:
        return False
    return is_deepspeed_zero3_enabled()


def load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], ignore_missing: tuple[str, ...] = ()) -> None:
    """`module.load_state_dict(state)` that also works when ZeRO-3 has partitioned the parameters
    (gathers them, rank 0 writes, DeepSpeed re-partitions). Raises on missing/unexpected keys."""
    expected = set(module.state_dict().keys())
    missing = sorted(k for k in expected - state.keys() if not k.endswith(ignore_missing or ("\0",)))
    unexpected = sorted(state.keys() - expected)
    if missing or unexpected:
        raise ValueError(f"weights do not fit the module: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if zero3_enabled():
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=0):
            if not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0:
                module.load_state_dict(state, strict=False)
    else:
        module.load_state_dict(state, strict=False)
