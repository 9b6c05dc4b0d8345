"""`mmnet plot`: the training curves of a train dir (log.csv) and its evaluation scores, as one PNG."""
from __future__ import annotations

import csv
from pathlib import Path


def _read(path: Path, delimiter: str = ",") -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


def plot_training(train_dir: str | Path, output: str | Path | None = None) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train_dir = Path(train_dir)
    log_path = train_dir / "log.csv"
    if not log_path.is_file():
        raise FileNotFoundError(f"{log_path}: no training log here")
    rows = _read(log_path)
    evals = sorted(train_dir.glob("eval/*/scores.tsv"))
    fig, axes = plt.subplots(1, 1 + len(evals), figsize=(6 * (1 + len(evals)), 4), squeeze=False)
    ax = axes[0, 0]
    steps = [int(r["step"]) for r in rows]
    for key in ("loss", "alpha", "grad", "kd", "aux"):
        values = [float(r[key]) if r.get(key) else None for r in rows]
        if any(v is not None for v in values):
            ax.plot(steps, values, label=key)
    ax.set(xlabel="step", ylabel="training loss", yscale="log", title=train_dir.name)
    ax.legend()
    for ax, path in zip(axes[0, 1:], evals):
        scores = _read(path, "\t")
        eval_steps = [int(r["step"]) for r in scores]
        ax.plot(eval_steps, [float(r["gauss_grad_full"]) * 1e3 for r in scores], "o-", label="GAUSS_GRAD ×1e-3")
        ax.plot(eval_steps, [float(r["mad_full"]) * 1e2 for r in scores], "s-", label="MAD ×1e-2")
        ax.set(xlabel="step", title=f"evaluation: {path.parent.name} (800×600 protocol)")
        ax.legend()
    fig.tight_layout()
    out = Path(output) if output else train_dir / "training.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
