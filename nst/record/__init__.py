"""The record: the run store, a stored run's life cycle, and the files a run is exported as."""
