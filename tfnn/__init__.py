"""tfnn: neural-network training as Taskflow-style task graphs over array-API backends."""

__version__ = "0.1.0"
