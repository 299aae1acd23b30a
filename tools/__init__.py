"""Tools: typed Python functions the model can call, and the built-in ones."""
