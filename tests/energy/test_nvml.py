"""The NVML meter.  pynvml and a GPU are not on this host, so a stand-in module with NVML's call
names plays the driver; the test of the real absence is the last one."""
import pytest

from needs import skip_or_fail

from inferwire.energy import MeterError, NvmlMeter, open_meter
from inferwire.energy.meter import MultiMeter


class FakeNvml:
    def __init__(self, energies_mj, names=None, unsupported=()):
        self.energies_mj, self.unsupported = list(energies_mj), set(unsupported)
        self.names = names or [f"GPU {i}" for i in range(len(energies_mj))]
        self.shut = False

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        self.shut = True

    def nvmlDeviceGetCount(self):
        return len(self.energies_mj)

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return self.names[h].encode()

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if h in self.unsupported:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return self.energies_mj[h]


def test_reads_microjoules_per_gpu_and_skips_gpus_without_counter():
    nvml = FakeNvml([1500, 7], unsupported={1})
    meter = NvmlMeter(nvml)
    assert meter.read() == {"gpu:0 GPU 0": 1_500_000}
    nvml.energies_mj[0] = 2500
    assert meter.read() == {"gpu:0 GPU 0": 2_500_000}
    assert meter.max_ranges() == {"gpu:0 GPU 0": None}
    meter.close()
    assert nvml.shut


def test_no_gpu_with_energy_counter_is_no_meter():
    nvml = FakeNvml([1], unsupported={0})
    with pytest.raises(MeterError, match="none reports total energy"):
        NvmlMeter(nvml)
    assert nvml.shut


def test_rapl_and_nvml_together(tmp_path):
    from energy.powercap import laptop_tree
    meter = open_meter(laptop_tree(tmp_path), nvml=FakeNvml([3]))
    assert isinstance(meter, MultiMeter) and meter.name == "rapl+nvml"
    assert meter.total_zones() == ["intel-rapl:0 package-0", "gpu:0 GPU 0"]
    assert meter.read()["gpu:0 GPU 0"] == 3000


def test_without_pynvml_it_says_so():
    import importlib.util
    if importlib.util.find_spec("pynvml") is not None:
        skip_or_fail("pynvml is installed here: the message for its absence cannot be seen")
    with pytest.raises(MeterError, match="pynvml is not installed"):
        NvmlMeter()
