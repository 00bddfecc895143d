"""`gan-tf serve` starting on an untidy base path: a broken newest version, stray entries,
a batch cap below the warmup requests' batch."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import export
from gan_tf.serving.client import ServingClient
from gan_tf.serving.errors import ServingError

STRAY = ("\u00b2", "\u0663", "99999999999999999999", "-4", "abc", ".8.tmp-x")


def test_start_up_serves_the_newest_loadable_version_and_ignores_stray_entries(
    tmp_path, generator, start_server
):
    base = tmp_path / "gan"
    export.export_generator(generator, str(base / "1"), {"step": 1})
    warmup = [e.predict_log.request for e in export.read_warmup_requests(str(base / "1"))]
    batches = {next(iter(r.inputs.values())).tensor_shape.dim[0].size for r in warmup}
    assert batches == {1, 2}  # with a cap of 1, the batches of 2 must run one by one
    (base / "2").mkdir()  # the newest version: a push that broke off
    (base / "2" / "saved_model.pb").write_bytes(b"\x08\x01\x12")
    for name in STRAY:  # loadable SavedModels under names that are not versions
        shutil.copytree(base / "1", base / name)
    (base / "7").write_text("a file, not a version directory")
    loaded = tf.saved_model.load(str(base / "1"))
    want = loaded.signatures["generate"](
        seeds=tf.constant([5, 6], tf.int64), truncation=tf.ones([2])
    )["images"].numpy()

    with start_server(str(base), "--max-batch-size", "1") as server:
        for url in (server.rest_url, f"grpc://{server.grpc_target}"):
            with ServingClient(url, timeout=20) as client:
                status = client.status()
                assert [s["version"] for s in status] == [2, 1], status
                assert status[0]["state"] == "END" and "SavedModel" in status[0]["error"]
                assert status[1] == {"version": 1, "state": "AVAILABLE", "error": ""}
                np.testing.assert_array_equal(client.generate([5])[0], want[0])
                np.testing.assert_array_equal(client.generate([6])[0], want[1])
                with pytest.raises(ServingError, match="maximum batch size 1") as error:
                    client.generate([5, 6])  # the cap still holds for clients
                assert error.value.code == "INVALID_ARGUMENT"
        assert "version 1 from" in server.output() and "(4 warmup requests" in server.output()
