"""Running many at once: devices, processes, the seed axis and sweeps."""
