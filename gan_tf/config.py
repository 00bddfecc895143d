"""Run configuration: frozen dataclasses, strict parsing and `a.b=value` overrides.

A run is fully described by one `Config`. Presets (see `gan_tf.presets`) are functions
returning a `Config`; the command line refines them with `--set section.field=value`, and the
resolved configuration is written as JSON beside every run so that it can be read back with
`Config.from_dict`.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from gan_tf.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where training images come from and how they are shaped.

    Attributes:
      source: `tfds` (a TFDS dataset; `mnist` works offline), `tfrecord` (files of
        `tf.Example` with encoded image bytes and an optional int64 label) or `folder`
        (image files; with classes, one sub-folder per class).
      name: TFDS dataset name, for `source=tfds`.
      split: the split trained on: TFDS's, or for the other sources the value of the
        `{split}` field of `path`.
      path: file pattern (`tfrecord`) or directory (`folder`). A `{split}` field in it is
        replaced by the split read: `split` for training, the held-out split for labelled
        evaluation (`anomaly.eval_split`, `semi.eval_split`), e.g. `/data/{split}/*.tfrecord`.
        A path without it holds only the training data, and reading another split of it
        is an error.
      data_dir: TFDS data directory; empty means `$GAN_TF_DATA_DIR` or the user cache.
      image_key: feature holding the image (TFDS feature or `tf.Example` key).
      label_key: feature holding the class label.
      image_size: height and width the networks expect.
      channels: 1 (grayscale) or 3 (RGB).
      num_classes: 0 for an unconditional GAN, otherwise the number of classes.
      resize: resize images of another size instead of failing.
      limit: use only the first `limit` examples (0 = all).
      shuffle_buffer: size of the shuffle buffer.
      cache_mb: decode once and keep the decoded images in memory when they fit in this
        many MB (MNIST takes 47); 0 decodes every epoch.
      normal_classes: comma-separated labels (e.g. `0` or `3,5`) to train on only the
        examples of these classes, as anomaly detection trains on "normal" data; empty = all.
        Labels are read from `data.label_key` (TFDS, TFRecord) or the class sub-folders
        (`folder` with `data.num_classes`).
    """

    source: str = "tfds"
    name: str = "mnist"
    split: str = "train"
    path: str = ""
    data_dir: str = ""
    image_key: str = "image"
    label_key: str = "label"
    image_size: int = 28
    channels: int = 1
    num_classes: int = 0
    resize: bool = False
    limit: int = 0
    shuffle_buffer: int = 10_000
    cache_mb: int = 1024
    normal_classes: str = ""


