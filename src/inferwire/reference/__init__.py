"""Reference load tools people trust, and what inferwire needs to hold its numbers against them.

One small module per tool, like the capture readers: an argv builder and an output parser each,
pure (text in, tables out), plus the request bodies they send:

* :mod:`.bodies` - the REST JSON body (ab, h2load --h1) and the pre-serialized, length-prefixed
  gRPC PredictRequest (h2load, ghz ``--binary``)
* :mod:`.ab` - ApacheBench: ``-g`` per-request table, ``-e`` percentiles, the printed report
* :mod:`.h2load` - nghttp2's h2load: ``--log-file`` per-request times, the printed report
* :mod:`.ghz` - ghz (when installed): detection, argv, its JSON report
* :mod:`.locust` - locust's CSV and JSON outputs as DataFrames, its argv, and running it
* :mod:`.match` - tool requests matched to capture requests by time, where the tool sends no id
* :mod:`.toolrun` - running one tool process under a capture run (stop, Ctrl-C, timeout)
* :mod:`.summary` - :class:`ToolSummary`, what an external engine reports to the run
* :mod:`.warmup` - warm-up requests through inferwire's own client before a tool's measured run
"""
