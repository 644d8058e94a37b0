from services.runner import run_worker
from services.serving.app import app

if __name__ == "__main__":
    run_worker(app)
