"""OCapistaine's daily workflows as Dagster software-defined assets."""

from .redaction import install_log_redaction

install_log_redaction()  # every log record of a process that loads this package goes through redaction
