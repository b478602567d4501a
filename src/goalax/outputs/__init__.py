"""What a run leaves for people: metrics, curves, videos, and eval/render of a saved run."""
