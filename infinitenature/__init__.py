"""infinitenature: one landscape photo in, a flythrough video out.

Perpetual view generation as in InfiniteNature-Zero (Li et al., ECCV 2022), in
plain PyTorch that runs on a laptop CPU.
"""

__version__ = "0.1.0"
