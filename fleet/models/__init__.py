"""The model registry as replicas read it: manifests and bundles (:mod:`fleet.models.manifest`),
featurisers (:mod:`fleet.models.featurize`) and registry folders (:mod:`fleet.models.registry`).
The factory that builds models is the top-level :mod:`factory` package."""
