"""The LightningModule of every run and what it is made of: learning modes, losses, readouts, schedules."""
