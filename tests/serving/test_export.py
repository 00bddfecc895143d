"""The exported SavedModel: signatures, per-seed determinism, PNGs, metadata, warmup, atomicity."""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import resource
import select
import signal
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import export, families, images, presets, sampling
from gan_tf.errors import GanTfError

SEEDS = np.array([7, 0, 123456789, 3, 2**40], np.int64)


def call(loaded, signature: str, **inputs) -> dict[str, np.ndarray]:
    fn = loaded.signatures[signature]
    outputs = fn(**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def generate_inputs(seeds, psi: float = 1.0, labels=None) -> dict[str, np.ndarray]:
    seeds = np.asarray(seeds, np.int64)
    inputs = {"seeds": seeds, "truncation": np.full(seeds.shape, psi, np.float32)}
    if labels is not None:
        inputs["labels"] = np.asarray(labels, np.int64)
    return inputs


@pytest.fixture(scope="module")
def loaded(base_path):
    return tf.saved_model.load(os.path.join(base_path, "1"))


@pytest.fixture(scope="module")
def cond_loaded(cond_base_path):
    return tf.saved_model.load(os.path.join(cond_base_path, "1"))


def test_signatures_and_specs(loaded, cond_loaded):
    assert set(loaded.signatures) == set(export.SIGNATURES)
    default = loaded.signatures["serving_default"]
    assert default.structured_input_signature[1]["z"].shape.as_list() == [None, 16]
    assert default.structured_outputs["images"].dtype == tf.uint8
    png = loaded.signatures["generate_png"].structured_outputs
    assert list(png) == ["images_bytes"] and png["images_bytes"].dtype == tf.string
    for name in export.SIGNATURES[1:]:
        specs = cond_loaded.signatures[name].structured_input_signature[1]
        assert {k: v.dtype for k, v in specs.items()} == {
            "seeds": tf.int64,
            "truncation": tf.float32,
            "labels": tf.int64,
        }
    assert "labels" in cond_loaded.signatures["serving_default"].structured_input_signature[1]


def test_every_signature_matches_the_generator(loaded, generator):
    z = sampling.latents_for_seeds(SEEDS, 16)
    expected = images.to_uint8(generator(generator.inputs_for(z), training=False))
    by_z = call(loaded, "serving_default", z=z.numpy())["images"]
    by_seed = call(loaded, "generate", **generate_inputs(SEEDS))["images"]
    pngs = call(loaded, "generate_png", **generate_inputs(SEEDS))["images_bytes"]
    assert by_z.dtype == np.uint8 and by_z.shape == (5, 28, 28, 1)
    np.testing.assert_array_equal(by_z, by_seed)
    decoded = np.stack([tf.io.decode_png(p).numpy() for p in pngs])
    np.testing.assert_array_equal(decoded, by_seed)
    # `gan-tf generate` runs the batch at once: equal up to float rounding at a .5 boundary.
    assert np.abs(by_seed.astype(int) - expected.astype(int)).max() <= 1
    assert len(np.unique(by_seed.reshape(5, -1), axis=0)) == 5  # seeds give different images


def test_same_seed_same_image_alone_and_in_any_batch(loaded, cond_loaded):
    batch = call(loaded, "generate", **generate_inputs(SEEDS))["images"]
    shuffled = call(loaded, "generate", **generate_inputs(SEEDS[::-1]))["images"][::-1]
    np.testing.assert_array_equal(batch, shuffled)
    for i, seed in enumerate(SEEDS):
        alone = call(loaded, "generate", **generate_inputs([seed]))["images"][0]
        np.testing.assert_array_equal(alone, batch[i])
        alone_png = call(loaded, "generate_png", **generate_inputs([seed]))["images_bytes"][0]
        np.testing.assert_array_equal(tf.io.decode_png(alone_png).numpy(), batch[i])
    labels = np.array([0, 1, 2, 1, 0])
    cond_batch = call(cond_loaded, "generate", **generate_inputs(SEEDS, labels=labels))["images"]
    for i in (0, 4):
        alone = call(
            cond_loaded, "generate", **generate_inputs(SEEDS[i : i + 1], labels=labels[i : i + 1])
        )
        np.testing.assert_array_equal(alone["images"][0], cond_batch[i])


def test_conditional_signatures(cond_loaded, cond_generator):
    z = sampling.latents_for_seeds(SEEDS[:3], 16)
    labels = np.array([2, 0, 1], np.int64)
    by_z = call(cond_loaded, "serving_default", z=z.numpy(), labels=labels)["images"]
    by_seed = call(cond_loaded, "generate", **generate_inputs(SEEDS[:3], labels=labels))["images"]
    np.testing.assert_array_equal(by_z, by_seed)
    expected = images.to_uint8(cond_generator(cond_generator.inputs_for(z, labels), training=False))
    assert np.abs(by_seed.astype(int) - expected.astype(int)).max() <= 1
    other = call(cond_loaded, "generate", **generate_inputs(SEEDS[:3], labels=[0, 1, 2]))["images"]
    assert not np.array_equal(other, by_seed)  # the label matters
    pngs = call(cond_loaded, "generate_png", **generate_inputs(SEEDS[:3], labels=labels))
    assert len(pngs["images_bytes"]) == 3
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels must be < num_classes"):
        call(cond_loaded, "generate", **generate_inputs([1], labels=[3]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="one entry per example"):
        call(cond_loaded, "generate", **generate_inputs([1, 2], labels=[0]))


def test_truncation_scales_the_latent(loaded):
    scaled = call(loaded, "generate", **generate_inputs(SEEDS[:2], psi=0.5))["images"]
    z = 0.5 * sampling.latents_for_seeds(SEEDS[:2], 16).numpy()
    np.testing.assert_array_equal(scaled, call(loaded, "serving_default", z=z)["images"])
    at_zero = call(loaded, "generate", **generate_inputs(SEEDS[:3], psi=0.0))["images"]
    np.testing.assert_array_equal(at_zero[0], at_zero[2])  # psi = 0: every seed gives z = 0
    with pytest.raises(tf.errors.InvalidArgumentError, match="truncation"):
        call(loaded, "generate", **generate_inputs([1], psi=-1.0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="one entry per seed"):
        call(loaded, "generate", seeds=np.array([1, 2]), truncation=np.ones([1], np.float32))


def test_empty_batch(loaded):
    out = call(loaded, "generate_png", **generate_inputs(np.zeros([0], np.int64)))
    assert out["images_bytes"].shape == (0,)


def test_metadata_in_assets(base_path, cond_base_path):
    meta = export.read_metadata(os.path.join(base_path, "1"))
    assert meta["latent_dim"] == 16 and meta["num_classes"] == 0
    assert meta["image_shape"] == [28, 28, 1]
    assert meta["step"] == 1 and meta["gate"] == {"kid": 0.1}
    assert meta["signatures"] == list(export.SIGNATURES)
    assert export.read_metadata(os.path.join(cond_base_path, "1"))["num_classes"] == 3


def test_warmup_file_parses_and_its_requests_run(base_path, cond_base_path, loaded, cond_loaded):
    for path, model in ((base_path, loaded), (cond_base_path, cond_loaded)):
        logs = export.read_warmup_requests(os.path.join(path, "1"))
        assert len(logs) == 4
        names = set()
        for entry in logs:
            request = entry.predict_log.request
            names.add(request.model_spec.signature_name)
            inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
            outputs = call(model, request.model_spec.signature_name, **inputs)
            assert len(next(iter(outputs.values()))) == len(inputs.get("seeds", inputs.get("z")))
        assert names == set(export.SIGNATURES)


def test_export_replaces_a_version_and_leaves_no_temporaries(tmp_path, generator):
    # The end state only; that no partial version is ever visible is shown by
    # test_an_export_interrupted_at_any_moment_never_shows_a_partial_version.
    target = tmp_path / "base" / "3"
    export.export_generator(generator, str(target), {"step": 1}, warmup_requests=0)
    assert export.read_warmup_requests(str(target)) == []
    export.export_generator(generator, str(target), {"step": 2}, warmup_requests=2)
    assert export.read_metadata(str(target))["step"] == 2
    assert len(export.read_warmup_requests(str(target))) == 2
    assert os.listdir(tmp_path / "base") == ["3"]  # no temporary directory left behind


def file_tree(path) -> dict[str, int]:
    """{relative path: size} of the files below `path`."""
    return {
        os.path.relpath(os.path.join(root, name), path): os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    }


@contextlib.contextmanager
def file_size_limit(max_bytes: int):
    """Makes every file write of this process past `max_bytes` fail (EFBIG), as a full disk
    would fail it; SIGXFSZ, which would kill the process, is ignored meanwhile."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


# 20 kB fails in the variables' data (written first), 200 kB in saved_model.pb (after them).
@pytest.mark.parametrize("fail_past", [20_000, 200_000])
def test_an_export_failing_midway_leaves_the_old_version_and_no_leftovers(
    tmp_path, generator, fail_past
):
    base = tmp_path / "base"
    export.export_generator(generator, str(base / "3"), {"step": 1})
    before = file_tree(base / "3")
    for target in ("3", "4"):  # replacing a version, and writing a new one
        with file_size_limit(fail_past):
            with pytest.raises(export.ExportError, match="File too large"):
                export.export_generator(generator, str(base / target), {"step": 2})
        assert os.listdir(base) == ["3"]  # no partial version, no temporary directory
        assert file_tree(base / "3") == before
        assert export.read_metadata(str(base / "3"))["step"] == 1
    loaded = tf.saved_model.load(str(base / "3"))
    assert call(loaded, "generate", **generate_inputs(SEEDS))["images"].shape == (5, 28, 28, 1)


# Exports version after version into a base path until killed.
EXPORT_LOOP = """
import os, sys
sys.path.insert(0, sys.argv[2])
from conftest import make_generator
from gan_tf import export
generator = make_generator()
for version in range(2, 1000):
    export.export_generator(generator, os.path.join(sys.argv[1], str(version)), {"step": version})
    print(version, flush=True)
"""
CRASH_POINTS = 40


class NewNames:
    """Names created in, or moved into, a directory, as the kernel reports them (inotify)."""

    _MASK = 0x100 | 0x80  # IN_CREATE | IN_MOVED_TO

    def __init__(self, path: str):
        libc = ctypes.CDLL(None, use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, os.fsencode(path), self._MASK) < 0:
            raise OSError(ctypes.get_errno(), "inotify")

    def wait(self, timeout: float) -> list[str]:
        if not select.select([self.fd], [], [], timeout)[0]:
            return []
        data, names, offset = os.read(self.fd, 1 << 16), [], 0
        while offset < len(data):  # struct inotify_event: wd, mask, cookie, len, name
            length = struct.unpack_from("iIII", data, offset)[3]
            names.append(data[offset + 16 : offset + 16 + length].rstrip(b"\0").decode())
            offset += 16 + length
        return names

    def close(self) -> None:
        os.close(self.fd)


@pytest.mark.slow
def test_an_export_interrupted_at_any_moment_never_shows_a_partial_version(tmp_path, generator):
    from gan_tf.serving.models import list_versions, parse_version

    base = tmp_path / "base"
    export.export_generator(generator, str(base / "1"), {"step": 1})
    complete = set(file_tree(base / "1"))  # the files of a whole export
    seen: dict[int, list[dict[str, int]]] = {}  # every state of every version a reader saw
    child = subprocess.Popen(
        [sys.executable, "-c", EXPORT_LOOP, str(base), os.path.dirname(__file__)],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    freeze = threading.Lock()
    freezes: list[float] = []

    def look_while_frozen() -> None:
        """Stops the exporter and records what a reader sees: what a crash now would leave."""
        with freeze:
            freezes.append(time.monotonic())
            child.send_signal(signal.SIGSTOP)
            try:
                for name in os.listdir(base):
                    version = parse_version(name)
                    if version is not None:
                        tree = file_tree(base / name)
                        if not seen.setdefault(version, []) or seen[version][-1] != tree:
                            seen[version].append(tree)
            finally:
                child.send_signal(signal.SIGCONT)

    new_names = NewNames(str(base))
    done = threading.Event()

    def watch() -> None:  # looks the moment a version name appears
        while not done.is_set():
            if any(parse_version(name) is not None for name in new_names.wait(0.05)):
                look_while_frozen()

    watcher = threading.Thread(target=watch)
    watcher.start()
    exported: list[str] = []
    threading.Thread(target=lambda: exported.extend(child.stdout), daemon=True).start()
    rng = random.Random(7)
    crash_points = 0
    try:
        deadline = time.monotonic() + 120
        while not exported:  # the first export is done: the exporter is warm
            assert child.poll() is None and time.monotonic() < deadline, "no export finished"
            time.sleep(0.05)
        # Freeze the exporter at random moments too, over at least two whole exports.
        while crash_points < CRASH_POINTS or len(exported) < 3:
            assert time.monotonic() < deadline, f"only {len(exported)} exports finished"
            time.sleep(rng.uniform(0.01, 0.1))
            look_while_frozen()
            crash_points += 1
        time.sleep(rng.uniform(0.0, 0.5))
        child.kill()  # and a real crash
        child.wait(timeout=30)
    finally:
        child.kill()
        done.set()
        watcher.join()
        new_names.close()
    final = {parse_version(n): file_tree(base / n) for n in os.listdir(base) if parse_version(n)}
    print(
        f"crash points: {len(freezes)} freezes ({crash_points} at random moments, the others "
        f"as a version appeared) and 1 kill, over {len(final) - 1} exports"
    )
    assert len(final) >= 4  # version 1 and the exports finished meanwhile
    assert set(seen) >= set(final) - {1}  # every new version was looked at as it appeared
    for version, states in seen.items():
        assert states == [final[version]], f"version {version} was seen partial"
        assert set(final[version]) == complete
    leftovers = [n for n in os.listdir(base) if parse_version(n) is None]
    assert all(n.startswith(".") for n in leftovers), leftovers  # ignored by servers
    assert set(list_versions(str(base))) == set(final)
    newest = tf.saved_model.load(str(base / str(max(final))))
    want = call(tf.saved_model.load(str(base / "1")), "generate", **generate_inputs(SEEDS))
    got = call(newest, "generate", **generate_inputs(SEEDS))
    np.testing.assert_array_equal(got["images"], want["images"])


IMAGE_SIGNATURES = {
    "score": (
        presets.anomaly_mnist,
        ["model.generator.width=8", "model.discriminator.width=8", "model.encoder.width=8"],
    ),
    "classify": (
        presets.ssgan_mnist,
        ["model.generator.units=16,16", "model.discriminator.units=16,8"],
    ),
}


@pytest.mark.parametrize("signature", sorted(IMAGE_SIGNATURES))
def test_image_signatures_refuse_images_of_another_shape(tmp_path, signature):
    """TF Serving feeds inputs without checking the shapes a signature declares: the graph
    names what it takes, also for a shape with as many pixels (which a dense network would
    otherwise take)."""
    preset, settings = IMAGE_SIGNATURES[signature]
    family = families.for_config(preset().override(settings))
    path = family.export(family.inference(family.build()), str(tmp_path / "1"), {"step": 0})
    fn = tf.saved_model.load(path).signatures[signature]
    assert fn(images=tf.zeros([2, 28, 28, 1], tf.uint8))  # the declared shape runs
    for shape in ([2, 28, 28, 3], [2, 32, 32, 1], [1, 14, 56, 1]):
        with pytest.raises(
            tf.errors.InvalidArgumentError,
            match=rf"{signature} takes images of shape \[n, 28, 28, 1\]",
        ):
            fn(images=tf.zeros(shape, tf.uint8))


def test_bad_arguments(tmp_path, generator):
    target = str(tmp_path / "x")
    with pytest.raises(export.ExportError, match="step"):
        export.export_generator(generator, target, {})
    with pytest.raises(export.ExportError, match="latent_dim"):
        export.export_generator(generator, target, {"step": 1, "latent_dim": 3})
    with pytest.raises(export.ExportError, match="JSON"):
        export.export_generator(generator, target, {"step": 1, "bad": object()})
    with pytest.raises(export.ExportError, match="warmup_requests"):
        export.export_generator(generator, target, {"step": 1}, warmup_requests=1001)
    with pytest.raises(export.ExportError, match="Generator"):
        export.export_generator(object(), target, {"step": 1})
    assert not os.path.exists(target) and os.listdir(tmp_path) == []
    with pytest.raises(GanTfError, match="not a gan_tf export"):
        export.read_metadata(str(tmp_path))


def test_non_finite_generator_is_not_exported(tmp_path, generator):
    from gan_tf.networks.dcgan import DCGANGenerator

    broken = DCGANGenerator.from_config(generator.get_config())
    broken(broken.dummy_inputs())
    broken.variables[0].assign(np.full(broken.variables[0].shape, np.nan, np.float32))
    with pytest.raises(export.ExportError, match="NaN/Inf weights"):
        export.export_generator(broken, str(tmp_path / "1"), {"step": 1})
    assert os.listdir(tmp_path) == []


def test_mixed_precision_generator_exports_as_float32(tmp_path, generator):
    import keras

    from gan_tf.networks.dcgan import DCGANGenerator

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        mixed = DCGANGenerator.from_config(generator.get_config())
        mixed(mixed.dummy_inputs())
    finally:
        keras.mixed_precision.set_global_policy(previous)
    mixed.set_weights(generator.get_weights())
    assert mixed.layers[0].compute_dtype == "float16"
    path = export.export_generator(mixed, str(tmp_path / "1"), {"step": 3})
    loaded = tf.saved_model.load(path)
    reader = tf.train.load_checkpoint(os.path.join(path, "variables", "variables"))
    dtypes = reader.get_variable_to_dtype_map()
    assert {d for k, d in dtypes.items() if "OBJECT_GRAPH" not in k} == {tf.float32}
    assert not half_precision_ops(path)  # float32 maths, not float16
    got = call(loaded, "generate", **generate_inputs(SEEDS))["images"]
    want = images.to_uint8(generator(sampling.generator_inputs(generator, SEEDS), training=False))
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def half_precision_ops(path: str) -> list[str]:
    """Ops of a SavedModel's graph functions that compute in float16."""
    from tensorflow.core.framework import types_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    return [
        node.op
        for graph in saved.meta_graphs
        for function in graph.graph_def.library.function
        for node in function.node_def
        if any(attr.type == types_pb2.DT_HALF for attr in node.attr.values())
    ]
