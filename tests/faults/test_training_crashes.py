"""Real `gan-tf train` processes killed (SIGKILL) or stopped (SIGTERM) resume exactly.

A chain of processes trains one workdir, each stopped at a different point, and the final
checkpoint is compared tensor by tensor (networks, EMA generator, both optimizers' slots,
iterations and learning rates, the step, the loss-scale state under mixed precision) with
an uninterrupted run of the same command. Every rerun must resume at the step of the newest
complete checkpoint left by the stopped process, not at step 0.

The smoke preset trains a step in ~20 ms (~10 ms of CPU) here, so the stop points are found
by polling the checkpoint directory every millisecond, and "a few steps later" is measured
in the trainer's CPU time rather than wall time, so that a busy machine does not move it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

STEPS = 100
# Checkpoints every 10 steps, Keras epochs of 25 steps, data epochs of 32 steps (512 images,
# batch 16): the stop points fall inside all three, and resumed runs cross data epochs.
SETS = [
    f"train.steps={STEPS}",
    "train.checkpoint_every=10",
    "train.steps_per_epoch=25",
    "export.enabled=false",
]
TIMEOUT = 300


class Trainer:
    """`gan-tf train --preset smoke` in `workdir` as a real process, output kept in files."""

    def __init__(self, workdir, sets, name):
        self.workdir = workdir
        self.log = workdir.parent / f"{workdir.name}-{name}"
        args = [sys.executable, "-m", "gan_tf.cli", "train", "--preset", "smoke"]
        args += ["--workdir", str(workdir)]
        for s in sets:
            args += ["--set", s]
        with open(f"{self.log}.out", "w") as out, open(f"{self.log}.err", "w") as err:
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
            self.proc = subprocess.Popen(args, stdout=out, stderr=err, env=env)

    def wait(self):
        """Waits for the end; returns (returncode, stdout, stderr)."""
        self.proc.wait(timeout=TIMEOUT)
        with open(f"{self.log}.out") as out, open(f"{self.log}.err") as err:
            return self.proc.returncode, out.read(), err.read()

    def wait_until(self, condition, what):
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            if self.proc.poll() is not None:
                rc, out, err = self.wait()
                pytest.fail(f"training ended (rc {rc}) before {what}:\n{out}\n{err}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.001)

    def cpu_seconds(self):
        """CPU time the process has used so far (all threads; Linux /proc)."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def train_a_little(self, cpu_seconds=0.05):
        """Waits until the process has used `cpu_seconds` more CPU (a few smoke steps),
        however busy the machine is."""
        target = self.cpu_seconds() + cpu_seconds
        self.wait_until(lambda: self.cpu_seconds() >= target, "a few more steps")

    def latest_step(self):
        """The step of the checkpoint the pointer file names as the latest (0 if none)."""
        state = tf.train.get_checkpoint_state(str(self.workdir / "checkpoints"))
        return int(state.model_checkpoint_path.rsplit("-", 1)[1]) if state else 0

    def wait_for_checkpoint_after(self, step):
        """Waits until the pointer names a checkpoint newer than `step`; returns its step."""
        self.wait_until(lambda: self.latest_step() > step, f"a checkpoint after step {step}")
        return self.latest_step()

    def checkpoint_writes(self):
        """The checkpoints being written: TensorFlow's `ckpt-<step>_temp` directories."""
        return list((self.workdir / "checkpoints").glob("ckpt-*_temp"))


def complete_steps(workdir):
    """Steps of the checkpoints whose index and data files are all present."""
    names = os.listdir(workdir / "checkpoints")
    return sorted(
        int(m.group(1))
        for name in names
        if (m := re.fullmatch(r"ckpt-(\d+)\.index", name))
        and f"ckpt-{m.group(1)}.data-00000-of-00001" in names
    )


def resumed_step(stderr):
    match = re.search(r"Resuming .* at step (\d+)", stderr)
    return int(match.group(1)) if match else 0


class Chain:
    """Processes training one workdir in turn, each stopped by a signal and rerun."""

    def __init__(self, workdir, sets=SETS):
        self.workdir, self.sets = workdir, sets
        self.stops = []  # (how, step of the newest complete checkpoint left)
        self.trainer = Trainer(workdir, sets, "0")

    def stop(self, signum, how):
        """Stops the running trainer; checks where it had resumed and that it lost nothing
        it had announced (the newest complete checkpoint is at least the one the pointer
        named when the signal was sent)."""
        expected_start = self.stops[-1][1] if self.stops else 0
        announced = self.trainer.latest_step()
        self.trainer.proc.send_signal(signum)
        rc, _, err = self.trainer.wait()
        assert rc == (128 + signum if signum == signal.SIGTERM else -signum), err
        assert resumed_step(err) == expected_start, err
        left = complete_steps(self.workdir)[-1]
        assert left >= announced
        self.stops.append((how, left))
        self.trainer = Trainer(self.workdir, self.sets, str(len(self.stops)))
        return err

    def finish(self):
        rc, out, err = self.trainer.wait()
        assert rc == 0, err
        assert resumed_step(err) == self.stops[-1][1], err
        return out


def tensors(prefix):
    reader = tf.train.load_checkpoint(str(prefix))
    return {
        name: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()
        if not name.startswith(("save_counter", "_CHECKPOINTABLE_OBJECT_GRAPH"))
    }