def parse_classes(text: str, key: str = "data.normal_classes") -> tuple[int, ...]:
    """`"3,5"` -> `(3, 5)`: sorted, distinct, non-negative class labels.

    Raises:
      ConfigError: for anything but comma-separated non-negative integers.
    """
    if not text.strip():
        return ()
    try:
        labels = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise ConfigError(
            f"{key}={text!r}: expected comma-separated class labels, e.g. 0 or 3,5"
        ) from None
    if labels[0] < 0:
        raise ConfigError(f"{key}={text!r}: class labels must be >= 0")
    return tuple(labels)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Model family, architecture, and each network's own settings.

    Attributes:
      family: the model family (`gan_tf.families`), e.g. `gan`.
      arch: the family's architecture, e.g. `dcgan`, `resnet` or `mlp` for `gan`.
      latent_dim: size of the latent vector z.
      generator: keyword arguments of the architecture's generator class (e.g. `width`,
        `kernel_size`, `norm`, `upsample` for `dcgan`); `--set model.generator.width=64`.
        Unknown names are an error that lists the known ones; omitted ones take the class's
        defaults.
      discriminator: keyword arguments of the architecture's discriminator class (e.g.
        `width`, `norm`, `spectral_norm`, `mbstd_group`).
      encoder: keyword arguments of the encoder of families that have one (`anomaly`): the
        architecture's discriminator class, whose features feed a linear map to z.
    """

    family: str = "gan"
    arch: str = "dcgan"
    latent_dim: int = 100
    generator: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    discriminator: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    encoder: Mapping[str, Any] = dataclasses.field(default_factory=dict)


# The flat model section written before architectures had their own settings (config.json
# of earlier runs): old key -> (network, new key), read by `Config.from_dict`.
LEGACY_MODEL_KEYS = {
    "g_width": ("generator", "width"),
    "embed_dim": ("generator", "embed_dim"),
    "g_norm": ("generator", "norm"),
    "upsample": ("generator", "upsample"),
    "d_width": ("discriminator", "width"),
    "d_norm": ("discriminator", "norm"),
    "spectral_norm": ("discriminator", "spectral_norm"),
    "mbstd_group": ("discriminator", "mbstd_group"),
    "d_hidden": ("discriminator", "hidden"),
}


def migrate_model_section(values: Mapping[str, Any]) -> dict[str, Any]:
    """Turns a flat model section of an earlier version into the current one.

    `kernel_size` was read by both DCGAN networks; the others map one to one. Sections
    without flat keys are returned as they are.
    """
    values = dict(values)
    legacy = [k for k in values if k in LEGACY_MODEL_KEYS or k == "kernel_size"]
    if not legacy:
        return values
    nets = {"generator": dict(values.get("generator", {})), "discriminator": {}}
    nets["discriminator"].update(values.get("discriminator", {}))
    for key in legacy:
        value = values.pop(key)
        if key == "kernel_size":
            if values.get("arch", "dcgan") == "dcgan":
                nets["generator"]["kernel_size"] = value
                nets["discriminator"]["kernel_size"] = value
            continue
        net, name = LEGACY_MODEL_KEYS[key]
        if not (key == "embed_dim" and value == 0):
            nets[net][name] = value
    if values.get("arch", "dcgan") != "dcgan":  # only DCGAN read these two
        nets["generator"].pop("norm", None)
        nets["generator"].pop("upsample", None)
    if values.get("arch", "dcgan") == "mlp":
        nets["discriminator"].pop("mbstd_group", None)
    return {**values, **nets}


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Adversarial loss and regularisers.

    Attributes:
      name: `minimax`, `non_saturating`, `least_squares`, `hinge` or `wasserstein`.
      gp_weight: weight of the WGAN-GP gradient penalty (0 = off).
      r1_gamma: R1 penalty gamma on real images (0 = off).
      r1_every: lazy regularisation (StyleGAN2): the R1 penalty is computed on every
        `r1_every`-th step only, weighted by `r1_every` so its mean strength is unchanged;
        the other steps skip its double backward pass.
    """

    name: str = "non_saturating"
    gp_weight: float = 0.0
    r1_gamma: float = 0.0
    r1_every: int = 1


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation, logging and checkpointing.

    Attributes:
      batch_size: global batch size (split across replicas).
      steps: total generator steps.
      steps_per_epoch: steps per Keras epoch (progress-bar line, metric reset).
      d_steps: discriminator steps per generator step (at most 64).
      reuse_fakes: with `d_steps=1`, one batch of fakes (and one critic pass on it) serves
        both updates, as in the TensorFlow/PyTorch DCGAN tutorials: faster, and both
        gradients are taken at the same weights (simultaneous updates).
      optimizer: `adam` or `sgd`.
      g_lr: generator learning rate.
      d_lr: discriminator learning rate.
      beta_1: Adam beta_1.
      beta_2: Adam beta_2.
      g_adam_epsilon: the generator's Adam epsilon, added to `sqrt(v)` (Keras's default 1e-7).
        Adam is blind to a loss's scale except through it: gradients well below it move
        their weights less than `learning_rate` a step.
      d_adam_epsilon: the discriminator's Adam epsilon.
      lr_decay_start: fraction of `steps` after which both learning rates fall linearly to 0
        at the last step (1 = constant rates).
      ema_decay: decay of the EMA generator (0 = copy the generator).
      diffaugment: comma-separated DiffAugment policy (`color,translation,cutout`) or empty.
      seed: seed of every random draw (latents, shuffling, augmentation).
      log_every: steps between TensorBoard scalar writes.
      image_every: steps between TensorBoard sample grids.
      checkpoint_every: steps between checkpoints (one is always written at the end).
      keep_checkpoints: number of checkpoints kept.
      num_grid: images in the sample grid.
      embed_samples: generated images in TensorBoard's embedding projector, written at the
        end of training (0 = none; see `gan_tf.embedding_projector`).
      embed_labels: what labels the projector's points with a class: `domain` (the MNIST
        domain classifier), `none`, or `auto` (`domain` for MNIST-like data).
      strategy: distribution strategy name (see `gan_tf.distribute`).
      jit_compile: compile the train step with XLA.
      mixed_precision: train with a mixed float16 (bfloat16 on TPU) policy.
    """

    batch_size: int = 64
    steps: int = 5000
    steps_per_epoch: int = 500
    d_steps: int = 1
    reuse_fakes: bool = False
    optimizer: str = "adam"
    g_lr: float = 2e-4
    d_lr: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    g_adam_epsilon: float = 1e-7
    d_adam_epsilon: float = 1e-7
    lr_decay_start: float = 1.0
    ema_decay: float = 0.999
    diffaugment: str = ""
    seed: int = 0
    log_every: int = 100
    image_every: int = 1000
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    num_grid: int = 64
    embed_samples: int = 1000
    embed_labels: str = "auto"
    strategy: str = "default"
    jit_compile: bool = False
    mixed_precision: bool = False


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Export of the EMA generator as a SavedModel.

    Attributes:
      enabled: write `<workdir>/export` at the end of training.
      model_name: model name used by TF Serving.
      warmup_requests: number of warmup requests written with the export.
    """

    enabled: bool = True
    model_name: str = "gan"
    warmup_requests: int = 4


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Sample-quality evaluation during training.

    Attributes:
      every: steps between evaluations (0 = off).
      num_samples: generated and reference samples per evaluation.
      metrics: comma-separated metric names (`fid`, `kid`, `is`, `pr`).
      features: `inception` (the standard protocol) or `domain` (the project's fast MNIST
        classifier; scores are reported as `*_domain`, never as FID).
    """

    every: int = 0
    num_samples: int = 1000
    metrics: str = "kid"
    features: str = "inception"


@dataclasses.dataclass(frozen=True)
class AnomalyConfig:
    """Anomaly detection (`model.family=anomaly`): an f-AnoGAN encoder after the GAN.

    The last `encoder_steps` of `train.steps` train an encoder E with the generator and
    discriminator frozen, so that G(E(x)) reconstructs x. The anomaly score of an image is
    `mean((x - G(E(x)))^2) + feature_weight * mean((f(x) - f(G(E(x))))^2)`, f being the
    discriminator's features (Schlegl et al. 2019, "izi_f" training and score).

    Attributes:
      encoder_steps: steps that train the encoder, at the end of `train.steps`.
      encoder_lr: the encoder's Adam learning rate.
      feature_weight: kappa, the weight of the discriminator-feature residual.
      eval_split: labelled held-out split for AUROC (TFDS's, or the `{split}` field of
        `data.path`): examples of `data.normal_classes` are normal, all others anomalous.
      eval_every: steps between AUROC evaluations during the encoder steps (0 = off).
      eval_samples: images scored per evaluation (0 = the whole split).
      fpr: false-positive rate at which the score threshold is reported.
    """

    encoder_steps: int = 0
    encoder_lr: float = 1e-4
    feature_weight: float = 1.0
    eval_split: str = "test"
    eval_every: int = 0
    eval_samples: int = 2000
    fpr: float = 0.05


@dataclasses.dataclass(frozen=True)
class SemiSupervisedConfig:
    """Semi-supervised classification (`model.family=semi_supervised`, Salimans et al. 2016).

    The discriminator classifies `data.num_classes` classes; it learns from
    `labels_per_class` labelled training images per class, all training images unlabelled,
    and generated images (`gan_tf.models.semi_supervised`).

    Attributes:
      labels_per_class: labelled training images per class (10 gives the 100-label protocol).
      label_seed: which ones: the first `labels_per_class` of each class in a permutation of
        the training split drawn from this seed (one "label draw").
      unsupervised_weight: weight of the real/fake terms of the discriminator loss.
      eval_every: steps between test-error evaluations on `eval_split` (0 = off).
      eval_split: the labelled split of the test error (TFDS's, or the `{split}` field of
        `data.path`).
      classifier_ema: decay of a moving average of the discriminator's weights (0 = none),
        which is then the classifier that evaluation and the export use.
      labelled_batches: how a step's labelled batch is read from the draw: `"drawn"`, each
        image drawn with replacement; `"permuted"`, consecutive batches of a stream of
        permutations of the draw, one per pass over it, so that every image is read once
        per pass (with as many labels as the batch size, every batch holds each labelled
        image once, as in Salimans et al.'s code).
      match_before_noise: feature matching on the discriminator's last hidden layer before
        its Gaussian noise (Salimans et al.'s code) rather than after it (an `mlp`
        discriminator with `hidden_noise`).
    """

    labels_per_class: int = 10
    label_seed: int = 0
    unsupervised_weight: float = 1.0
    eval_every: int = 0
    eval_split: str = "test"
    classifier_ema: float = 0.0
    labelled_batches: str = "drawn"
    match_before_noise: bool = False


@dataclasses.dataclass(frozen=True)
class ProgressiveConfig:
    """Progressive growing by level of detail (`gan_tf.networks.progressive`), for
    architectures whose networks take `progressive=true` (`dcgan`, `stylegan`).

    Attributes:
      stage_steps: steps each resolution trains alone before the next fades in, from the
        lowest resolution up (0 = off: the full networks from the start).
      fade_steps: steps each fade-in takes.
    """

    stage_steps: int = 0
    fade_steps: int = 0


@dataclasses.dataclass(frozen=True)
class CycleConfig:
    """Unpaired image-to-image translation (`model.family=cyclegan`, Zhu et al. 2017).

    Domain A is read as `data` says, domain B as `data_b` says (any source `data` reads);
    both at `data.image_size`, each with its own channels. Generators G_AB, G_BA and
    discriminators D_A, D_B are `gan_tf.networks.cyclegan` networks (`model.arch=cyclegan`)
    whose settings are `model.generator` (`width`, `blocks`) and `model.discriminator`
    (`width`).

    Attributes:
      cycle_weight: lambda, the weight of the cycle L1 losses |G_BA(G_AB(a)) - a| and
        |G_AB(G_BA(b)) - b|.
      identity_weight: weight of the identity L1 losses |G_BA(a) - a| and |G_AB(b) - b|
        (0 = off; needs equal channels). The paper uses 0.5 * cycle_weight.
      buffer_size: past fakes each discriminator is shown from (Shrivastava et al. 2017);
        0 shows only the current fakes.
    """

    cycle_weight: float = 10.0
    identity_weight: float = 0.0
    buffer_size: int = 50


# CycleGAN network settings of earlier versions' `cycle` section -> (network, setting) of
# `model.arch=cyclegan`, read by `Config.from_dict`.
LEGACY_CYCLE_KEYS = {
    "g_width": ("generator", "width"),
    "g_blocks": ("generator", "blocks"),
    "d_width": ("discriminator", "width"),
}


def migrate_cycle_section(values: Mapping[str, Any]) -> dict[str, Any]:
    """Moves the network settings an earlier version kept in `cycle` to `model.generator` /
    `model.discriminator` of architecture `cyclegan` for a CycleGAN run, and drops them from
    other runs' configs, which wrote them unread (a config without them is returned as it
    is)."""
    values = dict(values)
    cycle = dict(values.get("cycle") or {})
    legacy = [k for k in cycle if k in LEGACY_CYCLE_KEYS]
    if not legacy:
        return values
    settings = {key: cycle.pop(key) for key in legacy}
    model = dict(values.get("model") or {})
    if model.get("family") != "cyclegan":  # written by every run, read by CycleGAN only
        return {**values, "cycle": cycle}
    nets = {role: dict(model.get(role) or {}) for role in ("generator", "discriminator")}
    for key, value in settings.items():
        role, name = LEGACY_CYCLE_KEYS[key]
        nets[role][name] = value
    return {**values, "cycle": cycle, "model": {**model, "arch": "cyclegan", **nets}}


@dataclasses.dataclass(frozen=True)
class Config:
    """A complete run description."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()
    export: ExportConfig = ExportConfig()
    eval: EvalConfig = EvalConfig()
    anomaly: AnomalyConfig = AnomalyConfig()
    semi: SemiSupervisedConfig = SemiSupervisedConfig()
    progressive: ProgressiveConfig = ProgressiveConfig()
    # The second domain of two-domain families (`cyclegan`), read like `data`.
    data_b: DataConfig = DataConfig()
    cycle: CycleConfig = CycleConfig()

    def to_dict(self) -> dict[str, Any]:
        """Returns the configuration as nested plain dicts."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Returns the configuration as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Config:
        """Builds a config from nested dicts, rejecting unknown keys.

        Raises:
          ConfigError: on an unknown section or field, or a value of the wrong type.
        """
        if isinstance(values, Mapping):
            values = migrate_cycle_section(values)
        return _from_dict(cls, values, prefix="")

    @classmethod
    def from_json_file(cls, path: str) -> Config:
        """Reads a config written by `to_json`."""
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def assignments(self) -> list[str]:
        """`section.field=value` strings (`section.field.name=value` for network settings)
        that `Config().override(...)` turns back into this config."""
        out = []
        for section, values in self.to_dict().items():
            for key, value in values.items():
                if isinstance(value, Mapping):
                    out += [f"{section}.{key}.{name}={v}" for name, v in value.items()]
                else:
                    out.append(f"{section}.{key}={value}")
        return out

    def replace(self, **sections: Any) -> Config:
        """Returns a copy with whole sections replaced."""
        return dataclasses.replace(self, **sections)

    def override(self, assignments: Sequence[str]) -> Config:
        """Applies `section.field=value` strings.

        `model.arch` is applied first. When it changes the architecture, the network settings
        the new architecture does not have are dropped (they were the preset's, for its
        architecture); settings given in the same call are kept, and checked.

        Args:
          assignments: strings such as `train.steps=100`, `data.resize=true` or
            `model.generator.width=64`.

        Returns:
          A new config.

        Raises:
          ConfigError: on a malformed assignment, unknown key or unparsable value.
        """
        values = self.to_dict()
        arch_first = sorted(assignments, key=lambda a: not a.strip().startswith("model.arch="))
        for assignment in arch_first:
            key, sep, raw = assignment.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"override {assignment!r} is not of the form section.field=value")
            parts = key.strip().split(".")
            if len(parts) not in (2, 3):
                raise ConfigError(
                    f"override key {key!r} must be section.field, e.g. train.steps (or "
                    f"model.generator.width); sections: {', '.join(_field_names(Config))}"
                )
            section, name = parts[:2]
            if section not in values:
                raise ConfigError(
                    f"unknown config section {section!r}; expected one of "
                    f"{', '.join(_field_names(Config))}"
                )
            section_cls = _field_types(Config)[section]
            types = _field_types(section_cls)
            if name not in types:
                raise ConfigError(
                    f"unknown config key {key!r}; {section} has: "
                    f"{', '.join(_field_names(section_cls))}"
                )
            if len(parts) == 3:
                if not _is_mapping_type(types[name]):
                    raise ConfigError(f"override key {key!r}: {section}.{name} has no fields")
                kind = _kwarg_type(values, section, name, parts[2], key)
                values[section][name] = dict(values[section][name])
                values[section][name][parts[2]] = _parse_value(raw.strip(), kind, key)
            else:
                values[section][name] = _parse_value(raw.strip(), types[name], key)
                if (section, name) == ("model", "arch") and values[section][
                    name
                ] != self.model.arch:
                    _drop_foreign_settings(values["model"])
        return Config.from_dict(values)


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _is_mapping_type(kind: Any) -> bool:
    return typing.get_origin(kind) in (Mapping, dict) or kind in (Mapping, dict)


def _drop_foreign_settings(model: dict[str, Any]) -> None:
    """Removes network settings that `model["arch"]` does not have."""
    from gan_tf import networks  # networks import this module

    for role in networks.ROLES:
        known = networks.kwarg_defaults(model["arch"], role)
        model[role] = {k: v for k, v in model[role].items() if k in known}


def _kwarg_type(values: Mapping[str, Any], section: str, field: str, name: str, key: str):
    """Type of keyword argument `name` of a network (`model.generator.<name>`)."""
    if section != "model":
        raise ConfigError(f"override key {key!r}: {section}.{field} takes no keyword arguments")
    from gan_tf import networks  # networks import this module

    return networks.kwarg_types(values["model"]["arch"], field, key).get(name) or (
        networks.unknown_kwarg(values["model"]["arch"], field, name)
    )


def _parse_value(raw: str, kind: Any, key: str) -> Any:
    if kind is bool:
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key}={raw!r}: expected a boolean (true/false)")
    if kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            raise ConfigError(f"{key}={raw!r}: expected {kind.__name__}") from None
    return raw


def _check_type(value: Any, kind: Any, key: str) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected a boolean, got {value!r}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if kind in (float, str) and not isinstance(value, kind):
        raise ConfigError(f"{key}: expected {kind.__name__}, got {value!r}")
    return value


def _from_dict(cls: type, values: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {values!r}")
    types = _field_types(cls)
    if cls is ModelConfig:
        values = migrate_model_section(values)
    unknown = sorted(set(values) - set(types))
    if unknown:
        where = f"in section {prefix!r}" if prefix else "at top level"
        raise ConfigError(
            f"unknown config key {prefix + '.' if prefix else ''}{unknown[0]} {where}; "
            f"expected one of {', '.join(types)}"
        )
    kwargs = {}
    for name, value in values.items():
        kind = types[name]
        key = f"{prefix}.{name}" if prefix else name
        if dataclasses.is_dataclass(kind):
            kwargs[name] = _from_dict(kind, value, key)
        elif _is_mapping_type(kind):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}: expected a mapping of keyword arguments, got {value!r}")
            kwargs[name] = dict(value)
        else:
            kwargs[name] = _check_type(value, kind, key)
    config = cls(**kwargs)
    if cls is ModelConfig:
        from gan_tf import networks  # networks import this module

        networks.check_kwargs(config)
    return config
