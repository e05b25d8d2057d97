"""Length- and modality-grouped sampling on real token counts, identical on every rank.

Accelerate hands consecutive `per_device_batch` chunks of the sampler's order to ranks 0, 1, ...
in turn, so the order is built from *global batches* (`per_device_batch * world_size` indices).
Each global batch holds samples of one modality (image / text-only) and of similar length
(text tokens + image tokens), so little is padded on any rank and ranks finish their steps at
about the same time. The order depends only on (seed, epoch): every rank and every rerun get the
same order, which is what makes resuming at a step reproducible (the Trainer skips the batches
already consumed).
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


def grouped_indices(lengths: Sequence[int], has_image: Sequence[bool] | None, batch_size: int, world_size: int,
                    seed: int, megabatch_mult: int = 64) -> list[int]:
    """The grouped order for one epoch (see the module docstring).

    `megabatch_mult` global batches are sorted together: larger groups pad less but make the
    order less random within the epoch.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    modality = np.zeros(n, dtype=bool) if has_image is None else np.asarray(has_image, dtype=bool)
    rng = np.random.default_rng(seed)
    global_bs = batch_size * world_size
    full, tails = [], []
    for flag in (True, False):
        idx = np.flatnonzero(modality == flag)
        if idx.size == 0:
            continue
        idx = idx[rng.permutation(idx.size)]
        mega = global_bs * megabatch_mult
        for start in range(0, idx.size, mega):
            chunk = idx[start:start + mega]
            chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
            for b in range(0, chunk.size, global_bs):
                batch = chunk[b:b + global_bs]
                (full if batch.size == global_bs else tails).append(batch)
    # Leftovers of both modalities share the last (mixed) global batches.
    if tails:
        rest = np.concatenate(tails)
        rest = rest[np.argsort(-lengths[rest], kind="stable")]
        tail_batches = [rest[b:b + global_bs] for b in range(0, rest.size, global_bs)]
    else:
        tail_batches = []
    order = rng.permutation(len(full)).tolist()
    batches = [full[i] for i in order]
    if batches:
        # Longest batch first: an out-of-memory shows up at step 1, not hours later.
        longest = int(np.argmax([lengths[b].max() for b in batches]))
        batches.insert(0, batches.pop(longest))
    batches += tail_batches
    return [int(i) for b in batches for i in b]


class LengthGroupedSampler(Sampler[int]):
    """Deterministic per epoch (`set_epoch`), identical across ranks; see `grouped_indices`."""

    def __init__(self, lengths: Sequence[int], has_image: Sequence[bool] | None, batch_size: int,
                 world_size: int, seed: int = 0, megabatch_mult: int = 64) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.has_image = None if has_image is None else np.asarray(has_image, dtype=bool)
        self.batch_size = batch_size
        self.world_size = world_size
        self.seed = seed
        self.megabatch_mult = megabatch_mult
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        return iter(grouped_indices(self.lengths, self.has_image, self.batch_size, self.world_size,
                                    self.seed + self.epoch, self.megabatch_mult))


class SeededRandomSampler(Sampler[int]):
    """Plain shuffling, but seeded by (seed, epoch) so resume and all ranks agree."""

    def __init__(self, num_samples: int, seed: int = 0) -> None:
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(self.seed + self.epoch)
        return iter(rng.permutation(self.num_samples).tolist())
