"""EdgeFleet fleet: the Ray control plane, replicas, model execution, model factory and CLI."""
