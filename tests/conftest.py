import os
import shutil
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")
# Two xdist workers share two cores: one torch thread each avoids oversubscription (small ops
# ran 10-50x slower with the default thread count per worker).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def pytest_configure(config):
    """One compiled-object cache per test run (mixq.deploy.objcache), shared by the xdist
    workers, which inherit the controller's environment: a clean clone starts cold, the kernels
    compile once per run, and no run writes to the user's cache. A MIXQ_CACHE_DIR already set
    is kept (a developer's warm cache)."""
    if os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("MIXQ_CACHE_DIR"):
        return
    folder = tempfile.mkdtemp(prefix="mixq-test-objects-")
    os.environ["MIXQ_CACHE_DIR"] = folder
    config._mixq_object_cache = folder


def pytest_unconfigure(config):
    folder = getattr(config, "_mixq_object_cache", None)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("MIXQ_CACHE_DIR", None)
