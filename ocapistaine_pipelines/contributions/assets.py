"""Assets of the contributions domain."""
