"""Layer 6, glassnet in other people's worlds: tables (pandas), scikit-learn estimators, MPI,
the GPU fast path, dataset loaders, progress bars and the ``glassnet`` command.

May import: everything below; each adapter imports its optional packages lazily and names the extra
that brings them when they are missing. Nothing below imports an adapter.
"""

__all__ = []
