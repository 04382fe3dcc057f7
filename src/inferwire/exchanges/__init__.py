"""Exchanges: protocol messages turned into per-request records with capture times."""
