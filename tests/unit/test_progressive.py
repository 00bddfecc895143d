"""Progressive growing by level of detail: the schedule, the blends, and exact resume."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import checkpoint, families, presets
from gan_tf.checkpoint import Checkpointer
from gan_tf.networks import progressive


@pytest.mark.parametrize(
    "step, lod",
    [(0, 2.0), (9, 2.0), (10, 2.0), (11, 1.75), (12, 1.5), (14, 1.0), (24, 1.0), (26, 0.5),
     (28, 0.0), (10_000, 0.0)],
)  # fmt: skip
def test_schedule(step, lod):
    # 3 levels, 10 steps per stage, 4 per fade.
    assert float(progressive.lod_at(step, 3, 10, 4)) == lod


def test_schedule_without_fades_switches_levels_at_once():
    got = [float(progressive.lod_at(s, 3, 2, 0)) for s in range(6)]
    assert got == [2.0, 2.0, 1.0, 1.0, 0.0, 0.0]


def reference_blur(x: np.ndarray, lod: float, levels: int) -> np.ndarray:
    """Block means of the two integer levels around `lod`, blended linearly (numpy)."""

    def at(k: int) -> np.ndarray:
        n, h, w, c = x.shape
        f = 2**k
        means = x.reshape(n, h // f, f, w // f, f, c).mean(axis=(2, 4))
        return means.repeat(f, axis=1).repeat(f, axis=2)

    low = min(int(np.floor(lod)), levels - 1)
    high = min(low + 1, levels - 1)
    t = lod - low
    return (1 - t) * at(low) + t * at(high)


@pytest.mark.parametrize("lod", [0.0, 0.25, 1.0, 1.5, 2.0])
def test_blur_to_lod_matches_block_means(lod):
    x = np.random.default_rng(0).uniform(-1, 1, [2, 8, 8, 3]).astype(np.float32)
    got = progressive.blur_to_lod(tf.constant(x), tf.constant(lod), 3).numpy()
    np.testing.assert_allclose(got, reference_blur(x, lod, 3), atol=1e-6)


def test_grow_images_blends_levels():
    low = tf.fill([1, 2, 2, 1], 1.0)
    high = tf.fill([1, 4, 4, 1], 3.0)
    lerp = [float(progressive.grow_images([low, high], tf.constant(t))[0, 0, 0, 0]) for t in
            (0.0, 0.25, 1.0)]  # fmt: skip
    assert lerp == [3.0, 2.5, 1.0]
    skip = [float(progressive.grow_images([low, high], tf.constant(t), skip=True)[0, 0, 0, 0])
            for t in (0.0, 0.25, 1.0)]  # fmt: skip
    assert skip == [4.0, 3.25, 1.0]


GROWING = [
    "data.limit=64",
    "progressive.stage_steps=2",
    "progressive.fade_steps=2",
    "model.generator.progressive=true",
    "model.discriminator.progressive=true",
]
CASES = {
    "dcgan": lambda: presets.smoke().override(
        [*GROWING, "train.batch_size=8", "model.generator.width=4", "model.discriminator.width=4"]
    ),
    "stylegan": lambda: presets.stylegan_smoke().override(GROWING),
}


def fit(model, batches: np.ndarray) -> None:
    model.fit(tf.data.Dataset.from_tensor_slices(batches), steps_per_epoch=len(batches), verbose=0)


@pytest.mark.parametrize("arch", sorted(CASES))
def test_resume_in_the_middle_of_a_fade_equals_the_uninterrupted_run(arch, tmp_path):
    config = CASES[arch]()
    family = families.for_config(config)
    family.validate()
    batches = tf.random.stateless_uniform([8, 8, 28, 28, 1], seed=[4, 2], minval=-1, maxval=1)
    batches = batches.numpy()

    straight = family.build()
    fit(straight, batches)
    assert float(straight.generator.lod.numpy()) == 0.5  # step 7: the second fade, half in

    stopped = family.build()
    fit(stopped, batches[:4])
    # Stopped after step 3, in the middle of the first fade (lod 1.5).
    assert float(stopped.generator.lod.numpy()) == 1.5
    assert float(stopped.discriminator.lod.numpy()) == 1.5
    Checkpointer(family.checkpoint_items(stopped), stopped.step_counter, str(tmp_path), 1).save()

    resumed = family.build()
    assert checkpoint.restore_items(family.checkpoint_items(resumed), str(tmp_path)) == 4
    fit(resumed, batches[4:])
    for a, b in zip(straight.variables, resumed.variables):
        np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)
    for a, b in zip(straight.g_optimizer.variables, resumed.g_optimizer.variables):
        np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)


@pytest.mark.parametrize("arch", sorted(CASES))
def test_growing_networks_use_every_level(arch):
    """Mid-fade, a step moves the weights of both blended levels of each network (and not
    those of levels still off)."""
    family = families.for_config(CASES[arch]())
    model = family.build()
    model.step_counter.assign(3)  # lod 1.5: levels 0 and 1 on, level 2 (28 px) off
    before = [v.numpy().copy() for v in model.variables]
    fit(model, tf.random.stateless_uniform([1, 8, 28, 28, 1], seed=[1, 1]).numpy())
    moved = {id(v) for v, b in zip(model.variables, before) if not np.array_equal(v.numpy(), b)}
    g, d = model.generator, model.discriminator

    def all_moved(layer) -> bool:
        return {id(v) for v in layer.trainable_variables} <= moved

    def none_moved(layer) -> bool:
        return not {id(v) for v in layer.trainable_variables} & moved

    if arch == "dcgan":
        assert all_moved(g.lower_images[0]) and all_moved(g.lower_images[1])
        assert none_moved(g.to_image)
        assert all_moved(d.lower_inputs[0]) and all_moved(d.lower_inputs[1])
    else:
        assert all_moved(g.to_rgb[0]) and all_moved(g.to_rgb[1]) and none_moved(g.to_rgb[2])
        assert all_moved(d.from_rgb[0]) and all_moved(d.from_rgb[1])
        assert none_moved(d.from_rgb[2])
