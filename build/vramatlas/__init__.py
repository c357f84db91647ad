"""vramatlas: which language models run, or can be fine-tuned, on which GPUs."""

__version__ = "0.1.0"
