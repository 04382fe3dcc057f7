"""NVIDIA Triton Inference Server as a capture-run target.

The ``tritonserver`` binary (2.51, C++ HTTP/gRPC front ends, Python backend, CPU) comes from the
``nvidia-pytriton`` wheel installed in its own venv, ``.venv-triton``, made from Debian's
``/usr/bin/python3`` (see :mod:`.install` for why).  Modules:

- :mod:`.install`: where the binary, its libraries and the Python backend stub are; the version.
- :mod:`..mnist_numpy` (shared with KServe): the MNIST softmax and CNN forward passes in numpy,
  copied into the repository (what runs inside Triton).
- :mod:`.repository`: writes a Triton model repository (``config.pbtxt``, ``model.py``, weights).
- :mod:`.process`: starts ``tritonserver``, waits until ready, stops it (nothing left running).
- :mod:`.trace`: reads Triton's trace files into a per-request table (pure).
- :mod:`.metrics`: samples Triton's Prometheus endpoint during a run.
"""
