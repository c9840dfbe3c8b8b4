"""EdgeFleet models: manifests and bundles, featurisers, the numpy trainer, IR export, registry
and the default CLINC150 model build. Import submodules directly (``fleet.models.manifest``...)."""

from fleet.models.manifest import Manifest, ModelBundle, TensorSpec, load_bundle, resolve_model_dir

__all__ = ["Manifest", "ModelBundle", "TensorSpec", "load_bundle", "resolve_model_dir"]
