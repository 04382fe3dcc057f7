"""A locustfile without users: it logs every request event of your own locustfile.

    INFERWIRE_LOCUST_LOG_DIR=run/locust_requests \\
        locust -f mine.py,"$(python -m inferwire.locustfiles eventlog_hook)" --headless ...

Each locust process (local, master's workers, --processes children) writes
``requests_<pid>.csv``.  Put the request id you send (header/metadata ``x-request-id``) in the
request's ``context={"request_id": ...}`` and the capture run joins your requests by id; without
it they are matched by time.
"""
import inferwire.locustfiles.common  # noqa: F401  (installs the event log, once per process)