def assert_same_state(a, b, mixed_precision=False):
    """Equal tensors, bit for bit, in two checkpoints holding every part of the state."""
    assert sorted(a) == sorted(b)
    for group in ("generator/", "discriminator/", "ema_generator/", "step/"):
        assert any(name.startswith(group) for name in a), f"no {group} in the checkpoint"
    for opt in ("g_optimizer", "d_optimizer"):
        prefix = f"{opt}/inner_optimizer/" if mixed_precision else f"{opt}/"
        assert f"{prefix}_iterations/.ATTRIBUTES/VARIABLE_VALUE" in a
        assert sum(name.startswith(f"{prefix}_variables/") for name in a) >= 4  # Adam m, v
        if mixed_precision:
            assert f"{opt}/dynamic_scale/.ATTRIBUTES/VARIABLE_VALUE" in a
            assert f"{opt}/step_counter/.ATTRIBUTES/VARIABLE_VALUE" in a
    different = [name for name in a if not np.array_equal(a[name], b[name])]
    assert not different, f"{len(different)} of {len(a)} tensors differ, e.g. {different[:5]}"


def uninterrupted(tmp_path_factory, sets):
    workdir = tmp_path_factory.mktemp("straight") / "run"
    rc, _, err = Trainer(workdir, sets, "straight").wait()
    assert rc == 0, err
    return workdir


@pytest.fixture(scope="module")
def straight(mnist_data_dir, tmp_path_factory):
    return uninterrupted(tmp_path_factory, SETS)


@pytest.mark.slow
def test_killed_and_terminated_training_resumes_exactly(straight, tmp_path):
    workdir = tmp_path / "run"
    chain = Chain(workdir)

    chain.trainer.wait_for_checkpoint_after(0)
    chain.stop(signal.SIGKILL, "SIGKILL as soon as the first checkpoint is named")

    writes = []
    chain.trainer.wait_until(
        lambda: writes.extend(chain.trainer.checkpoint_writes()) or writes, "a checkpoint write"
    )
    name = writes[0].name.removesuffix("_temp")
    chain.stop(signal.SIGKILL, f"SIGKILL during the write of {name}")
    cut = writes[0].exists() and not (workdir / "checkpoints" / f"{name}.index").exists()

    chain.trainer.wait_for_checkpoint_after(40)  # so the next reruns start past a data epoch
    chain.trainer.train_a_little()
    err = chain.stop(signal.SIGTERM, "SIGTERM a few steps after a checkpoint")
    step = chain.stops[-1][1]
    assert f"SIGTERM at step {step}: state saved to" in err, err
    assert step % 10, "the SIGTERM checkpoint should hold a step between periodic ones"

    chain.trainer.wait_for_checkpoint_after(step)
    chain.trainer.train_a_little()
    chain.stop(signal.SIGKILL, "SIGKILL a few steps after a checkpoint")

    assert f"trained to step {STEPS}" in chain.finish()
    print("stops (how, resumed at):", chain.stops, "write cut by the kill:", cut)
    steps = [step for _, step in chain.stops]
    assert steps == sorted(steps) and steps[-1] > 32, steps
    assert_same_state(
        tensors(straight / "checkpoints" / f"ckpt-{STEPS}"),
        tensors(workdir / "checkpoints" / f"ckpt-{STEPS}"),
    )
    assert (straight / "samples.png").read_bytes() == (workdir / "samples.png").read_bytes()


@pytest.mark.slow
def test_mixed_precision_training_killed_mid_run_resumes_exactly(mnist_data_dir, tmp_path_factory):
    sets = [*SETS, "train.mixed_precision=true"]
    straight = uninterrupted(tmp_path_factory, sets)
    workdir = tmp_path_factory.mktemp("mp") / "run"
    chain = Chain(workdir, sets)
    chain.trainer.wait_for_checkpoint_after(30)  # past the first data epoch (32 steps)
    chain.trainer.train_a_little()
    chain.stop(signal.SIGKILL, "SIGKILL a few steps after a checkpoint")
    chain.finish()
    assert_same_state(
        tensors(straight / "checkpoints" / f"ckpt-{STEPS}"),
        tensors(workdir / "checkpoints" / f"ckpt-{STEPS}"),
        mixed_precision=True,
    )


@pytest.mark.slow
def test_second_trainer_is_refused_and_sigterm_saves_the_current_step(mnist_data_dir, tmp_path):
    workdir = tmp_path / "run"
    sets = ["train.steps=1000000", "train.checkpoint_every=10", "export.enabled=false"]
    first = Trainer(workdir, sets, "first")
    first.wait_for_checkpoint_after(0)
    events = sorted((workdir / "tensorboard").iterdir())

    # Were it not refused, the second would resume the first's checkpoint and end soon.
    rc, _, err = Trainer(workdir, ["train.steps=20", *sets[1:]], "second").wait()
    assert rc == 2, err
    assert f"in use by another process (pid {first.proc.pid} " in err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("gan-tf train: error")
    assert sorted((workdir / "tensorboard").iterdir()) == events  # the second wrote nothing

    first.proc.send_signal(signal.SIGTERM)
    rc, _, err = first.wait()
    assert rc == 128 + signal.SIGTERM, err
    match = re.search(r"SIGTERM at step (\d+): state saved to (\S+);", err)
    assert match, err
    step = int(match.group(1))
    assert match.group(2) == str(workdir / "checkpoints" / f"ckpt-{step}")
    assert complete_steps(workdir)[-1] == step == first.latest_step()
