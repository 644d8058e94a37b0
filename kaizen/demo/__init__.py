"""The end-to-end demo: a sample domain, simulated users and the flywheel report."""
