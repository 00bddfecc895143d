"""Export at the end of training, `gan-tf export` and `gan-tf query` against a real server."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import cli, export, images, train
from gan_tf.config import ExportConfig


def test_train_exports_and_cli_round_trip(smoke_config, tmp_path, start_server, capsys):
    config = smoke_config.override(["train.steps=4", "train.steps_per_epoch=4"])
    workdir = str(tmp_path / "run")
    result = train.train(config, workdir, verbose=0)
    assert result.export_dir == os.path.join(workdir, "export")
    meta = export.read_metadata(result.export_dir)
    assert meta["step"] == result.step == 4
    assert meta["config"]["model"]["latent_dim"] == 16 and meta["model_name"] == "gan"
    loaded = tf.saved_model.load(result.export_dir)
    assert set(loaded.signatures) == set(export.SIGNATURES)

    base = str(tmp_path / "models")
    assert cli.main(["export", "--workdir", workdir, "--out", f"{base}/5"]) == 0
    seeds = np.arange(4, dtype=np.int64)
    want = loaded.signatures["generate"](seeds=tf.constant(seeds), truncation=tf.ones([4]))
    want = want["images"].numpy()
    with start_server(base) as server:
        for url in (server.rest_url, f"grpc://{server.grpc_target}"):
            out = str(tmp_path / "grid.png")
            assert cli.main(["query", "--url", url, "--seeds", "0-3", "--out", out]) == 0
            grid = tf.io.decode_png(tf.io.read_file(out)).numpy()
            np.testing.assert_array_equal(grid, images.make_grid(want))
        assert cli.main(["query", "--url", server.rest_url, "--status"]) == 0
        assert '"AVAILABLE"' in capsys.readouterr().out
        assert cli.main(["query", "--url", server.rest_url, "--seeds", "x", "--out", "a"]) == 2
        query = ["query", "--url", server.rest_url, "--status"]
        assert cli.main([*query, "--model-name", "nope"]) == 2
        assert "Latest(nope)" in capsys.readouterr().err
        assert cli.main([*query, "--model", "nope"]) == 2  # the old spelling, with a note
        err = capsys.readouterr().err
        assert "--model is deprecated; use --model-name" in err and "Latest(nope)" in err
    assert cli.main(["export", "--workdir", str(tmp_path / "none"), "--out", "x"]) == 2


def test_failed_export_keeps_the_checkpoint(smoke_config, tmp_path):
    config = smoke_config.override(["train.steps=2", "train.steps_per_epoch=2"])
    config = config.replace(export=ExportConfig(warmup_requests=5000))  # export will refuse
    workdir = str(tmp_path / "run")
    with pytest.raises(export.ExportError, match="checkpoint .* is kept") as error:
        train.train(config, workdir, verbose=0)
    assert "gan-tf export --workdir" in str(error.value)
    assert os.path.isfile(os.path.join(workdir, "training_state.json"))
    assert tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).endswith("-2")
    assert not os.path.exists(os.path.join(workdir, "export"))
    out = str(tmp_path / "export")
    assert cli.main(["export", "--workdir", workdir, "--out", out, "--warmup-requests", "1"]) == 0
    assert export.read_metadata(out)["step"] == 2
