"""What a run writes for people: ``summary.json``, learning curves, firing-rate plots and rasters."""
