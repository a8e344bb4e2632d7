"""The command line and the composition root: components built from Config, the push-to-talk loop, doctor."""
