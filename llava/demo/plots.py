"""The demo's pictures: accuracy per question type (one bar group per system, chance line) and the
training stages' loss curves. matplotlib comes with the demo extra (`pip install -e ".[demo]"`).
"""
from __future__ import annotations

import json
from pathlib import Path

# One colour per system, the same in every picture (tab10 order).
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("the demo's pictures need matplotlib: pip install -e '.[demo]'") from e
    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    return plt


def accuracy_png(systems: dict[str, dict], qtypes: list[str], chance: float, path: str | Path,
                 spread: dict[str, dict] | None = None, title: str = "") -> Path:
    """Grouped bars: x = overall and each question type, one bar per system.

    ``systems``: {name: {"overall": fraction, "per_type": {qtype: fraction}}}; ``spread``: the same
    layout holding (min, max) pairs, drawn as error bars (the multi-seed summary).
    """
    plt = _pyplot()
    groups = ["overall", *qtypes]
    names = list(systems)
    width = 0.8 / max(len(names), 1)
    fig, ax = plt.subplots(figsize=(max(8.0, 1.25 * len(groups) + 2), 4.6))
    for k, name in enumerate(names):
        values = [_value(systems[name], g) for g in groups]
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(groups))]
        errors = None
        if spread and name in spread:
            lows = [_value(spread[name], g, 0) for g in groups]
            highs = [_value(spread[name], g, 1) for g in groups]
            errors = [[max(v - lo, 0) for v, lo in zip(values, lows)], [max(hi - v, 0) for v, hi in zip(values, highs)]]
        ax.bar(xs, [100 * v for v in values], width, label=name, color=COLORS[k % len(COLORS)],
               yerr=None if errors is None else [[100 * e for e in errors[0]], [100 * e for e in errors[1]]],
               capsize=2 if errors else 0)
    ax.axhline(100 * chance, color="black", linestyle="--", linewidth=1)
    ax.text(len(groups) - 0.5, 100 * chance + 1.5, f"chance {chance:.0%}", ha="right", fontsize=8)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "Held-out benchmark: accuracy per question type")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=min(len(names), 3), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def _value(record: dict, group: str, index: int | None = None) -> float:
    v = record["overall"] if group == "overall" else record["per_type"].get(group)
    if v is None:
        return 0.0
    return v[index] if index is not None else v


def stage_losses(run_dir: str | Path) -> list[tuple[int, float]]:
    """(step, loss) of a training run, from the Trainer's `trainer_state.json`."""
    state = json.loads((Path(run_dir) / "trainer_state.json").read_text(encoding="utf-8"))
    return [(h["step"], float(h["loss"])) for h in state["log_history"] if "loss" in h]


def _running_mean(values: list[float], window: int) -> list[float]:
    """Mean of the last `window` values at each point (batches of different kinds make single losses jump)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v - (values[i - window] if i >= window else 0.0)
        out.append(total / min(i + 1, window))
    return out


def losses_png(stages: dict[str, str | Path], path: str | Path) -> Path:
    """One panel per training stage: its loss against the optimizer step (log scale)."""
    plt = _pyplot()
    curves = {name: stage_losses(d) for name, d in stages.items()}
    columns = min(len(curves), 3)
    rows = (len(curves) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for k, (name, points) in enumerate(curves.items()):
        ax = axes[k // columns][k % columns]
        steps, values = [s for s, _ in points], [v for _, v in points]
        color = COLORS[k % len(COLORS)]
        ax.plot(steps, values, color=color, linewidth=0.8, alpha=0.3)
        ax.plot(steps, _running_mean(values, max(1, len(values) // 40)), color=color, linewidth=1.6,
                label="running mean")
        ax.set_yscale("log")
        ax.set_title(f"{name} ({len(points)} steps)", fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.grid(True, which="both", alpha=0.3)
    for k in range(len(curves), rows * columns):
        axes[k // columns][k % columns].axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
