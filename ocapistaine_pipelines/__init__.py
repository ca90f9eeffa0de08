"""OCapistaine's daily workflows as Dagster software-defined assets."""
