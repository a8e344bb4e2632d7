"""An offline assistant that sees and speaks, for blind and low-vision people."""

__version__ = "0.1.0"
