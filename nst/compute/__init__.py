"""Where runs compute: in this process, or on a Ray cluster."""
