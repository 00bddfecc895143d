"""Sample-quality metrics: feature extractors apart from the distance maths.

* Features: `inception` (the standard FID network, `gan_tf.metrics.inception`) and `domain`
  (a small MNIST classifier for fast gates and curves, `gan_tf.metrics.domain`).
* Maths, pure functions of features: `fid.fid_from_features`, `kid.kid_from_features`,
  `inception_score.inception_score_from_features`,
  `precision_recall.precision_recall_from_features`; streaming moments in `stats`; class
  coverage of the domain classifier's labels (mode collapse) in `coverage`.
* Entry points: `api.score_generator` (the contract in docs/CONTRACTS.md), `api.score_sources`
  (`gan-tf evaluate`), and `callback.EvalCallback` (training-time evaluation).

See docs/metrics.md for the protocol and reference figures.
"""

METRICS = ("fid", "kid", "is", "pr", "coverage")
FEATURES = ("inception", "domain")
