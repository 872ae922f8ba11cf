"""mooring: run multi-service apps from one manifest; every change is a release."""

__version__ = "0.1.0"
