"""Random-weight model writers for tests and benchmarks; part of the checkout, not of the installed package."""
