"""Engines that run a language model. The pipeline only knows the contract in `base`."""
