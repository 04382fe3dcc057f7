"""TLS, sans-IO, one concern a module (see docs/tls.md):

* :mod:`.records`: the record layer, :class:`TlsRecordParser` (bytes + offsets in, records out);
* :mod:`.handshake`: handshake messages, their body parsing and reassembly across records;
* :mod:`.suites`: the cipher-suite table and each suite's per-record overhead;
* :mod:`.session`: :func:`assemble_tls`, both directions into one :class:`TlsSession`;
* :mod:`.inference`: :func:`infer_exchanges`, exchanges from record timing without keys;
* :mod:`.keylog`: SSLKEYLOGFILE parsing (:func:`parse_keylog`, the one part that reads a file);
* :mod:`.keyschedule`: TLS 1.3 / 1.2 key derivation and AEAD record protection;
* :mod:`.decrypt`: :func:`decrypt_connection`, the records of both directions opened.

The names of the first six are re-exported here (``from inferwire.protocols.tls import
TlsRecordParser``); :mod:`.keyschedule` and :mod:`.decrypt` are imported from their modules, so
that reading TLS without keys does not load the ``cryptography`` primitives.
"""
from .handshake import (CERTIFICATE, CERTIFICATE_REQUEST, CERTIFICATE_VERIFY, CLIENT_HELLO,
                        CLIENT_KEY_EXCHANGE, ENCRYPTED_EXTENSIONS, ENCRYPTED_HANDSHAKE,
                        END_OF_EARLY_DATA, FINISHED, HANDSHAKE_NAMES, HRR_RANDOM, KEY_UPDATE,
                        MAX_HANDSHAKE_MESSAGE, NEW_SESSION_TICKET, SERVER_HELLO,
                        SERVER_HELLO_DONE, SERVER_KEY_EXCHANGE, HandshakeMessage,
                        HandshakeReassembler, parse_handshake_body)
from .inference import InferredExchange, TimedRecord, infer_exchanges
from .keylog import KeyLog, parse_keylog
from .records import (ALERT, APPLICATION_DATA, CHANGE_CIPHER_SPEC, CONTENT_TYPE_NAMES, HANDSHAKE,
                      HEADER_LEN, HEARTBEAT, MAX_RECORD_LENGTH, MAX_RECORD_LENGTH_TLS13,
                      RECORD_HEADER, VERSION_CODES, VERSION_NAMES, Role, TlsRecord,
                      TlsRecordParser)
from .session import ALERT_NAMES, TlsAlert, TlsSession, assemble_tls
from .suites import CIPHER_SUITES, CipherSuite, cipher_suite_name, record_overhead

__all__ = [
    "CERTIFICATE", "CERTIFICATE_REQUEST", "CERTIFICATE_VERIFY", "CLIENT_HELLO",
    "CLIENT_KEY_EXCHANGE", "ENCRYPTED_EXTENSIONS", "ENCRYPTED_HANDSHAKE", "END_OF_EARLY_DATA",
    "FINISHED", "HANDSHAKE_NAMES", "HRR_RANDOM", "KEY_UPDATE", "MAX_HANDSHAKE_MESSAGE",
    "NEW_SESSION_TICKET", "SERVER_HELLO", "SERVER_HELLO_DONE", "SERVER_KEY_EXCHANGE",
    "HandshakeMessage", "HandshakeReassembler", "parse_handshake_body", "InferredExchange",
    "TimedRecord", "infer_exchanges", "KeyLog", "parse_keylog", "ALERT", "APPLICATION_DATA",
    "CHANGE_CIPHER_SPEC", "CONTENT_TYPE_NAMES", "HANDSHAKE", "HEADER_LEN", "HEARTBEAT",
    "MAX_RECORD_LENGTH", "MAX_RECORD_LENGTH_TLS13", "RECORD_HEADER", "VERSION_CODES",
    "VERSION_NAMES", "Role", "TlsRecord", "TlsRecordParser", "ALERT_NAMES", "TlsAlert",
    "TlsSession", "assemble_tls", "CIPHER_SUITES", "CipherSuite", "cipher_suite_name",
    "record_overhead",
]
