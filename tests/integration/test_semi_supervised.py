"""The semi_supervised family: label draws, its data, its step, export and parity."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tiny_semi import TINY

from gan_tf import distribute, families, presets, train
from gan_tf.errors import ConfigError, DataError
from gan_tf.families.semi_supervised import (
    classify,
    label_draw,
    labelled_indices,
    labelled_split,
)


@pytest.fixture(scope="module")
def tiny(mnist_data_dir):
    return presets.ssgan_mnist().override([f"data.data_dir={mnist_data_dir}", *TINY])


def test_label_draw_takes_k_per_class_by_seed():
    labels = np.repeat(np.arange(10), 7)[np.random.default_rng(5).permutation(70)]
    a = label_draw(labels, 3, 10, seed=0)
    assert len(a) == 30 and np.all(np.diff(a) > 0)
    assert np.bincount(labels[a], minlength=10).tolist() == [3] * 10
    assert np.array_equal(a, label_draw(labels, 3, 10, seed=0))
    assert not np.array_equal(a, label_draw(labels, 3, 10, seed=1))
    # An independent reading of the rule: the first 3 of each class in the seed's order.
    order = np.random.default_rng(1).permutation(70)
    expected = sorted(i for k in range(10) for i in order[labels[order] == k][:3])
    assert label_draw(labels, 3, 10, seed=1).tolist() == expected
    with pytest.raises(DataError, match="fewer than 8"):
        label_draw(labels, 8, 10, seed=0)


@pytest.mark.parametrize("how", ["drawn", "permuted"])
def test_labelled_batches_come_from_the_draw_and_follow_the_step(tiny, how):
    family = families.for_config(tiny.override([f"semi.labelled_batches={how}"]))
    images, labels = labelled_split(tiny, "train", tiny.data.limit)
    chosen = label_draw(labels, 2, 10, tiny.semi.label_seed)
    drawn = {tuple(images[i].reshape(-1)): labels[i] for i in chosen}
    batches = list(family.dataset(0).take(3))
    for unlabelled, (x, y) in batches:
        assert unlabelled.shape == (32, 28, 28, 1) and x.shape == (32, 28, 28, 1)
        pixels = np.rint((x.numpy() + 1) * 127.5).astype(np.uint8)
        for image, label in zip(pixels, y.numpy()):
            assert drawn[tuple(image.reshape(-1))] == label
    assert not np.array_equal(batches[0][1][1].numpy(), batches[1][1][1].numpy())
    # A run resumed at step 2 reads what step 2 of an uninterrupted run reads.
    (_, (x2, y2)), *_ = family.dataset(2).take(1)
    np.testing.assert_array_equal(x2.numpy(), batches[2][1][0].numpy())
    np.testing.assert_array_equal(y2.numpy(), batches[2][1][1].numpy())


def test_permuted_labelled_batches_read_every_labelled_example_once_per_pass():
    def batches(steps: range, batch: int, count: int, seed: int = 0) -> np.ndarray:
        return np.stack(
            [labelled_indices(tf.constant(s), batch, count, seed, "permuted") for s in steps]
        )

    # As many labels as the batch: every batch is a permutation of them, a new one each step.
    full = batches(range(4), 100, 100)
    assert all(sorted(b) == list(range(100)) for b in full)
    assert len({tuple(b) for b in full}) == 4
    # Batches of 32 over 20 labels: passes of 20 straddle batches; each pass is a permutation.
    stream = batches(range(5), 32, 20).reshape(-1)
    for e in range(8):
        assert sorted(stream[20 * e : 20 * (e + 1)]) == list(range(20)), e
    assert len({tuple(stream[20 * e : 20 * (e + 1)]) for e in range(8)}) == 8
    # A run resumed at any step reads the same stream; another seed reads another.
    np.testing.assert_array_equal(batches(range(3, 5), 32, 20).reshape(-1), stream[96:])
    assert not np.array_equal(batches(range(5), 32, 20, seed=1).reshape(-1), stream)
    drawn = labelled_indices(tf.constant(0), 100, 100, 0, "drawn").numpy()
    assert len(set(drawn)) < 100  # with replacement: some repeat (1 - 100!/100**100)


def test_feature_matching_before_noise_matches_the_noise_free_features(tiny):
    """One hidden layer and no input noise: before its noise, the features a step matches
    are the inference-time ones, so the logged squared gap equals one computed from those;
    after the noise it does not. The discriminator does not learn (SGD at rate 0), so the
    generator step sees the starting weights."""
    from mirrored_parity import fit_batches

    def build(config):
        return families.for_config(config).build()

    x = tf.random.stateless_uniform([1, 32, 28, 28, 1], seed=[1, 2], minval=-1, maxval=1)
    xl = tf.random.stateless_uniform([1, 32, 28, 28, 1], seed=[3, 4], minval=-1, maxval=1)
    y = tf.constant(np.arange(32)[None] % 10, tf.int32)
    logged, expected = {}, {}
    for before in (True, False):
        config = tiny.override(
            [
                "model.discriminator.units=16",
                "model.discriminator.noise=0",
                "model.discriminator.hidden_noise=1",
                "train.optimizer=sgd",
                "train.d_lr=0",
                f"semi.match_before_noise={before}",
            ]
        )
        _, start, logs = fit_batches(
            tf.distribute.get_strategy(), config, (x, (xl, y)), build=build
        )
        logged[before] = logs["g_loss"][0]
        fresh = build(config)
        for variable, value in zip(fresh.variables, start):
            variable.assign(value)
        fake = fresh._fakes(tf.zeros([32, 0]), 32, tf.constant(0, tf.int64), "g")
        features = fresh.discriminator.features  # inference mode: no noise
        gap = np.mean(features(fake), 0) - np.mean(features(x[0]), 0)
        expected[before] = float(np.sum(np.square(gap)))
    assert logged[True] == pytest.approx(expected[True], rel=1e-4)
    assert logged[False] != pytest.approx(expected[False], rel=0.05)


@pytest.mark.parametrize("average", [0.0, 0.5])
def test_a_step_changes_every_network_and_the_export_classifies_as_in_process(
    tiny, tmp_path, average
):
    config = tiny.override(["export.enabled=true", f"semi.classifier_ema={average}"])
    result = train.train(config, str(tmp_path / "run"), verbose=0)
    model = result.model
    assert model.discriminator.units == 10
    fresh = families.for_config(config).build()
    names = ["generator", "discriminator", "ema_generator"] + (
        ["ema_classifier"] if average else []
    )
    for name in names:
        before = [v.numpy() for v in getattr(fresh, name).trainable_variables]
        after = [v.numpy() for v in getattr(model, name).trainable_variables]
        assert any(not np.array_equal(a, b) for a, b in zip(before, after)), name
    # Outputs classify with the average when there is one; a reload restores that network.
    classifier = model.ema_classifier if average else model.discriminator
    assert model.output_classifier() is classifier
    if average:
        assert not np.array_equal(
            model.ema_classifier.variables[0].numpy(), model.discriminator.variables[0].numpy()
        )
    inference, step = families.for_config(config).load(str(tmp_path / "run"))
    assert step == 8
    for a, b in zip(inference.classifier.variables, classifier.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    images, labels = labelled_split(tiny, "test")
    images = images[:50]
    loaded = tf.saved_model.load(result.export_dir).signatures["classify"]
    out = loaded(images=tf.constant(images))
    np.testing.assert_array_equal(out["labels"].numpy(), classify(classifier, images))
    probabilities = tf.nn.softmax(classifier(images.astype(np.float32) / 127.5 - 1))
    np.testing.assert_allclose(out["probabilities"].numpy(), probabilities.numpy(), atol=1e-5)
    assert loaded(images=tf.zeros([0, 28, 28, 1], tf.uint8))["labels"].shape == (0,)
    assert "generate" in tf.saved_model.load(result.export_dir).signatures

    # TensorBoard's test error at the last step is the classifier's error on the test split.
    from test_train import read_events

    events = read_events(str(tmp_path / "run" / "tensorboard"))["semi/test_error"]
    assert [step for step, _, _ in events] == [4, 8]
    test_images, test_labels = labelled_split(tiny, "test")
    expected = np.mean(classify(classifier, test_images) != test_labels)
    assert float(tf.make_ndarray(events[-1][2].tensor)) == pytest.approx(expected, abs=1e-6)
    live = read_events(str(tmp_path / "run" / "tensorboard")).get("semi/test_error_discriminator")
    if average:
        expected = np.mean(classify(model.discriminator, test_images) != test_labels)
        assert float(tf.make_ndarray(live[-1][2].tensor)) == pytest.approx(expected, abs=1e-6)
    else:
        assert live is None

    # The generator is unconditional (the classes are the discriminator's): the projector's
    # points carry no asked-for class, only the domain classifier's.
    from gan_tf.embedding_projector import ASSETS, METADATA

    with open(tmp_path / "run" / "tensorboard" / ASSETS / METADATA, encoding="utf-8") as f:
        assert f.readline().split() == ["seed", "class", "confidence"]


def test_the_classifier_average_is_a_moving_average_of_the_discriminator(tiny):
    config = tiny.override(["semi.classifier_ema=0.15"])
    family = families.for_config(config)
    model = family.build()
    assert family.checkpoint_items(model)["ema_classifier"] is model.ema_classifier
    for a, b in zip(model.ema_classifier.variables, model.discriminator.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    batches = iter(family.dataset(0))
    # Step t keeps min(0.15, (1 + t) / (10 + t)) of the average: 0.1 at step 0, 0.15 at 1.
    for rate in (0.1, 0.15):
        before = [v.numpy() for v in model.ema_classifier.trainable_variables]
        model.train_step(next(batches))
        for b, avg, var in zip(
            before,
            model.ema_classifier.trainable_variables,
            model.discriminator.trainable_variables,
        ):
            np.testing.assert_allclose(
                avg.numpy(), rate * b + (1 - rate) * var.numpy(), rtol=1e-5, atol=1e-6
            )
    without = families.for_config(tiny.override(["semi.classifier_ema=0"]))
    assert "ema_classifier" not in without.checkpoint_items(without.build())


def test_mirrored_steps_equal_single_device_steps(tiny):
    """SGD, so a wrong gradient scale shows; the feature-matching means are global. The
    discriminator's Gaussian noise is drawn per replica (a different draw, not different
    maths), so it is off here."""

    from mirrored_parity import fit_batches

    config = tiny.override(
        [
            "train.optimizer=sgd",
            "train.g_lr=0.05",
            "train.d_lr=0.05",
            "train.batch_size=8",
            "model.discriminator.noise=0",
            "model.discriminator.hidden_noise=0",
            "semi.classifier_ema=0.5",
        ]
    )

    def build(config):
        return families.for_config(config).build()

    x = tf.random.stateless_uniform([2, 8, 28, 28, 1], seed=[1, 2], minval=-1, maxval=1)
    xl = tf.random.stateless_uniform([2, 8, 28, 28, 1], seed=[3, 4], minval=-1, maxval=1)
    y = tf.constant([[3, 1, 4, 1, 5, 9, 2, 6], [5, 3, 5, 8, 9, 7, 9, 3]], tf.int32)
    data = (x, (xl, y))
    single, start, single_logs = fit_batches(
        tf.distribute.get_strategy(), config, data, build=build
    )
    mirrored, _, mirrored_logs = fit_batches(
        distribute.get_strategy("mirrored"), config, data, init=start, build=build
    )
    assert max(float(np.abs(a - v.numpy()).max()) for a, v in zip(start, single.variables)) > 1e-4
    for a, b in zip(single.variables, mirrored.variables):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-5, err_msg=a.path)
    for key in ("d_loss", "g_loss", "supervised"):
        np.testing.assert_allclose(mirrored_logs[key], single_logs[key], rtol=1e-5, err_msg=key)


def test_data_init_sets_the_classifier_from_training_images_on_a_first_start_only(tiny, tmp_path):
    """The classifier's logits start standardised on the training images the family draws;
    a resumed run keeps its checkpoint's weights (re-initialising would reset the fixed
    gains from the trained directions, and the runs would part)."""
    from gan_tf.data.pipeline import to_unit_range
    from gan_tf.families.semi_supervised import INIT_IMAGES

    config = tiny.override(
        [
            "model.discriminator.data_init=true",
            "model.discriminator.noise=0",
            "model.discriminator.hidden_noise=0",
            "semi.classifier_ema=0.5",
            "train.lr_decay_start=1",  # a constant rate: the same schedule when stopped at 4
        ]
    )
    family = families.for_config(config)
    model = family.build()
    family.initialise(model)
    images, _ = family.training_split()
    chosen = np.random.default_rng(config.train.seed).permutation(len(images))[:INIT_IMAGES]
    logits = model.discriminator(to_unit_range(tf.constant(images[chosen]))).numpy()
    np.testing.assert_allclose(logits.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(logits.std(axis=0), 1, atol=1e-3)
    gains = [v.numpy() for v in model.discriminator.non_trainable_variables if "gain" in v.path]
    assert (
        len(gains) == 2
        and sum("gain" in v.path for v in model.discriminator.trainable_variables) == 1
    )
    for a, b in zip(model.ema_classifier.variables, model.discriminator.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    whole = train.train(config, str(tmp_path / "whole"), verbose=0).model
    train.train(config.override(["train.steps=4"]), str(tmp_path / "resumed"), verbose=0)
    resumed = train.train(config, str(tmp_path / "resumed"), verbose=0)
    assert resumed.start_step == 4
    fixed = [v for v in whole.discriminator.non_trainable_variables if "gain" in v.path]
    for v, gain in zip(fixed, gains, strict=True):  # still those of the first start
        np.testing.assert_array_equal(v.numpy(), gain)
    for a, b in zip(whole.variables, resumed.model.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_data_init_under_mirrored_equals_single_device(tiny):
    """The initialisation runs in the strategy's cross-replica context: every replica's
    copy gets the same gains and biases as a single-device run's."""
    config = tiny.override(["semi.classifier_ema=0.5"])
    assert config.model.discriminator["data_init"]  # the preset's
    family = families.for_config(config)
    single = family.build()
    start = [v.numpy() for v in single.variables]
    family.initialise(single)
    strategy = distribute.get_strategy("mirrored")
    with strategy.scope():
        mirrored = family.build()
    for variable, value in zip(mirrored.variables, start):
        variable.assign(value)
    with strategy.scope():
        family.initialise(mirrored)
    changed = 0
    for a, b, before in zip(single.variables, mirrored.variables, start):
        changed += not np.array_equal(a.numpy(), before)
        for replica_value in strategy.experimental_local_results(b):
            np.testing.assert_allclose(replica_value.numpy(), a.numpy(), atol=1e-6, err_msg=a.path)
    assert changed >= 6  # the gains and biases of the two hidden layers, the head, the average


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["data.num_classes=0"], "num_classes >= 2"),
        (["train.diffaugment=translation"], "without DiffAugment"),
        (["semi.labels_per_class=0"], "labels_per_class must be > 0"),
        (["semi.classifier_ema=1"], r"classifier_ema must be in \[0, 1\)"),
        (["semi.labelled_batches=sorted"], "semi.labelled_batches='sorted'"),
        (["model.discriminator.hidden_noise=0", "semi.match_before_noise=true"], "hidden_noise"),
        (["progressive.stage_steps=4"], "semi_supervised family's step does not grow"),
        # The test error would be measured on the training images.
        (
            ["data.source=tfrecord", "data.path=/data/*.tfrecord"],
            r"semi.eval_split='test': data.path='/data/\*.tfrecord' holds only the training",
        ),
    ],
)
def test_bad_settings_are_refused(tiny, tmp_path, overrides, match):
    with pytest.raises(ConfigError, match=match):
        train.train(tiny.override(overrides), str(tmp_path / "run"), verbose=0)
