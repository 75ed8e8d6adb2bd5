"""Classic recommenders behind the same interface as the generative model."""
