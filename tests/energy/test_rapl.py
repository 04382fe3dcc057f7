"""RAPL through a fake powercap tree written in the kernel's file format."""
import os
from pathlib import Path

import pytest
from energy.powercap import MAX_RANGE, laptop_tree, set_energy, write_zone

from inferwire.energy import MeterError, RaplMeter, find_zones, open_meter
from inferwire.energy.meter import NO_METER, NullMeter


def test_zones_found_mmio_skipped_and_totals_avoid_double_counting(tmp_path):
    laptop_tree(tmp_path)
    zones = find_zones(tmp_path)
    assert [z.key for z in zones] == ["intel-rapl:0 package-0", "intel-rapl:0:0 core",
                                      "intel-rapl:0:1 uncore", "intel-rapl:1 psys"]
    assert zones[0].max_range_uj == MAX_RANGE and zones[1].depth == 2
    # core and uncore are inside the package; psys contains the package: only the package counts
    assert RaplMeter(tmp_path).total_zones() == ["intel-rapl:0 package-0"]


def test_server_tree_sums_packages_and_dram(tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "package-0", 5)
    write_zone(tmp_path, "intel-rapl:0:0", "dram", 6)
    write_zone(tmp_path, "intel-rapl:1", "package-1", 7)
    write_zone(tmp_path, "intel-rapl:1:0", "dram", 8)
    meter = RaplMeter(tmp_path)
    assert meter.total_zones() == ["intel-rapl:0 package-0", "intel-rapl:1 package-1",
                                   "intel-rapl:0:0 dram", "intel-rapl:1:0 dram"]
    assert meter.read() == {"intel-rapl:0 package-0": 5, "intel-rapl:0:0 dram": 6,
                            "intel-rapl:1 package-1": 7, "intel-rapl:1:0 dram": 8}


def test_psys_only_host_uses_psys(tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "psys", 5)
    assert RaplMeter(tmp_path).total_zones() == ["intel-rapl:0 psys"]


def test_reads_follow_the_files(tmp_path):
    laptop_tree(tmp_path, package_uj=10)
    meter = RaplMeter(tmp_path)
    set_energy(tmp_path, "intel-rapl:0", 12345)
    assert meter.read()["intel-rapl:0 package-0"] == 12345
    assert meter.max_ranges()["intel-rapl:0 package-0"] == MAX_RANGE


def test_garbage_counter_names_file_and_field(tmp_path):
    laptop_tree(tmp_path)
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("lots\n")
    with pytest.raises(MeterError) as err:
        RaplMeter(tmp_path)
    assert "intel-rapl:0/energy_uj" in str(err.value) and err.value.field == "energy_uj"


def test_garbage_range_names_field(tmp_path):
    write_zone(tmp_path, "intel-rapl:0", "package-0", 1)
    (tmp_path / "intel-rapl:0" / "max_energy_range_uj").write_text("-5\n")
    with pytest.raises(MeterError, match="max_energy_range_uj"):
        RaplMeter(tmp_path)


def test_unreadable_counter_says_root_only(tmp_path):
    """As on real hosts, where energy_uj is root-only: run as an unprivileged user (root reads
    files whatever their mode, so as root the check runs in a child that drops to nobody)."""
    laptop_tree(tmp_path)
    (tmp_path / "intel-rapl:0" / "energy_uj").chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(MeterError, match="root only"):
            RaplMeter(tmp_path)
        return
    os.chmod(tmp_path, 0o755)
    for parent in tmp_path.parents:
        if parent != Path("/"):
            os.chmod(parent, os.stat(parent).st_mode | 0o005)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # the child: nobody, then the real check
        try:
            os.setgid(65534)
            os.setuid(65534)
            try:
                RaplMeter(tmp_path)
                message = "no error"
            except MeterError as exc:
                message = str(exc)
            os.write(write_end, message.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    message = os.read(read_end, 65536).decode()
    os.waitpid(pid, 0)
    assert "root only" in message, message


def test_no_tree_gives_null_meter_that_says_so(tmp_path):
    meter = open_meter(tmp_path / "absent", nvml=None)
    assert isinstance(meter, NullMeter)
    assert meter.reason.startswith(NO_METER)
    assert "powercap" in meter.reason
    assert meter.read() == {}


def test_empty_tree_is_no_meter(tmp_path):
    (tmp_path / "intel-rapl").mkdir()
    meter = open_meter(tmp_path)
    assert isinstance(meter, NullMeter) and "no intel-rapl:* zones" in meter.reason


def test_open_meter_prefers_rapl_when_present(tmp_path):
    laptop_tree(tmp_path)
    assert open_meter(tmp_path).name == "rapl"


def test_this_host(tmp_path):
    """On this host (no powercap tree, no pynvml) the default meter is the null one."""
    meter = open_meter()
    if os.path.isdir("/sys/class/powercap") and any(
            n.startswith("intel-rapl:") for n in os.listdir("/sys/class/powercap")):
        assert meter.name.startswith("rapl")
    else:
        assert meter.name in ("none", "nvml") and (meter.name != "none" or meter.reason)
