"""Write consolidated safetensors from a (possibly ZeRO-3 partitioned, possibly LoRA) model.

Under ZeRO-3 no rank holds the whole model. Instead of gathering the full state dict in host RAM
(what `stage3_gather_16bit_weights_on_model_save` does), parameters are gathered one module at a
time; rank 0 copies them to CPU into the current shard and writes the shard to disk once it
reaches `max_shard_bytes`. Peak host memory is one shard plus one module. LoRA layers are merged
into their base weights on the fly (W + B @ A * scaling), so the output is a plain model.
Keys are the model's own parameter names with wrapper prefixes removed: the LLaVA-NeXT layout.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from llava.train.parts import unwrap_model

SAFE_INDEX = "model.safetensors.index.json"


def _is_lora_layer(module: nn.Module) -> bool:
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:
        return False
    return isinstance(module, LoraLayer)


def _gathered(params: list[nn.Parameter]):
    """Context that makes ZeRO-3 partitioned params whole on every rank (no-op otherwise)."""
    if any(hasattr(p, "ds_id") for p in params):
        import deepspeed

        return deepspeed.zero.GatheredParameters(params, modifier_rank=None)
    import contextlib

    return contextlib.nullcontext()


def _merged_lora_weight(layer: nn.Module) -> torch.Tensor:
    """Base weight + sum over active adapters of (B @ A) * scaling, computed in fp32."""
    w = layer.base_layer.weight.detach().float().clone()
    for name in layer.active_adapters:
        if name not in layer.lora_A:
            continue
        a, b = layer.lora_A[name].weight.detach().float(), layer.lora_B[name].weight.detach().float()
        delta = b @ a * layer.scaling[name]
        w += delta.T if getattr(layer, "fan_in_fan_out", False) else delta
    return w.to(layer.base_layer.weight.dtype)


class _ShardWriter:
    def __init__(self, output_dir: Path, max_shard_bytes: int, write: bool) -> None:
        self.dir, self.max, self.write = output_dir, max_shard_bytes, write
        self.current: dict[str, torch.Tensor] = {}
        self.size = 0
        self.shards: list[dict[str, torch.Tensor] | list[str]] = []
        self.files: list[tuple[str, list[str]]] = []
        self.total = 0

    def add(self, key: str, tensor: torch.Tensor) -> None:
        if not self.write:
            return
        nbytes = tensor.numel() * tensor.element_size()
        if self.current and self.size + nbytes > self.max:
            self.flush()
        self.current[key] = tensor.detach().to("cpu", copy=True).contiguous()
        self.size += nbytes
        self.total += nbytes

    def flush(self) -> None:
        if not self.current:
            return
        name = f"model-{len(self.files) + 1:05d}.safetensors.tmp"
        save_file(self.current, str(self.dir / name), metadata={"format": "pt"})
        self.files.append((name, list(self.current)))
        self.current, self.size = {}, 0

    def finish(self) -> list[str]:
        self.flush()
        n = len(self.files)
        weight_map, names = {}, []
        for i, (tmp, keys) in enumerate(self.files, 1):
            final = "model.safetensors" if n == 1 else f"model-{i:05d}-of-{n:05d}.safetensors"
            os.replace(self.dir / tmp, self.dir / final)
            names.append(final)
            weight_map.update({k: final for k in keys})
        index = self.dir / SAFE_INDEX
        if n > 1:
            index.write_text(json.dumps({"metadata": {"total_size": self.total},
                                         "weight_map": dict(sorted(weight_map.items()))}, indent=2))
        elif index.exists():
            index.unlink()
        return names


def save_consolidated_weights(model: nn.Module, output_dir: str | os.PathLike, is_main_process: bool,
                              max_shard_bytes: int = 5 * 1024**3, dtype: torch.dtype | None = None) -> list[str]:
    """Gather module by module and write (sharded) safetensors on the main process.

    Every rank must call this (the gathers are collectives). Returns the written file names on
    the main process. `dtype` casts floating tensors (e.g. bf16 for export); default: as trained.
    """
    out = Path(output_dir)
    if is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        for stale in list(out.glob("model*.safetensors")) + list(out.glob("model*.safetensors.tmp")):
            stale.unlink()
    root = unwrap_model(model)
    writer = _ShardWriter(out, max_shard_bytes, is_main_process)
    seen: set[int] = set()
    persistent = set(root.state_dict().keys())  # cheap under ZeRO-3: partitioned params are empty

    def cast(t: torch.Tensor) -> torch.Tensor:
        return t.to(dtype) if dtype is not None and t.is_floating_point() else t

    def visit(module: nn.Module, prefix: str) -> None:
        if _is_lora_layer(module):
            params = [p for p in module.parameters() if id(p) not in seen]
            with _gathered(params):
                writer.add(prefix + "weight", cast(_merged_lora_weight(module)))
                bias = getattr(module.base_layer, "bias", None)
                if bias is not None:
                    writer.add(prefix + "bias", cast(bias))
            seen.update(id(p) for p in params)
            return
        own = [(n, p) for n, p in module.named_parameters(recurse=False) if id(p) not in seen]
        with _gathered([p for _, p in own]):
            for n, p in own:
                writer.add(prefix + n, cast(p))
        seen.update(id(p) for _, p in own)
        for n, b in module.named_buffers(recurse=False):
            if b is not None and prefix + n in persistent:
                writer.add(prefix + n, cast(b))
        for n, child in module.named_children():
            visit(child, f"{prefix}{n}.")

    with torch.no_grad():
        visit(root, "")
    return writer.finish()

