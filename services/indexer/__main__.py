"""``python -m services.indexer`` runs the indexer's Faust worker."""

from services.indexer.app import app
from services.runner import run_worker

run_worker(app)
