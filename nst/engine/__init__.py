"""The engine: the network, images, the seed's losses, the objective, the optimizer, the run."""
