import os

os.environ.setdefault("MPLBACKEND", "Agg")
# Two xdist workers share two cores: one torch thread each avoids oversubscription (small ops
# ran 10-50x slower with the default thread count per worker).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
