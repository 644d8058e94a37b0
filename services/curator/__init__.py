"""The curator service: joins feedback to responses and publishes curated training examples."""
