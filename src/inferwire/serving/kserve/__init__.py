"""KServe's Python model server (PyPI ``kserve``) serving the MNIST models, as a second real
third-party server (``--server kserve``).

KServe pins a protobuf older than TensorFlow's, so it lives in its own venv (``.venv-kserve``,
made by ``scripts/setup.sh``) and runs as a subprocess: :mod:`.launch` (this venv) exports the
SavedModel's weights to a ``.npz`` (:mod:`.weights`) and starts :mod:`.main` (the KServe venv),
whose model is the same network in numpy (:mod:`..mnist_numpy`, no TensorFlow there).
"""
