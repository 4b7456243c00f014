"""The lab: what the pages explain (feature maps, Grams, views of a run), sweeps, the yardstick."""
