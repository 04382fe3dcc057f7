"""``inferwire model export`` and ``inferwire serve`` (TF Serving's flag names where they exist).

Nothing heavy is imported here: TensorFlow and grpcio load inside the command functions.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from dataclasses import replace

from ..errors import ServerError


def register(subparsers) -> None:
    _register_model(subparsers)
    _register_serve(subparsers)


# --- inferwire model export ----------------------------------------------------------------------

def _register_model(subparsers) -> None:
    model = subparsers.add_parser("model", help="export the MNIST SavedModels",
                                  description="Export MNIST SavedModels in TF Serving's layout.")
    sub = model.add_subparsers(dest="model_command", metavar="ACTION")
    export = sub.add_parser("export", help="train briefly and export DIR/mnist/1 (and DIR/mnist_cnn/1)")
    export.add_argument("dir", metavar="DIR", help="models directory (created if missing)")
    export.add_argument("--model", choices=("softmax", "cnn", "all"), default="all",
                        help="softmax: TF Serving's MNIST example (served as 'mnist'); "
                             "cnn: a compute-heavy CNN (served as 'mnist_cnn'); default: all")
    export.add_argument("--mnist-dir", metavar="IDX_DIR",
                        help="train on real MNIST from these IDX files (default: generated digits)")
    export.add_argument("--train-examples", type=int, default=6000, help="training images (default 6000)")
    export.add_argument("--test-examples", type=int, default=1000,
                        help="held-out images for the reported accuracy (default 1000)")
    export.add_argument("--seed", type=int, default=0, help="seed of data generation and training")
    export.add_argument("--version", type=int, default=1, help="version directory (default 1)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing version")
    export.set_defaults(func=_export)
    model.set_defaults(func=lambda args: (model.print_help(), 2)[1])


def _export(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .model import ExportOptions, export_models  # deferred: serving.model imports numpy
    kinds = ("softmax", "cnn") if args.model == "all" else (args.model,)
    opts = ExportOptions(models=kinds, mnist_dir=args.mnist_dir, train_examples=args.train_examples,
                         test_examples=args.test_examples, seed=args.seed, version=args.version,
                         overwrite=args.overwrite)
    for m in export_models(args.dir, opts):
        print(f"exported {m.name} ({m.kind}) version {m.version} to {m.path}: trained on "
              f"{m.train_examples} images of {m.training_data} in {m.train_seconds} s, "
              f"held-out accuracy {m.test_accuracy:.3f}")
    print(f"serve with: inferwire serve --model_base_path {os.path.join(args.dir, 'mnist')} "
          f"--model_name mnist")
    return 0


# --- inferwire serve -----------------------------------------------------------------------------

def _port(text: str) -> int:
    if text == "auto":
        return -1
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def _register_serve(subparsers) -> None:
    p = subparsers.add_parser(
        "serve", help="run the embedded TF Serving-compatible server (gRPC + REST)",
        description="Serve SavedModels with TF Serving's gRPC and REST APIs, and the Open "
                    "Inference Protocol (KServe V2: /v2/... and inference.GRPCInferenceService) "
                    "on the same ports. Prints a line "
                    "'ready grpc=HOST:PORT rest=HOST:PORT ...' on stdout once serving; stops "
                    "cleanly on SIGINT/SIGTERM.")
    p.add_argument("--port", type=_port, default=8500,
                   help="gRPC port (default 8500; 0 or 'auto': any free port)")
    p.add_argument("--rest_api_port", type=_port, default=8501,
                   help="REST port (default 8501; 0: REST off, as in TF Serving; 'auto': any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; TF Serving binds all addresses)")
    p.add_argument("--model_name", default="default", help="served model name (default 'default', as TF Serving)")
    p.add_argument("--model_base_path", help="directory holding numeric version directories")
    p.add_argument("--model_config_file", help="TF Serving ModelServerConfig (text proto) "
                                               "listing several models")
    p.add_argument("--enable_batching", action="store_true", help="server-side batching")
    p.add_argument("--batching_parameters_file", help="TF Serving BatchingParameters (text proto)")
    p.add_argument("--max_batch_size", type=int, help="batching: max rows per batch")
    p.add_argument("--batch_timeout_micros", type=int, help="batching: max wait to fill a batch")
    p.add_argument("--num_batch_threads", type=int, help="batching: threads running batches")
    p.add_argument("--tensorflow_intra_op_parallelism", type=int, default=0)
    p.add_argument("--tensorflow_inter_op_parallelism", type=int, default=0)
    p.add_argument("--grpc_max_threads", type=int, default=16, help="gRPC handler threads")
    p.add_argument("--max_request_bytes", type=int, default=64 << 20,
                   help="largest accepted gRPC message / REST body (default 64 MiB)")
    p.add_argument("--rest_idle_timeout_s", type=float, default=60.0,
                   help="close idle REST connections after this many seconds")
    p.add_argument("--rest_max_connections", type=int, default=1024,
                   help="open REST connections at most (one thread each); more get 503 and are "
                        "closed (default 1024)")
    p.add_argument("--rest_head_timeout_s", type=float, default=20.0,
                   help="a REST request line and headers must arrive within this many seconds "
                        "of their first byte, else 408 and close (default 20)")
    p.add_argument("--tls-cert", dest="tls_cert", help="serve TLS with this PEM certificate")
    p.add_argument("--tls-key", dest="tls_key", help="... and this PEM private key")
    p.add_argument("--tls-self-signed", dest="tls_self_signed", nargs="?", const="", metavar="DIR",
                   help="serve TLS with a self-signed certificate written to DIR "
                        "(server.crt: give it to clients as the CA; default DIR: a new temp dir)")
    p.add_argument("--tls-keylog", dest="tls_keylog",
                   help="REST: append TLS secrets to this file (SSLKEYLOGFILE format)")
    p.add_argument("--token-time-ms", dest="token_time_ms", type=float, default=10.0,
                   help="/v1/completions and /v1/chat/completions (OpenAI-compatible, the "
                        "project's own character-level model): time per generated token, ms "
                        "(default 10)")
    p.add_argument("--request_log", metavar="FILE",
                   help="write one JSON line per request (request id, model time...); '-' = stdout")
    p.set_defaults(func=_serve)


def _models(args):
    from .servables import ModelConfig  # deferred: serving.servables imports numpy
    if args.model_config_file:
        if args.model_base_path:
            raise ServerError("give either --model_base_path or --model_config_file, not both")
        from .model_config import read_model_config  # deferred: serving.model_config imports google (optional)
        return read_model_config(args.model_config_file)
    if not args.model_base_path:
        raise ServerError("--model_base_path (or --model_config_file) is required")
    return (ModelConfig(args.model_name, os.path.abspath(args.model_base_path)),)


def _batching(args):
    if not (args.enable_batching or args.batching_parameters_file):
        return None
    from .batching import BatchingOptions, parse_batching_parameters  # deferred: serving.batching imports numpy
    opts = BatchingOptions()
    if args.batching_parameters_file:
        try:
            with open(args.batching_parameters_file) as f:
                opts = parse_batching_parameters(f.read(), args.batching_parameters_file)
        except OSError as exc:
            raise ServerError(f"cannot read {args.batching_parameters_file}: {exc}") from exc
    overrides = {k: getattr(args, k) for k in ("max_batch_size", "batch_timeout_micros",
                                               "num_batch_threads") if getattr(args, k) is not None}
    return replace(opts, **overrides)


def _tls(args):
    from .tls import TLSConfig, generate_self_signed  # deferred: ssl, 20 ms of every command
    if args.tls_self_signed is not None:
        if args.tls_cert or args.tls_key:
            raise ServerError("--tls-self-signed excludes --tls-cert/--tls-key")
        directory = args.tls_self_signed or tempfile.mkdtemp(prefix="inferwire-tls-")
        cfg = generate_self_signed(directory)
        return TLSConfig(cfg.cert_file, cfg.key_file, args.tls_keylog)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ServerError("--tls-cert and --tls-key go together")
    if args.tls_cert:
        return TLSConfig(args.tls_cert, args.tls_key, args.tls_keylog)
    if args.tls_keylog:
        raise ServerError("--tls-keylog needs TLS (--tls-cert/--tls-key or --tls-self-signed)")
    return None


def _config(args):
    from .servables import SessionOptions  # deferred: serving.servables imports numpy
    from .server import ServerConfig  # deferred: serving.server imports google, grpc (optional)

    def port(value: int, zero_means_off: bool) -> int | None:
        if value == -1:
            return 0
        if value == 0 and zero_means_off:
            return None
        return value

    return ServerConfig(
        models=_models(args), host=args.host, grpc_port=port(args.port, False),
        rest_port=port(args.rest_api_port, True), batching=_batching(args),
        grpc_max_threads=args.grpc_max_threads, max_request_bytes=args.max_request_bytes,
        rest_idle_timeout_s=args.rest_idle_timeout_s, tls=_tls(args), request_log=args.request_log,
        rest_max_connections=args.rest_max_connections,
        rest_head_timeout_s=args.rest_head_timeout_s, token_time_ms=args.token_time_ms,
        session=SessionOptions(args.tensorflow_intra_op_parallelism,
                               args.tensorflow_inter_op_parallelism))


SIGNAL_POLL_S = 0.05


def _serve(args) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .server import ModelServer  # deferred: serving.server imports google, grpc (optional)
    config = _config(args)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = ModelServer(config)
    try:
        server.start()
        line = server.describe()
        if config.tls:
            line += f" cert={config.tls.cert_file}"
        print(line, flush=True)
        # in slices: the kernel may hand SIGTERM/SIGINT to any of the server's threads, and its
        # handler (stop.set) runs only when this thread runs bytecode again; one endless wait
        # left a server SIGTERM'd that way running until its SIGKILL
        while not stop.wait(SIGNAL_POLL_S):
            pass
        print("stopping", file=sys.stderr, flush=True)
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
