"""Running jobs: the generator protocol, the fork runner, threads and locks, DDP."""
