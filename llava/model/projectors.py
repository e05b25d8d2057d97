"""Vision-to-language projectors, looked up by the exact `mm_projector_type` key.

`mlpNx_gelu` is an nn.Sequential of Linear/GELU pairs, so state-dict indices are `.0`, `.2`, ...
exactly as in LLaVA-NeXT checkpoints (`model.mm_projector.0.weight`, `model.mm_projector.2.weight`).
"""
from __future__ import annotations

import re

from torch import nn

_MLP = re.compile(r"^mlp(\d+)x_gelu$")


class IdentityProjector(nn.Module):
    """Passes features through unchanged (vision hidden size must equal the LLM hidden size)."""

    def forward(self, x):
        return x


KNOWN_PROJECTORS = "'linear', 'identity', 'mlpNx_gelu' (N >= 1, e.g. 'mlp2x_gelu')"


def check_projector_type(projector_type, where: str = "mm_projector_type") -> None:
    """Raise a one-line error unless `projector_type` names a projector (exact key)."""
    match = _MLP.match(projector_type) if isinstance(projector_type, str) else None
    if projector_type in ("linear", "identity") or (match and int(match.group(1)) >= 1):
        return
    raise ValueError(f"{where}: unknown mm_projector_type {projector_type!r}; known: {KNOWN_PROJECTORS}")


def build_projector(projector_type: str, mm_hidden_size: int, hidden_size: int) -> nn.Module:
    """Return the projector for `projector_type`: "linear", "identity" or "mlp{N}x_gelu" (N >= 1)."""
    check_projector_type(projector_type)
    if projector_type == "linear":
        return nn.Linear(mm_hidden_size, hidden_size)
    if projector_type == "identity":
        if mm_hidden_size != hidden_size:
            raise ValueError(f"mm_projector_type='identity' needs mm_hidden_size ({mm_hidden_size}) == "
                             f"hidden_size ({hidden_size}); use 'linear' or 'mlp2x_gelu'")
        return IdentityProjector()
    depth = int(_MLP.match(projector_type).group(1))
    layers: list[nn.Module] = [nn.Linear(mm_hidden_size, hidden_size)]
    for _ in range(1, depth):
        layers += [nn.GELU(), nn.Linear(hidden_size, hidden_size)]
    return nn.Sequential(*layers)
