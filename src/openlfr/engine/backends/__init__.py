"""Model backends. Each module registers its detectors, aligners and embedders by ``type``."""
