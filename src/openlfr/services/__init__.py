"""Use cases: the only layer that wires engine, runtime and storage together."""
