"""Thinking: the local vision-language model, and the catalog of models it can fetch."""
