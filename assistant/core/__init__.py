"""What every turn is made of, free of devices and models: the engine and sessions, conversation, routing, presets,
commands, the phrase book, and the seams (interfaces) that the stages implement."""
