"""What a failed op reports: the useful line of TensorFlow's message, and whether a failed
`fit` was the data's fault or the step's. The messages are ones TensorFlow gave here."""

from __future__ import annotations

import tensorflow as tf

from gan_tf.errors import DataError, TrainingError, op_message
from gan_tf.train import _fit_error

# A record that is not an image, met after the first batch (read through the iterator).
DECODE = """Graph execution error:

Detected at node decode_image/DecodeImage defined at (most recent call last):
<stack traces unavailable>
Unknown image file format. One of JPEG, PNG, GIF, BMP required.
\t [[{{node decode_image/DecodeImage}}]]
\t [[IteratorGetNext]] [Op:__inference_multi_step_on_iterator_4284]"""

# XLA failing to compile a step (Tile's gradient inside lazy R1's cond, since fixed).
NODE = "gradient_tape/cond/gradients/cond/discriminator_1/mbstd_1/Tile_grad/Reshape_1"
STEP = f"""Graph execution error:

Detected at node {NODE} defined at (most recent call last):
<stack traces unavailable>
Input to reshape is a tensor with 392 values, but the requested shape has 0

Stack trace for op definition:
File "work/main/gan_tf/train.py", line 265, in _train

\t [[{{{{node {NODE}}}}}]]
\ttf2xla conversion failed while converting cond_true_11422_grad_11854_const_0[]."""

ASSERTION = """Graph execution error:

assertion failed: [minibatch stddev: the batch must be a multiple of the group size 4] \
[Condition x == y did not hold element-wise:]
\t [[{{node mbstd/assert_equal_1/Assert/Assert}}]]"""


def error(message: str) -> tf.errors.InvalidArgumentError:
    return tf.errors.InvalidArgumentError(None, None, message)


def test_op_message_is_the_line_that_says_what_went_wrong():
    assert op_message(error(DECODE)) == (
        "Unknown image file format. One of JPEG, PNG, GIF, BMP required."
    )
    assert op_message(error(STEP)) == (
        "Input to reshape is a tensor with 392 values, but the requested shape has 0"
    )
    assert op_message(error(ASSERTION)) == (
        "minibatch stddev: the batch must be a multiple of the group size 4"
    )
    assert op_message(error(STEP), prefer=("tf2xla",)).startswith("tf2xla conversion failed")
    assert op_message(error("")) == "InvalidArgumentError"


def test_a_failed_fit_is_bad_data_only_when_the_input_pipeline_failed():
    data = _fit_error(error(DECODE))
    assert isinstance(data, DataError)
    assert (
        str(data)
        == "bad training data: Unknown image file format. One of JPEG, PNG, GIF, BMP required."
    )
    step = _fit_error(error(STEP))
    assert isinstance(step, TrainingError) and not isinstance(step, DataError)
    assert str(step) == (
        "the training step failed: Input to reshape is a tensor with 392 values, but the "
        "requested shape has 0"
    )
