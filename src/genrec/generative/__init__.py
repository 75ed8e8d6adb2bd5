"""The generative recommender: semantic-ID generation conditioned on history and request."""
