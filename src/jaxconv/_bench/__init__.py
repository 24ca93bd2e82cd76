"""The benchmark suite behind ``python -m jaxconv bench``."""
