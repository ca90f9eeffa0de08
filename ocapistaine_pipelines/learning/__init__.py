"""Learning from the team's labels: the labelled contributions and the learned validator's model."""
