"""Hostile inputs for the reliability tests: a corpus generator, a network guard, a GGUF fuzzer."""
