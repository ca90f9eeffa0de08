"""Schedules and sensors: when the task assets run."""
