"""Tests of inferwire.netns: network profiles, namespaces and shaping, runs behind them."""
