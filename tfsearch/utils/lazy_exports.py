"""Package exports imported on first use (PEP 562), so that importing a package stays cheap.

`import tfsearch` and `tfsearch train --help` must not load TensorFlow: the
packages whose modules import it list their public API in `__all__`, say here
which module defines each lazy name, and import a module only when one of its
names is asked for. Standard library only.
"""

import importlib
import sys


def lazy_exports(package, public, lazy, subpackages=()):
    """Returns the `(__getattr__, __dir__)` pair of a package whose names in `lazy` load on first use.

    Every name of `public` (the package's `__all__`) must either be in `lazy`
    or already be defined in the package when this is called (an eager import
    or a constant), and every name of `lazy` must be in `public`: a mismatch
    is a programming error, raised when the package is imported.

    Args:
        package: str. The package's `__name__`.
        public: list of str. The package's `__all__`.
        lazy: dict `{module: names}`: the full name of a module and the
            exported names it defines (a tuple of str).
        subpackages: sequence of str. Subpackages reachable as attributes
            (`tfsearch.data`), imported on first use; not part of `__all__`, so
            that `from package import *` does not import them all.

    Returns:
        `(__getattr__, __dir__)`, to assign in the package's `__init__.py`
        after its eager imports.

    Example:
    ```python
    __all__ = ["TrainConfig", "train"]
    __getattr__, __dir__ = lazy_exports(__name__, __all__, {
        "tfsearch.training.train_config": ("TrainConfig",),
        "tfsearch.training.trainer": ("train",),
    })
    ```
    """
    namespace = sys.modules[package].__dict__
    homes = {}
    for module, names in lazy.items():
        if isinstance(names, str):
            raise TypeError(f"`lazy` maps a module to a tuple of names, got {names!r} for {module}.")
        for name in names:
            if name in homes:
                raise ValueError(f"{package} exports {name!r} from both {homes[name]} and {module}.")
            homes[name] = module
    unlisted = sorted(set(homes) - set(public))
    missing = sorted(name for name in public if name not in homes and name not in namespace)
    if unlisted or missing:
        raise ValueError(f"The `__all__` of {package} and its lazy exports differ: lazy but not in `__all__`: "
                         f"{unlisted}; in `__all__` but neither defined nor lazy: {missing}.")
    subpackages = tuple(subpackages)

    def __getattr__(name):
        if name in homes:
            return getattr(importlib.import_module(homes[name]), name)
        if name in subpackages:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(homes) | set(subpackages))

    return __getattr__, __dir__
