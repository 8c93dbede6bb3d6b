"""Confusion matrices as text (the training log) and as pictures (TensorBoard, the demo)."""

from __future__ import annotations

import io

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)


def confusion_matrix(truth, predictions, num_labels: int) -> np.ndarray:
    """Counts [truth, prediction] of two label-index sequences."""
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth, np.int64), np.asarray(predictions, np.int64)), 1)
    return matrix


def format_confusion_matrix(matrix: np.ndarray, labels: list[str]) -> str:
    """Rows truth, columns prediction, with a header of label indices."""
    width = max(5, len(str(int(matrix.max()) if matrix.size else 0)) + 1)
    head = " " * 12 + "".join(f"{i:>{width}}" for i in range(len(labels)))
    rows = [head]
    for i, label in enumerate(labels):
        rows.append(f"{i:>2} {label[:9]:<9}" + "".join(f"{v:>{width}}" for v in matrix[i]))
    return "\n".join(rows)


def confusion_matrix_png(matrix: np.ndarray, labels: list[str], title: str,
                         size_inches: float = 6.0, dpi: int = 80) -> bytes:
    """The matrix as a PNG picture: rows truth, columns prediction, counts written in."""
    fig, ax = plt.subplots(figsize=(size_inches, size_inches), dpi=dpi)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("prediction")
    ax.set_ylabel("truth")
    ax.set_title(title)
    top = matrix.max() if matrix.size else 0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if matrix[i, j]:
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > top / 2 else "black")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
