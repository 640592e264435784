"""`tfsearch serve`: a local HTTP server over exported SavedModels (TensorFlow Serving's REST API and more)."""
