"""Two worker processes on 127.0.0.1 (TF_CONFIG, MultiWorkerMirroredStrategy, `model.fit`)
end with identical weights, equal to a single-process run of the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

WORKER = os.path.join(os.path.dirname(__file__), "mwms_worker.py")
OVERRIDES = [
    "train.steps=6",
    "train.steps_per_epoch=3",
    "train.checkpoint_every=3",
    "train.batch_size=16",
    # SGD: Adam's first updates are ~lr * sign(grad), which turns float noise into lr-sized
    # differences and would hide (or fake) a scaling error. At lr 0.05 some data orders
    # (train.seed 2 and 3 before the per-epoch shuffle; 0 and 1 after it) grew float rounding
    # into 1e-3..1e-2 differences within 6 steps; at 0.01 every order tried stays within 2e-7,
    # and a 2x update (a per-replica mean loss) is still far outside the tolerance.
    "train.optimizer=sgd",
    "train.g_lr=0.01",
    "train.d_lr=0.01",
]


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_worker(workdir, out, env_extra):
    env = {**os.environ, **env_extra}
    return subprocess.Popen(
        [
            sys.executable,
            WORKER,
            str(workdir),
            str(out),
            *OVERRIDES,
            *env_extra.get("SETS", "").split(),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_two_workers_match_single_process(mnist_data_dir, tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workdir = tmp_path / "multi"
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(
            run_worker(
                workdir,
                tmp_path / f"worker{index}.npz",
                {"TF_CONFIG": tf_config, "SETS": "train.strategy=multi_worker"},
            )
        )
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=600)[0])
    finally:
        for proc in procs:
            proc.kill()
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-3000:]

    single = run_worker(tmp_path / "single", tmp_path / "single.npz", {"SETS": ""})
    output = single.communicate(timeout=600)[0]
    assert single.returncode == 0, output[-3000:]

    w0, w1, ref = (np.load(tmp_path / f"{n}.npz") for n in ("worker0", "worker1", "single"))
    assert int(w0["step"]) == int(w1["step"]) == int(ref["step"]) == 6
    keys = [k for k in ref.files if k != "step"]
    assert any(k.startswith("discriminator/") for k in keys)
    for key in keys:
        np.testing.assert_allclose(w1[key], w0[key], rtol=0, atol=1e-6, err_msg=key)
        np.testing.assert_allclose(w0[key], ref[key], rtol=0, atol=1e-4, err_msg=key)

    # Only the chief (worker 0) wrote shared outputs; worker 1's scratch is gone.
    assert (workdir / "config.json").exists()
    assert sorted(p.name for p in (workdir / "checkpoints").glob("ckpt-*.index")) == [
        "ckpt-3.index",
        "ckpt-6.index",
    ]
    assert (workdir / "export" / "saved_model.pb").exists()
    assert not (workdir / ".worker-1").exists()
    # The only hidden file is the chief's workdir lock.
    assert [p.name for p in workdir.iterdir() if p.name.startswith(".")] == [".lock"]
