"""inferwire's own load generator (:mod:`inferwire.load`) as a capture-run engine."""
from __future__ import annotations

from ..runfolder import client_log_path


def run(ctx):
    """Run the configured load for ``ctx.protocol``; returns a LoadSummary."""
    from ..load import (ClientLogWriter, LoadInterrupted, LoadOptions, PredictWorkload,  # deferred: load imports numpy
                        ProgressPrinter, run_load)
    config, protocol, targets = ctx.config, ctx.protocol, ctx.targets
    if config.stream_tokens is not None:
        from ..load.triton_stream import stream_workload  # deferred: load imports numpy
        workload = stream_workload(targets, protocol, max_tokens=config.stream_tokens,
                                   connection=config.connection)
    else:
        workload = PredictWorkload(protocol, targets["host"], targets[f"{protocol}_port"],
                                   batch_size=config.batch_size,
                                   encoding=config.encoding_for(protocol),
                                   connection=config.connection, inputs=config.inputs,
                                   model_name=config.model_name, **config.client_options())
    options = LoadOptions(mode=config.mode, users=config.users, think_time_s=config.think_time_s,
                          rate=config.rate, arrival=config.arrival, duration_s=config.duration_s,
                          requests=config.requests, warmup_requests=config.warmup_requests,
                          id_prefix=f"{protocol}-")
    listeners = [ClientLogWriter(client_log_path(ctx.run_dir, protocol))]
    if config.progress:
        listeners.append(ProgressPrinter())
    try:
        return run_load(workload, options, listeners, stop=ctx.stop)
    except LoadInterrupted as exc:
        return exc.summary
    finally:
        workload.close()
