"""Algorithms: one module each, a frozen config and a train() that reads as its pseudocode."""
