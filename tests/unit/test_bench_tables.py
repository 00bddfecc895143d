"""The README's benchmark tables as the bench scripts print them (`--table`): the mean and
spread figures worked out by hand from fixed results, and the newest line of an item winning
over a rerun's older one. Each script runs as the README runs it, in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def table(script: str, rows: list[dict], tmp_path) -> str:
    with open(tmp_path / "results.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", script), "--root", str(tmp_path), "--table"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


def draw(draw: int, errors: int, step: int = 36000) -> dict:
    return {
        "draw": draw,
        "step": step,
        "steps_trained": step,
        "train_seconds": 3949.4,
        "test_errors": errors,
        "test_images": 10000,
        "test_error_percent": errors / 100,
        "overrides": [],
    }


def test_semi_supervised_table_is_the_newest_run_of_each_draw_with_mean_and_sd(tmp_path):
    # The README's first table: 154, 144 and 150 errors; draw 0 first ran to 12,000 steps.
    rows = [draw(0, 208, step=12000), draw(0, 154), draw(1, 144), draw(2, 150)]
    text = table("semi_supervised.py", rows, tmp_path)
    assert "| 0 | 36,000 | 1.54% (154) | 3949 |" in text
    assert "2.08%" not in text
    # mean 1.4933; sd sqrt((0.0467^2 + 0.0533^2 + 0.0067^2) / 2) = 0.0503
    assert "| **mean ± sd (3 draws)** | | **1.49% ± 0.05** | |" in text
    one = table("semi_supervised.py", [draw(1, 93)], tmp_path)
    assert "| 1 | 36,000 | 0.93% (93) |" in one and "mean ± sd" not in one


def classifier(arm: str, images: int, seed: int, accuracy: float, gan_step: int = 2500) -> dict:
    return {
        "kind": "classifier",
        "experiment": "lowdata",
        "arm": arm,
        "train_images": images,
        "seed": seed,
        "test_accuracy": accuracy,
        "epochs": 400 if arm == "real" else 37,
        "gan_step": gan_step,
        "seconds": 125.0,
    }


def test_synthetic_data_gain_is_the_per_seed_difference_with_its_half_range(tmp_path):
    real = [0.9670, 0.9680, 0.9690]
    both = [0.9600, 0.9620, 0.9615]  # differences -0.70, -0.60, -0.75 points
    rows = [classifier("real", 600, s, a) for s, a in enumerate(real)]
    rows += [classifier("real+synthetic", 6600, s, 0.5, gan_step=2000) for s in range(3)]
    rows += [classifier("real+synthetic", 6600, s, a) for s, a in enumerate(both)]
    text = table("synthetic_data.py", rows, tmp_path)
    # Accuracies: mean 96.80, half range (96.90 - 96.70) / 2 = 0.10.
    assert "| lowdata | real | 600 | 400 | 96.80 ± 0.10 (0,1,2) | 2,500 |" in text
    # Only the newest GAN step's classifiers: 96.12 ± 0.10, not the step-2,000 ones.
    assert "| lowdata | real+synthetic | 6,600 | 37 | 96.12 ± 0.10 (0,1,2) | 2,500 |" in text
    # Gain: mean of (-0.70, -0.60, -0.75) = -0.683, half range (0.75 - 0.60) / 2 = 0.075.
    gain = text.split("gain of real + 6,000 synthetic over real: ")[1].splitlines()[0]
    mean, half = gain.removesuffix(" points over 3 seeds").split(" ± ")
    assert float(mean) == pytest.approx(-0.68, abs=0.005)
    assert float(half) == pytest.approx(0.075, abs=0.005)


def test_anomaly_table_averages_the_newest_auroc_of_each_digit(tmp_path):
    def digit(d: int, auroc: float) -> dict:
        return {
            "digit": d,
            "auroc": auroc,
            "auprc": 0.9,
            "tpr": 0.8,
            "train_seconds": 100.0,
            "score_images_per_second": 1000,
        }

    rows = [digit(0, 0.5), digit(0, 0.99), digit(1, 0.90), digit(2, 0.95)]
    text = table("anomaly_mnist.py", rows, tmp_path)
    assert "| 0 | 0.990 |" in text and "0.500" not in text
    assert "| **mean (3 digits)** | **0.947** |" in text  # (0.99 + 0.90 + 0.95) / 3
