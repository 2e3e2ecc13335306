"""sknnk: scikit-learn kernels of infinitely wide neural networks.

``NNGPKernel`` (the Gaussian-process prior of a wide Bayesian network) and
``NTKKernel`` (the neural tangent kernel: gradient descent on a wide network)
are :class:`sklearn.gaussian_process.kernels.Kernel` subclasses.
"""

from .dynamics import InfiniteWidthClassifier, InfiniteWidthRegressor
from .feature_learning import MuPLinearRegressor
from .kernels import ACTIVATION_NAMES, NNGPKernel, NTKKernel
from .large_scale import dask_gram, nystroem_error, select_nystroem_components
from .random_features import NNGPSampler, NTKSampler

__version__ = "0.1.0"

__all__ = [
    "ACTIVATION_NAMES",
    "InfiniteWidthClassifier",
    "InfiniteWidthRegressor",
    "MuPLinearRegressor",
    "NNGPKernel",
    "NNGPSampler",
    "NTKKernel",
    "NTKSampler",
    "__version__",
    "dask_gram",
    "nystroem_error",
    "select_nystroem_components",
]
