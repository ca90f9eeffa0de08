"""Assets of the evaluation domain."""
