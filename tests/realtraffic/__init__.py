"""Real loopback traffic captured live and cross-checked against Wireshark's own dissectors."""
