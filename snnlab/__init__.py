"""snnlab: config-driven training of spiking neural networks."""
