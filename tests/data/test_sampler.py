"""Grouped sampler: a permutation, deterministic per epoch, modality-pure global batches, low padding."""
import numpy as np

from llava.data.sampler import LengthGroupedSampler, SeededRandomSampler, grouped_indices


def _data(n=500, seed=0):
    rng = np.random.default_rng(seed)
    has_image = rng.random(n) < 0.7
    lengths = np.where(has_image, rng.integers(800, 7000, n), rng.integers(20, 600, n))
    return lengths, has_image


def test_is_a_permutation_and_deterministic():
    lengths, has_image = _data()
    s = LengthGroupedSampler(lengths, has_image, batch_size=4, world_size=2, seed=5)
    a = list(s)
    assert sorted(a) == list(range(len(lengths)))
    s2 = LengthGroupedSampler(lengths, has_image, batch_size=4, world_size=2, seed=5)
    assert list(s2) == a  # another rank / another run
    s.set_epoch(1)
    assert list(s) != a
    s2.set_epoch(1)
    assert list(s2) == list(s)


def test_global_batches_are_modality_pure_except_tail():
    lengths, has_image = _data()
    bs, world = 4, 2
    order = grouped_indices(lengths, has_image, bs, world, seed=0)
    g = bs * world
    n_full = (int(has_image.sum()) // g) + (int((~has_image).sum()) // g)
    for k in range(n_full):
        batch = order[k * g:(k + 1) * g]
        assert len(set(has_image[batch].tolist())) == 1


def test_longest_batch_first():
    lengths, has_image = _data()
    order = grouped_indices(lengths, has_image, 4, 2, seed=0)
    assert lengths[order[0]] == lengths.max()


def _real_fraction(order, lengths, bs):
    real = padded = 0
    for k in range(0, len(order) - len(order) % bs, bs):
        b = lengths[order[k:k + bs]]
        real += b.sum()
        padded += b.max() * len(b)
    return real / padded


def test_grouping_pads_much_less_than_random():
    lengths, has_image = _data(2000)
    bs = 8
    random_order = list(SeededRandomSampler(len(lengths), seed=0))
    grouped = grouped_indices(lengths, has_image, bs, 1, seed=0)
    assert _real_fraction(grouped, lengths, bs) > 0.95
    assert _real_fraction(random_order, lengths, bs) < 0.75
