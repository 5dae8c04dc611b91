"""Lightning callbacks a run adds: energy proxies, training throughput, the model table."""
