"""The service's endpoints, one router per concern; the app factory includes them."""
