"""NVIDIA GPU energy through NVML (the ``pynvml`` module, from the nvidia-ml-py package).

``nvmlDeviceGetTotalEnergyConsumption`` gives millijoules since the driver was loaded (Volta and
newer GPUs); it does not wrap in practice (64 bits).  ``pynvml`` is optional: without it, or
without a GPU that reports energy, the meter says so and is not used.
"""
from __future__ import annotations

from .meter import MeterError


def _load_nvml(nvml):
    if nvml is not None:
        return nvml
    try:
        import pynvml  # deferred: pynvml is optional (energy (NVIDIA))
    except ImportError:
        raise MeterError("no NVIDIA meter: pynvml is not installed (pip install nvidia-ml-py)") \
            from None
    return pynvml


class NvmlMeter:
    """GPU energy counters, microjoules, one zone per GPU ("gpu:0 <name>").  ``nvml``: the NVML
    module to use (default: import pynvml)."""

    name = "nvml"

    def __init__(self, nvml=None):
        self._nvml = _load_nvml(nvml)
        try:
            self._nvml.nvmlInit()
        except Exception as exc:            # pynvml raises its own NVMLError family
            raise MeterError(f"no NVIDIA meter: NVML did not start ({exc})") from None
        try:
            self._handles = self._find_handles()
        except MeterError:
            self.close()
            raise

    def _find_handles(self) -> dict:
        n = self._nvml.nvmlDeviceGetCount()
        handles = {}
        for i in range(n):
            h = self._nvml.nvmlDeviceGetHandleByIndex(i)
            name = self._nvml.nvmlDeviceGetName(h)
            name = name.decode() if isinstance(name, bytes) else name
            try:
                self._nvml.nvmlDeviceGetTotalEnergyConsumption(h)
            except Exception:
                continue                    # pre-Volta GPUs have no energy counter
            handles[f"gpu:{i} {name}"] = h
        if not handles:
            raise MeterError(f"no NVIDIA meter: {n} GPU(s), none reports total energy")
        return handles

    def read(self) -> dict[str, int]:
        try:
            return {key: int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h)) * 1000
                    for key, h in self._handles.items()}
        except Exception as exc:
            raise MeterError(f"NVML energy read failed: {exc}",
                             field="nvmlDeviceGetTotalEnergyConsumption") from None

    def max_ranges(self) -> dict[str, int | None]:
        return {key: None for key in self._handles}

    def total_zones(self) -> list[str]:
        return list(self._handles)

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:
            pass
