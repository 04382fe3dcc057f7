"""Build of the one C extension (inferwire.packets._walk); everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and the readers use their
pure-Python loop (same results, slower); ``inferwire.packets.accelerated()`` says which one is in
use, and the test suite fails under CI=true when the C walk is missing.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("inferwire.packets._walk", ["src/inferwire/packets/_walk.c"],
                             extra_compile_args=["-O2"], optional=True)])
