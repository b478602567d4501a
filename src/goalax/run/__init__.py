"""A run's lifecycle: its plan, compiled programs, host loop, checkpoints, files, resume, stopping, memory."""
