"""The fleet: the Ray-free control plane (:mod:`fleet.control`), the Ray adapter
(:mod:`fleet.ray_adapter`), the serving data plane (:mod:`fleet.serving`) and the model registry
(:mod:`fleet.models`)."""
