"""peftbench: benchmark parameter-efficient fine-tuning methods under identical conditions."""

__version__ = "0.1.0"
