"""The anomaly family's training: phases, what each step changes, resume, checkpoints."""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import families, presets, train
from gan_tf.errors import ConfigError, DataError
from gan_tf.families.anomaly import EncoderPhase, labelled_images
from gan_tf.metrics import detection

TINY = [
    "data.limit=256",
    "data.shuffle_buffer=256",
    "model.latent_dim=16",
    "model.generator.width=8",
    "model.discriminator.width=8",
    "model.encoder.width=8",
    "train.batch_size=32",
    "train.steps=12",
    "anomaly.encoder_steps=6",
    "train.steps_per_epoch=4",
    "train.checkpoint_every=2",
    "train.keep_checkpoints=10",
    "train.log_every=2",
    "train.image_every=100",
    "train.num_grid=4",
    "anomaly.eval_every=3",
    "anomaly.eval_samples=300",
    "export.enabled=false",
]


@pytest.fixture(scope="module")
def tiny(mnist_data_dir):
    return presets.anomaly_mnist().override([f"data.data_dir={mnist_data_dir}", *TINY])


@pytest.fixture(scope="module")
def run(tiny, tmp_path_factory):
    """One finished tiny run, shared by the tests that only read it."""
    workdir = str(tmp_path_factory.mktemp("anomaly") / "run")
    return train.train(tiny, workdir, verbose=0), workdir


def weights(model):
    nets = ("generator", "discriminator", "ema_generator", "encoder")
    return {name: [v.numpy().copy() for v in getattr(model, name).variables] for name in nets}


def changed(before, after) -> set[str]:
    return {
        name
        for name in before
        if any(not np.array_equal(a, b) for a, b in zip(before[name], after[name]))
    }


def test_gan_steps_then_encoder_steps_change_only_their_networks(tiny):
    family = families.for_config(tiny)
    model = family.build()
    data = family.dataset(0)
    fit = dict(steps_per_epoch=3, epochs=1, verbose=0, callbacks=[EncoderPhase()])

    start = weights(model)
    model.fit(data, **fit)  # steps 0-2: the GAN's
    assert not model.encoder_phase
    gan = weights(model)
    assert changed(start, gan) == {"generator", "discriminator", "ema_generator"}

    model.fit(data, **fit)  # steps 3-5: the GAN's; the phase changes after step 5
    model.fit(data, **fit)  # steps 6-8: the encoder's
    assert model.encoder_phase and int(model.step_counter.numpy()) == 9
    before = weights(model)
    model.fit(data, **fit)
    assert changed(before, weights(model)) == {"encoder"}

    # The generator the encoder trained against is the EMA generator as outputs see it.
    images = next(iter(data))[:8]
    trained_against = model.reconstruct(images).numpy()
    detector = family.inference(model)  # brings the output copy up to date first
    z = model.encoder(images, training=False)
    expected = detector.generator((z, tf.zeros([8, 0])), training=False)
    np.testing.assert_allclose(trained_against, expected.numpy(), atol=1e-6)


def test_the_encoder_learns_to_reconstruct(tiny):
    cfg = tiny.override(["train.steps=40", "anomaly.encoder_steps=30"])
    family = families.for_config(cfg)
    model = family.build()
    hist = model.fit(
        family.dataset(0), steps_per_epoch=10, epochs=4, verbose=0, callbacks=[EncoderPhase()]
    ).history
    assert "e_loss" in hist and len(hist["e_loss"]) == 3  # epochs 2-4 are the encoder's
    assert hist["e_loss"][-1] < hist["e_loss"][0]


def test_resumed_in_the_encoder_steps_ends_in_the_same_state(tiny, run, tmp_path):
    straight, _ = run
    workdir = tmp_path / "resumed"
    train.train(tiny, str(workdir), verbose=0)
    for step in (10, 12):  # as if killed after the checkpoint of step 8 (encoder step 3)
        for path in glob.glob(str(workdir / "checkpoints" / f"ckpt-{step}.*")):
            os.remove(path)
    resumed = train.train(tiny, str(workdir), verbose=0)
    assert (resumed.start_step, resumed.step) == (8, 12)
    a, b = weights(straight.model), weights(resumed.model)
    assert changed(a, b) == set()
    for x, y in zip(straight.model.e_optimizer.variables, resumed.model.e_optimizer.variables):
        np.testing.assert_array_equal(x.numpy(), y.numpy())


