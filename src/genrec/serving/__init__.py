"""The HTTP service: recommendations over HTTP, with feedback stored durably."""
