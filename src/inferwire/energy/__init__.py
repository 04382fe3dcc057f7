"""Energy per request: RAPL (powercap sysfs) and NVIDIA (NVML) meters, or CPU-seconds without one.

    from inferwire.energy import measure, open_meter
    result, report = measure(lambda: run_experiment(config))   # writes run_dir/energy.json
    report["all"]["joules_per_request"]        # None on a host without a meter ...
    report["reason"]                           # ... which says so: "no energy meter on this host: ..."
    report["all"]["cpu_seconds_per_request"]   # always there: server, client, total
"""
from .counters import counter_delta, unwrap, window_delta
from .discover import open_meter
from .meter import NO_METER, Meter, MeterError, MultiMeter, NullMeter
from .nvml import NvmlMeter
from .rapl import RaplMeter, find_zones
from .session import EnergySession, measure

__all__ = ["measure", "EnergySession", "open_meter", "Meter", "NullMeter", "MultiMeter",
           "RaplMeter", "NvmlMeter", "MeterError", "NO_METER", "find_zones", "counter_delta",
           "unwrap", "window_delta"]
