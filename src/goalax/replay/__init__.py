"""The replay side: the trajectory buffer and the goal sampler."""