def test_checkpoints_hold_the_encoder_by_name_and_load_gives_the_live_scores(tiny, run):
    result, workdir = run
    names = {name.split("/")[0] for name, _ in tf.train.list_variables(result.checkpoint)}
    assert {"encoder", "e_optimizer", "generator", "discriminator", "ema_generator"} <= names
    images, _ = labelled_images(tiny, limit=64)
    live = result.family.inference(result.model).score(images)
    loaded, step = result.family.load(workdir)
    assert step == 12
    again = loaded.score(images)
    np.testing.assert_allclose(again["scores"], live["scores"], rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(again["reconstructions"], live["reconstructions"])


def test_scores_depend_on_each_image_only(tiny, run):
    result, _ = run
    detector = result.family.inference(result.model)
    images, _ = labelled_images(tiny, limit=40)
    together = detector.score(images)["scores"]
    alone = np.concatenate([detector.score(images[i : i + 1])["scores"] for i in range(5)])
    np.testing.assert_allclose(alone, together[:5], rtol=1e-5)
    with pytest.raises(DataError, match="cannot be scored"):
        detector.score(np.zeros([2, 32, 32, 1], np.uint8))


def test_loading_before_the_encoder_steps_is_refused(tiny, tmp_path):
    workdir = str(tmp_path / "run")
    train.train(tiny.override(["train.steps=4", "anomaly.encoder_steps=2"]), workdir, verbose=0)
    for path in glob.glob(os.path.join(workdir, "checkpoints", "ckpt-4.*")):
        os.remove(path)
    family = families.for_config(tiny.override(["train.steps=4", "anomaly.encoder_steps=2"]))
    with pytest.raises(Exception, match="before the encoder steps"):
        family.load(workdir)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (["anomaly.encoder_steps=12"], "less than train.steps"),
        (["anomaly.encoder_steps=0"], "must be positive"),
        (["data.num_classes=10"], "unconditional"),
        (["data.normal_classes=one"], "comma-separated class labels"),
        (["model.encoder.mbstd_group=4"], "mbstd_group must be 0"),
        (["anomaly.fpr=1.5"], r"anomaly.fpr must be in \[0, 1\]"),
        # The AUROC would be measured on the training images.
        (
            ["data.source=tfrecord", "data.path=/data/*.tfrecord"],
            r"anomaly.eval_split='test': data.path='/data/\*.tfrecord' holds only the training",
        ),
    ],
)
def test_bad_settings_are_refused(tiny, tmp_path, overrides, match):
    with pytest.raises(ConfigError, match=match):
        train.train(tiny.override(overrides), str(tmp_path / "run"), verbose=0)
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_tensorboard_gets_auroc_and_score_histograms_of_the_detector(tiny, run):
    from test_train import read_events

    result, workdir = run
    cfg = tiny
    tags = read_events(os.path.join(workdir, "tensorboard"))
    for name in ("anomaly/score_normal", "anomaly/score_anomalous"):
        assert [step for step, plugin, _ in tags[name]] == [9, 12]
        assert {plugin for _, plugin, _ in tags[name]} == {"histograms"}
    auroc = {step: float(tf.make_ndarray(v.tensor)) for step, _, v in tags["anomaly/auroc"]}
    assert sorted(auroc) == [9, 12]  # the encoder steps are 7-12
    images, anomalous = labelled_images(cfg, limit=300)
    scores = result.family.inference(result.model).score(images)["scores"]
    assert auroc[12] == pytest.approx(detection.auroc(scores, anomalous), abs=1e-6)
