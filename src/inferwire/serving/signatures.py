"""Names of the exported MNIST models' signatures and tensors, shared by the exporter, server and clients.

They follow TensorFlow Serving's MNIST example (``mnist_saved_model.py``): ``predict_images`` takes
``images`` float32 [None, 784] in [0, 1] and returns ``scores`` float32 [None, 10]; ``serving_default``
is a classification signature over serialized ``tf.Example``s (feature ``x``: 784 floats).  inferwire
adds ``predict_images_bytes``: ``images_bytes`` DT_STRING [None], each image as 784 raw uint8 pixels.
"""
from __future__ import annotations

PIXELS = 784
CLASSES = 10

PREDICT_IMAGES = "predict_images"
PREDICT_IMAGES_BYTES = "predict_images_bytes"
SERVING_DEFAULT = "serving_default"

IMAGES = "images"              # float32 [None, 784], pixel / 255
IMAGES_BYTES = "images_bytes"  # string [None], 784 bytes each
SCORES = "scores"              # float32 [None, 10], softmax probabilities
CLASSIFY_INPUTS = "inputs"     # string [None], serialized tf.Example with float feature "x"
CLASSIFY_CLASSES = "classes"   # string [None, 10], labels "0".."9" in score order
EXAMPLE_FEATURE = "x"

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"

MODEL_NAMES = {"softmax": "mnist", "cnn": "mnist_cnn"}  # model kind -> directory / served name
