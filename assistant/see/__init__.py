"""Seeing: the camera and picture files, measures of light, colour and quality, and reading text (OCR)."""
