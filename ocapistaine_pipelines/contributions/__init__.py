"""The contributions domain."""
