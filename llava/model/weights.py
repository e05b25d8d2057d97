"""Read state dicts from local model folders (safetensors, sharded or not; legacy .bin safely)."""
from __future__ import annotations

import json
from pathlib import Path

import torch

_SAFE_INDEX = "model.safetensors.index.json"
_BIN_INDEX = "pytorch_model.bin.index.json"


def weight_files(folder: str | Path) -> list[Path]:
    """The weight files of a model folder, safetensors preferred; raises if there are none."""
    folder = Path(folder)
    for index_name in (_SAFE_INDEX, _BIN_INDEX):
        index = folder / index_name
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
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


def load_state_dict(folder: str | Path) -> dict[str, torch.Tensor]:
    """Load every tensor of a model folder into one CPU state dict."""
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for path in weight_files(folder):
        if path.suffix == ".safetensors":
            state.update(load_file(str(path), device="cpu"))
        else:
            state.update(torch.load(path, map_location="cpu", weights_only=True))
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
