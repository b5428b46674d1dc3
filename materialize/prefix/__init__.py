"""The one owner of an environment directory: what it must hold, making it so, proving it."""
