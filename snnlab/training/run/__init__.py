"""A run's lifecycle: build and check it, fit and test, resume and preemption, and read a finished run back."""
