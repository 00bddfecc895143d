"""`gan-tf evaluate` end to end, training-time evaluation, and bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from event_files import read_values

from gan_tf import cli, images, panel, presets, train
from gan_tf.data import mnist
from gan_tf.metrics import sources


@pytest.fixture(scope="module")
def mnist_test_images() -> np.ndarray:
    return mnist.load_arrays()["test"][0][..., None]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_data_dir):
    """A smoke run with domain KID/FID every 10 steps (and its export)."""
    workdir = str(tmp_path_factory.mktemp("run"))
    config = presets.smoke().override(
        [
            f"data.data_dir={mnist_data_dir}",
            "train.steps=20",
            "eval.every=10",
            "eval.features=domain",
            "eval.metrics=kid,fid",
            "eval.num_samples=200",
        ]
    )
    result = train.train(config, workdir, verbose=0)
    return workdir, result


def evaluate(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["evaluate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_training_writes_eval_scalars(trained):
    workdir, _ = trained
    seen: dict[str, list[int]] = {}
    for tag, values in read_values(os.path.join(workdir, "tensorboard")).items():
        if tag.startswith("eval/"):
            seen[tag] = [step for step, _ in values]
    assert sorted(seen["eval/kid_domain"]) == [10, 20]
    assert sorted(seen["eval/fid_domain"]) == [10, 20]
    assert "eval/fid" not in seen  # domain scores are never labelled FID


def test_evaluate_workdir_against_dataset_split(trained, capsys, tmp_path):
    workdir, _ = trained
    out_json = tmp_path / "scores.json"
    code, out, err = evaluate(
        capsys,
        f"--workdir={workdir}",
        "--reference=mnist:test",
        "--features=domain",
        "--metrics=fid,kid,is,pr",
        "--num=200",
        f"--json={out_json}",
    )
    assert code == 0, err
    result = json.loads(out_json.read_text())
    assert json.loads(out) == result
    for key in ("fid_domain", "kid_domain", "kid_domain_std", "is_domain", "is_domain_std"):
        assert np.isfinite(result[key])
    assert 0.0 <= result["precision_domain"] <= 1.0 and 0.0 <= result["recall_domain"] <= 1.0
    assert "fid" not in result and "kid" not in result
    protocol = result["protocol"]
    assert protocol["num_samples"] == 200
    assert protocol["source"].startswith("workdir:") and protocol["reference"] == "tfds:mnist:test"
    assert "NOT Inception" in protocol["features"]


def test_exported_model_gives_the_workdir_images(trained):
    workdir, result = trained
    export_dir = result.export_dir
    assert export_dir and os.path.isfile(os.path.join(export_dir, "saved_model.pb"))
    exported, trained_run = sources.open_source(export_dir), sources.open_source(workdir)
    assert exported.description.startswith("export:")
    assert trained_run.description.startswith("workdir:")
    seeds = np.arange(150, dtype=np.int64)
    want = np.concatenate([trained_run.generate(seeds[i : i + 50]) for i in (0, 50, 100)])
    got = np.concatenate([exported.generate(seeds[i : i + 50]) for i in (0, 50, 100)])
    assert got.shape == want.shape == (150, 28, 28, 1) and got.dtype == want.dtype == np.uint8
    # Seed by seed, pixel by pixel: the export runs one example at a time and the workdir a
    # batch at once, which may round a pixel lying on a .5 boundary the other way.
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())
    assert len(np.unique(got.reshape(150, -1), axis=0)) == 150  # one image per seed


def test_inception_kid_npz_against_dataset(capsys, tmp_path, mnist_test_images, mnist_data_dir):
    npz = tmp_path / "samples.npz"
    np.savez(npz, images=mnist_test_images[100:108])
    # The positional SOURCE REFERENCE of earlier releases still works, with a note.
    code, out, err = evaluate(
        capsys, str(npz), "mnist:test", "--metrics=kid", "--num=8", "--batch-size=8"
    )
    assert code == 0, err
    assert "positional arguments is deprecated; use --source (or --workdir)" in err
    result = json.loads(out)
    assert np.isfinite(result["kid"]) and result["kid_std"] >= 0.0
    assert "tf1_bilinear to 299x299" in result["protocol"]["resizer"]
    assert result["protocol"]["features"].startswith("inception-2015-12-05 pool_3")


def test_panel_shows_each_sample_beside_its_nearest_references(capsys, tmp_path, mnist_test_images):
    npz = tmp_path / "copies.npz"
    np.savez(npz, images=mnist_test_images[:200][::-1])  # test images 199, 198, ...
    out_png = tmp_path / "panel.png"
    code, out, err = evaluate(
        capsys,
        f"--source={npz}",
        "--reference=mnist:test",
        "--features=domain",
        "--metrics=kid",
        "--num=200",
        f"--panel={out_png}",
    )
    assert code == 0, err
    assert json.loads(out)["kid_domain"] < 0.01  # the same 200 images
    image = tf.io.decode_png(out_png.read_bytes()).numpy()
    for row in range(panel.ROWS):
        sample = _tile(image, row, 0)
        np.testing.assert_array_equal(sample, mnist_test_images[199 - row, ..., 0])
        np.testing.assert_array_equal(_tile(image, row, 1), sample)  # itself, at distance 0
        assert not np.array_equal(_tile(image, row, 2), sample)
    _, left = panel.tile_box(0, panel.NEIGHBOURS, 28, 28)[2:]
    histogram = image[panel.TITLE_HEIGHT :, left + panel.MARGIN :]
    assert histogram.shape[1] == panel.HISTOGRAM_SIZE[0] + panel.MARGIN
    bars = np.all(histogram == panel.GENERATED_COLOUR, axis=-1)
    references = np.all(histogram == panel.REFERENCE_COLOUR, axis=-1)
    assert bars.sum() > 100 and abs(int(bars.sum()) - int(references.sum())) < 0.05 * bars.sum()


def _tile(image, row, col):
    top, left, bottom, right = panel.tile_box(row, col, 28, 28)
    return image[top : bottom : panel.SCALE, left : right : panel.SCALE, 0]


def _write_pngs(folder, arrays):
    os.makedirs(folder, exist_ok=True)
    for i, a in enumerate(arrays):
        images.write_png(os.path.join(folder, f"{i:03d}.png"), a)


def test_bad_input_gives_clear_errors(capsys, tmp_path, mnist_test_images, mnist_data_dir):
    mixed = tmp_path / "mixed"
    _write_pngs(mixed, [mnist_test_images[0], np.zeros((32, 32, 1), np.uint8)])
    code, _, err = evaluate(
        capsys,
        f"--source={mixed}",
        "--reference=mnist:test",
        "--features=domain",
        "--num=2",
        "--metrics=kid",
    )
    assert code == 2 and "mixed sizes" in err

    nan = tmp_path / "nan.npz"
    np.savez(nan, images=np.full((4, 28, 28, 1), np.nan, np.float32))
    code, _, err = evaluate(
        capsys,
        f"--source={nan}",
        "--reference=mnist:test",
        "--features=domain",
        "--num=4",
        "--metrics=kid",
    )
    assert code == 2 and "NaN" in err and "uint8" in err

    ok = tmp_path / "ok.npz"
    np.savez(ok, images=mnist_test_images[:50])
    code, _, err = evaluate(
        capsys,
        f"--source={ok}",
        "--reference=mnist:test",
        "--features=domain",
        "--num=50",
        "--metrics=fid",
    )
    assert code == 2 and "rank <= 49 < 128" in err
    code, _, err = evaluate(
        capsys,
        f"--source={ok}",
        "--reference=mnist:test",
        "--features=domain",
        "--num=60",
        "--metrics=kid",
    )
    assert code == 2 and "fewer than" in err

    code, _, err = evaluate(
        capsys, f"--source={tmp_path / 'nothing'}", "--reference=mnist:test", "--num=4000"
    )
    assert code == 2 and "cannot read source" in err

    corrupt = tmp_path / "corrupt"
    os.makedirs(corrupt)
    _write_pngs(corrupt, [mnist_test_images[0]])
    (corrupt / "b.png").write_bytes(b"not a png at all")
    code, _, err = evaluate(
        capsys,
        f"--source={corrupt}",
        "--reference=mnist:test",
        "--features=domain",
        "--num=2",
        "--metrics=kid",
    )
    assert code == 2 and "cannot decode" in err

    code, _, err = evaluate(
        capsys, f"--source={ok}", "--reference=mnist:test", "--metrics=is", "--num=10"
    )
    assert code == 2 and "1008-way" in err
