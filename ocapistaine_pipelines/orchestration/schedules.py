"""Schedules in Europe/Paris."""

SCHEDULES: list = []
